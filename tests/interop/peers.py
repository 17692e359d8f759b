#!/usr/bin/env python3
"""Drive four independent DKIM implementations (dkimpy, Mail::DKIM, mailauth, OpenDKIM)
without DNS: public keys come from files.  Install them first with setup.sh.

  peers.py verify [--policy strict|lax] --keys DIR MSG...
  peers.py sign --peer NAME --key KEYFILE --domain D --selector S [--algorithm A]
                [--canon H/B] [--headers a:b:c] [--length] [--expire-after SECONDS]
                [--timestamp T] IN OUT
  peers.py versions

See README.md next to this file.  Standard library only: the peers run as subprocesses
(venv python, perl, node, opendkim) from ${WAXSEAL_PEERS_HOME:-~/.cache/waxseal-peers}.
"""
import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVERS = os.path.join(HERE, "drivers")
STATE = os.path.abspath(os.environ.get("WAXSEAL_PEERS_HOME")
                        or os.path.join(os.path.expanduser("~"), ".cache", "waxseal-peers"))
PEERS = ("dkimpy", "maildkim", "mailauth", "opendkim")
OPENDKIM = shutil.which("opendkim") or "/usr/sbin/opendkim"
TIMEOUT = 600
UNSUPPORTED = 3


class Unsupported(Exception):
    pass


def driver_cmd(peer):
    if peer == "dkimpy":
        return [os.path.join(STATE, "venv", "bin", "python3"), os.path.join(DRIVERS, "dkimpy_driver.py")]
    if peer == "maildkim":  # Debian 13's Mail::DKIM (unpacked by setup.sh) before the system's
        return ["perl", "-I", os.path.join(STATE, "perl5"), os.path.join(DRIVERS, "maildkim_driver.pl")]
    if peer == "mailauth":
        return ["node", os.path.join(DRIVERS, "mailauth_driver.js"), STATE]
    raise ValueError(peer)


def require_installed(peers):
    need = {"dkimpy": os.path.join(STATE, "venv", "bin", "python3"),
            "maildkim": os.path.join(STATE, "perl5", "Mail", "DKIM.pm"),
            "mailauth": os.path.join(STATE, "node_modules", "mailauth", "package.json"),
            "opendkim": OPENDKIM}
    missing = [p for p in peers if not os.path.exists(need[p])]
    if missing:
        raise SystemExit("error: %s not installed in %s: run %s/setup.sh"
                         % (", ".join(missing), STATE, os.path.relpath(HERE)))


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT, **kw)


def last_line(data, default=""):
    lines = data.decode("utf-8", "replace").strip().splitlines()
    return lines[-1].strip() if lines else default


# ---------------------------------------------------------------- messages and key records

