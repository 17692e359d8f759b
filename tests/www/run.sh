#!/usr/bin/env bash
# The browser page (www/) and the edge workers (wasm/examples/), offline:
#   1. the page's logic in Node (tests/www/unit.test.mjs, about 1 s)
#   2. the page in Debian's Chromium with playwright-core and axe-core, served by
#      scripts/www.mjs on 127.0.0.1, the four interop peers on what it makes
#      (tests/www/page.test.mjs, about 90 s; screenshots in target/www-screenshots/)
#   3. the two Cloudflare Workers in workerd via miniflare (wasm/examples/tests, about 4 s)
# Needs wasm/pkg (wasm/build.sh npm), scripts/setup-js.sh and tests/interop/setup.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
if [ -z "${WAXSEAL_JS_HOME:-}" ]; then
  # shellcheck disable=SC1091
  source "$HOME/.cache/waxseal-js/env.sh"
fi
[ -f wasm/pkg/wasm/waxseal_wasm_bg.wasm ] || { echo "tests/www/run.sh: run wasm/build.sh npm first" >&2; exit 1; }
run() { local t0=$SECONDS; "$@"; echo "tests/www/run.sh: $* passed ($((SECONDS - t0)) s)"; }
run timeout 120 node --test --test-reporter=spec tests/www/unit.test.mjs
run timeout 600 node --test --test-reporter=spec tests/www/page.test.mjs
run timeout 300 node --test --test-reporter=spec wasm/examples/tests/workers.test.mjs
