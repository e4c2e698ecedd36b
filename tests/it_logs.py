"""Integration tests of the pool's log: what a whole drain writes, in both formats.

Each test runs a real drain at log.level = debug, with failures of every kind:
a fake provider (tests/harness.py) that rejects some destinations for good
(Twilio's 400 code 21211, whose text echoes the number), answers some
requests 500 or 503 and leaves some unanswered past the pool's request
timeout; events the pool rejects at ingest (a number that is not one, a
landline, a country not allowed, a missing or malformed name, a text too
long); custom texts that carry a name and a number; and every valid event
published twice (the second time: duplicates).

The events carry known phone numbers, written as producers write them
(E.164, spaced, national, dotted), and known patient and practitioner names
and places, in six locales.  Once the drain is done, the pool's whole log
(stdout and stderr of the master, the broker and both workers) must hold
none of them: no number in any form (E.164, without its '+', national, the
national significant number, as published, as published without spaces),
no name, no place, nor a distinctive word of one.  In the JSON format every
line must also be one JSON object with the keys of common/log.h, and the
strings it holds, once decoded, are searched too.

SMSQ_KEEP_TMP=1 keeps each test's directory (pool log, config, events, the
fake's log and record) for a look after the run.
"""

import json
import os
import random
import re
import shutil
import tempfile
import time
import unittest

import harness
import itlib

PUBLISH = os.path.join(harness.BIN, "smsq-publish")
FAIL_PREFIX = "+33612"  # the fake rejects these destinations (Twilio 400 code 21211)

# (patient, practitioner, place) and, for each, the words that would give it
# away on their own.
PEOPLE = [
    ("Z\u00e9phyrine Quennell", "Dr Ottoline Brackwater", "Clinique des Glycines, 14 rue Vauquelin",
     ["Z\u00e9phyrine", "Quennell", "Ottoline", "Brackwater", "Glycines", "Vauquelin"]),
    ("Anselm Kuhlmorgen", "Dr Wiebke Strohschneider", "Praxis am Kuhlm\u00fchlgraben 3",
     ["Anselm", "Kuhlmorgen", "Wiebke", "Strohschneider", "Kuhlm\u00fchlgraben"]),
    ("Ludovica Ferragosti", "Dr Battista Quercioli", "Studio Medico Valtellinese",
     ["Ludovica", "Ferragosti", "Battista", "Quercioli", "Valtellinese"]),
    ("Bartholomew Pinkerly", "Dr Imogen Thistlewood", "Harbourside Surgery, 7 Quillinan Row",
     ["Bartholomew", "Pinkerly", "Imogen", "Thistlewood", "Harbourside", "Quillinan"]),
    ("Ximena Oyarz\u00e1bal", "Dra. Remedios Albarrac\u00edn", "Centro de Salud Almendrales",
     ["Ximena", "Oyarz\u00e1bal", "Remedios", "Albarrac\u00edn", "Almendrales"]),
    ("Joost Zwanenburgh", "Dr Femke Hoogstraaten", "Huisartsenpraktijk Zwanenvleugel",
     ["Joost", "Zwanenburgh", "Femke", "Hoogstraaten", "Huisartsenpraktijk", "Zwanenvleugel"]),
]
LOCALES = [("fr-FR", "Europe/Paris"), ("de-DE", "Europe/Berlin"), ("it-IT", "Europe/Rome"),
           ("en-GB", "Europe/London"), ("es-ES", "Europe/Madrid"), ("nl-NL", "Europe/Amsterdam")]
KINDS = ["confirmed", "rescheduled", "cancelled", "reminder"]

FIXED_KEYS = {"ts": str, "level": str, "proc": str, "pid": int, "id": int, "msg": str,
              "truncated": bool}
TEXT_LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [a-z0-9-]+\[\d+\] "
                       r"(error|warn|info|debug): ")


def spaced(digits, groups):
    """digits cut into groups of the given sizes, joined by spaces."""
    out, i = [], 0
    for g in groups:
        out.append(digits[i:i + g])
        i += g
    return " ".join(out)


