#!/usr/bin/python3
"""it_monitor: the pool's monitor (watch/monitor.c) against a real pool.

Its /metrics counts what the pool did, summed exactly over every process
(several workers, the broker): what the producer was answered, what the
provider received (its record), what the store holds; a worker killed is a
restart counted; the monitor's port taken by another program does not stop
sending; the HTTP surface refuses what it does not serve; and no number,
name or text reaches /metrics or /status.json.
"""

import json
import os
import re
import signal
import socket
import sys
import time
import unittest
import urllib.error
import urllib.request

import harness
import itlib
from it_dispatch import DispatchBase, accepted
from itlib import wait_for


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode("utf-8")


def parse(text):
    """{'name{labels}': value} of an exposition (HELP/TYPE lines skipped)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, value = line.rsplit(" ", 1)
        out[key] = float(value)
    return out


def total(series, name, **labels):
    """Sum of the series of name whose labels include labels."""
    s = 0.0
    for key, value in series.items():
        m = re.match(r"([a-z_]+)(?:\{(.*)\})?$", key)
        if m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            s += value
    return s


class MonitorTest(DispatchBase):

    def metrics(self, pool):
        status, ctype, text = get(pool.monitor_url() + "metrics")
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        return parse(text), text

    def test_counts_agree_across_processes(self):
        """Two ingesting workers behind the broker, a provider that refuses
        one destination and answers some requests 500: every counter of
        /metrics equals what the producer, the provider and the store say."""
        fake = self.fake(args=["--fail-prefix", "+33655000", "--error-rate", "0.05",
                               "--seed", "7"])
        cfg = self.config([("primary", self.provider(fake, rate_per_s=3000, burst=150,
                                                     max_batch=50))],
                          retry={"base_ms": 50, "cap_ms": 200})
        pool = self.pool(workers=2, args=["-c", cfg, "-o", "ingest.workers=2"])
        n = 3000
        path, phones = self.events("a", n)
        # The first 1,000 destinations (+33655000xxx) are refused for good.
        with open(path, encoding="utf-8") as f:
            good = json.loads(f.readline())
        with open(path, "a", encoding="utf-8") as f:
            for i in range(5):  # rejected at ingest: not a number
                f.write(json.dumps(dict(good, idempotency_key="bad-%d" % i, phone="+33 12")) + "\n")
        rc, summary = self.publish(pool, path)
        self.assertEqual(summary["accepted"], n, summary)
        self.assertEqual(summary["rejected"], {"invalid_phone": 5}, summary)
        rc, again = self.publish(pool, path)  # every key again: duplicates
        self.assertEqual(again["duplicate"], n, again)
        self.wait_states(pool, lambda s: s["waiting"] == 0, 120, "drained")
        st = self.stats()
        refused = sum(1 for p in phones if p.startswith("+33655000"))

        def settled():
            m, _ = self.metrics(pool)
            return total(m, "smsq_store_messages", state="sent") == st["states"]["sent"] and m
        m = wait_for(settled, 15, "the monitor's next view")
        recs = fake.records()
        fstats = fake.stats()
        self.assertEqual(total(m, "smsq_events_total", result="accepted"), n)
        self.assertEqual(total(m, "smsq_events_total", result="duplicate"), n)
                # (the bad ones were published twice too)
        self.assertEqual(total(m, "smsq_events_total", result="rejected", reason="invalid_phone"),
                         10)
        self.assertEqual(total(m, "smsq_ingest_ack_latency_seconds_count"), 2 * n + 10)
        self.assertEqual(total(m, "smsq_messages_sent_total", provider="primary"),
                         st["states"]["sent"])
        self.assertEqual(total(m, "smsq_messages_sent_total"), len(accepted(recs)))
        self.assertEqual(total(m, "smsq_messages_failed_total", provider="primary",
                               reason="refused"), refused)
        self.assertEqual(st["states"]["failed"], refused)
        # Requests: one per answer the fake gave (its own count), by class.
        self.assertEqual(total(m, "smsq_provider_requests_total", provider="primary"),
                         fstats["requests"], fstats)
        self.assertEqual(total(m, "smsq_provider_requests_total", **{"class": "5xx"}),
                         fstats["errors"], fstats)
        self.assertGreater(fstats["errors"], 0)
        self.assertEqual(total(m, "smsq_provider_response_seconds_count", provider="primary"),
                         fstats["requests"])
        self.assertEqual(total(m, "smsq_retries_total"), st["retries"])
        self.assertEqual(total(m, "smsq_provider_retries_total"), st["retries"])
        self.assertEqual(total(m, "smsq_backlog_messages"), 0)
        self.assertEqual(total(m, "smsq_drain_state", state="drained"), 1)
        self.assertEqual(total(m, "smsq_drain_time_left_seconds"), 0)
        self.assertEqual(total(m, "smsq_provider_limit_per_second", provider="primary"), 3000)
        self.assertEqual(total(m, "smsq_workers_running"), 4)  # 2 workers, broker, monitor
        self.assertGreater(total(m, "smsq_store_commit_duration_seconds_count", op="ingest"), 0)
        self.assertGreater(total(m, "smsq_store_commit_duration_seconds_count", op="dispatch"), 0)
        # status.json says the same.
        _, ctype, body = get(pool.monitor_url() + "status.json")
        self.assertTrue(ctype.startswith("application/json"), ctype)
        sj = json.loads(body)
        self.assertEqual(sj["states"], st["states"])
        self.assertEqual(sj["drain"]["state"], "drained")
        prov = sj["providers"][0]
        self.assertEqual((prov["name"], prov["limit_per_s"], prov["sent"]),
                         ("primary", 3000, st["states"]["sent"]))
        reasons = {(f["kind"], f["reason"]): f["count"] for f in sj["failures"]}
        self.assertEqual(reasons.get(("failed", "refused")), refused, sj["failures"])
        self.assertEqual(reasons.get(("rejected", "invalid_phone")), 10, sj["failures"])
        # Nothing personal: no destination, no name, no text.
        _, _, text = get(pool.monitor_url() + "metrics")
        for page in (text, body):
            for p in phones[:50] + [phones[-1]]:
                self.assertNotIn(p[1:], page)
            for word in ("Camille", "Martin", "Lef", "vaccination"):
                self.assertNotIn(word, page)
        self.finish(pool)

    def test_a_worker_killed_is_a_restart_counted(self):
        fake = self.fake()
        cfg = self.config([("primary", self.provider(fake))])
        pool = self.pool(workers=2, args=["-c", cfg, "-o", "pool.restart_delay_ms=100"])
        m, _ = self.metrics(pool)
        self.assertEqual(total(m, "smsq_worker_restarts_total"), 0)
        victim = pool.roles()["worker-2"]
        os.kill(victim, signal.SIGKILL)

        def restarted():
            m, _ = self.metrics(pool)
            return (total(m, "smsq_worker_restarts_total") == 1
                    and total(m, "smsq_workers_running") == 3 and m)  # 2 workers, monitor
        try:
            wait_for(restarted, 30, "the restart counted")
        except AssertionError:
            m, text = self.metrics(pool)
            raise AssertionError("restarts %s running %s\n%s" % (
                total(m, "smsq_worker_restarts_total"), total(m, "smsq_workers_running"),
                pool.log_text()[-3000:]))
        self.finish(pool)

    def test_a_taken_port_does_not_stop_sending(self):
        """The monitor's address held by another program: the pool starts
        and sends, says so once; the monitor listens once it is free."""
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        fake = self.fake()
        cfg = self.config([("primary", self.provider(fake))])
        pool = self.pool(workers=1, args=["-c", cfg, "-o", "metrics.listen=127.0.0.1:%d" % port])
        path, _ = self.events("p", 200)
        self.publish_all(pool, path, 200)
        self.wait_sent(pool, 200, 60)
        wait_for(lambda: "cannot listen on 127.0.0.1:%d" % port in pool.log_text(), 30,
                 "the monitor to say it cannot listen")
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "monitor.url")))
        holder.close()
        url = pool.monitor_url(timeout_s=30)
        self.assertEqual(url, "http://127.0.0.1:%d/" % port)
        m, _ = self.metrics(pool)
        self.assertEqual(total(m, "smsq_messages_sent_total"), 200)
        self.assertEqual(pool.log_text().count("cannot listen"), 1)
        self.finish(pool)
        self.assertFalse(os.path.exists(os.path.join(self.data_dir, "monitor.url")))

    def test_http_surface(self):
        """GET only, known paths only; the page is served whole, with a policy
        that lets it load nothing from elsewhere; metrics.listen checked at
        start; empty turns the monitor off."""
        fake = self.fake()
        cfg = self.config([("primary", self.provider(fake))])
        pool = self.pool(workers=1, args=["-c", cfg])
        url = pool.monitor_url()
        with self.assertRaises(urllib.error.HTTPError) as e:
            get(url + "nope")
        self.assertEqual(e.exception.code, 404)
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(urllib.request.Request(url + "metrics", data=b"x" * 100000,
                                                          method="POST"), timeout=10)
        self.assertEqual(e.exception.code, 405)
        with urllib.request.urlopen(url, timeout=10) as r:
            self.assertTrue(r.headers["Content-Type"].startswith("text/html"))
            self.assertIn("default-src 'self'", r.headers["Content-Security-Policy"])
            page = r.read().decode()
        self.assertIn("</html>", page)
        self.assertNotRegex(page, r"(src|href)=[\"']?(https?:)?//")
        _, _, hist = get(url + "history.json")
        self.assertEqual(json.loads(hist)["step_s"], 5)
        self.finish(pool)
        out = harness.run([os.path.join(itlib.BIN, "smsq-worker"), "-d", self.data_dir,
                           "-o", "metrics.listen=localhost:80", "--print-config"], check=False)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("metrics.listen", out.stderr)
        self.assertIn("is not an address and port", out.stderr)
        pool = self.pool(workers=1, args=["-c", cfg, "-o", "metrics.listen="])
        self.assertNotIn("started monitor", pool.log_text())
        self.finish(pool)


if __name__ == "__main__":
    itlib.main()
