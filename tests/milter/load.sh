#!/usr/bin/env bash
# The milter under load, on loopback only: two private Postfix instances
# (tests/milter/postfix.sh), one with `waxseal milter` (release build,
# signing RSA-2048 + Ed25519) and one without, fed in alternating rounds
# by 200 concurrent SMTP sessions with SASL AUTH (tests/milter/smtp_load.py)
# with messages of mixed sizes (2 KB to 1 MB) and one of 50 MB.
# Prints, from this one run (the 50 MB message goes alone, after the rounds):
#   - messages/s through Postfix with and without the milter, from a
#     batch's first session to its last delivery (what a server sustains),
#     and the ratio (target >= 0.8x); next to it the rate at which Postfix
#     accepted the batch, which runs ahead of delivery while its queue
#     grows; and for each round both rates, the CPU time per message of
#     the machine and of the milter, and the SMTP retries;
#   - the time from the end of DATA to Postfix's 250, p50 and p99, with and
#     without, and what the milter adds (target: p99 added <= 1 ms beyond
#     the signatures themselves: an RSA-2048 and an Ed25519 signature, about
#     0.4 ms on this kind of machine, see the host benchmark);
#   - the milter's peak resident memory after the small-message rounds and
#     after the 50 MB message (target: flat in message size), and its
#     memory with SESSIONS messages held in their body stage at once
#     (tests/milter/milter_hold.py: what concurrency costs);
#   - its CPU time per message;
#   - and checks that every message sent through the milter was delivered
#     exactly once and that its signatures verify (the npm package).
# Run by scripts/bench.sh. Environment: ROUNDS (default 4), MESSAGES per
# round and side (default 1250), WARMUP (default 400: messages a side sent
# before the rounds and not counted), SESSIONS (default 200), SIZE (every
# message of the rounds this many bytes instead of the mix), MILTER_SOCKET
# (inet, the default, or unix: how Postfix reaches the milter),
# SIGN_DOMAIN (default example.com; another domain makes a milter that
# signs nothing, which shows what any milter costs Postfix), LAT_ROUNDS
# (default 10: batches of 100 messages a side for the one-session
# latency), PROFILE (1: `perf record -a` over the rounds, and each
# process's CPU time per message while the batches were sent, both sides:
# where the time the milter adds goes, its own and Postfix's), KEEP (1:
# leave the work folder, with each batch's figures, for a look), POSTCONF
# (Postfix settings for both instances, e.g. 'in_flow_delay=0'). Needs root.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PF="$ROOT/tests/milter/postfix.sh"
log() { printf 'load: %s\n' "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }
ROUNDS=${ROUNDS:-4}
LAT_ROUNDS=${LAT_ROUNDS:-10}
PROFILE=${PROFILE:-}
PERF_HZ=199
MESSAGES=${MESSAGES:-1250}
WARMUP=${WARMUP:-400}
SESSIONS=${SESSIONS:-200}
SIZE=${SIZE:-}
POSTCONF=${POSTCONF:-}
MILTER_PORT=12030
# MILTER_SOCKET=inet (default) or unix: how Postfix reaches the milter
MILTER_SOCKET=${MILTER_SOCKET:-inet}

[ -f wasm/component/waxseal-host-crypto.wasm ] && export WAXSEAL_COMPONENT="$PWD/wasm/component/waxseal-host-crypto.wasm"
cargo build --release --locked --quiet -p waxseal
W="$ROOT/target/release/waxseal"
[ -f wasm/pkg/node.js ] || fail "the npm package is not built (wasm/build.sh npm)"
[ -z "$PROFILE" ] || command -v perf >/dev/null || fail "PROFILE=1 needs perf (apt-get install linux-perf)"
"$PF" install

T=$(mktemp -d "${TMPDIR:-/tmp}/waxseal-load.XXXXXX")
chmod 0755 "$T"
MILTER_PID='' PERF_PID=''
cleanup() {
  [ -n "$PERF_PID" ] && kill -INT "$PERF_PID" 2>/dev/null && wait "$PERF_PID" 2>/dev/null
  "$PF" stop "$T/plain" >/dev/null 2>&1 || true
  "$PF" stop "$T/milter" >/dev/null 2>&1 || true
  [ -n "$MILTER_PID" ] && kill "$MILTER_PID" 2>/dev/null && wait "$MILTER_PID" 2>/dev/null
  if [ "${KEEP:-0}" = 1 ]; then log "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

mkdir -p "$T/keys" "$T/dns"
case "$MILTER_SOCKET" in
  inet) LISTEN="inet:127.0.0.1:$MILTER_PORT" ;;
  unix) LISTEN="unix:$T/milter.sock" ;;
  *) fail "MILTER_SOCKET must be inet or unix" ;;
