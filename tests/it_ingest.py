"""Integration tests of durable ingest, through the real pool.

Each test starts bin/smsq-worker on a free loopback port with a fresh data
directory, talks to it over ZeroMQ (raw frames or the real smsq-publish), and
checks what the store holds with the real smsqctl.
"""

import json
import os
import random
import re
import signal
import socket
import subprocess
import time

import itlib
from itlib import Dealer, event, pb2, wait_for


class IngestTest(itlib.PoolTest):

    def assert_accepts(self, pool, prefix, n=20):
        """n new events, one at a time, each ACCEPTED."""
        d = Dealer(pool.endpoint)
        for i in range(n):
            self.assertEqual(d.call(event("%s-%d" % (prefix, i)), req_id=b"r%d" % i).status,
                             pb2().ACK_ACCEPTED)
        d.close()

    def test_same_key_three_times_one_message_two_duplicates(self):
        pool = self.pool()
        d = Dealer(pool.endpoint)
        ev = event("dup-key-1")
        acks = [d.call(ev, req_id=b"r%d" % i) for i in range(3)]
        d.close()
        m = pb2()
        self.assertEqual([a.status for a in acks],
                         [m.ACK_ACCEPTED, m.ACK_DUPLICATE, m.ACK_DUPLICATE])
        self.assertTrue(acks[0].message_id > 0)
        self.assertEqual({a.message_id for a in acks}, {acks[0].message_id})
        self.assertEqual(acks[1].idempotency_key, "dup-key-1")
        s = self.stats()
        self.assertEqual(s["waiting"], 1)
        self.assertEqual(s["total"], 1)
        self.assertEqual(s["states"]["ready"], 1)
        self.assertEqual(pool.stop(), 0)
        self.check_store()

    def test_pipelined_acks_match_request_ids(self):
        pool = self.pool(workers=2)
        d = Dealer(pool.endpoint)
        n = 500
        for i in range(n):
            d.request(b"id-%d" % i, event("pipe-%d" % i).SerializeToString())
        seen = {}
        for _ in range(n):
            rid, ack = d.recv()
            seen[rid] = ack
        d.close()
        self.assertEqual(set(seen), {b"id-%d" % i for i in range(n)})
        for i in range(n):
            self.assertEqual(seen[b"id-%d" % i].idempotency_key, "pipe-%d" % i)
            self.assertEqual(seen[b"id-%d" % i].status, pb2().ACK_ACCEPTED)
        self.assertEqual(len({a.message_id for a in seen.values()}), n)
        self.assertEqual(self.stats()["waiting"], n)

    def test_garbage_frames_answered_and_worker_keeps_serving(self):
        pool = self.pool(workers=1)
        pids = sorted(pool.pids())
        m = pb2()
        d = Dealer(pool.endpoint)
        rnd = random.Random(7)
        cases = [
            ("random bytes", [b"", b"g1", bytes(rnd.getrandbits(8) for _ in range(300))], m.REASON_UNDECODABLE),
            ("truncated event", [b"", b"g2", event("trunc").SerializeToString()[:25]], m.REASON_UNDECODABLE),
            ("one frame", [b"just-one"], m.REASON_BAD_FRAMES),
            ("no delimiter", [b"g3", event("nodelim").SerializeToString()], m.REASON_BAD_FRAMES),
            ("delimiter only", [b""], m.REASON_BAD_FRAMES),
            ("four frames", [b"", b"g4", b"x", b"y"], m.REASON_BAD_FRAMES),
            ("twelve frames", [b""] + [b"f"] * 11, m.REASON_BAD_FRAMES),
            ("empty request id", [b"", b"", event("emptyid").SerializeToString()], m.REASON_BAD_FRAMES),
            ("request id too long", [b"", b"i" * 65, event("longid").SerializeToString()], m.REASON_BAD_FRAMES),
            ("oversize", [b"", b"g5", event("big", text="x" * 20000).SerializeToString()], m.REASON_OVERSIZE),
            ("empty event", [b"", b"g6", b""], m.REASON_MISSING_FIELD),
        ]
        for name, frames, reason in cases:
            with self.subTest(name):
                d.send(frames)
                self.assertTrue(d.sock.poll(30000), "no reply to " + name)
                reply = d.sock.recv_multipart()
                self.assertEqual(len(reply), 3, name)
                self.assertEqual(reply[0], b"")
                ack = m.Ack()
                ack.ParseFromString(reply[2])
                self.assertEqual(ack.status, m.ACK_REJECTED, name)
                self.assertEqual(m.Reason.Name(ack.reason), m.Reason.Name(reason), name)
                self.assertTrue(ack.detail, name)
        # Still serving, same processes, nothing stored by the garbage.
        ok = d.call(event("after-garbage"))
        d.close()
        self.assertEqual(ok.status, m.ACK_ACCEPTED)
        self.assertEqual(sorted(pool.pids()), pids)
        self.assertEqual(self.stats()["total"], 1)

    def test_invalid_events_rejected_with_reason_nothing_stored(self):
        pool = self.pool(workers=1)
        m = pb2()
        now = int(time.time() * 1000)
        cases = [
            ("bad phone", {"phone": "+3361234"}, m.REASON_INVALID_PHONE),
            ("impossible phone", {"phone": "+33 6 39 12 34 56"}, m.REASON_INVALID_PHONE),
            ("fixed line", {"phone": "+33 1 42 68 53 00"}, m.REASON_NOT_MOBILE),
            ("premium rate", {"phone": "0899 123 456"}, m.REASON_NOT_MOBILE),
            ("national, no region", {"phone": "06 12 34 56 78", "locale": "fr"},
             m.REASON_INVALID_PHONE),
            ("missing key", {"idempotency_key": ""}, m.REASON_MISSING_FIELD),
            ("already expired", {"expires_at_ms": now - 1000}, m.REASON_ALREADY_EXPIRED),
            ("appointment past", {"appointment_at_ms": now - 60000}, m.REASON_ALREADY_EXPIRED),
            ("version 2", {"version": 2}, m.REASON_UNSUPPORTED_VERSION),
            ("unknown zone", {"time_zone": "Europe/Atlantis"}, m.REASON_INVALID_FIELD),
            ("zone traversal", {"time_zone": "../../etc/passwd"}, m.REASON_INVALID_FIELD),
            ("bad locale", {"locale": "french"}, m.REASON_INVALID_FIELD),
            ("no kind", {"kind": m.KIND_UNSPECIFIED}, m.REASON_MISSING_FIELD),
            ("priority 10", {"priority": 10}, m.REASON_INVALID_FIELD),
            ("text too long", {"text": "y" * 1601}, m.REASON_TEXT_TOO_LONG),
            ("text over 10 GSM-7 segments", {"text": "y" * 1531}, m.REASON_TEXT_TOO_LONG),
            ("text over 10 UCS-2 segments", {"text": "\U0001F600" * 336}, m.REASON_TEXT_TOO_LONG),
            ("no place", {"place": ""}, m.REASON_MISSING_FIELD),
        ]
        d = Dealer(pool.endpoint)
        for i, (name, over, reason) in enumerate(cases):
            with self.subTest(name):
                ack = d.call(event("bad-%d" % i, **over), req_id=b"b%d" % i)
                self.assertEqual(ack.status, m.ACK_REJECTED, name)
                self.assertEqual(m.Reason.Name(ack.reason), m.Reason.Name(reason), name)
                self.assertTrue(ack.detail)
        # At the limit it is stored: 10 parts of 153 septets.
        ok = d.call(event("ten-parts", text="y" * 1530), req_id=b"ok10")
        self.assertEqual(ok.status, m.ACK_ACCEPTED, ok.detail)
        d.close()
        s = self.stats()
        self.assertEqual(s["total"], 1)
        self.assertEqual(s["segments_waiting"], 10)

    def test_phone_numbers_normalised_and_countries_allowed(self):
        pool = self.pool(workers=1, args=["-o", "ingest.allowed_countries=FR,IT",
                                          "-o", "ingest.default_region=IT"])
        m = pb2()
        d = Dealer(pool.endpoint)
        cases = [  # key, overrides, status, reason
            ("fr-national", {"phone": "06 12 34 56 78"}, m.ACK_ACCEPTED, m.REASON_NONE),
            ("fr-again", {"phone": "+33 (0)6 12 34 56 78"}, m.ACK_ACCEPTED, m.REASON_NONE),
            ("it-default-region", {"phone": "312 345 6789", "locale": "it"},
             m.ACK_ACCEPTED, m.REASON_NONE),
            ("de-refused", {"phone": "+49 151 23456789"}, m.ACK_REJECTED,
             m.REASON_COUNTRY_NOT_ALLOWED),
            ("uk-refused", {"phone": "+44 7400 123456", "locale": "en-GB"}, m.ACK_REJECTED,
             m.REASON_COUNTRY_NOT_ALLOWED),
        ]
        for key, over, status, reason in cases:
            with self.subTest(key):
                ack = d.call(event(key, **over), req_id=key.encode())
                self.assertEqual(ack.status, status, ack.detail)
                self.assertEqual(m.Reason.Name(ack.reason), m.Reason.Name(reason))
                if status == m.ACK_REJECTED:
                    self.assertIn("not allowed", ack.detail)
                    self.assertNotIn("23456789", ack.detail)  # no number in details
        d.close()
        self.assertEqual(self.stats()["total"], 3)
        # The pool refuses to start with a country code that does not exist.
        bad = subprocess.run([os.path.join(itlib.BIN, "smsq-worker"), "-d", self.tmp + "/x",
                              "-o", "ingest.allowed_countries=FR,XX", "--print-config"],
                             capture_output=True, text=True)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("XX", bad.stderr)

    def test_smart_encoding_saves_segments(self):
        pool = self.pool(workers=1)
        m = pb2()
        d = Dealer(pool.endpoint)
        # 80 characters with a circumflex: UCS-2, 2 parts; as GSM-7, 1 part.
        ack = d.call(event("smart-1", text="H\u00f4pital " * 10), req_id=b"s1")
        self.assertEqual(ack.status, m.ACK_ACCEPTED, ack.detail)
        # An emoji keeps a text UCS-2: left exactly as it is, nothing saved.
        ack = d.call(event("smart-2", text="Rendez-vous confirm\u00e9 \U0001F600"), req_id=b"s2")
        self.assertEqual(ack.status, m.ACK_ACCEPTED, ack.detail)
        d.close()
        s = self.stats()
        self.assertEqual(s["segments_saved"], 1)
        self.assertEqual(s["segments_waiting"], 2)
        self.assertEqual(pool.stop(), 0)

    def test_smart_encoding_can_be_switched_off(self):
        pool = self.pool(workers=1, args=["-o", "ingest.smart_encoding=0"])
        d = Dealer(pool.endpoint)
        ack = d.call(event("smart-off", text="H\u00f4pital " * 10), req_id=b"s3")
        d.close()
        self.assertEqual(ack.status, pb2().ACK_ACCEPTED, ack.detail)
        s = self.stats()
        self.assertEqual(s["segments_saved"], 0)
        self.assertEqual(s["segments_waiting"], 2)

    def test_issue20_a_text_with_nothing_visible_is_rejected_empty_text(self):
        # A zero-width space is emptied by smart encoding: nothing would be
        # sent, and a provider would refuse it, so ingest does.
        pool = self.pool(workers=1)
        m = pb2()
        d = Dealer(pool.endpoint)
        cases = [("zwsp", "\u200b"), ("spaces", " \n \r\n "),
                 ("joiners", "\u200d\u2060\ufeff\u00ad")]
        for key, text in cases:
            with self.subTest(key):
                ack = d.call(event(key, text=text), req_id=key.encode())
                self.assertEqual((ack.status, m.Reason.Name(ack.reason)),
                                 (m.ACK_REJECTED, "REASON_EMPTY_TEXT"), ack.detail)
                self.assertIn("nothing visible", ack.detail)
        ok = d.call(event("dot", text="\u200b."), req_id=b"dot")
        self.assertEqual(ok.status, m.ACK_ACCEPTED, ok.detail)
        d.close()
        self.assertEqual(self.stats()["total"], 1)
        self.assertIn("zwsp: status=rejected reason=empty_text", pool.log_text())

    def test_issue20_a_text_over_what_a_configured_provider_takes_is_rejected(self):
        # Twilio takes 1,600 characters; Infobip and the webhook contract take
        # a whole concatenated SMS.  Failover may use any configured provider.
        m = pb2()
        closed = "http://127.0.0.1:%d" % itlib.free_port()
        limits = ["-o", "ingest.max_text_bytes=4096", "-o", "ingest.max_segments=20"]

        def provider(name, type, **extra):
            opts = dict(type=type, base_url=closed, rate_per_s=10, sender="SMSQTEST",
                        token="test-token", **extra)
            return sum((["-o", "provider.%s.%s=%s" % (name, k, v)] for k, v in opts.items()),
                       [])

        def ack_of(pool, key):
            d = Dealer(pool.endpoint)
            ack = d.call(event(key, text="y" * 2000), req_id=key.encode())
            d.close()
            return ack

        pool = self.pool(workers=1, args=limits + provider("backup", "infobip") +
                         provider("gw", "webhook"))
        ack = ack_of(pool, "long-1")
        self.assertEqual(ack.status, m.ACK_ACCEPTED, ack.detail)
        self.assertEqual(pool.stop(), 0)
        pool = self.pool(workers=1, args=limits + provider("backup", "infobip") +
                         provider("primary", "twilio", account="AC0123"))
        ack = ack_of(pool, "long-2")
        self.assertEqual((ack.status, m.Reason.Name(ack.reason)),
                         (m.ACK_REJECTED, "REASON_TEXT_TOO_LONG"), ack.detail)
        self.assertIn("2000 characters", ack.detail)
        self.assertIn("1600 that provider primary (twilio)", ack.detail)
        self.assertEqual(self.stats()["total"], 1)

    def test_20000_published_pool_killed_after_last_ack_all_there(self):
        pool = self.pool(workers=2)
        path = self.gen(20000, seed=3)
        rc, summary = self.publish(pool, path)
        self.assertEqual(rc, 0, summary)
        self.assertEqual(summary["accepted"], 20000)
        # SIGKILL the whole pool right after the last ack: nothing may be lost.
        pool.kill9()
        s = self.stats()
        self.assertEqual(s["waiting"], 20000)
        self.assertEqual(s["total"], 20000)
        self.check_store()
        # Reopened: everything is there, and a republish stores nothing new.
        pool2 = self.pool(workers=2)
        rc, summary = self.publish(pool2, path)
        self.assertEqual(rc, 0, summary)
        self.assertEqual(summary["duplicate"], 20000)
        self.assertEqual(self.stats()["total"], 20000)
        self.assertEqual(pool2.stop(), 0)
        self.check_store()

    def test_stop_mid_stream_keeps_every_accepted_event(self):
        # A SIGTERM while events stream in finds batches being read and
        # committed: every event acked ACCEPTED must be stored, the stop must
        # be clean, and a republish must complete the set without doubles.
        pool = self.pool(workers=2)
        path = self.gen(12000, seed=5)
        pub = subprocess.Popen([os.path.join(itlib.BIN, "smsq-publish"), "-e", pool.endpoint,
                                "--json-summary", "-q", "-t", "3000", path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            itlib.wait_for(lambda: self.stats()["total"] >= 2000, what="events stored")
            self.assertEqual(pool.stop(), 0)
            out, err = pub.communicate(timeout=120)
        finally:
            if pub.poll() is None:
                pub.kill()
                pub.wait()
        summary = json.loads(out)
        stored = self.stats()["total"]
        self.assertGreaterEqual(summary["accepted"], 2000, summary)
        self.assertLessEqual(summary["accepted"], stored, summary)
        self.check_store()
        pool2 = self.pool(workers=2)
        rc, summary2 = self.publish(pool2, path)
        self.assertEqual(rc, 0, summary2)
        self.assertEqual(summary2["duplicate"], stored)
        self.assertEqual(summary2["accepted"], 12000 - stored)
        self.assertEqual(self.stats()["total"], 12000)
        self.assertEqual(pool2.stop(), 0)
        self.check_store()

    def test_dead_worker_is_restarted(self):
        pool = self.pool(workers=2)
        children = len(pool.pids())  # 2 workers (one takes events: no broker)
        victim = sorted(pool.pids())[-1]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(pool.pids()) == children and victim not in pool.pids(),
                 what="restart")
        wait_for(lambda: pool.log_text().count("started: store") >= 3, what="worker ready")
        self.assert_accepts(pool, "after-restart")
        self.assertEqual(pool.stop(), 0)

    def test_endpoint_in_use_the_ingesting_worker_retries_until_it_is_free(self):
        # The only ingesting worker binds the endpoint itself: while another
        # program holds the port it says so and tries again, sending all the
        # while (the same process: not restarted), and once the port is free
        # events flow.
        pool = itlib.Pool(self.data_dir, 1)
        self.pools.append(pool)
        failed = "ingest: cannot bind %s: Address already in use" % pool.endpoint
        blocker = socket.socket()
        try:
            blocker.bind(("127.0.0.1", pool.port))
            blocker.listen()
            pool.start(wait=False)
            wait_for(lambda: pool.log_text().count(failed) >= 1, what="a failed bind")
            pids = pool.pids()
            wait_for(lambda: pool.log_text().count(failed) >= 2, what="a second failed bind")
            self.assertEqual(pool.pids(), pids, pool.log_text())
            self.assertIn("sending; taking events once ingest starts", pool.log_text())
            self.assertNotIn("ingest endpoint", pool.log_text())
        finally:
            blocker.close()
        wait_for(lambda: "ingest endpoint" in pool.log_text(), what="the endpoint bound")
        self.assertEqual(pool.pids(), pids, pool.log_text())
        self.assert_accepts(pool, "port-freed")
        self.assertEqual(pool.stop(), 0)
        self.assertEqual(self.stats()["total"], 20)

    def test_one_worker_takes_events_unless_told_otherwise(self):
        # ingest.workers = 1 (the default): worker 1 takes every event, the
        # others only send; killed, it is restarted and events flow again.
        pool = self.pool(workers=3)
        self.assertEqual(len(pool.pids()), 3)  # no broker: worker 1 binds the endpoint
        log = pool.log_text()
        taking = re.findall(r"\[(\d+)\] info: started: store .*taking events", log)
        self.assertEqual(len(taking), 1, log)
        self.assertEqual(log.count("sending only (ingest.workers)"), 2, log)
        d = Dealer(pool.endpoint)
        for i in range(300):
            d.request(b"a%d" % i, event("one-taker-%d" % i).SerializeToString())
        acks = [d.recv()[1] for _ in range(300)]
        self.assertEqual({a.status for a in acks}, {pb2().ACK_ACCEPTED})
        os.kill(int(taking[0]), signal.SIGKILL)
        wait_for(lambda: pool.log_text().count("taking events") == 2, what="restart")
        for i in range(20):
            self.assertEqual(d.call(event("after-%d" % i), req_id=b"b%d" % i).status,
                             pb2().ACK_ACCEPTED)
        d.close()
        self.assertEqual(pool.stop(), 0)
        accepted = [int(x) for x in re.findall(r"stopped: accepted=(\d+)", pool.log_text())]
        self.assertEqual(sorted(accepted), [0, 0, 20], pool.log_text())
        self.assertEqual(self.stats()["total"], 320)

    def test_every_worker_takes_events_with_ingest_workers_0(self):
        pool = self.pool(workers=2, args=["-o", "ingest.workers=0"])
        self.assertEqual(pool.log_text().count("taking events"), 2)
        self.assertEqual(len(pool.pids()), 3)  # the broker and 2 workers
        d = Dealer(pool.endpoint)
        acks = []
        # In rounds: a worker's connection to the broker completes in the
        # background after it says "started", and the broker deals only to
        # workers connected.
        for r in range(8):
            for i in range(50):
                d.request(b"a%d-%d" % (r, i), event("all-take-%d-%d" % (r, i)).SerializeToString())
            acks += [d.recv()[1] for _ in range(50)]
            time.sleep(0.25)
        d.close()
        self.assertEqual({a.status for a in acks}, {pb2().ACK_ACCEPTED})
        self.assertEqual(pool.stop(), 0)
        accepted = [int(x) for x in re.findall(r"stopped: accepted=(\d+)", pool.log_text())]
        self.assertEqual(sum(accepted), 400)
        self.assertEqual(len([a for a in accepted if a > 0]), 2, pool.log_text())

    def test_store_full_answers_retry_later_and_keeps_what_was_acked(self):
        # A 1 MiB map that may not grow: ingest must answer RETRY_LATER, never
        # crash, and what was ACCEPTED before stays.
        pool = self.pool(workers=1, args=["-o", "store.map_size_mb=1", "-o", "store.map_max_mb=1"])
        m = pb2()
        d = Dealer(pool.endpoint)
        accepted, retry = 0, 0
        for i in range(3000):
            ack = d.call(event("full-%d" % i, text="t" * 1000), req_id=b"f%d" % i)
            if ack.status == m.ACK_ACCEPTED:
                accepted += 1
            else:
                self.assertEqual(ack.status, m.ACK_RETRY_LATER)
                self.assertEqual(ack.reason, m.REASON_STORE_FULL)
                self.assertTrue(ack.retry_after_ms > 0)
                retry += 1
                if retry > 5:
                    break
        d.close()
        self.assertTrue(accepted > 0 and retry > 0, (accepted, retry))
        self.assertEqual(self.stats()["total"], accepted)
        self.assertEqual(pool.stop(), 0)
        self.check_store()

    def test_map_grows_instead_of_failing(self):
        pool = self.pool(workers=1, args=["-o", "store.map_size_mb=1", "-o", "store.map_max_mb=64"])
        d = Dealer(pool.endpoint)
        for i in range(3000):
            self.assertEqual(d.call(event("grow-%d" % i, text="t" * 1000), req_id=b"g%d" % i).status,
                             pb2().ACK_ACCEPTED)
        d.close()
        s = self.stats()
        self.assertEqual(s["total"], 3000)
        self.assertTrue(s["store_bytes"]["map"] > 1 << 20)

    def test_second_pool_on_same_store_refused(self):
        self.pool(workers=1)
        p2 = itlib.Pool(self.data_dir, 1)
        self.pools.append(p2)
        with self.assertRaises(AssertionError):
            p2.start()
        self.assertIn("another smsq-worker pool", p2.log_text())

    def test_bad_config_is_a_clear_error(self):
        import subprocess
        out = subprocess.run([os.path.join(itlib.BIN, "smsq-worker"), "-d", self.data_dir,
                              "-o", "ingest.batch_max=0"], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 2)
        self.assertIn("ingest.batch_max", out.stderr)
        self.assertIn("out of range", out.stderr)

    # What a producer sends can neither forge a line nor flood the pool's
    # log, and every ack decodes.

    def log_lines(self, pool):
        """The pool's log as lines of bytes (split on newlines only)."""
        with open(pool.log_path, "rb") as f:
            return f.read().split(b"\n")

    def test_a_key_cannot_forge_a_log_line(self):
        pool = self.pool(workers=1)
        m = pb2()
        forged = "2026-12-07T00:00:00.000Z worker-9[1] error: FORGED LINE"
        d = Dealer(pool.endpoint)
        ack = d.call(event("fa-key\n" + forged + "\x1b[2J\\"), req_id=b"f1")
        d.close()
        self.assertEqual(ack.status, m.ACK_REJECTED)
        self.assertEqual(m.Reason.Name(ack.reason), "REASON_INVALID_FIELD")
        line = wait_for(lambda: [l for l in self.log_lines(pool) if b"status=rejected" in l],
                        what="the rejection line")[0]
        self.assertIn(b"fa-key\\x0a2026-12-07T00:00:00.000Z worker-9[1] error:", line)
        for l in self.log_lines(pool):
            self.assertFalse(l.startswith(forged[:25].encode()), l)
            self.assertNotIn(b"\x1b", l)
            self.assertNotEqual(l.strip(), b"FORGED LINE")
        self.check_store()  # the store is whole after the fault

    def test_a_flood_of_rejections_is_rate_limited(self):
        pool = self.pool(workers=1)
        m = pb2()
        big = event("f" * 16000, booking_id="B-flood").SerializeToString()
        self.assertLess(len(big), 16384)
        before = os.path.getsize(pool.log_path)
        d = Dealer(pool.endpoint)
        n, window, sent, got = 10000, 256, 0, 0
        while got < n:
            while sent < n and sent - got < window:
                d.request(b"f%d" % sent, big)
                sent += 1
            _, ack = d.recv()
            self.assertEqual(ack.status, m.ACK_REJECTED)
            self.assertEqual(m.Reason.Name(ack.reason), "REASON_INVALID_FIELD")
            got += 1
        ok = d.call(event("after-flood"), req_id=b"ok")
        d.close()
        self.assertEqual(ok.status, m.ACK_ACCEPTED)
        self.assertLess(os.path.getsize(pool.log_path) - before, 200 * 1024)
        wait_for(lambda: "rejection lines suppressed" in pool.log_text(), timeout_s=30,
                 what="the suppressed-count line")
        self.assertLess(os.path.getsize(pool.log_path) - before, 200 * 1024)
        lines = [l for l in self.log_lines(pool) if b"status=rejected" in l]
        self.assertTrue(lines)
        self.assertTrue(all(len(l) < 400 for l in lines), max(len(l) for l in lines))
        self.check_store()  # the store is whole after the fault

    def test_a_key_that_is_not_utf8_gets_an_ack_that_decodes(self):
        pool = self.pool(workers=1)
        m = pb2()
        raw = event("fa-key-X").SerializeToString()
        field2 = b"\x12\x08fa-key-X"  # idempotency_key (field 2), 8 bytes
        self.assertEqual(raw.count(field2), 1)
        raw = raw.replace(field2, b"\x12\x08fa-key-\xff")
        d = Dealer(pool.endpoint)
        d.request(b"u1", raw)
        self.assertTrue(d.sock.poll(30000), "no reply")
        reply = d.sock.recv_multipart()
        ack = m.Ack()
        ack.ParseFromString(reply[2])  # raises DecodeError if a string is not UTF-8
        ok = d.call(event("after-bad-key"), req_id=b"ok")
        d.close()
        self.assertEqual(reply[1], b"u1")
        self.assertEqual(ack.status, m.ACK_REJECTED)
        self.assertEqual(m.Reason.Name(ack.reason), "REASON_INVALID_FIELD")
        self.assertEqual(ack.idempotency_key, "")
        self.assertIn("idempotency_key", ack.detail)
        self.assertEqual(ok.status, m.ACK_ACCEPTED)
        self.assertEqual(ok.idempotency_key, "after-bad-key")
        line = wait_for(lambda: [l for l in self.log_lines(pool) if b"status=rejected" in l],
                        what="the rejection line")[0]
        self.assertTrue(line.startswith(b"20"), line)
        self.assertIn(b"fa-key-\\xff: status=rejected", line)
        with open(pool.log_path, "rb") as f:
            self.assertNotIn(b"\xff", f.read())
        self.check_store()  # the store is whole after the fault

    def test_out_of_descriptors_a_check_is_retry_later_not_rejected(self):
        # The ingesting worker at its descriptor limit (idle TCP connections
        # that never speak ZeroMQ): a valid event whose zone was never looked
        # up cannot have it checked (EMFILE): RETRY_LATER, reason temporary,
        # never REJECTED.  The log says connections cannot be accepted and,
        # after the handshake interval, that the silent ones were closed;
        # with descriptors free again the same bytes are ACCEPTED.
        m = pb2()
        limit = 64
        pool = self.pool(workers=1, prefix=["prlimit", "--nofile=%d:%d" % (limit, limit), "--"])
        self.assertIn("descriptor limit %d per process" % limit, pool.log_text())
        d = Dealer(pool.endpoint)
        self.assertEqual(d.call(event("fd-warm"), req_id=b"w").status, m.ACK_ACCEPTED)
        ev = event("fd-tokyo", time_zone="Asia/Tokyo")
        idle = self.idle_connections(pool, limit + 40)  # more than the worker can accept
        try:
            wait_for(lambda: "ingest: cannot accept a connection: Too many open files "
                     "(descriptor limit %d" % limit in pool.log_text(), 20, "the accept failure logged")
            ack = d.call(ev, req_id=b"t0")
            self.assertEqual((ack.status, ack.reason), (m.ACK_RETRY_LATER, m.REASON_TEMPORARY),
                             str(ack))
            self.assertGreater(ack.retry_after_ms, 0)
            self.assertIn("time_zone could not be checked now: Too many open files", ack.detail)
            wait_for(lambda: re.search(r"ingest: closed \d+ connections? before the ZeroMQ handshake",
                                       pool.log_text()), 20, "silent connections closed")
        finally:
            for s in idle:
                s.close()
        resends = []

        def resend():  # as a producer does: the same bytes after retry_after_ms
            time.sleep(ack.retry_after_ms / 1000)
            resends.append(d.call(ev, req_id=b"t%d" % (len(resends) + 1)))
            return resends[-1].status != m.ACK_RETRY_LATER
        wait_for(resend, 20, "the resent event answered otherwise than RETRY_LATER")
        d.close()
        self.assertEqual(resends[-1].status, m.ACK_ACCEPTED, str(resends[-1]))
        log = pool.log_text()
        self.assertIn("fd-tokyo: status=retry_later reason=temporary", log)
        self.assertNotIn("status=rejected", log)
        self.assertEqual(self.stats()["total"], 2)
        self.assertEqual(pool.stop(), 0)
        self.check_store()  # the store is whole after the fault

    def test_broker_out_of_descriptors_says_so_and_serves_connected_producers(self):
        # With two ingesting workers the broker binds the endpoint: at its
        # descriptor limit it logs that it cannot accept, and a producer
        # already connected is still served.
        m = pb2()
        limit = 64
        pool = self.pool(workers=2, args=["-o", "ingest.workers=2"],
                         prefix=["prlimit", "--nofile=%d:%d" % (limit, limit), "--"])
        d = Dealer(pool.endpoint)
        self.assertEqual(d.call(event("bfd-0"), req_id=b"b0").status, m.ACK_ACCEPTED)
        idle = self.idle_connections(pool, limit + 40)
        try:
            wait_for(lambda: "broker: cannot accept a connection: Too many open files "
                     "(descriptor limit %d" % limit in pool.log_text(), 20, "the broker's accept failure")
            ack = d.call(event("bfd-1", time_zone="Asia/Tokyo"), req_id=b"b1")
            self.assertEqual(ack.status, m.ACK_ACCEPTED, str(ack))  # the workers have descriptors
        finally:
            for s in idle:
                s.close()
        d.close()
        self.assertEqual(pool.stop(), 0)
        self.check_store()  # the store is whole after the fault

    def test_a_worker_restarted_while_the_broker_is_out_of_descriptors(self):
        # The broker at its descriptor limit (a flood of idle connections)
        # while a worker dies and the master starts it again: the broker
        # reaches the new worker without accepting anything (an accept on
        # the workers' side at that limit used to abort it inside libzmq),
        # and the pool serves producers again once the flood ends.
        m = pb2()
        limit = 64
        pool = self.pool(workers=2, args=["-o", "ingest.workers=2"],
                         prefix=["prlimit", "--nofile=%d:%d" % (limit, limit), "--"])
        d = Dealer(pool.endpoint)
        self.assertEqual(d.call(event("wr-0"), req_id=b"w0").status, m.ACK_ACCEPTED)
        idle = self.idle_connections(pool, limit + 40)
        try:
            wait_for(lambda: "broker: cannot accept a connection" in pool.log_text(), 20,
                     "the broker's accept failure")
            victim = int(re.search(r"started worker-1 pid=(\d+)", pool.log_text()).group(1))
            os.kill(victim, signal.SIGKILL)
            wait_for(lambda: len(re.findall(r"started worker-1 pid=", pool.log_text())) >= 2
                     and pool.log_text().count("started: store") >= 3, 30,
                     "worker-1 started again")
            time.sleep(1)  # the broker meets the new worker's endpoint meanwhile
        finally:
            for s in idle:
                s.close()
        log = pool.log_text()
        self.assertTrue("broker pid=" not in log.split("started worker-2")[1],
                        "the broker died:\n" + "\n".join(
                            ln for ln in log.splitlines() if "accept a connection" not in ln))
        for i in range(4):  # both workers take events again
            ack = d.call(event("wr-%d" % (i + 1)), req_id=b"w%d" % (i + 1))
            self.assertEqual(ack.status, m.ACK_ACCEPTED, str(ack))
        d.close()
        self.assertEqual(pool.stop(), 0)
        self.assertEqual(self.stats()["total"], 5)

    def idle_connections(self, pool, n):
        """n TCP connections to pool's endpoint that never speak ZeroMQ
        (non-blocking connects: those the pool does not accept wait in its
        listen backlog)."""
        idle = []
        for _ in range(n):
            s = socket.socket()
            idle.append(s)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", pool.port))
        return idle


if __name__ == "__main__":
    itlib.main()
