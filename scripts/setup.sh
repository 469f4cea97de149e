#!/usr/bin/env bash
# Installs what building and testing portaldm needs, pinned, and only what is missing:
# Debian packages (Node.js, libwbxml2-utils), the wasm32 target, wasm-bindgen-cli (exactly the version in Cargo.lock) under
# $HOME/.cache/portaldm/tools, and the npm tools (workerd, esbuild, wrangler) from package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tool-versions.sh

say() { printf 'setup: %s\n' "$*"; }

command -v cargo >/dev/null || { echo "setup: cargo is required (install Rust with rustup)" >&2; exit 1; }

# Debian packages: Node.js/npm (tools), Chromium (browser tests), libwbxml2-utils (a real WBXML codec the interop
# tests check ours against), PostgreSQL (the tests start a throwaway cluster; the packaged
# one on 5432 is neither started nor needed). Checked with dpkg first so reruns are fast.
apt_missing=()
command -v npm >/dev/null || apt_missing+=(nodejs npm)
dpkg -s libwbxml2-utils >/dev/null 2>&1 || apt_missing+=(libwbxml2-utils)
# A C++ compiler: `make fuzz-build` compiles libFuzzer.
command -v c++ >/dev/null || apt_missing+=(g++)
dpkg -s postgresql >/dev/null 2>&1 || apt_missing+=(postgresql)
# Chromium: the portal's browser tests drive Debian's build with playwright-core (npm);
# Playwright's own browser downloads are not reachable from here.
dpkg -s chromium >/dev/null 2>&1 || apt_missing+=(chromium)
if [ ${#apt_missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${apt_missing[*]}"
  sudo=$([ "$(id -u)" = 0 ] || echo sudo)
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

locked=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
if [ "$locked" != "$WASM_BINDGEN_VERSION" ]; then
  echo "setup: Cargo.lock has wasm-bindgen $locked but tools pin $WASM_BINDGEN_VERSION" >&2
  exit 1
fi
if [ "$("$WASM_BINDGEN_BIN" --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once per machine)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --locked --quiet \
    --root "$TOOLS_HOME/wasm-bindgen-cli-$WASM_BINDGEN_VERSION"
fi

if [ ! -x "$WORKERD_BIN" ] || [ ! -x "$ESBUILD_BIN" ] || [ ! -x node_modules/.bin/wrangler ] || [ ! -d node_modules/playwright-core ] || [ ! -x node_modules/.bin/s3rver ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm tools from package-lock.json"
  npm ci --no-audit --no-fund --loglevel=error
fi
"$WORKERD_BIN" --version >/dev/null
"$ESBUILD_BIN" --version >/dev/null
say "tools ready"
