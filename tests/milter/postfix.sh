#!/usr/bin/env bash
# A real, private Postfix (Debian's package) with Cyrus SASL (sasldb) on
# loopback, for testing a milter in a real MTA. Every message it accepts is
# relayed to smtp-sink, which stores each one as its own file.
# See README.md beside this file. Needs root (Postfix's own start-up does).
#
#   postfix.sh install
#   postfix.sh start    DIR [--smtp-port P] [--submission-port P] [--sink-port P]
#                           [--milter SPEC] [--milter-default-action A]
#   postfix.sh sendmail DIR [sendmail(1) args] <message
#   postfix.sh submit   DIR FILE [--user U] [--password P] [--from F] [--to T]
#   postfix.sh inbound  DIR FILE --from F --to T
#   postfix.sh wait     DIR N [TIMEOUT]
#   postfix.sh extract  SINKFILE [--lf | --envelope]
#   postfix.sh status   DIR
#   postfix.sh stop     DIR
#
# Environment (read by `start`, remembered in DIR/instance.env for the other
# subcommands): SMTP_PORT (10025), SUBMISSION_PORT (10587), SINK_PORT (10026),
# MILTER (empty: no milter; e.g. inet:127.0.0.1:10030), MILTER_DEFAULT_ACTION
# (tempfail), SASL_PASSWORD (wax-test-1). CLIENT_ADDR (submit, inbound): the
# loopback address swaks connects from (default: the system's choice).
set -euo pipefail

PROG=postfix.sh
PACKAGES=(postfix sasl2-bin libsasl2-modules swaks python3)
POSTFIX=/usr/sbin/postfix
MASTER=/usr/lib/postfix/sbin/master
SENDMAIL=/usr/sbin/sendmail
MARKER=.waxseal-postfix          # marks a DIR this script may wipe and reuse
SASL_USERS=(alice@example.com bob@other.org)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/milter/lib.sh
. "$HERE/lib.sh"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2; }
need_root() { [ "$(id -u)" = 0 ] || die "$1 needs root (Postfix's start-up and sendmail's postdrop do)"; }

# ---------------------------------------------------------------- install --

cmd_install() {
  local p status missing=()
  for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  need_root install
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  local apt=(apt-get -y -qq -o DPkg::Lock::Timeout=600)
  # No debconf question, and no system /etc/postfix/main.cf: "No configuration"
  # leaves the system Postfix unconfigured (it could not start anyway).
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  # The package must not start a system Postfix: a policy-rc.d that exits 101
  # makes invoke-rc.d refuse every start. Added only when there is none, and
  # removed again afterwards.
  local policy=/usr/sbin/policy-rc.d made_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# added by waxseal tests/milter/postfix.sh install\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    made_policy=1
  fi
  local rc=0
  if ! "${apt[@]}" install --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    # package lists missing or stale: refresh once and retry, showing errors
    "${apt[@]}" update >/dev/null || true
    "${apt[@]}" install --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
  fi
  if [ -n "$made_policy" ]; then rm -f "$policy"; fi
  [ "$rc" = 0 ] || die "apt-get install ${missing[*]} failed"
}

# ------------------------------------------------------------ process info --

# master_pid DIR: the pid of this instance's master(8), if it runs. Checked
# against /proc: the binary is Postfix's master and its working directory is
# this instance's queue (master chdirs there), so a stale pid file can never
# name somebody else's process.
master_pid() {
  local pidfile="$1/queue/pid/master.pid" pid
  [ -r "$pidfile" ] || return 1
  pid=$(awk 'NR == 1 { print $1 }' "$pidfile")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ "$(exe_of "$pid")" = "$MASTER" ] || return 1
  [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$1/queue" ] || return 1
  echo "$pid"
}

# our_postfix_pids DIR: every Postfix daemon of this instance still alive
# (Postfix daemons run from /usr/lib/postfix/sbin with the queue as cwd)
our_postfix_pids() { pids_in "$1/queue" '/usr/lib/postfix/sbin/*'; }

