#!/usr/bin/env bash
# Held DM sessions: RSS of the origin (release, PostgreSQL) with N portal DM sessions held open
# in package 4 at once (tests/src/bin/hold_sessions.rs opens them directly against the origin,
# with the edge's credential), for each N in HELD_LEVELS (default "1000 5000 12000 20000
# 50000"), fresh origins each time. Reports RSS per session over the idle baseline, and the
# slope between the smallest and largest N (fixed costs cancel). Issue 8's target: at most
# 10 KB per session. Run under scripts/with-postgres.sh (PDM_TEST_POSTGRES).
# HOLD_WARM=1: each connection asks for the portal page (GET /portal/) first, as a connection
# the edge's pool opened for a browser carries a page before a DM message.
#
# Wake-ups: once the RSS is read, the first load generator makes HELD_CHOOSE (default 200)
# choices, one after another, each through the next origin in turn (with several, every other
# choice reaches a replica that does not hold the session: PostgreSQL's NOTIFY carries it),
# and times each from the choice sent to its held package 4 arriving; the origins' /metrics
# give the wake-ups of held messages per choice (portaldm_hold_wakeups over
# portaldm_selections). HELD_DB=sqlite runs one origin on its SQLite file instead (levels up
# to HELD_PER_PROCESS). HELD_PIN=1 pins the origins to CPU 0 and the generators to CPU 1.
#
# One process may hold at most 20,000 descriptors here (the container's hard limit, which
# root cannot raise without CAP_SYS_RESOURCE), one per held connection: a level above
# HELD_PER_PROCESS (12,500) runs several origin processes, each on its own port, sharing one
# PostgreSQL database (how the origin is scaled out: held sessions hear of choices made in
# another process through LISTEN/NOTIFY), each loaded by its own load generator. RSS is
# summed over the processes.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
db_kind=${HELD_DB:-postgres}
[ "$db_kind" = sqlite ] || : "${PDM_TEST_POSTGRES:?run under scripts/with-postgres.sh (or HELD_DB=sqlite)}"
choices=${HELD_CHOOSE:-200}
if [ "${HELD_PIN:-0}" = 1 ]; then pin_origin=(taskset -c 0) pin_load=(taskset -c 1); else pin_origin=() pin_load=(); fi
levels=${HELD_LEVELS:-"1000 5000 12000 20000 50000"}
per_process=${HELD_PER_PROCESS:-12500}
out=target/bench/held
rm -rf "$out"
mkdir -p "$out"
report=target/bench/held.txt
cargo build --release -q -p portaldm-origin -p portaldm-tests --bin portaldm-origin --bin hold_sessions
# HELD_ORIGIN: another build of the origin, to compare a change in the same run.
origin=${HELD_ORIGIN:-target/release/portaldm-origin}
ulimit -n "$(ulimit -Hn)"
# The origin's default logging (the access log at INFO: a span per request, which a held
# message keeps): what a deployment runs. HELD_RUST_LOG overrides it.
if [ -n "${HELD_RUST_LOG:-}" ]; then log=(env RUST_LOG="$HELD_RUST_LOG"); else log=(env -u RUST_LOG); fi
[ "$(ulimit -n)" -gt $((per_process + 500)) ] || {
  echo "bench-held: $(ulimit -n) open files allowed; HELD_PER_PROCESS=$per_process needs more" >&2
  exit 1
}

