#!/usr/bin/env bash
# Installs what waxseal's JavaScript/WebAssembly builds and tests need on a fresh Debian
# machine with Rust (rustup) and Node.js >= 20.18.1.  Idempotent; well under 1 s when
# everything is there.  See wasm/tools/README.md for versions and launch options.
#   - rustup targets wasm32-unknown-unknown and wasm32-wasip2
#   - wasm-bindgen-cli 0.2.130 (cargo install, ~/.cargo/bin; about 5 minutes, once)
#   - Debian chromium (apt-get; needs root)
#   - npm tools pinned in wasm/tools/package.json + package-lock.json, installed with
#     npm ci into the state dir STATE=${WAXSEAL_JS_HOME:-$HOME/.cache/waxseal-js}:
#     binaryen (wasm-opt), playwright-core, @axe-core/playwright (the page's accessibility
#     test; MPL-2.0, a test tool only, never shipped), miniflare (+workerd), deno, typescript
# After an install (or with --check) wasm/tools/smoke.mjs proves each tool works offline:
# wasm-opt output runs, Chromium loads a 127.0.0.1 page, miniflare serves a worker that
# imports a .wasm module, deno imports a module using node:fs, tsc checks a .d.ts, axe-core
# finds the violations of a small page.
# stdout: export lines (eval "$(scripts/setup-js.sh)"), also written to STATE/env.sh;
# stderr: progress and a one-line summary.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/wasm/tools"
STATE="${WAXSEAL_JS_HOME:-$HOME/.cache/waxseal-js}"
mkdir -p "$STATE" && STATE="$(cd "$STATE" && pwd)"
export DEBIAN_FRONTEND=noninteractive WAXSEAL_JS_HOME="$STATE"
WASM_BINDGEN_VERSION=0.2.130
CHROMIUM=/usr/bin/chromium
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
NPM_BIN="$STATE/node_modules/.bin"
APT=(apt-get -q -y -o DPkg::Lock::Timeout=300)
CHECK=0
for a in "$@"; do
  case "$a" in
    --check) CHECK=1 ;;  # run the smoke checks even when nothing changed
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
  esac
done
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
die() { echo "setup-js.sh: error: $*" >&2; exit 1; }
log() { echo "setup-js.sh: $*" >&2; }
quiet() {  # run a command, show its output only if it fails
  "$@" >"$TMP/log" 2>&1 || { tail -n 30 "$TMP/log" >&2; die "failed: $*"; }
}
stamp() { cat "$@" | sha256sum | cut -c1-64; }

exec 9>"$STATE/.lock"  # one install at a time per state dir
flock 9

# ------------------------------------------------------------ Node.js
# undici 7 (miniflare's) needs Node >= 20.18.1; Debian 12's nodejs (18) is too old
command -v node >/dev/null && command -v npm >/dev/null ||
  die "node and npm not found: install Node.js >= 20.18.1 first"
node -e 'const [a,b,c]=process.versions.node.split(".").map(Number);
         process.exit(a>20||(a===20&&(b>18||(b===18&&c>=1)))?0:1)' ||
  die "Node.js $(node --version) is too old: miniflare needs >= 20.18.1"

# ------------------------------------------------------------ Rust targets
command -v rustup >/dev/null || die "rustup not found: install Rust with rustup first"
have_targets="$(rustup target list --installed)"
for t in wasm32-unknown-unknown wasm32-wasip2; do
  grep -qx "$t" <<<"$have_targets" || { log "rustup target add $t"; quiet rustup target add "$t"; }
done

