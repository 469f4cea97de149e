#!/usr/bin/env bash
# The DM server alone: complete portal DM sessions (packages 1–5 with the user's choice, then
# the result session) sent straight to the origin by tests/src/bin/bench_dm.rs, on SQLite and
# on PostgreSQL; beside the floor measured in the same run: bare_axum, an axum server answering
# every request at once, loaded by the same client with the same requests. Release builds,
# loopback only, bounded in time. Writes target/bench/dm.txt (and dm.tsv for the summary).
#   BENCH_SECS  seconds per run (default 10); BENCH_RUNS runs per figure (default 3, median)
#   BENCH_CONC  concurrent sessions (default 32); DM_ORIGIN another origin build to measure
# The server (origin or bare axum) is pinned to core 0 and the client to core 1 (taskset), so
# neither steals the other's core; each run line gets the server's and the client's CPU (user +
# system, from /proc) and both per session, the server's context switches per session, and the
# CPU of its sqlx-sqlite threads per session (the SQLite store's share).
# tests/src/bin/bench_sqlite.rs prices one SQLite statement through sqlx beside them.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tool-versions.sh
source scripts/lib.sh

secs=${BENCH_SECS:-10}
runs=${BENCH_RUNS:-3}
conc=${BENCH_CONC:-32}
out=target/bench
mkdir -p "$out"
report="$out/dm.txt"
tsv="$out/dm.tsv"
cargo build --release -q -p portaldm-origin -p portaldm-tests --bins
# DM_ORIGIN: another build of the origin, to compare a change in the same session.
origin=${DM_ORIGIN:-target/release/portaldm-origin}
bench=target/release/bench_dm

{
  echo "# DM server alone, $(date -u +%FT%TZ)"
  echo "# machine: $(nproc) CPU ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "# $runs runs of $secs s each, $conc concurrent sessions; one line per run"
} > "$report"
printf 'what\tsessions_per_s\tmessages_per_s\tmsg_p50_ms\tmsg_p99_ms\tserver_ms_per_session\tclient_ms_per_session\tserver_switches_per_session\tsqlite_threads_ms_per_session\tpostgres_ms_per_session\n' > "$tsv"

# One run of the client against the server with PID $1 (the rest are the client's arguments):
# its line, plus the server's CPU over the run and each process's CPU per session; with
# $db_pid set (a PostgreSQL postmaster), its cluster's CPU too.
db_pid=
measure() {
  local server=$1 before line after n db0=0 db=-1 sw0 sw st0 st
  shift
  before=$(cpu_ms "$server")
  sw0=$(switches "$server")
  st0=$(store_thread_ms "$server")
  [ -n "$db_pid" ] && db0=$(pg_cpu_ms "$db_pid")
  line=$(taskset -c 1 "$bench" "$@")
  after=$(cpu_ms "$server")
  sw=$(( $(switches "$server") - sw0 ))
  st=$(( $(store_thread_ms "$server") - st0 ))
  [ -n "$db_pid" ] && db=$(( $(pg_cpu_ms "$db_pid") - db0 ))
  n=$(grep -o 'sessions=[0-9]*' <<<"$line" | cut -d= -f2)
  awk -v l="$line" -v s=$((after - before)) -v d="$db" -v n="$n" -v w="$sw" -v t="$st" 'BEGIN {
    match(l, /client_cpu_ms=[0-9]+/); c = substr(l, RSTART + 14, RLENGTH - 14)
    n = n ? n : 1
    printf "%s server_cpu_ms=%d server_ms_per_session=%.3f client_ms_per_session=%.3f switches_per_session=%.0f%s%s\n", l, s, s / n, c / n, w / n,
      (t > 0 ? sprintf(" sqlite_threads_ms_per_session=%.3f", t / n) : ""),
      (d >= 0 ? sprintf(" postgres_ms_per_session=%.3f", d / n) : "") }'
}

