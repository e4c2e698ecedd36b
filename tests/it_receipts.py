#!/usr/bin/python3
"""it_receipts: delivery reports taken by the pool's receipt endpoint.

A pool is started with [receipts] listen/token and one provider pointing at
the fake provider (which is told to hold its own reports back: this test
writes them).  Events are published and sent; then the test calls the
endpoint as each provider would, in each API's documented shape and
signature (Twilio's X-Twilio-Signature over the URL and the sorted form
fields, Vonage's api-key, the webhook's bearer token, Infobip's and Sinch's
JSON; Sinch names a message by batch id and number only):

  - delivered, undelivered with its error code, an interim status then the
    final one, a repeat, an older report after a newer one, a message that
    gets none (it stays sent), a report for a message that does not exist;
  - forged (a bad signature, another account, a wrong bearer) -> 403, a body
    that is not a report -> 400, a wrong token or provider in the path ->
    404, too large -> 413; none of them changes anything;
  - what the store says of each message (smsqctl inspect), what the metrics
    count by result, smsqctl stats, smsqctl check.

Then the crash test: reports posted from several threads while the whole
pool is SIGKILLed and started again; every report answered 200 is in the
store, and the reports that were not answered, sent again (as providers
do), are recorded too.

SMSQ_KEEP_TMP=1 keeps each test's directory.
"""

import base64
import collections
import datetime
import hashlib
import hmac
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import harness
import itlib
from it_dispatch import SID, DispatchBase
from it_monitor import get, parse, total
from it_operate import ctl
from itlib import wait_for

TOKEN = "it-receipts-path-token-0123456789"
HOOK_TOKEN = "hook-bearer-token"
VONAGE_KEY = "abcd1234"
BASE_MS = int(time.time() * 1000) // 1000 * 1000


def iso(ms, style):
    """A report time in a provider's format."""
    d = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    if style == "infobip":
        return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d+0000" % (ms % 1000)
    if style == "vonage":
        return d.strftime("%Y-%m-%d %H:%M:%S")
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def twilio_signature(token, url, params):
    data = url + "".join(k + v for k, v in sorted(params.items()))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


class Msg:
    """What a report needs of a message: id, our ref, the provider's id, the number."""

    def __init__(self, j):
        self.id = j["id"]
        self.ref = "smsq-%d" % self.id
        self.pid = j["note"] or ""
        self.to = j["to"]


