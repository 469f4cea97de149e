#!/usr/bin/env bash
# What `wrangler deploy` would upload, for every environment in wrangler.toml, without an
# account or network (`--dry-run --outdir`): proves the deployment file and bundle are valid,
# the Durable Object class is exported, and the wasm stays within its size budget.
#   EDGE_MAX_GZIP  largest gzipped wasm, bytes (default 400000: issue 5's 400 KB)
set -euo pipefail
cd "$(dirname "$0")/.."
max=${EDGE_MAX_GZIP:-400000}
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
export XDG_CONFIG_HOME=$PWD/target/wrangler/config XDG_CACHE_HOME=$PWD/target/wrangler/cache
for env in staging production dev; do
  out=target/wrangler/$env
  rm -rf "$out"
  log=$(node_modules/.bin/wrangler deploy --dry-run --outdir "$out" --env "$env" 2>&1) || {
    echo "$log" >&2
    echo "edge dry run ($env): wrangler refused the deployment" >&2
    exit 1
  }
  grep -q "PDM_MINT_LIMITER (MintLimiter)" <<<"$log" || { echo "$log" >&2; echo "edge dry run ($env): no mint limiter binding" >&2; exit 1; }
  grep -q "MintLimiter" "$out/worker.js" || { echo "edge dry run ($env): MintLimiter is not exported" >&2; exit 1; }
  wasm=$(ls "$out"/*.wasm)
  gz=$(gzip -9 -c "$wasm" | wc -c)
  if [ "$gz" -gt "$max" ]; then
    echo "edge dry run ($env): wasm is $gz bytes gzipped, over the $max budget" >&2
    exit 1
  fi
  echo "edge dry run ($env): ok, wasm $(stat -c %s "$wasm") bytes, $gz gzipped (budget $max)"
done
