#!/usr/bin/env bash
# Soak: SOAK_SECS (default 600) of steady load — `dmclient swarm` at SOAK_CONCURRENCY
# (default 8) handsets through the real edge (wasm in workerd) and origin (release, SQLite) —
# while the origin's and workerd's RSS are sampled every 15 s. Passes when no flow failed,
# every completed flow's result is recorded at the origin, and memory is flat: the last quarter's peak RSS is at most 20%
# above the second quarter's (after warm-up). Writes target/soak/report.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tool-versions.sh
source scripts/lib.sh

secs=${SOAK_SECS:-600}
conc=${SOAK_CONCURRENCY:-8}
out=target/soak
rm -rf "$out"
mkdir -p "$out"
cargo build --release -q -p portaldm-origin -p portaldm-client
scripts/edge-bundle.sh >/dev/null
origin=target/release/portaldm-origin

op=$(free_port); ep=$(free_port)
"$origin" dev-setup --dir "$out" --origin-port "$op" --edge-port "$ep" --edge-bundle edge/build >/dev/null
# Every simulated handset mints from 127.0.0.1: the per-address limit is raised out of the way.
unlimited_minting "$out/workerd.capnp"
unlimited_dm "$out/origin.toml"
"$origin" -c "$out/origin.toml" catalog demo >/dev/null
RUST_LOG=warn "$origin" -c "$out/origin.toml" serve >/dev/null 2>"$out/origin.log" &
origin_pid=$!
pids+=($origin_pid)
"$WORKERD_BIN" serve "$out/workerd.capnp" 2>"$out/workerd.log" &
edge_pid=$!
pids+=($edge_pid)
wait_up "http://127.0.0.1:$ep/portal/"

(
  while sleep 15; do echo "$(date +%s) $(rss $origin_pid) $(rss $edge_pid)"; done
) > "$out/rss.txt" &
sampler=$!
pids+=($sampler)

echo "soak: $secs s at $conc handsets"
target/release/dmclient -c "$out/dmclient.toml" swarm --edge "http://127.0.0.1:$ep" --devices 0 \
  --duration-secs "$secs" --concurrency "$conc" --first-imei 360000000000000 > "$out/swarm.txt" 2>"$out/swarm.log" || true
kill "$sampler" 2>/dev/null || true

python3 - "$out" <<'PY' | tee "$out/report.txt"
import re, sqlite3, sys
out = sys.argv[1]
swarm = open(f"{out}/swarm.txt").read()
print(swarm.strip())
completed = int(re.search(r"completed (\d+) flows", swarm).group(1))
failed = sum(int(n) for n in re.findall(r"failed\s+(\d+) at", swarm))
db = sqlite3.connect(f"{out}/origin.db")
# correlator is the results table's key: a result reported twice is stored once, and the
# origin answers the repeat as already recorded.
results = db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
rows = [tuple(map(int, l.split())) for l in open(f"{out}/rss.txt") if len(l.split()) == 3]
ok = True
print(f"results recorded {results}, flows completed {completed}, failed {failed}")
if failed: ok = False; print("FAIL: flows failed")
if results < completed: ok = False; print("FAIL: results lost")
q = max(1, len(rows) // 4)
if len(rows) >= 4:
    for name, col in (("origin", 1), ("workerd", 2)):
        second = max(r[col] for r in rows[q:2 * q]); last = max(r[col] for r in rows[-q:])
        print(f"{name} RSS: {second} KiB (second quarter peak) -> {last} KiB (last quarter peak)")
        if last > second * 1.2: ok = False; print(f"FAIL: {name} memory grew")
else:
    print("RSS: too few samples for a trend (run longer)")
print("soak: PASS" if ok else "soak: FAIL")
sys.exit(0 if ok else 1)
PY