echo "# portaldm held-session benchmark, $(date -u +%FT%TZ); $(nproc) CPU; $db_kind; at most $per_process sessions per origin process; pinned: ${HELD_PIN:-0}" > "$report"
for n in $levels; do
  procs=$(( (n + per_process - 1) / per_process ))
  if [ "$db_kind" = sqlite ] && [ "$procs" -gt 1 ]; then
    echo "bench-held: $n sessions need $procs origins, which SQLite cannot share; skipped" | tee -a "$report"
    continue
  fi
  db="bench_held_${n}_$$"
  [ "$db_kind" = sqlite ] || psql "$PDM_TEST_POSTGRES" -q -c "CREATE DATABASE $db"
  opids=() ports=() dirs=()
  for p in $(seq "$procs"); do
    dir="$out/$n/$p"
    op=$(free_port)
    "$origin" dev-setup --dir "$dir" --origin-port "$op" --edge-port "$(free_port)" --edge-bundle edge/build >/dev/null
    [ "$db_kind" = sqlite ] || sed -i "s|^database = .*|database = \"${PDM_TEST_POSTGRES%/*}/$db\"|" "$dir/origin.toml"
    sed -i "s/^hold_secs = .*/hold_secs = 3600\nhold_unchecked = true/" "$dir/origin.toml"
    echo 'portal_ttl_secs = 7200' >> "$dir/origin.toml"
    unlimited_dm "$dir/origin.toml"
    [ "$p" = 1 ] && "$origin" -c "$dir/origin.toml" catalog demo >/dev/null
    "${pin_origin[@]}" "${log[@]}" "$origin" -c "$dir/origin.toml" serve >/dev/null 2>"$dir/origin.log" &
    opids+=($!) ports+=("$op") dirs+=("$dir")
    pids+=($!)
    wait_up "http://127.0.0.1:$op/healthz"
  done
  sleep 1
  base=0
  for pid in "${opids[@]}"; do base=$((base + $(rss "$pid"))); done
  share=$((n / procs))
  urls=$(printf 'http://127.0.0.1:%s,' "${ports[@]}")
  for i in $(seq 0 $((procs - 1))); do
    count=$share
    [ "$i" = $((procs - 1)) ] && count=$((n - share * (procs - 1)))
    mine=0
    [ "$i" = 0 ] && mine=$choices
    HOLD_CHOOSE=$mine HOLD_CHOOSE_URLS=${urls%,} HOLD_CHOOSE_WHEN=$out/choose-$n "${pin_load[@]}" target/release/hold_sessions "${dirs[$i]}" "http://127.0.0.1:${ports[$i]}" "$count" $((380000000000000 + i * 1000000)) \
      > "${dirs[$i]}/hold.txt" 2>"${dirs[$i]}/hold.log" &
    pids+=($!)
  done
  held_n=0 secs=""
  for dir in "${dirs[@]}"; do
    for _ in $(seq 1200); do grep -q '^held' "$dir/hold.txt" && break; sleep 0.5; done
    grep -q '^held [0-9]* failed 0 ' "$dir/hold.txt" || { echo "bench-held: a load generator did not hold its sessions: $(cat "$dir/hold.txt") $(tail -3 "$dir/hold.log")" >&2; exit 1; }
    held_n=$((held_n + $(awk '{print $2}' "$dir/hold.txt")))
    secs="$secs $(awk '{print $6}' "$dir/hold.txt")"
  done
  [ "$held_n" = "$n" ] || { echo "bench-held: $held_n of $n sessions held" >&2; exit 1; }
  sleep 3
  held=0
  for pid in "${opids[@]}"; do held=$((held + $(rss "$pid"))); done
  echo "n=$n procs=$procs base_kib=$base held_kib=$held per_session_kib=$(( (held - base) / n )) (opened in${secs} s)" | tee -a "$report"
  if [ "$choices" -gt 0 ]; then
    touch "$out/choose-$n"
    for _ in $(seq 600); do grep -q '^chose' "${dirs[0]}/hold.txt" && break; sleep 0.5; done
    chose=$(grep '^chose' "${dirs[0]}/hold.txt") || { echo "bench-held: the choices did not finish: $(tail -3 "${dirs[0]}/hold.log")" >&2; exit 1; }
    sleep 1
    woken=0 chosen=0
    for port in "${ports[@]}"; do
      page=$(curl -fs "http://127.0.0.1:$port/metrics")
      woken=$((woken + $(awk '$1 == "portaldm_hold_wakeups_total" {print int($2)}' <<<"$page")))
      chosen=$((chosen + $(awk '$1 == "portaldm_selections_total" {print int($2)}' <<<"$page")))
    done
    echo "wake n=$n wakeups=$woken choices=$chosen per_choice=$(python3 -c "print(f'{$woken / max($chosen, 1):.1f}')") latency: $chose" | tee -a "$report"
  fi
  stop
  [ "$db_kind" = sqlite ] || psql "$PDM_TEST_POSTGRES" -q -c "DROP DATABASE $db"
done
python3 - "$report" <<'PY' | tee -a "$report"
import re, sys
rows = [tuple(map(int, re.search(r"n=(\d+) procs=\d+ base_kib=(\d+) held_kib=(\d+)", l).groups())) for l in open(sys.argv[1]) if l.startswith("n=")]
if len(rows) >= 2:
    (n0, b0, h0), (n1, b1, h1) = min(rows), max(rows)
    # Over each level's own idle baseline: a level with more processes has more fixed cost.
    print(f"slope {n0}..{n1}: {((h1 - b1) - (h0 - b0)) / (n1 - n0):.1f} KiB per held session (target <= 10)")
PY
