#!/usr/bin/env bash
# Builds waxseal's WebAssembly outputs (never committed):
#   wasm/pkg/          the npm package `waxseal` (wasm-bindgen --target web,
#                      wasm-opt from npm binaryen, the JS API and types)
#   wasm/component/    waxseal.wasm (world dkim) and waxseal-host-crypto.wasm
#                      (world dkim-host-crypto), WebAssembly components
# Needs scripts/setup-js.sh (wasm-bindgen-cli 0.2.130, binaryen) and the
# wasm32 targets. Usage: wasm/build.sh [npm|component|all] (default all).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
what="${1:-all}"
JS_HOME="${WAXSEAL_JS_HOME:-$HOME/.cache/waxseal-js}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
log() { printf 'wasm/build.sh: %s\n' "$*" >&2; }
size() { printf '%s: %s bytes, %s gzipped\n' "$1" "$(wc -c <"$2")" "$(gzip -9 -c "$2" | wc -c)"; }

# wasm-bindgen's CLI must be exactly the version of the wasm-bindgen crate.
want="$(sed -n 's/^wasm-bindgen = { version = "=\([0-9.]*\)".*/\1/p' wasm/Cargo.toml)"

if [ "$what" = npm ] || [ "$what" = all ]; then
  have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')"
  [ "$have" = "$want" ] || { log "wasm-bindgen $want needed (have: ${have:-none}); run scripts/setup-js.sh"; exit 1; }
  WASM_OPT="$JS_HOME/node_modules/.bin/wasm-opt"
  [ -x "$WASM_OPT" ] || { log "wasm-opt (npm binaryen) missing; run scripts/setup-js.sh"; exit 1; }
  log "cargo build (js face)"
  cargo build --locked --quiet -p waxseal-wasm --features js \
    --target wasm32-unknown-unknown --profile wasm-release
  out="wasm/pkg"
  rm -rf "$out" && mkdir -p "$out/wasm"
  wasm-bindgen --target web --no-typescript --out-dir "$out/wasm" --out-name waxseal_wasm \
    "$TARGET_DIR/wasm32-unknown-unknown/wasm-release/waxseal_wasm.wasm"
  size "raw (wasm-bindgen)" "$out/wasm/waxseal_wasm_bg.wasm"
  "$WASM_OPT" -Oz --strip-debug --strip-producers \
    "$out/wasm/waxseal_wasm_bg.wasm" -o "$out/wasm/waxseal_wasm_bg.wasm"
  cp wasm/js/api.js wasm/js/errors.js wasm/js/input.js wasm/js/platform.js wasm/js/node.js wasm/js/browser.js wasm/js/workerd.js wasm/js/index.d.ts \
     wasm/js/package.json wasm/js/README.md "$out/"
  size "npm package .wasm (wasm-opt -Oz)" "$out/wasm/waxseal_wasm_bg.wasm"
  # the README's budget for what a page downloads: 200 KB gzipped
  gz="$(gzip -9 -c "$out/wasm/waxseal_wasm_bg.wasm" | wc -c)"
  [ "$gz" -le 200000 ] || { log "the npm package's .wasm is $gz bytes gzipped, over the 200 KB budget"; exit 1; }
fi

if [ "$what" = component ] || [ "$what" = all ]; then
  out="wasm/component"
  mkdir -p "$out"
  for variant in component host-crypto; do
    log "cargo build (component, feature $variant)"
    cargo build --locked --quiet -p waxseal-wasm --features "$variant" \
      --target wasm32-wasip2 --profile component-release
    name=waxseal.wasm
    [ "$variant" = host-crypto ] && name=waxseal-host-crypto.wasm
    cp "$TARGET_DIR/wasm32-wasip2/component-release/waxseal_wasm.wasm" "$out/$name"
    size "component $name" "$out/$name"
  done
fi
