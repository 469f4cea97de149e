# Helpers for the benchmark and soak scripts; sourced after tool-versions.sh. Processes a
# script starts go into `pids` and are stopped (by PID) when it exits.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
# User+system CPU a process has used so far, in ms (fields 14 and 15 of /proc/PID/stat;
# the command name, field 2, has no spaces for the processes measured here).
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' "/proc/$1/stat"; }
# User+system CPU of a PostgreSQL cluster so far, in ms: its postmaster's own, its exited
# children's (fields 16 and 17), and each live child's (backends, WAL writer, checkpointer).
pg_cpu_ms() {
  local pm=$1 ticks c
  ticks=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat")
  for c in $(pgrep -P "$pm"); do
    ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || echo 0)))
  done
  echo $((ticks * 1000 / $(getconf CLK_TCK)))
}
# Context switches (voluntary and not) of process $1 so far, over its live threads: each
# hand-over of work from one thread to another and back is two.
# User+system CPU of PID $1's threads named sqlx-sqlite-* (the SQLite store's), in ms.
store_thread_ms() {
  local t ticks=0
  for t in /proc/"$1"/task/*; do
    case $(cat "$t/comm" 2>/dev/null) in sqlx-sqlite*) ticks=$((ticks + $(sed 's/.*) //' "$t/stat" | awk '{print $12 + $13}'))) ;; esac
  done
  echo $((ticks * 1000 / $(getconf CLK_TCK)))
}
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}'; }
pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }
trap stop EXIT INT TERM
# Waits (10 s at most) until a URL answers.
wait_up() {
  for _ in $(seq 200); do curl -fs -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.05; done
  echo "$(basename "$0"): $1 did not come up" >&2
  exit 1
}
# Every simulated handset of a load run mints from 127.0.0.1: lifts the edge's per-address
# mint limit (still checked on every mint) in a dev-setup workerd.capnp.
unlimited_minting() {
  sed -i 's|"PDM_MINT_PER_MINUTE", text = "[0-9]*"|"PDM_MINT_PER_MINUTE", text = "100000000"|; s|"PDM_MINT_BURST", text = "[0-9]*"|"PDM_MINT_BURST", text = "1000000"|' "$1"
}
# Every simulated handset of a load run comes through one address and holds no DM account:
# lifts the origin's limits on unauthenticated DM messages in a dev-setup origin.toml.
unlimited_dm() {
  printf 'dm_unauth_per_minute_per_address = 0\ndm_unauth_per_minute_per_device = 0\n' >> "$1"
}
# A fresh origin system in folder $2 for the DM server benchmarks, by origin build $1, to
# listen on port $3: a held package 4 answered at once and asked again (Alert 1222), so one
# client thread drives each session and the hold's waiting is not what is measured (no edge
# in front: hold_unchecked lets the hold be 0); no limit on unproven DM messages.
dm_bench_system() {
  rm -rf "$2"
  "$1" dev-setup --dir "$2" --origin-port "$3" --edge-port 1 --edge-bundle edge/build >/dev/null
  sed -i 's/^hold_secs = .*/hold_secs = 0\nhold_unchecked = true/' "$2/origin.toml"
  unlimited_dm "$2/origin.toml"
}
