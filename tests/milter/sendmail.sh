#!/usr/bin/env bash
# A real, private Sendmail (Debian 12's 8.17 package, unpacked, not installed) with Cyrus SASL
# (sasldb) on loopback and a milter, for testing the milter in the other
# MTA. Every message it accepts is relayed to smtp-sink, which stores each
# one as its own file, as postfix.sh does, so postfix.sh's `submit`,
# `inbound`, `wait` and `extract` work on a Sendmail DIR too; `sendmail`
# is Sendmail's own command-line submission: its mail submission program
# (MSP, submit.cf) relays over SMTP from 127.0.0.1 to the MTA port, as
# sendmail(1) does on a Sendmail host.
# See README.md beside this file. Needs root (Sendmail's start-up does).
#
#   sendmail.sh install
#   sendmail.sh start DIR [--smtp-port P] [--submission-port P] [--sink-port P]
#                         [--milter inet:127.0.0.1:PORT]
#   sendmail.sh sendmail DIR [sendmail(1) arguments] <MESSAGE
#   sendmail.sh stop  DIR
#
# Environment (read by `start`, kept in DIR/instance.env): SMTP_PORT
# (12025), SUBMISSION_PORT (12587), SINK_PORT (12026), MILTER (empty: no
# milter), SASL_PASSWORD (wax-test-1).
set -euo pipefail

PROG=sendmail.sh
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/milter/lib.sh
. "$HERE/lib.sh"
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2; }
need_root() { [ "$(id -u)" = 0 ] || die "$1 needs root (Sendmail's start-up does)"; }

# Debian's sendmail-bin conflicts with postfix (both are the system MTA), so
# the packages are unpacked into a cache, never installed: the system keeps
# its Postfix, and nothing of this Sendmail is on the system's paths.
CACHE=${WAXSEAL_SENDMAIL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/waxseal-sendmail}
UNPACKED=$CACHE/root
BIN=$UNPACKED/usr/libexec/sendmail/sendmail
CF_DIR=$UNPACKED/usr/share/sendmail/cf
MARKER=.waxseal-sendmail         # marks a DIR this script may wipe and reuse
SASL_USERS=(alice@example.com bob@other.org)
SYSTEM_SASLDB=/etc/sasldb2       # Cyrus SASL's default, made by sasl2-bin
MSP_USER=nobody:nogroup          # what the MSP runs as (never root, it says)

# ---------------------------------------------------------------- install --

cmd_install() {
  # smtp-sink, swaks, saslpasswd2 and the SASL modules come with Postfix's
  "$HERE/postfix.sh" install
  # Sendmail's libraries (libwrap0 is the one a Postfix machine lacks), and
  # m4 for its configuration
  local p status missing=()
  for p in libwrap0 liblockfile1 libnsl2 libdb5.3 libldap-2.5-0 libsasl2-2 m4; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    need_root install
    log "apt-get install ${missing[*]}"
    local apt=(apt-get -y -qq -o DPkg::Lock::Timeout=600)
    if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" install --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
      "${apt[@]}" update >/dev/null || true
      DEBIAN_FRONTEND=noninteractive "${apt[@]}" install --no-install-recommends "${missing[@]}" >/dev/null ||
        die "apt-get install ${missing[*]} failed"
    fi
  fi
  if [ -x "$BIN" ] && [ -r "$CF_DIR/m4/cf.m4" ]; then return 0; fi
  log "unpacking Debian's sendmail into $UNPACKED"
  local tmp
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/waxseal-sendmail-debs.XXXXXX")
  chmod 755 "$tmp"   # apt's download runs as _apt
  if ! (cd "$tmp" && apt-get download -qq sendmail-bin sendmail-base sendmail-cf >/dev/null 2>&1); then
    apt-get -qq update >/dev/null || true
    (cd "$tmp" && apt-get download -qq sendmail-bin sendmail-base sendmail-cf >/dev/null) ||
      { rm -rf "$tmp"; die "apt-get download sendmail-bin sendmail-base sendmail-cf failed"; }
  fi
  rm -rf "$UNPACKED.new"
  mkdir -p "$UNPACKED.new"
  local deb
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$UNPACKED.new"; done
  dpkg-deb -f "$tmp"/sendmail-bin_*.deb Version >"$UNPACKED.new/.version"
  rm -rf "$tmp"
  [ -x "$UNPACKED.new/usr/libexec/sendmail/sendmail" ] || die "no sendmail binary in the packages"
  rm -rf "$UNPACKED"
  mv "$UNPACKED.new" "$UNPACKED"
}

