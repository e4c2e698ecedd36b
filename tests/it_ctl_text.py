"""Integration tests of `smsqctl preview` and `smsqctl templates check`.

The real smsqctl (SMSQ_BIN) with the pool's configuration (-c FILE, -o
NAME=VALUE): events as JSON lines in a temp file, templates from the shipped
etc/templates or from directories written here in a temp dir.  No pool, no
store: each case is one short process, the whole file runs in seconds.

Exit codes under test: 0 every event accepted / no template error, 1 an event
rejected / a template error, 2 the configuration or the input is unusable.

Dates are ICU 72's (Debian 12), as in tests/test_render.c.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import itlib
from itlib import BIN, ROOT

SMSQCTL = os.path.join(BIN, "smsqctl")
TEMPLATES = os.path.join(ROOT, "etc", "templates")
AT = "2027-01-01T00:00:00Z"  # every appointment below is after this
JSON_KEYS = ["line", "status", "to", "region", "template", "encoding", "segments", "units",
             "replaced", "segments_saved", "text"]


def event(**over):
    """A good French event (2027-03-30 12:30Z, a Tuesday: 14:30 in Paris)."""
    ev = {"idempotency_key": "k-1", "booking_id": "BK-1", "kind": "confirmed",
          "phone": "+33612345678", "locale": "fr-FR", "patient_name": "Camille Martin",
          "practitioner_name": "Dr Petit", "place": "Nantes",
          "appointment_at": "2027-03-30T12:30:00Z", "time_zone": "Europe/Paris"}
    for k, v in over.items():
        if v is None:
            ev.pop(k, None)
        else:
            ev[k] = v
    return ev


class CtlTextTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="smsq-it-ctl-text-")
        self.n_files = 0

    def tearDown(self):
        if sys.exc_info()[0] is None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- helpers ----------------------------------------------------------

    def write(self, name, content):
        path = os.path.join(self.tmp, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(content)
        return path

    def events_file(self, events):
        """events: dicts (one JSON line each) or raw strings (written as is)."""
        self.n_files += 1
        lines = [e if isinstance(e, str) else json.dumps(e, ensure_ascii=False) for e in events]
        return self.write("events-%d.ndjson" % self.n_files, "\n".join(lines) + "\n")

    def templates(self, files):
        """A templates directory holding files {name: content}."""
        self.n_files += 1
        d = os.path.join(self.tmp, "tpl-%d" % self.n_files)
        os.makedirs(d)
        for name, content in files.items():
            with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                f.write(content)
        return d

    def ctl(self, *args, stdin=None):
        return subprocess.run([SMSQCTL] + list(args), input=stdin, capture_output=True,
                              text=True, timeout=60)

    def preview(self, events, *opts, at=AT):
        """smsqctl OPTS preview --json [--at AT] FILE: (exit code, [objects])."""
        args = list(opts) + ["preview", "--json"] + (["--at", at] if at else [])
        out = self.ctl(*(args + [self.events_file(events)]))
        try:
            objs = [json.loads(l) for l in out.stdout.splitlines()]
        except ValueError:
            self.fail("not JSON lines: %r (stderr %r)" % (out.stdout, out.stderr))
        return out.returncode, objs

    def accepted(self, ev, *opts):
        """The JSON object of one event that must be accepted."""
        rc, objs = self.preview([ev], *opts)
        self.assertEqual(len(objs), 1, objs)
        self.assertEqual(objs[0]["status"], "ok", objs[0])
        self.assertEqual(rc, 0, objs)
        self.assertEqual(list(objs[0]), JSON_KEYS)
        return objs[0]

    def rejected(self, ev, *opts, at=AT):
        rc, objs = self.preview([ev], *opts, at=at)
        self.assertEqual(len(objs), 1, objs)
        self.assertEqual(objs[0]["status"], "rejected", objs[0])
        self.assertEqual(list(objs[0]), ["line", "status", "reason", "detail"])
        self.assertEqual(rc, 1, objs)
        return objs[0]

    # ---- preview: accepted events -----------------------------------------

    def test_preview_text_output(self):
        out = self.ctl("preview", "--at", AT, self.events_file([event()]))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.splitlines(), [
            "event 1: accepted",
            "  to        +33612345678 (FR)",
            "  template  fr",
            "  encoding  gsm7, 1 segment, 92 septets",
            "  text      Camille Martin, votre RDV avec Dr Petit le mardi 30 mars à 14:30 est "
            "confirmé. Lieu : Nantes",
        ])

    def test_preview_json_per_language(self):
        cases = [
            # name, overrides, to, region, template, text
            ("fr, national number", dict(phone="06 12 34 56 78"), "+33612345678", "FR", "fr",
             "Camille Martin, votre RDV avec Dr Petit le mardi 30 mars à 14:30 est confirmé. "
             "Lieu : Nantes"),
            ("fr-BE from fr.tmpl", dict(locale="fr-BE", phone="+32470123456",
                                        time_zone="Europe/Brussels", kind="cancelled"),
             "+32470123456", "BE", "fr",
             "Camille Martin, votre RDV avec Dr Petit du mardi 30 mars à 14:30 est annulé."),
            ("de-AT", dict(locale="de-AT", phone="+436641234567", time_zone="Europe/Vienna",
                           kind="rescheduled", place="Wien"),
             "+436641234567", "AT", "de",
             "Camille Martin, Ihr Termin bei Dr Petit ist verlegt: Dienstag, 30. März um "
             "14:30 Uhr. Ort: Wien"),
            ("it", dict(locale="it-IT", phone="+393471234567", time_zone="Europe/Rome",
                        place="Roma"),
             "+393471234567", "IT", "it",
             "Camille Martin, il suo appuntamento con Dr Petit per martedì 30 marzo alle "
             "14:30 è confermato. Luogo: Roma"),
            ("en-US, 12-hour clock", dict(locale="en-US", phone="+1 201 555 0123",
                                          time_zone="America/New_York", kind="reminder",
                                          place="NYC"),
             "+12015550123", "US", "en",
             "Reminder: Camille Martin, appointment with Dr Petit on Tuesday, March 30 at "
             "8:30 AM. Place: NYC"),
            ("en-GB, 24-hour clock", dict(locale="en-GB", phone="+447400123456",
                                          time_zone="Europe/London", place="Leeds"),
             "+447400123456", "GB", "en",
             "Camille Martin, your appointment with Dr Petit on Tuesday, 30 March at 13:30 "
             "is confirmed. Place: Leeds"),
            ("es", dict(locale="es-ES", phone="+34612345678", time_zone="Europe/Madrid",
                        place="Madrid"),
             "+34612345678", "ES", "es",
             "Camille Martin, su cita con Dr Petit el martes, 30 de marzo a las 14:30 queda "
             "confirmada. Lugar: Madrid"),
            ("nl", dict(locale="nl-NL", phone="+31612345678", time_zone="Europe/Amsterdam",
                        place="Utrecht"),
             "+31612345678", "NL", "nl",
             "Camille Martin, uw afspraak met Dr Petit op dinsdag 30 maart om 14:30 is "
             "bevestigd. Locatie: Utrecht"),
            ("pt-BR: no file, English", dict(locale="pt-BR", phone="+5511912345678",
                                            time_zone="America/Sao_Paulo", place="SP"),
             "+5511912345678", "BR", "en",
             "Camille Martin, your appointment with Dr Petit on Tuesday, March 30 at 9:30 AM "
             "is confirmed. Place: SP"),
        ]
        # one file, one process: line i is case i
        rc, objs = self.preview([event(idempotency_key="k-%d" % i, **c[1])
                                 for i, c in enumerate(cases)])
        self.assertEqual(rc, 0, objs)
        self.assertEqual(len(objs), len(cases))
        for (name, over, to, region, template, text), o in zip(cases, objs):
            with self.subTest(name):
                self.assertEqual(o["status"], "ok", o)
                self.assertEqual(list(o), JSON_KEYS)
                self.assertEqual((o["to"], o["region"], o["template"], o["text"]),
                                 (to, region, template, text))
                self.assertEqual((o["encoding"], o["segments"], o["replaced"],
                                  o["segments_saved"]), ("gsm7", 1, 0, 0))
                self.assertEqual(o["units"], len(text))  # all basic GSM-7 here

    def test_preview_ready_text_and_line_numbers(self):
        rc, objs = self.preview([
            event(text="Your vaccine appointment is tomorrow {at} 9:00 [room 2]",
                  patient_name=None, practitioner_name=None, place=None),
            "",
            "   ",
            event(idempotency_key="k-2"),
        ])
        self.assertEqual(rc, 0, objs)
        self.assertEqual([o["line"] for o in objs], [1, 4])
        ready = objs[0]
        self.assertIsNone(ready["template"])
        self.assertEqual(ready["text"], "Your vaccine appointment is tomorrow {at} 9:00 [room 2]")
        # { } [ ] are GSM-7 extension characters: 2 septets each
        self.assertEqual((ready["encoding"], ready["units"]), ("gsm7", len(ready["text"]) + 4))

    def test_preview_from_stdin(self):
        line = json.dumps(event(), ensure_ascii=False) + "\n"
        for args in (["preview", "--json", "--at", AT], ["preview", "--json", "--at", AT, "-"]):
            with self.subTest(" ".join(args)):
                out = self.ctl(*args, stdin=line)
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertEqual(json.loads(out.stdout)["template"], "fr")

    # ---- preview: rejections ----------------------------------------------

    def test_preview_rejections(self):
        cases = [
            # name, event, smsqctl options, --at, reason, detail fragment
            ("invalid_phone", event(phone="+33 6 12"), [], AT, "invalid_phone",
             "too short"),
            ("invalid_phone, letters", event(phone="call me"), [], AT, "invalid_phone", "phone"),
            ("not_mobile: a Paris landline", event(phone="+33 1 42 68 53 00"), [], AT,
             "not_mobile", "fixed-line"),
            ("country_not_allowed", event(phone="+4915123456789", locale="de-DE"),
             ["-o", "ingest.allowed_countries=FR"], AT, "country_not_allowed", "DE"),
            ("text_too_long: one segment and a long name",
             event(patient_name="Maximilian-Alexander " * 6), ["-o", "ingest.max_segments=1"],
             AT, "text_too_long", "text needs 2 SMS segments (gsm7), over the limit of 1"),
            ("already_expired, without --at", event(appointment_at="2020-03-30T12:30:00Z"), [],
             None, "already_expired", "expired"),
            ("already_expired, --at after the appointment", event(), [],
             "2027-03-30T12:31:00Z", "already_expired", "expired"),
            ("bad_json", '{"idempotency_key": "k-1", "phone": ', [], AT, "bad_json",
             "not valid JSON"),
            ("bad_json, not an object", "[1, 2]", [], AT, "bad_json", ""),
            ("missing_field: phone", event(phone=None), [], AT, "missing_field",
             "phone is required"),
            ("missing_field: no text and no patient_name", event(patient_name=None), [], AT,
             "missing_field", "patient_name"),
            ("invalid_field: unknown time zone", event(time_zone="Mars/Olympus_Mons"), [], AT,
             "invalid_field", "time_zone"),
            # the time window: 3 years either side of the pool's clock (--at)
            ("invalid_field: appointment INT64_MAX", event(appointment_at=2**63 - 1), [], AT,
             "invalid_field", "appointment_at_ms is more than 3 years (1096 days) ahead"),
            ("invalid_field: appointment in the year 3000",
             event(appointment_at="3000-01-01T00:00:00Z"), [], AT, "invalid_field",
             "appointment_at_ms is more than 3 years (1096 days) ahead"),
            ("invalid_field: expiry 3 years and a day ahead",
             event(expires_at="2030-01-02T00:00:00Z"), [], AT, "invalid_field",
             "expires_at_ms is more than 3 years (1096 days) ahead"),
            ("invalid_field: created 2 days ahead", event(created_at="2027-01-03T00:00:00Z"),
             [], AT, "invalid_field", "created_at_ms is more than 1 day ahead"),
            ("invalid_field: expiry before created",
             event(created_at="2027-01-01T02:00:00Z", expires_at="2027-01-01T01:00:00Z"), [],
             AT, "invalid_field", "expires_at_ms is not after created_at_ms"),
            # control characters in what goes into a text
            ("invalid_field: ESC in patient_name", event(patient_name="Camille \x1b[31mMartin"),
             [], AT, "invalid_field", "patient_name holds U+001B, a control character, at byte 8"),
            ("invalid_field: U+202E in booking_id", event(booking_id="BK-\u202e1"), [], AT,
             "invalid_field", "booking_id holds U+202E, a bidirectional control"),
            ("invalid_field: a lone CR in a text", event(text="RDV\rdemain"), [], AT,
             "invalid_field", "text holds U+000D"),
            # nothing visible; over what a configured provider takes
            ("empty_text: a zero-width space", event(text="\u200b"), [], AT, "empty_text",
             "text has nothing visible to send"),
            ("empty_text: spaces and a soft hyphen, smart encoding off",
             event(text=" \u00ad \n"), ["-o", "ingest.smart_encoding=0"], AT, "empty_text",
             "text has nothing visible to send"),
            ("text_too_long: 2000 characters, a Twilio provider configured",
             event(text="y" * 2000), ["-o", "ingest.max_text_bytes=4096", "-o",
                                      "ingest.max_segments=20", "-o",
                                      "provider.primary.type=twilio"], AT, "text_too_long",
             "text is 2000 characters (UTF-16 units), over the 1600 that provider primary "
             "(twilio) accepts"),
        ]
        for name, ev, opts, at, reason, frag in cases:
            with self.subTest(name):
                o = self.rejected(ev, *opts, at=at)
                self.assertEqual(o["reason"], reason, o)
                self.assertIn(frag, o["detail"])

    def test_preview_long_text_without_twilio_is_accepted(self):
        # Infobip and the webhook contract take a whole concatenated SMS.
        ev = event(text="y" * 2000)
        o = self.accepted(ev, "-o", "ingest.max_text_bytes=4096", "-o", "ingest.max_segments=20",
                          "-o", "provider.primary.type=infobip", "-o",
                          "provider.gw.type=webhook")
        self.assertEqual(o["segments"], 14)

    def test_preview_escapes_what_it_echoes(self):
        # Nothing from the input reaches the terminal raw: a name with an ANSI
        # escape is rejected (the detail names the code point), and a detail
        # that quotes the input (a bad kind) shows its controls escaped.
        raw = ["\x1b", "\x07", "\x9b", "\u2028", "\u202e"]
        path = self.events_file([
            event(patient_name="Camille \x1b[31mMartin"),
            event(kind="\x1b[31mx\x07\x9b\u2028\u202e\\"),
        ])
        out = self.ctl("preview", "--at", AT, path)
        self.assertEqual(out.returncode, 1, out.stderr)
        for c in raw:
            self.assertNotIn(c, out.stdout)
        self.assertEqual(out.stdout.splitlines(), [
            "event 1: rejected invalid_field: patient_name holds U+001B, a control character, "
            "at byte 8 (or give a ready text)",
            'event 2: rejected bad_json: "kind": unknown kind "\\u001B[31mx\\u0007\\u009B'
            '\\u2028\\u202E\\\\" (expected confirmed, rescheduled, cancelled or reminder)',
        ])
        # JSON: jansson escapes U+0000-U+001F only; the detail is escaped first
        out = self.ctl("preview", "--json", "--at", AT, path)
        self.assertEqual(out.returncode, 1, out.stderr)
        for c in raw:
            self.assertNotIn(c, out.stdout)
        details = [json.loads(l)["detail"] for l in out.stdout.splitlines()]
        self.assertIn("\\u001B[31mx\\u0007\\u009B\\u2028\\u202E\\\\", details[1])

    def test_preview_escapes_bytes_that_are_not_utf8(self):
        # A detail quotes at most 40 bytes of a bad value: here it cuts an "é"
        # in two.  The cut byte is shown as \xC3, and the JSON line is still a
        # JSON object (jansson refuses a string that is not UTF-8).
        path = self.events_file([event(kind="a" + "é" * 30)])
        for args in (["preview"], ["preview", "--json"]):
            with self.subTest(" ".join(args)):
                out = self.ctl(*(args + ["--at", AT, path]))
                self.assertEqual(out.returncode, 1, out.stderr)
                shown = out.stdout
                if "--json" in args:
                    o = json.loads(out.stdout)
                    self.assertEqual((o["status"], o["reason"]), ("rejected", "bad_json"))
                    shown = o["detail"]
                self.assertIn("a" + "é" * 19 + "\\xC3", shown)

    def test_preview_ready_text_with_line_breaks(self):
        # A ready text may hold LF and CR LF: sent as is, previewed escaped on
        # one line; the JSON text is the text itself.
        ev = event(text="Rendez-vous demain\nà 9h\r\nCentre \\ Nantes")
        out = self.ctl("preview", "--at", AT, self.events_file([ev]))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("  text      Rendez-vous demain\\nà 9h\\r\\nCentre \\\\ Nantes",
                      out.stdout.splitlines())
        self.assertEqual(self.accepted(ev)["text"], "Rendez-vous demain\nà 9h\r\nCentre \\ Nantes")

    def test_preview_rejection_text_output_and_mixed_file(self):
        path = self.events_file([event(), event(phone="+33 1 42 68 53 00"), "{oops",
                                 event(idempotency_key="k-4")])
        out = self.ctl("preview", "--at", AT, path)
        self.assertEqual(out.returncode, 1, out.stderr)
        lines = out.stdout.splitlines()
        self.assertEqual(lines[0], "event 1: accepted")
        self.assertTrue(any(l.startswith("event 2: rejected not_mobile: ") and "fixed-line" in l
                            for l in lines), lines)
        self.assertTrue(any(l.startswith("event 3: rejected bad_json: ") for l in lines), lines)
        self.assertIn("event 4: accepted", lines)

    def test_country_not_allowed_detail_names_the_option(self):
        # The option an operator sets is ingest.allowed_countries: the detail
        # must name that one, not an option that does not exist.
        o = self.rejected(event(phone="+4915123456789", locale="de-DE"),
                          "-o", "ingest.allowed_countries=FR,BE")
        self.assertEqual(o["reason"], "country_not_allowed")
        self.assertIn("ingest.allowed_countries", o["detail"])
        self.assertNotIn("phone.allowed_countries", o["detail"])

    def test_allowed_countries_list(self):
        opts = ["-o", "ingest.allowed_countries=FR,BE"]
        self.assertEqual(self.accepted(event(phone="+32470123456", locale="fr-BE"), *opts)["region"],
                         "BE")
        self.assertEqual(self.accepted(event(), *opts)["region"], "FR")
        self.rejected(event(phone="+393471234567", locale="it-IT"), *opts)

    def test_default_region_for_national_numbers(self):
        ev = event(locale="fr", phone="06 12 34 56 78")  # a locale without a region
        o = self.rejected(ev)
        self.assertEqual(o["reason"], "invalid_phone")
        self.assertIn("default region", o["detail"])
        o = self.accepted(ev, "-o", "ingest.default_region=FR")
        self.assertEqual((o["to"], o["region"]), ("+33612345678", "FR"))
        # the locale's own region comes first
        o = self.accepted(event(locale="fr-BE", phone="0470 12 34 56"),
                          "-o", "ingest.default_region=FR")
        self.assertEqual((o["to"], o["region"]), ("+32470123456", "BE"))

    def test_bad_default_region_is_a_configuration_error(self):
        # smsq-worker refuses to start with it (config.c check_texts()); a
        # preview of the same configuration must not look like bad events.
        out = self.ctl("-o", "ingest.default_region=XX", "preview", "--json", "--at", AT,
                       self.events_file([event(locale="fr", phone="06 12 34 56 78")]))
        self.assertEqual(out.returncode, 2, (out.stdout, out.stderr))
        self.assertIn("ingest.default_region", out.stderr)

    # ---- smart encoding ---------------------------------------------------

    def test_smart_encoding_french_place(self):
        ev = event(place="Hôpital de Nîmes")
        o = self.accepted(ev)
        self.assertEqual(o["text"], "Camille Martin, votre RDV avec Dr Petit le mardi 30 mars à "
                                    "14:30 est confirmé. Lieu : Hopital de Nimes")
        self.assertEqual((o["encoding"], o["segments"], o["units"], o["replaced"],
                          o["segments_saved"]), ("gsm7", 1, 102, 2, 1))
        # off: the text as written, UCS-2, two parts
        o = self.accepted(ev, "-o", "ingest.smart_encoding=0")
        self.assertIn("Hôpital de Nîmes", o["text"])
        self.assertEqual((o["encoding"], o["segments"], o["units"], o["replaced"],
                          o["segments_saved"]), ("ucs2", 2, 102, 0, 0))

    def test_smart_encoding_italian_ready_text(self):
        text = ("È confermato il suo appuntamento con il Dr Rossi martedì 30 marzo alle 14:30. "
                "Luogo: Ospedale")
        ev = event(locale="it-IT", phone="+393471234567", time_zone="Europe/Rome", text=text)
        o = self.accepted(ev)
        self.assertIsNone(o["template"])
        self.assertEqual(o["text"], "É" + text[1:])  # GSM-7 has É, not È
        self.assertEqual((o["encoding"], o["segments"], o["units"], o["replaced"],
                          o["segments_saved"]), ("gsm7", 1, len(text), 1, 1))
        o = self.accepted(ev, "-o", "ingest.smart_encoding=0")
        self.assertEqual(o["text"], text)
        self.assertEqual((o["encoding"], o["segments"], o["replaced"], o["segments_saved"]),
                         ("ucs2", 2, 0, 0))

    def test_smart_encoding_leaves_an_emoji_text_alone(self):
        text = "Rendez-vous confirmé à l’hôpital 😀"
        o = self.accepted(event(text=text))
        self.assertEqual((o["text"], o["encoding"], o["replaced"], o["segments_saved"]),
                         (text, "ucs2", 0, 0))
        self.assertEqual(o["units"], len(text) + 1)  # the emoji is a surrogate pair

    # ---- configuration ----------------------------------------------------

    def test_config_file_with_its_own_templates(self):
        tpl = self.templates({
            "fr.tmpl": "confirmed = RDV {patient_name} {weekday} {date_short} {time}\n"
                       "rescheduled = R\ncancelled = X\nreminder = M\n",
            "fr-CA.tmpl": "confirmed = Québec {patient_name} {time}\n",
        })
        conf = self.write("smsq.conf", "[ingest]\ntemplates_dir = %s\ndefault_locale = fr\n"
                                       "allowed_countries = FR,CA\nmax_segments = 3\n" % tpl)
        o = self.accepted(event(locale="de-DE"), "-c", conf)  # a French number
        self.assertEqual((o["template"], o["text"]), ("fr", "RDV Camille Martin mardi 30/03/2027 14:30"))
        o = self.accepted(event(locale="fr-CA", phone="+1 514 555 0123",
                                time_zone="America/Toronto"), "-c", conf)
        self.assertEqual((o["template"], o["text"], o["region"]),
                         ("fr-CA", "Québec Camille Martin 08 h 30", "CA"))
        o = self.accepted(event(locale="fr-CA", phone="+1 514 555 0123", kind="reminder",
                                time_zone="America/Toronto"), "-c", conf)
        self.assertEqual((o["template"], o["text"]), ("fr", "M"))
        # the file's allowed_countries applies, and -o after -c overrides it
        self.rejected(event(phone="+4915123456789"), "-c", conf)
        self.accepted(event(phone="+4915123456789"), "-c", conf,
                      "-o", "ingest.allowed_countries=")

    def test_exit_2_when_the_configuration_or_input_is_unusable(self):
        good = self.events_file([event()])
        broken = self.templates({"en.tmpl": "confirmed = {nom}\n"})
        cases = [
            ("templates dir missing",
             ["-o", "ingest.templates_dir=" + os.path.join(self.tmp, "nowhere"), "preview", good],
             "cannot open the templates directory"),
            ("a template with an error", ["-o", "ingest.templates_dir=" + broken, "preview", good],
             "en.tmpl:1: unknown placeholder {nom}"),
            ("default locale without a file", ["-o", "ingest.default_locale=pt", "preview", good],
             "no pt.tmpl"),
            ("allowed_countries: unknown code", ["-o", "ingest.allowed_countries=FR,XX",
                                                 "preview", good], "ingest.allowed_countries"),
            ("allowed_countries: three letters", ["-o", "ingest.allowed_countries=FRA",
                                                  "preview", good], "ingest.allowed_countries"),
            ("max_segments out of range", ["-o", "ingest.max_segments=0", "preview", good],
             "ingest.max_segments"),
            ("unknown option", ["-o", "ingest.no_such_thing=1", "preview", good], "no_such_thing"),
            ("-o without =", ["-o", "ingest.smart_encoding", "preview", good], "NAME=VALUE"),
            ("a config file that does not exist",
             ["-c", os.path.join(self.tmp, "none.conf"), "preview", good], "none.conf"),
            ("--at not a time", ["preview", "--at", "tomorrow", good], "--at"),
            ("--at without a zone", ["preview", "--at", "2027-01-01T00:00:00", good], "--at"),
            ("events file missing", ["preview", os.path.join(self.tmp, "none.ndjson")],
             "none.ndjson"),
            ("no event in the file", ["preview", self.write("empty.ndjson", "\n\n")], "no event"),
            ("two files", ["preview", good, good], "usage"),
        ]
        for name, args, frag in cases:
            with self.subTest(name):
                out = self.ctl(*args)
                self.assertEqual(out.returncode, 2, (out.stdout, out.stderr))
                self.assertIn(frag, out.stderr)
                self.assertEqual(out.stdout, "")

    # ---- templates check --------------------------------------------------

    def test_templates_check_shipped(self):
        out = self.ctl("templates", "check")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        lines = out.stdout.splitlines()
        self.assertEqual(lines[-1], "templates check: 6 files, 24 templates, 0 errors, 0 warnings")
        self.assertIn(os.path.join(TEMPLATES, "en.tmpl") + ":15: confirmed: example, gsm7, 1 "
                      "segment: Camille Martin, your appointment with Dr Laurent Petit on "
                      "Tuesday, March 30 at 2:30 PM is confirmed. Place: Centre de santé "
                      "Voltaire, 12 rue Oberkampf", lines)

    def test_templates_check_errors(self):
        tpl = self.templates({
            "en.tmpl": "confirmed = C\nrescheduled = R\ncancelled = X\nreminder = M\n",
            "fr.tmpl": "; French\nconfirmed = Bonjour {nom}\ncancelled = Annulé le {date}\n",
        })
        out = self.ctl("-o", "ingest.templates_dir=" + tpl, "templates", "check")
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        lines = out.stdout.splitlines()
        self.assertTrue(any(l.startswith(tpl + "/fr.tmpl:2: error: unknown placeholder {nom}")
                            for l in lines), lines)
        self.assertTrue(any(l.startswith(tpl + "/fr.tmpl:3: cancelled: example, gsm7, 1 segment: "
                                         "Annulé le mardi 30 mars") for l in lines), lines)
        self.assertEqual(lines[-1], "templates check: 2 files, 5 templates, 1 error, 0 warnings")

    def test_templates_check_warns_about_ucs2(self):
        tpl = self.templates({
            "en.tmpl": "confirmed = C\nrescheduled = R\ncancelled = X\nreminder = M\n",
            "fr.tmpl": "confirmed = C’est confirmé, {patient_name}\n",
        })
        out = self.ctl("-o", "ingest.templates_dir=" + tpl, "templates", "check")
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertIn(tpl + "/fr.tmpl:1: warning: confirmed: '’' (U+2019) is not GSM-7: the text "
                      "goes UCS-2 unless smart encoding is on (it would send ''')",
                      out.stdout.splitlines())
        self.assertTrue(out.stdout.endswith("0 errors, 1 warning\n"), out.stdout)

    def test_templates_check_worst_case_and_lengths(self):
        # no date: the worst case is the names and the place, 2N + 60 + 2 septets
        tpl = self.templates({
            "en.tmpl": "confirmed = {patient_name} {practitioner_name} {place}\n"
                       "rescheduled = R\ncancelled = X\nreminder = M\n"})
        check = ["-o", "ingest.templates_dir=" + tpl, "-o", "ingest.max_segments=1",
                 "templates", "check"]
        out = self.ctl(*check)  # 40/40/60: 142 septets
        self.assertEqual(out.returncode, 0, out.stdout)
        self.assertIn(tpl + "/en.tmpl:1: confirmed: worst case (names 40/40, place 60 "
                      "characters), gsm7, 1 segment (142 units); 3 if a name needs UCS-2",
                      out.stdout.splitlines())
        out = self.ctl(*(check + ["--name-len", "49"]))  # 160
        self.assertEqual(out.returncode, 0, out.stdout)
        out = self.ctl(*(check + ["--name-len", "50"]))  # 162
        self.assertEqual(out.returncode, 1, out.stdout)
        self.assertIn(tpl + "/en.tmpl:1: error: confirmed: the worst case needs 2 segments, "
                      "over ingest.max_segments (1): such events would be rejected",
                      out.stdout.splitlines())
        out = self.ctl(*(check + ["--place-len", "80"]))  # 162
        self.assertEqual(out.returncode, 1, out.stdout)
        self.assertIn("worst case (names 40/40, place 80 characters), gsm7, 2 segments",
                      out.stdout)
        out = self.ctl("-o", "ingest.templates_dir=" + tpl, "-o", "ingest.max_segments=2",
                       "templates", "check", "--place-len", "80")
        self.assertEqual(out.returncode, 0, out.stdout)

    def test_templates_check_exit_2(self):
        cases = [
            ("missing dir", ["-o", "ingest.templates_dir=" + os.path.join(self.tmp, "nowhere"),
                             "templates", "check"], "cannot read the templates directory"),
            ("--name-len 0", ["templates", "check", "--name-len", "0"], "--name-len"),
            ("--name-len 256", ["templates", "check", "--name-len", "256"], "--name-len"),
            ("--place-len x", ["templates", "check", "--place-len", "x"], "--place-len"),
            ("templates without check", ["templates"], "usage"),
            ("templates lint", ["templates", "lint"], "usage"),
        ]
        for name, args, frag in cases:
            with self.subTest(name):
                out = self.ctl(*args)
                self.assertEqual(out.returncode, 2, (out.stdout, out.stderr))
                self.assertIn(frag, out.stderr)

    def test_templates_check_honours_smart_encoding_off(self):
        # ICU writes Saturday "sábado" (á is not GSM-7).  With smart encoding
        # off, a Saturday text with a 60-character name is 85 UCS-2 units, 2
        # segments, and the pool rejects it at max_segments=1; the check of
        # that same configuration must report it, not count it smart-encoded
        # (1 segment of GSM-7).
        tpl = self.templates({
            "en.tmpl": "confirmed = C\nrescheduled = R\ncancelled = X\nreminder = M\n",
            "es.tmpl": "confirmed = {patient_name} {date}\n"})
        conf = ["-o", "ingest.templates_dir=" + tpl, "-o", "ingest.max_segments=1",
                "-o", "ingest.smart_encoding=0"]
        ev = event(locale="es-ES", phone="+34612345678", time_zone="Europe/Madrid",
                   patient_name="P" * 60, appointment_at="2027-09-25T10:30:00Z")
        o = self.rejected(ev, *conf)
        self.assertEqual((o["reason"], o["detail"]),
                         ("text_too_long", "text needs 2 SMS segments (ucs2), over the limit of 1"))
        self.accepted(ev, *conf[:4])  # smart encoding on: "sabado", 1 segment
        out = self.ctl(*(conf + ["templates", "check", "--name-len", "60"]))
        self.assertEqual(out.returncode, 1,
                         "templates check passes a configuration whose Spanish Saturdays are "
                         "rejected:\n" + "\n".join(l for l in out.stdout.splitlines()
                                                   if "es.tmpl" in l or "check:" in l))

if __name__ == "__main__":
    itlib.main()