# The median of the runs' values of field $2 (key=value) in lines of file $1.
median() { grep -o "$2=[0-9.]*" "$1" | cut -d= -f2 | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

summarise() { # $1 = label, $2 = file of run lines
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$(median "$2" sessions_per_s)" "$(median "$2" messages_per_s)" \
    "$(median "$2" msg_p50_ms)" "$(median "$2" msg_p99_ms)" "$(median "$2" server_ms_per_session)" \
    "$(median "$2" client_ms_per_session)" "$(median "$2" switches_per_session)" \
    "$(median "$2" sqlite_threads_ms_per_session)" "$(median "$2" postgres_ms_per_session)" >> "$tsv"
}

# floor_rate: when set, floors load their server at this many sessions/s (bench_dm --rate), the
# origin's own rate, rather than as fast as it answers: a server never idle spends less per
# request than one woken for each, so the ratio is read against both.
floor_rate=
# The floors: bare axum answering at once, then answering after the least store work a durable
# DM session needs (bare_axum's --store: a read and a write per DM message, a write per portal
# call), through sqlx with the origin's settings; on SQLite also with the writes batched into
# one statement per commit (group commit). $1 = label, $2 = file stem, the rest bare_axum's.
wait_up_post() { for _ in $(seq 200); do curl -fs -o /dev/null -X POST "$1" 2>/dev/null && return 0; sleep 0.05; done; exit 1; }
floor() {
  local label=$1 stem=$2 bp
  shift 2
  bp=$(free_port)
  taskset -c 0 target/release/bare_axum "$bp" "$@" > "$out/$stem.log" &
  pids+=($!)
  local bare_pid=$!
  wait_up_post "http://127.0.0.1:$bp/dm"
  echo "## floor: $label" >> "$report"
  : > "$out/$stem.runs"
  local paced=()
  [ -n "$floor_rate" ] && paced=(--rate "$floor_rate")
  for _ in $(seq "$runs"); do measure "$bare_pid" --bare "http://127.0.0.1:$bp" --concurrency "$conc" --secs "$secs" ${paced[@]+"${paced[@]}"} | tee -a "$out/$stem.runs" >> "$report"; done
  summarise "$label" "$out/$stem.runs"
  stop
}
floor "bare axum" bare
floors=$(mktemp -d)
floor "bare axum + least store work, SQLite" bare-sqlite --store "sqlite:$floors/floor.db"
floor "bare axum + least store work, SQLite, group commit" bare-batched --store "sqlite-batched:$floors/batched.db"
# A single process keeping its live sessions in memory: only the writes, alone and batched.
floor "bare axum + writes only, SQLite" bare-writes --store "sqlite-writes:$floors/writes.db"
floor "bare axum + writes only, SQLite, group commit" bare-writes-batched --store "sqlite-writes-batched:$floors/writes-batched.db"
if [ -n "${PDM_TEST_POSTGRES:-}" ]; then
  psql "$PDM_TEST_POSTGRES" -q -c "CREATE DATABASE floor_$$"
  db_pid=$PDM_TEST_POSTGRES_PID
  floor "bare axum + least store work, PostgreSQL" bare-postgres --store "postgres:${PDM_TEST_POSTGRES%/*}/floor_$$"
  db_pid=
fi
rm -rf "$floors"

run_db() { # $1 = sqlite | postgres
  local db=$1 op sys="$out/dm-$1"
  op=$(free_port)
  dm_bench_system "$origin" "$sys" "$op"
  db_pid=
  if [ "$db" = postgres ]; then
    db_pid=$PDM_TEST_POSTGRES_PID
    local name="benchdm_$$"
    psql "$PDM_TEST_POSTGRES" -q -c "CREATE DATABASE $name"
    sed -i "s|^database = .*|database = \"${PDM_TEST_POSTGRES%/*}/$name\"|" "$sys/origin.toml"
  fi
  "$origin" -c "$sys/origin.toml" catalog demo >/dev/null
  RUST_LOG=warn taskset -c 0 "$origin" -c "$sys/origin.toml" serve >/dev/null 2>"$sys/origin.log" &
  pids+=($!)
  local origin_pid=$!
  wait_up "http://127.0.0.1:$op/healthz"
  echo "## DM server on $db" >> "$report"
  : > "$sys.runs"
  for _ in $(seq "$runs"); do
    measure "$origin_pid" --origin "http://127.0.0.1:$op" --dir "$sys" --concurrency "$conc" --secs "$secs" 2>>"$sys/bench.log" | tee -a "$sys.runs" >> "$report"
  done
  summarise "DM server, $db" "$sys.runs"
  stop
}

# The floor under the SQLite store: one statement through sqlx, alone, on the server's core.
echo "## floor under the store: sqlx on SQLite, one statement at a time (CPU µs each)" >> "$report"
taskset -c 0 target/release/bench_sqlite 3 >> "$report"

# The floors again at the origin's median rate on $1 (sqlite | postgres): $2 = the store floor's
# bare_axum arguments.
paced_floors() {
  floor_rate=$(awk -F'\t' -v w="DM server, $1" '$1 == w {print $2}' "$tsv")
  if ! awk -v r="$floor_rate" 'BEGIN { exit !(r + 0 > 0) }'; then
    echo "## no paced floors on $1: the origin completed no session" >> "$report"
    floor_rate=
    return
  fi
  local pg=$db_pid
  db_pid=
  floor "bare axum at the origin's $1 rate ($floor_rate/s)" "bare-at-$1"
  db_pid=$pg
  floor "bare axum + least store work, $1, at the origin's rate ($floor_rate/s)" "bare-$1-at-rate" "${@:2}"
  if [ "$1" = sqlite ]; then
    floor "bare axum + writes only, sqlite, group commit, at the origin's rate ($floor_rate/s)" "bare-writes-batched-at-rate" \
      --store "sqlite-writes-batched:$floors/writes-paced.db"
  fi
  floor_rate=
}
run_db sqlite
floors=$(mktemp -d)
paced_floors sqlite --store "sqlite:$floors/paced.db"
rm -rf "$floors"
if [ -n "${PDM_TEST_POSTGRES:-}" ]; then
  run_db postgres
  psql "$PDM_TEST_POSTGRES" -q -c "CREATE DATABASE floorpaced_$$"
  db_pid=$PDM_TEST_POSTGRES_PID
  paced_floors postgres --store "postgres:${PDM_TEST_POSTGRES%/*}/floorpaced_$$"
  db_pid=
fi
echo "## medians" >> "$report"
column -t -s$'\t' "$tsv" >> "$report"
cat "$report"
