#!/usr/bin/env bash
# Installs the four independent DKIM peers used by waxseal's interop tests.  Idempotent;
# about 1 s when everything is there.  Installs go to the state dir
#   STATE=${WAXSEAL_PEERS_HOME:-$HOME/.cache/waxseal-peers}
#     STATE/venv          dkimpy (+PyNaCl for ed25519), pinned in requirements.txt
#     STATE/node_modules  mailauth, pinned in package.json + package-lock.json (npm ci)
#     STATE/perl5         Debian 13's Mail::DKIM (Debian 12's has no ed25519), unpacked
# plus Debian packages (needs root): Mail::DKIM's dependencies, opendkim, opendkim-tools.
# The OpenDKIM daemon is never started: peers.py uses its test mode (opendkim -t).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${WAXSEAL_PEERS_HOME:-$HOME/.cache/waxseal-peers}"
mkdir -p "$STATE" && STATE="$(cd "$STATE" && pwd)"
export DEBIAN_FRONTEND=noninteractive WAXSEAL_PEERS_HOME="$STATE"
APT=(apt-get -q -y -o DPkg::Lock::Timeout=300)
TMP="$(mktemp -d)"
POLICY_MADE=0
cleanup() {
  rm -rf "$TMP"
  if [ "$POLICY_MADE" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
}
trap cleanup EXIT
die() { echo "setup.sh: error: $*" >&2; exit 1; }
log() { echo "setup.sh: $*" >&2; }
quiet() {  # run a command, show its output only if it fails
  "$@" >"$TMP/log" 2>&1 || { tail -n 30 "$TMP/log" >&2; die "failed: $*"; }
}
stamp() { cat "$@" | sha256sum | cut -c1-64; }  # fingerprint of the pin files

# ------------------------------------------------------------ Debian packages
DEBS=(perl libcryptx-perl libnet-dns-perl libcrypt-openssl-rsa-perl libmail-dkim-perl
      opendkim opendkim-tools python3-venv nodejs npm ca-certificates)
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# node/npm may come from elsewhere than Debian (as on these machines): keep those
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=($(printf '%s\n' ${missing[@]+"${missing[@]}"} | grep -vxE 'nodejs|npm' || true))
fi
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]} (run as root)"
  log "apt-get install ${missing[*]}"
  if [ ! -e /usr/sbin/policy-rc.d ]; then  # keep services (opendkim) from starting
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    POLICY_MADE=1
  fi
  quiet "${APT[@]}" update
  quiet "${APT[@]}" install --no-install-recommends "${missing[@]}"
fi
command -v opendkim >/dev/null || [ -x /usr/sbin/opendkim ] || die "opendkim not found after install"

# ------------------------------------------------------------ Mail::DKIM with ed25519
if ! perl -I"$STATE/perl5" -MMail::DKIM::Algorithm::ed25519_sha256 -e 1 2>/dev/null; then
  log "fetching Debian 13 (trixie) libmail-dkim-perl into $STATE/perl5"
  # the Debian mirror this machine's apt already uses (no host name written here)
  mirror="$( { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
               grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
                 sed -E 's/\[[^]]*\]//' | awk '{print $2}'; } |
             grep -v security | grep -m1 -E '/debian/?$' || true)"
  [ -n "$mirror" ] || die "no Debian mirror found in the apt sources"
  mkdir -p "$TMP/lists/partial" "$TMP/cache/archives/partial" "$TMP/deb"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$TMP/sources.list"
  A=(-o Dir::Etc::SourceList="$TMP/sources.list" -o Dir::Etc::SourceParts=/dev/null
     -o Dir::State::Lists="$TMP/lists" -o Dir::Cache="$TMP/cache" -o APT::Sandbox::User=root)
  quiet apt-get -q "${A[@]}" update
  (cd "$TMP/deb" && quiet apt-get -q "${A[@]}" download libmail-dkim-perl)
  deb="$(ls "$TMP"/deb/libmail-dkim-perl_*_all.deb 2>/dev/null | head -n1)"
  [ -n "$deb" ] || die "libmail-dkim-perl (trixie) download failed"
  dpkg-deb -x "$deb" "$TMP/x"
  rm -rf "$STATE/perl5" && mkdir -p "$STATE/perl5"
  cp -r "$TMP/x/usr/share/perl5/Mail" "$STATE/perl5/"
  basename "$deb" >"$STATE/perl5/DEB"
  perl -I"$STATE/perl5" -MMail::DKIM::Algorithm::ed25519_sha256 -e 1 ||
    die "the unpacked Mail::DKIM does not load"
fi

# ------------------------------------------------------------ dkimpy (venv)
PY="$STATE/venv/bin/python3"
want="$(stamp "$HERE/requirements.txt")"
if [ "$(cat "$STATE/venv/STAMP" 2>/dev/null)" != "$want" ] || ! "$PY" -c 'import dkim, nacl' 2>/dev/null; then
  log "creating $STATE/venv (dkimpy)"
  rm -rf "$STATE/venv"
  quiet python3 -m venv "$STATE/venv"
  quiet "$PY" -m pip install --disable-pip-version-check --no-cache-dir -r "$HERE/requirements.txt"
  "$PY" -c 'import dkim, nacl' || die "dkimpy does not import in $STATE/venv"
  echo "$want" >"$STATE/venv/STAMP"
fi

# ------------------------------------------------------------ mailauth (npm ci)
want="$(stamp "$HERE/package.json" "$HERE/package-lock.json")"
if [ "$(cat "$STATE/node_modules/STAMP" 2>/dev/null)" != "$want" ] ||
   ! node -e 'require(process.argv[1] + "/node_modules/mailauth/lib/dkim/verify")' "$STATE" 2>/dev/null; then
  log "npm ci in $STATE (mailauth)"
  cp "$HERE/package.json" "$HERE/package-lock.json" "$STATE/"
  # a throw-away npm cache, so that a read-only or odd $HOME does not matter
  (cd "$STATE" && npm_config_cache="$TMP/npm" npm_config_update_notifier=false \
     quiet npm ci --no-audit --no-fund)
  echo "$want" >"$STATE/node_modules/STAMP"
fi

# ------------------------------------------------------------ summary
out="$(python3 "$HERE/peers.py" versions)" || die "a peer does not run: $out"
echo "setup ok ($STATE): $(echo "$out" | paste -sd'|' | sed 's/|/ | /g')"
