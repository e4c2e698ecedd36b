"""Integration tests of bin/smsq-fakeprovider, the fake SMS provider.

Each test starts the real binary on 127.0.0.1 with a free port (read from its
"listening 127.0.0.1:PORT" line), talks HTTP to it with the standard library,
and stops it by pid with SIGTERM, checking that it exits 0.  The shapes
checked are the providers' documented ones (see fake/fake_apis.h).  The
delivery reports (fake/fake_receipts.h) go to a small receipt endpoint each
test runs in a thread (Endpoint), which records what it got and answers as
the test says.
"""

import base64
import collections
import hashlib
import hmac
import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import re
import urllib.parse

import harness
import itlib

BIN = os.path.join(itlib.ROOT, os.environ.get("SMSQ_BIN", "bin"), "smsq-fakeprovider")
SID = "AC" + "0123456789abcdef" * 2
TWILIO_PATH = "/2010-04-01/Accounts/%s/Messages.json" % SID
INFOBIP_PATH = "/sms/2/text/advanced"
SINCH_PATH = "/xms/v1/plan1/batches"


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def basic(user, password="token"):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


class Provider(harness.Fake):
    """One smsq-fakeprovider process, started at once, and requests to it."""

    def __init__(self, args, tmp):
        super().__init__(tmp, str(time.time_ns()), args)
        self.start()
        self.started = time.monotonic()

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None, timeout=10):
        """(status, headers dict lower-cased, parsed JSON or raw bytes)."""
        c = conn or self.conn(timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                headers = dict({"Content-Type": "application/json"}, **(headers or {}))
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            try:
                data = json.loads(data)
            except ValueError:
                pass
            return r.status, hdrs, data
        finally:
            if conn is None:
                c.close()

    def twilio(self, to="+33612345678", body="Votre RDV est confirmé", sender="+15005550006",
               user=SID, extra=None, conn=None):
        form = {"To": to, "Body": body}
        if sender is not None:
            form["From"] = sender
        form.update(extra or {})
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if user is not None:
            headers["Authorization"] = basic(user)
        return self.request("POST", TWILIO_PATH, urllib.parse.urlencode(form).encode(),
                            headers, conn=conn)

    def infobip(self, payload, key="secret-key", conn=None):
        headers = {"Authorization": "App " + key} if key else {}
        return self.request("POST", INFOBIP_PATH, payload, headers, conn=conn)

    def webhook(self, messages, headers=None, conn=None):
        return self.request("POST", "/webhook", {"messages": messages}, headers, conn=conn)

    def sinch(self, payload, token="tok", conn=None):
        headers = {"Authorization": "Bearer " + token} if token else {}
        return self.request("POST", SINCH_PATH, payload, headers, conn=conn)

    def vonage(self, to="33655500001", text="Votre RDV est confirmé", type="text",
               ref="smsq-1", key="abcd1234", secret="s3cret", conn=None):
        form = {"from": "Clinique", "to": to, "text": text, "type": type}
        if ref is not None:
            form["client-ref"] = ref
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if key is not None:
            headers["Authorization"] = basic(key, secret)
        return self.request("POST", "/sms/json", urllib.parse.urlencode(form).encode(),
                            headers, conn=conn)

    def stats(self):
        status, _, s = self.request("GET", "/_stats")
        assert status == 200, status
        return s

    def stop(self, timeout=20):
        """SIGTERM by pid; returns the exit code (it must exit by itself)."""
        rc = super().stop(timeout_s=timeout)
        if rc == -signal.SIGKILL:
            raise AssertionError("no exit within %ss of SIGTERM" % timeout)
        return rc


# One request the receipt endpoint got.
Got = collections.namedtuple("Got", "method path headers body client t")


class Endpoint:
    """A receipt endpoint on a free loopback port, in threads (HTTP/1.1,
    keep-alive): records every request and answers answer(got) (200 by
    default) with an empty body."""

    def __init__(self, answer=None):
        self.got = []
        self.lock = threading.Lock()
        self.answer = answer or (lambda got: 200)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one(self):
                n = int(self.headers.get("Content-Length") or 0)
                g = Got(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                        self.rfile.read(n), self.client_address, time.monotonic())
                with outer.lock:
                    outer.got.append(g)
                self.send_response(outer.answer(g))
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = handle_one

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, api):
        return "http://127.0.0.1:%d/receipts/%s/tok" % (self.port, api)

    def requests(self):
        with self.lock:
            return list(self.got)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def twilio_signature(token, url, params):
    """X-Twilio-Signature: base64(HMAC-SHA1(token, URL + name + value, sorted))."""
    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def receipt_records(path):
    """The delivery report lines of a record file, as dicts (fake_record.h)."""
    names = ("t_ms", "api", "kind", "ref", "dest", "status", "report", "flags", "attempts",
             "provider_status", "error")
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) > 2 and p[2] == "receipt":
                assert len(p) == len(names), p
                r = dict(zip(names, p))
                r["status"], r["attempts"] = int(r["status"]), int(r["attempts"])
                out.append(r)
    return out


def json_receipts(got):
    """The reports of one Infobip or webhook request."""
    body = json.loads(got.body)
    return body["results"] if "results" in body else body["receipts"]


class FakeProviderTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="smsq-fake-")
        self.providers = []
        self.endpoints = []

    def tearDown(self):
        for p in self.providers:
            rc = p.stop()
            self.assertEqual(rc, 0, "exit code %s; log:\n%s" % (rc, p.log_text()))
            self.assertNotIn("runtime error", p.log_text())
        for e in self.endpoints:
            e.stop()

    def endpoint(self, answer=None):
        e = Endpoint(answer)
        self.endpoints.append(e)
        return e

    def settled(self, p, scheduled, timeout_s=15):
        """/_stats once scheduled reports are held and none is pending."""
        return itlib.wait_for(lambda: (lambda s: s if s["receipts_scheduled"] == scheduled and
                                       s["receipts_pending"] == 0 else None)(p.stats()),
                              timeout_s=timeout_s, what="%d reports done" % scheduled)

    def start(self, *args):
        p = Provider(args, self.tmp)
        self.providers.append(p)
        return p

    # ---------------------------------------------------------------- Twilio

    def test_twilio_created_resource(self):
        p = self.start()
        status, hdrs, m = p.twilio(body="Bonjour Camille + café, RDV 10:30")
        self.assertEqual(status, 201, m)
        self.assertTrue(hdrs["content-type"].startswith("application/json"))
        self.assertRegex(m["sid"], r"^SM[0-9a-f]{32}$")
        self.assertEqual(m["status"], "queued")
        self.assertEqual(m["to"], "+33612345678")
        self.assertEqual(m["from"], "+15005550006")
        self.assertEqual(m["body"], "Bonjour Camille + café, RDV 10:30")
        self.assertEqual(m["num_segments"], "1")
        self.assertEqual(m["account_sid"], SID)
        self.assertEqual(m["api_version"], "2010-04-01")
        self.assertEqual(m["direction"], "outbound-api")
        self.assertIsNone(m["error_code"])
        self.assertIsNone(m["error_message"])
        self.assertIsNone(m["date_sent"])
        self.assertRegex(m["date_created"],
                         r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$")
        self.assertEqual(m["uri"], "/2010-04-01/Accounts/%s/Messages/%s.json" % (SID, m["sid"]))
        # A second message gets another sid; a long GSM text costs 2 parts,
        # a UCS-2 one over 70 characters too.
        _, _, m2 = p.twilio(body="x" * 161)
        self.assertNotEqual(m2["sid"], m["sid"])
        self.assertEqual(m2["num_segments"], "2")
        _, _, m3 = p.twilio(body="Ж" * 71)
        self.assertEqual(m3["num_segments"], "2")
        _, _, m4 = p.twilio(body="{" * 80)   # extension characters: 2 septets each
        self.assertEqual(m4["num_segments"], "1")
        _, _, m5 = p.twilio(body="{" * 81)
        self.assertEqual(m5["num_segments"], "2")
        # The resource is JSON written by hand: quotes, backslashes and
        # control characters come back escaped, invalid UTF-8 as '?'.
        odd = 'say "hi" \\ / \n\t\x01\x1f\x7f é'
        st, _, m6 = p.twilio(body=odd)
        self.assertEqual((st, m6["body"]), (201, odd))
        form = b"To=%2B33612345678&From=%2B15005550006&Body=bad%FF%C3%A9%22"
        st, _, m7 = p.request("POST", TWILIO_PATH, form,
                              {"Content-Type": "application/x-www-form-urlencoded",
                               "Authorization": basic(SID)})
        self.assertEqual((st, m7["body"]), (201, 'bad???"'))

    def test_twilio_messaging_service(self):
        p = self.start()
        mg = "MG" + "ab" * 16
        status, _, m = p.twilio(sender=None, extra={"MessagingServiceSid": mg})
        self.assertEqual(status, 201, m)
        self.assertEqual(m["status"], "accepted")
        self.assertIsNone(m["from"])
        self.assertEqual(m["messaging_service_sid"], mg)

    def test_twilio_errors(self):
        p = self.start()

        def check(resp, status, code):
            st, hdrs, e = resp
            self.assertEqual(st, status, e)
            self.assertEqual(set(e), {"code", "message", "more_info", "status"})
            self.assertEqual(e["code"], code)
            self.assertEqual(e["status"], status)
            self.assertEqual(e["more_info"], "https://www.twilio.com/docs/errors/%d" % code)
            return hdrs, e

        hdrs, _ = check(p.twilio(user=None), 401, 20003)
        self.assertIn("www-authenticate", hdrs)
        check(p.twilio(user="ACsomeoneelse"), 401, 20003)
        _, e = check(p.twilio(to="12"), 400, 21211)
        self.assertIn("not a valid phone number", e["message"])
        check(p.twilio(to="0612345678"), 400, 21211)
        check(p.twilio(to=""), 400, 21604)
        check(p.twilio(body=""), 400, 21602)
        check(p.twilio(sender=None), 400, 21603)
        check(p.twilio(body="a" * 1601), 400, 21617)
        check(p.request("GET", TWILIO_PATH, headers={"Authorization": basic(SID)}), 405, 20004)
        check(p.request("POST", "/2010-04-01/Accounts/%s/Calls.json" % SID), 404, 20404)
        s = p.stats()
        self.assertEqual(s["accepted"], 0)
        self.assertEqual(s["rejected"], 6)

    # ---------------------------------------------------------------- Infobip

    def test_infobip_batch(self):
        p = self.start("--infobip-key", "secret-key")
        payload = {"bulkId": "bulk-7", "messages": [
            {"destinations": [{"to": "41793026727", "messageId": "smsq-1"},
                              {"to": "41793026728"}],
             "from": "Doctolib", "text": "RDV confirmé"},
            {"destinations": [{"to": "12", "messageId": "smsq-3"}, {"messageId": "smsq-4"}],
             "from": "Doctolib", "text": "x"}]}
        status, _, r = p.infobip(payload)
        self.assertEqual(status, 200, r)
        self.assertEqual(r["bulkId"], "bulk-7")
        ms = r["messages"]
        self.assertEqual([m.get("to") for m in ms], ["41793026727", "41793026728", "12", ""])
        self.assertEqual(ms[0]["messageId"], "smsq-1")
        self.assertRegex(ms[1]["messageId"], r"^[0-9a-f-]{36}$")
        self.assertEqual(ms[0]["status"], {"groupId": 1, "groupName": "PENDING", "id": 26,
                                           "name": "PENDING_ACCEPTED",
                                           "description": "Message sent to next instance"})
        self.assertEqual(ms[1]["status"]["name"], "PENDING_ACCEPTED")
        self.assertEqual((ms[2]["status"]["groupId"], ms[2]["status"]["groupName"],
                          ms[2]["status"]["id"], ms[2]["status"]["name"]),
                         (5, "REJECTED", 52, "REJECTED_DESTINATION"))
        self.assertEqual((ms[3]["status"]["id"], ms[3]["status"]["name"]), (51, "MISSING_TO"))
        # Written by hand: a reference and a bulkId with quotes come back intact.
        _, _, rq = p.infobip({"bulkId": 'b"\\1', "messages": [
            {"destinations": [{"to": "41793026731", "messageId": 'r"\\\u00e9'}], "text": "a"}]})
        self.assertEqual((rq["bulkId"], rq["messages"][0]["messageId"]), ('b"\\1', 'r"\\\u00e9'))
        # One destination, no bulkId: Infobip answers none; several: generated.
        _, _, r1 = p.infobip({"messages": [{"destinations": [{"to": "41793026729"}],
                                            "text": "a"}]})
        self.assertNotIn("bulkId", r1)
        _, _, r2 = p.infobip({"messages": [{"destinations": [{"to": "41793026729"},
                                                             {"to": "41793026730"}],
                                            "text": "a"}]})
        self.assertRegex(r2["bulkId"], r"^[0-9a-f-]{36}$")
        s = p.stats()
        self.assertEqual((s["accepted"], s["rejected"], s["messages"]), (6, 2, 8))

    def test_infobip_errors(self):
        p = self.start("--infobip-key", "secret-key")

        def check(resp, status, msg_id):
            st, _, e = resp
            self.assertEqual(st, status, e)
            se = e["requestError"]["serviceException"]
            self.assertEqual(se["messageId"], msg_id)
            self.assertIsInstance(se["text"], str)

        ok = {"messages": [{"destinations": [{"to": "41793026727"}], "text": "a"}]}
        check(p.infobip(ok, key=None), 401, "UNAUTHORIZED")
        check(p.infobip(ok, key="wrong"), 401, "UNAUTHORIZED")
        check(p.request("POST", INFOBIP_PATH, b"{not json",
                        {"Authorization": "App secret-key", "Content-Type": "application/json"}),
              400, "BAD_REQUEST")
        check(p.request("POST", INFOBIP_PATH, json.dumps(ok).encode(),
                        {"Authorization": "App secret-key", "Content-Type": "text/plain"}),
              415, "BAD_REQUEST")
        check(p.infobip({"messages": []}), 400, "BAD_REQUEST")
        check(p.infobip({"messages": [{"destinations": "41793026727"}]}), 400, "BAD_REQUEST")
        check(p.infobip([1, 2]), 400, "BAD_REQUEST")
        self.assertEqual(p.infobip(ok)[0], 200)

    # ---------------------------------------------------------------- Sinch

    def test_sinch_batch_with_a_text_per_recipient(self):
        rec = os.path.join(self.tmp, "sinch.tsv")
        p = self.start("--sinch-token", "tok", "--record", rec)
        payload = {"from": "Clinique", "to": ["+33611111111", "+33622222222", "+33633333333"],
                   "body": "${text}", "client_reference": "smsq-1",
                   "parameters": {"text": {"+33611111111": "RDV confirmé",
                                           "+33622222222": "Hi ${text} \U0001F600"}}}
        status, _, b = p.sinch(payload)
        self.assertEqual(status, 201, b)
        self.assertRegex(b["id"], r"^[0-9A-Z]{26}$")
        for k in ("to", "from", "body", "parameters", "client_reference"):
            self.assertEqual(b[k], payload[k])
        self.assertEqual((b["type"], b["canceled"], b["delivery_report"]),
                         ("mt_text", False, "none"))
        st, _, e = p.sinch(payload, token="nope")
        self.assertEqual((st, e["code"]), (401, "unauthorized"))
        s = p.stats()
        # The third has no value and no default: it fails alone.
        self.assertEqual((s["accepted"], s["rejected"]), (2, 1))
        self.assertEqual(p.stop(), 0)
        recs = harness.read_records(rec)
        self.assertEqual([(r.api, r.dest, r.status, r.outcome, r.text) for r in recs],
                         [("sinch", "+33611111111", 201, "accepted", "RDV confirmé"),
                          ("sinch", "+33622222222", 201, "accepted",
                           "Hi ${text} \U0001F600"),
                          ("sinch", "+33633333333", 201, "rejected", "${text}")])

    def test_sinch_refuses_a_batch_as_a_whole(self):
        p = self.start("--fail-prefix", "+3361234")

        def batch(*to):
            return {"to": list(to), "body": "b"}

        for payload, status, code in [
                (batch("+33611111111", "+33612340000"), 403, "illegal_number_type"),
                (batch("+33611111111", "12"), 400, "syntax_invalid_parameter_format"),
                (batch("+33611111111", "+33611111111"), 400, "syntax_constraint_violation"),
                (batch(), 400, "syntax_constraint_violation"),
                (batch(*["+336%08d" % i for i in range(1001)]), 400,
                 "syntax_constraint_violation"),
                ({"to": ["+33611111111"]}, 400, "syntax_constraint_violation")]:
            st, _, e = p.sinch(payload)
            self.assertEqual((st, e["code"]), (status, code), e)
            self.assertIsInstance(e["text"], str)
        st, _, e = p.request("POST", SINCH_PATH, b"{", {"Authorization": "Bearer t",
                                                         "Content-Type": "application/json"})
        self.assertEqual((st, e["code"]), (400, "syntax_invalid_json"))
        s = p.stats()
        # Every recipient of a refused batch is rejected with it.
        self.assertEqual((s["accepted"], s["rejected"]), (0, 6))

    # ---------------------------------------------------------------- Vonage

    def test_vonage_parts_and_statuses_in_200s(self):
        rec = os.path.join(self.tmp, "vonage.tsv")
        p = self.start("--vonage-secret", "s3cret", "--fail-prefix", "3361234", "--record", rec)
        st, _, r = p.vonage(text="é" * 200)
        self.assertEqual((st, r["message-count"], len(r["messages"])), (200, "2", 2), r)
        ids = [m["message-id"] for m in r["messages"]]
        self.assertEqual(len(set(ids)), 2)
        for m in r["messages"]:
            self.assertEqual((m["status"], m["to"], m["client-ref"]),
                             ("0", "33655500001", "smsq-1"))
            for k in ("remaining-balance", "message-price", "network"):
                self.assertIn(k, m)
        # The same text as UCS-2 costs 3 parts.
        self.assertEqual(p.vonage(text="é" * 200, type="unicode", ref="smsq-2")[2]
                         ["message-count"], "3")
        for kw, status in [({"to": "33612340001", "ref": "smsq-3"}, "6"),
                           ({"to": "12", "ref": "smsq-4"}, "3"),
                           ({"to": "", "ref": "smsq-5"}, "2"),
                           ({"secret": "wrong"}, "4"),
                           ({"key": None}, "2")]:
            st, _, r = p.vonage(**kw)
            self.assertEqual((st, r["message-count"], r["messages"][0]["status"]),
                             (200, "1", status), (kw, r))
            self.assertIsInstance(r["messages"][0]["error-text"], str)
        # Sent as "text", Cyrillic arrives as '?': recorded as shown.
        p.vonage(text="Привет", ref="smsq-6")
        s = p.stats()
        self.assertEqual((s["accepted"], s["rejected"], s["unauthorized"]), (3, 3, 2))
        self.assertEqual(p.stop(), 0)
        recs = {r.key: r for r in harness.read_records(rec)}
        self.assertEqual((recs["smsq-1"].segments, recs["smsq-2"].segments), (2, 3))
        self.assertEqual(recs["smsq-6"].text, "??????")
        self.assertEqual(recs["smsq-3"].outcome, "rejected")

    def test_vonage_throttled_inside_a_200(self):
        p = self.start("--rate-limit", "1", "--api", "vonage")
        self.assertEqual(p.vonage()[2]["messages"][0]["status"], "0")
        st, hdrs, r = p.vonage(ref="smsq-2")
        self.assertEqual((st, r["messages"][0]),
                         (200, {"status": "1", "error-text": "Throttled"}))
        self.assertEqual(p.request("POST", SINCH_PATH, {"to": ["+33611111111"], "body": "b"},
                                   {"Authorization": "Bearer t"})[0], 404)
        self.assertEqual(p.stats()["throttled"], 1)

    # ---------------------------------------------------------------- webhook

    def test_webhook_results_and_auth(self):
        p = self.start("--webhook-token", "tok")
        auth = {"Authorization": "Bearer tok"}
        msgs = [{"id": "smsq-1", "to": "+33612345678", "text": "a", "segments": 1},
                {"id": "smsq-2", "to": "33612345678", "text": "a"},
                {"id": "smsq-3", "to": "+33612345679"},
                {"to": "+33612345679", "text": "a"},
                "not an object"]
        status, _, r = p.webhook(msgs, auth)
        self.assertEqual(status, 200, r)
        res = r["results"]
        self.assertEqual([x["status"] for x in res],
                         ["accepted", "rejected", "rejected", "rejected", "rejected"])
        self.assertEqual([x["id"] for x in res], ["smsq-1", "smsq-2", "smsq-3", None, None])
        self.assertTrue(res[0]["provider_id"])
        self.assertIn("error", res[1])
        st, _, e = p.webhook(msgs[:1])
        self.assertEqual((st, set(e)), (401, {"error"}))
        st, _, e = p.webhook(msgs[:1], {"Authorization": "Bearer nope"})
        self.assertEqual(st, 401)
        st, _, e = p.request("POST", "/webhook", b'{"messages": [}',
                             dict(auth, **{"Content-Type": "application/json"}))
        self.assertEqual((st, set(e)), (400, {"error"}))
        st, _, e = p.request("POST", "/webhook", json.dumps({"messages": msgs}).encode(),
                             dict(auth, **{"Content-Type": "text/plain"}))
        self.assertEqual(st, 415)
        st, _, e = p.request("POST", "/webhook", {"messages": []}, auth)
        self.assertEqual(st, 400)

    def test_credentials_rotation(self):
        """Several keys or tokens are taken at once (a rotation), and /_stats
        counts the requests each authenticated."""
        p = self.start("--webhook-token", "old", "--webhook-token", "new",
                       "--infobip-key", "k1", "--infobip-key", "k2")
        msg = [{"id": "smsq-1", "to": "+33612345678", "text": "a"}]
        for tok in ("old", "new", "new"):
            self.assertEqual(p.webhook(msg, {"Authorization": "Bearer " + tok})[0], 200)
        self.assertEqual(p.webhook(msg, {"Authorization": "Bearer other"})[0], 401)
        ok = {"messages": [{"destinations": [{"to": "41793026727"}], "text": "a"}]}
        self.assertEqual(p.infobip(ok, key="k2")[0], 200)
        self.assertEqual(p.infobip(ok, key="k3")[0], 401)
        self.assertEqual(p.stats()["credentials"], {"k1": 0, "k2": 1, "old": 1, "new": 2})

    # ---------------------------------------------------------------- rate limit

    def test_rate_limit_throttles_and_counts_the_window(self):
        rec = os.path.join(self.tmp, "rate.tsv")
        p = self.start("--rate-limit", "50", "--burst", "10", "--retry-after", "2",
                       "--record", rec)
        c = p.conn()
        per_message = []
        full_429 = None
        t0 = time.monotonic()
        for i in range(10):
            st, hdrs, r = p.webhook([{"id": "r-%d-%d" % (i, j), "to": "+33612345678",
                                      "text": "x"} for j in range(20)], conn=c)
            per_message += [x["status"] for x in r["results"]]
            if st == 429:
                full_429 = (hdrs, r)
            else:
                self.assertEqual(st, 200)
        quick = time.monotonic() - t0 < 0.9
        if quick:   # all in one window (else a slow machine let some more in)
            self.assertEqual(per_message.count("accepted"), 60)
            self.assertEqual(per_message.count("throttled"), 140)
        self.assertIsNotNone(full_429, "a wholly throttled batch must answer 429")
        self.assertEqual(full_429[0]["retry-after"], "2")
        self.assertEqual(full_429[1]["results"][0]["retry_after_ms"], 2000)
        st, hdrs, e = p.twilio(conn=c)
        self.assertEqual((st, e["code"], hdrs["retry-after"]), (429, 20429, "2"))
        st, hdrs, e = p.infobip({"messages": [{"destinations": [{"to": "41793026727"}],
                                               "text": "a"}]}, conn=c)
        self.assertEqual((st, e["requestError"]["serviceException"]["messageId"]),
                         (429, "TOO_MANY_REQUESTS"))
        self.assertEqual(hdrs["retry-after"], "2")
        c.close()
        s = p.stats()
        self.assertEqual(s["max_accepted_1s"], 60)
        if quick:
            self.assertEqual(s["throttled"], 142)
        # Once the window has passed, messages go through again.
        time.sleep(1.1)
        self.assertEqual(p.twilio()[0], 201)
        self.assertEqual(p.stats()["accepted"], s["accepted"] + 1)
        # The record file agrees with the counters, to the millisecond.
        self.assertEqual(p.stop(), 0)
        lines = [l.split("\t") for l in open(rec).read().splitlines()]
        accepted = sorted(int(float(l[0])) for l in lines if l[6] == "accepted")
        self.assertEqual(len(accepted), s["accepted"] + 1)
        best = max(sum(1 for t in accepted if a - 999 <= t <= a) for a in accepted)
        self.assertEqual(best, s["max_accepted_1s"])

    def test_rate_limit_as_a_token_bucket(self):
        # 20 a second, a bucket of 5: 5 at once, then one every 50 ms; the
        # sliding window would let 25 through at once.
        p = self.start("--rate-limit", "20", "--burst", "5", "--limit-kind", "bucket")
        c = p.conn()
        st, hdrs, r = p.webhook([{"id": "b-%d" % j, "to": "+33612345678", "text": "x"}
                                 for j in range(10)], conn=c)
        statuses = [x["status"] for x in r["results"]]
        self.assertEqual(statuses[:5], ["accepted"] * 5)
        self.assertEqual(statuses.count("accepted"), 5, statuses)
        time.sleep(0.3)  # 6 tokens come back, at most 5 kept
        st, hdrs, r = p.webhook([{"id": "c-%d" % j, "to": "+33612345678", "text": "x"}
                                 for j in range(10)], conn=c)
        self.assertEqual([x["status"] for x in r["results"]].count("accepted"), 5)
        c.close()
        err = subprocess.run([BIN, "--limit-kind", "leaky"], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(err.returncode, 2)
        self.assertIn("--limit-kind", err.stderr)

    def test_rate_limit_counting_segments_and_api_filter(self):
        p = self.start("--rate-limit", "3", "--count", "segments", "--api", "twilio")
        c = p.conn()
        self.assertEqual(p.twilio(body="x" * 200, conn=c)[0], 201)       # 2 segments
        self.assertEqual(p.twilio(body="y" * 200, conn=c)[0], 429)       # 2 + 2 > 3
        self.assertEqual(p.twilio(body="z", conn=c)[0], 201)             # 2 + 1
        c.close()
        s = p.stats()
        self.assertEqual((s["max_accepted_1s"], s["max_accepted_segments_1s"],
                          s["accepted_segments"]), (2, 3, 3))
        # Only Twilio is served: the other paths are unknown.
        self.assertEqual(p.webhook([{"id": "a", "to": "+33612345678", "text": "a"}])[0], 404)
        self.assertEqual(p.infobip({"messages": []})[0], 404)

    def test_rate_limit_sliding_window_spread(self):
        # 20/s without burst, messages one by one for ~1.6 s: the limit holds
        # in every window, and the counter is the exact maximum.
        p = self.start("--rate-limit", "20", "--api", "webhook")
        c = p.conn()
        sent = []
        t_end = time.monotonic() + 1.6
        i = 0
        while time.monotonic() < t_end:
            st, _, r = p.webhook([{"id": "s-%d" % i, "to": "+33612345678", "text": "x"}], conn=c)
            sent.append((time.monotonic(), r["results"][0]["status"]))
            i += 1
            time.sleep(0.005)
        c.close()
        s = p.stats()
        self.assertLessEqual(s["max_accepted_1s"], 20)
        self.assertGreaterEqual(s["max_accepted_1s"], 19)
        self.assertGreater(s["throttled"], 0)
        self.assertEqual(s["accepted"] + s["throttled"], len(sent))

    # ---------------------------------------------------------------- faults

    def test_fail_prefix_rejects_everywhere(self):
        p = self.start("--fail-prefix", "+3361", "--fail-prefix", "4420")
        st, _, e = p.twilio(to="+33611111111")
        self.assertEqual((st, e["code"]), (400, 21211))
        self.assertEqual(p.twilio(to="+33711111111")[0], 201)
        _, _, r = p.infobip({"messages": [{"destinations": [{"to": "33611111111"},
                                                            {"to": "442012345678"},
                                                            {"to": "33711111111"}],
                                           "text": "a"}]})
        self.assertEqual([m["status"]["groupName"] for m in r["messages"]],
                         ["REJECTED", "REJECTED", "PENDING"])
        _, _, r = p.webhook([{"id": "w1", "to": "+33611111111", "text": "a"}])
        self.assertEqual(r["results"][0]["status"], "rejected")
        s = p.stats()
        self.assertEqual((s["accepted"], s["rejected"]), (2, 4))

    def test_outage_window(self):
        p = self.start("--outage", "0:2.5", "--outage", "30:5")
        st, _, e = p.twilio()
        self.assertEqual((st, e["code"]), (503, 20503))
        st, _, e = p.infobip({"messages": [{"destinations": [{"to": "41793026727"}],
                                            "text": "a"}]})
        self.assertEqual((st, e["requestError"]["serviceException"]["messageId"]),
                         (503, "GENERAL_ERROR"))
        st, _, e = p.webhook([{"id": "o1", "to": "+33612345678", "text": "a"}])
        self.assertEqual((st, set(e)), (503, {"error"}))
        time.sleep(max(0.0, p.started + 2.7 - time.monotonic()))
        self.assertEqual(p.twilio()[0], 201)
        s = p.stats()
        self.assertEqual((s["errors"], s["error_messages"], s["accepted"]), (3, 3, 1))

    def test_auth_fail_window_answers_as_bad_credentials(self):
        # A rotated key for 3 s: every API answers 401 as it does to a wrong
        # key, whatever the request holds; counted and recorded apart.
        rec = os.path.join(self.tmp, "auth.tsv")
        p = self.start("--auth-fail", "0:3", "--auth-fail", "40:5", "--record", rec,
                       "--infobip-key", "secret-key")
        st, hdrs, e = p.twilio()
        self.assertEqual((st, e["code"], e["message"], e["status"]),
                         (401, 20003, "Authenticate", 401))
        self.assertIn("www-authenticate", hdrs)
        st, hdrs2, e = p.infobip({"messages": [{"destinations": [{"to": "41793026727",
                                                                    "messageId": "a1"}],
                                                 "text": "a"}]})
        self.assertEqual((st, e["requestError"]["serviceException"]),
                         (401, {"messageId": "UNAUTHORIZED", "text": "Invalid login details"}))
        st, hdrs3, e = p.webhook([{"id": "a2", "to": "+33612345678", "text": "a"},
                                  {"id": "a3", "to": "+33612345678", "text": "b"}])
        self.assertEqual((st, e), (401, {"error": "unauthorized"}))
        for h in (hdrs, hdrs2, hdrs3):
            self.assertNotIn("retry-after", h)
        s = p.stats()
        self.assertEqual((s["unauthorized"], s["unauthorized_messages"], s["errors"],
                          s["accepted"], s["messages"]), (3, 4, 0, 0, 4))
        time.sleep(max(0.0, p.started + 3.2 - time.monotonic()))
        self.assertEqual(p.twilio()[0], 201)
        # A wrong key outside the window is a 401 too, counted, not recorded.
        self.assertEqual(p.infobip({"messages": [{"destinations": [{"to": "41793026727"}],
                                                  "text": "a"}]}, key="wrong")[0], 401)
        s = p.stats()
        self.assertEqual((s["unauthorized"], s["unauthorized_messages"], s["accepted"]),
                         (4, 4, 1))
        self.assertEqual(p.stop(), 0)
        with open(rec) as f:
            lines = [l.split("\t") for l in f.read().splitlines()]
        self.assertEqual([(l[1], l[2], l[5], l[6]) for l in lines[:4]],
                         [("twilio", lines[0][2], "401", "unauthorized"),
                          ("infobip", "a1", "401", "unauthorized"),
                          ("webhook", "a2", "401", "unauthorized"),
                          ("webhook", "a3", "401", "unauthorized")])
        self.assertEqual((lines[4][5], lines[4][6]), ("201", "accepted"))
        self.assertEqual(len(lines), 5)

    def test_503_carries_retry_after_only_when_asked(self):
        # Outages and 503 errors come without Retry-After, as real providers
        # often answer; --error-retry-after adds one to them (not to a 500).
        plain = self.start("--outage", "0:30", "--error-rate", "1", "--error-status", "503")
        st, hdrs, _ = plain.twilio()
        self.assertEqual(st, 503)
        self.assertNotIn("retry-after", hdrs)
        errs = self.start("--error-rate", "1", "--error-status", "503")
        for api_call in (lambda p: p.twilio(),
                         lambda p: p.webhook([{"id": "r1", "to": "+33612345678", "text": "a"}])):
            st, hdrs, _ = api_call(errs)
            self.assertEqual(st, 503)
            self.assertNotIn("retry-after", hdrs)
        asked = self.start("--outage", "0:30", "--error-retry-after", "7")
        st, hdrs, _ = asked.infobip({"messages": [{"destinations": [{"to": "41793026727"}],
                                                   "text": "a"}]})
        self.assertEqual((st, hdrs.get("retry-after")), (503, "7"))
        mixed = self.start("--error-rate", "1", "--error-status", "500,503",
                           "--error-retry-after", "4")
        seen = {}
        for i in range(30):
            st, hdrs, _ = mixed.twilio(body="r%d" % i)
            seen.setdefault(st, set()).add(hdrs.get("retry-after"))
        self.assertEqual(seen, {500: {None}, 503: {"4"}})

    def test_error_status_mix_of_500_and_503(self):
        # "20 % of requests answered 500 or 503": each error picks one with
        # the seeded draws, the same on every run with the same seed.
        def run(seed):
            p = self.start("--error-rate", "0.2", "--error-status", "500,503",
                           "--seed", str(seed))
            c = p.conn()
            seq = [p.twilio(body="m%d" % i, conn=c)[0] for i in range(200)]
            c.close()
            return seq, p.stats()

        a, sa = run(7)
        b, _ = run(7)
        self.assertEqual(a, b)
        self.assertEqual(set(a), {201, 500, 503})
        errors = a.count(500) + a.count(503)
        self.assertTrue(20 <= errors <= 60, errors)
        self.assertTrue(a.count(500) >= 5 and a.count(503) >= 5, (a.count(500), a.count(503)))
        self.assertEqual((sa["errors"], sa["accepted"]), (errors, a.count(201)))
        # The same faults as --error-status 500 alone: only the status differs.
        p = self.start("--error-rate", "0.2", "--seed", "7")
        c = p.conn()
        only500 = [p.twilio(body="m%d" % i, conn=c)[0] for i in range(200)]
        c.close()
        self.assertEqual(only500, [500 if x == 503 else x for x in a])
        # Bad lists are refused with the allowed values.
        for bad in ("500,500", "502", "500,503,500", "503,", ""):
            out = subprocess.run([BIN, "--error-status", bad], capture_output=True, text=True,
                                 timeout=10)
            self.assertEqual(out.returncode, 2, bad)
            self.assertIn("expected 500, 503 or 500,503", out.stderr)

    def test_error_rate_is_reproducible_with_a_seed(self):
        def run(*extra):
            p = self.start("--error-rate", "0.3", "--seed", "42", *extra)
            c = p.conn()
            seq = [p.twilio(body="m%d" % i, conn=c)[0] for i in range(40)]
            c.close()
            s = p.stats()
            return p, seq, s

        _, a, sa = run()
        _, b, _ = run()
        self.assertEqual(a, b)
        self.assertEqual(set(a), {201, 500})
        self.assertTrue(4 <= a.count(500) <= 20, a)
        self.assertEqual(sa["errors"], a.count(500))
        self.assertEqual(sa["accepted"], a.count(201))
        p, c503, _ = run("--error-status", "503", "--seed", "43")
        self.assertEqual(set(c503), {201, 503})
        self.assertNotEqual(c503, [503 if x == 500 else x for x in a])

    def test_latency_does_not_serialise(self):
        p = self.start("--latency-ms", "200", "--latency-jitter-ms", "50")
        t0 = time.monotonic()
        self.assertEqual(p.twilio()[0], 201)
        self.assertGreaterEqual(time.monotonic() - t0, 0.2)
        results = []

        def one(i):
            results.append(p.twilio(body="c%d" % i)[0])

        threads = [threading.Thread(target=one, args=(i,)) for i in range(30)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        self.assertEqual(results, [201] * 30)
        self.assertLess(elapsed, 3.0, "30 delayed requests in %.2fs: serialised?" % elapsed)

    def test_drop_and_hang(self):
        p = self.start("--drop-rate", "1")
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            p.twilio()
        q = self.start("--hang-rate", "1")
        t0 = time.monotonic()
        with self.assertRaises(socket.timeout):
            q.request("POST", "/webhook", {"messages": [{"id": "h", "to": "+33612345678",
                                                          "text": "a"}]}, timeout=0.5)
        self.assertLess(time.monotonic() - t0, 5)
        # A second hung client is still connected when SIGTERM comes:
        # the provider must still stop at once, exit 0.
        s = socket.create_connection(("127.0.0.1", q.port))
        body = b'{"messages": [{"id": "h2", "to": "+33612345678", "text": "a"}]}'
        s.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        time.sleep(0.3)
        self.assertEqual((p.stats()["dropped"], q.stats()["hung"]), (1, 2))
        t0 = time.monotonic()
        self.assertEqual(q.stop(), 0)
        self.assertLess(time.monotonic() - t0, 5)
        s.close()

    # ---------------------------------------------------------------- counters, record

    def test_duplicates_and_record_file(self):
        rec = os.path.join(self.tmp, "record.tsv")
        p = self.start("--record", rec)
        self.assertEqual(p.twilio(body="same text")[0], 201)
        self.assertEqual(p.twilio(body="same text")[0], 201)        # duplicate
        self.assertEqual(p.twilio(body="other text")[0], 201)
        p.webhook([{"id": "k1", "to": "+33612345678", "text": "a"},
                   {"id": "k1", "to": "+33612345678", "text": "a"},   # duplicate
                   {"id": "k2", "to": "+4", "text": "a"}])            # rejected
        p.infobip({"messages": [{"destinations": [{"to": "41793026727", "messageId": "k1"}],
                                 "text": "a"}]})                       # same key, other API
        s = p.stats()
        self.assertEqual((s["accepted"], s["unique_accepted"], s["duplicates"], s["rejected"]),
                         (6, 3, 3, 1))
        self.assertEqual(s["messages"], 7)
        self.assertIsInstance(s["first_accept_ms"], int)
        self.assertGreaterEqual(s["last_accept_ms"], s["first_accept_ms"])
        self.assertLessEqual(abs(s["last_accept_ms"] - time.time() * 1000), 60000)
        # Flushed within 200 ms while running (polled: CI machines are slow)...
        t0 = time.monotonic()
        itlib.wait_for(lambda: len(open(rec).read().splitlines()) == 7, timeout_s=5,
                       what="7 record lines")
        self.assertLess(time.monotonic() - t0, 2.0)
        # ...and complete after SIGTERM.
        self.assertEqual(p.stop(), 0)
        lines = [l.split("\t") for l in open(rec).read().splitlines()]
        self.assertEqual(len(lines), 7)
        for l in lines:
            self.assertEqual(len(l), 8, l)
            self.assertRegex(l[0], r"^\d{13}\.\d{3}$")
        key = "+33612345678:%016x" % fnv1a64("same text".encode())
        self.assertEqual(lines[0][1:], ["twilio", key, "+33612345678", "1", "201", "accepted",
                                        "same text"])
        self.assertEqual(lines[1][2], key)
        self.assertEqual(lines[2][7], "other text")
        self.assertEqual(lines[3][1:], ["webhook", "k1", "+33612345678", "1", "200", "accepted",
                                        "a"])
        self.assertEqual(lines[5][1:], ["webhook", "k2", "+4", "1", "200", "rejected", "a"])
        self.assertEqual(lines[6][1:], ["infobip", "k1", "41793026727", "1", "200", "accepted",
                                        "a"])
        times = [float(l[0]) for l in lines]
        self.assertEqual(times, sorted(times))

    # ---------------------------------------------------------------- delivery reports

    def test_receipts_each_api_shape_and_signature(self):
        rec = os.path.join(self.tmp, "receipts.tsv")
        e = self.endpoint()
        p = self.start("--record", rec, "--receipt-delay-ms", "0:30")
        # Twilio: the StatusCallback as given, signed with the Basic password.
        cb = e.url("twilio") + "?ref=smsq-1"
        st, _, tw = p.twilio(extra={"StatusCallback": cb})
        self.assertEqual(st, 201, tw)
        # Infobip: per message notifyUrl; the second message asks for none.
        st, _, ib = p.infobip({"bulkId": "bulk-1", "messages": [
            {"destinations": [{"to": "41793026727", "messageId": "smsq-2"}], "text": "a",
             "notifyUrl": e.url("infobip"), "notifyContentType": "application/json"},
            {"destinations": [{"to": "41793026728", "messageId": "smsq-3"}], "text": "a"}]})
        self.assertEqual(st, 200, ib)
        # Sinch: per recipient, the batch's client_reference in every report.
        st, _, sb = p.sinch({"to": ["+33611111111", "33622222222"], "body": "b",
                             "client_reference": "smsq-4", "delivery_report": "per_recipient",
                             "callback_url": e.url("sinch")})
        self.assertEqual((st, sb["delivery_report"], sb["callback_url"]),
                         (201, "per_recipient", e.url("sinch")), sb)
        # Vonage: callback with status-report-req; the API key in the report.
        form = {"from": "Clinique", "to": "33655500001", "text": "t", "client-ref": "smsq-5",
                "callback": e.url("vonage"), "status-report-req": "1"}
        st, _, vg = p.request("POST", "/sms/json", urllib.parse.urlencode(form).encode(),
                              {"Content-Type": "application/x-www-form-urlencoded",
                               "Authorization": basic("vkey", "vsecret")})
        self.assertEqual((st, vg["messages"][0]["status"]), (200, "0"), vg)
        form.update({"client-ref": "smsq-6", "status-report-req": "0"})
        self.assertEqual(p.request("POST", "/sms/json", urllib.parse.urlencode(form).encode(),
                                   {"Content-Type": "application/x-www-form-urlencoded",
                                    "Authorization": basic("vkey", "vsecret")})[0], 200)
        # Webhook: the bearer token it got; a rejected message gets no report.
        wh_body = {"callback_url": e.url("webhook"), "messages": [
            {"id": "smsq-7", "to": "+33612345678", "text": "a"},
            {"id": "smsq-8", "to": "12", "text": "a"}]}
        st, _, wh = p.request("POST", "/webhook", wh_body, {"Authorization": "Bearer wtok"})
        self.assertEqual([r["status"] for r in wh["results"]], ["accepted", "rejected"])
        s = self.settled(p, 6)
        self.assertEqual((s["receipts_2xx"], s["receipts_sent"], s["receipts_requests"],
                          s["receipts_dropped"], s["receipts_failed"]), (6, 6, 6, 0, 0))
        by_api = collections.defaultdict(list)
        for g in e.requests():
            by_api[g.path.split("/")[2]].append(g)
        self.assertEqual({k: len(v) for k, v in by_api.items()},
                         {"twilio": 1, "infobip": 1, "sinch": 2, "vonage": 1, "webhook": 1})

        g = by_api["twilio"][0]
        self.assertEqual((g.method, g.path, g.headers["content-type"]),
                         ("POST", "/receipts/twilio/tok?ref=smsq-1",
                          "application/x-www-form-urlencoded"))
        params = dict(urllib.parse.parse_qsl(g.body.decode(), keep_blank_values=True))
        self.assertEqual(params, {"AccountSid": SID, "ApiVersion": "2010-04-01",
                                  "From": "+15005550006", "MessageSid": tw["sid"],
                                  "MessageStatus": "delivered", "SmsSid": tw["sid"],
                                  "SmsStatus": "delivered", "To": "+33612345678"})
        self.assertEqual(g.headers["x-twilio-signature"], twilio_signature("token", cb, params))

        [r] = json_receipts(by_api["infobip"][0])
        self.assertEqual((r["bulkId"], r["messageId"], r["to"], r["smsCount"]),
                         ("bulk-1", "smsq-2", "41793026727", 1))
        self.assertEqual(r["status"], {"groupId": 3, "groupName": "DELIVERED", "id": 5,
                                       "name": "DELIVERED_TO_HANDSET",
                                       "description": "Message delivered to handset"})
        self.assertEqual((r["error"]["id"], r["error"]["name"]), (0, "NO_ERROR"))
        for k in ("sentAt", "doneAt"):
            self.assertRegex(r[k], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
        self.assertLessEqual(r["sentAt"], r["doneAt"])
        self.assertEqual(by_api["infobip"][0].headers["content-type"], "application/json")

        sinch = sorted((json.loads(g.body) for g in by_api["sinch"]), key=lambda r: r["recipient"])
        self.assertEqual([r["recipient"] for r in sinch], ["+33611111111", "33622222222"])
        for r in sinch:
            self.assertEqual((r["type"], r["batch_id"], r["status"], r["code"],
                              r["client_reference"]),
                             ("recipient_delivery_report_sms", sb["id"], "Delivered", 0,
                              "smsq-4"))
            self.assertRegex(r["at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertLessEqual(r["operator_status_at"], r["at"])

        g = by_api["vonage"][0]
        self.assertEqual(g.method, "GET")
        self.assertTrue(g.path.startswith("/receipts/vonage/tok?msisdn=33655500001&to="), g.path)
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(g.path).query))
        self.assertEqual({k: q[k] for k in ("msisdn", "to", "messageId", "status", "err-code",
                                            "api-key", "client-ref")},
                         {"msisdn": "33655500001", "to": "Clinique",
                          "messageId": vg["messages"][0]["message-id"], "status": "delivered",
                          "err-code": "0", "api-key": "vkey", "client-ref": "smsq-5"})
        self.assertRegex(q["message-timestamp"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        self.assertRegex(q["scts"], r"^\d{10}$")
        for k in ("network-code", "price"):
            self.assertIn(k, q)

        g = by_api["webhook"][0]
        self.assertEqual(g.headers["authorization"], "Bearer wtok")
        [r] = json_receipts(g)
        self.assertEqual((r["ref"], r["id"], r["status"], r["provider_status"], r["error"]),
                         ("smsq-7", wh["results"][0]["provider_id"], "delivered", "DELIVRD", ""))
        self.assertRegex(r["at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

        self.assertEqual(p.stop(), 0)
        recs = receipt_records(rec)
        self.assertEqual(sorted((r["api"], r["ref"], r["dest"], r["status"], r["report"],
                                 r["flags"], r["attempts"], r["provider_status"], r["error"])
                                for r in recs),
                         sorted([("twilio", "smsq-1", "+33612345678", 200, "delivered", "-", 1,
                                  "delivered", ""),
                                 ("infobip", "smsq-2", "41793026727", 200, "delivered", "-", 1,
                                  "DELIVERED_TO_HANDSET", ""),
                                 ("sinch", sb["id"], "+33611111111", 200, "delivered", "-", 1,
                                  "Delivered", ""),
                                 ("sinch", sb["id"], "33622222222", 200, "delivered", "-", 1,
                                  "Delivered", ""),
                                 ("vonage", "smsq-5", "33655500001", 200, "delivered", "-", 1,
                                  "delivered", ""),
                                 ("webhook", "smsq-7", "+33612345678", 200, "delivered", "-", 1,
                                  "DELIVRD", "")]))
        # harness.read_records() still reads the file: the message lines as
        # they were, the receipt lines with "receipt" for a key.
        self.assertEqual(len([r for r in harness.read_records(rec) if r.key != "receipt"]), 9)

    def test_receipts_vonage_post_and_json(self):
        for how in ("post", "json"):
            e = self.endpoint()
            p = self.start("--receipt-vonage-method", how, "--receipt-delay-ms", "0:0",
                           "--receipt-undelivered", "1")
            form = {"from": "Clinique", "to": "33655500001", "text": "t", "client-ref": "r1",
                    "callback": e.url("vonage")}
            st, _, _ = p.request("POST", "/sms/json", urllib.parse.urlencode(form).encode(),
                                 {"Content-Type": "application/x-www-form-urlencoded",
                                  "Authorization": basic("vkey", "vsecret")})
            self.assertEqual(st, 200)
            self.settled(p, 1)
            [g] = e.requests()
            self.assertEqual(g.method, "POST")
            if how == "json":
                self.assertEqual(g.headers["content-type"], "application/json")
                r = json.loads(g.body)
            else:
                self.assertEqual(g.headers["content-type"], "application/x-www-form-urlencoded")
                r = dict(urllib.parse.parse_qsl(g.body.decode()))
            self.assertEqual((r["api-key"], r["client-ref"], r["msisdn"]),
                             ("vkey", "r1", "33655500001"))
            self.assertIn(r["status"], ("failed", "expired", "rejected"))
            self.assertNotEqual(r["err-code"], "0")

    def test_receipts_shares_batches_and_seed(self):
        """Undelivered, repeated, older-after-newer and interim reports, each
        in about its share; Infobip and webhook batches; the same seed, the
        same choices."""
        n = 400
        opts = ("--receipt-delay-ms", "0:40", "--receipt-undelivered", "0.3",
                "--receipt-repeat", "0.2", "--receipt-out-of-order", "0.2",
                "--receipt-interim", "0.25", "--receipt-batch", "50",
                "--receipt-concurrency", "4", "--seed", "5")

        def run():
            rec = os.path.join(self.tmp, "shares-%d.tsv" % time.time_ns())
            e = self.endpoint()
            p = self.start("--record", rec, *opts)
            c = p.conn()
            for b in range(n // 100):
                st, _, r = p.request("POST", "/webhook", {
                    "callback_url": e.url("webhook"),
                    "messages": [{"id": "m-%d" % (b * 100 + i), "to": "+33612345678",
                                  "text": "a"} for i in range(100)]},
                    {"Authorization": "Bearer t"}, conn=c)
                self.assertEqual(st, 200)
            c.close()
            s = itlib.wait_for(lambda: (lambda s: s if s["receipts_pending"] == 0 and
                                        s["receipts_scheduled"] >= n else None)(p.stats()),
                               timeout_s=20, what="reports done")
            self.assertEqual((s["receipts_2xx"], s["receipts_dropped"]),
                             (s["receipts_scheduled"], 0))
            self.assertEqual(p.stop(), 0)
            return e.requests(), receipt_records(rec), s

        got, recs, s = run()
        # Keep-alive: the reports came over at most --receipt-concurrency
        # connections, and many of them in a batch.
        self.assertLessEqual(len({g.client for g in got}), 4)
        sizes = [len(json_receipts(g)) for g in got]
        self.assertEqual(sum(sizes), s["receipts_scheduled"])
        self.assertEqual(len(got), s["receipts_requests"])
        self.assertLessEqual(max(sizes), 50)
        self.assertGreater(max(sizes), 1)
        # Each message's reports, in the order they arrived.
        seq = collections.defaultdict(list)
        for g in got:
            for r in json_receipts(g):
                seq[r["ref"]].append(r)
        self.assertEqual(len(seq), n)
        finals = {"delivered", "undelivered"}
        undelivered = repeated = older = interim = 0
        for ref, rs in seq.items():
            fs = [r for r in rs if r["status"] in finals]
            first = fs[0]
            undelivered += first["status"] == "undelivered"
            if first["status"] == "undelivered":
                self.assertNotEqual(first["error"], "")
                self.assertIn(first["provider_status"], ("UNDELIV", "EXPIRED", "REJECTD"))
            interim += any(r["status"] == "pending" for r in rs)
            rest = fs[1:]
            if rest and rest[0] == first:
                repeated += 1
                rest = rest[1:]
            if rest:
                # An older report, contradicting the final one, after it.
                [old] = rest
                older += 1
                self.assertNotEqual(old["status"], first["status"])
                self.assertLess(old["at"], first["at"])
                self.assertGreater(rs.index(old), rs.index(first))
        for name, count, share in (("undelivered", undelivered, 0.3), ("repeat", repeated, 0.2),
                                   ("older", older, 0.2), ("interim", interim, 0.25)):
            self.assertTrue(abs(count / n - share) < 0.08, (name, count, n))
        self.assertEqual(len(recs), s["receipts_scheduled"])
        self.assertEqual(sum(r["flags"] == "repeat" for r in recs), repeated)
        self.assertEqual(sum(r["flags"] == "older" for r in recs), older)
        self.assertEqual({r["status"] for r in recs}, {200})
        # The same seed and messages: the same reports.
        _, recs2, _ = run()
        key = lambda r: (r["ref"], r["report"], r["flags"], r["provider_status"], r["error"])
        self.assertEqual(sorted(map(key, recs)), sorted(map(key, recs2)))

    def test_receipts_sinch_asks_per_recipient(self):
        # per_recipient_final: the final report only; summary, full, none:
        # nothing the fake sends; an unknown kind: 400.
        e = self.endpoint()
        p = self.start("--receipt-delay-ms", "0:0", "--receipt-interim", "1")
        for kind, to in (("per_recipient_final", "+33611111111"), ("summary", "+33622222222"),
                         ("none", "+33633333333"), ("per_recipient", "+33644444444")):
            st, _, b = p.sinch({"to": [to], "body": "b", "delivery_report": kind,
                                "callback_url": e.url("sinch")})
            self.assertEqual((st, b["delivery_report"]), (201, kind))
        st, _, b = p.sinch({"to": ["+33655555555"], "body": "b", "delivery_report": "all"})
        self.assertEqual((st, b["code"]), (400, "syntax_constraint_violation"))
        self.settled(p, 3)
        got = sorted((r["recipient"], r["status"]) for r in (json.loads(g.body)
                                                            for g in e.requests()))
        self.assertEqual(got, [("+33611111111", "Delivered"), ("+33644444444", "Delivered"),
                               ("+33644444444", "Dispatched")])

    def test_receipts_twilio_older_is_an_interim_after_the_final(self):
        e = self.endpoint()
        p = self.start("--receipt-delay-ms", "0:10", "--receipt-out-of-order", "1")
        cb = e.url("twilio") + "?ref=smsq-9"
        self.assertEqual(p.twilio(extra={"StatusCallback": cb})[0], 201)
        self.settled(p, 2)
        statuses = []
        for g in e.requests():
            params = dict(urllib.parse.parse_qsl(g.body.decode(), keep_blank_values=True))
            self.assertEqual(g.headers["x-twilio-signature"], twilio_signature("token", cb, params))
            statuses.append(params["MessageStatus"])
        self.assertEqual(statuses, ["delivered", "sent"])

    def test_receipts_held_until_hold_s_then_all_at_once(self):
        e = self.endpoint()
        t0 = time.monotonic()
        p = self.start("--receipt-delay-ms", "0:10", "--receipt-hold-s", "2")
        cb = e.url("twilio") + "?ref=smsq-%d"
        for i in range(1, 6):
            self.assertEqual(p.twilio(extra={"StatusCallback": cb % i})[0], 201)
        time.sleep(1.0)
        self.assertEqual(e.requests(), [], "a report left before --receipt-hold-s")
        self.settled(p, 5)
        self.assertGreaterEqual(time.monotonic() - t0, 2.0)
        self.assertEqual(len(e.requests()), 5)

    def test_receipts_retried_on_503_not_on_400(self):
        rec = os.path.join(self.tmp, "retry.tsv")
        seen = collections.Counter()

        def flaky(got):
            """503 to a report's first request, 200 to the next."""
            key = got.body
            seen[key] += 1
            return 503 if seen[key] == 1 else 200

        e = self.endpoint(flaky)
        refuse = self.endpoint(lambda got: 400)
        p = self.start("--record", rec, "--receipt-delay-ms", "0:0", "--api", "webhook")
        t0 = time.monotonic()
        msgs = [{"id": "r-%d" % i, "to": "+33612345678", "text": "a"} for i in range(3)]
        self.assertEqual(p.request("POST", "/webhook", {"callback_url": e.url("webhook"),
                                                         "messages": msgs})[0], 200)
        self.assertEqual(p.request("POST", "/webhook", {"callback_url": refuse.url("webhook"),
                                                         "messages": [dict(msgs[0], id="x-1")]}
                                   )[0], 200)
        s = self.settled(p, 4)
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)   # the resend waits 1 s
        self.assertEqual((s["receipts_2xx"], s["receipts_5xx"], s["receipts_retried"],
                          s["receipts_4xx"], s["receipts_failed"], s["receipts_requests"]),
                         (3, 3, 3, 1, 0, 7))
        self.assertEqual(len(refuse.requests()), 1)
        self.assertEqual(p.stop(), 0)
        recs = {r["ref"]: r for r in receipt_records(rec)}
        self.assertEqual({(r["status"], r["attempts"]) for k, r in recs.items() if k != "x-1"},
                         {(200, 2)})
        self.assertEqual((recs["x-1"]["status"], recs["x-1"]["attempts"]), (400, 1))
        self.assertIn("answered 400: not sent again", p.log_text())

    def test_receipts_given_up(self):
        # Nobody listens: resent after 1 s, then given up (the next resend,
        # 2 s later, would pass --receipt-retry-s); with 0, given up at once.
        rec = os.path.join(self.tmp, "gone.tsv")
        dead = "http://127.0.0.1:%d/receipts/webhook/tok" % itlib.free_port()
        p = self.start("--record", rec, "--receipt-delay-ms", "0:0", "--receipt-retry-s", "2")
        q = self.start("--receipt-delay-ms", "0:0", "--receipt-retry-s", "0")
        for prov in (p, q):
            self.assertEqual(prov.request("POST", "/webhook", {"callback_url": dead, "messages": [
                {"id": "g-1", "to": "+33612345678", "text": "a"}]})[0], 200)
        s = self.settled(p, 1)
        self.assertEqual((s["receipts_failed"], s["receipts_no_answer"], s["receipts_retried"]),
                         (1, 2, 1))
        s = self.settled(q, 1)
        self.assertEqual((s["receipts_failed"], s["receipts_no_answer"], s["receipts_retried"]),
                         (1, 1, 0))
        self.assertEqual(p.stop(), 0)
        [r] = receipt_records(rec)
        self.assertEqual((r["ref"], r["status"], r["attempts"]), ("g-1", 0, 2))

    def test_receipts_held_at_most_max_pending(self):
        e = self.endpoint()
        p = self.start("--receipt-delay-ms", "60000:60000", "--receipt-max-pending", "3")
        msgs = [{"id": "q-%d" % i, "to": "+33612345678", "text": "a"} for i in range(5)]
        self.assertEqual(p.request("POST", "/webhook", {"callback_url": e.url("webhook"),
                                                         "messages": msgs})[0], 200)
        s = p.stats()
        self.assertEqual((s["receipts_scheduled"], s["receipts_dropped"], s["receipts_pending"]),
                         (3, 2, 3))
        self.assertIn("dropped", p.log_text())
        # Stopping with reports pending: they are not sent, the exit is clean.
        self.assertEqual(p.stop(), 0)
        self.assertEqual(e.requests(), [])

    def test_receipt_options_are_checked(self):
        for args, msg in [(("--receipt-delay-ms", "500:50"), "--receipt-delay-ms"),
                          (("--receipt-delay-ms", "50"), "--receipt-delay-ms"),
                          (("--receipt-tail", "1.5:100"), "--receipt-tail"),
                          (("--receipt-hold-s", "x"), "--receipt-hold-s"),
                          (("--receipt-undelivered", "2"), "--receipt-undelivered"),
                          (("--receipt-batch", "0"), "--receipt-batch"),
                          (("--receipt-concurrency", "5000"), "--receipt-concurrency"),
                          (("--receipt-vonage-method", "put"), "--receipt-vonage-method")]:
            out = subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=10)
            self.assertEqual(out.returncode, 2, args)
            self.assertIn(msg, out.stderr)

    # ---------------------------------------------------------------- bad input

    def test_bad_input_is_answered_and_the_server_stays_up(self):
        p = self.start("--max-body-bytes", "65536")
        j = {"Content-Type": "application/json"}
        cases = [
            ("POST", "/webhook", b"\xff\xfe garbage", j, 400),
            ("POST", "/webhook", b'{"messages": "x"}', j, 400),
            ("POST", "/webhook", b'{"messages": [1, null, {}]}', j, 200),
            ("POST", "/webhook", b'[' * 5000 + b']' * 5000, j, 400),
            ("POST", "/webhook", b'{"messages": [{"id": "\\u0000", "to": 1}]}', j, 400),
            ("POST", "/webhook", b'"\xc3\x28"', j, 400),
            ("POST", "/webhook", b"", j, 400),
            ("POST", "/webhook", b"{}", {}, 415),
            ("POST", "/webhook", b"x" * 70000, j, 413),
            ("POST", INFOBIP_PATH, b'{"messages": [{"destinations": [{"to": 5}]}]}',
             dict(j, Authorization="App k"), 200),
            ("POST", INFOBIP_PATH, b'{"bulkId": 5, "messages": []}',
             dict(j, Authorization="App k"), 400),
            ("POST", TWILIO_PATH, b"To=%ZZ&Body=\xff\xfe&From=%",
             {"Content-Type": "application/x-www-form-urlencoded",
              "Authorization": basic(SID)}, 400),
            ("POST", TWILIO_PATH, b"To=%2B33612345678&From=x&Body=%FF%FE",
             {"Content-Type": "application/x-www-form-urlencoded",
              "Authorization": basic(SID)}, 201),
            ("POST", TWILIO_PATH, b'{"To": "+33612345678"}',
             dict(j, Authorization=basic(SID)), 400),
            ("POST", TWILIO_PATH, b"To=%2B33612345678", {"Authorization": "Basic !!!"}, 401),
            ("GET", "/nothing/here", None, {}, 404),
            ("DELETE", "/_stats", None, {}, 405),
            ("PUT", "/webhook", b"{}", j, 405),
        ]
        for method, path, body, headers, want in cases:
            with self.subTest(method=method, path=path, body=(body or b"")[:40]):
                st, hdrs, data = p.request(method, path, body, headers)
                self.assertEqual(st, want, data)
                if want != 201 and want != 200:
                    self.assertIsInstance(data, dict, data)
        # Content-Length over the cap: refused before the body is read.
        s = socket.create_connection(("127.0.0.1", p.port))
        s.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 999999999\r\n\r\n{")
        self.assertIn(b" 413 ", s.recv(4096).split(b"\r\n")[0] + b" ")
        s.close()
        # Not HTTP at all, and a connection cut in the middle of a body.
        for junk in (b"\x00\x01\x02 hello\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X" * 100000,
                     b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"me"):
            s = socket.create_connection(("127.0.0.1", p.port))
            s.sendall(junk)
            s.settimeout(2)
            try:
                s.recv(4096)
            except (socket.timeout, ConnectionError):
                pass
            s.close()
        self.assertEqual(p.stats()["requests"] > 0, True)
        self.assertIsNone(p.proc.poll())


if __name__ == "__main__":
    itlib.main()
