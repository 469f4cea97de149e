#!/usr/bin/env bash
# Two origin builds compared on the DM server benchmark, in pairs: both serve at once on core 0
# (the one not measured is idle), tests/src/bin/bench_dm.rs loads them on core 1, and the runs
# alternate A, B, B, A, A, B … so that the machine's drift falls on both alike. For a change too small
# for bench-dm.sh's separate invocations to tell from the floor's noise. SQLite (or, with
# AB_POSTGRES=1 under scripts/with-postgres.sh, a database each on the throwaway PostgreSQL),
# release builds, loopback only, bounded: ROUNDS × 2 runs of SECS seconds.
#   Usage: [AB_POSTGRES=1] scripts/bench-ab.sh ORIGIN_A ORIGIN_B [ROUNDS (6)] [SECS (6)]
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
  if [ -n "${AB_POSTGRES:-}" ]; then
    name="benchab_$$_${k,,}"
    psql "$PDM_TEST_POSTGRES" -q -c "CREATE DATABASE $name"
    sed -i "s|^database = .*|database = \"${PDM_TEST_POSTGRES%/*}/$name\"|" "$sys/origin.toml"
  fi
  "$bin" -c "$sys/origin.toml" catalog demo >/dev/null
  RUST_LOG=warn taskset -c 0 "$bin" -c "$sys/origin.toml" serve >/dev/null 2>"$sys/origin.log" &
  pids+=($!)
  pid[$k]=$!
  port[$k]=$p
  wait_up "http://127.0.0.1:$p/healthz"
done
: > "$out/runs"
for r in $(seq "$rounds"); do
  # Each goes first in every other round: the one after pays for what the first left behind
  # (PostgreSQL's background writes).
  order="A B"; [ $((r % 2)) = 0 ] && order="B A"
  for k in $order; do
    c0=$(cpu_ms "${pid[$k]}")
    s0=$(switches "${pid[$k]}")
    d0=$([ -n "${AB_POSTGRES:-}" ] && pg_cpu_ms "$PDM_TEST_POSTGRES_PID" || echo 0)
    line=$(taskset -c 1 target/release/bench_dm --origin "http://127.0.0.1:${port[$k]}" --dir "$out/$k" --concurrency 32 --secs "$secs" 2>>"$out/$k/bench.log")
    c1=$(cpu_ms "${pid[$k]}")
    s1=$(switches "${pid[$k]}")
    d1=$([ -n "${AB_POSTGRES:-}" ] && pg_cpu_ms "$PDM_TEST_POSTGRES_PID" || echo 0)
    n=$(grep -o 'sessions=[0-9]*' <<<"$line" | cut -d= -f2)
    cc=$(grep -o 'client_cpu_ms=[0-9]*' <<<"$line" | cut -d= -f2)
    awk -v k="$k" -v r="$r" -v c=$((c1 - c0)) -v s=$((s1 - s0)) -v n="$n" -v cc="$cc" -v d=$((d1 - d0)) 'BEGIN {
      n = n ? n : 1
      printf "%s round=%d sessions=%d origin_ms_per_session=%.3f switches_per_session=%.0f client_ms_per_session=%.3f%s\n",
        k, r, n, c / n, s / n, cc / n, (d ? sprintf(" postgres_ms_per_session=%.3f", d / n) : "") }' | tee -a "$out/runs"
  done
done
awk '{ split($4, a, "="); t[$1] += a[2]; n[$1]++; if (NF >= 7) { split($7, b, "="); d[$1] += b[2] } }
  END { for (k in t) printf "%s mean origin_ms_per_session=%.3f%s\n", k, t[k] / n[k],
    (k in d ? sprintf(" postgres_ms_per_session=%.3f", d[k] / n[k]) : "") }' "$out/runs" | sort
