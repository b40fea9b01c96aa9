#!/usr/bin/env python3
"""Whether a string is anywhere in a process's writable memory (root only).

usage: memgrep.py PID STRING
Exit status 0 when found (prints where), 1 when not, 2 on error.
"""
import re
import sys


def main():
    pid, needle = int(sys.argv[1]), sys.argv[2].encode()
    found = False
    with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
            start, end, perms = int(m.group(1), 16), int(m.group(2), 16), m.group(3)
            if "r" not in perms or "w" not in perms:
                continue
            try:
                mem.seek(start)
                chunk = mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue
            if needle in chunk:
                print("found in %s" % line.strip())
                found = True
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main())
