#!/usr/bin/env bash
# Two origin builds compared on the DM server benchmark, in pairs: both serve at once on core 0
# (the one not measured is idle), tests/src/bin/bench_dm.rs loads them on core 1, and the runs
# alternate A, B, A, B … so that the machine's drift falls on both alike. For a change too small
# for bench-dm.sh's separate invocations to tell from the floor's noise. SQLite, release builds,
# loopback only, bounded: ROUNDS × 2 runs of SECS seconds.
#   Usage: scripts/bench-ab.sh ORIGIN_A ORIGIN_B [ROUNDS (6)] [SECS (6)]
# One line per run: the origin's CPU and context switches per session, and the client's CPU per
# session (the same work for either build: a check that the machine held still); then the means.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
A=$1 B=$2 rounds=${3:-6} secs=${4:-6}
cargo build --release -q -p portaldm-tests --bin bench_dm
out=target/bench/ab
mkdir -p "$out"
declare -A port pid
for k in A B; do
  bin=${!k} sys="$out/$k"
  p=$(free_port)
  dm_bench_system "$bin" "$sys" "$p"
  "$bin" -c "$sys/origin.toml" catalog demo >/dev/null
  RUST_LOG=warn taskset -c 0 "$bin" -c "$sys/origin.toml" serve >/dev/null 2>"$sys/origin.log" &
  pids+=($!)
  pid[$k]=$!
  port[$k]=$p
  wait_up "http://127.0.0.1:$p/healthz"
done
: > "$out/runs"
for r in $(seq "$rounds"); do
  for k in A B; do
    c0=$(cpu_ms "${pid[$k]}")
    s0=$(switches "${pid[$k]}")
    line=$(taskset -c 1 target/release/bench_dm --origin "http://127.0.0.1:${port[$k]}" --dir "$out/$k" --concurrency 32 --secs "$secs" 2>>"$out/$k/bench.log")
    c1=$(cpu_ms "${pid[$k]}")
    s1=$(switches "${pid[$k]}")
    n=$(grep -o 'sessions=[0-9]*' <<<"$line" | cut -d= -f2)
    cc=$(grep -o 'client_cpu_ms=[0-9]*' <<<"$line" | cut -d= -f2)
    awk -v k="$k" -v r="$r" -v c=$((c1 - c0)) -v s=$((s1 - s0)) -v n="$n" -v cc="$cc" 'BEGIN {
      n = n ? n : 1
      printf "%s round=%d sessions=%d origin_ms_per_session=%.3f switches_per_session=%.0f client_ms_per_session=%.3f\n",
        k, r, n, c / n, s / n, cc / n }' | tee -a "$out/runs"
  done
done
awk '{ split($4, a, "="); t[$1] += a[2]; n[$1]++ } END { for (k in t) printf "%s mean origin_ms_per_session=%.3f\n", k, t[k] / n[k] }' "$out/runs" | sort
