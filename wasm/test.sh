#!/usr/bin/env bash
# Tests the npm package as a user installs it: packs wasm/pkg (built by
# wasm/build.sh npm) into a tarball, installs it into a temporary project,
# type-checks a TypeScript user of it, and runs node's test runner there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JS_HOME="${WAXSEAL_JS_HOME:-$HOME/.cache/waxseal-js}"
[ -f "$ROOT/wasm/pkg/wasm/waxseal_wasm_bg.wasm" ] || { echo "wasm/test.sh: run wasm/build.sh npm first" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export npm_config_cache="$tmp/npm-cache" npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
tarball="$(cd "$tmp" && npm pack --silent "$ROOT/wasm/pkg")"
mkdir "$tmp/project"
cd "$tmp/project"
printf '{ "name": "waxseal-user", "private": true, "type": "module" }\n' > package.json
npm install --silent --no-package-lock --offline "$tmp/$tarball"
cp "$ROOT"/wasm/tests/*.test.mjs "$ROOT"/wasm/tests/types.test.mts .
echo "wasm/test.sh: installed $tarball ($(du -k "$tmp/$tarball" | cut -f1) KB packed)"
"$JS_HOME/node_modules/.bin/tsc" --noEmit --strict --target es2022 --module nodenext \
  --moduleResolution nodenext --lib es2022,dom types.test.mts
echo "wasm/test.sh: TypeScript types check"
WAXSEAL_REPO="$ROOT" node --test --test-reporter=spec ./*.test.mjs