load_instance() {  # load_instance DIR: the settings `start` recorded
  [ -f "$1/instance.env" ] || die "$1: no instance here (run: $PROG start $1)"
  # shellcheck source=/dev/null
  . "$1/instance.env"
}

# ------------------------------------------------------------------ start --

write_main_cf() {  # write_main_cf DIR
  local d=$1
  cat >"$d/etc/main.cf" <<EOF
# Private test instance written by waxseal tests/milter/postfix.sh.
# Only loopback, only high ports; all mail goes to smtp-sink.

# Postfix 3.6+ defaults (no backwards-compatibility warnings in the log).
compatibility_level = 3.6

# --- Isolation from any system Postfix -------------------------------------
# Own queue (which also holds pid/master.pid) and own data directory (which
# holds master.lock): a second master never sees the system one or another
# instance. The config directory is $d/etc itself (postfix -c).
queue_directory = $d/queue
data_directory = $d/data
# The usual Debian owners: daemons run as postfix, sendmail(1) hands mail to
# the setgid postdrop(1) that writes into queue/maildrop.
mail_owner = postfix
setgid_group = postdrop
# Listen on IPv4 loopback only, and only there.
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
# Fixed names, so nothing depends on the machine's hostname or on DNS.
myhostname = mta.waxseal.test
mydomain = waxseal.test
myorigin = \$myhostname
smtp_helo_name = \$myhostname
smtpd_banner = \$myhostname ESMTP
# Don't look up the client's name (127.0.0.1) in DNS.
smtpd_peername_lookup = no

# --- Logging -----------------------------------------------------------------
# Log to a plain file through postlogd(8) (the postlog service in master.cf)
# instead of syslog, which this machine may not run. A path outside /var
# must be allowed by maillog_file_prefixes.
maillog_file = $d/maillog
maillog_file_prefixes = $d

# --- Everything goes to the sink ---------------------------------------------
# No local domains, no local delivery, no aliases: every recipient domain is
# "remote" and goes to the relay host, which is smtp-sink on loopback
# (brackets: no MX lookup).
mydestination =
local_recipient_maps =
local_transport = error:local delivery is disabled
alias_maps =
alias_database =
relay_domains =
relayhost = [127.0.0.1]:$SINK_PORT
# smtp-sink announces 8BITMIME anyway; this also makes sure Postfix never
# rewrites an 8-bit body to quoted-printable, which would break DKIM.
disable_mime_output_conversion = yes
# smtp-sink cannot announce SMTPUTF8, and with SMTPUTF8 on Postfix flags a
# sendmail(1) message with a UTF-8 header as needing it and then bounces it
# at the sink ("SMTPUTF8 is required, but was not offered"). Off, UTF-8 in
# headers is plain 8-bit data on every path and is relayed byte for byte.
smtputf8_enable = no

# --- Who may send ----------------------------------------------------------
# Only loopback clients can connect at all (inet_interfaces); on the MX-like
# port they may relay anything (permit_mynetworks). The submission port in
# master.cf overrides this to require SASL AUTH instead.
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions =
# A test MTA: answer errors at once (default sleeps 1 s per error).
smtpd_error_sleep_time = 0

# --- Cyrus SASL (used by the submission service only) ------------------------
# smtpd reads $d/etc/sasl/smtpd.conf (smtpd_sasl_path names the file), which
# checks passwords against the sasldb file beside it. Debian's Postfix
# always looks in \$config_directory/sasl (a Debian patch; upstream's
# cyrus_sasl_config_path is ignored there), so the files live in etc/sasl;
# the parameter is set to the same place for an upstream build.
# noanonymous is the default; without noplaintext PLAIN/LOGIN work without
# TLS (loopback only).
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $d/etc/sasl
smtpd_sasl_security_options = noanonymous
smtpd_sasl_auth_enable = no

# --- Queue timing ------------------------------------------------------------
# Retry deferred mail every few seconds instead of minutes. pickup's own
# wakeup (master.cf) makes a sendmail(1) message that a milter tempfailed
# come round again in 2 s.
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 4s
# No throttling of new mail while the queue is busy.
in_flow_delay = 0
EOF
  if [ -n "$MILTER" ]; then
    cat >>"$d/etc/main.cf" <<EOF

# --- The milter under test ---------------------------------------------------
# Same milter for SMTP (smtpd) and for sendmail(1) (pickup -> cleanup).
# Protocol 6 is the current one (Postfix's default, stated for clarity);
# milter_*_macros stay at Postfix's defaults. When the milter is unreachable
# or fails, milter_default_action decides (tempfail: 451 to the client).
smtpd_milters = $MILTER
non_smtpd_milters = $MILTER
milter_protocol = 6
milter_default_action = $MILTER_DEFAULT_ACTION
EOF
  fi
}

