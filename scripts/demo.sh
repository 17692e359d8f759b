#!/usr/bin/env bash
# The main job, end to end, on a default: builds the `waxseal` command (the
# DKIM core runs inside it in a wasmtime sandbox), creates keys for
# example.com, prints the DNS records to publish, signs a sample message
# through the sandbox (the private keys stay outside it), and verifies the
# signed message against the published records (read from files, as a
# receiver's DNS would serve them).
# Output goes to target/demo/. Needs only Rust (rustup) and cargo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
step() { printf '\n\033[1m==== %s\033[0m\n' "$*"; }
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup first" >&2; exit 1; }
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi

step "building waxseal (the first build takes several minutes: wasmtime)"
cargo build --release --locked -p waxseal
W="$PWD/target/release/waxseal"
D=target/demo
rm -rf "$D" && mkdir -p "$D/dns"

step "1. keys for example.com: Ed25519 and RSA-2048, DNS records in test mode (t=y)"
"$W" keygen --domain example.com --selector ed2026 --algorithm ed25519 --testing --out "$D"
"$W" keygen --domain example.com --selector rsa2026 --testing --out "$D"

step "2. the DNS records to publish"
for s in ed2026 rsa2026; do
  "$W" dns record --key "$D/$s/$s.private" --domain example.com --selector "$s" --testing
  # the record as DNS would serve it to receivers (step 4 reads it)
  "$W" dns record --key "$D/$s/$s.private" --domain example.com --selector "$s" --testing \
    | sed -n 's/^;   value: //p' > "$D/dns/$s._domainkey.example.com.txt"
  echo
done
"$W" dns policy --domain example.com --practice some --testing

step "3. sign a sample message (parsed in the wasmtime sandbox, signed with native crypto)"
cat > "$D/message.eml" <<'MSG'
From: Joe SixPack <joe@example.com>
To: Suzie Q <suzie@example.net>
Subject: Is dinner ready?
Date: Fri, 11 Jul 2003 21:00:37 -0700
Message-ID: <20030712040037.46341.5F8J@example.com>

Hi.

We lost the game.  Are you hungry yet?

Joe.
MSG
"$W" sign --domain example.com \
  --key "$D/ed2026/ed2026.private" --selector ed2026 \
  --key "$D/rsa2026/rsa2026.private" --selector rsa2026 \
  "$D/message.eml" > "$D/signed.eml"
cat "$D/signed.eml"

step "4. verify the signed message against the published records"
"$W" verify "$D/signed.eml" --key-dir "$D/dns" --authserv-id mx.example.net

step "done: keys, records and messages are in $D/"
