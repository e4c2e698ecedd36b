#!/usr/bin/env python3
"""outcomes_receiver: an example receiver of smsq's outcomes (proto/OUTCOMES.md).

The pool POSTs what became of each booking event it accepted (sent,
delivered, failed...) to the backend's URL, signed with a shared secret.
This receiver does what proto/OUTCOMES.md asks of one, with Python's
standard library only:

  1. verify the Smsq-Signature header (HMAC-SHA256 of "<t>.<body>", compared
     in constant time, t within 300 s of our clock): else 401;
  2. parse the body: else 400;
  3. drop the outcomes whose id it already has (the pool delivers at least
     once: repeats are normal);
  4. append each new outcome as one JSON line to the output file and fsync
     it, and only then answer 200: an outcome the pool was told is taken is
     on disk.

At start it reads the output file back, so a restarted receiver still drops
repeats.  It serves POST /outcomes and nothing else.

    outcomes_receiver.py --listen 127.0.0.1:8080 --secret-file /etc/smsq/outcomes.secret \\
                         --out outcomes.ndjson

--listen HOST:0 takes a free port.  The first line on stdout is always
"listening on http://HOST:PORT/outcomes"; each request is logged on stderr.
SIGTERM or SIGINT stops it once the write in progress, if any, is done.

For production, keep the idea and change the storage: store the outcomes in
your database with a unique index on "id", in one transaction per batch,
and answer 2xx after the commit.  The set of ids in memory here grows with
every outcome ever received.
"""

import argparse
import hashlib
import hmac
import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = "/outcomes"              # the path served; anything else is 404
MAX_SKEW_S = 300                # t further than this from our clock: 401 (a replay)
MAX_BODY = 16 * 1024 * 1024     # larger bodies: 413 (the largest batch is a few MB)
SECRET_MIN, SECRET_MAX = 16, 256  # the pool's bounds for outcomes.secret, in bytes


def parse_signature(header):
    """(t, [v1 signatures]) of an Smsq-Signature header
    ("t=1800000000,v1=<64 hex>"), or None if it is malformed.  Parts with
    other names are ignored (room for a future scheme)."""
    t, sigs = None, []
    for part in header.split(","):
        name, eq, value = part.strip().partition("=")
        if not eq:
            return None
        if name == "t":
            if not value.isdigit() or t is not None:
                return None
            t = int(value)
        elif name == "v1":
            sigs.append(value)
    if t is None or not sigs:
        return None
    return t, sigs


def check_signature(secret, header, body, now):
    """None if header signs body with secret at a time within MAX_SKEW_S of
    now, else why not (for the 401's body and the log)."""
    if header is None:
        return "no Smsq-Signature header"
    parsed = parse_signature(header)
    if parsed is None:
        return "malformed Smsq-Signature header"
    t, sigs = parsed
    if abs(now - t) > MAX_SKEW_S:
        return "timestamp %d is more than %d s away from our clock" % (t, MAX_SKEW_S)
    # The signed text is the decimal t, a dot, and the body exactly as received.
    expected = hmac.new(secret, b"%d." % t + body, hashlib.sha256).hexdigest()
    # compare_digest takes as long whatever matches: no timing leak.
    if not any(hmac.compare_digest(expected.encode(), s.encode()) for s in sigs):
        return "wrong signature"
    return None


