#!/usr/bin/env bash
# System benchmark: full portal flows through the real edge (wasm in workerd) and origin with
# `dmclient swarm`, on SQLite and on PostgreSQL, at several concurrency levels; beside the
# reference measured in the same run: a trivial pass-through worker in workerd (it forwards
# every request to the origin's /healthz), loaded with wrk. Release builds, loopback only,
# bounded in time. Writes target/bench/flows.txt.
#   BENCH_SECS   seconds per swarm run (default 10)
#   BENCH_LEVELS concurrency levels (default "1 10 100 1000")
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tool-versions.sh
source scripts/lib.sh

secs=${BENCH_SECS:-10}
levels=${BENCH_LEVELS:-"1 10 100 1000"}
out=target/bench
report="$out/flows.txt"
tsv="$out/flows.tsv"
# Only this script's results: the other benchmarks write beside them.
rm -rf "$out/sqlite" "$out/postgres" "$report" "$tsv" "$out/scaling.svg"
mkdir -p "$out"

command -v wrk >/dev/null || {
  sudo=$([ "$(id -u)" = 0 ] || echo sudo)
  $sudo apt-get install -y -qq wrk >/dev/null
}
cargo build --release -q -p portaldm-origin -p portaldm-client -p portaldm-tests --bins
scripts/edge-bundle.sh >/dev/null
origin=target/release/portaldm-origin
dmclient=target/release/dmclient




{
  echo "# portaldm system benchmark, $(date -u +%FT%TZ)"
  echo "# machine: $(nproc) CPU ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "# swarm: $secs s per level; reference: wrk 2 threads, 64 connections, $secs s"
} > "$report"

run_db() { # $1 = sqlite | postgres
  local db=$1 op ep sys="$out/$1"
  op=$(free_port); ep=$(free_port)
  "$origin" dev-setup --dir "$sys" --origin-port "$op" --edge-port "$ep" --edge-bundle edge/build >/dev/null
  if [ "$db" = postgres ]; then
    local name="bench_$$"
    psql "$PDM_TEST_POSTGRES" -q -c "CREATE DATABASE $name"
    sed -i "s|^database = .*|database = \"${PDM_TEST_POSTGRES%/*}/$name\"|" "$sys/origin.toml"
  fi
  # Every simulated handset mints from 127.0.0.1: the per-address mint limit (which still
  # runs, Durable Object call included) is raised out of the way.
  unlimited_minting "$sys/workerd.capnp"
  unlimited_dm "$sys/origin.toml"
  "$origin" -c "$sys/origin.toml" catalog demo >/dev/null
  RUST_LOG=warn "$origin" -c "$sys/origin.toml" serve >/dev/null 2>"$sys/origin.log" &
  local opid=$!
  pids+=($opid)
  "$WORKERD_BIN" serve "$sys/workerd.capnp" 2>"$sys/workerd.log" &
  local wpid=$!
  pids+=($wpid)
  wait_up "http://127.0.0.1:$ep/portal/"

  if [ "$db" = sqlite ]; then
    # The reference: a worker that only passes each request on to the origin, in workerd.
    local rp; rp=$(free_port)
    cat > "$out/trivial.mjs" <<JS
export default { async fetch(req, env) { return env.ORIGIN.fetch("http://origin/healthz"); } };
JS
    cat > "$out/trivial.capnp" <<CAPNP
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "trivial", worker = (modules = [(name = "trivial.mjs", esModule = embed "trivial.mjs")],
      compatibilityDate = "2025-01-01", bindings = [(name = "ORIGIN", service = "origin")])),
    (name = "origin", external = (address = "127.0.0.1:$op", http = ())),
  ],
  sockets = [(name = "http", address = "127.0.0.1:$rp", http = (), service = "trivial")],
);
CAPNP
    "$WORKERD_BIN" serve "$out/trivial.capnp" 2>"$out/trivial.log" &
    local tpid=$!
    pids+=($tpid)
    wait_up "http://127.0.0.1:$rp/"
    echo "## reference: trivial pass-through worker (workerd → origin /healthz)" >> "$report"
    local t0; t0=$(cpu_ms "$tpid")
    wrk -t2 -c64 -d"${secs}s" "http://127.0.0.1:$rp/" > "$out/trivial-wrk.txt"
    grep -E "Requests/sec|Latency" "$out/trivial-wrk.txt" >> "$report"
    # The trivial worker's own CPU per request, beside the edge's per flow below.
    awk -v t=$(( $(cpu_ms "$tpid") - t0 )) '/^Requests\/sec/ {n = $2} /requests in/ {r = $1} END { if (r > 0) printf "cpu per request (ms): trivial worker (workerd) %.3f\n", t / r }' \
      "$out/trivial-wrk.txt" >> "$report"
  fi

  local first=350000000000000
  for c in $levels; do
    echo "## $db, concurrency $c" >> "$report"
    local o0 w0 d0=0; o0=$(cpu_ms "$opid"); w0=$(cpu_ms "$wpid")
    [ "$db" = postgres ] && d0=$(pg_cpu_ms "$PDM_TEST_POSTGRES_PID")
    { TIMEFORMAT='%U %S'; time { "$dmclient" -c "$sys/dmclient.toml" swarm --edge "http://127.0.0.1:$ep" --devices 0 \
      --duration-secs "$secs" --concurrency "$c" --first-imei "$first" > "$sys/swarm-$c.txt" 2>>"$sys/swarm.log" || true; }; } 2> "$sys/swarm-$c.time"
    cat "$sys/swarm-$c.txt" >> "$report"
    # Where a flow's CPU goes: each process's user+system time over the run ÷ flows completed,
    # PostgreSQL's processes summed (pg_cpu_ms).
    local flows d=-1; flows=$(awk '/^completed/ {print $2}' "$sys/swarm-$c.txt")
    [ "$db" = postgres ] && d=$(( $(pg_cpu_ms "$PDM_TEST_POSTGRES_PID") - d0 ))
    awk -v o=$(( $(cpu_ms "$opid") - o0 )) -v w=$(( $(cpu_ms "$wpid") - w0 )) -v d="$d" -v n="${flows:-0}" \
      '{ s = ($1 + $2) * 1000 } END { if (n > 0) printf "cpu per flow (ms): edge (workerd) %.2f, origin %.2f, swarm %.2f%s\n", w / n, o / n, s / n, (d >= 0 ? sprintf(", postgres %.2f", d / n) : "") }' \
      "$sys/swarm-$c.time" >> "$report"
    # For the scaling chart: flows/s and the whole flow's p50 and p99.
    awk -v db="$db" -v c="$c" '/^completed/ {rate=$(NF-1)} /^flow / {p50=$2; p99=$4} END {if (rate != "") printf "%s\t%s\t%s\t%s\t%s\n", db, c, rate, p50, p99}' \
      "$sys/swarm-$c.txt" >> "$tsv"
    first=$((first + 1000000))
  done
  stop
}

printf 'db\tconcurrency\tflows_per_s\tp50_ms\tp99_ms\n' > "$tsv"
run_db sqlite
run_db postgres
# The scaling chart (BENCHMARKS.md shows the copy in docs/bench/).
target/release/bench_chart "$tsv" "$out/scaling.svg"
cat "$report"