def mobile(rng, locale, i):
    """A mobile number of the locale's country: (E.164, national significant
    number, national form with its trunk prefix, the form it is published in)."""
    def d(n):
        return "".join(rng.choice("0123456789") for _ in range(n))

    if locale == "fr-FR":
        # Every fifth French number is one the provider rejects.
        nsn = ("612" + d(6)) if i % 5 == 0 else ("6" + rng.choice(["44", "55"]) + d(6))
        e164, national = "+33" + nsn, "0" + nsn
        published = [e164, "+33 " + spaced(nsn, [1, 2, 2, 2, 2]), spaced(national, [2] * 5),
                     national, ".".join(spaced(national, [2] * 5).split())][i % 5]
    elif locale == "de-DE":
        nsn = "151" + d(8)
        e164, national = "+49" + nsn, "0" + nsn
        published = [national[:4] + " " + national[4:], "+49 " + nsn[:3] + " " + nsn[3:]][i % 2]
    elif locale == "it-IT":
        nsn = "3" + rng.choice("2345689") + d(8)
        e164, national = "+39" + nsn, nsn
        published = [spaced(nsn, [3, 3, 4]), "+39 " + spaced(nsn, [3, 3, 4])][i % 2]
    elif locale == "en-GB":
        nsn = "7400" + d(6)
        e164, national = "+44" + nsn, "0" + nsn
        published = [national[:5] + " " + national[5:], "+44 " + nsn[:4] + " " + nsn[4:]][i % 2]
    elif locale == "es-ES":
        nsn = "6" + d(8)
        e164, national = "+34" + nsn, nsn
        published = [spaced(nsn, [3, 3, 3]), "+34 " + spaced(nsn, [3, 3, 3])][i % 2]
    else:
        nsn = "6" + rng.choice("12345") + d(7)
        e164, national = "+31" + nsn, "0" + nsn
        published = [national[:2] + " " + national[2:], "+31 " + nsn[0] + " " + nsn[1:]][i % 2]
    return e164, nsn, national, published


def number_forms(e164, nsn, national, published):
    """Every form of a number that must not be in the log."""
    return {e164, e164[1:], nsn, national, published, published.replace(" ", ""),
            published.replace(".", "")}


class LogsTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="smsq-it-logs-")
        self.addCleanup(harness.stop_all)
        self.t0 = time.monotonic()

    def tearDown(self):
        print(" (%.1f s)" % (time.monotonic() - self.t0), end=" ", flush=True)
        if os.environ.get("SMSQ_KEEP_TMP"):
            print("\n  kept " + self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- the events ------------------------------------------------------

    def write_events(self):
        """The valid events and the ones ingest rejects, as NDJSON files.
        Returns (valid path, n valid, n the provider rejects, invalid path,
        {reason: n}, secrets): secrets, every string the log must not hold."""
        rng = random.Random(20261127)
        now = int(time.time() * 1000)
        valid, secrets, n_fail = [], set(), 0
        for i in range(60):
            locale, zone = LOCALES[i % len(LOCALES)]
            patient, practitioner, place, words = PEOPLE[(i // len(LOCALES)) % len(PEOPLE)]
            e164, nsn, national, published = mobile(rng, locale, i // len(LOCALES))
            secrets |= number_forms(e164, nsn, national, published) | {patient, practitioner,
                                                                       place} | set(words)
            n_fail += e164.startswith(FAIL_PREFIX)
            ev = {"idempotency_key": "logs-%d" % i, "booking_id": "B-%d" % i,
                  "kind": KINDS[i % len(KINDS)], "phone": published, "locale": locale,
                  "patient_name": patient, "practitioner_name": practitioner, "place": place,
                  "appointment_at": now + 86400000 * (2 + i % 5), "time_zone": zone,
                  "created_at": now}
            if i % 10 == 3:
                # A ready text, with the name and the number in it.
                ev["text"] = "Bonjour %s, votre RDV est confirm\u00e9 ; rappel au %s." % (
                    patient, published)
            valid.append(ev)

        base = dict(valid[6])  # French, a number the provider takes, no text
        base.pop("text", None)
        bad = [  # (reason ingest answers, overrides)
            ("invalid_phone", {"phone": "+33 6 47 29"}),
            ("invalid_phone", {"phone": "06 47 ab 18 53"}),
            ("not_mobile", {"phone": "01 45 67 89 12"}),
            ("country_not_allowed", {"phone": "+1 201 555 0147"}),
            ("missing_field", {"patient_name": ""}),
            ("invalid_field", {"patient_name": "Z\u00e9phyrine\u0007Quennell"}),
            ("text_too_long", {"text": ("Madame Z\u00e9phyrine Quennell, rappel au 06 47 29 18 "
                                        "53. ") * 60}),
        ]
        secrets |= {"+33 6 47 29", "+336 47 29", "06 47 ab 18 53", "01 45 67 89 12",
                    "0145678912", "+33145678912", "33145678912", "145678912",
                    "+1 201 555 0147", "+12015550147", "12015550147", "2015550147",
                    "Z\u00e9phyrine\u0007Quennell"}
        invalid, reasons = [], {}
        for k, (reason, over) in enumerate(bad):
            ev = dict(base, idempotency_key="logs-bad-%d" % k, booking_id="B-bad-%d" % k)
            ev.update(over)
            if ev.get("patient_name") == "":
                del ev["patient_name"]
            invalid.append(ev)
            reasons[reason] = reasons.get(reason, 0) + 1

        paths = []
        for name, evs in (("valid", valid), ("invalid", invalid)):
            path = os.path.join(self.tmp, "events-%s.ndjson" % name)
            with open(path, "w", encoding="utf-8") as f:
                for ev in evs:
                    f.write(json.dumps(ev, ensure_ascii=False) + "\n")
            paths.append(path)
        return paths[0], len(valid), n_fail, paths[1], reasons, secrets

    # ---- the drain -------------------------------------------------------

    def publish(self, pool, path):
        out = harness.run([PUBLISH, "-e", pool.endpoint, "--json-summary", path], timeout=120,
                          check=False)
        try:
            return json.loads(out.stdout)
        except ValueError:
            raise AssertionError("smsq-publish printed no summary: %r %r"
                                 % (out.stdout, out.stderr[-2000:]))

    def drain(self, fmt):
        """A whole drain with failures, logged at debug in format fmt.
        Returns (the pool's log as bytes, secrets)."""
        valid, n, n_fail, invalid, reasons, secrets = self.write_events()
        fake = harness.Fake(self.tmp, "faulty", record=True, args=[
            "--fail-prefix", FAIL_PREFIX, "--error-rate", "0.15", "--error-status", "500,503",
            "--hang-rate", "0.05", "--hang-max-s", "2", "--seed", "7"]).start()
        request = dict(burst=100, count="messages", concurrency=16, timeout_ms=400)
        cfg = os.path.join(self.tmp, "smsq.conf")
        harness.write_config(cfg, {
            "log.level": "debug", "log.format": fmt,
            "ingest.allowed_countries": "FR,DE,IT,GB,ES,NL", "ingest.workers": 2,
            "retry.base_ms": 100, "retry.cap_ms": 500, "dispatch.lease_ms": 5000,
        }, providers=[("primary", fake.provider("twilio", 2000, **request)),
                      ("backup", fake.provider("infobip", 2000, **request))])
        pool = harness.Pool(os.path.join(self.tmp, "var"), os.path.join(self.tmp, "pool.log"),
                            workers=2, args=["-c", cfg]).start(timeout_s=60)

        summary = self.publish(pool, valid)
        self.assertEqual(summary["accepted"], n, summary)
        summary = self.publish(pool, invalid)
        self.assertEqual(summary["rejected"], reasons, summary)
        summary = self.publish(pool, valid)
        self.assertEqual(summary["duplicate"], n, summary)

        def done():
            s = harness.store_stats(pool.data_dir)
            return s if s["states"]["sent"] + s["states"]["failed"] == n else None
        try:
            s = harness.wait_for(done, 120, "the drain", interval=0.2)
        except AssertionError as e:
            raise AssertionError("%s; stats %s; log:\n%s" % (
                e, harness.store_stats(pool.data_dir)["states"], pool.log_text()[-3000:]))
        self.assertEqual(s["states"]["failed"], n_fail, s["states"])
        self.assertGreater(s["retries"], 0, s)
        fs = fake.stats()
        self.assertGreater(fs["errors"], 0, fs)
        self.assertGreater(fs["hung"], 0, fs)
        self.assertGreater(fs["rejected"], 0, fs)
        self.assertEqual(pool.stop(timeout_s=60), 0, pool.log_text()[-3000:])
        self.assertEqual(fake.stop(), 0)
        self.assertTrue(fake.records())

        with open(pool.log_path, "rb") as f:
            log = f.read()
        text = log.decode("utf-8", errors="replace")
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            self.assertNotIn(bad, text)
        # What the drain went through is in the log (at debug).
        for what in ("status=sent", "status=failed", "status=retry", "status=rejected",
                     "status=duplicate", "ambiguous=1", "reason=invalid_phone",
                     "reason=country_not_allowed", "code 21211"):
            self.assertIn(what, text, "no %r in the log" % what)
        return log, secrets

    def assert_no_secret(self, log, secrets, decoded=""):
        """None of secrets in the log's bytes, nor in decoded (the JSON
        strings of the log, decoded)."""
        leaks = []
        for s in sorted(secrets):
            raw = s.encode("utf-8")
            for line in log.split(b"\n"):
                if raw in line:
                    leaks.append("%r in: %s" % (s, line.decode("utf-8", "replace")))
                    break
            else:
                if s in decoded:
                    leaks.append("%r in a decoded JSON string" % s)
        self.assertEqual(leaks, [], "personal data in the pool's log:\n" + "\n".join(leaks))

    # ---- the tests -------------------------------------------------------

    def test_text_drain_logs_no_number_name_or_place(self):
        log, secrets = self.drain("text")
        lines = log.decode("utf-8", errors="replace").splitlines()
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, TEXT_LINE)
        self.assertTrue(any(re.search(r" to=\+\d\d\*+\d\d ", l) for l in lines))
        self.assert_no_secret(log, secrets)

    def test_json_drain_lines_parse_and_log_no_number_name_or_place(self):
        log, secrets = self.drain("json")
        lines = log.split(b"\n")
        self.assertEqual(lines[-1], b"", "the log ends with a whole line")
        strings, sent, procs = [], 0, set()
        for raw in lines[:-1]:
            line = raw.decode("utf-8")  # valid UTF-8, or this raises
            obj = json.loads(line, object_pairs_hook=self.no_duplicates)
            self.assertIsInstance(obj, dict, line)
            self.assertEqual(list(obj)[:4], ["ts", "level", "proc", "pid"], line)
            self.assertRegex(obj["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertIn(obj["level"], ("error", "warn", "info", "debug"))
            self.assertRegex(obj["proc"], r"^[a-z][a-z0-9-]*$")
            procs.add(obj["proc"])
            for key, value in obj.items():
                self.assertIsInstance(value, FIXED_KEYS.get(key, str), "%s in %s" % (key, line))
            if "id" in obj:
                self.assertTrue(obj["msg"].startswith("%d: " % obj["id"]), line)
            if obj.get("truncated") is not None:
                self.assertIs(obj["truncated"], True, line)
            if "to" in obj:
                self.assertRegex(obj["to"], r"^\+\d\d\*+\d\d$", line)
            if obj.get("status") == "sent":
                self.assertIn("id", obj, line)
                sent += 1
            strings += [v for v in obj.values() if isinstance(v, str)]
        self.assertGreater(sent, 0)
        # The master, the broker (two workers take events) and the workers
        # all write JSON (each line above parsed, whatever process wrote it).
        self.assertLessEqual({"smsq-worker", "broker", "worker-1", "worker-2"}, procs)
        self.assert_no_secret(log, secrets, "\n".join(strings))

    @staticmethod
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise AssertionError("a key twice in one line: %s" % keys)
        return dict(pairs)


if __name__ == "__main__":
    itlib.main()
