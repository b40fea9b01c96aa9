#!/usr/bin/env python3
"""Serve the files of a folder over HTTP for the fetch tests
(tests/publish/test_fetch.c).

usage: mdserver.py DIR PORTFILE [LOGFILE]

Listens on 127.0.0.1 on a free port and writes the port number to PORTFILE
(atomically) once it accepts connections.  GET and HEAD serve the files of
DIR with an ETag (the quoted SHA-256 of the content) and a Last-Modified
(the file's mtime) header, and answer 304 to an If-None-Match naming that
ETag exactly (or "*") and, when there is no If-None-Match, to an
If-Modified-Since no earlier than the mtime.  Missing files, folders and
names starting with "." are 404; other methods 501.

Control files in DIR, looked at on every request:
  .hang      read the request, then send nothing until the client goes away
  .status    answer with the HTTP status code it holds instead
  .location  with .status, send its content as a Location header
  .slow      send the body at one byte per second
  .chunked   send the body in 64-byte chunks (Transfer-Encoding: chunked,
             no Content-Length)

With LOGFILE, each request appends the line "METHOD PATH STATUS" ("hang" for
the status of a request left unanswered).  Exits with status 0 on SIGTERM;
2 on a usage error.
"""
import email.utils
import hashlib
import http.server
import os
import select
import signal
import socketserver
import sys
import threading
import time
import urllib.parse

HANG_MAX = 600          # seconds: a hung request gives up eventually
CHUNK = 64


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False      # SIGTERM must not wait for a hung request
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client that gives up (a timeout, a size limit) is no error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mdserver"
    root = None
    log_path = None
    log_lock = threading.Lock()

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        pass

    def log_line(self, status):
        if self.log_path is None:
            return
        with self.log_lock, open(self.log_path, "a") as f:
            # A request too broken to parse has no method or path.
            f.write("%s %s %s\n" % (getattr(self, "command", None) or "-",
                                     getattr(self, "path", None) or "-",
                                     status))

    def log_request(self, code="-", size="-"):
        self.log_line(int(code) if isinstance(code, int) else code)

    def control(self, name):
        return os.path.exists(os.path.join(self.root, name))

    def hang(self):
        """Wait until the client closes the connection (or HANG_MAX)."""
        self.log_line("hang")
        deadline = time.monotonic() + HANG_MAX
        sock = self.connection
        while time.monotonic() < deadline:
            r, _, _ = select.select([sock], [], [], 0.2)
            if not r:
                continue
            try:
                if sock.recv(4096) == b"":
                    break
            except OSError:
                break
        self.close_connection = True

    def target(self):
        """The file the request names, or None."""
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        parts = [p for p in path.split("/") if p]
        if not parts or any(p.startswith(".") for p in parts):
            return None
        full = os.path.join(self.root, *parts)
        if not os.path.isfile(full):
            return None
        return full

    def not_modified(self, etag, mtime):
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            tags = [t.strip() for t in inm.split(",")]
            return "*" in tags or etag in tags
        ims = self.headers.get("If-Modified-Since")
        if ims is None:
            return False
        try:
            since = email.utils.parsedate_to_datetime(ims).timestamp()
        except (TypeError, ValueError, IndexError):
            return False
        return int(mtime) <= since

    def start(self, code, headers):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()

    def answer(self, code, body=b"", headers=()):
        headers = list(headers)
        if code != 304:
            headers += [("Content-Length", str(len(body)))]
        self.start(code, headers)
        if self.command != "HEAD" and code != 304:
            self.wfile.write(body)

    def serve(self):
        if self.control(".hang"):
            self.hang()
            return
        try:
            with open(os.path.join(self.root, ".status")) as f:
                status = int(f.read().strip())
        except FileNotFoundError:
            status = None
        except ValueError:
            status = 500
        if status is not None:
            headers = []
            try:
                with open(os.path.join(self.root, ".location")) as f:
                    headers.append(("Location", f.read().strip()))
            except FileNotFoundError:
                pass
            self.answer(status, b"status %d\n" % status, headers)
            return
        full = self.target()
        if full is None:
            self.answer(404, b"not found\n")
            return
        with open(full, "rb") as f:
            st = os.fstat(f.fileno())
            body = f.read()
        etag = '"%s"' % hashlib.sha256(body).hexdigest()
        headers = [("ETag", etag),
                   ("Last-Modified",
                    email.utils.formatdate(st.st_mtime, usegmt=True))]
        if self.not_modified(etag, st.st_mtime):
            self.answer(304, headers=headers)
            return
        if self.control(".chunked"):
            self.send_chunked(body, headers)
            return
        if self.control(".slow"):
            self.send_slow(body, headers)
            return
        self.answer(200, body, headers)

    def send_slow(self, body, headers):
        self.start(200, headers + [("Content-Length", str(len(body)))])
        if self.command == "HEAD":
            return
        for i in range(len(body)):
            self.wfile.write(body[i:i + 1])
            self.wfile.flush()
            time.sleep(1)

    def send_chunked(self, body, headers):
        self.start(200, headers + [("Transfer-Encoding", "chunked")])
        if self.command == "HEAD":
            return
        for i in range(0, len(body), CHUNK):
            piece = body[i:i + CHUNK]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def do_GET(self):
        try:
            self.serve()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_HEAD = do_GET


class Stop(Exception):
    pass


def stop(signum, frame):
    raise Stop()


def main():
    if len(sys.argv) not in (3, 4):
        sys.stderr.write(__doc__)
        return 2
    Handler.root = os.path.realpath(sys.argv[1])
    Handler.log_path = sys.argv[3] if len(sys.argv) == 4 else None
    signal.signal(signal.SIGTERM, stop)
    server = Server(("127.0.0.1", 0), Handler)
    tmp = sys.argv[2] + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.replace(tmp, sys.argv[2])
    try:
        server.serve_forever(poll_interval=0.1)
    except (Stop, KeyboardInterrupt):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