esac
for k in "rsa2026 rsa" "ed2026 ed25519"; do
  # shellcheck disable=SC2086 # two words: selector, algorithm
  set -- $k
  "$W" keygen -d example.com -s "$1" -a "$2" -o "$T/keys" >/dev/null 2>&1
  "$W" dns record -k "$T/keys/$1/$1.private" -d example.com -s "$1" \
    | sed -n 's/^;   value: //p' >"$T/dns/$1._domainkey.example.com.txt"
done
cat >"$T/waxseal.toml" <<EOF
listen = "$LISTEN"
socket_mode = "0666"
authserv_id = "mx.waxseal.test"
[trust]
networks = []
[verify]
enabled = false
[keys.rsa2026]
domain = "example.com"
selector = "rsa2026"
file = "keys/rsa2026/rsa2026.private"
[keys.ed2026]
domain = "example.com"
selector = "ed2026"
file = "keys/ed2026/ed2026.private"
[[signing]]
from = "${SIGN_DOMAIN:-example.com}"
keys = ["rsa2026", "ed2026"]
EOF
WAXSEAL_LOG=warn "$W" milter --config "$T/waxseal.toml" >"$T/milter.log" 2>&1 &
MILTER_PID=$!
for _ in $(seq 100); do
  if [ "$MILTER_SOCKET" = unix ]; then [ -S "$T/milter.sock" ] && break
  else (exec 3<>"/dev/tcp/127.0.0.1/$MILTER_PORT") 2>/dev/null && break; fi
  sleep 0.1
done

tune() {  # room for 200 sessions and a 50 MB message
  postconf -c "$1/etc" -e message_size_limit=0 default_process_limit=400 \
    smtpd_client_connection_count_limit=0 smtpd_client_connection_rate_limit=0 \
    smtp_destination_concurrency_limit=50 default_destination_concurrency_limit=50
  # shellcheck disable=SC2086 # settings, one word each
  [ -z "$POSTCONF" ] || postconf -c "$1/etc" -e $POSTCONF
  postfix -c "$1/etc" reload >/dev/null 2>&1
}
SMTP_PORT=12025 SUBMISSION_PORT=12587 SINK_PORT=12026 "$PF" start "$T/plain" >/dev/null
SMTP_PORT=13025 SUBMISSION_PORT=13587 SINK_PORT=13026 "$PF" start "$T/milter" \
  --milter "$LISTEN" >/dev/null
tune "$T/plain"
tune "$T/milter"
sleep 1

