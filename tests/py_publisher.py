"""py_publisher: publish smsq BookingEvents from Python, written from
proto/PROTOCOL.md and proto/booking.proto alone.

Run with Debian's /usr/bin/python3 (python3-zmq, python3-protobuf, and protoc
from protobuf-compiler).  The generated booking_pb2 module is never committed:
load_pb2() runs protoc into a temp dir at run time, or pass your own module as
`pb=`.

    pb = load_pb2()
    with Publisher("tcp://127.0.0.1:5555", pb=pb) as p:
        for r in p.publish(events):          # one Result per event, same order
            print(r.key, r.status, r.reason, r.message_id, r.detail)

    r = publish_req(event, "tcp://127.0.0.1:5555", pb=pb)   # one at a time, REQ

Protocol summary (PROTOCOL.md sections in brackets):
  - DEALER frames [b"", request id, event]; REQ frames [request id, event] (2)
  - request id 1..64 bytes, unique among our unacknowledged events: an 8-byte
    big-endian counter, fresh for every copy sent (2, 6)
  - ACCEPTED / DUPLICATE: success; REJECTED: final, never resent;
    RETRY_LATER: resend the same bytes after >= retry_after_ms, or after a
    backoff of our own (100 ms doubling up to a few s) when it is 0 (4, 5)
  - no reply within the timeout (5 s): resend the same bytes; a REQ socket is
    closed and a new one opened first (6)
  - ACK_UNSPECIFIED (and any status we do not know) is treated like no reply (4)
  - LINGER 0, IMMEDIATE 1, SNDHWM/RCVHWM >= window, receive timeout (7, 11)
  - CURVE (12): with curve=Curve.load(server_key_file, secret_file), the
    socket is a CURVE client (the pool's public key, ours) before it connects
  - events over max_event_bytes (the pool's ingest.max_event_bytes, default
    16384) are not sent at all (2, 11.6): the result is a local REJECTED /
    REASON_OVERSIZE with `local=True`.
"""

import heapq
import importlib.util
import itertools
import logging
import os
import struct
import subprocess
import tempfile
import time

import zmq

log = logging.getLogger("py_publisher")
log.addHandler(logging.NullHandler())   # the application configures logging

DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"
DEFAULT_WINDOW = 1000
DEFAULT_TIMEOUT_S = 5.0
MAX_EVENT_BYTES = 16384          # the pool's ingest.max_event_bytes (default)
HARD_FRAME_LIMIT = 1 << 20       # the pool's ZMQ_MAXMSGSIZE: connection dropped above
MIN_BACKOFF_S = 0.1              # RETRY_LATER with retry_after_ms == 0 ...
MAX_BACKOFF_S = 3.2              # ... doubling up to "a few seconds"

_HERE = os.path.dirname(os.path.abspath(__file__))
_PROTO_DIR = os.path.join(os.path.dirname(_HERE), "proto")
_pb2_cache = {}


