#!/usr/bin/env bash
# The browser page (www/): builds it with the npm package into target/www and
# serves it on 127.0.0.1 for you to open. Only the page's own files are
# served; the page itself contacts nothing else unless you ask it to look a
# record up over DNS-over-HTTPS.
#   scripts/www.sh [PORT]        build and serve (default port 8080)
#   scripts/www.sh --build-only  build target/www (static files: host them anywhere
#                                that can send the headers in target/www/_headers)
# Needs Node.js 20+. The npm package is built first (wasm/build.sh npm, which
# needs Rust and scripts/setup-js.sh) only when wasm/pkg is missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/target/www"
port=8080
build_only=0
for a in "$@"; do
  case "$a" in
    --build-only) build_only=1 ;;
    ''|*[!0-9]*) echo "usage: $0 [PORT] | --build-only" >&2; exit 2 ;;
    *) port="$a" ;;
  esac
done

if [ ! -f "$ROOT/wasm/pkg/wasm/waxseal_wasm_bg.wasm" ]; then
  echo "www.sh: wasm/pkg is missing; building the npm package (wasm/build.sh npm)" >&2
  "$ROOT/wasm/build.sh" npm
fi
node "$ROOT/scripts/www.mjs" build "$OUT"
[ "$build_only" = 1 ] && exit 0
exec node "$ROOT/scripts/www.mjs" serve "$OUT" "$port"