vmhwm() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$MILTER_PID/status"; }
# the milter's CPU time so far, in clock ticks (user + system)
cputicks() { awk '{ print $14 + $15 }' "/proc/$MILTER_PID/stat"; }
# the whole machine's busy time so far, in clock ticks (all but idle, iowait)
systicks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
delivered=(0 0)  # messages in the sinks so far: plain, milter
run() {  # run SIDE PORT ROUND [smtp_load.py options]: a batch, then its deliveries
  local side=$1 i seed=${3//[!0-9]/}
  batch_start=$(systicks)
  local milter_start
  milter_start=$(cputicks)
  local t0
  t0=$(date +%s.%N)
  python3 "$ROOT/tests/milter/smtp_load.py" --port "$2" --user alice@example.com \
    --password wax-test-1 --sessions "$SESSIONS" --messages "$MESSAGES" \
    --tag "${side}r$3" --seed "${seed:-9}" "${@:4}" >"$T/$side-$3.json"
  # wait until this side has delivered the batch, so that its queue does
  # not compete with the other side's next batch
  i=$([ "$side" = plain ] && echo 0 || echo 1)
  echo "$(( $(systicks) - ${batch_start:-0} )) $(( $(cputicks) - milter_start ))" >"$T/$side-$3.cpu"
  # the sending window, in perf's clock (CLOCK_REALTIME), for PROFILE
  echo "$side $3 $t0,$(date +%s.%N)" >>"$T/windows"
  delivered[i]=$(( delivered[i] + $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["accepted"])' "$T/$side-$3.json") ))
  python3 "$ROOT/tests/milter/sink_wait.py" "$T/$side" "${delivered[i]}" 600 >"$T/$side-$3.done" ||
    fail "$side: batch $3 not delivered"
  # the CPU time of the machine and of the milter from the batch's start to
  # its last delivery
  echo "$(( $(systicks) - batch_start )) $(( $(cputicks) - milter_start ))" >"$T/$side-$3.e2e"
}
# a batch a side first, not counted, so that what a fresh Postfix and a
# fresh milter do once (start their processes and instances) falls outside
# the rounds (the first round is still often the slowest, for reasons not
# known: see the README)
MESSAGES="$WARMUP" run plain 12587 warm
MESSAGES="$WARMUP" run milter 13587 warm
log "warm-up done"
if [ -n "$PROFILE" ]; then
  perf record -a -e cpu-clock -k CLOCK_REALTIME -F "$PERF_HZ" -o "$T/perf.data" >"$T/perf.log" 2>&1 &
  PERF_PID=$!
  sleep 1
fi
cpu_start=$(cputicks)
for r in $(seq 1 "$ROUNDS"); do
  # alternate which side goes first, so neither always meets a warmer machine
  if [ $((r % 2)) = 1 ]; then
    run plain 12587 "$r" ${SIZE:+--size "$SIZE"}; run milter 13587 "$r" ${SIZE:+--size "$SIZE"}
  else
    run milter 13587 "$r" ${SIZE:+--size "$SIZE"}; run plain 12587 "$r" ${SIZE:+--size "$SIZE"}
  fi
  log "round $r of $ROUNDS done"
done
cpu_rounds=$(( $(cputicks) - cpu_start ))
if [ -n "$PROFILE" ]; then
  kill -INT "$PERF_PID"; wait "$PERF_PID" || true; PERF_PID=''
  # samples per process name over each side's sending windows of the rounds
  for side in plain milter; do
    ranges=$(awk -v s="$side" '$1 == s && $2 ~ /^[0-9]+$/ { printf "%s ", $3 }' "$T/windows")
    perf report -i "$T/perf.data" --time "${ranges% }" --sort comm -n -g none \
      --no-children --stdio 2>/dev/null | awk '/^ +[0-9.]+%/ { print $2, $3 }' >"$T/$side.comms"
  done
fi
small_peak=$(vmhwm)
# latency on a machine that is not saturated: one session, 2 KB messages,
# in LAT_ROUNDS batches of 100 a side, alternating which side goes first
# (a p99 of a few hundred messages is a handful of them, and a noisy
# second on a shared machine would land on one side only)
for r in $(seq 1 "$LAT_ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then
    SESSIONS=1 MESSAGES=100 run plain 12587 "lat$r" --size 2048
    SESSIONS=1 MESSAGES=100 run milter 13587 "lat$r" --size 2048
  else
    SESSIONS=1 MESSAGES=100 run milter 13587 "lat$r" --size 2048
    SESSIONS=1 MESSAGES=100 run plain 12587 "lat$r" --size 2048
  fi
done
# the 50 MB message alone, so that the peak after it shows what its size
# costs, not what concurrency does
SESSIONS=1 MESSAGES=0 run milter 13587 big --big-mb 50
big_peak=$(vmhwm)
# SESSIONS messages held in their body stage at once, straight to the
# milter (as Postfix's cleanup speaks to it), then dropped: what each one
# in that stage costs, and that the milter signs the next message
case "$MILTER_SOCKET" in
  inet) HOLD_AT=(--port "$MILTER_PORT") ;;
  unix) HOLD_AT=(--unix "$T/milter.sock") ;;
esac
if [ "${SIGN_DOMAIN:-example.com}" = example.com ]; then
  python3 "$ROOT/tests/milter/milter_hold.py" "${HOLD_AT[@]}" --pid "$MILTER_PID" \
    --sessions "$SESSIONS" >"$T/hold.txt" || { cat "$T/hold.txt" >&2; fail "milter_hold.py"; }
else
  echo "  (no messages held mid-body: the milter signs nothing)" >"$T/hold.txt"
fi
# every message accepted by the milter's Postfix delivered once, verified
verified=$(for r in warm $(seq 1 "$ROUNDS") $(seq -f 'lat%g' 1 "$LAT_ROUNDS") big; do
  node "$ROOT/tests/milter/verify_sink.mjs" "$T/dns" "milterr$r" "$T/milter/sink"
done)

python3 - "$T" "$ROUNDS" "$small_peak" "$big_peak" "$verified" "$cpu_rounds" "$(getconf CLK_TCK)" "$LAT_ROUNDS" "$PERF_HZ" <<'PY'
import json, statistics, sys, os
t, rounds, small_peak, big_peak, verified = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
lat_rounds = range(1, int(sys.argv[8]) + 1)
perf_hz = int(sys.argv[9])
tck = int(sys.argv[7])
cpu_s = int(sys.argv[6]) / int(sys.argv[7])
def load(side):
    rs = [json.load(open(f"{t}/{side}-{r}.json")) for r in range(1, rounds + 1)]
    return rs
plain, milter = load("plain"), load("milter")
rate = lambda rs: [r["accepted"] / r["wall"] for r in rs]
ratios = [m / p for m, p in zip(rate(milter), rate(plain))]
lat = lambda rs: sorted(x for r in rs for x in r["latency"])
pct = lambda xs, q: xs[min(len(xs) - 1, int(q * len(xs)))]
lp, lm = lat(plain), lat(milter)
one = lambda side: sorted(x for r in lat_rounds for x in json.load(open(f"{t}/{side}-lat{r}.json"))["latency"])
op, om = one("plain"), one("milter")
bad = 0
total = 0
for line in verified.splitlines():
    v = json.loads(line)
    total += v["distinct"]
    bad += v["duplicates"] + v["failed"] + v["unsigned"]
sent = sum(r["accepted"] for r in milter) + json.load(open(f"{t}/milter-big.json"))["accepted"] \
    + json.load(open(f"{t}/milter-warm.json"))["accepted"] \
    + sum(json.load(open(f"{t}/milter-lat{r}.json"))["accepted"] for r in lat_rounds)
print(f"milter under load: {len(milter)} rounds of {milter[0]['sent']} messages each side, "
      f"{os.environ.get('SESSIONS', '200')} concurrent SMTP sessions, "
      f"{'every message ' + os.environ['SIZE'] + ' bytes' if os.environ.get('SIZE') else 'sizes 2 KB-1 MB'}, then one of 50 MB")
def cpu(side, r):  # CPU ms per message in a batch: the whole machine, the milter
    n = json.load(open(f"{t}/{side}-{r}.json"))["accepted"]
    return [int(x) / tck * 1000 / n for x in open(f"{t}/{side}-{r}.cpu").read().split()]
def e2e(side, r):  # from the batch's first session to its last delivery: messages/s, CPU ms a message (machine, milter)
    batch = json.load(open(f"{t}/{side}-{r}.json"))
    n = batch["accepted"]
    machine, mine = open(f"{t}/{side}-{r}.e2e").read().split()
    last = json.load(open(f"{t}/{side}-{r}.done"))["last"]
    return n / (last - batch["start"]), int(machine) / tck * 1000 / n, int(mine) / tck * 1000 / n
drate = lambda side: [e2e(side, r)[0] for r in range(1, rounds + 1)]
dratios = [m / p for m, p in zip(drate("milter"), drate("plain"))]
# the throughput a server sustains is what it delivers: Postfix accepts a
# batch faster than it delivers it (the queue absorbs the difference), and
# how much of that delivery work falls inside the sending window varies
print(f"  messages/s through Postfix, from a batch's first session to its last delivery: "
      f"without milter {statistics.median(drate('plain')):.1f}, with {statistics.median(drate('milter')):.1f}, "
      f"ratio {statistics.median(dratios):.2f}x (rounds {', '.join(f'{x:.2f}' for x in dratios)}; target >= 0.80x)")
print(f"  messages/s accepted while sending (delivery lagging behind): "
      f"without milter {statistics.median(rate(plain)):.1f}, with {statistics.median(rate(milter)):.1f}, "
      f"ratio {statistics.median(ratios):.2f}x (rounds {', '.join(f'{x:.2f}' for x in ratios)})")
print("  each round, without / with: messages/s accepted, delivered; CPU ms a message while sending, "
      "until delivered: the whole machine (the milter's)")
for r, (p, m) in enumerate(zip(plain, milter), 1):
    (cp, _), (cm, mm) = cpu("plain", r), cpu("milter", r)
    (dp, ep, _), (dm, em, emm) = e2e("plain", r), e2e("milter", r)
    print(f"    {r}: {p['accepted'] / p['wall']:.0f} / {m['accepted'] / m['wall']:.0f}, {dp:.0f} / {dm:.0f}; "
          f"{cp:.2f} / {cm:.2f} ({mm:.2f}), {ep:.2f} / {em:.2f} ({emm:.2f}); "
          f"retried {p['retries']} / {m['retries']}")
print(f"  end of DATA -> 250, {os.environ.get('SESSIONS', '200')} sessions (the machine saturated): without p50 {pct(lp, .5):.1f} ms "
      f"p99 {pct(lp, .99):.1f} ms, with p50 {pct(lm, .5):.1f} ms p99 {pct(lm, .99):.1f} ms")
print(f"  end of DATA -> 250, one session, 2 KB, {len(op)} messages a side: without p50 {pct(op, .5):.2f} ms p99 {pct(op, .99):.2f} ms, "
      f"with p50 {pct(om, .5):.2f} ms p99 {pct(om, .99):.2f} ms; "
      f"added p50 {pct(om, .5) - pct(op, .5):+.2f} ms p99 {pct(om, .99) - pct(op, .99):+.2f} ms")
mcpu = lambda side: statistics.median(cpu(side, r)[0] for r in range(1, rounds + 1))
ecpu = lambda side: statistics.median(e2e(side, r)[1] for r in range(1, rounds + 1))
print(f"  CPU time per message, the whole machine (client, Postfix, sink, milter): "
      f"until delivered without milter {ecpu('plain'):.2f} ms, with {ecpu('milter'):.2f} ms; "
      f"while sending {mcpu('plain'):.2f} ms and {mcpu('milter'):.2f} ms; "
      f"the milter itself {cpu_s * 1000 / sum(r['accepted'] for r in milter):.2f} ms")
if os.path.exists(f"{t}/milter.comms"):
    # CPU time per message of each process name, from perf's samples
    # (cpu-clock, a timer: perf_hz a second on each core) over the
    # sending windows
    def comms(side, rs):
        n = sum(r["accepted"] for r in rs)
        out = {}
        for line in open(f"{t}/{side}.comms"):
            samples, name = line.split(None, 1)
            name = name.strip()
            if name != "swapper":
                out[name] = out.get(name, 0) + int(samples) * 1000 / perf_hz / n
        return out
    cp, cm = comms("plain", plain), comms("milter", milter)
    names = sorted(set(cp) | set(cm), key=lambda k: -(cm.get(k, 0) - cp.get(k, 0)))
    print("  CPU ms per message by process while the batches were sent (perf), without / with / added:")
    for k in names:
        if max(cp.get(k, 0), cm.get(k, 0)) >= 0.02:
            print(f"    {k:16} {cp.get(k, 0):5.2f} / {cm.get(k, 0):5.2f} / {cm.get(k, 0) - cp.get(k, 0):+5.2f}")
    print(f"    {'all':16} {sum(cp.values()):5.2f} / {sum(cm.values()):5.2f} / {sum(cm.values()) - sum(cp.values()):+5.2f}")
print(f"  milter peak memory   after the rounds {small_peak / 1024:.1f} MB, "
      f"after the 50 MB message {big_peak / 1024:.1f} MB ({(big_peak - small_peak) / 1024:+.1f} MB)")
print(f"  delivered through the milter: {total} distinct of {sent} accepted; "
      f"{bad} duplicated, unsigned or not verifying")
print(open(f"{t}/hold.txt").read(), end="")
sys.exit(0 if bad == 0 and total == sent else 1)
PY