def crlf(data):
    """Bare LF -> CRLF, as the message would be on the wire (every peer gets this form)."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def header_fields(msg):
    """[(name, unfolded value)] of the header block."""
    head = re.split(rb"\r?\n\r?\n", msg, maxsplit=1)[0]
    fields = []
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1][1] += b" " + line.strip()
        elif b":" in line:
            name, value = line.split(b":", 1)
            fields.append([name.strip().decode("latin-1"), value.strip()])
    return fields


def sig_tags(value):
    tags = {}
    for part in value.decode("utf-8", "replace").split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            tags.setdefault(k.strip(), re.sub(r"\s+", "", v))
    return tags


def dkim_signatures(msg):
    return [sig_tags(v) for k, v in header_fields(msg) if k.lower() == "dkim-signature"]


def read_record(path):
    """TXT value of a key record file: plain, zone-file quoted strings, or NXDOMAIN (None)."""
    with open(path, encoding="utf-8-sig") as fh:
        text = fh.read().strip()
    if text == "NXDOMAIN":
        return None
    if text.startswith('"'):  # "v=DKIM1; k=rsa; " "p=..." -> concatenated like a resolver
        parts = re.findall(r'"((?:[^"\\]|\\.)*)"', text)
        return "".join(re.sub(r"\\(.)", r"\1", p) for p in parts)
    return "".join(line.strip() for line in text.splitlines())


def load_keys(directory):
    records = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith(".txt"):
            records[name[:-4].lower().rstrip(".")] = read_record(os.path.join(directory, name))
    return records


# ---------------------------------------------------------------- verify

def verify_with_driver(peer, files, keys_json, policy):
    try:
        p = run(driver_cmd(peer) + ["verify", keys_json, policy] + files)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {f: {"sigs": [], "error": "%s: %s" % (type(e).__name__, e)} for f in files}
    results = {}
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        try:
            r = json.loads(line)
            results[r["file"]] = r
        except (ValueError, TypeError, KeyError):
            pass  # not a result line
    err = last_line(p.stderr, "no result (exit code %d)" % p.returncode)
    return {f: results.get(f) or {"sigs": [], "error": err} for f in files}


def parse_opendkim_ar(value):
    sigs = []
    for entry in value.split(";"):
        entry = " ".join(entry.split())
        m = re.match(r"dkim=(\w+)(.*)", entry)
        if not m or m.group(1) == "none":
            continue
        tag = lambda k: (re.search(r"\bheader\.%s=(\S+)" % k, entry) or [None, ""])[1]
        why = re.findall(r'reason="([^"]*)"|\(([^)]*)\)', entry)
        why = "; ".join(a or b for a, b in why if not re.fullmatch(r"\d+-bit key", a or b))
        sigs.append({"d": tag("d"), "s": tag("s"), "a": tag("a"), "b": tag("b"),
                     "result": "pass" if m.group(1) == "pass" else "fail",
                     "detail": "" if m.group(1) == "pass" else m.group(1) + (" (%s)" % why if why else "")})
    return sigs


def verify_opendkim(files, records, policy, tmp):
    """OpenDKIM's test mode (opendkim -x CONF -t FILE): the filter's own code path, no MTA,
    no daemon; keys from TestPublicKeys.  -vv prints the Authentication-Results it would add."""
    keyfile = os.path.join(tmp, "opendkim-keys")
    with open(keyfile, "w", encoding="utf-8") as fh:
        for name, value in records.items():
            if value is not None:
                fh.write("%s %s\n" % (name, " ".join(value.split())))
    conf = os.path.join(tmp, "opendkim-verify.conf")
    with open(conf, "w") as fh:
        fh.write("Mode v\nTestPublicKeys %s\nMinimumKeyBits %d\nMaximumSignaturesToVerify 100\n"
                 "AlwaysAddARHeader yes\nAuthservID peers\nSyslog no\nSoftwareHeader no\n"
                 % (keyfile, 1024 if policy == "strict" else 1))

    def one(path):  # one process per message (~10 ms): a batch stops at a bad message
        try:
            p = run([OPENDKIM, "-x", conf, "-vv", "-t", os.path.basename(path)], cwd=os.path.dirname(path))
        except (OSError, subprocess.TimeoutExpired) as e:
            return {"sigs": [], "error": "%s: %s" % (type(e).__name__, e)}
        m = re.search(r"^### INSHEADER: .*?hname='Authentication-Results' hvalue='(.*?)'$",
                      p.stdout.decode("utf-8", "replace"), re.M | re.S)
        if m:
            return {"sigs": parse_opendkim_ar(m.group(1)), "error": None}
        if b"returned SMFIS_ACCEPT" in p.stderr:  # e.g. at end of header: no verdict at all
            return {"sigs": [], "error": None, "unreported": "not evaluated by opendkim (%s)"
                    % last_line(p.stderr).rsplit(": ", 1)[-1]}
        return {"sigs": [], "error": "opendkim (exit code %d): %s" % (p.returncode, last_line(p.stderr))}

    with ThreadPoolExecutor(2) as ex:
        return dict(zip(files, ex.map(one, files)))


def align(header_sigs, reported, peer, unreported=None):
    """Order a peer's results like the DKIM-Signature fields (top first), matching on the
    start of b= where the peer reports it, then on d/s.  d/s/a come from the field itself."""
    slots = [None] * len(header_sigs)
    for r in reported:
        free = [i for i in range(len(slots)) if slots[i] is None]
        b = r.get("b") or ""
        pick = [i for i in free if b and header_sigs[i].get("b", "").startswith(b)] or \
               [i for i in free if (r.get("d", "").lower(), r.get("s", "").lower()) ==
                (header_sigs[i].get("d", "").lower(), header_sigs[i].get("s", "").lower())] or free
        if pick:
            slots[pick[0]] = r
    out = []
    for h, r in zip(header_sigs, slots):
        r = r or {"result": "fail", "detail": unreported or "not reported by %s" % peer}
        out.append({"d": h.get("d", ""), "s": h.get("s", ""), "a": h.get("a", ""),
                    "result": r["result"], "detail": r.get("detail") or ""})
    return out


def cmd_verify(args):
    require_installed(PEERS)
    for path in [args.keys] + args.messages:
        if not os.path.exists(path):
            raise SystemExit("error: no such file or folder: %s" % path)
    records = load_keys(args.keys)
    tmp = tempfile.mkdtemp(prefix="waxseal-peers-")
    try:
        keys_json = os.path.join(tmp, "keys.json")
        with open(keys_json, "w", encoding="utf-8") as fh:
            json.dump(records, fh)
        copies, header_sigs = [], []
        for i, f in enumerate(args.messages):  # same CRLF bytes for every peer
            with open(f, "rb") as fh:
                msg = crlf(fh.read())
            copies.append(os.path.join(tmp, "m%04d.eml" % i))
            with open(copies[-1], "wb") as fh:
                fh.write(msg)
            header_sigs.append(dkim_signatures(msg))

        def one(peer):
            if peer == "opendkim":
                return peer, verify_opendkim(copies, records, args.policy, tmp)
            return peer, verify_with_driver(peer, copies, keys_json, args.policy)

        with ThreadPoolExecutor(len(PEERS)) as ex:
            by_peer = dict(ex.map(one, PEERS))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for i, f in enumerate(args.messages):
        peers = {}
        for peer in PEERS:
            r = by_peer[peer][copies[i]]
            sigs = [] if r.get("error") else align(header_sigs[i], r["sigs"], peer, r.get("unreported"))
            for s in sigs:
                if args.policy == "strict" and s["result"] == "pass" and s["a"].lower() == "rsa-sha1":
                    s["result"], s["detail"] = "fail", "rsa-sha1 not accepted (RFC 8301)"
            peers[peer] = {"sigs": sigs, "error": r.get("error")}
        print(json.dumps({"file": f, "peers": peers}), flush=True)
    return 0


# ---------------------------------------------------------------- sign

def ed25519_pkcs8(path):
    """An Ed25519 private key (PKCS#8 PEM, or a base64 32-byte seed) as a PKCS#8 v1 PEM."""
    with open(path, "rb") as fh:
        data = fh.read()
    if b"-----BEGIN" in data:
        der = base64.b64decode(b"".join(l for l in data.splitlines() if l and not l.startswith(b"-----")))
        m = re.search(rb"\x06\x03\x2b\x65\x70.*?\x04\x22\x04\x20(.{32})", der, re.S)  # OID 1.3.101.112
        if not m:
            raise SystemExit("error: %s is not an Ed25519 PKCS#8 key" % path)
        seed = m.group(1)
    else:
        seed = base64.b64decode(data.strip())
        if len(seed) != 32:
            raise SystemExit("error: %s: neither a PEM key nor a base64 32-byte seed" % path)
    der = bytes.fromhex("302e020100300506032b657004220420") + seed
    b64 = base64.b64encode(der).decode()
    return "-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n" % b64


def sign_opendkim(spec, tmp):
    """opendkim -t in signing mode; the KeyTable/SigningTable pair signs any From: with d=."""
    if spec["algorithm"].startswith("ed25519") and spec["canon"].startswith("simple/") and not spec.get("force"):
        # seen with Debian 12's 2.11.0~beta2: such signatures fail everywhere, opendkim included
        raise Unsupported("opendkim 2.11 makes ed25519 signatures with simple header "
                          "canonicalization that no verifier accepts (itself included)")
    key = os.path.join(tmp, "opendkim.key")
    shutil.copyfile(spec["key"], key)
    os.chmod(key, 0o600)
    for name, text in (("keytable", "k %s:%s:%s\n" % (spec["domain"], spec["selector"], key)),
                       ("signingtable", "* k\n"), ("all", "*\n")):
        with open(os.path.join(tmp, name), "w") as fh:
            fh.write(text)
    conf = ["Mode s", "KeyTable file:%s/keytable" % tmp, "SigningTable refile:%s/signingtable" % tmp,
            "Canonicalization %s" % spec["canon"], "SignatureAlgorithm %s" % spec["algorithm"],
            "RequireSafeKeys no", "Syslog no", "SoftwareHeader no"]
    if spec["headers"] is not None:
        with open(spec["in"], "rb") as fh:
            present = [k.lower() for k, _ in header_fields(fh.read())]
        names = spec["headers"]
        conf.append("SignHeaders %s" % ",".join(dict.fromkeys(names)))
        over = [n for n in dict.fromkeys(names) if names.count(n) > present.count(n)]
        if over:  # OpenDKIM adds each of these once more than present
            conf.append("OversignHeaders %s" % ",".join(over))
    if spec["length"]:  # l= for the envelope recipients in this set: all
        conf.append("BodyLengthDB refile:%s/all" % tmp)
    if spec["expire"] is not None:
        conf.append("SignatureTTL %d" % spec["expire"])
    with open(os.path.join(tmp, "opendkim-sign.conf"), "w") as fh:
        fh.write("\n".join(conf) + "\n")
    cmd = [OPENDKIM, "-x", os.path.join(tmp, "opendkim-sign.conf"), "-t", spec["in"]]
    if spec["timestamp"] is not None:
        cmd[1:1] = ["-F", str(spec["timestamp"])]
    p = run(cmd)
    m = re.search(rb"^DKIM-Signature:.*?(?=\Z|^\S)", crlf(p.stdout), re.S | re.M)
    if not m:
        raise SystemExit("error: opendkim made no signature: %s" % (last_line(p.stderr) or last_line(p.stdout)))
    return m.group(0)


def check_signature(hdr, spec, peer):
    """The tags that the peer wrote must be the ones asked for; else the peer cannot do it."""
    sigs = dkim_signatures(hdr)
    if len(sigs) != 1:
        raise SystemExit("error: %s wrote no parsable DKIM-Signature:\n%s" % (peer, hdr.decode("utf-8", "replace")))
    t = sigs[0]
    canon = t.get("c", "simple/simple").lower()
    if "/" not in canon:
        canon += "/simple"
    for k, want, got in (("a", spec["algorithm"], t.get("a", "").lower()), ("c", spec["canon"], canon),
                         ("d", spec["domain"], t.get("d")), ("s", spec["selector"], t.get("s"))):
        if want != got:
            raise SystemExit("error: %s signed with %s=%s instead of %s" % (peer, k, got, want))
    h = [x.lower() for x in t.get("h", "").split(":") if x]
    if spec["headers"] is not None and sorted(h) != sorted(spec["headers"]):
        raise Unsupported("%s signs h=%s for --headers %s" % (peer, ":".join(h), ":".join(spec["headers"])))
    if spec["length"] != ("l" in t):
        raise Unsupported("%s wrote %s l= tag" % (peer, "an" if "l" in t else "no"))
    if spec["identity"] is not None and t.get("i") != spec["identity"]:
        raise Unsupported("%s signs i=%s for --identity %s" % (peer, t.get("i"), spec["identity"]))
    if spec["timestamp"] is not None and t.get("t") != str(spec["timestamp"]):
        raise Unsupported("%s signs t=%s, not --timestamp %s" % (peer, t.get("t"), spec["timestamp"]))
    if spec["expire"] is not None and (not t.get("x", "").isdigit() or not t.get("t", "").isdigit()
                                       or int(t["x"]) - int(t["t"]) != spec["expire"]):
        raise Unsupported("%s signs t=%s x=%s for --expire-after %d"
                          % (peer, t.get("t"), t.get("x"), spec["expire"]))


def cmd_sign(args):
    canon = args.canon.lower() if "/" in args.canon else args.canon.lower() + "/simple"
    if not re.fullmatch(r"(simple|relaxed)/(simple|relaxed)", canon):
        raise SystemExit("error: --canon must be simple|relaxed[/simple|relaxed]")
    require_installed([args.peer])
    for path in (args.key, args.input):
        if not os.path.isfile(path):
            raise SystemExit("error: no such file: %s" % path)
    headers = None
    if args.headers is not None:
        headers = [h.strip().lower() for h in args.headers.split(":") if h.strip()]
    tmp = tempfile.mkdtemp(prefix="waxseal-peers-")
    try:
        with open(args.input, "rb") as fh:
            msg = crlf(fh.read())
        spec = {"in": os.path.join(tmp, "in.eml"), "key": os.path.abspath(args.key),
                "domain": args.domain, "selector": args.selector, "algorithm": args.algorithm,
                "canon": canon, "headers": headers, "length": args.length,
                "expire": args.expire_after, "timestamp": args.timestamp, "force": args.force,
                "identity": args.identity}
        with open(spec["in"], "wb") as fh:
            fh.write(msg)
        if args.algorithm.startswith("ed25519"):  # every peer takes a PKCS#8 v1 PEM
            spec["key"] = os.path.join(tmp, "ed25519.pem")
            with open(spec["key"], "w") as fh:
                fh.write(ed25519_pkcs8(args.key))
        if args.peer == "opendkim":
            hdr = sign_opendkim(spec, tmp)
        else:
            with open(os.path.join(tmp, "spec.json"), "w") as fh:
                json.dump(spec, fh)
            p = run(driver_cmd(args.peer) + ["sign", os.path.join(tmp, "spec.json")])
            if p.returncode == UNSUPPORTED:
                raise Unsupported(last_line(p.stderr).replace("unsupported: ", "", 1))
            if p.returncode != 0 or not p.stdout.strip():
                raise SystemExit("error: %s could not sign: %s" % (args.peer, last_line(p.stderr)))
            hdr = p.stdout
        hdr = crlf(hdr.strip(b"\r\n")) + b"\r\n"
        check_signature(hdr, spec, args.peer)
    except Unsupported as e:
        print("unsupported: %s" % e, file=sys.stderr)
        return UNSUPPORTED
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with open(args.output, "wb") as fh:
        fh.write(hdr + msg)
    return 0


# ---------------------------------------------------------------- versions

def cmd_versions(_args):
    def one(peer):
        try:
            if peer == "opendkim":
                p = run([OPENDKIM, "-V"])
                v = re.search(rb"OpenDKIM Filter v(\S+)", p.stdout + p.stderr)
                return "OpenDKIM %s" % v.group(1).decode() if v else None
            p = run(driver_cmd(peer) + ["version"])
            return p.stdout.decode().strip() if p.returncode == 0 and p.stdout.strip() else None
        except (OSError, subprocess.TimeoutExpired):
            return None

    with ThreadPoolExecutor(len(PEERS)) as ex:
        versions = list(ex.map(one, PEERS))
    for peer, v in zip(PEERS, versions):
        print(v or "%s: not installed (run setup.sh)" % peer)
    return 0 if all(versions) else 1


def main(argv):
    ap = argparse.ArgumentParser(prog="peers.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("verify", help="verify messages with all four peers (JSON lines)")
    v.add_argument("--policy", choices=("strict", "lax"), default="strict",
                   help="strict: RFC 8301 (rsa-sha1 and RSA < 1024 bits fail); lax accepts them")
    v.add_argument("--keys", required=True, help="folder of <selector>._domainkey.<domain>.txt")
    v.add_argument("messages", nargs="+", metavar="MSG")
    s = sub.add_parser("sign", help="sign IN with one peer into OUT (exit 3: unsupported)")
    s.add_argument("--peer", required=True, choices=PEERS)
    s.add_argument("--key", required=True, help="PEM private key (PKCS#1/PKCS#8; Ed25519: PKCS#8)")
    s.add_argument("--domain", required=True)
    s.add_argument("--selector", required=True)
    s.add_argument("--algorithm", default="rsa-sha256", choices=("rsa-sha256", "rsa-sha1", "ed25519-sha256"))
    s.add_argument("--canon", default="relaxed/relaxed")
    s.add_argument("--headers", help="h= field names, colon-separated (repeat a name to oversign)")
    s.add_argument("--length", action="store_true", help="add l= (the whole body)")
    s.add_argument("--expire-after", type=int, metavar="SECONDS", help="add x= = t= + SECONDS")
    s.add_argument("--timestamp", type=int, metavar="T", help="t= (default: now)")
    s.add_argument("--identity", metavar="I", help="i= (default: none)")
    s.add_argument("--force", action="store_true",
                   help="sign even where the peer is known to make broken signatures")
    s.add_argument("input", metavar="IN")
    s.add_argument("output", metavar="OUT")
    sub.add_parser("versions", help="print the four peers' versions")
    args = ap.parse_args(argv)
    return {"verify": cmd_verify, "sign": cmd_sign, "versions": cmd_versions}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
