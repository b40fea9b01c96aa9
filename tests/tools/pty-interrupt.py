#!/usr/bin/env python3
"""Run a command on a pseudo-terminal, press Ctrl-C at its first prompt,
and report whether the terminal was left with echo on.

usage: pty-interrupt.py -- COMMAND [ARGS...]

Exit status 0 when the command died and echo is on again, 1 when echo was
left off, 2 when no prompt appeared.
"""
import os
import pty
import select
import sys
import termios
import time


def main():
    cmd = sys.argv[sys.argv.index("--") + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    seen = b""
    deadline = time.time() + 30
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if fd in r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            seen += data
            if seen.rstrip(b" ").endswith(b":"):
                time.sleep(0.2)  # echo is off now
                off = not (termios.tcgetattr(fd)[3] & termios.ECHO)
                os.write(fd, b"\x03")
                _, status = os.waitpid(pid, 0)
                echo = termios.tcgetattr(fd)[3] & termios.ECHO
                print("echo off at the prompt: %s; after Ctrl-C: %s; status %d"
                      % (off, "on" if echo else "OFF", status))
                return 0 if echo and off else 1
    os.kill(pid, 9)
    print("no prompt seen: %r" % seen)
    return 2


if __name__ == "__main__":
    sys.exit(main())
