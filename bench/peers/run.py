#!/usr/bin/env python3
"""The cross-peer benchmark: every DKIM implementation on the same messages,
interleaved in one run, medians and ratios printed as the README's tables.

  bench/peers/run.py [--rounds R] [--seconds S] [--sizes 2k,100k,10m] [--smoke]

Run by scripts/bench.sh after bench/peers/setup.sh (which installs or builds
every contender); the test command runs `--smoke` (one short round: every
contender signs, verifies and cross-checks, no figure is kept).

Each contender is a worker process speaking a line protocol on stdin
(README.md next to this file); the time of each batch of operations is taken
inside the worker, so process start-up and the pipe are not counted. Every
case (size x algorithm x operation) runs R rounds; in each round every
contender runs a batch of about S seconds right next to a batch of waxseal
native (before it, then after it, alternately; the contenders in reverse
order every other round), so that each ratio compares batches a fraction of
a second apart: the speed of a shared machine drifts over seconds. A rate is
the median batch; a ratio is the median over rounds of the ratios of the
two contenders' rates to native's next to each.

Before timing, every contender's signature is verified by waxseal and by
mail-auth, and every contender verifies waxseal's: a contender that fails
a check is reported with its error and left out of that case.

Then each contender's peak memory (VmHWM) in fresh worker processes: one
Ed25519 signing, or one verification, of a 2 KB message and of a large one
(--memory-mb, 100 by default; 4 in a smoke run).
"""
import argparse
import datetime
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
STATE = os.environ.get("WAXSEAL_PEERS_HOME", os.path.expanduser("~/.cache/waxseal-peers"))
SIZES = {"2k": 2048, "100k": 100 * 1024, "10m": 10 << 20}


class Worker:
    """One contender's process."""

    def __init__(self, name, argv, env=None):
        self.name, self.argv, self.dead = name, argv, None
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env)

    def ask(self, line):
        """Sends a command; its answer: (True, seconds) or (False, error)."""
        if self.dead:
            return False, self.dead
        try:
            self.p.stdin.write(line + "\n")
            self.p.stdin.flush()
            answer = self.p.stdout.readline()
        except OSError as e:
            answer = ""
            self.dead = "worker: %s" % e
        if not answer:
            err = self.p.stderr.read() if self.p.poll() is not None else ""
            self.dead = self.dead or "worker exited: %s" % (err.strip().splitlines() or ["?"])[-1]
            return False, self.dead
        word, _, rest = answer.strip().partition(" ")
        return (True, float(rest)) if word == "ok" else (False, rest)

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write("quit\n")
                self.p.stdin.close()
                self.p.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.p.kill()


