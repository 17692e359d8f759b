#!/usr/bin/env python3
"""Waits until an smtp-sink has N complete messages, for tests/milter/load.sh.

    sink_wait.py DIR N TIMEOUT > delivered.json

DIR is a Postfix instance of tests/milter/postfix.sh: its sink writes each
message to DIR/sink/ as a file, created at MAIL FROM and closed after the
final "." (before its 250), so a file the sink process still holds open is
not complete. Polls every 20 ms with one directory scan and one look at the
sink's open files (the shell's `postfix.sh wait` runs a process for each
file, which under load costs seconds of CPU). Prints one JSON object: the
complete messages counted and the modification time of the newest (the
moment the last one was delivered, on the clock of `date +%s.%N`). Exits 1
after TIMEOUT seconds with fewer than N. Standard library only.
"""
import json
import os
import sys
import time


def open_files(d):
    """The paths the sink process holds open (none when it is not running)."""
    try:
        pid = int(open(os.path.join(d, "sink.pid")).read().strip())
        fds = os.listdir(f"/proc/{pid}/fd")
    except (OSError, ValueError):
        return set()
    out = set()
    for fd in fds:
        try:
            out.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass  # closed meanwhile
    return out


def complete(d):
    """(count, newest mtime) of the complete messages in DIR/sink."""
    sink = os.path.join(os.path.realpath(d), "sink")
    held = open_files(d)
    count, newest = 0, 0.0
    with os.scandir(sink) as it:
        for e in it:
            if e.is_file(follow_symlinks=False) and e.path not in held:
                count += 1
                newest = max(newest, e.stat(follow_symlinks=False).st_mtime)
    return count, newest


def main():
    d, n, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    end = time.monotonic() + timeout
    while True:
        count, newest = complete(d)
        if count >= n:
            print(json.dumps({"delivered": count, "last": newest}))
            return 0
        if time.monotonic() > end:
            print(f"sink_wait.py: {count} of {n} messages in {d}/sink after {timeout:.0f} s",
                  file=sys.stderr)
            return 1
        time.sleep(0.02)


if __name__ == "__main__":
    sys.exit(main())
