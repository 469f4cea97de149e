# Pinned tool versions and where they live; sourced by the other scripts.
# Installed tools sit in a versioned folder under $HOME/.cache so a fresh clone on the
# same machine finds them again; nothing depends on what a developer installed by hand.
WASM_BINDGEN_VERSION=0.2.129
TOOLS_HOME=${PORTALDM_TOOLS:-$HOME/.cache/portaldm/tools}
WASM_BINDGEN_BIN=$TOOLS_HOME/wasm-bindgen-cli-$WASM_BINDGEN_VERSION/bin/wasm-bindgen
ROOT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ESBUILD_BIN=$ROOT_DIR/node_modules/.bin/esbuild
WORKERD_BIN=$ROOT_DIR/node_modules/.bin/workerd
export WASM_BINDGEN_BIN ESBUILD_BIN WORKERD_BIN
CARGO_FUZZ_VERSION=0.13.2
CARGO_FUZZ_BIN=$TOOLS_HOME/cargo-fuzz-$CARGO_FUZZ_VERSION/bin/cargo-fuzz
CARGO_DENY_VERSION=0.20.2
CARGO_DENY_BIN=$TOOLS_HOME/cargo-deny-$CARGO_DENY_VERSION/bin/cargo-deny