write_master_cf() {  # write_master_cf DIR
  cat >"$1/etc/master.cf" <<EOF
# Private test instance written by waxseal tests/milter/postfix.sh.
# No service is chrooted (chroot n): nothing to copy into a jail, and the
# daemons see $1 as it is.
#
# service type  private unpriv  chroot  wakeup  maxproc command + args
# MX-like inbound: no AUTH, any loopback client may relay (main.cf).
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
  -o syslog_name=postfix/smtp-in
# Submission: SASL AUTH required for everything (no permit_mynetworks), no
# TLS. {daemon_name} = ORIGINATING tells a signing milter "sign this".
127.0.0.1:$SUBMISSION_PORT inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=none
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
# sendmail(1) -> postdrop -> maildrop -> pickup. Wakeup every 2 s (default
# 60): a message left in maildrop (milter tempfail) is retried quickly.
pickup    unix  n       -       n       2       1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
# postlogd(8) writes maillog_file; "postfix start" refuses to run without it
# when maillog_file is set.
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

write_sasl() {  # write_sasl DIR: smtpd.conf + sasldb with the test users
  local s=$1/etc/sasl u
  mkdir -p "$s"
  cat >"$s/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $s/sasldb2
mech_list: PLAIN LOGIN
EOF
  for u in "${SASL_USERS[@]}"; do
    # user@realm: "alice@example.com" as the client sends it is looked up as
    # user "alice" in realm "example.com".
    printf '%s' "$SASL_PASSWORD" |
      saslpasswd2 -p -c -f "$s/sasldb2" -u "${u#*@}" "${u%@*}"
  done
  # smtpd runs as postfix: it must read the db, nobody else needs to.
  chown root:postfix "$s" "$s/smtpd.conf" "$s/sasldb2"
  chmod 750 "$s"
  chmod 640 "$s/smtpd.conf" "$s/sasldb2"
}

cmd_start() {
  need_root start
  [ $# -ge 1 ] || usage
  local d
  d=$(abs_dir "$1"); shift
  SMTP_PORT=${SMTP_PORT:-10025}
  SUBMISSION_PORT=${SUBMISSION_PORT:-10587}
  SINK_PORT=${SINK_PORT:-10026}
  MILTER=${MILTER:-}
  MILTER_DEFAULT_ACTION=${MILTER_DEFAULT_ACTION:-tempfail}
  SASL_PASSWORD=${SASL_PASSWORD:-wax-test-1}
  while [ $# -gt 0 ]; do
    case "$1" in
      --smtp-port) SMTP_PORT=$2; shift 2 ;;
      --submission-port) SUBMISSION_PORT=$2; shift 2 ;;
      --sink-port) SINK_PORT=$2; shift 2 ;;
      --milter) MILTER=$2; shift 2 ;;
      --milter-default-action) MILTER_DEFAULT_ACTION=$2; shift 2 ;;
      *) die "start: unknown option $1" ;;
    esac
  done
  case "$MILTER_DEFAULT_ACTION" in accept|reject|tempfail|quarantine) ;;
    *) die "bad MILTER_DEFAULT_ACTION '$MILTER_DEFAULT_ACTION'" ;; esac
  case "$MILTER" in ''|inet:127.0.0.1:*|inet:localhost:*|unix:/*) ;;
    *) die "MILTER must be inet:127.0.0.1:PORT or unix:/path (loopback only)" ;; esac
  preflight "$d" "$MARKER" master_pid "$SMTP_PORT" "$SUBMISSION_PORT" "$SINK_PORT"
  # The daemons run as postfix, smtp-sink as nobody: DIR must let them pass.
  open_to_others "$d" "the postfix user"

  # A fresh instance every time: old queue, sink and log are dropped.
  rm -rf "${d:?}/etc" "$d/queue" "$d/data" "$d/sink" "$d/maillog" \
    "$d/start.log" "$d/sink.log" "$d/sink.pid" "$d/instance.env"
  touch "$d/$MARKER"
  mkdir -p "$d/etc" "$d/queue" "$d/data"
  chown postfix: "$d/data"
  chmod 700 "$d/data"
  write_main_cf "$d"
  write_master_cf "$d"
  write_sasl "$d"
  {
    printf 'SMTP_PORT=%q\nSUBMISSION_PORT=%q\nSINK_PORT=%q\n' \
      "$SMTP_PORT" "$SUBMISSION_PORT" "$SINK_PORT"
    printf 'MILTER=%q\nMILTER_DEFAULT_ACTION=%q\nSASL_PASSWORD=%q\n' \
      "$MILTER" "$MILTER_DEFAULT_ACTION" "$SASL_PASSWORD"
  } >"$d/instance.env"
  touch "$d/maillog"

  # The next hop: smtp-sink, writing each message to DIR/sink/.
  if ! start_sink "$d" "$SINK_PORT"; then
    cmd_stop "$d"
    die "smtp-sink did not start"
  fi

  # post-install create-missing (run by `postfix start`) makes the queue
  # directories with the right owners; `postfix check` reports problems.
  if ! "$POSTFIX" -c "$d/etc" start >"$d/start.log" 2>&1 \
    || ! wait_listening "$SMTP_PORT" 5 || ! wait_listening "$SUBMISSION_PORT" 5; then
    cat "$d/start.log" >&2
    tail -n 20 "$d/maillog" >&2
    cmd_stop "$d"
    die "postfix did not start"
  fi
  log "running in $d: smtp 127.0.0.1:$SMTP_PORT, submission 127.0.0.1:$SUBMISSION_PORT," \
    "sink 127.0.0.1:$SINK_PORT, milter ${MILTER:-none}${MILTER:+ (default action $MILTER_DEFAULT_ACTION)}"
}

# ------------------------------------------------------------------- stop --

cmd_stop() {
  [ $# -eq 1 ] || usage
  local d pid i
  [ -d "$1" ] || return 0
  d=$(cd "$1" && pwd -P)
  if master_pid "$d" >/dev/null; then
    need_root stop
    # postfix stop: SIGTERM to master, which takes its children along; it
    # waits up to 5 s and then SIGKILLs master's process group itself.
    "$POSTFIX" -c "$d/etc" stop >>"$d/start.log" 2>&1 || true
    for ((i = 0; i < 50; i++)); do
      master_pid "$d" >/dev/null || break
      sleep 0.1
    done
    if pid=$(master_pid "$d"); then
      log "master $pid still alive: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  # Daemons notice master's exit on their own within a moment; any that
  # linger (still working in this queue) are ended here.
  reap "$d" Postfix 30 our_postfix_pids
  stop_sink "$d"
}

# ----------------------------------------------------------------- status --

cmd_status() {
  [ $# -eq 1 ] || usage
  local d pid rc=0
  d=$(cd "$1" && pwd -P) || die "no such directory: $1"
  load_instance "$d"
  if pid=$(master_pid "$d"); then echo "postfix: running (master pid $pid)"
  else echo "postfix: stopped"; rc=1; fi
  if pid=$(sink_pid "$d"); then echo "smtp-sink: running (pid $pid)"
  else echo "smtp-sink: stopped"; rc=1; fi
  echo "smtp: 127.0.0.1:$SMTP_PORT  submission: 127.0.0.1:$SUBMISSION_PORT  sink: 127.0.0.1:$SINK_PORT"
  echo "milter: ${MILTER:-none}${MILTER:+ (default action $MILTER_DEFAULT_ACTION)}"
  echo "sink messages: $(sink_messages "$d" 0 0 | wc -l)"
  if master_pid "$d" >/dev/null; then
    echo "queue: $(postqueue -c "$d/etc" -p 2>/dev/null | tail -n 1)"
  fi
  echo "log: $d/maillog"
  return "$rc"
}

# -------------------------------------------------------------- sendmail --

cmd_sendmail() {
  need_root sendmail
  [ $# -ge 1 ] || usage
  local d
  d=$(cd "$1" && pwd -P) || die "no such directory: $1"; shift
  [ -f "$d/etc/main.cf" ] || die "$d: no instance here"
  # -C selects the instance; postdrop(1) is setgid, so a non-default config
  # directory is trusted only for root (or via alternate_config_directories
  # in the system main.cf, which this script does not touch).
  MAIL_CONFIG="$d/etc" exec "$SENDMAIL" -C "$d/etc" "$@"
}

# ------------------------------------------------------- submit / inbound --

# to_wire FILE OUT: the file as SMTP DATA content: lines end in CRLF (a bare
# LF becomes CRLF, CRLF stays), lines starting with "." are dot-stuffed, a
# missing final line end is added, and the closing "." is appended (swaks
# adds its CRLF). Every other byte is sent unchanged.
to_wire() {
  perl -0777 -pe 's/\r?\n/\r\n/g; $_ .= "\r\n" if length && !/\r\n\z/; s/^\./../mg; $_ .= "."' \
    <"$1" >"$2"
}

# swaks_send DIR PORT FILE [swaks args]: prints the queue id on acceptance,
# the whole transcript on failure; exit status is swaks' (0 = 250 after DATA).
swaks_send() {
  local port=$2 file=$3 wire out rc=0
  shift 3
  [ -r "$file" ] || die "cannot read $file"
  wire=$(mktemp "${TMPDIR:-/tmp}/waxseal-wire.XXXXXX")
  to_wire "$file" "$wire"
  # --no-data-fixup: no %TOKEN% or "\n" expansion, no From_ stripping, no
  # added headers; the bytes of $wire go out as they are.
  # CLIENT_ADDR: the loopback address the client connects from (e.g.
  # 127.0.0.2, so that a milter can tell it from local submissions)
  out=$(swaks --server 127.0.0.1 --port "$port" --helo client.waxseal.test \
    ${CLIENT_ADDR:+--local-interface "$CLIENT_ADDR"} \
    --timeout 60 --data "@$wire" --no-data-fixup "$@" 2>&1) || rc=$?
  rm -f "$wire"
  if [ "$rc" = 0 ]; then
    # Postfix: "250 2.0.0 Ok: queued as ID"; Sendmail: "250 2.0.0 ID
    # Message accepted for delivery"
    sed -n -e 's/^ *<- *250 .*queued as \([0-9A-Za-z]*\).*/\1/p' \
      -e 's/^ *<- *250 [0-9.]* \([0-9A-Za-z]*\) Message accepted for delivery.*/\1/p' <<<"$out"
  else
    printf '%s\n' "$out" >&2
    log "swaks exit status $rc (message not accepted)"
  fi
  return "$rc"
}

