#!/usr/bin/env bash
# Installs or builds every contender of the cross-peer benchmark (run.py):
#   - dkimpy, Mail::DKIM, mailauth and OpenDKIM: tests/interop/setup.sh
#   - OpenDKIM's library headers (Debian's libopendkim-dev, needs root) and
#     the C worker linked with it: target/bench-peers/opendkim_worker
#   - the Rust workers (waxseal native and sandbox, mail-auth, raw AWS-LC):
#     the host benchmark, release build (bench/, its own workspace)
#   - waxseal's npm package, if wasm/pkg has none: wasm/build.sh npm
# Idempotent; seconds when everything is there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
log() { echo "bench/peers/setup.sh: $*" >&2; }
tests/interop/setup.sh
if ! dpkg-query -W -f='${Status}' libopendkim-dev 2>/dev/null | grep -q 'install ok installed' ||
   ! command -v gcc >/dev/null; then
  [ "$(id -u)" = 0 ] || { log "error: libopendkim-dev and gcc are needed (run as root)"; exit 1; }
  log "apt-get install libopendkim-dev gcc"
  apt=(apt-get -q -y -o DPkg::Lock::Timeout=300)
  aptlog="$(mktemp)"
  { DEBIAN_FRONTEND=noninteractive "${apt[@]}" update &&
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" install --no-install-recommends libopendkim-dev gcc
  } >"$aptlog" 2>&1 || { tail -n 20 "$aptlog" >&2; rm -f "$aptlog"; exit 1; }
  rm -f "$aptlog"
fi
mkdir -p target/bench-peers
if [ ! -x target/bench-peers/opendkim_worker ] ||
   [ bench/peers/opendkim_worker.c -nt target/bench-peers/opendkim_worker ]; then
  gcc -O2 -Wall -Wextra -Werror -o target/bench-peers/opendkim_worker \
    bench/peers/opendkim_worker.c -lopendkim
fi
if [ ! -f wasm/pkg/node.js ]; then
  log "building the npm package (wasm/build.sh npm)"
  wasm/build.sh npm
fi
[ -f wasm/component/waxseal-host-crypto.wasm ] &&
  export WAXSEAL_COMPONENT="$PWD/wasm/component/waxseal-host-crypto.wasm"
(cd bench && CARGO_TARGET_DIR="$PWD/../target" cargo build --release --locked --quiet)
