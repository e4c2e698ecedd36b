"""Integration tests of the dispatch side, through the real pool and the fake provider.

Each test starts bin/smsq-fakeprovider (one or two) on 127.0.0.1 with a record
file, writes a config file with [provider.NAME] sections pointing at it,
starts bin/smsq-worker with it (itlib.Pool), publishes events with the real
smsq-publish, waits for the store (smsqctl stats) to say they are done, then
stops the fake (SIGTERM flushes its record file) and checks what the fake
really received: one line per message, with its own server-side timestamps.

Events are written here with known keys and phones (no reminders, so every
event is due now) unless a test says otherwise.  Times are never asserted as
upper bounds: the waits are generous and the tests pass under ASan on a busy
machine.  A test also fails when nothing reaches an end state for a while (a
stall), rather than waiting out its whole timeout.

SMSQ_KEEP_TMP=1 keeps each test's directory (store, pool log, config, the
fakes' logs and record files) for a look after the run.
"""

import bisect
import collections
import datetime
import json
import os
import re
import signal
import subprocess
import time

import harness
import itlib
from itlib import wait_for

WORKER_BIN = os.path.join(itlib.BIN, "smsq-worker")
SID = "AC" + "0123456789abcdef" * 2
Rec = harness.Rec


class Fake(harness.Fake):
    """One smsq-fakeprovider with a record file, started at once."""

    def __init__(self, tmp, name, args=()):
        super().__init__(tmp, name, args, record=True)
        self.start()


def accepted(recs):
    return [r for r in recs if r.outcome == "accepted"]


def busiest_1s(recs):
    """Most accepted messages whose times, cut to the millisecond, fall in
    1000 consecutive milliseconds (as the fake's max_accepted_1s)."""
    return harness.busiest_1s(sorted(int(r.t_ms) for r in accepted(recs)))


def worker_pids(pool):
    """{'worker-1': pid, ...} of the workers started so far (latest pid wins)."""
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"started (worker-\d+) pid=(\d+)", pool.log_text())}


def last_sunday(year, month):
    """Day of the month of the last Sunday of month (1-11): the day Europe
    changes to and from summer time."""
    last = datetime.date(year, month + 1, 1) - datetime.timedelta(days=1)
    return last.day - (last.weekday() + 1) % 7


