#!/usr/bin/env bash
# The main job on a default: keys for example.com, the DNS records to publish,
# and a sample message signed with RSA and Ed25519 in one pass.
# Extra arguments are passed to the example (a message file to sign).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup first" >&2; exit 1; }
exec cargo run --quiet --release --locked -p waxseal-core --example demo -- "$@"
