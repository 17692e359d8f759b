#!/usr/bin/env python3
"""SMTP load on loopback: many concurrent sessions submitting mail with
SASL AUTH, for tests/milter/load.sh.

    smtp_load.py --port P --user U --password W --sessions 200 --messages 1250 \
        --tag RUN [--big-mb 50] [--seed 1] > stats.json

Each session logs in once and sends its share of the messages (mixed sizes:
2 KB to 1 MB; with --big-mb, one more message of that size). Every message
has a unique Message-ID `<TAG.N@example.com>`. Prints one JSON object:
accepted count, wall time, start (epoch seconds), and the latency from
the end of DATA to the server's 250 (what a milter adds to), in
milliseconds, per message.
Standard library only.
"""
import argparse
import json
import random
import re
import smtplib
import socket
import threading
import time

LINE = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n"


def body(size):
    n = max(1, size // len(LINE))
    return LINE * n


def message(tag, n, size):
    head = (
        f"From: Alice <alice@example.com>\r\nTo: Bob <bob@other.org>\r\n"
        f"Subject: load {tag} {n}\r\nDate: Thu, 03 Dec 2026 08:00:00 +0000\r\n"
        f"Message-ID: <{tag}.{n}@example.com>\r\n\r\n"
    ).encode()
    return head + body(size)


def sizes(count, rng):
    """2 KB to 1 MB: mostly small, as mail is."""
    out = []
    for _ in range(count):
        r = rng.random()
        if r < 0.70:
            out.append(2 * 1024)
        elif r < 0.90:
            out.append(20 * 1024)
        elif r < 0.98:
            out.append(200 * 1024)
        else:
            out.append(1024 * 1024)
    return out


class Session(smtplib.SMTP):
    """smtplib with the time from the end of DATA to the 250 measured."""

    def connect(self, host="localhost", port=0, source_address=None):
        r = super().connect(host, port, source_address)
        # no Nagle: the final "." goes out at once (else it waits for the
        # peer's delayed ACK, 40 ms, and that is what would be measured)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return r

    def data_timed(self, msg):
        code, _ = self.docmd("DATA")
        if code != 354:
            raise smtplib.SMTPDataError(code, "DATA refused")
        # dot-stuffing (RFC 5321 4.5.2)
        q = re.sub(rb"(?m)^\.", b"..", msg)
        if not q.endswith(b"\r\n"):
            q += b"\r\n"
        self.send(q)
        t0 = time.perf_counter()
        self.send(b".\r\n")
        code, resp = self.getreply()
        return code, (time.perf_counter() - t0) * 1000.0


def worker(args, jobs, lock, results):
    s = Session("127.0.0.1", args.port, timeout=600)
    s.ehlo("load.waxseal.test")
    s.login(args.user, args.password)
    while True:
        with lock:
            if not jobs:
                break
            n, size = jobs.pop()
        msg = message(args.tag, n, size)
        for attempt in range(20):
            try:
                code, _ = s.mail(args.user)
                if code != 250:
                    raise smtplib.SMTPSenderRefused(code, b"", args.user)
                code, _ = s.rcpt("bob@other.org")
                if code != 250:
                    raise smtplib.SMTPRecipientsRefused({})
                code, ms = s.data_timed(msg)
                if code == 250:
                    with lock:
                        results["latency"].append(ms)
                        results["accepted"] += 1
                    break
                # a temporary failure: retry, as a client does
                s.rset()
                with lock:
                    results["retries"] += 1
                time.sleep(0.2)
            except (smtplib.SMTPException, OSError):
                with lock:
                    results["retries"] += 1
                time.sleep(0.2)
                try:
                    s.close()
                except OSError:
                    pass
                s = Session("127.0.0.1", args.port, timeout=600)
                s.ehlo("load.waxseal.test")
                s.login(args.user, args.password)
        else:
            with lock:
                results["failed"] += 1
    try:
        s.quit()
    except (smtplib.SMTPException, OSError):
        pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--sessions", type=int, default=200)
    p.add_argument("--messages", type=int, default=1250)
    p.add_argument("--tag", required=True)
    p.add_argument("--big-mb", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--size", type=int, default=0, help="every message this size (bytes)")
    args = p.parse_args()
    rng = random.Random(args.seed)
    if args.size:
        jobs = [(n, args.size) for n in range(args.messages)]
    else:
        jobs = list(enumerate(sizes(args.messages, rng)))
    if args.big_mb:
        jobs.append((args.messages, args.big_mb << 20))
    rng.shuffle(jobs)
    total_bytes = sum(s for _, s in jobs)
    lock = threading.Lock()
    results = {"accepted": 0, "failed": 0, "retries": 0, "latency": []}
    threads = [
        threading.Thread(target=worker, args=(args, jobs, lock, results))
        for _ in range(args.sessions)
    ]
    # the batch's start on the clock of file times (the sink's), for the
    # time to its last delivery
    start = time.time()
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    results.update(
        wall=wall, start=start, bytes=total_bytes, tag=args.tag, sent=len(results["latency"])
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