class DispatchBase(itlib.PoolTest):
    """What the dispatch tests share (fakes, configs, events, waits); no
    tests of its own, so that other test files may build on it."""

    def setUp(self):
        super().setUp()
        self.fakes = []
        self.t0 = time.monotonic()

    def tearDown(self):
        for p in self.pools:
            p.kill9()
        for f in self.fakes:
            f.stop()
        print(" (%.1f s)" % (time.monotonic() - self.t0), end=" ", flush=True)
        if os.environ.get("SMSQ_KEEP_TMP"):  # debugging: keep stores, logs, records
            print("\n  kept " + self.tmp)
            self.pools = []
            return
        super().tearDown()

    # ---- helpers ---------------------------------------------------------

    def fake(self, name="primary", args=()):
        f = Fake(self.tmp, name, args)
        self.fakes.append(f)
        return f

    @staticmethod
    def provider(fake, type="webhook", **over):
        """The options of one [provider.NAME] section pointing at fake."""
        opts = {"type": type}
        if type == "webhook":
            opts["base_url"] = "http://127.0.0.1:%d/webhook" % fake.port
        else:
            opts["base_url"] = "http://127.0.0.1:%d" % fake.port
        if type == "infobip":
            opts.update(token="test-key", sender="SMSQTEST")
        if type == "twilio":
            opts.update(account=SID, token="test-token", sender="+33644630000")
        if type == "sinch":
            opts.update(account="plan1", token="test-token", sender="SMSQTEST")
        if type == "vonage":
            opts.update(account="abcd1234", token="test-secret", sender="SMSQTEST")
        opts.update(rate_per_s=2000, burst=100, count="messages", concurrency=64, timeout_ms=2000)
        opts.update(over)
        return opts

    def config(self, providers, retry=None, dispatch=None, name="smsq.conf"):
        """Write a config file: providers is [(name, options)], in failover order."""
        lines = []
        for pname, opts in providers:
            lines.append("[provider.%s]" % pname)
            lines += ["%s = %s" % kv for kv in opts.items()]
        r = {"base_ms": 200, "cap_ms": 2000, "max_attempts": 50}
        r.update(retry or {})
        lines.append("[retry]")
        lines += ["%s = %s" % kv for kv in r.items()]
        d = {"lease_ms": 5000}
        d.update(dispatch or {})
        lines.append("[dispatch]")
        lines += ["%s = %s" % kv for kv in d.items()]
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def events(self, name, n, phone=None, expires_in_ms=None):
        """n due events as NDJSON, keys '<name>-<i>', phones phone(i) (distinct
        French mobiles by default).  Returns (path, [phones])."""
        phone = phone or (lambda i: "+33655%06d" % i)
        now = int(time.time() * 1000)
        path = os.path.join(self.tmp, "events-%s.ndjson" % name)
        phones = []
        with open(path, "w", encoding="utf-8") as f:
            for i in range(n):
                ev = {"version": 1, "idempotency_key": "%s-%d" % (name, i),
                      "booking_id": "B-%s-%d" % (name, i), "kind": "confirmed",
                      "phone": phone(i), "locale": "fr-FR", "patient_name": "Camille Martin",
                      "practitioner_name": "Dr Lefèvre",
                      "place": "Centre de vaccination de Nîmes",
                      "appointment_at": now + 86400000, "time_zone": "Europe/Paris",
                      "created_at": now}
                if expires_in_ms is not None:
                    ev["expires_at"] = now + expires_in_ms
                phones.append(ev["phone"])
                f.write(json.dumps(ev, ensure_ascii=False) + "\n")
        return path, phones

    def due_in(self, path):
        """Events of an NDJSON file without not_before (sent now, not later)."""
        with open(path, encoding="utf-8") as f:
            return sum(1 for line in f if "not_before" not in json.loads(line))

    def publish_all(self, pool, path, n):
        rc, summary = self.publish(pool, path)
        self.assertEqual(rc, 0, summary)
        self.assertEqual(summary["accepted"], n, summary)

    def diag(self, pool=None):
        s = self.stats()
        text = "\nstats: %s" % json.dumps({k: s[k] for k in ("states", "waiting", "retries",
                                                            "ambiguous_retries", "lease_expired")})
        for f in self.fakes:
            if f.proc.poll() is None:
                try:
                    text += "\nfake %s: %s" % (f.name, f.stats())
                except OSError as e:
                    text += "\nfake %s: %s" % (f.name, e)
        if pool is not None:
            text += "\npool log (last 30 lines):\n" + "\n".join(pool.log_text().splitlines()[-30:])
        return text

    def wait_states(self, pool, pred, timeout_s, what, stall_s=60):
        """Wait until pred(stats) holds; the failure message shows the state.
        Also fails when no message has reached an end state (sent, failed,
        expired) for stall_s seconds: at the rates used here that is a stall,
        not slowness."""
        last = [None, time.monotonic()]

        def check():
            s = self.stats()
            if pred(s):
                return True
            done = sum(s["states"][k] for k in ("sent", "delivered", "failed", "expired"))
            if done != last[0]:
                last[:] = [done, time.monotonic()]
            elif time.monotonic() - last[1] > stall_s:
                raise AssertionError("no progress for %d s" % stall_s)
            return False
        try:
            return wait_for(check, timeout_s, what)
        except AssertionError as e:
            raise AssertionError("waiting for %s: %s%s" % (what, e, self.diag(pool))) from None

    def wait_sent(self, pool, n, timeout_s, extra=lambda s: True, stall_s=60):
        return self.wait_states(
            pool, lambda s: s["states"]["sent"] + s["states"]["delivered"] >= n and extra(s),
            timeout_s, "%d sent" % n, stall_s)

    @staticmethod
    def circuit_lines(log):
        """The pool's log without the per-message lines (for failure messages)."""
        lines = [l for l in log.splitlines() if "status=" not in l]
        return "\npool log without the message lines:\n" + "\n".join(lines[:40] + ["..."] + lines[-40:])

    def finish(self, *pools, **notes):
        """End of a test: the pool stops cleanly (SIGTERM, exit 0: in-flight
        requests finished, outcomes committed, no leak), no sanitizer report
        in any pool's log (a worker that crashed is restarted quietly), and
        the store's indexes agree.  notes are printed (for the report)."""
        if notes:
            print("\n  " + " ".join("%s=%s" % kv for kv in notes.items()), end="", flush=True)
        for p in pools:
            self.assertEqual(p.stop(), 0, self.circuit_lines(p.log_text()))
        for p in self.pools:
            for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
                self.assertNotIn(bad, p.log_text())
        self.check_store()

    # Requests another worker had already written when the pool read a
    # throttled answer arrive after it: on a loaded machine, a few ms later.
    IN_FLIGHT_MS = 50

    def assert_held_after_throttles(self, recs, hold_ms):
        """After each throttled answer in recs, nothing accepted for hold_ms
        (the provider's Retry-After, less a margin: the hold runs from when
        the pool read the answer), but what was already on its way in the
        first IN_FLIGHT_MS.  Messages of the same request carry the same
        timestamp, hence the strict '>'.  Returns (the throttled answers'
        times, the gaps after them)."""
        acc = sorted(r.t_ms for r in accepted(recs))
        thr = sorted({r.t_ms for r in recs if r.outcome == "throttled"})
        bad = []
        j = 0
        for t in thr:
            while j < len(acc) and acc[j] <= t + self.IN_FLIGHT_MS:
                j += 1
            if j < len(acc) and acc[j] < t + hold_ms:
                bad.append((t, acc[j]))
        self.assertEqual(bad, [], "accepted within %d ms after a throttled answer "
                         "(throttle time, accept time), %d throttles" % (hold_ms, len(thr)))
        gaps = [acc[bisect.bisect_right(acc, t)] - t for t in thr
                if bisect.bisect_right(acc, t) < len(acc)]
        return thr, gaps

    def check_bad_credentials_park(self, type, unauthorized_status, max_refused=40):
        """The provider (of API type) refuses our credentials for its first
        8 s (a rotated key, fixed 8 s later): its traffic stops after a few
        requests, the messages keep their attempts and their place, ops see
        it, and sending resumes at the next probe once the key works again.
        unauthorized_status: the HTTP status of its refusal (Vonage's is a
        200); max_refused: requests refused at most (those out when the first
        refusal came, and the probes).  Returns (the provider's entry in
        smsqctl stats, the pool's log)."""
        fake = self.fake(args=["--api", type, "--auth-fail", "0:8"])
        cfg = self.config([("primary", self.provider(fake, type=type, rate_per_s=500,
                                                     burst=25))])
        pool = self.pool(workers=2, args=["-c", cfg])
        n = 2000
        path, _ = self.events("key", n)
        self.publish_all(pool, path, n)
        p = wait_for(lambda: [x for x in self.stats()["providers"]
                              if x["name"] == "primary" and x["misconfigured"]],
                     timeout_s=30, what="the provider parked")[0]
        top = subprocess.run([os.path.join(itlib.BIN, "smsqctl"), "-d", self.data_dir, "top",
                              "--plain", "--max-seconds", "1", "--interval-ms", "500"],
                             capture_output=True, text=True, timeout=60).stdout
        self.assertIn("misconfigured", top)
        self.wait_sent(pool, n, 120, extra=lambda s: s["waiting"] == 0)
        s = self.stats()
        self.assertEqual(fake.stop(), 0)
        recs = fake.records()
        refused = [r for r in recs if r.outcome == "unauthorized"]
        self.assertTrue(refused, "nothing refused: the window was missed")
        self.assertTrue(all(r.status == unauthorized_status for r in refused), refused[:3])
        fixed = fake.spawned_ms + 8000  # at the earliest: the delay below is at most
        self.assertLessEqual(len({(r.t_ms, r.api) for r in refused}), max_refused,
                             "requests refused: the traffic did not stop")
        self.assertEqual(s["states"]["failed"], 0, s)
        self.assertEqual(s["attempts"], n, "a refusal counted as an attempt: %s" % s)
        first = min(r.t_ms for r in accepted(recs))
        self.assertGreaterEqual(first, fixed - 100)
        # Probes go after 1, 2, 4 s, then every 5 s (PACE_MISCONF_MAX_S).
        self.assertLessEqual(first - fixed, 6000, "sending resumed %.0f ms after the fix"
                             % (first - fixed))
        self.assert_each_once(recs, n)
        self.finish(pool, refused=len(refused), resumed_ms=round(first - fixed))
        return p, pool.log_text()

    def assert_each_once(self, recs, n):
        """n distinct keys accepted, each exactly once."""
        keys = collections.Counter(r.key for r in accepted(recs))
        dups = {k: c for k, c in keys.items() if c > 1}
        self.assertEqual(dups, {}, "keys accepted more than once")
        self.assertEqual(len(keys), n)

    def drain_with_bad_numbers(self, type, n, bad_every, fake_args=(), timeout_s=120, **over):
        """A fake of API type refusing the numbers starting with +3361234
        for good, a pool sending it n events, one in bad_every to such a
        number, until all are sent or failed.  Returns (fake, pool, the
        phones, the bad ones)."""
        fake = self.fake(args=["--fail-prefix", "+3361234"] + list(fake_args))
        cfg = self.config([("primary", self.provider(fake, type=type, **over))])
        path, phones = self.events(
            type, n,
            phone=lambda i: ("+33612340%03d" if i % bad_every == 0 else "+33655%06d") % i)
        bad = {p for p in phones if p.startswith("+3361234")}
        pool = self.pool(workers=2, args=["-c", cfg])
        self.publish_all(pool, path, n)
        self.wait_states(pool, lambda s: s["states"]["sent"] == n - len(bad)
                         and s["states"]["failed"] == len(bad), timeout_s, "sent and failed")
        return fake, pool, phones, bad

    def check_throttling_holds(self, type, fake_args=()):
        """The fake of API type allows 200/s, smsq is told 1000/s: it gets
        throttled, and each throttled answer (Retry-After: 1) must hold it
        back 1 s; each message is sent once."""
        fake = self.fake(args=["--rate-limit", "200", "--retry-after", "1"] + list(fake_args))
        cfg = self.config([("primary", self.provider(fake, type=type, rate_per_s=1000,
                                                     burst=50))])
        pool = self.pool(workers=2, args=["-c", cfg])
        n = 600
        path, _ = self.events("ra", n)
        self.publish_all(pool, path, n)
        self.wait_sent(pool, n, 120)
        time.sleep(0.5)
        fs = fake.stats()
        self.assertEqual(fake.stop(), 0)
        recs = fake.records()
        self.assertGreater(fs["throttled"], 0, fs)
        self.assertEqual(fs["duplicates"], 0, fs)
        self.assert_each_once(recs, n)
        self.assertEqual(self.stats()["states"]["sent"], n)
        self.assertIn("throttled, holding for", pool.log_text())
        thr, gaps = self.assert_held_after_throttles(recs, 900)
        self.finish(pool, throttled=fs["throttled"], throttle_answers=len(thr),
                    shortest_gap_ms=int(min(gaps)) if gaps else None)