# ------------------------------------------------------------ wasm-bindgen-cli
# must equal the wasm-bindgen crate version in Cargo.lock; not --locked (as instructed)
if [ "$("$CARGO_BIN/wasm-bindgen" --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 5 minutes, once)"
  quiet cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  [ "$("$CARGO_BIN/wasm-bindgen" --version)" = "wasm-bindgen $WASM_BINDGEN_VERSION" ] ||
    die "wasm-bindgen $WASM_BINDGEN_VERSION not in $CARGO_BIN after cargo install"
  CHECK=1
fi

# ------------------------------------------------------------ Debian chromium
# Debian's binaryen is never installed: its wasm-opt breaks wasm-bindgen output
if [ "$(dpkg-query -W -f='${Status}' chromium 2>/dev/null)" != 'install ok installed' ]; then
  [ "$(id -u)" = 0 ] || die "Debian package chromium is missing (run as root)"
  log "apt-get install chromium"
  quiet "${APT[@]}" update
  quiet "${APT[@]}" install --no-install-recommends chromium
  CHECK=1
fi
[ -x "$CHROMIUM" ] || die "$CHROMIUM not found after install"

# ------------------------------------------------------------ npm tools (npm ci)
want="$(stamp "$TOOLS/package.json" "$TOOLS/package-lock.json")"
bins=(wasm-opt deno tsc workerd)
ok=1
[ "$(cat "$STATE/node_modules/STAMP" 2>/dev/null)" = "$want" ] || ok=0
for b in "${bins[@]}"; do [ -x "$NPM_BIN/$b" ] || ok=0; done
for p in playwright-core @axe-core/playwright axe-core miniflare; do
  [ -f "$STATE/node_modules/$p/package.json" ] || ok=0
done
if [ "$ok" = 0 ]; then
  log "npm ci in $STATE (binaryen, playwright-core, @axe-core/playwright, miniflare, deno, typescript; about 400 MB on disk)"
  cp "$TOOLS/package.json" "$TOOLS/package-lock.json" "$STATE/"
  # a throw-away npm cache, so that a read-only or odd $HOME does not matter; playwright-core
  # never downloads browsers by itself, the variable only guards against a future change
  (cd "$STATE" && npm_config_cache="$TMP/npm" npm_config_update_notifier=false \
     PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 quiet npm ci --no-audit --no-fund)
  for b in "${bins[@]}"; do [ -x "$NPM_BIN/$b" ] || die "$NPM_BIN/$b missing after npm ci"; done
  echo "$want" >"$STATE/node_modules/STAMP"
  CHECK=1
fi

# ------------------------------------------------------------ smoke checks
chromium_version="$(dpkg-query -W -f='${Version}' chromium)"
want="$(printf '%s\n' "$(stamp "$TOOLS/package.json" "$TOOLS/package-lock.json" "$TOOLS/smoke.mjs")" \
        "$(node --version)" "$chromium_version" "$WASM_BINDGEN_VERSION" | sha256sum | cut -c1-64)"
if [ "$CHECK" = 1 ] || [ "$(cat "$STATE/CHECKED" 2>/dev/null)" != "$want" ]; then
  log "smoke checks (about 10 s)"
  rm -f "$STATE/CHECKED"
  WAXSEAL_CHROMIUM="$CHROMIUM" node "$TOOLS/smoke.mjs" >"$TMP/smoke" 2>&1 ||
    { cat "$TMP/smoke" >&2; die "a smoke check failed"; }
  sed 's/^/  /' "$TMP/smoke" >&2
  echo "$want" >"$STATE/CHECKED"
fi

# ------------------------------------------------------------ summary and exports
cat >"$STATE/env.sh" <<EOF
export WAXSEAL_JS_HOME='$STATE'
export WAXSEAL_JS_NODE_MODULES='$STATE/node_modules'
export WAXSEAL_WASM_BINDGEN='$CARGO_BIN/wasm-bindgen'
export WAXSEAL_WASM_OPT='$NPM_BIN/wasm-opt'
export WAXSEAL_CHROMIUM='$CHROMIUM'
export WAXSEAL_CHROMIUM_FLAGS='--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync'
export WAXSEAL_DENO='$NPM_BIN/deno'
export WAXSEAL_TSC='$NPM_BIN/tsc'
export DENO_NO_UPDATE_CHECK=1 DENO_DIR='$STATE/deno-dir'
case ":\$PATH:" in *':$NPM_BIN:'*) ;; *) export PATH='$NPM_BIN':"\$PATH" ;; esac
case ":\$PATH:" in *':$CARGO_BIN:'*) ;; *) export PATH='$CARGO_BIN':"\$PATH" ;; esac
EOF
cat "$STATE/env.sh"
versions="$(cd "$STATE/node_modules" && node -e 'console.log(process.argv.slice(1).map(
  (p) => p + " " + require("./" + p + "/package.json").version).join(" | "))' \
  binaryen playwright-core @axe-core/playwright miniflare workerd deno typescript)"
log "ok ($STATE, env in env.sh there): wasm-bindgen $WASM_BINDGEN_VERSION | chromium $chromium_version | $versions"
