#!/usr/bin/python3
"""it_outcomes: what became of each event, pushed to the booking backend
(proto/OUTCOMES.md), against the example receiver.

First examples/outcomes_receiver.py alone (no pool): a correctly signed POST
is stored once, a repeat is dropped, also by a restarted receiver; a wrong
signature, an old timestamp and a body that is not JSON are refused (401,
401, 400) and store nothing; the worked example of OUTCOMES.md is a real
signature.

Then pools with a fake provider and -o outcomes.url / outcomes.secret
pointing at the receiver, started here as a subprocess and stopped by its
pid: every message's outcome reaches the receiver although the receiver and
the pool are each SIGKILLed mid-run and started again; a backend that is
down, silent, or refusing the signature gets everything once it is up,
while SMS go out regardless; a full outbox drops its oldest, counted; bad
[outcomes] options stop the pool at start.  What the receiver got is
checked against the store (smsqctl list and inspect): ids of the documented
form, one outcome per message, sequence numbers 1..n without a gap, in
order, states, keys, bookings and details as stored; at the end the outbox
is empty and `smsqctl check` is clean.

SMSQ_KEEP_TMP=1 keeps each test's directory (store, logs, the receiver's
output file) for a look after the run.
"""

import collections
import datetime
import hashlib
import hmac
import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import harness
import itlib
from it_dispatch import DispatchBase
from it_monitor import get, parse, total
from it_operate import ctl
from itlib import wait_for

DOC = os.path.join(itlib.ROOT, "proto", "OUTCOMES.md")
SECRET = "it-outcomes-shared-secret-0123456789"
FIELDS = {"id", "message_id", "idempotency_key", "booking_id", "kind", "state", "detail",
          "at_ms"}
STATES = {"sent", "delivered", "undelivered", "failed", "expired", "superseded", "cancelled"}
KINDS = {"confirmed", "rescheduled", "cancelled", "reminder", "none"}
OUTCOME_ID = re.compile(r"([0-9a-f]{16})-([1-9][0-9]*)\Z")


def sign(secret, t, body):
    """The Smsq-Signature header of body at unix time t."""
    mac = hmac.new(secret.encode(), b"%d." % t + body, hashlib.sha256).hexdigest()
    return "t=%d,v1=%s" % (t, mac)


def post(url, body, signature=None, timeout=30):
    """POST body (bytes) to url; (status, the answer's JSON)."""
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    if signature is not None:
        req.add_header("Smsq-Signature", signature)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def outcome(i, store_id="00112233445566ff", state="sent"):
    return {"id": "%s-%d" % (store_id, i), "message_id": i, "idempotency_key": "k-%d" % i,
            "booking_id": "B-%d" % i, "kind": "confirmed", "state": state,
            "detail": "SM%d" % i, "at_ms": 1800000000000 + i}


def body_of(outcomes):
    return json.dumps({"outcomes": outcomes}, separators=(",", ":")).encode()


read_outcomes = harness.read_outcomes


