#!/usr/bin/env bash
# Edge benchmark: the real wasm in workerd beside a trivial worker in the same workerd binary,
# measured one after the other in the same run (never at the same time: 2 cores).
#   - trigger mints/s (limiter Durable Object included) vs a hello-world worker's requests/s;
#     workerd CPU time per request for both (from /proc, over the whole run);
#   - /dl throughput on a cached 64 MiB blob vs a worker returning the same bytes from memory;
#   - the wasm bundle size;
#   - the edge's floor: a 404 answered by the wasm without any work (entry and exit cost);
#   - a DM message (1 KB POST to /dm) passed to the origin by the edge vs by a JavaScript worker
#     that only passes it on: workerd CPU per request (the edge's cost in a flow is mostly this).
# Each figure is the median of BENCH_RUNS runs (default 3) of BENCH_SECS seconds (default 10)
# with wrk; release builds, loopback only. Writes target/bench/edge.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tool-versions.sh
source scripts/lib.sh

secs=${BENCH_SECS:-10}
runs=${BENCH_RUNS:-3}
out=target/bench/edge
rm -rf "$out"
mkdir -p "$out"
report=target/bench/edge.txt

command -v wrk >/dev/null || {
  sudo=$([ "$(id -u)" = 0 ] || echo sudo)
  $sudo apt-get install -y -qq wrk >/dev/null
}
cargo build --release -q -p portaldm-origin
scripts/edge-bundle.sh >/dev/null
origin=target/release/portaldm-origin

# CPU seconds (user + system) a process has used so far.
cpu_secs() { python3 -c "import os,sys; f=open('/proc/$1/stat').read().rsplit(')',1)[1].split(); print((int(f[11])+int(f[12]))/os.sysconf('SC_CLK_TCK'))"; }

op=$(free_port); ep=$(free_port); tp=$(free_port)
"$origin" dev-setup --dir "$out" --origin-port "$op" --edge-port "$ep" --edge-bundle edge/build >/dev/null
# wrk mints from one address: the per-address limit (still checked) is raised out of the way.
unlimited_minting "$out/workerd.capnp"
head -c $((64 * 1024 * 1024)) /dev/urandom > "$out/blob.bin"
"$origin" -c "$out/origin.toml" catalog add --name bench --version 9.9.9 --models BENCH-1 "$out/blob.bin" >/dev/null
id=$("$origin" -c "$out/origin.toml" catalog list | awk '/ bench /{print $1}')
RUST_LOG=warn "$origin" -c "$out/origin.toml" serve >/dev/null 2>"$out/origin.log" &
pids+=($!)
"$WORKERD_BIN" serve "$out/workerd.capnp" 2>"$out/workerd.log" &
edge_pid=$!
pids+=($edge_pid)
wait_up "http://127.0.0.1:$ep/portal/"
url=$("$origin" -c "$out/origin.toml" catalog url "$id" --device IMEI:bench)
curl -fs -o /dev/null "$url"   # the first download fills the edge cache
for _ in $(seq 50); do
  [ "$(curl -fs -D - -o /dev/null "$url" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-edge-cache"{print $2}')" = HIT ] && break
  sleep 0.1
done

cat > "$out/trivial.mjs" <<'JS'
export default {
  fetch(req, env) {
    const path = new URL(req.url).pathname;
    if (path === "/dm") {
      return env.ORIGIN.fetch("http://origin/dm", { method: "POST", headers: req.headers, body: req.body });
    }
    return path === "/blob" ? new Response(env.BLOB) : new Response("hello");
  },
};
JS
# A DM message as wrk sends it (the origin refuses its content after reading it; what is
# measured is workerd's cost of passing a message and its answer along).
cat > "$out/dm.lua" <<'LUA'
wrk.method = "POST"
wrk.body = string.rep("<SyncML>x</SyncML>", 60)
wrk.headers["Content-Type"] = "application/vnd.syncml.dm+xml"
LUA
cat > "$out/trivial.capnp" <<CAPNP
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "trivial", worker = (modules = [(name = "trivial.mjs", esModule = embed "trivial.mjs")],
    compatibilityDate = "2025-09-01", bindings = [(name = "BLOB", data = embed "blob.bin"), (name = "ORIGIN", service = "origin")])),
    (name = "origin", external = (address = "127.0.0.1:$op", http = ()))],
  sockets = [(name = "http", address = "127.0.0.1:$tp", http = (), service = "trivial")],
);
CAPNP
"$WORKERD_BIN" serve "$out/trivial.capnp" 2>"$out/trivial.log" &
trivial_pid=$!
pids+=($trivial_pid)
wait_up "http://127.0.0.1:$tp/"
# Both forwards must reach the origin: the edge's is refused for its content (400), the
# JavaScript worker's, which carries no edge credential, at the door (403).
for check in "$ep 400" "$tp 403"; do
  set -- $check
  got=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/vnd.syncml.dm+xml' --data '<SyncML/>' "http://127.0.0.1:$1/dm")
  [ "$got" = "$2" ] || { echo "bench: POST /dm on port $1 answered $got, not the origin's $2" >&2; exit 1; }
done

