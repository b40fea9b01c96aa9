#!/usr/bin/env python3
"""Send a signal to a command while it writes its output, and report what
the temporary file looked like (tests/cli/test_hostile.sh).

usage: interrupt.py SIGNAL DIR -- COMMAND [ARGS...]

Starts COMMAND, watches its open files, and as soon as it has a file open
for writing in DIR (a temporary file: unnamed, or named .fedsign-*), sends
SIGNAL.  Prints "caught MODE" (the octal mode of that file) when the signal
went in during the write, "missed" when the command ended first; the exit
status is 0 in both cases, 2 on a usage error.
"""
import os
import signal
import stat
import subprocess
import sys
import time


def main():
    sep = sys.argv.index("--")
    sig = getattr(signal, sys.argv[1])
    d = os.path.realpath(sys.argv[2])
    p = subprocess.Popen(sys.argv[sep + 1:], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    fddir = "/proc/%d/fd" % p.pid
    deadline = time.time() + 120
    while p.poll() is None and time.time() < deadline:
        try:
            fds = os.listdir(fddir)
        except OSError:
            break
        for fd in fds:
            try:
                target = os.readlink(os.path.join(fddir, fd))
            except OSError:
                continue
            name = os.path.basename(target.replace(" (deleted)", ""))
            if os.path.dirname(target) == d and (name.startswith("#") or
                                                  name.startswith(".fedsign-")):
                try:
                    mode = stat.S_IMODE(os.stat(os.path.join(fddir, fd)).st_mode)
                except OSError:
                    continue
                os.kill(p.pid, sig)
                p.wait()
                print("caught %o" % mode)
                return 0
        time.sleep(0.0005)
    p.wait()
    print("missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
