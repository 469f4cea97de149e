# portaldm: every target installs what it needs first (scripts/setup.sh, pinned versions).
.PHONY: setup build edge run test test-fast lint fmt deploy clean bench fuzz fuzz-build faults soak

CARGO ?= cargo

setup:
	@scripts/setup.sh

# Host binaries (origin, dmclient), test targets and the edge bundle. Bins and tests are
# built in one invocation so features unify once and `cargo test` reuses every artifact.
build: setup
	$(CARGO) build --workspace --exclude portaldm-edge --bins --tests
	@scripts/edge-bundle.sh

edge: setup
	@scripts/edge-bundle.sh

run: build
	@scripts/run.sh

# Unit, property and end-to-end tests. The e2e suites start origin, workerd and dmclient
# on ephemeral loopback ports; they need the binaries and edge bundle `build` makes.
# (The edge bundle in `build` also proves that `shared` builds for wasm32.) First, what
# `wrangler deploy` would upload for each environment, offline, with its size budget.
test: build
	scripts/edge-dry-run.sh
	scripts/with-postgres.sh $(CARGO) test -- --test-threads=2

# The edit-compile-test loop: unit and property tests of every crate, the origin's handlers
# in-process (origin/src/app/tests/) and its store on SQLite. No edge bundle, no PostgreSQL,
# no browser, no real processes: those are `make test`.
test-fast:
	$(CARGO) test --workspace --exclude portaldm-edge --lib --bins -- --test-threads=2 --skip on_postgres

# fuzz-build first: the fuzz targets keep compiling against shared's API.
lint: setup fuzz-build
	scripts/deny.sh
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy -p portaldm-edge --target wasm32-unknown-unknown -- -D warnings
	@# rand::TestRng is not secure: only dev-dependencies may turn its feature on.
	@if { $(CARGO) tree -e normal,features -p portaldm-origin -p portaldm-client -i portaldm-shared; \
	      $(CARGO) tree -e normal,features -p portaldm-edge --target wasm32-unknown-unknown -i portaldm-shared; } \
	    | grep -q test-rng; then echo "error: a shipped crate enables portaldm-shared/test-rng"; exit 1; fi

fmt:
	$(CARGO) fmt --all

# Codec and minting microbenchmarks (criterion; results under target/criterion), the edge in
# workerd beside a trivial worker (target/bench/edge.txt), RSS per held DM session
# (target/bench/held.txt), full portal flows through edge and origin on SQLite and PostgreSQL
# beside a trivial worker's pass-through rate (target/bench/flows.txt), and the DM server alone
# beside bare axum (target/bench/dm.txt). Not a test: nothing here is timed by `make test`.
# See BENCHMARKS.md.
bench: setup
	$(CARGO) bench -p portaldm-shared --bench codec --bench session
	scripts/bench-edge.sh
	scripts/with-postgres.sh scripts/bench-held.sh
	scripts/with-postgres.sh scripts/bench-flows.sh
	scripts/with-postgres.sh scripts/bench-dm.sh

# The long fault suites: the origin killed at random points of 50 flows, 1000 downloads cut
# at random offsets, and a 10-minute soak (scripts/faults.sh; FAULT_RUNS, CUT_RUNS, SOAK_SECS).
faults: build
	scripts/faults.sh

soak: build
	scripts/soak.sh

# Coverage-guided fuzzing of the decoders (nightly + cargo-fuzz, pinned in scripts/tool-versions.sh);
# FUZZ_SECS per target (default 60).
fuzz: setup
	scripts/fuzz.sh

# The fuzz targets built, not run, on stable (fuzz/ is its own workspace, with its own lock
# file, kept current by --locked): libFuzzer links without the sanitizers cargo-fuzz adds.
# About 5 minutes the first time (libFuzzer's C++), seconds after.
fuzz-build: setup
	$(CARGO) build --manifest-path fuzz/Cargo.toml --locked

# Deploys the edge with wrangler (pinned in package-lock.json; needs `npx wrangler login` and
# the secrets in README). ENV=staging|production|dev picks the environment.
ENV ?= production
deploy: edge
	node_modules/.bin/wrangler deploy --env $(ENV)

clean:
	$(CARGO) clean
	rm -rf edge/build
