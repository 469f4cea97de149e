#!/usr/bin/env bash
# Runs each cargo-fuzz target for a bounded time (FUZZ_SECS, default 60 s each) and prints
# what libFuzzer reports. Needs the nightly toolchain (rustup); installs cargo-fuzz, pinned,
# under the tools folder. New inputs go to fuzz/corpus/<target> (git-ignored); the captured
# vectors seed the SyncML targets. Any crash stops the run with libFuzzer's artifact path.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tool-versions.sh

secs=${FUZZ_SECS:-60}
targets=${FUZZ_TARGETS:-"syncml_xml syncml_wbxml pkg0 hmac_header http1_head"}

rustup toolchain list | grep -q '^nightly' || { echo "fuzz: needs the nightly toolchain (rustup toolchain install nightly)" >&2; exit 1; }
if [ "$("$CARGO_FUZZ_BIN" --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION (once per machine)"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --quiet --root "$TOOLS_HOME/cargo-fuzz-$CARGO_FUZZ_VERSION"
fi

for t in $targets; do
  mkdir -p "fuzz/corpus/$t"
  seeds=()
  case $t in
    syncml_*) seeds=(shared/fixtures/vectors) ;;
    http1_head) seeds=(fuzz/seeds/http1_head) ;;
  esac
  echo "fuzz: $t for ${secs}s"
  # -rss_limit_mb and -timeout turn runaway memory or time on one input into findings too.
  PATH="$(dirname "$CARGO_FUZZ_BIN"):$PATH" cargo +nightly fuzz run --fuzz-dir fuzz "$t" "fuzz/corpus/$t" "${seeds[@]}" -- \
    -max_total_time="$secs" -rss_limit_mb=1024 -timeout=5 -print_final_stats=1 2>&1 |
    grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|artifact_prefix|Test unit written)' || true
  # grep hides the exit status of a crash; a crash leaves an artifact.
  if compgen -G "fuzz/artifacts/$t/*" >/dev/null; then
    echo "fuzz: $t found a failing input:" fuzz/artifacts/"$t"/* >&2
    exit 1
  fi
done
echo "fuzz: all targets ran clean"
