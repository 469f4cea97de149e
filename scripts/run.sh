#!/usr/bin/env bash
# Starts portaldm locally: the origin (SQLite, demo catalog) and the edge (wasm in workerd)
# on loopback, with keys and configuration in .dev/. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tool-versions.sh

ORIGIN_PORT=${ORIGIN_PORT:-8081}
EDGE_PORT=${EDGE_PORT:-8787}
origin=target/debug/portaldm-origin

"$origin" dev-setup --dir .dev --origin-port "$ORIGIN_PORT" --edge-port "$EDGE_PORT" --edge-bundle edge/build
"$origin" -c .dev/origin.toml catalog demo

pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap stop EXIT INT TERM

"$origin" -c .dev/origin.toml serve 2> .dev/origin.log &
pids+=($!)
"$WORKERD_BIN" serve .dev/workerd.capnp 2> .dev/edge.log &
pids+=($!)

for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$EDGE_PORT/portal/" >/dev/null 2>&1 && break
  sleep 0.1
done

cat <<MSG

portaldm is running.
  portal (through the edge):  http://127.0.0.1:$EDGE_PORT/portal/
  origin (direct):            http://127.0.0.1:$ORIGIN_PORT/
  logs:                       .dev/origin.log, .dev/edge.log

Play browser and phone from another terminal (README, "Trying it"):
  curl -s -c .dev/cookies -o .dev/trigger.bin http://127.0.0.1:$EDGE_PORT/portal/trigger
  target/debug/dmclient -c .dev/dmclient.toml trigger .dev/trigger.bin &
  curl -s -b .dev/cookies http://127.0.0.1:$EDGE_PORT/portal/api/session
  curl -s -b .dev/cookies -H 'content-type: application/json' -d '{"package_id":2}' \\
       http://127.0.0.1:$EDGE_PORT/portal/api/select

Ctrl-C stops both.
MSG
wait
