#!/usr/bin/env bash
# Builds the edge Worker bundle into edge/build/: the Rust crate for wasm32, wasm-bindgen's
# ES module glue, and one ES module (worker.mjs) that workerd and wrangler both load beside
# index_bg.wasm. No download happens here: the tools come from scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tool-versions.sh

profile=${EDGE_PROFILE:-edge}
cargo build -p portaldm-edge --target wasm32-unknown-unknown --profile "$profile"
[ "$profile" = dev ] && profile=debug
out=edge/build
tmp=$out/.tmp
rm -rf "$tmp" && mkdir -p "$tmp"
"$WASM_BINDGEN_BIN" --target module --no-typescript --out-name index --out-dir "$tmp" \
  "target/wasm32-unknown-unknown/$profile/portaldm_edge.wasm"
# workerd imports a wasm module as a compiled module, not as a source-phase import.
sed -i 's/import source /import /' "$tmp/index.js"
cp edge/shim.mjs "$tmp/shim.mjs"
"$ESBUILD_BIN" --bundle --format=esm --minify "--external:./index_bg.wasm" "--external:cloudflare:*" \
  "$tmp/shim.mjs" --outfile="$tmp/worker.mjs" --log-level=warning
mv "$tmp/worker.mjs" "$out/worker.mjs"
mv "$tmp/index_bg.wasm" "$out/index_bg.wasm"
# Not deployed: the stand-in for Cloudflare's cache that local workerd configurations use.
cp edge/local/cache.mjs "$out/local-cache.mjs"
rm -rf "$tmp"
printf 'edge bundle: %s (%s bytes wasm, %s gzipped)\n' "$out" \
  "$(stat -c %s "$out/index_bg.wasm")" "$(gzip -c "$out/index_bg.wasm" | wc -c)"