cmd_submit() {
  [ $# -ge 2 ] || usage
  local d file user=alice@example.com password='' from='' to=bob@other.org
  d=$(cd "$1" && pwd -P) || die "no such directory: $1"
  file=$2; shift 2
  load_instance "$d"
  password=$SASL_PASSWORD
  while [ $# -gt 0 ]; do
    case "$1" in
      --user) user=$2; shift 2 ;;
      --password) password=$2; shift 2 ;;
      --from) from=$2; shift 2 ;;
      --to) to=$2; shift 2 ;;
      *) die "submit: unknown option $1" ;;
    esac
  done
  swaks_send "$d" "$SUBMISSION_PORT" "$file" --from "${from:-$user}" --to "$to" \
    --auth PLAIN --auth-user "$user" --auth-password "$password"
}

cmd_inbound() {
  [ $# -ge 2 ] || usage
  local d file from='' to=''
  d=$(cd "$1" && pwd -P) || die "no such directory: $1"
  file=$2; shift 2
  load_instance "$d"
  while [ $# -gt 0 ]; do
    case "$1" in
      --from) from=$2; shift 2 ;;
      --to) to=$2; shift 2 ;;
      *) die "inbound: unknown option $1" ;;
    esac
  done
  if [ -z "$from" ] || [ -z "$to" ]; then die "inbound needs --from and --to"; fi
  swaks_send "$d" "$SMTP_PORT" "$file" --from "$from" --to "$to"
}

