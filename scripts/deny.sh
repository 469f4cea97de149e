#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (pinned in tool-versions.sh, installed once per machine
# under the tools folder): licences, banned and duplicate crates, and sources (deny.toml).
# Advisories need the RustSec database, which this project's machines cannot fetch (only the
# package registries are reachable): they are checked against a local copy when one exists at
# $PORTALDM_ADVISORY_DB (a clone of the advisory-db repository), and reported as skipped
# otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tool-versions.sh

if [ "$("$CARGO_DENY_BIN" --version 2>/dev/null)" != "cargo-deny $CARGO_DENY_VERSION" ]; then
  echo "deny: installing cargo-deny $CARGO_DENY_VERSION (a few minutes, once per machine)"
  cargo install cargo-deny --version "$CARGO_DENY_VERSION" --locked --quiet --root "$TOOLS_HOME/cargo-deny-$CARGO_DENY_VERSION"
fi
# cargo metadata resolves every platform's dependencies: fetch them (from crates.io) first.
cargo fetch --locked --quiet
"$CARGO_DENY_BIN" --offline check --hide-inclusion-graph licenses bans sources
db=${PORTALDM_ADVISORY_DB:-}
if [ -n "$db" ] && [ -d "$db" ]; then
  # The local copy, never fetched (--offline): deny.toml plus where the database is.
  cfg=$(mktemp)
  trap 'rm -f "$cfg"' EXIT
  { cat deny.toml; printf '\n[advisories]\ndb-path = "%s"\n' "$db"; } > "$cfg"
  "$CARGO_DENY_BIN" --offline check --config "$cfg" --hide-inclusion-graph advisories
else
  echo "deny: advisories skipped: no RustSec database on this machine (set PORTALDM_ADVISORY_DB to a clone of it)"
fi
