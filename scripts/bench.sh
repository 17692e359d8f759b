#!/usr/bin/env bash
# Every benchmark of the project, each printing ratios measured side by side
# in one run:
#   - every DKIM implementation on the same messages: waxseal (native, the
#     sandbox, the npm package), mail-auth, mailauth, dkimpy, Mail::DKIM,
#     OpenDKIM's library and raw AWS-LC as the limit (bench/peers/run.py,
#     after bench/peers/setup.sh installs or builds them): the README's table
#   - the host: native vs wasmtime component vs mail-auth (aws-lc-rs), 2 KB and
#     10 MB messages, peak memory (bench/, its own cargo workspace)
#   - the npm package in Node: WebCrypto and WebAssembly paths vs mailauth
#     (needs wasm/build.sh npm and tests/interop/setup.sh)
#   - the command: peak memory signing and verifying 2 KB and 100 MB messages
#     (scripts/bench-memory.sh)
#   - the milter under load in a real Postfix, with and without it
#     (tests/milter/load.sh; needs root, installs Postfix if missing)
#   - the core: canonicalization + SHA-256 vs SHA-256, hostile bodies, sign
#     and verify rates (criterion; `--core` to include it, it takes minutes)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -f wasm/component/waxseal-host-crypto.wasm ] && export WAXSEAL_COMPONENT="$PWD/wasm/component/waxseal-host-crypto.wasm"
echo "==== every implementation side by side (bench/peers/run.py)"
bench/peers/setup.sh
bench/peers/run.py
echo
echo "==== host: native, wasmtime, mail-auth"
(cd bench && CARGO_TARGET_DIR="$PWD/../target" cargo run --release --quiet)
echo
echo "==== the command's peak memory, 2 KB and 100 MB messages"
scripts/bench-memory.sh
echo
echo "==== the milter under load, through Postfix with and without it"
tests/milter/load.sh
if [ -f wasm/pkg/node.js ]; then
  echo
  echo "==== npm package in Node, next to mailauth"
  node wasm/bench/bench.mjs
fi
if [ "${1:-}" = "--core" ]; then
  echo
  echo "==== core (criterion)"
  cargo bench -p waxseal-core --bench core
fi
