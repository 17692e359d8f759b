#!/usr/bin/env bash
# waxseal milter in a real Postfix, end to end, nothing mocked: a private
# Postfix with Cyrus SASL on loopback (tests/milter/postfix.sh), dnsmasq
# serving the key records, `waxseal milter` between them, smtp-sink as the
# next hop. Checked on the delivered messages:
#   - an authenticated sender of a signed domain (8-bit Subject, a header
#     block over 64 KiB): RSA and Ed25519 signatures that dkimpy,
#     Mail::DKIM, mailauth and OpenDKIM verify;
#   - an unauthenticated client: not signed (verified: dkim=none);
#   - authenticated, From domain without a key: not signed, reason logged;
#   - sendmail(1): signed (the config trusts 127.0.0.1, where Postfix's
#     sendmail mail comes from);
#   - inbound mail with a forged Authentication-Results: replaced by ours;
#     with 101 of them: refused with 550 at end of data;
#   - SIGHUP to a new selector while mail flows, and a bad config refused;
#   - the milter killed (kill -9) under load and restarted: every message
#     delivered exactly once and signed (Postfix tempfails, clients retry),
#     none lost;
#   - 100 messages held in their body stage at once, straight to the
#     milter (tests/milter/milter_hold.py): at most 400 KB each
#     (proportional set size; 0.2 MB measured, 0.77 MB when instances were
#     fed 256 KiB a call), and after they are all dropped the next message
#     is signed;
#   - the same milter in a real Sendmail (tests/milter/sendmail.sh): an
#     authenticated sender's mail signed (8-bit Subject, a header block over
#     64 KiB) and verified by the four verifiers, an unauthenticated
#     client's not, a forged Authentication-Results replaced, Sendmail's
#     own sendmail(1) (its MSP relaying from 127.0.0.1) signed, and mail
#     from a port whose {daemon_name} the config trusts signed.
# Stops everything it started. Needs root (apt-get, Postfix). Run by
# scripts/test-all.sh; WAXSEAL_BIN picks the binary (default: builds
# target/debug/waxseal).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PF="$ROOT/tests/milter/postfix.sh"
SM="$ROOT/tests/milter/sendmail.sh"
PEERS="$ROOT/tests/interop/peers.py"
log() { printf 'e2e: %s\n' "$*" >&2; }
fail() { log "FAILED: $*"; [ -f "${T:-/nonexistent}/milter.log" ] && tail -n 30 "$T/milter.log" >&2; exit 1; }

export SMTP_PORT=${SMTP_PORT:-11025} SUBMISSION_PORT=${SUBMISSION_PORT:-11587} SINK_PORT=${SINK_PORT:-11026}
MILTER_PORT=${MILTER_PORT:-11030}
SM_SMTP_PORT=${SM_SMTP_PORT:-11125} SM_SUBMISSION_PORT=${SM_SUBMISSION_PORT:-11687} SM_SINK_PORT=${SM_SINK_PORT:-11126}
DNS_PORT=${DNS_PORT:-11053}

if [ -z "${WAXSEAL_BIN:-}" ]; then
  cargo build --locked --quiet -p waxseal
  WAXSEAL_BIN="$ROOT/target/debug/waxseal"
fi
W=$WAXSEAL_BIN
"$PF" install
"$SM" install