# ------------------------------------------------------------ process info --

# our_sendmail_pids DIR: every process of this instance (the daemon and its
# children: sessions, deliveries, queue runs), known by the binary and the
# working directory (Sendmail works in its queue directory)
our_sendmail_pids() { pids_in "$1/queue" "$BIN"; }

# daemon_pid DIR: the pid of this instance's daemon, if it runs
daemon_pid() {
  local pid
  [ -r "$1/sendmail.pid" ] || return 1
  pid=$(head -n 1 "$1/sendmail.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  our_sendmail_pids "$1" | grep -qx "$pid" || return 1
  echo "$pid"
}

# in_namespace DIR COMMAND...: runs COMMAND where Sendmail finds this
# instance's files. Sendmail reads some files before its configuration, at
# fixed paths: the machine's hostname, resolved through /etc/hosts (or
# DNS), and Cyrus SASL's /etc/sasldb2. COMMAND runs in a mount and UTS
# namespace of its own where those are this instance's files and its name
# is sm.waxseal.test: the system's files are untouched, and no lookup
# leaves loopback.
in_namespace() {
  unshare --mount --uts --propagation private /bin/sh -c '
    set -e
    d=$1 sasldb=$2; shift 2
    mount --bind "$d/etc/hosts" /etc/hosts
    mount --bind "$d/etc/resolv.conf" /etc/resolv.conf
    mount --bind "$d/etc/sasldb2" "$sasldb"
    hostname sm.waxseal.test
    exec "$@"
  ' sh "$1" "$SYSTEM_SASLDB" "${@:2}"
}

# ------------------------------------------------------------------ start --

write_mc() {  # write_mc DIR: the m4 source of DIR/etc/sendmail.cf
  local d=$1
  cat >"$d/etc/sendmail.mc" <<EOF
divert(-1)
# Private test instance written by waxseal tests/milter/sendmail.sh.
# Only loopback, only high ports; all mail goes to smtp-sink.
divert(0)dnl
VERSIONID(\`waxseal test instance')dnl
OSTYPE(\`linux')dnl
dnl Fixed names, so nothing depends on the machine's hostname or on DNS.
define(\`confDOMAIN_NAME', \`sm.waxseal.test')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confSERVICE_SWITCH_FILE', \`$d/etc/service.switch')dnl
define(\`confHOSTS_FILE', \`$d/etc/hosts')dnl
define(\`confTO_IDENT', \`0')dnl
dnl Every file of its own, under DIR.
define(\`QUEUE_DIR', \`$d/queue')dnl
define(\`confPID_FILE', \`$d/sendmail.pid')dnl
define(\`STATUS_FILE', \`$d/etc/statistics')dnl
define(\`ALIAS_FILE', \`$d/etc/aliases')dnl
define(\`HELP_FILE', \`$d/etc/helpfile')dnl
dnl A header block over 64 KiB passes (the default limit is 32 KiB).
define(\`confMAX_HEADERS_LENGTH', \`262144')dnl
dnl Every message to smtp-sink (brackets: no MX lookup).
define(\`SMART_HOST', \`[127.0.0.1]')dnl
define(\`RELAY_MAILER_ARGS', \`TCP \$h $SINK_PORT')dnl
define(\`ESMTP_MAILER_ARGS', \`TCP \$h $SINK_PORT')dnl
define(\`SMTP_MAILER_ARGS', \`TCP \$h $SINK_PORT')dnl
dnl Any loopback client may relay (only loopback can connect at all).
FEATURE(\`promiscuous_relay')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`nocanonify')dnl
dnl The MTA port, and the submission port (SASL, PLAIN and LOGIN without TLS
dnl on loopback) named MSA: {daemon_name} tells a milter which one.
FEATURE(\`no_default_msa')dnl
DAEMON_OPTIONS(\`Port=$SMTP_PORT, Addr=127.0.0.1, Name=MTA')dnl
DAEMON_OPTIONS(\`Port=$SUBMISSION_PORT, Addr=127.0.0.1, Name=MSA, M=Ea')dnl
define(\`confAUTH_MECHANISMS', \`PLAIN LOGIN')dnl
TRUST_AUTH_MECH(\`PLAIN LOGIN')dnl
EOF
  if [ -n "$MILTER" ]; then
    # F=T: tempfail while the milter is unreachable (as in the README)
    cat >>"$d/etc/sendmail.mc" <<EOF
INPUT_MAIL_FILTER(\`waxseal', \`S=inet:${MILTER##*:}@127.0.0.1, F=T, T=S:30s;R:30s;E:5m')dnl
EOF
  fi
  echo "MAILER(\`smtp')dnl" >>"$d/etc/sendmail.mc"
}

write_submit_mc() {  # write_submit_mc DIR: the m4 source of DIR/etc/submit.cf
  local d=$1
  cat >"$d/etc/submit.mc" <<EOF
divert(-1)
# The mail submission program (MSP) of the private test instance written by
# waxseal tests/milter/sendmail.sh: it relays to the instance's MTA port.
divert(0)dnl
VERSIONID(\`waxseal test instance MSP')dnl
define(\`confDOMAIN_NAME', \`sm.waxseal.test')dnl
define(\`confSERVICE_SWITCH_FILE', \`$d/etc/service.switch')dnl
define(\`confHOSTS_FILE', \`$d/etc/hosts')dnl
define(\`confTO_IDENT', \`0')dnl
dnl No smmsp user on a Postfix machine: the MSP (which may not run as root)
dnl runs as $MSP_USER, who owns its queue directory.
define(\`confRUN_AS_USER', \`$MSP_USER')dnl
define(\`MSP_QUEUE_DIR', \`$d/clientmqueue')dnl
define(\`confPID_FILE', \`$d/sm-client.pid')dnl
define(\`STATUS_FILE', \`$d/etc/sm-client.st')dnl
dnl The MTA port (defined first: the feature writes the mailer).
define(\`RELAY_MAILER_ARGS', \`TCP \$h $SMTP_PORT')dnl
FEATURE(\`msp', \`[127.0.0.1]')dnl
EOF
}

write_files() {  # write_files DIR: what sendmail.cf names, and SASL users
  local d=$1 u
  # the names Sendmail looks up at start (its own, localhost) come from here
  printf '127.0.0.1 sm.waxseal.test localhost\n::1 sm.waxseal.test localhost\n' >"$d/etc/hosts"
  # no DNS server but loopback's, where none listens on port 53
  printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$d/etc/resolv.conf"
  printf 'hosts files\naliases files\n' >"$d/etc/service.switch"
  : >"$d/etc/aliases"
  : >"$d/etc/statistics"
  cp "$UNPACKED/etc/mail/helpfile" "$d/etc/helpfile"
  for u in "${SASL_USERS[@]}"; do
    printf '%s' "$SASL_PASSWORD" |
      saslpasswd2 -p -c -f "$d/etc/sasldb2" -u "${u#*@}" "${u%@*}"
  done
  chmod 600 "$d/etc/sasldb2"
}

cmd_start() {
  need_root start
  [ $# -ge 1 ] || usage
  local d
  d=$(abs_dir "$1"); shift
  SMTP_PORT=${SMTP_PORT:-12025}
  SUBMISSION_PORT=${SUBMISSION_PORT:-12587}
  SINK_PORT=${SINK_PORT:-12026}
  MILTER=${MILTER:-}
  SASL_PASSWORD=${SASL_PASSWORD:-wax-test-1}
  while [ $# -gt 0 ]; do
    case "$1" in
      --smtp-port) SMTP_PORT=$2; shift 2 ;;
      --submission-port) SUBMISSION_PORT=$2; shift 2 ;;
      --sink-port) SINK_PORT=$2; shift 2 ;;
      --milter) MILTER=$2; shift 2 ;;
      *) die "start: unknown option $1" ;;
    esac
  done
  case "$MILTER" in ''|inet:127.0.0.1:*) ;;
    *) die "MILTER must be inet:127.0.0.1:PORT (loopback only)" ;; esac
  [ -x "$BIN" ] || die "no sendmail in $UNPACKED (run: $PROG install)"
  [ -f "$SYSTEM_SASLDB" ] || die "$SYSTEM_SASLDB is missing (sasl2-bin makes it; run: $PROG install)"
  preflight "$d" "$MARKER" daemon_pid "$SMTP_PORT" "$SUBMISSION_PORT" "$SINK_PORT"

  # smtp-sink runs as nobody
  open_to_others "$d" "smtp-sink ($SINK_USER)"

  rm -rf "${d:?}/etc" "$d/queue" "$d/clientmqueue" "$d/sink" "$d/maillog" "$d/sink.log" \
    "$d/sink.pid" "$d/sendmail.pid" "$d/instance.env"
  touch "$d/$MARKER"
  mkdir -p "$d/etc" "$d/queue" "$d/clientmqueue"
  chmod 700 "$d/queue" "$d/clientmqueue"
  chown "$MSP_USER" "$d/clientmqueue"
  write_mc "$d"
  write_submit_mc "$d"
  local cf
  for cf in sendmail submit; do
    m4 -D_CF_DIR_="$CF_DIR/" "$CF_DIR/m4/cf.m4" "$d/etc/$cf.mc" \
      >"$d/etc/$cf.cf" 2>"$d/etc/m4.log" || { cat "$d/etc/m4.log" >&2; die "m4 $cf.mc failed"; }
  done
  write_files "$d"
  {
    printf 'SMTP_PORT=%q\nSUBMISSION_PORT=%q\nSINK_PORT=%q\n' \
      "$SMTP_PORT" "$SUBMISSION_PORT" "$SINK_PORT"
    printf 'MILTER=%q\nSASL_PASSWORD=%q\n' "$MILTER" "$SASL_PASSWORD"
  } >"$d/instance.env"

  start_sink "$d" "$SINK_PORT" || { cmd_stop "$d"; die "smtp-sink did not start"; }

  # It logs only to syslog, which the test machine may not run; -X writes
  # every SMTP session to DIR/maillog instead.
  in_namespace "$d" "$BIN" -C "$d/etc/sendmail.cf" -bD -q2s -X "$d/maillog" \
    </dev/null >"$d/start.log" 2>&1 &
  disown
  if ! wait_listening "$SMTP_PORT" 10 || ! wait_listening "$SUBMISSION_PORT" 5; then
    cat "$d/start.log" >&2
    cmd_stop "$d"
    die "sendmail did not start"
  fi
  log "running in $d: smtp 127.0.0.1:$SMTP_PORT, submission 127.0.0.1:$SUBMISSION_PORT," \
    "sink 127.0.0.1:$SINK_PORT, milter ${MILTER:-none}"
}

# --------------------------------------------------------------- sendmail --

# Sendmail's sendmail(1): the MSP delivers at once (delivery mode
# interactive) over SMTP to the MTA port, from 127.0.0.1 without AUTH, and
# exits when the MTA has answered; what it cannot hand over waits in
# DIR/clientmqueue.
cmd_sendmail() {
  need_root sendmail
  [ $# -ge 1 ] || usage
  local d
  d=$(cd "$1" && pwd -P) || die "no such directory: $1"; shift
  [ -f "$d/etc/submit.cf" ] || die "$d: no instance here"
  daemon_pid "$d" >/dev/null || die "$d: Sendmail is not running"
  in_namespace "$d" "$BIN" -C "$d/etc/submit.cf" "$@"
}

# ------------------------------------------------------------------- stop --

cmd_stop() {
  [ $# -eq 1 ] || usage
  local d pid
  [ -d "$1" ] || return 0
  d=$(cd "$1" && pwd -P)
  if pid=$(daemon_pid "$d"); then
    kill -TERM "$pid" 2>/dev/null || true
  fi
  # The daemon ends its children on SIGTERM; a delivery or queue run that
  # lingers is ended here.
  reap "$d" Sendmail 50 our_sendmail_pids
  stop_sink "$d"
}

# ------------------------------------------------------------------- main --

[ $# -ge 1 ] || usage
sub=$1; shift
case "$sub" in
  install) cmd_install "$@" ;;
  start) cmd_start "$@" ;;
  sendmail) cmd_sendmail "$@" ;;
  stop) cmd_stop "$@" ;;
  -h|--help|help) usage ;;
  *) log "unknown subcommand: $sub"; usage ;;
esac