# ------------------------------------------------------------ wait / sink --

# sink_messages DIR N TIMEOUT: the complete messages in DIR/sink, oldest
# first, once there are N (exit 1 after TIMEOUT seconds with fewer).
# smtp-sink creates a file at MAIL FROM and closes it after the final "."
# (before it answers 250), deleting it if the transaction is aborted; so a
# file that the sink process still holds open is not complete yet
# (sink_wait.py, which load.sh uses too).
sink_messages() {
  python3 "$HERE/sink_wait.py" --list "$@"
}

cmd_wait() {
  [ $# -ge 2 ] || usage
  local d n=$2 timeout=${3:-30}
  d=$(cd "$1" && pwd -P) || die "no such directory: $1"
  [[ "$n" =~ ^[0-9]+$ ]] || die "wait: N must be a number"
  [[ "$timeout" =~ ^[0-9]+$ ]] || die "wait: TIMEOUT must be a number of seconds"
  local rc=0
  sink_messages "$d" "$n" "$timeout" || rc=$?
  case $rc in
    0) return 0 ;;
    1) log "timeout: end of $d/maillog:"
       tail -n 15 "$d/maillog" >&2 || true
       return 1 ;;
    *) die "wait: sink_wait.py failed (exit $rc)" ;;
  esac
}

