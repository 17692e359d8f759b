"""dkimpy as a contender of the cross-peer benchmark (run.py).

  python3 dkimpy_worker.py KEYDIR     (the venv of tests/interop/setup.sh)

Speaks the workers' line protocol on stdin/stdout (README.md). Keys come
from KEYDIR (rsa.pem, ed.pem, records.json); records reach dkimpy through
its dnsfunc hook, no DNS is used.
"""
import base64
import json
import os
import sys
import time

import dkim

HEADERS = [b"From", b"To", b"Subject", b"Date", b"Message-ID"]


def main(keydir):
    with open(os.path.join(keydir, "records.json"), encoding="utf-8") as fh:
        records = json.load(fh)

    def dnsfunc(name, timeout=5):
        name = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        value = records.get(name.lower().rstrip("."))
        return None if value is None else value.encode("utf-8")

    keys = {}
    with open(os.path.join(keydir, "rsa.pem"), "rb") as fh:
        keys["rsa"] = fh.read()
    with open(os.path.join(keydir, "ed.pem"), "rb") as fh:
        # dkimpy wants the base64 32-byte seed: the last 32 bytes of the PKCS#8 DER
        der = base64.b64decode(b"".join(l for l in fh.read().splitlines() if not l.startswith(b"-----")))
        keys["ed"] = base64.b64encode(der[-32:])
    algs = {"rsa": b"rsa-sha256", "ed": b"ed25519-sha256"}
    files = {}

    def load(path):
        if path not in files:
            with open(path, "rb") as fh:
                files[path] = fh.read()
        return files[path]

    def sign(alg, msg):
        if alg == "dual":  # one key per call in dkimpy's API
            return sign("rsa", msg) + sign("ed", msg)
        return dkim.sign(msg, alg.encode(), b"example.com", keys[alg],
                         canonicalize=(b"relaxed", b"relaxed"), signature_algorithm=algs[alg],
                         include_headers=HEADERS, linesep=b"\r\n")

    def verify(msg):
        d = dkim.DKIM(msg)
        n = sum(1 for k, _ in d.headers if k.lower() == b"dkim-signature")
        if n == 0:
            raise ValueError("no signature")
        for idx in range(n):
            if not d.verify(idx=idx, dnsfunc=dnsfunc):
                raise ValueError("signature %d did not verify" % idx)

    for line in sys.stdin:
        w = line.split()
        try:
            if w == ["quit"]:
                break
            if len(w) == 4 and w[0] == "sign":
                msg, n = load(w[2]), int(w[3])
                start = time.perf_counter()
                for _ in range(n):
                    sign(w[1], msg)
                reply = "%.9f" % (time.perf_counter() - start)
            elif len(w) == 4 and w[0] == "signout":
                msg = load(w[2])
                with open(w[3], "wb") as fh:
                    fh.write(sign(w[1], msg) + msg)
                reply = "0"
            elif len(w) == 3 and w[0] == "verify":
                msg, n = load(w[1]), int(w[2])
                start = time.perf_counter()
                for _ in range(n):
                    verify(msg)
                reply = "%.9f" % (time.perf_counter() - start)
            else:
                raise ValueError("unknown command: %s" % line.strip())
            print("ok " + reply, flush=True)
        except Exception as e:  # a contender's failure is reported, not fatal
            print(("err %s: %s" % (type(e).__name__, e)).replace("\n", " "), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