def report(api, url, m, what, at_ms, error="", account=None, token="test-token", sign=True,
           bearer=HOOK_TOKEN):
    """The request a provider makes to report `what` (delivered, undelivered,
    interim) of message m at at_ms: (method, url, headers, body)."""
    plain = m.to.lstrip("+")
    if account is None:  # the provider's account, as it_dispatch configures it
        account = VONAGE_KEY if api == "vonage" else SID
    if api == "twilio":
        status = {"delivered": "delivered", "undelivered": "undelivered", "interim": "sent"}[what]
        full = url + "?ref=" + m.ref
        params = {"MessageSid": m.pid, "SmsSid": m.pid, "MessageStatus": status,
                  "AccountSid": account, "From": "+33644630000", "To": m.to,
                  "ApiVersion": "2010-04-01"}
        if error:
            params["ErrorCode"] = error
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if sign:
            headers["X-Twilio-Signature"] = twilio_signature(token, full, params)
        return "POST", full, headers, urllib.parse.urlencode(params).encode()
    if api == "infobip":
        group = {"delivered": (3, "DELIVERED", 5, "DELIVERED_TO_HANDSET"),
                 "undelivered": (2, "UNDELIVERABLE", 9, "UNDELIVERABLE_NOT_DELIVERED"),
                 "interim": (1, "PENDING", 7, "PENDING_ENROUTE")}[what]
        res = {"bulkId": "bulk-1", "messageId": m.ref, "to": plain,
               "sentAt": iso(at_ms - 500, "infobip"), "doneAt": iso(at_ms, "infobip"),
               "smsCount": 1, "price": {"pricePerMessage": 0.01, "currency": "EUR"},
               "status": {"groupId": group[0], "groupName": group[1], "id": group[2],
                          "name": group[3], "description": "-"},
               "error": {"groupId": 0, "groupName": "OK", "id": int(error or 0),
                         "name": "NO_ERROR" if not error else "EC_ABSENT_SUBSCRIBER",
                         "description": "-", "permanent": False}}
        return "POST", url, {"Content-Type": "application/json"}, \
            json.dumps({"results": [res]}).encode()
    if api == "sinch":
        status = {"delivered": "Delivered", "undelivered": "Failed", "interim": "Dispatched"}[what]
        body = {"type": "recipient_delivery_report_sms", "batch_id": m.pid, "recipient": plain,
                "code": int(error or 0), "status": status, "at": iso(at_ms, "sinch"),
                "operator_status_at": iso(at_ms - 100, "sinch"), "client_reference": "smsq-1"}
        return "POST", url, {"Content-Type": "application/json"}, json.dumps(body).encode()
    if api == "vonage":
        status = {"delivered": "delivered", "undelivered": "failed", "interim": "buffered"}[what]
        q = {"msisdn": plain, "to": "SMSQTEST", "network-code": "20801", "messageId": m.pid,
             "price": "0.03", "status": status, "scts": "2612071800",
             "err-code": error or "0", "api-key": account,
             "message-timestamp": iso(at_ms, "vonage"), "client-ref": m.ref}
        return "GET", url + "?" + urllib.parse.urlencode(q), {}, None
    if api == "webhook":
        status = {"delivered": "delivered", "undelivered": "undelivered", "interim": "pending"}[what]
        body = {"receipts": [{"ref": m.ref, "id": m.pid, "status": status,
                              "provider_status": status.upper(), "error": error,
                              "at": iso(at_ms, "sinch")}]}
        headers = {"Content-Type": "application/json"}
        if bearer:
            headers["Authorization"] = "Bearer " + bearer
        return "POST", url, headers, json.dumps(body).encode()
    raise ValueError(api)


def call(req, timeout=30):
    """Make the request; the HTTP status (0: no answer)."""
    method, url, headers, body = req
    r = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(r, timeout=timeout) as a:
            a.read()
            return a.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


class ReceiptsBase(DispatchBase):

    def receipts_pool(self, api, n, name="main", extra=""):
        """A pool with one provider of api and the receipt endpoint, n events
        sent.  Returns (pool, endpoint URL for the provider, {id: Msg})."""
        fake = self.fake(args=["--receipt-delay-ms", "600000:600000"])
        over = {"token": HOOK_TOKEN} if api == "webhook" else {}
        conf = self.config([(name, self.provider(fake, api, **over))])
        self.port = harness.free_port()
        with open(conf, "a") as f:
            f.write("[receipts]\nlisten = 127.0.0.1:%d\ntoken = %s\n%s" % (self.port, TOKEN, extra))
        pool = self.pool(args=["-c", conf])
        path, _ = self.events(api, n)
        self.publish_all(pool, path, n)
        self.wait_sent(pool, n, 120)
        msgs = {}
        for j in self.listed("sent"):
            out = ctl(self.data_dir, "inspect", "--show-number", "--json", str(j["id"]))
            self.assertEqual(out.returncode, 0, out.stderr)
            m = Msg(json.loads(out.stdout))
            msgs[m.id] = m
        self.assertEqual(len(msgs), n)
        return pool, "http://127.0.0.1:%d/receipts/%s/%s" % (self.port, name, TOKEN), msgs

    def listed(self, state):
        """Every message in state (smsqctl list, page after page)."""
        got, after = [], None
        while True:
            out = ctl(self.data_dir, "list", "--state", state, "--json", "--limit", "1000",
                      *(["--after", after] if after else []))
            self.assertEqual(out.returncode, 0, out.stderr)
            page = json.loads(out.stdout)
            got += page["messages"]
            after = page["next"]
            if after is None:
                return got

    def state(self, mid):
        out = ctl(self.data_dir, "inspect", "--json", str(mid))
        self.assertEqual(out.returncode, 0, out.stderr)
        j = json.loads(out.stdout)
        return j["state"], j["note"]

    def receipts_metrics(self, pool):
        series = parse(get(pool.monitor_url() + "metrics")[2])
        return {r: int(total(series, "smsq_receipts_total", result=r))
                for r in ("delivered", "undelivered", "repeated", "older", "held", "unknown",
                          "interim", "forged", "malformed")}


