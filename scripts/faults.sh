#!/usr/bin/env bash
# The long fault suites (`make test` runs short versions of the first two):
#   - the origin SIGKILLed at random points of FAULT_RUNS portal flows (default 50);
#   - downloads cut at random offsets, CUT_RUNS times (default 1000);
#   - a soak of SOAK_SECS (default 600) with dmclient swarm (scripts/soak.sh).
# FAULT_SEED varies the kill points. Loopback only, bounded in time and count.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "faults: the origin killed at random points, ${FAULT_RUNS:-50} flows"
mkdir -p target
log=target/faults.log
if ! PDM_FAULT_RUNS=${FAULT_RUNS:-50} PDM_FAULT_SEED=${FAULT_SEED:-64023} \
  cargo test -q -p portaldm-tests --test faults -- --nocapture > "$log" 2>&1; then
  cat "$log" >&2
  echo "faults: FAILED" >&2
  exit 1
fi
grep -E "^faults:|test result" "$log"
echo "faults: downloads cut at random offsets, ${CUT_RUNS:-1000} runs"
PDM_FAULT_RUNS=${CUT_RUNS:-1000} cargo test -q -p portaldm-client download::tests
scripts/soak.sh