T=$(mktemp -d "${TMPDIR:-/tmp}/waxseal-e2e.XXXXXX")
chmod 0755 "$T"
MILTER_PID='' DNS_PID=''
cleanup() {
  "$PF" stop "$T/pf" >/dev/null 2>&1 || true
  "$SM" stop "$T/sm" >/dev/null 2>&1 || true
  [ -n "$MILTER_PID" ] && kill "$MILTER_PID" 2>/dev/null && wait "$MILTER_PID" 2>/dev/null
  [ -n "$DNS_PID" ] && kill "$DNS_PID" 2>/dev/null && wait "$DNS_PID" 2>/dev/null
  if [ "${KEEP:-}" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

# ------------------------------------------------------------------ keys, DNS
mkdir -p "$T/keys" "$T/dns"
for k in "rsa2026 rsa" "ed2026 ed25519" "ed2027 ed25519"; do
  # shellcheck disable=SC2086 # two words: selector, algorithm
  set -- $k
  "$W" keygen -d example.com -s "$1" -a "$2" --testing -o "$T/keys" >/dev/null
  "$W" dns record -k "$T/keys/$1/$1.private" -d example.com -s "$1" --testing \
    | sed -n 's/^;   value: //p' >"$T/dns/$1._domainkey.example.com.txt"
done
dns_args=()
for f in "$T"/dns/*.txt; do
  name=$(basename "$f" .txt)
  # strings of at most 255 bytes, comma-separated for dnsmasq
  value=$(tr -d '\n' <"$f" | fold -w 255 | paste -sd, -)
  dns_args+=("--txt-record=$name,$value")
done
dnsmasq --keep-in-foreground --no-daemon --listen-address=127.0.0.1 --bind-interfaces \
  --no-resolv --no-hosts --conf-file=/dev/null --local=/example.com/ --pid-file= \
  --user=root --cache-size=0 --port="$DNS_PORT" "${dns_args[@]}" >/dev/null 2>&1 &
DNS_PID=$!

# ------------------------------------------------------------------ config
write_config() {  # write_config KEYS... (DAEMON_NAMES: a TOML list's items)
  local keys
  keys=$(printf '"%s", ' "$@")
  cat >"$T/waxseal.toml" <<EOF
listen = "inet:127.0.0.1:$MILTER_PORT"
authserv_id = "mx.waxseal.test"

[trust]
# sendmail(1) mail comes from 127.0.0.1; the test's SMTP clients connect
# from 127.0.0.2, which is not trusted
networks = ["127.0.0.1/32"]
daemon_names = [${DAEMON_NAMES:-}]

[verify]
resolver = "127.0.0.1:$DNS_PORT"
dns_timeout = 3

[keys.rsa2026]
domain = "example.com"
selector = "rsa2026"
file = "keys/rsa2026/rsa2026.private"

[keys.ed2026]
domain = "example.com"
selector = "ed2026"
file = "keys/ed2026/ed2026.private"

[keys.ed2027]
domain = "example.com"
selector = "ed2027"
file = "keys/ed2027/ed2027.private"

[[signing]]
from = ["example.com", "*.example.com"]
keys = [${keys%, }]
EOF
}
write_config rsa2026 ed2026

log "milter --check --dns"
"$W" milter --config "$T/waxseal.toml" --check --dns >"$T/check.out" || { cat "$T/check.out"; fail "--check --dns"; }
grep -q "ok: rsa2026._domainkey.example.com publishes key rsa2026" "$T/check.out" || fail "--check: $(cat "$T/check.out")"
grep -q "test mode (t=y)" "$T/check.out" || fail "--check does not report test mode"

start_milter() {
  "$W" milter --config "$T/waxseal.toml" >>"$T/milter.log" 2>&1 &
  MILTER_PID=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$MILTER_PORT") 2>/dev/null && return 0
    sleep 0.1
  done
  fail "the milter did not start"
}
start_milter
"$PF" start "$T/pf" --milter "inet:127.0.0.1:$MILTER_PORT" >/dev/null

# ------------------------------------------------------------------ messages
n_sent=0
message() {  # message FILE FROM SUBJECT [EXTRA-HEADER-FILE]
  local f=$1 from=$2 subject=$3
  n_sent=$((n_sent + 1))
  {
    printf 'From: %s\r\nTo: Bob <bob@other.org>\r\nSubject: %s\r\n' "$from" "$subject"
    printf 'Date: Thu, 03 Dec 2026 08:00:00 +0000\r\nMessage-ID: <m%s.%s@example.com>\r\n' "$n_sent" "$$"
    [ -n "${4:-}" ] && cat "$4"
    printf '\r\nHello Bob,\r\n\r\nthe numbers are in.  \r\n\r\n-- \r\nAlice\r\n'
  } >"$f"
}
export CLIENT_ADDR=127.0.0.2

# the delivered copy of the message whose Subject contains $1, in the sink
# of the MTA in $2 (default: Postfix's) (files, not pipes into grep -q:
# with pipefail an early grep exit fails the pipe)
delivered() {
  local f
  for f in "${2:-$T/pf}"/sink/*; do
    [ -f "$f" ] || continue
    "$PF" extract "$f" >"$T/found.eml"
    if grep -aq "^Subject: .*$1" "$T/found.eml"; then
      cat "$T/found.eml"
      return 0
    fi
  done
  return 1
}
count_sink() { find "$T/pf/sink" -type f | wc -l; }
wait_sink() { "$PF" wait "$T/pf" "$1" 60 >/dev/null || fail "only $(count_sink) of $1 messages delivered"; }

log "1. authenticated sender, 8-bit Subject"
message "$T/m1.eml" "Alice <alice@example.com>" "$(printf 'Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln')"
"$PF" submit "$T/pf" "$T/m1.eml" >/dev/null || fail "submission 1"
log "2. a header block over 64 KiB"
python3 - "$T/long.hdr" <<'PY'
import sys
# five fields of about 15 KB each (Postfix truncates one field at about
# 60 KB; OpenDKIM refuses a single field much over 16 KB)
field = lambda n: b"X-Long-%d: " % n + b"\r\n\t".join([b"word " * 14] * 200) + b"\r\n"
open(sys.argv[1], "wb").write(b"".join(field(n) for n in range(1, 6)))
PY
message "$T/m2.eml" "alice@example.com" "long header block" "$T/long.hdr"
"$PF" submit "$T/pf" "$T/m2.eml" >/dev/null || fail "submission 2"
log "3. unauthenticated client"
message "$T/m3.eml" "alice@example.com" "not authenticated"
"$PF" inbound "$T/pf" "$T/m3.eml" --from alice@example.com --to bob@other.org >/dev/null || fail "inbound 3"
log "4. authenticated, From domain without a key"
message "$T/m4.eml" "bob@other.org" "no key for other.org"
"$PF" submit "$T/pf" "$T/m4.eml" --user bob@other.org --from bob@other.org >/dev/null || fail "submission 4"
log "5. sendmail(1)"
message "$T/m5.eml" "alice@example.com" "via sendmail"
"$PF" sendmail "$T/pf" -i -f alice@example.com bob@other.org <"$T/m5.eml" || fail "sendmail 5"
wait_sink 5

mkdir -p "$T/out"
delivered "Gr" >"$T/out/1.eml" || fail "message 1 not delivered"
delivered "long header block" >"$T/out/2.eml" || fail "message 2 not delivered"
delivered "not authenticated" >"$T/out/3.eml" || fail "message 3 not delivered"
delivered "no key for other.org" >"$T/out/4.eml" || fail "message 4 not delivered"
delivered "via sendmail" >"$T/out/5.eml" || fail "message 5 not delivered"
sigs() { grep -ac '^DKIM-Signature:' "$1" || true; }
[ "$(sigs "$T/out/1.eml")" = 2 ] || fail "message 1 has $(sigs "$T/out/1.eml") signatures"
[ "$(sigs "$T/out/2.eml")" = 2 ] || fail "message 2 has $(sigs "$T/out/2.eml") signatures"
[ "$(sigs "$T/out/3.eml")" = 0 ] || fail "message 3 (unauthenticated) was signed"
grep -aq '^Authentication-Results: mx.waxseal.test; dkim=none' "$T/out/3.eml" || fail "message 3 has no dkim=none result"
[ "$(sigs "$T/out/4.eml")" = 0 ] || fail "message 4 (other.org) was signed"
grep -q "not signed: no key for From domain other.org" "$T/milter.log" || fail "no reason logged for message 4"
[ "$(sigs "$T/out/5.eml")" = 2 ] || fail "message 5 (sendmail) has $(sigs "$T/out/5.eml") signatures"
[ "$(wc -c <"$T/out/2.eml")" -gt 65536 ] || fail "message 2 is not over 64 KiB"

# peers_verify FILE...: dkimpy, Mail::DKIM, mailauth and OpenDKIM each find
# two passing signatures in every file (OpenDKIM's own limit aside: it
# refuses a header block over 64 KiB, files named long*.eml)
peers_verify() {
  python3 "$PEERS" verify --keys "$T/dns" "$@" >"$T/peers.json"
  python3 - "$T/peers.json" <<'PY' || fail "a peer did not verify"
import json, os, sys
bad = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    for peer, v in r["peers"].items():
        # "mlfi_header() returned SMFIS_TEMPFAIL"; the other three check it
        if os.path.basename(r["file"]).startswith("long") and peer == "opendkim" \
                and "SMFIS_TEMPFAIL" in (v["error"] or ""):
            continue
        if v["error"] or len(v["sigs"]) != 2 or any(s["result"] != "pass" for s in v["sigs"]):
            bad.append((r["file"], peer, v))
for b in bad:
    print("e2e:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
}

log "the four independent verifiers on messages 1, 2, 5 (OpenDKIM cannot read 2)"
cp "$T/out/2.eml" "$T/out/long2.eml"
peers_verify "$T/out/1.eml" "$T/out/long2.eml" "$T/out/5.eml"
for i in 1 2 5; do
  "$W" verify "$T/out/$i.eml" --key-dir "$T/dns" >/dev/null || fail "waxseal verify $i"
done

log "6. inbound with a forged Authentication-Results"
{ printf 'Authentication-Results: mx.waxseal.test; dkim=pass header.d=example.com\r\n'; sed 's/\r$//; s/$/\r/' "$T/out/1.eml" | sed '1,/^Received:/{/^Received:/d}' ; } >"$T/m6.eml"
# the copy keeps its signatures; re-delivered from outside
"$PF" inbound "$T/pf" "$T/m6.eml" --from alice@example.com --to bob@other.org >/dev/null || fail "inbound 6"
wait_sink 6
got=''
for f in "$T"/pf/sink/*; do
  "$PF" extract "$f" >"$T/check.eml"
  if grep -aq '^Authentication-Results: mx.waxseal.test;' "$T/check.eml" \
     && grep -aq '^Subject: Gr' "$T/check.eml"; then got=$f; fi
done
[ -n "$got" ] || fail "message 6 not delivered"
"$PF" extract "$got" >"$T/out/6.eml"
[ "$(grep -ac '^Authentication-Results: mx.waxseal.test' "$T/out/6.eml")" = 1 ] || fail "message 6: forged field not replaced"
python3 - "$T/out/6.eml" <<'PY' || fail "message 6: our result is not two passes"
import re, sys
text = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
m = re.search(r"^Authentication-Results: mx\.waxseal\.test;(.*?)\r\n(?![ \t])", text, re.S | re.M)
v = m.group(1) if m else ""
sys.exit(0 if v.count("dkim=pass") == 2 else 1)
PY

log "6b. inbound with 101 forged Authentication-Results: refused with 550 (Postfix would pay O(n^2) to remove them)"
{ for i in $(seq 101); do printf 'Authentication-Results: mx.waxseal.test; dkim=pass header.d=example.com %s\r\n' "$i"; done
  printf 'From: mallory@other.org\r\nTo: bob@example.com\r\nSubject: forged results\r\n\r\nhi\r\n'; } >"$T/m6b.eml"
if out=$("$PF" inbound "$T/pf" "$T/m6b.eml" --from mallory@other.org --to bob@example.com 2>&1); then
  fail "message 6b (101 forged results) was accepted"
fi
grep -q '550 5.7.1 too many Authentication-Results fields claiming this host' <<<"$out" ||
  { printf '%s\n' "$out" | tail -n 5 >&2; fail "message 6b: no 550 5.7.1 reply"; }
grep -q 'more than 100 Authentication-Results fields claim mx.waxseal.test; rejected' "$T/milter.log" ||
  fail "message 6b: the refusal is not logged"

log "7. SIGHUP to a new selector while mail flows; a bad config is refused"
write_config ed2027
pids=()
for i in $(seq 1 12); do
  message "$T/h$i.eml" "alice@example.com" "reload $i"
  "$PF" submit "$T/pf" "$T/h$i.eml" >/dev/null &
  pids+=($!)
  if [ "$i" = 6 ]; then sleep 0.2; kill -HUP "$MILTER_PID"; fi
done
# (not a bare `wait`: the milter and dnsmasq are jobs of this shell too)
for p in "${pids[@]}"; do wait "$p" || fail "a submission during the reload failed"; done
wait_sink 18
grep -q "reloaded: 3 keys, 1 signing rules" "$T/milter.log" || fail "no reload logged"
message "$T/h13.eml" "alice@example.com" "after reload"
"$PF" submit "$T/pf" "$T/h13.eml" >/dev/null || fail "submission 13"
wait_sink 19
delivered "after reload" >"$T/out/13.eml" || fail "message 13 not delivered"
grep -aq 's=ed2027;' "$T/out/13.eml" || fail "the new selector is not used after SIGHUP"
printf 'listen = "inet:127.0.0.1:%s"\n[[signing]]\nfrom = "example.com"\nkeys = ["missing"]\n' "$MILTER_PORT" >"$T/waxseal.toml"
kill -HUP "$MILTER_PID"
for _ in $(seq 50); do grep -q "reload refused" "$T/milter.log" && break; sleep 0.1; done
grep -q "reload refused" "$T/milter.log" || fail "a bad config was not refused"
message "$T/h14.eml" "alice@example.com" "after bad reload"
"$PF" submit "$T/pf" "$T/h14.eml" >/dev/null || fail "submission 14"
wait_sink 20
delivered "after bad reload" >"$T/out/14.eml" || fail "message 14 not delivered"
grep -aq 's=ed2027;' "$T/out/14.eml" || fail "the old config stopped serving after a bad reload"
for f in "$T"/pf/sink/*; do
  "$PF" extract "$f" >"$T/check.eml"
  grep -aq '^Subject: reload' "$T/check.eml" || continue
  "$W" verify "$T/check.eml" --key-dir "$T/dns" >/dev/null || fail "a message sent during the reload does not verify"
done

log "8. the milter killed (kill -9) under load and restarted"
# the file as the running milter has it (the bad one was refused), for the
# restart
write_config ed2027
send_retrying() {  # a client that retries a temporary failure, as MTAs do
  local f=$1
  for _ in $(seq 60); do
    "$PF" submit "$T/pf" "$f" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}
pids=()
for i in $(seq 1 30); do
  message "$T/k$i.eml" "alice@example.com" "load $i"
  send_retrying "$T/k$i.eml" &
  pids+=($!)
done
for i in $(seq 31 40); do
  message "$T/k$i.eml" "alice@example.com" "load $i"
  "$PF" sendmail "$T/pf" -i -f alice@example.com bob@other.org <"$T/k$i.eml" &
  pids+=($!)
done
sleep 0.3
kill -9 "$MILTER_PID"; wait "$MILTER_PID" 2>/dev/null || true
sleep 1
start_milter
for p in "${pids[@]}"; do wait "$p" || fail "a client gave up"; done
wait_sink 60
for i in $(seq 1 40); do
  copies=0
  for f in "$T"/pf/sink/*; do
    "$PF" extract "$f" >"$T/check.eml"
    tr -d '\r' <"$T/check.eml" | grep -axF "Subject: load $i" >/dev/null || continue
    copies=$((copies + 1))
    if [ "$(sigs "$T/check.eml")" != 1 ] || ! grep -aq 's=ed2027;' "$T/check.eml"; then
      fail "load $i delivered unsigned"
    fi
    "$W" verify "$T/check.eml" --key-dir "$T/dns" >/dev/null || fail "load $i does not verify"
  done
  [ "$copies" = 1 ] || fail "load $i delivered $copies times"
done
[ "$(count_sink)" = 60 ] || fail "$(count_sink) messages in the sink, expected 60"

log "8b. 100 messages held in their body stage at once (1 MB in, so each holds a sandbox instance): at most 400 KB each; all dropped, the next one signed"
python3 "$ROOT/tests/milter/milter_hold.py" --port "$MILTER_PORT" --pid "$MILTER_PID" \
  --sessions 100 --body 1000000 --signatures 1 --max-kb 400 >&2 || fail "milter_hold.py: memory per message held, or the next message"

reload() {  # SIGHUP, and wait until the milter has logged one more reload
  local before
  before=$(grep -c "reloaded:" "$T/milter.log" || true)
  kill -HUP "$MILTER_PID"
  for _ in $(seq 50); do
    [ "$(grep -c "reloaded:" "$T/milter.log" || true)" -gt "$before" ] && return 0
    sleep 0.1
  done
  fail "no reload logged"
}

log "9. the same milter in Sendmail"
# both keys again, as for messages 1-6
write_config rsa2026 ed2026
reload
"$SM" start "$T/sm" --smtp-port "$SM_SMTP_PORT" --submission-port "$SM_SUBMISSION_PORT" \
  --sink-port "$SM_SINK_PORT" --milter "inet:127.0.0.1:$MILTER_PORT" >/dev/null
# postfix.sh's submit, inbound and wait work on a Sendmail instance too
qid=$("$PF" submit "$T/sm" "$T/m1.eml") || fail "Sendmail submission 1"
"$PF" submit "$T/sm" "$T/m2.eml" >/dev/null || fail "Sendmail submission 2"
"$PF" inbound "$T/sm" "$T/m3.eml" --from alice@example.com --to bob@other.org >/dev/null || fail "Sendmail inbound 3"
"$PF" inbound "$T/sm" "$T/m6.eml" --from alice@example.com --to bob@other.org >/dev/null || fail "Sendmail inbound 6"
"$PF" wait "$T/sm" 4 60 >/dev/null || fail "Sendmail delivered only $(find "$T/sm/sink" -type f | wc -l) of 4"
delivered "long header block" "$T/sm" >"$T/out/long-sm2.eml" || fail "Sendmail message 2 not delivered"
delivered "not authenticated" "$T/sm" >"$T/out/sm3.eml" || fail "Sendmail message 3 not delivered"
[ "$(sigs "$T/out/long-sm2.eml")" = 2 ] || fail "Sendmail message 2 has $(sigs "$T/out/long-sm2.eml") signatures"
[ "$(wc -c <"$T/out/long-sm2.eml")" -gt 65536 ] || fail "Sendmail message 2 is not over 64 KiB"
[ "$(sigs "$T/out/sm3.eml")" = 0 ] || fail "Sendmail message 3 (unauthenticated) was signed"
grep -aq '^Authentication-Results: mx.waxseal.test; dkim=none' "$T/out/sm3.eml" || fail "Sendmail message 3 has no dkim=none result"
grep -q "$qid: signed example.com s=rsa2026+ed2026 (authenticated as alice@example.com)" "$T/milter.log" ||
  fail "no signing logged for Sendmail's queue id '$qid'"
# messages 1 and 6 have the same Subject: 6 is the one with our result
got=''
for f in "$T"/sm/sink/*; do
  "$PF" extract "$f" >"$T/check.eml"
  grep -aq '^Subject: Gr' "$T/check.eml" || continue
  if grep -aq '^Authentication-Results: mx.waxseal.test;' "$T/check.eml"; then
    cp "$T/check.eml" "$T/out/sm6.eml"; got=1
  else
    cp "$T/check.eml" "$T/out/sm1.eml"
  fi
done
[ -n "$got" ] || fail "Sendmail message 6 not delivered"
[ "$(sigs "$T/out/sm1.eml")" = 2 ] || fail "Sendmail message 1 has $(sigs "$T/out/sm1.eml") signatures"
[ "$(grep -ac '^Authentication-Results: mx.waxseal.test' "$T/out/sm6.eml")" = 1 ] || fail "Sendmail message 6: forged field not replaced"
[ "$(grep -a -A3 '^Authentication-Results: mx.waxseal.test' "$T/out/sm6.eml" | grep -o 'dkim=pass' | wc -l)" = 2 ] ||
  fail "Sendmail message 6: our result is not two passes"
peers_verify "$T/out/sm1.eml" "$T/out/long-sm2.eml"
# Sendmail's own sendmail(1): its MSP relays from 127.0.0.1 (trusted by
# the config's networks) to the MTA port, with no AUTH
message "$T/m8.eml" "alice@example.com" "through Sendmail's sendmail"
"$SM" sendmail "$T/sm" -i -f alice@example.com bob@other.org <"$T/m8.eml" || fail "Sendmail's sendmail 8"
"$PF" wait "$T/sm" 5 60 >/dev/null || fail "Sendmail message 8 not delivered"
delivered "through Sendmail's sendmail" "$T/sm" >"$T/out/sm8.eml" || fail "Sendmail message 8 not found"
[ "$(sigs "$T/out/sm8.eml")" = 2 ] || fail "Sendmail message 8 (sendmail(1)) has $(sigs "$T/out/sm8.eml") signatures"
# the MTA's queue id, from the Received field it added (on top)
qid8=$(grep -a -m1 -o 'with E\{0,1\}SMTP id [A-Za-z0-9]*' "$T/out/sm8.eml" | awk '{print $NF}')
[ -n "$qid8" ] || fail "Sendmail message 8 has no Received field with a queue id"
grep -q "$qid8: signed example.com s=rsa2026+ed2026 (client 127.0.0.1 in 127.0.0.1/32)" "$T/milter.log" ||
  fail "no signing for Sendmail's sendmail(1) logged with its queue id '$qid8'"

log "10. Sendmail's {daemon_name}: its MTA port named as trusted"
DAEMON_NAMES='"MTA"' write_config rsa2026 ed2026
reload
message "$T/m7.eml" "alice@example.com" "through a trusted daemon"
"$PF" inbound "$T/sm" "$T/m7.eml" --from alice@example.com --to bob@other.org >/dev/null || fail "Sendmail inbound 7"
"$PF" wait "$T/sm" 6 60 >/dev/null || fail "Sendmail message 7 not delivered"
delivered "through a trusted daemon" "$T/sm" >"$T/out/sm7.eml" || fail "Sendmail message 7 not found"
[ "$(sigs "$T/out/sm7.eml")" = 2 ] || fail "Sendmail message 7 (daemon MTA) has $(sigs "$T/out/sm7.eml") signatures"
grep -q "signed example.com s=rsa2026+ed2026 (daemon MTA)" "$T/milter.log" || fail "no signing for the daemon name logged"
for f in sm1 long-sm2 sm8; do
  "$W" verify "$T/out/$f.eml" --key-dir "$T/dns" >/dev/null || fail "waxseal verify $f"
done

log "ok: 60 messages through Postfix and 6 through Sendmail with the milter; all checks passed"
