#!/usr/bin/env python3
"""Waits until an smtp-sink has N complete messages (tests/milter/load.sh,
and `postfix.sh wait` and `status`).

    sink_wait.py DIR N TIMEOUT > delivered.json
    sink_wait.py --list DIR N TIMEOUT > files

DIR is a Postfix instance of tests/milter/postfix.sh: its sink writes each
message to DIR/sink/ as a file, created at MAIL FROM and closed after the
final "." (before its 250), so a file the sink process still holds open is
not complete. Polls every 20 ms: a directory listing, and for new names a
look at the sink's open files and their times (a shell loop that ran a
process for each file cost seconds of CPU under load). Prints one JSON
object: the complete messages counted and the modification time of the
newest (the moment the last one was delivered, on the clock of `date
+%s.%N`); with --list, the complete messages' files instead, oldest
first, one a line. Exits 1 after TIMEOUT seconds with fewer than N (with
--list, after listing those there are). Standard library only.
"""
import json
import os
import sys
import time


def open_files(d):
    """The paths the sink process holds open (none when it is not running,
    or when its pid now belongs to another program)."""
    try:
        pid = int(open(os.path.join(d, "sink.pid")).read().strip())
        exe = os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
        if os.path.basename(exe) != "smtp-sink":
            return set()
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


class Sink:
    """The complete messages found so far in DIR/sink, with their times.

    A file is looked at once it is complete (smtp-sink never changes a
    closed file), so a poll costs a directory listing and the new names.
    """

    def __init__(self, d):
        self.d = d
        self.dir = os.path.join(os.path.realpath(d), "sink")
        self.done = {}

    def poll(self):
        """(count, newest mtime) of the complete messages."""
        # the listing first, the open files after it: a file created in
        # between is not listed, and one listed and closed since is complete
        try:
            with os.scandir(self.dir) as it:
                new = [
                    e for e in it if e.path not in self.done and e.is_file(follow_symlinks=False)
                ]
        except FileNotFoundError:
            new = []  # no sink folder (yet): no messages
        if new:
            held = open_files(self.d)
            for e in new:
                if e.path in held:
                    continue
                try:
                    self.done[e.path] = e.stat(follow_symlinks=False).st_mtime
                except OSError:
                    pass  # an aborted transaction's file, deleted meanwhile
        return len(self.done), max(self.done.values(), default=0.0)


def main():
    args = sys.argv[1:]
    listing = args[:1] == ["--list"]
    if listing:
        args = args[1:]
    if len(args) != 3:
        print("usage: sink_wait.py [--list] DIR N TIMEOUT", file=sys.stderr)
        return 2
    d, n, timeout = args[0], int(args[1]), float(args[2])
    end = time.monotonic() + timeout
    sink = Sink(d)
    while True:
        count, newest = sink.poll()
        done = count >= n
        if done or time.monotonic() > end:
            if listing:
                for path, _ in sorted(sink.done.items(), key=lambda kv: (kv[1], kv[0])):
                    print(path)
            elif done:
                print(json.dumps({"delivered": count, "last": newest}))
            if done:
                return 0
            print(f"sink_wait.py: {count} of {n} messages in {d}/sink after {timeout:.0f} s",
                  file=sys.stderr)
            return 1
        time.sleep(0.02)


if __name__ == "__main__":
    sys.exit(main())
