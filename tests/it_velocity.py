#!/usr/bin/python3
"""it_velocity: the velocity limits against SMS pumping, end to end.

A pool with the default limits (velocity.*) and a fake Infobip: 10,000 events
to sequential numbers of one range within a minute are stopped (refused
velocity_range, counted in smsqctl stats and the metrics, logged without the
numbers; the fake gets only the range's allowance), while gen-bookings'
realistic traffic passes untouched.  Then each limit alone: a number's (and a
resend of a stored event is still a duplicate), a country's, and the check at
dispatch of a number's sends (messages taken before the limit was lowered).  The
counts outlive a restart of the pool (saved into the data directory at the
stop, loaded at the start).  With velocity.over_limit = hold, events over a
limit are stored held instead: never sent until an operator releases them
(smsqctl requeue --state held) or cancels them."""

import json
import os
import re
import subprocess
import time
import unittest
import urllib.request

import harness
import itlib
from harness import wait_for


class Velocity(itlib.PoolTest):

    def events(self, name, phones):
        """Due events to phones, as NDJSON; returns the path."""
        now = int(time.time() * 1000)
        path = os.path.join(self.tmp, "events-%s.ndjson" % name)
        with open(path, "w", encoding="utf-8") as f:
            for i, phone in enumerate(phones):
                f.write(json.dumps({
                    "version": 1, "idempotency_key": "%s-%d" % (name, i),
                    "booking_id": "B-%s-%d" % (name, i), "kind": "confirmed", "phone": phone,
                    "locale": "fr-FR", "patient_name": "Camille Martin",
                    "practitioner_name": "Dr Lefevre", "place": "Centre de Nimes",
                    "appointment_at": now + 86400000, "time_zone": "Europe/Paris",
                    "created_at": now}) + "\n")
        return path

    def fake_pool(self, args=(), workers=2):
        fake = harness.Fake(self.tmp, args=["--api", "infobip", "--rate-limit", "5000"])
        fake.start()
        self.addCleanup(fake.stop)
        conf = os.path.join(self.tmp, "smsq.conf")
        harness.write_config(conf, {"ingest.workers": 2},
                             providers=[("primary", fake.provider("infobip", 5000))])
        return fake, self.pool(workers, ["-c", conf] + list(args), velocity=True)

    def metrics(self, pool):
        url = pool.monitor_url()
        with urllib.request.urlopen(url.rstrip("/") + "/metrics", timeout=30) as r:
            return r.read().decode()

    def metric(self, text, name, labels):
        m = re.search(r"^%s\{%s\} (\d+)$" % (re.escape(name), re.escape(labels)), text, re.M)
        return int(m.group(1)) if m else None

    def sent_total(self, fake):
        return fake.stats()["unique_accepted"]

    def test_pumping_one_range_is_stopped_realistic_traffic_passes(self):
        fake, pool = self.fake_pool()
        # The attack: 10,000 sequential numbers of one range (+33 6 12 34
        # xx xx, range_digits 4), published as fast as the pool takes them.
        attack = self.events("pump", ["+3361234%04d" % i for i in range(10000)])
        t0 = time.monotonic()
        rc, s = self.publish(pool, attack)
        self.assertLess(time.monotonic() - t0, 60, "the attack took more than a minute")
        self.assertEqual(rc, 1, s)
        self.assertEqual(s["accepted"], 60, s)  # velocity.range_per_minute's default
        self.assertEqual(s["rejected"], {"velocity_range": 9940}, s)
        # Realistic traffic meanwhile: gen-bookings' surge, untouched.
        realistic = self.gen(20000, seed=3)
        rc, s = self.publish(pool, realistic)
        self.assertEqual(rc, 0, s)
        self.assertEqual((s["accepted"], s["rejected"]), (20000, {}), s)

        st = self.stats()
        self.assertEqual(st["velocity"]["ingest_range"], 9940, st["velocity"])
        self.assertEqual(st["velocity"]["ingest_number"], 0, st["velocity"])
        wait_for(lambda: self.metric(self.metrics(pool), "smsq_events_total",
                                     'result="rejected",reason="velocity_range"') == 9940,
                 60, "the metric of the refusals")
        # The provider got the range's allowance of the attack, and the rest
        # (but the reminders, scheduled for later).
        with open(realistic, encoding="utf-8") as f:
            due = sum(1 for line in f if '"not_before"' not in line)
        wait_for(lambda: self.stats()["states"]["sent"] >= due + 60, 180, "the drain")
        self.assertEqual(self.sent_total(fake), due + 60)
        self.assertEqual(self.stats()["states"]["failed"], 0)
        pool.stop()
        log = pool.log_text()
        self.assertIn("status=rejected reason=velocity_range", log)
        self.assertIsNone(re.search(r"\+?3361234\d{4}", log), "a number in the log")

    def test_number_limit_and_a_resend_is_still_a_duplicate(self):
        _, pool = self.fake_pool(["-o", "velocity.number_per_hour=3"])
        path = self.events("num", ["+33655000001"] * 5)
        rc, s = self.publish(pool, path)
        self.assertEqual((s["accepted"], s["rejected"]), (3, {"velocity_number": 2}), s)
        # The same events again: the three stored are duplicates, not refusals.
        rc, s = self.publish(pool, path)
        self.assertEqual((s["duplicate"], s["rejected"]), (3, {"velocity_number": 2}), s)
        self.assertEqual(self.stats()["velocity"]["ingest_number"], 4)

    def test_counts_outlive_a_restart(self):
        _, pool = self.fake_pool(["-o", "velocity.number_per_hour=3"])
        rc, s = self.publish(pool, self.events("before", ["+33655000003"] * 3))
        self.assertEqual(s["accepted"], 3, s)
        pool.stop()  # the master saves the counts into the data directory
        self.assertTrue(os.path.exists(os.path.join(self.data_dir, "velocity")))
        _, pool = self.fake_pool(["-o", "velocity.number_per_hour=3"])
        self.assertRegex(pool.log_text(), r"velocity: 2 keys loaded from ")
        rc, s = self.publish(pool, self.events("after", ["+33655000003"]))
        self.assertEqual(s["rejected"], {"velocity_number": 1}, s)

    def ctl(self, *args):
        out = subprocess.run([os.path.join(itlib.BIN, "smsqctl"), "-d", self.data_dir] +
                             list(args), capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout

    def test_held_then_released_or_cancelled(self):
        fake, pool = self.fake_pool(["-o", "velocity.number_per_hour=3",
                                     "-o", "velocity.over_limit=hold"])
        rc, s = self.publish(pool, self.events("hold", ["+33655000004"] * 5))
        # All five stored: three to be sent, two held (ACCEPTED with the reason).
        self.assertEqual((rc, s["accepted"], s["held"], s["rejected"]), (0, 5, 2, {}), s)
        wait_for(lambda: self.stats()["states"]["sent"] == 3, 60, "the three sent")
        st = self.stats()
        self.assertEqual(st["states"]["held"], 2, st["states"])
        self.assertEqual(st["waiting"], 0, st)  # held is not the backlog
        self.assertEqual(st["velocity"]["held_number"], 2, st["velocity"])
        self.assertEqual(self.sent_total(fake), 3)
        wait_for(lambda: self.metric(self.metrics(pool), "smsq_events_held_total",
                                     'reason="velocity_number"') == 2, 60, "the metric")
        held = json.loads(self.ctl("list", "--state", "held", "--json"))
        held = held["messages"] if isinstance(held, dict) else held
        self.assertEqual(len(held), 2, held)
        # Nothing more goes out while they are held...
        time.sleep(1)
        self.assertEqual(self.sent_total(fake), 3)
        # ... until an operator releases them: sent, not refused again at
        # dispatch (the number already had its three sends this hour).
        self.assertIn("requeued 2", self.ctl("requeue", "--state", "held"))
        wait_for(lambda: self.stats()["states"]["sent"] == 5, 60, "the released sent")
        self.assertEqual(self.sent_total(fake), 5)
        # Two more, held, then cancelled by the filter.
        rc, s = self.publish(pool, self.events("hold2", ["+33655000004"] * 2))
        self.assertEqual(s["held"], 2, s)
        self.assertIn("cancelled 2", self.ctl("cancel", "--state", "held"))
        st = self.stats()
        self.assertEqual((st["states"]["held"], st["states"]["cancelled"]), (0, 2), st["states"])
        self.assertEqual(self.sent_total(fake), 5)
        pool.stop()
        log = pool.log_text()
        self.assertIn("status=held reason=velocity_number", log)
        self.assertNotIn("55000004", log)
        self.check_store()

    def test_country_limit(self):
        _, pool = self.fake_pool(["-o", "velocity.country_per_minute=5"])
        rc, s = self.publish(pool, self.events("fr", ["+336%02d000001" % (10 + i)
                                                      for i in range(8)]))
        self.assertEqual((s["accepted"], s["rejected"]), (5, {"velocity_country": 3}), s)
        rc, s = self.publish(pool, self.events("de", ["+4915112345678"]))
        self.assertEqual(s["accepted"], 1, s)  # another country counts apart

    def test_dispatch_checks_the_sends_of_a_number(self):
        # Taken with no number limit and no provider...
        pool = self.pool(1, ["-o", "velocity.number_per_hour=0",
                             "-o", "velocity.number_per_day=0"], velocity=True)
        rc, s = self.publish(pool, self.events("backlog", ["+33655000002"] * 5))
        self.assertEqual(s["accepted"], 5, s)
        pool.stop()
        # ... then sent by a pool that allows 2 an hour: 3 fail unsent.
        fake, pool = self.fake_pool(["-o", "velocity.number_per_hour=2"], workers=1)
        wait_for(lambda: self.stats()["waiting"] == 0, 60, "the backlog sent or failed")
        st = self.stats()
        self.assertEqual((st["states"]["sent"], st["states"]["failed"]), (2, 3), st["states"])
        self.assertEqual(st["velocity"]["dispatch_number_per_hour"], 3, st["velocity"])
        self.assertEqual(self.sent_total(fake), 2)
        wait_for(lambda: self.metric(self.metrics(pool), "smsq_velocity_sends_refused_total",
                                     'limit="number_per_hour"') == 3, 60, "the metric")


if __name__ == "__main__":
    itlib.main()
