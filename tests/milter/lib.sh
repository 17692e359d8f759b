# Shared by postfix.sh and sendmail.sh (sourced; PROG names the script in
# messages): ports on loopback, and smtp-sink, the next hop of both MTAs,
# which stores each message it receives as its own file in DIR/sink.
# shellcheck shell=bash

SMTP_SINK=/usr/sbin/smtp-sink    # from Debian's postfix package
SINK_USER=nobody                 # smtp-sink drops root for this user

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "$*"; exit 1; }
abs_dir() { mkdir -p "$1" && (cd "$1" && pwd -P); }
is_port() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1024 ] && [ "$1" -le 65535 ]; }

# port_listening PORT: true when something listens on 127.0.0.1:PORT or
# 0.0.0.0:PORT (reads /proc/net/tcp: no connection is made, so a listening
# smtpd logs nothing and a milter is not contacted)
port_listening() {
  local hex
  hex=$(printf '%04X' "$1")
  awk -v a="0100007F:$hex" -v b="00000000:$hex" \
    'NR > 1 && ($2 == a || $2 == b) && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp
}

wait_listening() {  # wait_listening PORT SECONDS
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    port_listening "$1" && return 0
    sleep 0.1
  done
  return 1
}

# pids_in QUEUE PATTERN: the processes whose binary matches the glob
# PATTERN and whose working directory is QUEUE (an MTA's daemons work in
# their queue directory, which tells one instance's from another's)
pids_in() {
  local p exe
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    # shellcheck disable=SC2254 # PATTERN is a glob on purpose
    case "$exe" in $2) ;; *) continue ;; esac
    [ "$(readlink "$p/cwd" 2>/dev/null)" = "$1" ] && echo "${p#/proc/}"
  done
  return 0
}

# reap DIR WHAT TENTHS PIDS: waits up to TENTHS tenths of a second for the
# processes the function PIDS lists for DIR to end, then SIGKILLs any left.
reap() {
  local d=$1 what=$2 tenths=$3 pids=$4 i pid
  for ((i = 0; i < tenths; i++)); do
    [ -z "$("$pids" "$d")" ] && break
    sleep 0.1
  done
  for pid in $("$pids" "$d"); do
    log "leftover $what process $pid: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  done
}

# preflight DIR MARKER RUNNING PORT...: before an instance starts in DIR:
# the ports are valid, distinct and free; DIR is empty or was set up by
# this script before (MARKER is in it: only such a DIR is ever wiped); and
# the function RUNNING, given DIR, finds no instance running there.
preflight() {
  local d=$1 marker=$2 running=$3 p
  shift 3
  for p in "$@"; do
    is_port "$p" || die "bad port '$p' (want 1024-65535)"
  done
  [ "$(printf '%s\n' "$@" | sort -u | wc -l)" = $# ] || die "the ports must differ: $*"
  if [ -n "$(ls -A "$d")" ] && [ ! -e "$d/$marker" ]; then
    die "$d is not empty and was not made by $PROG: refusing to use it"
  fi
  if "$running" "$d" >/dev/null || sink_pid "$d" >/dev/null; then
    die "$d: instance already running (run: $PROG stop $d)"
  fi
  for p in "$@"; do
    port_listening "$p" && die "port $p on 127.0.0.1 is already in use"
  done
  return 0
}

# open_to_others DIR WHO: lets unprivileged users (Postfix's daemons,
# smtp-sink) pass through DIR: DIR itself, e.g. from mktemp -d, is given
# o+x; its parents must have it already.
open_to_others() {
  local d=$1 up
  [ $(( 0$(stat -c %a "$d") & 1 )) = 1 ] || chmod o+x "$d"
  up=$d
  while [ "$up" != / ]; do
    [ $(( 0$(stat -c %a "$up") & 1 )) = 1 ] ||
      die "$up is not searchable by others: $2 cannot reach $d"
    up=$(dirname "$up")
  done
}

# exe_of PID: the program PID runs, also after a package upgrade replaced
# its file (the kernel then adds " (deleted)" to the link)
exe_of() {
  local exe
  exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
  printf '%s\n' "${exe% (deleted)}"
}

# sink_pid DIR: the pid of this instance's smtp-sink, if it runs (the pid
# recorded by start_sink, still an smtp-sink dumping into DIR/sink/)
sink_pid() {
  local pid
  [ -r "$1/sink.pid" ] || return 1
  pid=$(cat "$1/sink.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ "$(exe_of "$pid")" = "$SMTP_SINK" ] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF -- "$1/sink/%Y%m%d-%H%M%S." || return 1
  echo "$pid"
}

# start_sink DIR PORT: smtp-sink on 127.0.0.1:PORT (IPv4 loopback only,
# running as $SINK_USER), writing each message to
# DIR/sink/YYYYmmdd-HHMMSS.<random hex> (format: postfix.sh `extract` and
# README.md). False when it does not come up (its log is shown).
start_sink() {
  local d=$1 port=$2
  mkdir -p "$d/sink"
  chown "$SINK_USER" "$d/sink"
  (cd "$d" && exec "$SMTP_SINK" -4 -u "$SINK_USER" -h sink.waxseal.test \
    -d "$d/sink/%Y%m%d-%H%M%S." "inet:127.0.0.1:$port" 64 \
    </dev/null >"$d/sink.log" 2>&1) &
  echo $! >"$d/sink.pid"
  disown
  if ! wait_listening "$port" 5 || ! sink_pid "$d" >/dev/null; then
    cat "$d/sink.log" >&2
    return 1
  fi
}

stop_sink() {  # stop_sink DIR
  local d=$1 pid i
  if pid=$(sink_pid "$d"); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do
      sink_pid "$d" >/dev/null || break
      sleep 0.1
    done
    if sink_pid "$d" >/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$d/sink.pid"
}