class ReceiptsTest(ReceiptsBase):

    def check_api(self, api):
        pool, url, msgs = self.receipts_pool(api, 6, extra="expect_s = 1\n")
        ids = sorted(msgs)
        m = [msgs[i] for i in ids]
        t = BASE_MS
        err = {"twilio": "30003", "infobip": "27", "sinch": "402", "vonage": "1",
               "webhook": "UNDELIV"}[api]
        timed = api != "twilio"  # Twilio's reports carry no time: arrival order decides
        calls = [
            (m[0], "delivered", t + 1000, ""),
            (m[1], "undelivered", t + 1000, err),
            (m[2], "interim", t + 500, ""),
            (m[2], "delivered", t + 1500, ""),
            (m[3], "delivered", t + 1000, ""),
            (m[3], "delivered", t + 1000, ""),      # a repeat
            (m[4], "undelivered", t + 3000, err),
        ]
        if timed:
            calls.append((m[4], "delivered", t + 2000, ""))  # older: kept the newer
        for mm, what, at, e in calls:
            self.assertEqual(call(report(api, url, mm, what, at, e)), 200, (api, what, mm.id))
        # unknown message: taken (200), changes nothing
        ghost = Msg({"id": 999999, "note": "X-999999", "to": "+33655999999"})
        self.assertEqual(call(report(api, url, ghost, "delivered", t)), 200, api)
        # refusals
        self.assertEqual(call(report(api, url.replace(TOKEN, "not-the-token-0123456789"),
                                     m[5], "delivered", t)), 404)
        self.assertEqual(call(report(api, url.replace("/main/", "/other/"), m[5], "delivered",
                                     t)), 404)
        if api == "twilio":
            self.assertEqual(call(report(api, url, m[5], "delivered", t, token="wrong")), 403)
            self.assertEqual(call(report(api, url, m[5], "delivered", t, sign=False)), 403)
            self.assertEqual(call(report(api, url, m[5], "delivered", t,
                                         account="AC" + "f" * 32)), 403)
        if api == "vonage":
            self.assertEqual(call(report(api, url, m[5], "delivered", t, account="other")), 403)
        if api == "webhook":
            self.assertEqual(call(report(api, url, m[5], "delivered", t, bearer="wrong")), 403)
            self.assertEqual(call(report(api, url, m[5], "delivered", t, bearer="")), 403)
        if api != "vonage":  # (a Vonage GET has no body)
            self.assertEqual(call(("POST", url, {"Content-Type": "application/json",
                                                 "Authorization": "Bearer " + HOOK_TOKEN},
                                   b"{not json")), 400)
        self.assertEqual(call(("POST", url, {"Content-Type": "application/json"},
                               b"x" * (1 << 21))), 413)
        self.assertEqual(call(("PUT", url, {}, b"")), 405)

        got = {i: self.state(i) for i in ids}
        self.assertEqual(got[ids[0]][0], "delivered", got)
        self.assertEqual(got[ids[1]][0], "undelivered", got)
        self.assertIn(err, got[ids[1]][1])
        self.assertTrue(got[ids[1]][1].startswith(m[1].pid), got[ids[1]])  # its provider id kept
        self.assertEqual(got[ids[2]][0], "delivered", got)
        self.assertEqual(got[ids[3]][0], "delivered", got)
        self.assertEqual(got[ids[4]][0], "undelivered", got)
        self.assertEqual(got[ids[5]][0], "sent", got)  # no report, or only refused ones
        counted = self.receipts_metrics(pool)
        named = api == "sinch"  # a batch id no send wrote: held, it may be on its way
        want = {"delivered": 3, "undelivered": 2, "repeated": 1, "interim": 1,
                "unknown": 0 if named else 1, "held": 1 if named else 0,
                "older": 1 if timed else 0,
                "forged": {"twilio": 3, "vonage": 1, "webhook": 2}.get(api, 0),
                "malformed": 1 + (api != "vonage")}
        # the monitor reads the counters once a second
        try:
            wait_for(lambda: self.receipts_metrics(pool) == want, 10, "the metrics")
        except AssertionError:
            self.assertEqual(self.receipts_metrics(pool), want, api)
        # the one left without a report is counted as such once expect_s passed
        wait_for(lambda: self.stats()["receipts"]["missing"] == 1, 30, "one without a report")
        st = self.stats()
        self.assertEqual(st["receipts"]["missing_after_s"], 1)
        self.assertEqual(st["receipts"]["delivered"], 3, st["receipts"])
        text = ctl(self.data_dir, "stats").stdout
        self.assertIn("3 delivered, 2 undelivered", text)
        self.assertIn("1 sent 1 s ago or more with no delivery report", text)
        self.assertEqual(st["receipts_held"], 1 if named else 0)
        self.finish(pool)

    def test_twilio(self):
        self.check_api("twilio")

    def test_infobip(self):
        self.check_api("infobip")

    def test_sinch(self):
        self.check_api("sinch")

    def test_vonage(self):
        self.check_api("vonage")

    def test_webhook(self):
        self.check_api("webhook")


