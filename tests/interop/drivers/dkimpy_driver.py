"""dkimpy peer driver; run by peers.py with the state dir's venv python.

  dkimpy_driver.py verify KEYS.json strict|lax MSG...  -> one JSON line per message
  dkimpy_driver.py sign SPEC.json                      -> the DKIM-Signature field on stdout
  dkimpy_driver.py version
Keys come from KEYS.json ({"name": "TXT value" | null}) through dkimpy's dnsfunc hook.
"""
import base64
import json
import logging
import re
import sys
import time
from importlib.metadata import version

import dkim
from dkim.util import parse_tag_value


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.errors = []

    def emit(self, record):
        if record.levelno >= logging.ERROR:
            self.errors.append(record.getMessage())


def tags(value):
    try:
        t = parse_tag_value(value)
    except Exception:
        return {}
    return {k.decode(): re.sub(rb"\s+", b"", v).decode("utf-8", "replace") for k, v in t.items()}


def verify(keys_path, policy, files):
    with open(keys_path, encoding="utf-8") as fh:
        records = json.load(fh)

    def dnsfunc(name, timeout=5):
        name = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        value = records.get(name.lower().rstrip("."))
        return None if value is None else value.encode("utf-8")

    log = logging.getLogger("dkimpy-peer")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    for path in files:
        out = {"file": path, "sigs": [], "error": None}
        try:
            with open(path, "rb") as fh:
                d = dkim.DKIM(fh.read(), logger=log, minkey=1024 if policy == "strict" else 0)
            values = [v for k, v in d.headers if k.lower() == b"dkim-signature"]
            for idx, value in enumerate(values):
                t = tags(value)
                handler = Collect()
                log.handlers = [handler]
                detail = ""
                try:
                    ok = bool(d.verify(idx=idx, dnsfunc=dnsfunc))
                except Exception as e:  # DKIMException, or a dkimpy bug: a fail, not a crash
                    ok, detail = False, "%s: %s" % (type(e).__name__, e)
                if not ok and not detail:
                    detail = handler.errors[-1] if handler.errors else "signature did not verify"
                out["sigs"].append({"d": t.get("d", ""), "s": t.get("s", ""), "a": t.get("a", ""),
                                    "b": t.get("b", ""), "result": "pass" if ok else "fail",
                                    "detail": detail})
        except Exception as e:
            out["error"] = "%s: %s" % (type(e).__name__, e)
        print(json.dumps(out), flush=True)


def sign(spec_path):
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    if spec["expire"] is not None:
        print("unsupported: dkimpy's sign API has no x= (expiration)", file=sys.stderr)
        return 3
    with open(spec["in"], "rb") as fh:
        msg = fh.read()
    with open(spec["key"], "rb") as fh:
        key = fh.read()
    if spec["algorithm"].startswith("ed25519"):
        # dkimpy wants the base64 32-byte seed: the last 32 bytes of the PKCS#8 DER
        der = base64.b64decode(b"".join(l for l in key.splitlines() if l and not l.startswith(b"-----")))
        key = base64.b64encode(der[-32:])
    if spec["timestamp"] is not None:
        dkim.time.time = lambda: float(spec["timestamp"])  # dkimpy takes t= from time.time()
    hdr, body = spec["canon"].split("/")
    headers = spec["headers"]
    try:
        sig = dkim.sign(msg, spec["selector"].encode(), spec["domain"].encode(), key,
                        canonicalize=(hdr.encode(), body.encode()),
                        signature_algorithm=spec["algorithm"].encode(),
                        include_headers=None if headers is None else [h.encode() for h in headers],
                        length=spec["length"], linesep=b"\r\n",
                        identity=spec["identity"].encode() if spec.get("identity") else None)
    except dkim.ParameterError as e:  # e.g. h= without From: dkimpy refuses to sign
        print("unsupported: dkimpy: %s" % e, file=sys.stderr)
        return 3
    sys.stdout.buffer.write(sig)
    return 0


def main(argv):
    if argv[:1] == ["verify"]:
        return verify(argv[1], argv[2], argv[3:]) or 0
    if argv[:1] == ["sign"]:
        return sign(argv[1])
    if argv[:1] == ["version"]:
        print("dkimpy %s" % version("dkimpy"))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