# One wrk run: "<requests/s> <MB/s> <CPU ms per request of pid>".
measure() { # $1 pid, $2 connections, $3 url, then wrk's own arguments
  local before after text
  before=$(cpu_secs "$1")
  text=$(wrk -t2 -c"$2" -d"${secs}s" "${@:4}" "$3")
  after=$(cpu_secs "$1")
  if grep -q "Non-2xx" <<<"$text" && [[ "$3" != */not-a-route && "$3" != */dm ]]; then echo "bench: errors from $3: $text" >&2; exit 1; fi
  python3 - "$before" "$after" <<PY
import re, sys
t = """$text"""
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
m = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", t)
mb = float(m.group(1)) * {"B": 1e-6, "KB": 1e-3, "MB": 1, "GB": 1e3}[m.group(2)]
total = rps * $secs
cpu = (float(sys.argv[2]) - float(sys.argv[1])) * 1000 / total
print(f"{rps:.1f} {mb:.1f} {cpu:.3f}")
PY
}

for r in $(seq "$runs"); do
  echo "mint $(measure "$edge_pid" 32 "http://127.0.0.1:$ep/portal/trigger")" >> "$out/raw.txt"
  echo "hello $(measure "$trivial_pid" 32 "http://127.0.0.1:$tp/")" >> "$out/raw.txt"
  echo "floor $(measure "$edge_pid" 32 "http://127.0.0.1:$ep/not-a-route")" >> "$out/raw.txt"
  echo "dl $(measure "$edge_pid" 2 "$url")" >> "$out/raw.txt"
  echo "blob $(measure "$trivial_pid" 2 "http://127.0.0.1:$tp/blob")" >> "$out/raw.txt"
  echo "dm $(measure "$edge_pid" 32 "http://127.0.0.1:$ep/dm" -s "$out/dm.lua")" >> "$out/raw.txt"
  echo "passdm $(measure "$trivial_pid" 32 "http://127.0.0.1:$tp/dm" -s "$out/dm.lua")" >> "$out/raw.txt"
done

wasm=edge/build/index_bg.wasm
python3 - "$out/raw.txt" "$runs" "$secs" "$(stat -c %s $wasm)" "$(gzip -9 -c $wasm | wc -c)" > "$report" <<'PY'
import statistics, sys, datetime, os
rows = {}
for line in open(sys.argv[1]):
    k, rps, mb, cpu = line.split()
    rows.setdefault(k, []).append((float(rps), float(mb), float(cpu)))
med = lambda k, i: statistics.median(r[i] for r in rows[k])
spread = lambda k, i: (min(r[i] for r in rows[k]), max(r[i] for r in rows[k]))
cpu = open("/proc/cpuinfo").read().split("model name")[1].split(":")[1].split("\n")[0].strip()
print(f"# portaldm edge benchmark, {datetime.datetime.utcnow():%Y-%m-%dT%H:%M:%SZ}")
print(f"# machine: {os.cpu_count()} CPU ({cpu}); medians of {sys.argv[2]} runs of {sys.argv[3]} s (min..max)")
print(f"mint       {med('mint',0):9.1f} req/s ({spread('mint',0)[0]:.0f}..{spread('mint',0)[1]:.0f})  CPU {med('mint',2):.3f} ms/req")
print(f"hello      {med('hello',0):9.1f} req/s ({spread('hello',0)[0]:.0f}..{spread('hello',0)[1]:.0f})  CPU {med('hello',2):.3f} ms/req")
print(f"floor      {med('floor',0):9.1f} req/s ({spread('floor',0)[0]:.0f}..{spread('floor',0)[1]:.0f})  CPU {med('floor',2):.3f} ms/req  (the edge's own 404: wasm entry and exit, no work)")
print(f"mint/hello {med('mint',0)/med('hello',0):9.2f}   (target >= 0.50)")
print(f"floor/hello {med('floor',0)/med('hello',0):8.2f}")
print(f"mint CPU over hello's: {med('mint',2)-med('hello',2):.3f} ms per mint")
print(f"dl cached  {med('dl',1):9.1f} MB/s ({spread('dl',1)[0]:.0f}..{spread('dl',1)[1]:.0f})")
print(f"blob       {med('blob',1):9.1f} MB/s ({spread('blob',1)[0]:.0f}..{spread('blob',1)[1]:.0f})")
print(f"blob/dl    {med('blob',1)/med('dl',1):9.2f}   (target <= 2.0)")
print(f"dm forward {med('dm',0):9.1f} req/s ({spread('dm',0)[0]:.0f}..{spread('dm',0)[1]:.0f})  CPU {med('dm',2):.3f} ms/req  (a 1 KB DM message through the edge to the origin)")
print(f"js forward {med('passdm',0):9.1f} req/s ({spread('passdm',0)[0]:.0f}..{spread('passdm',0)[1]:.0f})  CPU {med('passdm',2):.3f} ms/req  (the same, passed on by a JavaScript worker)")
print(f"dm/js CPU  {med('dm',2)/med('passdm',2):9.2f}")
print(f"bundle     {int(sys.argv[4])} bytes wasm, {int(sys.argv[5])} gzipped (target <= 400000)")
PY
cat "$report"