class FakeReportsTest(ReceiptsBase):
    """The fake provider sends the reports, as the real ones do: delays,
    a share undelivered, repeats, an older contradicting report after the
    final one, interim reports first; each message must end in what its
    final report said, and the booking backend (with Infobip) must be told."""

    FAKE_ARGS = ["--receipt-delay-ms", "20:400", "--receipt-undelivered", "0.1",
                 "--receipt-repeat", "0.1", "--receipt-out-of-order", "0.1",
                 "--receipt-interim", "0.2", "--seed", "11"]

    def check_fake(self, api, n, fake_args=(), outcomes=False):
        fake = self.fake(args=self.FAKE_ARGS + list(fake_args))
        conf = self.config([("main", self.provider(fake, api))])
        port = harness.free_port()
        extra = "[receipts]\nlisten = 127.0.0.1:%d\ntoken = %s\n" % (port, TOKEN)
        if outcomes:
            from it_outcomes import SECRET, Receiver, read_outcomes
            told_path = os.path.join(self.tmp, "outcomes.ndjson")
            receiver = Receiver(self.tmp, told_path).start()
            self.addCleanup(receiver.stop)
            extra += "[outcomes]\nurl = http://127.0.0.1:%d/outcomes\nsecret = %s\n" % (
                receiver.port, SECRET)
        with open(conf, "a") as f:
            f.write(extra)
        pool = self.pool(args=["-c", conf])
        path, _ = self.events(api, n)
        self.publish_all(pool, path, n)
        self.wait_states(pool, lambda s: s["states"]["delivered"] + s["states"]["undelivered"]
                         == n, 180, "every message reported")
        wait_for(lambda: fake.stats()["receipts_pending"] == 0, 60, "the fake's last reports")
        fstats = fake.stats()
        fake.stop()  # its record flushed
        reps = harness.read_receipts(fake.record_path)
        self.assertTrue(reps)
        self.assertTrue(all(200 <= r.status < 300 for r in reps),
                        [r for r in reps if not 200 <= r.status < 300][:5])
        # what each message's final report said, by its name in the reports
        final = {}
        for r in reps:
            if r.flags == "-" and r.report != "interim":
                final[(r.ref, r.dest.lstrip("+")) if api == "sinch" else r.ref] = r.report
        self.assertEqual(len(final), n)
        got = {}
        for j in self.listed("delivered") + self.listed("undelivered"):
            out = ctl(self.data_dir, "inspect", "--show-number", "--json", str(j["id"]))
            m = json.loads(out.stdout)
            name = (m["note"].split(" ")[0], m["to"].lstrip("+")) if api == "sinch" \
                else "smsq-%d" % m["id"]
            got[name] = m["state"]
        self.assertEqual(got, final)
        counted = self.receipts_metrics(pool)
        kinds = {f: sum(1 for r in reps if r.flags == f) for f in ("repeat", "older")}
        self.assertGreater(kinds["repeat"], 0)
        self.assertGreater(kinds["older"], 0)
        # (a report that came before its send was recorded is counted held,
        # and recorded with the send)
        self.assertEqual(counted["delivered"] + counted["undelivered"] + counted["held"], n,
                         counted)
        if api != "twilio":  # (Twilio's "older" is an interim report: no time)
            self.assertEqual(counted["older"], kinds["older"], counted)
        self.assertEqual(counted["repeated"], kinds["repeat"], counted)
        if outcomes:
            wait_for(lambda: self.stats()["outbox"] == 0, 60, "the outbox taken")
            told = collections.defaultdict(set)
            for o in read_outcomes(told_path):
                told[o["message_id"]].add(o["state"])
            self.assertEqual(len(told), n)
            self.assertEqual(sum(1 for v in told.values() if "undelivered" in v),
                             sum(1 for v in final.values() if v == "undelivered"))
        self.finish(pool, reports=len(reps), fake_requests=fstats["receipts_requests"])

    def test_infobip_batched_reports_and_the_backend_told(self):
        self.check_fake("infobip", 400, ["--receipt-batch", "20"], outcomes=True)

    def test_twilio_signed_reports(self):
        self.check_fake("twilio", 200)

    def test_sinch_reports_by_batch_and_number(self):
        self.check_fake("sinch", 400)

    def test_vonage_reports(self):
        self.check_fake("vonage", 200)