def load_pb2(proto_dir=_PROTO_DIR):
    """Compile booking.proto with protoc into a fresh temp dir and import it.

    Cached per proto_dir.  The module is imported from its file path (not via
    sys.path), so it does not shadow another booking_pb2 a caller may have."""
    proto_dir = os.path.abspath(proto_dir)
    if proto_dir in _pb2_cache:
        return _pb2_cache[proto_dir]
    out = tempfile.mkdtemp(prefix="py-publisher-pb2-")
    subprocess.run(["protoc", "--python_out=" + out, "-I", proto_dir,
                    os.path.join(proto_dir, "booking.proto")], check=True)
    path = os.path.join(out, "booking_pb2.py")
    spec = importlib.util.spec_from_file_location("booking_pb2", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    _pb2_cache[proto_dir] = mod
    return mod


def _enum_name(enum, number, prefix):
    """Name of an enum value; a number this schema does not know (a newer
    pool) gives e.g. 'REASON_UNKNOWN_13' instead of raising."""
    try:
        return enum.Name(number)
    except ValueError:
        return "%sUNKNOWN_%d" % (prefix, number)


class Result:
    """The final outcome of one event.

    status: 'ACK_ACCEPTED', 'ACK_DUPLICATE' or 'ACK_REJECTED' (final), or
            'TIMEOUT' if the caller's overall deadline passed first (unknown:
            the event may or may not be stored; resend it later, same key).
    reason: reason name ('REASON_NONE', 'REASON_INVALID_PHONE', ...).
    detail, message_id, retry_after_ms: from the Ack.
    ack:    the final pb.Ack (None for TIMEOUT and local rejections).
    attempts: copies sent; local: True if decided without the pool.
    """

    __slots__ = ("index", "key", "status", "reason", "detail", "message_id",
                 "ack", "attempts", "local")

    def __init__(self, index, key, status, reason="REASON_NONE", detail="",
                 message_id=0, ack=None, attempts=0, local=False):
        self.index, self.key, self.status, self.reason = index, key, status, reason
        self.detail, self.message_id, self.ack = detail, message_id, ack
        self.attempts, self.local = attempts, local

    @property
    def ok(self):
        """ACCEPTED or DUPLICATE: the SMS is (or already was) stored."""
        return self.status in ("ACK_ACCEPTED", "ACK_DUPLICATE")

    @classmethod
    def from_ack(cls, pb, index, key, ack, attempts):
        return cls(index, key, _enum_name(pb.AckStatus, ack.status, "ACK_"),
                   _enum_name(pb.Reason, ack.reason, "REASON_"), ack.detail,
                   ack.message_id, ack, attempts)

    def __repr__(self):
        return "Result(%r, %s, %s, id=%d, %r)" % (self.key, self.status, self.reason,
                                                  self.message_id, self.detail)


def _prepare(pb, event, max_event_bytes):
    """(key, payload bytes or None, local Result or None) for one event.

    Sets version = 1 when unset, on a copy (the caller's object is untouched)."""
    if not isinstance(event, pb.BookingEvent):
        raise TypeError("expected a %s.BookingEvent, got %r" % (pb.__name__, type(event)))
    if not event.version:
        ev = pb.BookingEvent()
        ev.CopyFrom(event)
        ev.version = 1
        event = ev
    payload = event.SerializeToString()
    if len(payload) > max_event_bytes:
        return event.idempotency_key, None, (
            "not sent: the event is %d bytes, over the %d-byte limit"
            % (len(payload), max_event_bytes))
    return event.idempotency_key, payload, None


class Curve:
    """A producer's CURVE keys (PROTOCOL.md 12), Z85 text as bytes."""

    def __init__(self, server_key, public_key, secret_key):
        self.server_key = server_key
        self.public_key = public_key
        self.secret_key = secret_key

    @staticmethod
    def read_keys(path):
        """{"public-key": b"...", "secret-key": b"..."} of an smsqctl keygen
        file (lines `name = "Z85"`; others skipped)."""
        keys = {}
        with open(path, "rb") as f:
            for line in f:
                name, eq, value = line.strip().partition(b"=")
                name = name.strip().decode("ascii", "replace")
                if eq and name in ("public-key", "secret-key"):
                    keys[name] = value.strip().strip(b'"')
        return keys

    @classmethod
    def load(cls, server_key_file, secret_file):
        """The pool's NAME.key and this producer's NAME.secret."""
        mine = cls.read_keys(secret_file)
        return cls(cls.read_keys(server_key_file)["public-key"],
                   mine.get("public-key") or zmq.curve_public(mine["secret-key"]),
                   mine["secret-key"])

    def apply(self, sock):
        """Make sock a CURVE client (before connect)."""
        sock.curve_serverkey = self.server_key
        sock.curve_publickey = self.public_key
        sock.curve_secretkey = self.secret_key


class Publisher:
    """Pipelined publishing over one DEALER socket (PROTOCOL.md 7, 9).

    endpoint:  the pool's ingest endpoint (connect only, never bind).
    window:    at most this many events unacknowledged at once.
    timeout_s: no ack after this long: resend the same bytes (fresh request id).
    max_event_bytes: local size check before sending (the pool's limit).
    pb:        the generated booking_pb2 module (default: load_pb2()).
    curve:     a Curve (the pool asks for CURVE), or None.

    Not thread-safe: use one Publisher from one thread at a time.
    """

    def __init__(self, endpoint=DEFAULT_ENDPOINT, window=DEFAULT_WINDOW,
                 timeout_s=DEFAULT_TIMEOUT_S, max_event_bytes=MAX_EVENT_BYTES,
                 pb=None, ctx=None, curve=None):
        if window < 1:
            raise ValueError("window must be >= 1")
        self.pb = pb or load_pb2()
        self.endpoint = endpoint
        self.window = window
        self.timeout_s = timeout_s
        self.max_event_bytes = min(max_event_bytes, HARD_FRAME_LIMIT)
        self._own_ctx = ctx is None
        self.ctx = ctx or zmq.Context()
        self._ids = itertools.count(1)
        # counters, for logs and tests
        self.sent = 0            # copies handed to ZeroMQ
        self.resent_timeout = 0  # copies resent after no reply in time
        self.retry_later = 0     # RETRY_LATER acks received
        self.send_blocked = 0    # sends refused (EAGAIN: pool unreachable or HWM full)
        self.stray = 0           # replies with no matching request in flight
        self.sock = self.ctx.socket(zmq.DEALER)
        # Options before connect (PROTOCOL.md 7).  No ZMQ_ROUTING_ID (1).
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.IMMEDIATE, 1)
        self.sock.setsockopt(zmq.SNDHWM, 2 * window)
        self.sock.setsockopt(zmq.RCVHWM, 2 * window)
        self.sock.setsockopt(zmq.RCVTIMEO, int(timeout_s * 1000))
        self.sock.setsockopt(zmq.SNDTIMEO, int(timeout_s * 1000))
        if curve is not None:
            curve.apply(self.sock)
        self.sock.connect(endpoint)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.sock is not None:
            self.sock.close(0)
            self.sock = None
            if self._own_ctx:
                self.ctx.term()

    def _next_rid(self):
        return struct.pack(">Q", next(self._ids))

    def publish(self, events, deadline_s=None):
        """Publish `events` (pb.BookingEvent objects); return one Result per
        event, in the same order, once every answer is final.

        deadline_s: give up after this many seconds overall (None: never, as
        the document says: keep resending until final); events without a
        final answer then get status 'TIMEOUT'."""
        pb = self.pb
        events = list(events)
        results = [None] * len(events)
        payloads = [None] * len(events)
        keys = [None] * len(events)
        attempts = [0] * len(events)
        backoff = [MIN_BACKOFF_S] * len(events)
        seq = itertools.count()
        ready = []        # heap of (when, seq, index): to send (first time or again)
        inflight = {}     # request id -> (index, deadline)
        t0 = time.monotonic()
        give_up = None if deadline_s is None else t0 + deadline_s

        for i, ev in enumerate(events):
            key, payload, local = _prepare(pb, ev, self.max_event_bytes)
            keys[i] = key
            if local is not None:
                results[i] = Result(i, key, "ACK_REJECTED", "REASON_OVERSIZE", local, local=True)
                continue
            payloads[i] = payload
            heapq.heappush(ready, (t0, next(seq), i))
        pending = sum(1 for r in results if r is None)

        while pending:
            now = time.monotonic()
            if give_up is not None and now >= give_up:
                break

            # 1. Fill the window with what is due (new events and resends).
            while len(inflight) < self.window and ready and ready[0][0] <= now:
                _, _, i = ready[0]
                rid = self._next_rid()
                try:
                    self.sock.send_multipart([b"", rid, payloads[i]], flags=zmq.NOBLOCK)
                except zmq.Again:
                    # IMMEDIATE=1: no connection yet (pool down or starting),
                    # or the HWM is full (backpressure).  Try again shortly.
                    self.send_blocked += 1
                    break
                heapq.heappop(ready)
                attempts[i] += 1
                self.sent += 1
                inflight[rid] = (i, now + self.timeout_s)

            # 2. Wait for replies, at most until the next thing to do.
            wake = [now + 1.0]
            if ready and len(inflight) < self.window:
                # due but the send was refused: retry in 50 ms; else when due
                wake.append(now + 0.05 if ready[0][0] <= now else ready[0][0])
            if inflight:
                wake.append(min(d for _, d in inflight.values()))
            if give_up is not None:
                wake.append(give_up)
            wait_ms = max(0, int((min(wake) - now) * 1000))
            if self.sock.poll(wait_ms, zmq.POLLIN):
                while True:
                    try:
                        frames = self.sock.recv_multipart(flags=zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    pending -= self._on_reply(frames, inflight, results, keys, attempts,
                                              backoff, ready, seq)

            # 3. No reply in time: resend the same bytes with a fresh request id.
            now = time.monotonic()
            for rid, (i, deadline) in list(inflight.items()):
                if deadline <= now:
                    del inflight[rid]
                    self.resent_timeout += 1
                    log.info("%s: no ack within %.1fs, resending", keys[i], self.timeout_s)
                    heapq.heappush(ready, (now, next(seq), i))

        for i, r in enumerate(results):
            if r is None:
                results[i] = Result(i, keys[i], "TIMEOUT", detail="no final answer before the deadline",
                                    attempts=attempts[i])
        return results

    def _on_reply(self, frames, inflight, results, keys, attempts, backoff, ready, seq):
        """Handle one reply; return 1 if it made an event final, else 0."""
        pb = self.pb
        if len(frames) != 3 or frames[0] != b"":
            log.warning("malformed reply (%d frames), ignored", len(frames))
            self.stray += 1
            return 0
        rid, raw = frames[1], frames[2]
        try:
            ack = pb.Ack.FromString(raw)
        except Exception:  # DecodeError: treat like no reply (the timeout resends)
            log.warning("undecodable ack for request %r, ignored", rid)
            self.stray += 1
            return 0
        entry = inflight.get(rid)
        if entry is None:
            # A late ack of a copy already resent (fine: same key), or a
            # BAD_FRAMES reply with an empty request id (a framing bug here).
            self.stray += 1
            if ack.reason == pb.REASON_BAD_FRAMES:
                log.error("BAD_FRAMES for request %r: %s", rid, ack.detail)
            return 0
        i, _ = entry
        if ack.status in (pb.ACK_ACCEPTED, pb.ACK_DUPLICATE, pb.ACK_REJECTED):
            del inflight[rid]
            if results[i] is not None:
                return 0
            results[i] = Result.from_ack(pb, i, keys[i], ack, attempts[i])
            if ack.status == pb.ACK_REJECTED:
                log.warning("%s rejected: %s %s", keys[i],
                            _enum_name(pb.Reason, ack.reason, "REASON_"), ack.detail)
            return 1
        if ack.status == pb.ACK_RETRY_LATER:
            del inflight[rid]
            self.retry_later += 1
            if ack.retry_after_ms > 0:
                wait = ack.retry_after_ms / 1000.0
            else:
                wait = backoff[i]
                backoff[i] = min(backoff[i] * 2, MAX_BACKOFF_S)
            log.info("%s: RETRY_LATER (%s), resending in %.3fs", keys[i],
                     _enum_name(pb.Reason, ack.reason, "REASON_"), wait)
            heapq.heappush(ready, (time.monotonic() + wait, next(seq), i))
            return 0
        # ACK_UNSPECIFIED or a status unknown to this schema: like no reply;
        # leave it in flight so that the timeout resends it.
        log.warning("%s: ack with status %d treated as no reply", keys[i], ack.status)
        return 0


def publish_req(event, endpoint=DEFAULT_ENDPOINT, timeout_ms=5000, pb=None, ctx=None,
                deadline_s=None, max_event_bytes=MAX_EVENT_BYTES, curve=None):
    """Publish one event over a REQ socket, one round trip at a time
    (PROTOCOL.md 2 "With a REQ socket", 6 "REQ sockets", 9).

    Resends until the answer is final; after a timeout the REQ socket is
    closed (LINGER 0) and a new one opened before resending.  Returns a Result
    (status 'TIMEOUT' only if deadline_s is given and passes)."""
    pb = pb or load_pb2()
    own_ctx = ctx is None
    ctx = ctx or zmq.Context()
    key, payload, local = _prepare(pb, event, max_event_bytes)
    if local is not None:
        return Result(0, key, "ACK_REJECTED", "REASON_OVERSIZE", local, local=True)
    give_up = None if deadline_s is None else time.monotonic() + deadline_s
    ids = itertools.count(1)
    backoff = MIN_BACKOFF_S
    attempts = 0
    sock = None
    try:
        while give_up is None or time.monotonic() < give_up:
            if sock is None:
                sock = ctx.socket(zmq.REQ)
                sock.setsockopt(zmq.LINGER, 0)
                sock.setsockopt(zmq.IMMEDIATE, 1)
                sock.setsockopt(zmq.SNDTIMEO, timeout_ms)
                sock.setsockopt(zmq.RCVTIMEO, timeout_ms)
                if curve is not None:
                    curve.apply(sock)
                sock.connect(endpoint)
            rid = struct.pack(">Q", next(ids))
            try:
                sock.send_multipart([rid, payload])   # REQ adds the empty delimiter
                attempts += 1
                frames = sock.recv_multipart()         # ... and strips it
            except zmq.Again:
                # No ack in time (or could not even send): this REQ socket is
                # stuck waiting for a reply; close it and resend on a new one.
                log.info("%s: no ack within %d ms, new REQ socket, resending", key, timeout_ms)
                sock.close(0)
                sock = None
                continue
            if len(frames) != 2 or frames[0] != rid:
                log.warning("%s: unexpected reply %r, treated as no reply", key, frames[:1])
                sock.close(0)
                sock = None
                continue
            try:
                ack = pb.Ack.FromString(frames[1])
            except Exception:
                log.warning("%s: undecodable ack, treated as no reply", key)
                sock.close(0)
                sock = None
                continue
            if ack.status in (pb.ACK_ACCEPTED, pb.ACK_DUPLICATE, pb.ACK_REJECTED):
                return Result.from_ack(pb, 0, key, ack, attempts)
            if ack.status == pb.ACK_RETRY_LATER:
                if ack.retry_after_ms > 0:
                    wait = ack.retry_after_ms / 1000.0
                else:
                    wait, backoff = backoff, min(backoff * 2, MAX_BACKOFF_S)
                time.sleep(wait)
                continue
            # ACK_UNSPECIFIED / unknown status: like no reply.  The REQ socket
            # got its reply, so it can send again; wait out the timeout first.
            time.sleep(timeout_ms / 1000.0)
        return Result(0, key, "TIMEOUT", detail="no final answer before the deadline",
                      attempts=attempts)
    finally:
        if sock is not None:
            sock.close(0)
        if own_ctx:
            ctx.term()