# extract FILE [--lf|--envelope]: the message from a sink dump file.
# A dump is: smtp-sink's own lines (X-Client-Addr, X-Client-Proto,
# X-Helo-Args, X-Mail-Args, X-Rcpt-Args, then a three-line "Received: ...
# (smtp-sink) ..." header), then the message as received with every CR
# removed and dot-stuffing undone, then one extra "\n" (from the final ".").
# Default output: the message as it was on the wire (CRLF line ends);
# --lf: with LF line ends; --envelope: only the X-* envelope lines.
cmd_extract() {
  [ $# -ge 1 ] || usage
  local file=$1 mode=${2:-crlf}
  [ -r "$file" ] || die "cannot read $file"
  case "$mode" in
    crlf|--crlf) mode=crlf ;;
    --lf) mode=lf ;;
    --envelope) sed -n '/^X-\(Client-Addr\|Client-Proto\|Helo-Args\|Mail-Args\|Rcpt-Args\): /p;/^Received: /q' "$file"; return ;;
    *) die "extract: unknown option $mode" ;;
  esac
  MODE=$mode perl -0777 -ne '
    s/\A(?:X-(?:Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args): [^\n]*\n)*//;
    s/\AReceived: from [^\n]*\n\tby [^\n]* \(smtp-sink\) [^\n]*\n\t[^\n]*\n// or die "not an smtp-sink dump: $ARGV\n";
    s/\n\z// or die "truncated smtp-sink dump: $ARGV\n";
    s/\n/\r\n/g if $ENV{MODE} eq "crlf";
    print' "$file"
}

# ------------------------------------------------------------------- main --

[ $# -ge 1 ] || usage
sub=$1; shift
case "$sub" in
  install) cmd_install "$@" ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  sendmail) cmd_sendmail "$@" ;;
  submit) cmd_submit "$@" ;;
  inbound) cmd_inbound "$@" ;;
  wait) cmd_wait "$@" ;;
  extract) cmd_extract "$@" ;;
  -h|--help|help) usage ;;
  *) log "unknown subcommand: $sub"; usage ;;
esac
