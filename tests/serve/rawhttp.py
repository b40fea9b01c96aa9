"""rawhttp.py: requests curl cannot make, for tests/serve (127.0.0.1 only).

  rawhttp.py send PORT REQUEST
      Send REQUEST (Python string escapes: \\r\\n, \\x00) on one connection
      and print the status line of the answer ("closed" if none came).
  rawhttp.py hold PORT SRC N SECONDS [TRICKLE]
      Open N connections from source address SRC (127.0.0.2...), each
      sending the start of a request and, with TRICKLE, one more header
      byte every TRICKLE seconds (slowloris); after SECONDS print how many
      are still open ("open=K closed=M").
  rawhttp.py burst PORT PUBDIR SECONDS THREADS
      Keep-alive GETs of the entities of PUBDIR's releases for SECONDS on
      THREADS threads while the test switches current; every answer must
      be one release's document whole: its body's SHA-256 is its ETag, and
      that ETag and the release named in the body belong to one release's
      index for that entity.  Prints "answers=N releases=R bad=B" and the
      first bad answers.
  rawhttp.py slow PORT PATH OUT READY
      GET PATH with a small receive buffer, read the head and a few bytes
      of the body, touch READY, wait 2 seconds (the test switches current
      and removes the release meanwhile), read the rest into OUT and print
      the status line.
"""
import glob
import hashlib
import http.client
import json
import os
import random
import re
import socket
import sys
import threading
import time


def send(port, req):
    data = req.encode("latin-1").decode("unicode_escape").encode("latin-1")
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(data)
        buf = b""
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    except OSError:
        buf = b""
    finally:
        s.close()
    line = buf.split(b"\r\n", 1)[0].decode("latin-1")
    print(line if line else "closed")


def hold(port, src, n, seconds, trickle=None):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind((src, 0))
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks.append(s)
        except OSError:
            s.close()
    end = time.time() + seconds
    while time.time() < end:
        time.sleep(trickle or 0.2)
        if trickle:
            for s in socks:
                try:
                    s.send(b"a")
                except OSError:
                    pass
    still = 0
    for s in socks:
        try:
            s.setblocking(False)
            data = s.recv(1)
            if data == b"":
                continue        # closed by the server
            still += 1          # it answered something: still open
        except BlockingIOError:
            still += 1
        except OSError:
            pass
        finally:
            s.close()
    print("open=%d closed=%d" % (still, n - still))


def burst(port, pubdir, seconds, threads):
    def index_of(rel):
        with open(os.path.join(rel, "entities", "index.json"), encoding="utf-8") as f:
            return json.load(f)
    known = {}      # (entityID, etag) -> release

    def learn():
        for rel in glob.glob(os.path.join(pubdir, "releases", "*")):
            try:
                idx = index_of(rel)
            except (OSError, ValueError):
                continue
            for eid, e in idx.items():
                known[(eid, '"%s"' % e["sha256"])] = os.path.basename(rel)
    learn()
    ids = sorted({k[0] for k in known})
    lock = threading.Lock()
    stats = {"answers": 0, "bad": [], "releases": set()}
    end = time.time() + seconds

    def work(seed):
        rnd = random.Random(seed)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.time() < end:
            eid = rnd.choice(ids)
            path = "/entities/{sha1}" + hashlib.sha1(eid.encode()).hexdigest()
            try:
                c.request("GET", path)
                r = c.getresponse()
                body = r.read()
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    stats["bad"].append("%s: %s" % (path, e))
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            etag = r.getheader("ETag")
            named = re.search(rb"<!-- release (\S+) -->", body)
            named = named.group(1).decode() if named else None
            with lock:
                stats["answers"] += 1
                rel = known.get((eid, etag))
                if rel is None:
                    learn()
                    rel = known.get((eid, etag))
                if r.status != 200 or etag != '"%s"' % hashlib.sha256(body).hexdigest() \
                        or rel is None or rel != named:
                    stats["bad"].append("%s: %d etag %s body of %s index of %s"
                                        % (path, r.status, etag, named, rel))
                else:
                    stats["releases"].add(rel)
    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("answers=%d releases=%d bad=%d" % (stats["answers"], len(stats["releases"]),
                                            len(stats["bad"])))
    for b in stats["bad"][:5]:
        print("# " + b)


def slow(port, path, out, ready):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(1024)
        if not chunk:
            break
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    open(ready, "w").close()
    time.sleep(2)
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    s.close()
    with open(out, "wb") as f:
        f.write(body)
    print(head.split(b"\r\n", 1)[0].decode("latin-1"))


def main():
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "send":
        send(int(a[0]), a[1])
    elif cmd == "hold":
        hold(int(a[0]), a[1], int(a[2]), float(a[3]), float(a[4]) if len(a) > 4 else None)
    elif cmd == "burst":
        burst(int(a[0]), a[1], float(a[2]), int(a[3]))
    elif cmd == "slow":
        slow(int(a[0]), a[1], a[2], a[3])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
