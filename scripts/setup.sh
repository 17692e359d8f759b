#!/usr/bin/env bash
# Installs what waxseal's full test run needs on a fresh Debian machine with
# Rust (rustup). Idempotent: fast when everything is there.
#   - Rust: rustfmt, clippy; targets wasm32-unknown-unknown, wasm32-wasip2 and
#     thumbv7em-none-eabihf (a target without std: proves the core is no_std);
#     a nightly toolchain for cargo-fuzz, with Miri (and rust-src) for the
#     component allocator's test under Miri.
#   - cargo-fuzz and cargo-deny (cargo install, cached in ~/.cargo/bin).
#   - JavaScript tools (scripts/setup-js.sh): wasm-bindgen-cli 0.2.130, npm
#     binaryen, playwright-core + Debian chromium, miniflare/workerd, Deno,
#     TypeScript.
#   - dnsmasq (Debian dnsmasq-base): a loopback DNS server for the CLI tests.
#   - The independent DKIM verifiers dkimpy, Mail::DKIM, mailauth and OpenDKIM
#     (tests/interop/setup.sh; needs root for apt-get).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
log() { printf 'setup: %s\n' "$*" >&2; }

command -v cargo >/dev/null || { log "cargo not found: install Rust with rustup first"; exit 1; }
command -v rustup >/dev/null || { log "rustup not found: install Rust with rustup first"; exit 1; }

want_targets=(wasm32-unknown-unknown wasm32-wasip2 thumbv7em-none-eabihf)
have_targets="$(rustup target list --installed)"
for t in "${want_targets[@]}"; do
  grep -qx "$t" <<<"$have_targets" || { log "rustup target add $t"; rustup target add "$t" >/dev/null; }
done
have_components="$(rustup component list --installed)"
for c in rustfmt clippy; do
  grep -q "^$c" <<<"$have_components" || { log "rustup component add $c"; rustup component add "$c" >/dev/null; }
done
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  log "rustup toolchain install nightly (for cargo-fuzz)"
  rustup toolchain install nightly --profile minimal >/dev/null
fi
have_nightly="$(rustup +nightly component list --installed)"
for c in miri rust-src; do
  grep -q "^$c" <<<"$have_nightly" || { log "rustup +nightly component add $c"; rustup +nightly component add "$c" >/dev/null; }
done

install_tool() {  # install_tool BINARY CRATE VERSION
  local bin="$1" crate="$2" version="$3"
  if ! "$bin" --version 2>/dev/null | grep -q "$version"; then
    log "cargo install $crate $version (a few minutes, once)"
    cargo install --locked --quiet "$crate" --version "$version"
  fi
}
install_tool cargo-fuzz cargo-fuzz 0.13.2
install_tool cargo-deny cargo-deny 0.20.2

# dnsmasq: a real DNS server on loopback for the `waxseal dns check` and
# `waxseal verify --resolver` tests (dnsmasq-base: no system service)
if ! command -v dnsmasq >/dev/null; then
  [ "$(id -u)" = 0 ] || { log "dnsmasq missing: run as root, or apt-get install dnsmasq-base"; exit 1; }
  log "apt-get install dnsmasq-base"
  DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=600 update >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
    --no-install-recommends dnsmasq-base >/dev/null
fi

# JavaScript/WebAssembly tools: wasm-bindgen-cli, binaryen, Chromium with
# playwright-core, miniflare (workerd), Deno, TypeScript
scripts/setup-js.sh >/dev/null

tests/interop/setup.sh
