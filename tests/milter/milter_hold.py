#!/usr/bin/env python3
"""The milter's memory with many messages in their body stage at once.

Speaks the milter protocol to `waxseal milter` directly, as Postfix's
cleanup does (version 6, the SASL login at MAIL, headers with their leading
space, the body in packets of up to 64 KiB), and opens SESSIONS sessions
that each stop in the middle of a signed message's body, BODY bytes in.
Prints the milter's memory (resident and proportional set size) before
and with them all held, and per message; then drops every connection at once (as an MTA that dies would)
and checks that the milter still signs the next message.

A message over 256 KiB holds a sandbox instance while its body arrives
(a smaller one is signed in one call at the end): under load an MTA may
have hundreds in that stage, and this is what each one costs.

Usage: milter_hold.py (--port N | --unix PATH) --pid PID [--sessions N]
       [--body BYTES] [--signatures N (the DKIM-Signature fields the next
       message must get; default 2)] [--max-kb N (fail when the proportional
       memory per message held is more)]
"""
import argparse
import socket
import struct
import sys
import time

NR = {"conn": 0x1000, "mail": 0x4000, "hdr": 0x80, "body": 0x80000}
FINAL = set(b"cartyd")  # continue, accept, reject, tempfail, reply code, discard


def pkt(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        c = s.recv(n - len(out))
        if not c:
            raise ConnectionError("the milter closed the connection")
        out += c
    return out


def recv_pkt(s):
    (n,) = struct.unpack(">I", recv_exact(s, 4))
    return recv_exact(s, n)


class Session:
    def __init__(self, addr):
        fam = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
        self.s = socket.socket(fam, socket.SOCK_STREAM)
        self.s.connect(addr)
        # version 6; add and change headers; offer every protocol flag
        self.s.sendall(pkt(b"O", struct.pack(">III", 6, 0x1FF, 0x3FFFFFFF)))
        r = recv_pkt(self.s)
        if r[:1] != b"O":
            raise ConnectionError(f"option negotiation answered {r[:1]!r}")
        (self.proto,) = struct.unpack(">I", r[9:13])

    def step(self, data, nr):
        """Sends a packet; reads its reply unless the milter asked for none."""
        self.s.sendall(data)
        if not self.proto & NR[nr]:
            r = recv_pkt(self.s)
            if r[:1] != b"c":
                raise ConnectionError(f"answered {r[:1]!r}, not continue")

    def start(self, body, n):
        """A signed message up to `body` bytes into its body."""
        self.s.sendall(pkt(b"D", b"C" + b"j\0mx.waxseal.test\0"))
        self.step(pkt(b"C", b"localhost\x004" + struct.pack(">H", 40000) + b"127.0.0.1\0"), "conn")
        self.s.sendall(pkt(b"D", b"M" + b"i\0HOLD%d\0{auth_type}\0PLAIN\0{auth_authen}\0alice@example.com\0" % n))
        self.step(pkt(b"M", b"<alice@example.com>\0"), "mail")
        for name, value in [
            (b"From", b" Alice <alice@example.com>"),
            (b"To", b" bob@example.org"),
            (b"Subject", b" held mid-body %d" % n),
            (b"Date", b" Sun, 06 Dec 2026 10:00:00 +0000"),
            (b"Message-ID", b" <hold%d@example.com>" % n),
        ]:
            self.step(pkt(b"L", name + b"\0" + value + b"\0"), "hdr")
        self.s.sendall(pkt(b"N"))
        r = recv_pkt(self.s)
        if r[:1] != b"c":
            raise ConnectionError(f"end of headers answered {r[:1]!r}: the message is not signed")
        line = b"x" * 74 + b"\r\n"
        chunk = line * (65535 // len(line))
        sent = 0
        while sent < body:
            self.step(pkt(b"B", chunk), "body")
            sent += len(chunk)

    def finish(self):
        """Ends the message; returns the names of the headers added."""
        self.s.sendall(pkt(b"E"))
        added = []
        while True:
            r = recv_pkt(self.s)
            if r[:1] in (b"h", b"i"):
                off = 5 if r[:1] == b"i" else 1
                added.append(r[off:].split(b"\0")[0].decode())
            elif r[0] in FINAL:
                return added, r[:1]


def memory_kb(pid):
    """Resident and proportional set size (Pss counts a page shared by n
    mappings as 1/n: every sandbox instance maps the component's memory
    image, whose unwritten pages are one copy however many there are)."""
    found = {}
    for line in open(f"/proc/{pid}/smaps_rollup"):
        k, _, v = line.partition(":")
        if k in ("Rss", "Pss"):
            found[k] = int(v.split()[0])
    return found["Rss"], found["Pss"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int)
    ap.add_argument("--unix")
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--body", type=int, default=300_000)
    ap.add_argument("--signatures", type=int, default=2)
    ap.add_argument("--max-kb", type=float)
    a = ap.parse_args()
    addr = a.unix if a.unix else ("127.0.0.1", a.port)
    before = memory_kb(a.pid)
    held = []
    for n in range(a.sessions):
        s = Session(addr)
        s.start(a.body, n)
        held.append(s)
    time.sleep(1)  # the last packets handled
    during = memory_kb(a.pid)
    for s in held:
        s.s.close()
    time.sleep(1)
    after = memory_kb(a.pid)
    s = Session(addr)
    s.start(a.body, a.sessions)
    added, final = s.finish()
    s.s.close()
    ok = final == b"c" and added.count("DKIM-Signature") == a.signatures
    mb = lambda kb: f"{kb / 1024:.1f} MB"
    per = lambda i: f"{(during[i] - before[i]) / a.sessions:.0f} KB"
    print(
        f"  milter memory with {a.sessions} messages held mid-body ({a.body} bytes each): "
        f"resident {mb(during[0])} ({mb(before[0])} before, {per(0)} a message), "
        f"proportional {mb(during[1])} ({mb(before[1])} before, {per(1)} a message); "
        f"after they were dropped {mb(after[0])} resident; the next message "
        f"{f'signed ({a.signatures} signature' + 's' * (a.signatures != 1) + ')' if ok else f'NOT signed: {added} {final!r}'}"
    )
    per_message = (during[1] - before[1]) / a.sessions
    if a.max_kb is not None and per_message > a.max_kb:
        print(f"  FAILED: {per_message:.0f} KB a message held, more than {a.max_kb:.0f}")
        ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
