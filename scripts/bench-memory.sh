#!/usr/bin/env bash
# Peak resident memory of the `waxseal` command signing and verifying a
# 2 KB and a 100 MB message, with the sandbox and natively, each in a fresh
# process (the command reports its own peak with WAXSEAL_PEAK_MEMORY=1).
# Messages stream through the command, so the two sizes should cost the
# same within a few hundred KB. Builds the release binary first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -f wasm/component/waxseal-host-crypto.wasm ] && export WAXSEAL_COMPONENT="$PWD/wasm/component/waxseal-host-crypto.wasm"
cargo build --release --locked --quiet -p waxseal
W="$PWD/target/release/waxseal"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$W" keygen -d example.com -s ed -a ed25519 -o "$T" >/dev/null
"$W" dns record -k "$T/ed/ed.private" -d example.com -s ed | sed -n 's/^;   value: //p' \
  >"$T/ed._domainkey.example.com.txt"
python3 - "$T" <<'PY'
import sys
head = b"From: Joe <joe@example.com>\r\nTo: a@example.net\r\nSubject: memory\r\nDate: Thu, 03 Dec 2026 08:00:00 +0000\r\n\r\n"
line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
for name, size in (("2kb", 2048), ("100mb", 100 << 20)):
    body = line * (max(size - len(head), 0) // len(line) + 1)
    open(f"{sys.argv[1]}/{name}.eml", "wb").write(head + body)
PY
peak() { WAXSEAL_PEAK_MEMORY=1 "$@" 2>&1 >/dev/null | sed -n 's/^waxseal: peak memory \([0-9]*\) KiB/\1/p'; }
printf '%-8s %-7s %12s %12s %12s\n' engine op "2 KB" "100 MB" difference
for engine in wasm native; do
  for size in 2kb 100mb; do
    "$W" --engine "$engine" sign -k "$T/ed/ed.private" -s ed -d example.com "$T/$size.eml" >"$T/$size-signed.eml"
  done
  for op in sign verify; do
    for size in 2kb 100mb; do
      if [ "$op" = sign ]; then
        kib=$(peak "$W" --engine "$engine" sign -k "$T/ed/ed.private" -s ed -d example.com "$T/$size.eml")
      else
        kib=$(peak "$W" --engine "$engine" verify "$T/$size-signed.eml" --key-dir "$T")
      fi
      eval "peak_$size=$kib"
    done
    # shellcheck disable=SC2154 # set by eval above
    awk -v e="$engine" -v o="$op" -v a="$peak_2kb" -v b="$peak_100mb" \
      'BEGIN { printf "%-8s %-7s %9.1f MB %9.1f MB %+9.1f MB\n", e, o, a / 1024, b / 1024, (b - a) / 1024 }'

  done
done
