#!/usr/bin/env python3
"""Run a command on a pseudo-terminal and answer its prompts, as a person
at a terminal would: each time the output shows a line ending in ': ', the
next answer is typed.  The transcript (what the person saw) goes to stdout;
the exit status is the command's.

usage: pty-answer.py ANSWER[,ANSWER...] -- COMMAND [ARGS...]
"""
import os
import pty
import select
import sys
import time


def main():
    sep = sys.argv.index("--")
    answers = sys.argv[1].split(",") if sep > 1 else []
    cmd = sys.argv[sep + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    seen = b""
    deadline = time.time() + 60
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if fd in r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            seen += data
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
            if answers and seen.rstrip(b" ").endswith(b":"):
                time.sleep(0.1)  # let the prompt turn echo off first
                os.write(fd, answers.pop(0).encode() + b"\n")
                seen = b""
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