def iso_ms(text):
    """Epoch ms of smsqctl's "2026-12-07T14:05:00.123Z"."""
    d = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    return int(d.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


class Receiver(harness.Receiver):
    """The example receiver with this file's secret by default."""

    def __init__(self, tmp, out, port=0, secret=SECRET, name="receiver"):
        super().__init__(tmp, out, port, secret, name)


class BlackHole:
    """A port that takes connections and never answers: a backend that
    hangs.  Counts the connections, and how long each stayed open before the
    client gave up."""

    def __init__(self, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.accepted, self.held_s = 0, []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            self.accepted += 1
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn):
        t0 = time.monotonic()
        with conn:
            try:
                while conn.recv(65536):
                    pass
            except OSError:
                pass
        self.held_s.append(time.monotonic() - t0)

    def close(self):
        self.sock.close()


class ReceiverMixin:
    """Receivers started by a test, killed at its end."""

    def setUp(self):
        super().setUp()
        self.receivers = []
        self.out = os.path.join(self.tmp, "outcomes.ndjson")

    def tearDown(self):
        for r in self.receivers:
            r.kill9()
        super().tearDown()

    def receiver(self, port=0, secret=SECRET):
        r = Receiver(self.tmp, self.out, port, secret,
                     name="receiver-%d" % (len(self.receivers) + 1))
        self.receivers.append(r)
        return r.start()


class ReceiverTest(ReceiverMixin, itlib.PoolTest):
    """The example receiver alone, spoken to as the pool would."""

    def test_a_signed_post_is_stored_once_bad_ones_refused(self):
        rec = self.receiver()
        two = [outcome(1), outcome(2)]
        body = body_of(two)
        now = int(time.time())
        status, ans = post(rec.url, body, sign(SECRET, now, body))
        self.assertEqual((status, ans), (200, {"taken": 2, "new": 2, "repeats": 0}))
        self.assertEqual(rec.outcomes(), two)
        # A repeat (the pool did not get our 200) is taken and dropped.
        status, ans = post(rec.url, body, sign(SECRET, now + 1, body))
        self.assertEqual((status, ans), (200, {"taken": 2, "new": 0, "repeats": 2}))
        # A batch with an outcome already taken and a new one.
        body3 = body_of([outcome(2), outcome(3)])
        status, ans = post(rec.url, body3, sign(SECRET, now, body3))
        self.assertEqual((status, ans), (200, {"taken": 2, "new": 1, "repeats": 1}))
        want = [outcome(1), outcome(2), outcome(3)]
        self.assertEqual(rec.outcomes(), want)
        # Refused, and nothing stored.
        four = body_of([outcome(4)])
        now = int(time.time())
        bad = [
            ("no signature", four, None, 401),
            ("another secret", four, sign("another-secret-0123456789", now, four), 401),
            ("another body's signature", four, sign(SECRET, now, body3), 401),
            ("a signature cut short", four, sign(SECRET, now, four)[:-1], 401),
            ("no v1", four, "t=%d" % now, 401),
            ("t not a number", four, sign(SECRET, now, four).replace("t=", "t=x"), 401),
            ("t 310 s old", four, sign(SECRET, now - 310, four), 401),
            ("t 310 s ahead", four, sign(SECRET, now + 310, four), 401),
            ("not JSON", b'{"outcomes":[', sign(SECRET, now, b'{"outcomes":['), 400),
            ("no outcomes array", b'{"o":[]}', sign(SECRET, now, b'{"o":[]}'), 400),
            ("an outcome without id", b'{"outcomes":[{"state":"sent"}]}',
             sign(SECRET, now, b'{"outcomes":[{"state":"sent"}]}'), 400),
        ]
        for name, b, sig, code in bad:
            with self.subTest(name):
                status, ans = post(rec.url, b, sig)
                self.assertEqual(status, code, ans)
                self.assertIsInstance(ans.get("error"), str, ans)
        self.assertEqual(rec.outcomes(), want)
        self.assertEqual(rec.answers(401), 8)
        # A timestamp just inside the window is taken.
        status, ans = post(rec.url, four, sign(SECRET, int(time.time()) - 290, four))
        self.assertEqual((status, ans["new"]), (200, 1), ans)
        # Nothing else is served.
        for method, url, code in (("GET", rec.url, 405), ("POST", rec.url + "x", 404),
                                  ("GET", rec.url.replace("/outcomes", "/"), 404)):
            req = urllib.request.Request(url, data=b"{}" if method == "POST" else None,
                                         method=method)
            with self.assertRaises(urllib.error.HTTPError) as cm:
                urllib.request.urlopen(req, timeout=30)
            self.assertEqual(cm.exception.code, code, (method, url))
        self.assertEqual(rec.stop(), 0)

    def test_a_restarted_receiver_still_drops_repeats(self):
        rec = self.receiver()
        body = body_of([outcome(1), outcome(2)])
        self.assertEqual(post(rec.url, body, sign(SECRET, int(time.time()), body))[0], 200)
        rec.kill9()
        # A write cut short by the kill: half a line, never acknowledged.
        with open(self.out, "ab") as f:
            f.write(json.dumps(outcome(3)).encode()[:20])
        rec = self.receiver(port=rec.port)
        body = body_of([outcome(2), outcome(3)])
        status, ans = post(rec.url, body, sign(SECRET, int(time.time()), body))
        self.assertEqual((status, ans), (200, {"taken": 2, "new": 1, "repeats": 1}))
        self.assertEqual(rec.outcomes(), [outcome(1), outcome(2), outcome(3)])
        with open(self.out, "rb") as f:
            self.assertTrue(f.read().endswith(b"\n"))
        self.assertEqual(rec.stop(), 0)

    def test_the_worked_example_of_outcomes_md(self):
        with open(DOC, encoding="utf-8") as f:
            doc = f.read()
        secret = re.search(r"^secret +(\S+)$", doc, re.M).group(1)
        t = int(re.search(r"^t +(\d+)$", doc, re.M).group(1))
        body = re.search(r"^body +(\{.*\})$", doc, re.M).group(1).encode()
        header = re.search(r"^Smsq-Signature: (t=\d+,v1=[0-9a-f]{64})$", doc, re.M).group(1)
        self.assertEqual(sign(secret, t, body), header)
        self.assertEqual(json.loads(body)["outcomes"][0]["id"], "3f2a9c0d11b7e6a5-42")


class OutcomesTest(ReceiverMixin, DispatchBase):
    """Pools pushing to the example receiver."""

    def setUp(self):
        super().setUp()
        self.t_start_ms = int(time.time() * 1000)

    def tearDown(self):
        print("(receiver: %d repeats dropped)" % sum(r.repeats() for r in self.receivers),
              end=" ", flush=True)
        super().tearDown()

    def args(self, cfg, url, **outcomes):
        """smsq-worker's options: the config file, the [outcomes] url and
        secret, and outcomes.NAME=VALUE for each of outcomes."""
        a = ["-c", cfg, "-o", "outcomes.url=" + url, "-o", "outcomes.secret=" + SECRET]
        for k, v in outcomes.items():
            a += ["-o", "outcomes.%s=%s" % (k, v)]
        return a

    def wait_pushed(self, pool, n, timeout_s=120):
        """Until n messages are sent and the outbox is empty."""
        return self.wait_states(pool, lambda s: s["states"]["sent"] == n and s["waiting"] == 0
                                and s["outbox"] == 0, timeout_s,
                                "%d sent and the outbox empty" % n)

    def sent_in_store(self):
        """{key: (message id, note)} of the store's sent messages (smsqctl
        list, page by page)."""
        out, after = {}, None
        while True:
            args = ["list", "--state", "sent", "--limit", "1000", "--json"]
            if after:
                args += ["--after", after]
            r = ctl(self.data_dir, *args)
            self.assertEqual(r.returncode, 0, r.stderr)
            page = json.loads(r.stdout)
            for m in page["messages"]:
                out[m["key"]] = (m["id"], m.get("note"))
            after = page["next"]
            if not after:
                return out

    def check_received(self, got, name, n, seqs=None):
        """got: what the receiver stored for the n events "<name>-<i>", all
        sent.  Checks each outcome against the contract and the store; seqs:
        the sequence numbers expected (default 1..n: nothing dropped)."""
        now_ms = int(time.time() * 1000)
        ids = collections.Counter(o["id"] for o in got)
        self.assertEqual({k: c for k, c in ids.items() if c > 1}, {}, "stored twice")
        stores, order = set(), []
        for o in got:
            self.assertEqual(set(o), FIELDS, o)
            m = OUTCOME_ID.match(o["id"])
            self.assertIsNotNone(m, "an id not of the form <16 hex>-<seq>: %r" % o["id"])
            stores.add(m.group(1))
            order.append(int(m.group(2)))
            self.assertIn(o["state"], STATES, o)
            self.assertIn(o["kind"], KINDS, o)
            for k in ("message_id", "at_ms"):
                self.assertIsInstance(o[k], int, o)
            for k in ("idempotency_key", "booking_id", "detail"):
                self.assertIsInstance(o[k], str, o)
            self.assertTrue(self.t_start_ms - 1000 <= o["at_ms"] <= now_ms + 1000, o)
        self.assertEqual(len(stores), 1, "one data directory, one store id: %s" % stores)
        # First arrivals come in sequence order (a repeat is not stored again).
        self.assertEqual(order, sorted(order), "outcomes not in sequence order")
        self.assertEqual(set(order), set(seqs or range(1, n + 1)))
        # Each message sent once, with its key, booking, kind, id and note.
        self.assertEqual({o["state"] for o in got}, {"sent"})
        by_key = {o["idempotency_key"]: o for o in got}
        self.assertEqual(len(by_key), len(got), "a message with two sent outcomes")
        store = self.sent_in_store()
        self.assertEqual(len(store), n)
        for key, o in by_key.items():
            self.assertRegex(key, r"^%s-\d+$" % re.escape(name))
            self.assertEqual(o["booking_id"], "B-" + key, o)
            self.assertEqual(o["kind"], "confirmed", o)
            self.assertEqual((o["message_id"], o["detail"]), store[key], o)
        if seqs is None:
            self.assertEqual(set(by_key), set(store))
        # A few in full against smsqctl inspect.
        for key in sorted(by_key)[:: max(1, len(by_key) // 5)]:
            r = ctl(self.data_dir, "inspect", "--key", key, "--json")
            self.assertEqual(r.returncode, 0, r.stderr)
            m, o = json.loads(r.stdout), by_key[key]
            self.assertEqual((o["message_id"], o["idempotency_key"], o["booking_id"], o["kind"],
                              o["state"], o["detail"]),
                             (m["id"], m["key"], m["booking_id"], m["kind"], m["state"],
                              m["note"]))
            self.assertLessEqual(abs(o["at_ms"] - iso_ms(m["updated"])), 1000, (o, m))

    def dropped_metric(self, pool):
        text = get(pool.monitor_url() + "metrics")[2]
        self.assertIn("smsq_outcomes_dropped_total", text)
        return total(parse(text), "smsq_outcomes_dropped_total")

    # ---- tests -----------------------------------------------------------

    def test_every_outcome_arrives_though_receiver_and_pool_are_killed(self):
        fake = self.fake()
        rec = self.receiver()
        # 800/s: over 12 s of sending, time for both kills to fall mid-run.
        cfg = self.config([("primary", self.provider(fake, rate_per_s=800, burst=40))])
        args = self.args(cfg, rec.url)
        pool = self.pool(workers=2, args=args)
        n = 10000
        path, _ = self.events("out", n)
        self.publish_all(pool, path, n)
        # The receiver dies (kill -9), and comes back on its port and file.
        wait_for(lambda: rec.lines() >= 1000, 60, "1000 outcomes received", interval=0.2)
        rec.kill9()
        at_kill = rec.lines()
        time.sleep(1.5)  # the pool's POSTs find nobody meanwhile
        rec = self.receiver(port=rec.port)
        wait_for(lambda: rec.lines() >= at_kill + 200, 60,
                 "outcomes received after the receiver's restart", interval=0.2)
        # The pool dies (kill -9), and a new one takes over the data directory.
        pool.kill9()
        before = self.stats()
        self.assertLess(before["states"]["sent"], n, "drained before the kill: test too slow")
        pool2 = self.pool(workers=2, args=args)
        self.wait_pushed(pool2, n)
        s = self.stats()
        self.assertEqual((s["outbox"], s["outbox_dropped"]), (0, 0), s)
        self.assertEqual(self.dropped_metric(pool2), 0)
        fs = fake.stats()
        self.assertEqual(fs["unique_accepted"], n, fs)
        self.assertEqual(rec.stop(), 0)
        self.check_received(rec.outcomes(), "out", n)
        self.finish(pool2, received_at_receiver_kill=at_kill,
                    sent_at_pool_kill=before["states"]["sent"],
                    outbox_at_pool_kill=before["outbox"], provider_duplicates=fs["duplicates"])

    def test_backend_down_then_up_nothing_lost(self):
        fake = self.fake()
        port = itlib.free_port()  # nothing listens there yet
        cfg = self.config([("primary", self.provider(fake, rate_per_s=5000, burst=250))])
        pool = self.pool(workers=2, args=self.args(cfg, "http://127.0.0.1:%d/outcomes" % port))
        n = 2000
        path, _ = self.events("down", n)
        self.publish_all(pool, path, n)
        # Sending does not wait for the backend; every outcome waits for it.
        self.wait_sent(pool, n, 120, extra=lambda s: s["waiting"] == 0)
        wait_for(lambda: self.stats()["outbox"] == n, 30, "%d outcomes in the outbox" % n)
        time.sleep(3)
        s = self.stats()
        self.assertEqual((s["outbox"], s["outbox_dropped"]), (n, 0), s)
        rec = self.receiver(port=port)
        up = time.monotonic()
        self.wait_pushed(pool, n)
        took = time.monotonic() - up
        self.assertEqual(rec.stop(), 0)
        self.check_received(rec.outcomes(), "down", n)
        self.finish(pool, arrived_after_s=round(took, 1))

    def test_a_silent_or_refusing_backend_is_retried(self):
        fake = self.fake()
        port = itlib.free_port()
        hole = BlackHole(port)
        self.addCleanup(hole.close)
        cfg = self.config([("primary", self.provider(fake, rate_per_s=5000, burst=250))])
        pool = self.pool(workers=2, args=self.args(cfg, "http://127.0.0.1:%d/outcomes" % port,
                                                   timeout_ms=1000))
        n = 500
        path, _ = self.events("silent", n)
        self.publish_all(pool, path, n)
        self.wait_sent(pool, n, 120, extra=lambda s: s["waiting"] == 0)
        # No answer within timeout_ms: the pool gives up on the POST, and
        # tries again later.
        try:
            wait_for(lambda: len(hole.held_s) >= 1 and hole.accepted >= 2, 60,
                     "a POST given up, and another")
        finally:
            hole.close()
        self.assertGreaterEqual(min(hole.held_s), 0.9, "gave up before timeout_ms")
        # A backend that refuses (401: it has another secret): retried too.
        rec = self.receiver(port=port, secret="not-the-pool-secret-0123456789")
        wait_for(lambda: rec.answers(401) >= 1, 60, "a POST refused")
        self.assertEqual(rec.outcomes(), [])
        self.assertEqual(self.stats()["outbox"], n)
        self.assertEqual(rec.stop(), 0)
        rec = self.receiver(port=port)
        self.wait_pushed(pool, n)
        self.assertEqual(rec.stop(), 0)
        self.check_received(rec.outcomes(), "silent", n)
        self.finish(pool, connections_held=hole.accepted)

    def test_an_outcome_the_backend_refuses_is_isolated_and_dropped(self):
        """A backend that answers 400 to any batch holding one outcome (the
        event with key refused-6): the others all get through, in halves
        around it, and that one is dropped after 3 refusals alone, logged
        and counted."""
        import http.server
        got, posts = [], collections.Counter()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                keys = [o["idempotency_key"] for o in body["outcomes"]]
                bad = "refused-6" in keys
                posts[(len(keys), bad)] += 1
                if not bad:
                    got.extend(body["outcomes"])
                self.send_response(400 if bad else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        fake = self.fake()
        cfg = self.config([("primary", self.provider(fake, rate_per_s=5000, burst=250))])
        n = 300
        pool = self.pool(workers=2, args=self.args(cfg, "http://127.0.0.1:%d/outcomes"
                                                   % srv.server_address[1], batch=100))
        path, _ = self.events("refused", n)
        self.publish_all(pool, path, n)
        self.wait_pushed(pool, n)
        keys = collections.Counter(o["idempotency_key"] for o in got)
        self.assertNotIn("refused-6", keys)
        self.assertEqual(set(keys), {"refused-%d" % i for i in range(n)} - {"refused-6"})
        self.assertEqual(posts[(1, True)], 3, posts)  # refused alone three times
        self.assertIn("refused 3 times alone", pool.log_text())
        wait_for(lambda: total(parse(get(pool.monitor_url() + "metrics")[2]),
                               "smsq_outcomes_refused_total") == 1, 10, "counted")
        self.finish(pool)

    def test_a_full_outbox_drops_its_oldest_counted(self):
        fake = self.fake()
        port = itlib.free_port()
        cfg = self.config([("primary", self.provider(fake, rate_per_s=5000, burst=250))])
        pool = self.pool(workers=2, args=self.args(cfg, "http://127.0.0.1:%d/outcomes" % port,
                                                   max=1000))
        n, kept = 2500, 1000
        path, _ = self.events("full", n)
        self.publish_all(pool, path, n)
        self.wait_sent(pool, n, 120, extra=lambda s: s["waiting"] == 0)
        wait_for(lambda: self.stats()["outbox_dropped"] == n - kept, 30, "the oldest dropped")
        s = self.stats()
        self.assertEqual((s["outbox"], s["outbox_dropped"]), (kept, n - kept), s)
        wait_for(lambda: self.dropped_metric(pool) == n - kept, 10, "the metric")
        rec = self.receiver(port=port)
        self.wait_pushed(pool, n)
        self.assertEqual(rec.stop(), 0)
        got = rec.outcomes()
        # The newest `kept` all arrive.  (A batch the pool read before its
        # outcomes were dropped may bring some older ones too.)
        newest = set(range(n - kept + 1, n + 1))
        seqs = {int(OUTCOME_ID.match(o["id"]).group(2)) for o in got}
        self.assertEqual(newest - seqs, set(), "some of the newest outcomes lost")
        self.check_received(got, "full", n, seqs=seqs)
        self.assertEqual(self.stats()["outbox_dropped"], n - kept)
        self.finish(pool, received=len(got))

    def test_invalid_outcomes_config_exits_2_naming_the_option(self):
        url = "http://127.0.0.1:9/outcomes"
        cases = [
            ("url without secret", ["outcomes.url=" + url], r"outcomes\.secret"),
            ("secret of 15 bytes", ["outcomes.url=" + url, "outcomes.secret=" + "s" * 15],
             r"outcomes\.secret"),
            ("secret of 257 bytes", ["outcomes.url=" + url, "outcomes.secret=" + "s" * 257],
             r"outcomes\.secret"),
            ("batch 0", ["outcomes.url=" + url, "outcomes.secret=" + SECRET, "outcomes.batch=0"],
             r"outcomes\.batch"),
            ("batch 5001", ["outcomes.url=" + url, "outcomes.secret=" + SECRET,
                            "outcomes.batch=5001"], r"outcomes\.batch"),
            ("not http", ["outcomes.url=ftp://127.0.0.1/outcomes", "outcomes.secret=" + SECRET],
             r"outcomes\.url"),
            ("unknown option", ["outcomes.speed=9"], r"outcomes\.speed"),
        ]
        cfg = self.config([("primary", {"type": "webhook", "base_url": url,
                                        "rate_per_s": 100})])
        for name, opts, pattern in cases:
            with self.subTest(name):
                cmd = [os.path.join(itlib.BIN, "smsq-worker"), "-c", cfg, "-d", self.data_dir,
                       "-e", "tcp://127.0.0.1:%d" % itlib.free_port(), "-w", "1"] + itlib.RUN_AS
                for o in opts:
                    cmd += ["-o", o]
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
                self.assertEqual(out.returncode, 2, out.stderr)
                self.assertRegex(out.stderr, pattern)


if __name__ == "__main__":
    itlib.main()