class CrashTest(ReceiptsBase):

    def test_kill9_while_reports_arrive_loses_none_answered(self):
        """Reports from 8 threads, the whole pool SIGKILLed mid-way and started
        again: each report answered 200 is recorded; the others, sent again
        once the pool is back, are recorded too."""
        n = 1500
        pool, url, msgs = self.receipts_pool("infobip", n)
        ids = sorted(msgs)
        what = {i: "undelivered" if i % 7 == 0 else "delivered" for i in ids}
        answered = {}
        lock = threading.Lock()

        def sender(part):
            for i in part:
                st = call(report("infobip", url, msgs[i], what[i], BASE_MS + 1000,
                                 "27" if what[i] == "undelivered" else ""), timeout=10)
                with lock:
                    answered[i] = st

        threads = [threading.Thread(target=sender, args=(ids[k::8],)) for k in range(8)]
        for th in threads:
            th.start()
        wait_for(lambda: len(answered) >= n // 3, 120, "a third of the reports answered")
        pool.kill9()
        for th in threads:
            th.join()
        ok = [i for i in ids if answered[i] == 200]
        self.assertGreater(len(ok), n // 4)
        self.assertLess(len(ok), n, "the kill came after the last report: nothing tested")
        # the store, pool down: every report answered 200 is there
        states = {}
        for j in self.listed("delivered") + self.listed("undelivered"):
            states[j["id"]] = j["state"]
        lost = [i for i in ok if states.get(i) != what[i]]
        self.assertEqual(lost, [], "answered 200 but not recorded")
        # the provider sends the others again
        pool2 = self.pool(args=pool.args)
        for i in ids:
            if answered[i] != 200:
                self.assertEqual(call(report("infobip", url, msgs[i], what[i], BASE_MS + 1000,
                                             "27" if what[i] == "undelivered" else "")), 200)
        st = self.stats()["states"]
        self.assertEqual(st["delivered"] + st["undelivered"], n, st)
        self.assertEqual(st["undelivered"], sum(1 for i in ids if what[i] == "undelivered"))
        self.finish(pool2, answered_before_kill=len(ok))


if __name__ == "__main__":
    itlib.main()
