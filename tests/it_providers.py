"""Integration tests of the Sinch and Vonage adapters, through the real pool and
the fake provider speaking each API (fake/fake_apis.h has the shapes).

As in it_dispatch.py: a fake provider with a record file, a pool configured for
it, events published with smsq-publish, then what the fake really received
(one record line per message, with its own timestamps) checked against what
the store says.  Sinch takes many personalised texts in one batch and answers
for the batch as a whole; Vonage takes one message a request and answers
inside a 200, part by part.

SMSQ_KEEP_TMP=1 keeps each test's directory.
"""

import collections
import json
import os
import re
import time

import itlib
from it_dispatch import DispatchBase, accepted

# Texts with their parts in GSM-7 or, with a character outside it, UCS-2.
GSM = "Votre RDV du 12/03 à 9h30 avec Dr Lefèvre est confirmé."
GSM_LONG = "RDV confirmé: " + "é" * 190                       # 204 septets: 2 parts
EMOJI = "Votre RDV est confirmé \U0001F600"                      # UCS-2, 1 part
CYRILLIC = "Ваш визит подтверждён на завтра в 9:30, кабинет 12"  # UCS-2, 1 part


class ProvidersTest(DispatchBase):

    # ---- helpers ---------------------------------------------------------

    def text_events(self, name, texts_and_phones):
        """Due events with ready texts: [(text, phone)], keys '<name>-<i>'.
        Returns the path."""
        now = int(time.time() * 1000)
        path = os.path.join(self.tmp, "events-%s.ndjson" % name)
        with open(path, "w", encoding="utf-8") as f:
            for i, (text, phone) in enumerate(texts_and_phones):
                ev = {"version": 1, "idempotency_key": "%s-%d" % (name, i),
                      "booking_id": "B-%s-%d" % (name, i), "kind": "confirmed",
                      "phone": phone, "locale": "fr-FR", "patient_name": "Camille Martin",
                      "practitioner_name": "Dr Lefèvre", "place": "Nîmes",
                      "appointment_at": now + 86400000, "time_zone": "Europe/Paris",
                      "created_at": now, "text": text}
                f.write(json.dumps(ev, ensure_ascii=False) + "\n")
        return path

    @staticmethod
    def requests_of(recs):
        """The requests the fake received: the messages of one carry one
        server timestamp."""
        by = collections.defaultdict(list)
        for r in recs:
            by[r.t_ms].append(r)
        return list(by.values())

    def drain_texts(self, pool, name, cases):
        """Publish cases ([(text, phone)], text_events()) to pool, wait until
        all are sent, stop the fake.  Returns (its stats, its records)."""
        fake = self.fakes[-1]
        self.publish_all(pool, self.text_events(name, cases), len(cases))
        self.wait_sent(pool, len(cases), 120, extra=lambda s: s["waiting"] == 0)
        time.sleep(0.5)
        fs = fake.stats()
        self.assertEqual(fake.stop(), 0)
        return fs, fake.records()

    def assert_no_number_in_log(self, log, phones):
        leaked = [p for p in set(phones) if p in log or p.lstrip("+") in log]
        self.assertEqual(leaked, [], "full phone numbers in the pool's log")

    # ---- Sinch -------------------------------------------------------------

    def test_sinch_batches_carry_each_recipient_its_own_text(self):
        fake = self.fake(args=["--api", "sinch", "--sinch-token", "test-token"])
        cfg = self.config([("primary", self.provider(fake, type="sinch", count="auto",
                                                     rate_per_s=2000, burst=200))])
        pool = self.pool(workers=2, args=["-c", cfg])
        n = 400
        cases = [("%s (no %d)" % ((GSM, EMOJI, CYRILLIC)[i % 3], i), "+33655%06d" % i)
                 for i in range(n)]
        fs, recs = self.drain_texts(pool, "sinch", cases)
        self.assert_each_once(recs, n)
        self.assertEqual(fs["duplicates"], 0, fs)
        self.assertEqual(fs["credentials"], {"test-token": fs["requests"]}, fs)
        # Each number got its own text, exactly (the per-recipient parameter).
        got = {r.dest: r.text for r in accepted(recs)}
        self.assertEqual(got, {phone: text for text, phone in cases})
        # Many texts in a request, and none refused.
        sizes = [len(req) for req in self.requests_of(recs)]
        self.assertGreater(max(sizes), 10, sizes)
        self.assertEqual([r for r in recs if r.status != 201], [])
        # Each message is sent with its batch's id (26 characters).
        refs = re.findall(r"status=sent ref=(\S*)", pool.log_text())
        self.assertEqual(len(refs), n)
        self.assertTrue(all(re.fullmatch(r"[0-9A-Z]{26}", r) for r in refs), refs[:3])
        self.assertEqual(len(set(refs)), len(sizes))
        self.finish(pool, requests=len(sizes), largest_batch=max(sizes))

    def test_sinch_a_number_only_once_per_batch(self):
        # 4 numbers with 15 messages each (distinct bookings): a batch ends
        # before a number it holds.  The fake refuses a batch that repeats
        # one (400): none may reach it.
        fake = self.fake(args=["--api", "sinch"])
        cfg = self.config([("primary", self.provider(fake, type="sinch", rate_per_s=2000,
                                                     burst=200))])
        pool = self.pool(workers=1, args=["-c", cfg])
        phones = ["+33655000%03d" % k for k in range(4)]
        cases = [("Message %d" % i, phones[i % 4]) for i in range(60)]
        _, recs = self.drain_texts(pool, "repeat", cases)
        s = self.stats()
        self.assertEqual([r for r in recs if r.status != 201], [], "a batch was refused")
        self.assert_each_once(recs, len(cases))
        for req in self.requests_of(recs):
            dests = [r.dest for r in req]
            self.assertEqual(len(dests), len(set(dests)), "a number twice in one batch")
        self.assertEqual(collections.Counter(r.dest for r in accepted(recs)),
                         {p: 15 for p in phones})
        self.assertEqual(s["states"]["sent"], len(cases))
        self.finish(pool, requests=len(self.requests_of(recs)))

    def test_sinch_a_batch_refused_for_one_number_fails_only_that_one(self):
        # Sinch answers for the batch as a whole: a number it refuses (403
        # illegal_number_type here) refuses the others with it.  Each then
        # goes again alone, not counted as an attempt: the bad ones fail,
        # the others are sent, each once.
        n = 200
        fake, pool, phones, bad = self.drain_with_bad_numbers(
            "sinch", n, 10, ["--api", "sinch"], rate_per_s=1000, burst=100)
        time.sleep(1.0)
        s = self.stats()
        self.assertEqual(s["retries"], 0, s)
        self.assertEqual(s["attempts"], n, "a split counted as an attempt: %s" % s)
        log = pool.log_text()
        reasons = re.findall(r'status=failed reason="([^"]*)"', log)
        self.assertEqual(len(reasons), len(bad))
        for r in reasons:
            self.assertRegex(r, r"^http 403 illegal_number_type: ")
        self.assertIn("refused as a whole (http 403 illegal_number_type", log)
        self.assertEqual(fake.stop(), 0)
        recs = fake.records()
        self.assert_each_once(recs, n - len(bad))
        self.assertEqual({r.dest for r in accepted(recs)}, set(phones) - bad)
        refused = [req for req in self.requests_of(recs) if req[0].status == 403]
        self.assertTrue([req for req in refused if len(req) > 1], "no batch was refused")
        self.assert_no_number_in_log(log, phones)
        self.finish(pool, refused_batches=len(refused))

    def test_sinch_throttled_batches_hold_the_provider(self):
        # Whole batches are answered 429 (Sinch counts their recipients).
        self.check_throttling_holds("sinch", ["--api", "sinch"])

    def test_sinch_a_bad_token_parks_the_provider_not_the_messages(self):
        p, log = self.check_bad_credentials_park("sinch", 401)
        self.assertIn("401", p["misconfigured"])
        self.assertIn("provider primary: misconfigured (http 401 unauthorized", log)

    # ---- Vonage ------------------------------------------------------------

    def test_vonage_each_message_once_as_written_in_its_parts(self):
        # One message a request; "type" follows the text's encoding, or the
        # fake records what the handset would show ('?'); a long text is
        # answered in parts, each accepted, the first naming the message.
        fake = self.fake(args=["--api", "vonage", "--vonage-secret", "test-secret"])
        cfg = self.config([("primary", self.provider(fake, type="vonage", count="auto",
                                                     rate_per_s=500, burst=25))])
        pool = self.pool(workers=2, args=["-c", cfg])
        texts = [(GSM, 1), (GSM_LONG, 2), (EMOJI, 1), (CYRILLIC, 1)]
        n = 200
        cases = [(texts[i % 4][0], "+33655%06d" % i) for i in range(n)]
        fs, recs = self.drain_texts(pool, "vonage", cases)
        self.assert_each_once(recs, n)
        self.assertEqual(fs["requests"], n)
        parts = dict(texts)
        for r in accepted(recs):
            text = cases[int(r.dest[-6:])][0]  # Vonage's "to" goes without '+'
            self.assertEqual((r.dest, r.text, r.segments), ("33655%06d" % int(r.dest[-6:]),
                                                            text, parts[text]), r)
        self.assertRegex(recs[0].key, r"^smsq-\d+$")  # client-ref: our reference
        refs = re.findall(r"status=sent ref=(\S*)", pool.log_text())
        self.assertEqual(len(refs), n)
        self.assertTrue(all(re.fullmatch(r"[0-9A-F]{16}", r) for r in refs), refs[:3])
        self.finish(pool)

    def test_vonage_refusals_and_throttling_inside_200s(self):
        # Vonage says everything in a 200: a number it cannot route
        # (status 6) fails that message for good; over the account's rate
        # (status 1, no Retry-After) the provider is held and slowed, and
        # the message retried without an attempt counted.
        n = 400
        fake, pool, phones, bad = self.drain_with_bad_numbers(
            "vonage", n, 20, ["--api", "vonage", "--rate-limit", "100"], timeout_s=180,
            rate_per_s=400, burst=20)
        s = self.stats()
        # One attempt each: a throttled message is retried, not attempted.
        self.assertEqual(s["attempts"], n, s)
        log = pool.log_text()
        reasons = re.findall(r'status=failed reason="([^"]*)"', log)
        self.assertEqual(reasons, ["vonage status 6 (Invalid Message): Unroutable message - "
                                   "rejected"] * len(bad))
        self.assertIn("throttled, holding for", log)
        fs = fake.stats()
        self.assertEqual(fake.stop(), 0)
        recs = fake.records()
        self.assertGreater(fs["throttled"], 0, fs)
        self.assertTrue(all(r.status == 200 for r in recs))
        self.assert_each_once(recs, n - len(bad))
        self.assertEqual(collections.Counter(r.dest for r in recs if r.outcome == "rejected"),
                         {p.lstrip("+"): 1 for p in bad})
        self.assert_no_number_in_log(log, phones)
        self.finish(pool, throttled=fs["throttled"])

    def test_vonage_bad_credentials_park_the_provider_not_the_messages(self):
        # Vonage refuses credentials inside a 200 (status 4).
        p, log = self.check_bad_credentials_park("vonage", 200, max_refused=100)
        self.assertIn("vonage status 4 (Invalid Credentials)", p["misconfigured"])
        self.assertIn("provider primary: misconfigured (vonage status 4", log)

    # ---- both --------------------------------------------------------------

    def test_failover_from_sinch_to_vonage_and_back(self):
        primary = self.fake("primary", args=["--api", "sinch", "--outage", "2:4"])
        backup = self.fake("backup", args=["--api", "vonage"])
        cfg = self.config([
            ("primary", self.provider(primary, type="sinch", rate_per_s=300, burst=15,
                                      circuit_failures=2, circuit_open_ms=1000)),
            ("backup", self.provider(backup, type="vonage", rate_per_s=300, burst=15)),
        ])
        pool = self.pool(workers=2, args=["-c", cfg])
        n = 3000
        path, _ = self.events("fo", n)
        self.publish_all(pool, path, n)
        self.wait_sent(pool, n, 180, extra=lambda s: s["waiting"] == 0, stall_s=30)
        time.sleep(0.5)
        self.assertEqual(primary.stop(), 0)
        self.assertEqual(backup.stop(), 0)
        prec, brec = primary.records(), backup.records()
        down = [r.t_ms for r in prec if r.status == 503]
        self.assertTrue(down, "the outage was not hit")
        self.assertTrue([r for r in accepted(brec) if min(down) <= r.t_ms <= max(down)],
                        "nothing sent to the backup during the outage")
        self.assertTrue([r for r in accepted(prec) if r.t_ms > max(down)],
                        "nothing sent to the primary after the outage")
        # Sinch's keys are number:hash(text), Vonage's the reference: one
        # message is one destination here (distinct numbers).
        dests = collections.Counter(r.dest.lstrip("+") for r in accepted(prec) + accepted(brec))
        self.assertEqual({d: c for d, c in dests.items() if c > 1}, {}, "sent twice")
        self.assertEqual(len(dests), n)
        self.finish(pool, primary=len(accepted(prec)), backup=len(accepted(brec)))


if __name__ == "__main__":
    itlib.main()