def parse_body(body):
    """The list of outcomes of a body ({"outcomes": [{"id": ...}, ...]}), or
    a string saying why it is malformed.  Only "id" is required here: every
    outcome is stored as it came, unknown fields and values included."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return "body is not JSON: %s" % e
    if not isinstance(doc, dict) or not isinstance(doc.get("outcomes"), list):
        return 'body is not {"outcomes": [...]}'
    for o in doc["outcomes"]:
        if not isinstance(o, dict) or not isinstance(o.get("id"), str) or not o["id"]:
            return 'an outcome without an "id" string'
    return doc["outcomes"]


class Store:
    """The output file (one JSON outcome a line) and the set of ids in it."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()   # one batch written at a time
        self.ids = set()
        created = not os.path.exists(path)
        self.file = open(path, "a+b")
        if created:                    # make the new file's name durable too
            dfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        self._load()

    def _load(self):
        """Read the ids back.  A last line without its newline is a write cut
        short by a crash: it was never acknowledged (the pool sends it again),
        so it is cut off, and the next write starts on a line of its own."""
        self.file.seek(0)
        data = self.file.read()
        end = data.rfind(b"\n") + 1
        for n, line in enumerate(data[:end].splitlines(), 1):
            try:
                self.ids.add(json.loads(line)["id"])
            except (ValueError, KeyError, TypeError):
                raise SystemExit("%s: line %d is not an outcome: the file is damaged"
                                 % (self.path, n))
        if end < len(data):
            self.file.truncate(end)
            os.fsync(self.file.fileno())

    def take(self, outcomes):
        """Store the outcomes not seen before, durably.  Returns (new,
        repeats); raises OSError if they could not be stored (nothing is
        then counted as seen, and the pool will send them again)."""
        with self.lock:
            fresh, lines = set(), []
            for o in outcomes:
                if o["id"] in self.ids or o["id"] in fresh:
                    continue                     # a repeat: already stored
                fresh.add(o["id"])
                lines.append(json.dumps(o, ensure_ascii=False, separators=(",", ":")) + "\n")
            if lines:
                size = self.file.seek(0, os.SEEK_END)
                try:
                    self.file.write("".join(lines).encode("utf-8"))
                    self.file.flush()
                    os.fsync(self.file.fileno())  # on disk before we say 200
                except OSError:
                    try:                          # leave no half-written batch behind
                        self.file.truncate(size)
                    except OSError:
                        pass
                    raise
                self.ids |= fresh
            return len(fresh), len(outcomes) - len(fresh)


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1: the pool may keep its connection open between POSTs, and a
    # client that sends "Expect: 100-continue" gets its 100 at once.
    protocol_version = "HTTP/1.1"
    server_version = "outcomes-receiver"

    def do_POST(self):
        if self.path != PATH:
            return self.answer(404, {"error": "not found"}, close=True)
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            return self.answer(411, {"error": "a Content-Length is required"}, close=True)
        if int(length) > MAX_BODY:
            return self.answer(413, {"error": "body over %d bytes" % MAX_BODY}, close=True)
        body = self.rfile.read(int(length))
        why = check_signature(self.server.secret, self.headers.get("Smsq-Signature"), body,
                              int(time.time()))
        if why is not None:
            return self.answer(401, {"error": why})
        outcomes = parse_body(body)
        if isinstance(outcomes, str):
            return self.answer(400, {"error": outcomes})
        try:
            new, repeats = self.server.store.take(outcomes)
        except OSError as e:
            return self.answer(500, {"error": "could not store the outcomes: %s" % e})
        self.answer(200, {"taken": len(outcomes), "new": new, "repeats": repeats})

    def refuse(self):
        """Every other method: nothing else is served."""
        if self.path != PATH:
            return self.answer(404, {"error": "not found"}, close=True)
        self.answer(405, {"error": "only POST"}, close=True, allow="POST")

    do_GET = do_HEAD = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = refuse

    def answer(self, code, obj, close=False, allow=None):
        """A JSON answer.  close: the request body was not read, so the
        connection cannot carry another request."""
        data = json.dumps(obj).encode() + b"\n"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if allow:
            self.send_header("Allow", allow)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.log_message("%s %s %d %s", self.command, self.path, code, json.dumps(obj))

    def log_request(self, code="-", size="-"):
        pass  # answer() logs each request, with what came of it

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))
        sys.stderr.flush()


class Server(ThreadingHTTPServer):
    """A thread per connection (ThreadingHTTPServer), with what the
    handlers need: the secret and the store."""

    def __init__(self, address, secret, store):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.secret = secret
        self.store = store
        super().__init__(address, Handler)


def main():
    ap = argparse.ArgumentParser(description="An example receiver of smsq's outcomes "
                                 "(proto/OUTCOMES.md).")
    ap.add_argument("--listen", default="127.0.0.1:8080", metavar="HOST:PORT",
                    help="address to listen on; port 0: a free one (default %(default)s)")
    sec = ap.add_mutually_exclusive_group(required=True)
    sec.add_argument("--secret", help="the shared secret (the pool's outcomes.secret); "
                     "visible to other users in ps: prefer --secret-file")
    sec.add_argument("--secret-file", metavar="FILE",
                     help="a file holding the secret (one trailing newline is ignored)")
    ap.add_argument("--out", required=True, metavar="FILE",
                    help="where the outcomes go, one JSON line each (appended)")
    args = ap.parse_args()

    if args.secret is not None:
        secret = args.secret.encode("utf-8")
    else:
        with open(args.secret_file, "rb") as f:
            secret = f.read()
        secret = secret[:-1] if secret.endswith(b"\n") else secret
        secret = secret[:-1] if secret.endswith(b"\r") else secret
    if not SECRET_MIN <= len(secret) <= SECRET_MAX:
        ap.error("the secret must be %d to %d bytes, as the pool's" % (SECRET_MIN, SECRET_MAX))
    host, _, port = args.listen.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        ap.error("--listen wants HOST:PORT")

    store = Store(args.out)
    server = Server((host, int(port)), secret, store)

    def stop(signum, frame):
        with store.lock:               # let a batch being written finish
            os._exit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    bound = server.server_address
    shown = "[%s]" % bound[0] if ":" in bound[0] else bound[0]
    print("listening on http://%s:%d%s" % (shown, bound[1], PATH), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