def message(size, seed=1):
    """A message of about `size` bytes: a text part and, past 4 KB, a base64
    attachment of random bytes (what large mail is made of)."""
    head = (b"From: Joe <joe@example.com>\r\nTo: Suzie <suzie@example.net>\r\n"
            b"Subject: benchmark\r\nDate: Fri, 11 Jul 2003 21:00:37 -0700\r\n"
            b"Message-ID: <1@example.com>\r\nMIME-Version: 1.0\r\n")
    line = b"The quick brown fox jumps over the lazy dog, and then  again and again.\r\n"
    if size <= 4096:
        body = bytearray()
        while len(head) + 2 + len(body) < size:
            body += line
        return head + b"\r\n" + bytes(body)
    import base64
    rnd = random.Random(seed)
    text = line * 20
    head += b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    part = (b"--b1\r\nContent-Type: text/plain\r\n\r\n" + text +
            b"--b1\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n")
    rest = size - len(head) - len(part) - 10
    raw = rnd.randbytes(rest * 57 // 78)
    b64 = base64.b64encode(raw)
    att = b"".join(b64[i:i + 76] + b"\r\n" for i in range(0, len(b64), 76))
    return head + part + att + b"--b1--\r\n"


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def contenders(args, keydir):
    bench = args.bench_bin
    node_worker = os.path.join(HERE, "node_worker.mjs")
    perl5 = os.path.join(STATE, "perl5")
    env = dict(os.environ)
    return [
        ("waxseal native", [bench, "--worker", "native"], "waxseal"),
        ("waxseal sandbox", [bench, "--worker", "wasm"], "waxseal"),
        ("waxseal npm, Node", ["node", node_worker, "waxseal", keydir, args.pkg], "waxseal"),
        ("mail-auth", [bench, "--worker", "mail-auth"], "peer"),
        ("mailauth, Node", ["node", node_worker, "mailauth", keydir], "peer"),
        ("dkimpy", [os.path.join(STATE, "venv/bin/python3"),
                    os.path.join(HERE, "dkimpy_worker.py"), keydir], "peer"),
        ("Mail::DKIM", ["perl", "-I", perl5, os.path.join(HERE, "maildkim_worker.pl"), keydir], "peer"),
        ("OpenDKIM", [args.opendkim_worker, keydir], "peer"),
        ("limit", [bench, "--worker", "limit"], "limit"),
    ], env


def versions(args):
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
        except OSError:
            return "?"
    with open(os.path.join(STATE, "node_modules/mailauth/package.json")) as fh:
        mailauth = json.load(fh)["version"]
    return {
        "mail-auth": "0.13.0 (Rust, aws-lc-rs; Stalwart)",
        "mailauth, Node": "%s (Node %s)" % (mailauth, out(["node", "--version"]).lstrip("v")),
        "dkimpy": out([os.path.join(STATE, "venv/bin/python3"), "-c",
                       "from importlib.metadata import version; import platform; "
                       "print(version('dkimpy'), '(Python %s)' % platform.python_version())"]),
        "Mail::DKIM": out(["perl", "-I", os.path.join(STATE, "perl5"), "-MMail::DKIM", "-e",
                           "print qq($Mail::DKIM::VERSION (Perl $^V))"]),
        "OpenDKIM": "libopendkim %s (Debian)" % out(["dpkg-query", "-W", "-f=${Version}", "libopendkim11"]),
        "limit": "raw AWS-LC: SHA-256 of the whole message + one RSA-2048 or Ed25519 operation",
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--seconds", type=float, default=0.05, help="per batch")
    ap.add_argument("--sizes", default="2k,100k,10m")
    ap.add_argument("--smoke", action="store_true", help="one short round, no figures kept")
    ap.add_argument("--bench-bin", default=os.path.join(REPO, "target/release/waxseal-bench"))
    ap.add_argument("--opendkim-worker", default=os.path.join(REPO, "target/bench-peers/opendkim_worker"))
    ap.add_argument("--pkg", default=os.path.join(REPO, "wasm/pkg"))
    ap.add_argument("--memory-mb", type=int, default=100,
                    help="the large message of the peak-memory measure (0: none)")
    args = ap.parse_args()
    if args.smoke:
        args.rounds, args.seconds = 1, 0.01
        args.memory_mb = min(args.memory_mb, 4)
    sizes = [s for s in args.sizes.split(",") if s]
    for s in sizes:
        if s not in SIZES:
            ap.error("unknown size %s (2k, 100k, 10m)" % s)

    tmp = tempfile.mkdtemp(prefix="waxseal-peers-")
    try:
        return run(args, sizes, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args, sizes, tmp):
    keydir = os.path.join(tmp, "keys")
    subprocess.run([args.bench_bin, "--peer-setup", keydir], check=True)
    table, env = contenders(args, keydir)
    workers = [Worker(name, argv, env) for name, argv, _ in table]
    kinds = {name: kind for name, _, kind in table}
    native = workers[0]
    checker = workers[3]  # mail-auth checks too: not only waxseal judges waxseal
    failures = []
    try:
        # the messages, and waxseal's signed copies every contender verifies
        files = {}
        for s in sizes:
            path = os.path.join(tmp, "%s.eml" % s)
            with open(path, "wb") as fh:
                fh.write(message(SIZES[s]))
            files[s] = path
            for alg in ("rsa", "ed"):
                out = os.path.join(tmp, "%s-%s.signed" % (s, alg))
                ok, err = native.ask("signout %s %s %s" % (alg, path, out))
                if not ok:
                    raise SystemExit("waxseal could not sign the %s message: %s" % (s, err))
            # both signatures on one message: RSA above Ed25519
            ok, err = native.ask("signout rsa %s %s" % (os.path.join(tmp, "%s-ed.signed" % s),
                                                       os.path.join(tmp, "%s-dual.signed" % s)))
            if not ok:
                raise SystemExit("waxseal could not sign twice: %s" % err)

        # cross-checks: each contender's signatures (2 KB; both signatures of
        # `dual`) verified by waxseal and by mail-auth; each verifies
        # waxseal's (done at calibration)
        broken = {}
        first = files[sizes[0]]
        for w in workers:
            if kinds[w.name] == "limit":
                continue
            for alg in ("rsa", "ed", "dual"):
                out = os.path.join(tmp, "check-%d-%s.eml" % (workers.index(w), alg))
                ok, err = w.ask("signout %s %s %s" % (alg, first, out))
                for judge in (native, checker):
                    if ok:
                        ok, err = judge.ask("verify %s 1" % out)
                        err = err if ok else "%s's signature fails in %s: %s" % (w.name, judge.name, err)
                if not ok:
                    broken[(w.name, "sign", alg)] = err
                    failures.append("%s, sign %s: %s" % (w.name, alg, err))

        # RSA-2048, Ed25519 and both on one message (dual signing, the
        # milter's default); 10 MB with Ed25519 only: the hashing is the cost
        cases = []
        for s in sizes:
            algs = ("rsa", "ed", "dual") if s != "10m" else ("ed",)
            for op in ("sign", "verify"):
                for alg in algs:
                    cases.append((s, op, alg))

        results = {}
        started = time.time()
        for case in cases:
            results[case] = race(case, workers, kinds, files, tmp, args, broken, failures)
        elapsed = time.time() - started
    finally:
        for w in workers:
            w.close()
    memory = peak_memory(args, table, env, tmp, failures) if args.memory_mb else None

    report(args, sizes, cases, results, [w.name for w in workers], kinds, failures, elapsed)
    if memory:
        report_memory(args, memory)
    if args.smoke:
        # every contender must have worked on every case it takes part in
        missing = [(c, n) for c, r in results.items() for n in r["rates"] if r["rates"][n] is None
                   and not (kinds[n] == "limit" and c[2] == "dual")]
        missing += [("memory %s" % op, n) for n, m in (memory or {}).items()
                    for op in ("sign", "verify") if m.get(op) is None]
        if missing or failures:
            print("smoke: FAILED: %s" % "; ".join(failures or ["%s: %s" % m for m in missing]))
            return 1
        print("smoke: ok: every contender signed, verified and passed the cross-checks")
    return 0


def race(case, workers, kinds, files, tmp, args, broken, failures):
    """One case: calibrates each contender's batch, then the rounds."""
    size, op, alg = case
    cmd = {}
    for w in workers:
        if (w.name, op, alg) in broken or (kinds[w.name] == "limit" and alg == "dual"):
            continue
        if op == "sign":
            cmd[w.name] = "sign %s %s %%d" % (alg, files[size])
        elif kinds[w.name] == "limit":
            # the limit verifies what it signed itself
            out = os.path.join(tmp, "%s-%s.limit" % (size, alg))
            ok, err = w.ask("signout %s %s %s" % (alg, files[size], out))
            if ok:
                cmd[w.name] = "verify %s %%d" % out
        else:
            cmd[w.name] = "verify %s %%d" % os.path.join(tmp, "%s-%s.signed" % (size, alg))
    # calibration: a warm-up operation, then a batch of about 20 ms
    batch = {}
    for w in workers:
        if w.name not in cmd:
            continue
        ok, t = w.ask(cmd[w.name] % 1)
        n = 1
        while ok and t < 0.02 and n < 1 << 24:
            n = max(n * 2, int(n * 0.025 / max(t, 1e-7)))
            ok, t = w.ask(cmd[w.name] % n)
        if not ok:
            failures.append("%s, %s %s %s: %s" % (w.name, op, size, alg, t))
            continue
        batch[w.name] = max(1, round(n * args.seconds / t))
    # the rounds: waxseal native runs next to each contender in turn (before
    # it, then after it, alternately), so that each ratio compares batches
    # a fraction of a second apart; the machine's speed drifts over seconds
    ref = workers[0]
    if ref.name not in batch:
        return {"rates": {w.name: None for w in workers}, "ratio": lambda a, b: None}
    rates = {name: [] for name in batch}
    rel = {name: [] for name in batch}  # per round: rate / native's next to it
    others = [w for w in workers[1:] if w.name in batch]
    dead = set()
    for r in range(args.rounds):
        ref_rates = []
        for w in (others if r % 2 == 0 else others[::-1]):
            if w.name in dead:
                continue
            # native first in every other round for each contender: which
            # of a pair runs first is measured to matter here
            pair = (ref, w) if (r + others.index(w)) % 2 == 0 else (w, ref)
            got = {}
            for x in pair:
                ok, t = x.ask(cmd[x.name] % batch[x.name])
                if not ok:
                    failures.append("%s, %s %s %s: %s" % (x.name, op, size, alg, t))
                    break
                got[x.name] = batch[x.name] / t
            if len(got) < 2:
                dead.add(w.name)
                continue
            rates[w.name].append(got[w.name])
            ref_rates.append(got[ref.name])
            rel[w.name].append((r, got[w.name] / got[ref.name]))
        rates[ref.name] += ref_rates
    if ref.name in dead or not rates[ref.name]:
        return {"rates": {w.name: None for w in workers}, "ratio": lambda a, b: None}
    medians = {w.name: (median(rates[w.name]) if rates.get(w.name) and w.name not in dead else None)
               for w in workers}

    def ratio(a, b):
        """a's rate over b's: the median over rounds of their rates relative
        to waxseal native's next to each."""
        if medians.get(a) is None or medians.get(b) is None:
            return None
        ra = dict(rel[a]) if a != ref.name else None
        rb = dict(rel[b]) if b != ref.name else None
        rounds = [r for r in range(args.rounds)
                  if (ra is None or r in ra) and (rb is None or r in rb)]
        if not rounds:
            return None
        return median([(1.0 if ra is None else ra[r]) / (1.0 if rb is None else rb[r])
                       for r in rounds])
    return {"rates": medians, "ratio": ratio}


def vm_hwm_kb(pid):
    """A process's peak resident memory (VmHWM), in KiB."""
    with open("/proc/%d/status" % pid) as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM for %d" % pid)


def peak_memory(args, table, env, tmp, failures):
    """Each contender's peak resident memory, in a fresh process each time,
    after one Ed25519 signing (and one verification) of the 2 KB message
    and of a large one: what a message's size costs. The worker holds the
    message it was given in memory, as every library here takes it."""
    big = os.path.join(tmp, "memory.eml")
    with open(big, "wb") as fh:
        fh.write(message(args.memory_mb << 20, seed=2))
    small = os.path.join(tmp, "memory-2k.eml")
    with open(small, "wb") as fh:
        fh.write(message(2048))
    files = {"small": small, "big": big}
    native = Worker("waxseal native", table[0][1], env)
    try:
        for k, path in list(files.items()):
            ok, err = native.ask("signout ed %s %s.signed" % (path, path))
            if not ok:
                raise SystemExit("waxseal could not sign the %s message: %s" % (k, err))
    finally:
        native.close()
    out = {}
    for name, argv, kind in table:
        if kind == "limit":
            continue
        out[name] = {}
        for op in ("sign", "verify"):
            kb = {}
            for k, path in files.items():
                w = Worker(name, argv, env)
                try:
                    cmd = "sign ed %s 1" % path if op == "sign" else "verify %s.signed 1" % path
                    ok, err = w.ask(cmd)
                    if ok:
                        kb[k] = vm_hwm_kb(w.p.pid)
                    else:
                        failures.append("%s, memory %s %s: %s" % (name, op, k, err))
                finally:
                    w.close()
            out[name][op] = (kb["small"], kb["big"]) if len(kb) == 2 else None
    return out


def report_memory(args, memory):
    mb = lambda kb: "%.1f MB" % (kb / 1024)
    print("\nPeak resident memory of each contender's worker process (a fresh one each "
          "time; the worker holds the message it is given), after one Ed25519 signing or "
          "verification of a 2 KB message and of a %d MB one; the difference is what "
          "the large message cost beyond its own copy in the worker:\n" % args.memory_mb)
    print("| contender | sign 2 KB | sign %d MB | difference | verify 2 KB | verify %d MB | difference |"
          % (args.memory_mb, args.memory_mb))
    print("|---|---|---|---|---|---|---|")
    for name, m in memory.items():
        row = [name]
        for op in ("sign", "verify"):
            if m.get(op) is None:
                row += ["-", "-", "-"]
                continue
            small, big = m[op]
            row += [mb(small), mb(big), "%+.1f MB" % ((big - small) / 1024 - args.memory_mb)]
        print("| " + " | ".join(row) + " |")


def report(args, sizes, cases, results, names, kinds, failures, elapsed):
    v = versions(args)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print("## DKIM implementations side by side (bench/peers/run.py)\n")
    print("%s, %s, %d cores (%s, Linux %s); %d rounds of about %.2f s per contender and case, "
          "interleaved; %.0f s in all." % (
              datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip() or "?",
              os.cpu_count(), cpu, platform.release(), args.rounds, args.seconds, elapsed))
    print("Every contender signs From, To, Subject, Date and Message-ID, relaxed/relaxed; "
          "verification is of waxseal's signature with the key record in memory (each "
          "contender's own resolver hook, no DNS).\n")
    label = {"sign": "sign", "verify": "verify"}
    algname = {"rsa": "RSA-2048", "ed": "Ed25519", "dual": "RSA + Ed25519"}

    def unit(case):
        return "MB/s" if case[0] == "10m" else "msg/s"

    def fmt(x, case):
        if x is None:
            return "-"
        if unit(case) == "MB/s":
            return "%.0f MB/s" % (x * SIZES[case[0]] / (1 << 20))
        return "%.0f" % x if x >= 10 else "%.1f" % x

    header = ["case"] + names
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for c in cases:
        row = ["%s %s, %s" % (label[c[1]], c[0].upper().replace("K", " KB").replace("M", " MB"),
                              algname[c[2]])]
        row += [fmt(results[c]["rates"][n], c) for n in names]
        print("| " + " | ".join(row) + " |")
    print("\nRates are messages per second (MB/s for 10 MB). waxseal native's rate over each "
          "contender's (median of the per-round ratios):\n")
    others = names[1:]
    print("| case | " + " | ".join(others) + " |")
    print("|" + "---|" * (len(others) + 1))
    for c in cases:
        row = ["%s %s, %s" % (label[c[1]], c[0].upper().replace("K", " KB").replace("M", " MB"),
                              algname[c[2]])]
        for n in others:
            r = results[c]["ratio"](names[0], n)
            row.append("-" if r is None else "%.2fx" % r)
        print("| " + " | ".join(row) + " |")

    print("\nThe targets (issue 16), from the same rounds:\n")
    targets = []

    def target(text, case, a, b, goal):
        if case not in results:
            return
        r = results[case]["ratio"](a, b)
        verdict = "-" if r is None else ("met" if r >= goal else "NOT met")
        targets.append("- %s: %s (target >= %.2f): %s" % (
            text, "-" if r is None else "%.2fx" % r, goal, verdict))
    target("sign 2 KB RSA-2048, waxseal native / raw AWS-LC", ("2k", "sign", "rsa"), "waxseal native", "limit", 0.95)
    target("sign 2 KB RSA-2048, sandbox / native", ("2k", "sign", "rsa"), "waxseal sandbox", "waxseal native", 0.9)
    target("sign 2 KB Ed25519, native / mail-auth", ("2k", "sign", "ed"), "waxseal native", "mail-auth", 1.1)
    target("sign 2 KB Ed25519, sandbox / native", ("2k", "sign", "ed"), "waxseal sandbox", "waxseal native", 0.85)
    for alg, name in (("rsa", "RSA-2048"), ("ed", "Ed25519")):
        target("verify 2 KB %s, native / mail-auth" % name, ("2k", "verify", alg), "waxseal native", "mail-auth", 1.1)
        target("verify 2 KB %s, sandbox / native" % name, ("2k", "verify", alg), "waxseal sandbox", "waxseal native", 0.8)
    for op in ("sign", "verify"):
        target("%s 10 MB, native / raw SHA-256 (the limit)" % op, ("10m", op, "ed"), "waxseal native", "limit", 0.85)
        target("%s 10 MB, sandbox / native" % op, ("10m", op, "ed"), "waxseal sandbox", "waxseal native", 0.8)
    for alg, name in (("rsa", "RSA-2048"), ("ed", "Ed25519")):
        target("npm in Node, sign 2 KB %s (WebCrypto) / mailauth" % name, ("2k", "sign", alg), "waxseal npm, Node", "mailauth, Node", 3.0)
        target("npm in Node, verify 2 KB %s / mailauth" % name, ("2k", "verify", alg), "waxseal npm, Node", "mailauth, Node", 2.0)
    print("\n".join(targets))
    print("\nVersions: " + "; ".join("%s %s" % (k, x) for k, x in v.items()) + ".")
    if failures:
        print("\nFailures (left out of the tables):")
        for f in failures:
            print("- " + f)


if __name__ == "__main__":
    sys.exit(main())