class DispatchTest(DispatchBase):

    # ---- texts -------------------------------------------------------------

    def test_localised_texts_reach_the_provider(self):
        """Templates per locale, dates in the event's zone across next year's
        daylight-saving changes (the last Sundays of March and October: ahead
        of the pool's clock and inside its 3-year window whenever the test
        runs), national numbers normalised, smart encoding: what the provider
        receives, exactly."""
        year = time.gmtime().tm_year + 1
        mar, oct_ = last_sunday(year, 3), last_sunday(year, 10)
        spring, autumn = "%d-03-%02d" % (year, mar), "%d-10-%02d" % (year, oct_)
        fake = self.fake()
        cfg = self.config([("primary", self.provider(fake))])
        pool = self.pool(workers=1, args=["-c", cfg])
        base = {"version": 1, "patient_name": "Camille Martin",
                "practitioner_name": "Dr Lef\u00e8vre", "place": "Centre de N\u00eemes"}
        cases = [  # (overrides, destination sent to, text sent)
            ({"locale": "fr-FR", "phone": "06 55 00 00 01", "kind": "confirmed",
              "time_zone": "Europe/Paris", "appointment_at": spring + "T00:30:00Z"},
             "+33655000001", ("Camille Martin, votre RDV avec Dr Lef\u00e8vre le dimanche %d mars "
                              "\u00e0 01:30 est confirm\u00e9. Lieu : Centre de Nimes") % mar),
            ({"locale": "fr-FR", "phone": "+33 6 55 00 00 02", "kind": "confirmed",
              "time_zone": "Europe/Paris", "appointment_at": spring + "T01:30:00Z"},
             "+33655000002", ("Camille Martin, votre RDV avec Dr Lef\u00e8vre le dimanche %d mars "
                              "\u00e0 03:30 est confirm\u00e9. Lieu : Centre de Nimes") % mar),
            ({"locale": "de-DE", "phone": "0151 23456789", "kind": "rescheduled",
              "time_zone": "Europe/Berlin", "appointment_at": autumn + "T00:30:00Z"},
             "+4915123456789", ("Camille Martin, Ihr Termin bei Dr Lef\u00e8vre ist verlegt: "
                                "Sonntag, %d. Oktober um 02:30 Uhr. Ort: Centre de Nimes") % oct_),
            ({"locale": "it-IT", "phone": "+39 312 345 6789", "kind": "cancelled",
              "time_zone": "Europe/Rome", "appointment_at": spring + "T09:00:00Z"},
             "+393123456789", ("Camille Martin, il suo appuntamento con Dr Lef\u00e8vre di "
                               "domenica %d marzo alle 11:00 \u00e8 annullato.") % mar),
            ({"locale": "en-GB", "phone": "07400 123456", "kind": "reminder",
              "time_zone": "Europe/London", "appointment_at": spring + "T09:00:00Z"},
             "+447400123456", ("Reminder: Camille Martin, appointment with Dr Lef\u00e8vre on "
                               "Sunday, %d March at 10:00. Place: Centre de Nimes") % mar),
            ({"locale": "pt-PT", "phone": "+351 912 345 678", "kind": "confirmed",
              "time_zone": "Europe/Lisbon", "appointment_at": spring + "T09:00:00Z"},
             "+351912345678", ("Camille Martin, your appointment with Dr Lef\u00e8vre on Sunday, "
                               "March %d at 10:00 AM is confirmed. Place: Centre de Nimes") % mar),
            ({"locale": "en-US", "phone": "+1 201 555 0123", "kind": "confirmed",
              "time_zone": "America/New_York", "appointment_at": spring + "T18:00:00Z",
              "place": "Main St"},
             "+12015550123", ("Camille Martin, your appointment with Dr Lef\u00e8vre on Sunday, "
                              "March %d at 2:00 PM is confirmed. Place: Main St") % mar),
            ({"locale": "fr-FR", "phone": "+33655000003", "kind": "confirmed",
              "time_zone": "Europe/Paris", "appointment_at": spring + "T09:00:00Z",
              "text": "Votre RDV est confirm\u00e9 \U0001F600"},
             "+33655000003", "Votre RDV est confirm\u00e9 \U0001F600"),
        ]
        path = os.path.join(self.tmp, "texts.ndjson")
        with open(path, "w", encoding="utf-8") as f:
            for i, (over, _, _) in enumerate(cases):
                ev = dict(base, idempotency_key="t-%d" % i, booking_id="B-t-%d" % i)
                ev.update(over)
                f.write(json.dumps(ev, ensure_ascii=False) + "\n")
        self.publish_all(pool, path, len(cases))
        self.wait_sent(pool, len(cases), 60)
        s = self.stats()
        self.assertEqual(fake.stop(), 0)
        got = {r.dest: r.text for r in accepted(fake.records())}
        for over, dest, text in cases:
            with self.subTest(over["locale"] + " " + over["appointment_at"]):
                self.assertEqual(got.get(dest), text)
        # The five texts with "Nîmes" are over 70 characters: UCS-2 would
        # have cost 2 parts each, GSM-7 costs 1.  The emoji text stays UCS-2.
        self.assertEqual(s["segments_saved"], 5)
        self.finish(pool)

    # ---- pacing ----------------------------------------------------------

    def test_limit_held_busiest_second_at_the_provider(self):
        fake = self.fake()
        rate, burst = 1000, 50
        cfg = self.config([("primary", self.provider(fake, rate_per_s=rate, burst=burst))])
        pool = self.pool(workers=2, args=["-c", cfg])
        path = self.gen(3000, seed=11)
        due = self.due_in(path)
        self.publish_all(pool, path, 3000)
        self.wait_sent(pool, due, 120)
        time.sleep(0.5)  # anything more (a duplicate) would show
        s = self.stats()
        self.assertEqual(s["states"]["sent"], due)
        self.assertEqual(s["states"]["delayed"], 3000 - due)  # the reminders, for later
        self.assertEqual(s["states"]["failed"] + s["states"]["expired"], 0)
        fs = fake.stats()
        self.assertEqual(fake.stop(), 0)
        recs = fake.records()
        busiest = busiest_1s(recs)
        self.assertLessEqual(busiest, rate + burst,
                             "busiest 1 s window at the provider: %d" % busiest)
        self.assertLessEqual(fs["max_accepted_1s"], rate + burst, fs)
        self.assertEqual(fs["unique_accepted"], due, fs)
        self.assertEqual(fs["duplicates"], 0, fs)
        self.assert_each_once(recs, due)
        self.finish(pool, due=due, busiest_1s=busiest, limit=rate + burst)

    def test_retry_after_holds_the_provider(self):
        self.check_throttling_holds("webhook")

    # ---- failures ----------------------------------------------------------

    def test_transient_500s_everything_sent_exactly_once(self):
        fake = self.fake(args=["--error-rate", "0.2", "--seed", "1"])
        cfg = self.config([("primary", self.provider(fake, circuit_open_ms=1000))])
        pool = self.pool(workers=2, args=["-c", cfg])
        path = self.gen(1000, seed=12)
        due = self.due_in(path)
        self.publish_all(pool, path, 1000)
        self.wait_sent(pool, due, 120)
        time.sleep(0.5)
        s = self.stats()
        fs = fake.stats()
        self.assertEqual(fake.stop(), 0)
        recs = fake.records()
        self.assertEqual(s["states"]["sent"], due)
        self.assertEqual(s["states"]["failed"] + s["states"]["expired"], 0, s)
        self.assertGreater(s["retries"], 0, s)
        self.assertGreater(fs["errors"], 0, fs)
        self.assertEqual(fs["unique_accepted"], due, fs)
        self.assertEqual(fs["duplicates"], 0, fs)
        self.assert_each_once(recs, due)
        # Every message that met a 500 was accepted later.
        errored = {r.key for r in recs if r.outcome == "error"}
        self.assertTrue(errored)
        self.assertLessEqual(errored, {r.key for r in accepted(recs)})
        self.finish(pool, due=due, retries=s["retries"], http_500=fs["errors"])

    def test_permanent_4xx_fails_with_reason_not_retried(self):
        # Twilio: one message a request; the fake answers 400 code 21211 for
        # destinations starting with +3361234.
        fake = self.fake(args=["--fail-prefix", "+3361234"])
        cfg = self.config([("primary", self.provider(fake, type="twilio"))])
        pool = self.pool(workers=2, args=["-c", cfg])
        n, bad_every = 50, 5
        path, phones = self.events(
            "4xx", n, phone=lambda i: ("+33612340%03d" if i % bad_every == 0 else "+33655%06d") % i)
        bad = {p for p in phones if p.startswith("+3361234")}
        self.publish_all(pool, path, n)
        self.wait_states(pool, lambda s: s["states"]["sent"] == n - len(bad)
                         and s["states"]["failed"] == len(bad), 120, "sent and failed")
        time.sleep(1.0)  # a retry (base_ms 200) would show by now
        s = self.stats()
        self.assertEqual(s["retries"], 0, s)
        self.assertEqual(s["states"]["failed"], len(bad), s)
        log = pool.log_text()
        reasons = re.findall(r'status=failed reason="([^"]*)"', log)
        self.assertEqual(len(reasons), len(bad), log)
        for r in reasons:
            self.assertRegex(r, r"^http 400 code 21211: ")
        fs = fake.stats()
        self.assertEqual(fake.stop(), 0)
        recs = fake.records()
        per_dest = collections.Counter(r.dest for r in recs)
        for p in phones:
            self.assertEqual(per_dest[p], 1, "%s seen %d times at the provider" % (p, per_dest[p]))
        for r in recs:
            self.assertEqual((r.status, r.outcome),
                             (400, "rejected") if r.dest in bad else (201, "accepted"), r)
        self.assertEqual(fs["rejected"], len(bad), fs)
        self.finish(pool)
        # Regression (fixed in 1711c77): Twilio's 21211 message echoes the
        # number and the reason was logged as is ('to=+33*******35 ...
        # reason="http 400 code 21211: The 'To' number +33612340035 is not a
        # valid phone number."'), against provider/PROVIDERS.md ("log them
        # masked").
        leaked = [p for p in phones if p in log]
        self.assertEqual(leaked, [], "full phone numbers in the pool's log")

    def check_failures_inside_batches(self, type):
        n = 300
        fake, pool, phones, bad = self.drain_with_bad_numbers(type, n, 4)
        time.sleep(1.0)
        s = self.stats()
        self.assertEqual(s["retries"], 0, s)
        reasons = re.findall(r'status=failed reason="([^"]*)"', pool.log_text())
        self.assertEqual(len(reasons), len(bad))
        fs = fake.stats()
        self.assertEqual(fake.stop(), 0)
        recs = fake.records()
        self.assertEqual(len(recs), n, "each message seen once")
        # (Infobip numbers go without the '+'.)
        self.assertEqual(collections.Counter("+" + r.dest.lstrip("+") for r in recs),
                         collections.Counter(phones))
        for r in recs:
            self.assertEqual(r.outcome, "rejected" if "+" + r.dest.lstrip("+") in bad
                             else "accepted", r)
            self.assertEqual(r.status, 200, r)
        # Requests really mixed both: the messages of one request carry one
        # server timestamp.
        by_req = collections.defaultdict(set)
        for r in recs:
            by_req[r.t_ms].add(r.outcome)
        mixed = [t for t, o in by_req.items() if o == {"accepted", "rejected"}]
        self.assertTrue(mixed, "no request mixed accepted and rejected messages")
        self.assertEqual(fs["rejected"], len(bad), fs)
        self.finish(pool, mixed_requests=len(mixed))
        return reasons

    def test_failures_inside_an_infobip_batch(self):
        reasons = self.check_failures_inside_batches("infobip")
        for r in reasons:
            self.assertRegex(r, r"^infobip REJECTED/")

    def test_failures_inside_a_webhook_batch(self):
        reasons = self.check_failures_inside_batches("webhook")
        for r in reasons:
            self.assertEqual(r, "webhook rejected: destination rejected permanently")

    # ---- expiry ------------------------------------------------------------

    def test_expired_while_provider_down_never_sent(self):
        fake = self.fake(args=["--outage", "0:30"])
        cfg = self.config([("primary", self.provider(fake, circuit_open_ms=1000))])
        pool = self.pool(workers=2, args=["-c", cfg])
        n = 30
        path, _ = self.events("exp", n, expires_in_ms=4000)
        self.publish_all(pool, path, n)
        self.wait_states(pool, lambda s: s["states"]["expired"] == n, 60, "all expired")
        s = self.stats()
        self.assertEqual(s["states"]["sent"] + s["states"]["failed"], 0, s)
        self.assertEqual(s["waiting"], 0, s)
        fs = fake.stats()
        self.assertEqual(fake.stop(), 0)
        self.assertEqual(fs["accepted"], 0, fs)
        self.assertEqual(accepted(fake.records()), [])
        self.finish(pool, requests_503=fs["errors"])

    def test_expired_behind_a_slow_provider_never_sent_late(self):
        # 2 messages a second: most cannot go before their expiry.
        fake = self.fake()
        cfg = self.config([("primary", self.provider(fake, rate_per_s=2, burst=1))])
        pool = self.pool(workers=2, args=["-c", cfg])
        n = 40
        expires_ms = int(time.time() * 1000) + 4000
        path, _ = self.events("slow", n, expires_in_ms=4000)
        self.publish_all(pool, path, n)
        self.wait_states(pool, lambda s: s["states"]["sent"] + s["states"]["expired"] == n,
                         60, "all sent or expired")
        s = self.stats()
        fs = fake.stats()
        self.assertEqual(fake.stop(), 0)
        recs = fake.records()
        self.assertGreater(s["states"]["expired"], 0, s)
        self.assertGreater(s["states"]["sent"], 0, s)
        self.assertEqual(fs["unique_accepted"], s["states"]["sent"], fs)
        self.assertEqual(fs["duplicates"], 0, fs)
        late = [r for r in accepted(recs) if r.t_ms > expires_ms + 500]
        self.assertEqual(late, [], "sent after the expiry (%d)" % expires_ms)
        self.finish(pool, sent=s["states"]["sent"], expired=s["states"]["expired"])

    # ---- crashes -----------------------------------------------------------

    # With a backlog at 400/s, one worker holds at most `concurrency` requests
    # of `max_batch` messages; those may have been taken by the provider
    # without their outcome committed (dispatch.h): that is the duplicate
    # bound of one dead worker.
    CRASH_CONC, CRASH_BATCH = 8, 20

    def crash_config(self, fake):
        return self.config([("primary", self.provider(
            fake, rate_per_s=400, burst=20, concurrency=self.CRASH_CONC,
            max_batch=self.CRASH_BATCH))], dispatch={"lease_ms": 3000})

    def test_worker_sigkilled_mid_drain_nothing_lost(self):
        fake = self.fake()
        cfg = self.crash_config(fake)
        pool = self.pool(workers=2, args=["-c", cfg])
        n = 2000
        path, _ = self.events("kill1", n)
        self.publish_all(pool, path, n)
        self.wait_sent(pool, 300, 60)
        victim = worker_pids(pool)["worker-1"]
        os.kill(victim, signal.SIGKILL)
        self.wait_sent(pool, n, 180, extra=lambda s: s["waiting"] == 0)
        time.sleep(0.5)
        s = self.stats()
        fs = fake.stats()
        self.assertEqual(fake.stop(), 0)
        recs = fake.records()
        self.assertEqual(s["states"]["sent"], n, s)
        self.assertEqual(fs["unique_accepted"], n, fs)
        self.assertLessEqual(fs["duplicates"], self.CRASH_CONC * self.CRASH_BATCH, fs)
        self.assertEqual(len({r.key for r in accepted(recs)}), n)
        # The dead worker had leased ahead of sending: those leases ran out.
        self.assertGreater(s["lease_expired"], 0, s)
        self.assertNotEqual(worker_pids(pool)["worker-1"], victim, "worker-1 not restarted")
        self.finish(pool, duplicates=fs["duplicates"], lease_expired=s["lease_expired"],
                    busiest_1s=busiest_1s(recs))

    def test_pool_sigkilled_mid_backlog_restart_drains_the_rest(self):
        fake = self.fake()
        cfg = self.crash_config(fake)
        pool = self.pool(workers=2, args=["-c", cfg])
        n = 2000
        path, _ = self.events("kill2", n)
        self.publish_all(pool, path, n)
        self.wait_sent(pool, 300, 60)
        pool.kill9()
        before = self.stats()
        self.assertLess(before["states"]["sent"], n, "drained before the kill: test too slow")
        pool2 = self.pool(workers=2, args=["-c", cfg])
        self.wait_sent(pool2, n, 180, extra=lambda s: s["waiting"] == 0)
        time.sleep(0.5)
        s = self.stats()
        fs = fake.stats()
        self.assertEqual(fake.stop(), 0)
        recs = fake.records()
        self.assertEqual(s["states"]["sent"], n, s)
        self.assertEqual(fs["unique_accepted"], n, fs)
        self.assertLessEqual(fs["duplicates"], 2 * self.CRASH_CONC * self.CRASH_BATCH, fs)
        self.assertEqual(len({r.key for r in accepted(recs)}), n)
        # Pacing state outlives the processes: no second burst after restart.
        self.assertLessEqual(busiest_1s(recs), 400 + 20)
        self.finish(pool2, sent_before=before["states"]["sent"], duplicates=fs["duplicates"],
                    lease_expired=s["lease_expired"], busiest_1s=busiest_1s(recs))

    # ---- outages and failover ------------------------------------------------

    # The fake answers 503 (no Retry-After) to everything during its outage:
    # each 503 holds the provider 1 s (dispatch's default) and counts against
    # its circuit; 2 failed requests in a row open it for 1 s, a failed probe
    # doubles that.  The outage starts 2 s after the fake, leaving time for
    # the pool to start and the events to be published.

    def test_outage_then_recovery_circuit_opens_and_closes(self):
        # Regression (fixed in 1711c77): PACE_PROBE was unreachable from
        # pick_provider(), so no probe ever went, "probe answered, circuit
        # closed" was never logged, and after the first open period every
        # worker sent as if the circuit were closed.
        fake = self.fake(args=["--outage", "2:3"])
        cfg = self.config([("primary", self.provider(
            fake, rate_per_s=400, burst=20, circuit_failures=2, circuit_open_ms=1000))])
        pool = self.pool(workers=2, args=["-c", cfg])
        n = 1600
        path, _ = self.events("outage", n)
        self.publish_all(pool, path, n)
        self.wait_sent(pool, n, 180, extra=lambda s: s["waiting"] == 0)
        time.sleep(0.5)
        s = self.stats()
        fs = fake.stats()
        self.assertEqual(fake.stop(), 0)
        recs = fake.records()
        self.assertEqual(s["states"]["sent"], n, s)
        self.assertEqual(fs["duplicates"], 0, fs)
        self.assert_each_once(recs, n)
        down = [r.t_ms for r in recs if r.status == 503]
        self.assertTrue(down, "the outage was not hit: nothing answered 503")
        self.assertTrue([r for r in accepted(recs) if r.t_ms > max(down)],
                        "nothing sent after the outage")
        log = pool.log_text()
        self.assertTrue("provider primary: circuit open" in log, self.circuit_lines(log))
        self.assertTrue("provider primary: probe answered, circuit closed" in log,
                        self.circuit_lines(log))
        self.assertLess(log.index("circuit open"), log.rindex("probe answered, circuit closed"))
        self.finish(pool)

    def test_failover_to_backup_and_back(self):
        # Regressions (fixed in 1711c77): request slots came from one free
        # list shared by all providers, so a request to the primary (webhook)
        # could sit in a backup slot: its answer was parsed by the infobip
        # adapter ("provider=backup ... ambiguous=1 reason=\"http 200 answer
        # without a messages array\"" for messages the primary had accepted),
        # in_flight drifted, and after 64 requests per worker nothing was sent
        # any more.  And without a reachable probe, traffic went back to the
        # primary after the first open period while it was still down.
        primary = self.fake("primary", args=["--outage", "2:4"])
        backup = self.fake("backup")
        cfg = self.config([
            ("primary", self.provider(primary, rate_per_s=300, burst=15, circuit_failures=2,
                                      circuit_open_ms=1000)),
            ("backup", self.provider(backup, type="infobip", rate_per_s=300, burst=15)),
        ])
        pool = self.pool(workers=2, args=["-c", cfg])
        # The outage is 2 s to 6 s after the fake's start; probes go every
        # open period (1 s), so the primary comes back about a second after
        # it ends: 4000 messages at 300/s leave work for it then.
        n = 4000
        path, _ = self.events("failover", n)
        self.publish_all(pool, path, n)
        self.wait_sent(pool, n, 180, extra=lambda s: s["waiting"] == 0, stall_s=30)
        time.sleep(0.5)
        s = self.stats()
        ps, bs = primary.stats(), backup.stats()
        self.assertEqual(primary.stop(), 0)
        self.assertEqual(backup.stop(), 0)
        prec, brec = primary.records(), backup.records()
        self.assertEqual(s["states"]["sent"], n, s)
        down = [r.t_ms for r in prec if r.status == 503]
        self.assertTrue(down, "the outage was not hit")
        end = max(down)
        self.assertGreater(len(accepted(brec)), 0, "the backup received nothing")
        # The backup took over during the outage...
        self.assertTrue([r for r in accepted(brec) if min(down) <= r.t_ms <= end],
                        "nothing sent to the backup during the outage")
        # ...and the primary got the traffic back after it.
        after = [r for r in accepted(prec) if r.t_ms > end]
        self.assertTrue(after, "nothing sent to the primary after the outage")
        keys = collections.Counter(r.key for r in accepted(prec) + accepted(brec))
        self.assertEqual({k: c for k, c in keys.items() if c > 1}, {}, "sent twice")
        self.assertEqual(len(keys), n)
        self.assertEqual(ps["duplicates"] + bs["duplicates"], 0)
        log = pool.log_text()
        lines = [l for l in log.splitlines() if "status=" not in l]
        self.assertTrue("provider primary: circuit open" in log, self.circuit_lines(log))
        # The outage (4 s) outlasts the first open period (1 s): the first
        # probes fail and open the circuit again.
        probes = [i for i, l in enumerate(lines) if "primary: probing after the open period" in l]
        self.assertTrue(probes and any("primary: probe failed" in l and "circuit open again" in l
                                       for l in lines[probes[0]:]),
                        "a failed probe did not open the circuit again" + self.circuit_lines(log))
        self.assertTrue("provider primary: probe answered, circuit closed" in log,
                        self.circuit_lines(log))
        self.finish(pool, primary=len(accepted(prec)), primary_after_outage=len(after),
                    backup=len(accepted(brec)))

    def test_worker_killed_while_probing_provider_probed_again(self):
        # The fake answers everything 1.5 s late, and 503 for its first 3 s.
        # The first answers (503, ~2 s in) open the circuit for 1.5 s (longer
        # than the holds of the first 503s, so that the probes are not held
        # back and cancelled); then a worker sends the probes, and is
        # SIGKILLed while it waits for their answers.  Their answers die with
        # it; the circuit must not stay open for good: another round of
        # probes must go, and once the outage is over everything is sent.
        #
        # Regression (fixed in 54fd98b): the probe was a bare flag in the
        # shared pacing file, cleared only by that probe's answer; with its
        # worker dead, pace_circuit_state() answered PACE_OPEN for good: no
        # probe, no request, not even a lease, and a new pool on the same
        # data directory (the pacing file outlives the processes) sent
        # nothing either.
        fake = self.fake(args=["--outage", "0:3", "--latency-ms", "1500"])
        cfg = self.config([("primary", self.provider(
            fake, rate_per_s=200, burst=10, concurrency=16, timeout_ms=4000,
            circuit_failures=1, circuit_open_ms=1500))])
        pool = self.pool(workers=2, args=["-c", cfg])
        n = 100
        path, _ = self.events("probe", n)
        self.publish_all(pool, path, n)
        probing = re.compile(r"worker-\d+\[(\d+)\] info: provider primary: probing after")
        m = wait_for(lambda: probing.search(pool.log_text()), 60, "a probe")
        os.kill(int(m.group(1)), signal.SIGKILL)
        requests = fake.stats()["requests"]
        self.wait_sent(pool, n, 180, extra=lambda s: s["waiting"] == 0, stall_s=45)
        fs = fake.stats()
        self.assertEqual(fs["unique_accepted"], n, fs)
        self.finish(pool, probes=len(probing.findall(pool.log_text())),
                    requests_at_kill=requests)

    def test_two_providers_of_different_apis(self):
        # Regression (fixed in 1711c77): with the shared free list, the slots
        # of the twilio backup (max_batch 1) carried infobip batches and
        # send_one() wrote past r->msgs (ASan: heap-buffer-overflow in
        # send_one); the worker died before its first request, again and
        # again, and nothing was sent.
        primary = self.fake("primary")
        backup = self.fake("backup")
        cfg = self.config([
            ("primary", self.provider(primary, type="infobip", rate_per_s=500, burst=25)),
            ("backup", self.provider(backup, type="twilio", rate_per_s=500, burst=25)),
        ])
        pool = self.pool(workers=2, args=["-c", cfg])
        pids = worker_pids(pool)
        n = 300
        path, _ = self.events("apis", n)
        self.publish_all(pool, path, n)
        self.wait_sent(pool, n, 120, extra=lambda s: s["waiting"] == 0, stall_s=30)
        self.assertEqual(worker_pids(pool), pids, "a worker died")
        self.assertNotIn("ERROR: AddressSanitizer", pool.log_text())
        self.assertEqual(primary.stop(), 0)
        self.assertEqual(backup.stop(), 0)
        # Both healthy: everything went to the primary, each message once.
        self.assert_each_once(primary.records(), n)
        self.assertEqual(backup.records(), [])
        self.assertNotIn("ambiguous=1", pool.log_text())
        self.finish(pool)

    # ---- configuration ----------------------------------------------------------

    def test_invalid_provider_config_exits_2_naming_the_option(self):
        cases = [
            ("twilio without token", {"type": "twilio", "account": SID, "sender": "+33644630000"},
             r"provider\.primary.*token"),
            ("infobip without token", {"type": "infobip", "sender": "X"},
             r"provider\.primary.*token"),
            ("no rate", {"type": "webhook", "rate_per_s": None}, r"provider\.primary\.rate_per_s"),
            ("unknown type", {"type": "smoke"}, r"provider\.primary\.type"),
            ("ftp url", {"type": "webhook", "base_url": "ftp://127.0.0.1/x"},
             r"provider\.primary\.base_url"),
            ("bad count", {"type": "webhook", "count": "bytes"}, r"provider\.primary\.count"),
            ("unknown option", {"type": "webhook", "speed": "9"}, r"provider\.primary\.speed"),
        ]
        for name, over, pattern in cases:
            with self.subTest(name):
                opts = {"base_url": "http://127.0.0.1:9/webhook", "rate_per_s": 100}
                opts.update(over)
                opts = {k: v for k, v in opts.items() if v is not None}
                cfg = self.config([("primary", opts)], name="bad.conf")
                out = subprocess.run([WORKER_BIN, "-c", cfg, "-d", self.data_dir, "-e",
                                      "tcp://127.0.0.1:%d" % itlib.free_port(), "-w", "1"]
                                     + itlib.RUN_AS,
                                     capture_output=True, text=True, timeout=60)
                self.assertEqual(out.returncode, 2, out.stderr)
                self.assertRegex(out.stderr, pattern)


if __name__ == "__main__":
    itlib.main()
