"""itlib: what the integration tests share.

Real processes, really started (tests/harness.py): a pool (bin/smsq-worker)
on a free loopback port with its own data directory, the real smsq-publish
and smsqctl, and the protobuf schema compiled for Python with protoc at run
time (generated code is never committed).  Every process a test starts is
stopped by its process id (the pool by its process group) when the test
ends, pass or fail.

Run a test file directly: /usr/bin/python3 tests/it_ingest.py; it ends with
the line "it: N passed, M failed" that tests/run counts.
"""

import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import harness

ROOT = harness.ROOT
BIN = harness.BIN
_pb2 = None


def pb2():
    """The booking.proto module, compiled once per run into a temp dir."""
    global _pb2
    if _pb2 is None:
        out = tempfile.mkdtemp(prefix="smsq-pb2-")
        subprocess.run(["protoc", "--python_out=" + out, "-I" + os.path.join(ROOT, "proto"),
                        os.path.join(ROOT, "proto", "booking.proto")], check=True)
        sys.path.insert(0, out)
        _pb2 = importlib.import_module("booking_pb2")
    return _pb2


free_port = harness.free_port
RUN_AS = harness.RUN_AS
wait_for = harness.wait_for


VELOCITY_OFF = ["-o", "velocity.number_per_hour=0", "-o", "velocity.number_per_day=0",
                "-o", "velocity.range_per_minute=0", "-o", "velocity.range_per_hour=0",
                "-o", "velocity.country_per_minute=0", "-o", "velocity.slots=1024"]


class Pool(harness.Pool):
    """A pool of the tests: its log beside the data directory, its leftover
    processes killed when it stops (a test must not leak one)."""

    def __init__(self, data_dir, workers=2, args=(), prefix=(), velocity=False):
        # The velocity limits off (and their table small) unless asked for:
        # most tests send many events to one number or to sequential ones.
        # The caller's args come after, so an -o of theirs wins.
        super().__init__(data_dir, os.path.join(data_dir + ".logs", "pool-%d.log" % time.time_ns()),
                         workers, ([] if velocity else VELOCITY_OFF) + list(args), prefix)

    def start(self, wait=True):
        return super().start(wait, timeout_s=60)

    def stop(self, timeout_s=60):
        """SIGTERM, as an operator would; returns the master's exit code."""
        try:
            return super().stop(timeout_s=timeout_s)
        finally:
            self.kill9()


class PoolTest(unittest.TestCase):
    """A test case with a fresh data directory and pools cleaned up."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="smsq-it-")
        self.data_dir = os.path.join(self.tmp, "var")
        self.pools = []

    def tearDown(self):
        for p in self.pools:
            p.kill9()
        if sys.exc_info()[0] is None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def pool(self, workers=2, args=(), prefix=(), velocity=False):
        p = Pool(self.data_dir, workers, args, prefix, velocity)
        self.pools.append(p)
        return p.start()

    def stats(self):
        out = subprocess.run([os.path.join(BIN, "smsqctl"), "-d", self.data_dir, "stats", "--json"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

    def check_store(self):
        out = subprocess.run([os.path.join(BIN, "smsqctl"), "-d", self.data_dir, "check"],
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr)

    def gen(self, n, seed=1):
        path = os.path.join(self.tmp, "events-%d-%d.ndjson" % (n, seed))
        with open(path, "wb") as f:
            subprocess.run([os.path.join(ROOT, "scripts", "gen-bookings"), str(n), "--seed", str(seed)],
                           stdout=f, check=True)
        return path

    def publish(self, pool, path, *args):
        """Run smsq-publish --json-summary; returns (exit code, summary)."""
        out = subprocess.run([os.path.join(BIN, "smsq-publish"), "-e", pool.endpoint,
                              "--json-summary"] + list(args) + [path],
                             capture_output=True, text=True, timeout=600)
        try:
            summary = json.loads(out.stdout)
        except ValueError:
            raise AssertionError("smsq-publish printed no summary: %r %r" % (out.stdout, out.stderr))
        return out.returncode, summary


def event(key="k-1", **over):
    """A valid BookingEvent (protobuf object), overridable by field."""
    m = pb2()
    now = int(time.time() * 1000)
    ev = m.BookingEvent(
        version=1, idempotency_key=key, booking_id="B-" + key, kind=m.KIND_CONFIRMED,
        phone="+33612345678", locale="fr-FR", patient_name="Camille Martin",
        practitioner_name="Dr Lefèvre", place="Centre de vaccination de Nîmes",
        appointment_at_ms=now + 86400000, time_zone="Europe/Paris", created_at_ms=now)
    for k, v in over.items():
        setattr(ev, k, v)
    return ev


class Dealer:
    """A raw DEALER producer speaking the frames of proto/PROTOCOL.md."""

    def __init__(self, endpoint):
        import zmq
        self.zmq = zmq
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)

    def send(self, frames):
        self.sock.send_multipart(frames)

    def request(self, req_id, ev_bytes):
        self.send([b"", req_id, ev_bytes])

    def recv(self, timeout_s=30):
        """One reply: (request id, Ack)."""
        if not self.sock.poll(int(timeout_s * 1000)):
            raise AssertionError("no reply within %ss" % timeout_s)
        frames = self.sock.recv_multipart()
        assert len(frames) == 3 and frames[0] == b"", frames
        ack = pb2().Ack()
        ack.ParseFromString(frames[2])
        return frames[1], ack

    def call(self, ev, req_id=b"r1"):
        self.request(req_id, ev.SerializeToString() if not isinstance(ev, bytes) else ev)
        rid, ack = self.recv()
        assert rid == req_id, (rid, req_id)
        return ack

    def close(self):
        self.sock.close(0)
        self.ctx.term()


def main():
    """Run the calling module's tests; print the line tests/run counts."""
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules["__main__"])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    bad = len(result.failures) + len(result.errors)
    print("it: %d passed, %d failed" % (result.testsRun - bad, bad))
    sys.exit(0 if bad == 0 else 1)
