#!/usr/bin/python3
"""it_operate: smsqctl acting on, and looking into, a running pool.

Inspect: a message by id or idempotency key while the pool sends it, its
number masked unless asked, its note the provider's id or the last reason.

Pause / resume:
A paused provider takes no new request from the next one on (what was out
finishes), its traffic goes to the next provider in failover order, or waits
when there is none; resume sends again; the pause outlives a restart of the
pool; stats, top and the metrics say so; a name no provider has is refused.
Each test ends with the pool stopped cleanly and `smsqctl check` clean.
"""

import json
import os
import subprocess
import time

import harness
import itlib
from it_dispatch import DispatchBase, accepted
from it_monitor import get, parse, total
from itlib import wait_for


def ctl(data_dir, *args):
    return subprocess.run([os.path.join(itlib.BIN, "smsqctl"), "-d", data_dir] + list(args),
                          capture_output=True, text=True, timeout=60)


class PauseTest(DispatchBase):

    def steady(self, fake, quiet_s=1.5, timeout_s=30):
        """Wait until fake has received nothing for quiet_s; its count then."""
        last = [len(fake.records()), time.monotonic()]

        def quiet():
            n = len(fake.records())
            if n != last[0]:
                last[:] = [n, time.monotonic()]
                return False
            return time.monotonic() - last[1] >= quiet_s
        wait_for(quiet, timeout_s, "the provider to receive nothing more")
        return last[0]

    def test_pause_and_resume_one_provider_mid_drain(self):
        fake = self.fake(args=["--rate-limit", "300", "--burst", "15"])
        cfg = self.config([("primary", self.provider(fake, rate_per_s=300, burst=15))])
        pool = self.pool(workers=2, args=["-c", cfg])
        n = 3000
        path, _ = self.events("a", n)
        self.publish_all(pool, path, n)
        self.wait_sent(pool, 300, 60)
        out = ctl(self.data_dir, "pause", "primary")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, "primary paused\n")
        held = self.steady(fake)
        self.assertLess(held, n, "everything was sent before the pause took")
        time.sleep(2)
        self.assertEqual(len(fake.records()), held, "a request left through a paused provider")
        st = self.stats()
        self.assertEqual([p["name"] for p in st["paused"]], ["primary"])
        self.assertTrue(st["providers"][0]["paused"])
        text = ctl(self.data_dir, "stats").stdout
        self.assertIn("PAUSED     primary", text)
        top = ctl(self.data_dir, "top", "--plain", "--max-seconds", "1", "--interval-ms", "200")
        self.assertIn("[paused]", top.stdout)
        m = parse(get(pool.monitor_url() + "metrics")[2])
        wait_for(lambda: total(parse(get(pool.monitor_url() + "metrics")[2]),
                               "smsq_provider_paused", provider="primary") == 1, 10,
                 "the metric to say paused")
        m = parse(get(pool.monitor_url() + "metrics")[2])
        self.assertEqual(total(m, "smsq_sending_paused"), 0)
        again = ctl(self.data_dir, "pause", "primary")
        self.assertEqual(again.stdout, "primary paused (it was already)\n")
        out = ctl(self.data_dir, "resume", "primary")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, "primary resumed\n")
        self.wait_sent(pool, n, 60)
        # (the fake's record file is written behind its answers)
        wait_for(lambda: len(accepted(fake.records())) >= n, 10, "the record of every message")
        self.assert_each_once(fake.records(), n)
        self.assertEqual(self.stats()["paused"], [])
        wait_for(lambda: "monitor: primary resumed" in pool.log_text(), 10, "the monitor's line")
        self.assertIn("monitor: primary paused by an operator", pool.log_text())
        self.finish(pool)

    def test_a_paused_primary_hands_its_traffic_to_the_next(self):
        a = self.fake("a")
        b = self.fake("b")
        cfg = self.config([("a", self.provider(a, rate_per_s=500, burst=25)),
                           ("b", self.provider(b, rate_per_s=500, burst=25))])
        pool = self.pool(workers=1, args=["-c", cfg])
        path, _ = self.events("f", 200)
        self.publish_all(pool, path, 200)
        self.wait_sent(pool, 200, 60)
        wait_for(lambda: len(accepted(a.records())) == 200, 10, "a's record of 200")
        self.assertEqual(ctl(self.data_dir, "pause", "a").returncode, 0)
        time.sleep(0.5)
        path, _ = self.events("g", 300)
        self.publish_all(pool, path, 300)
        self.wait_sent(pool, 500, 60)
        # (a fake's record file is written behind its answers)
        wait_for(lambda: len(accepted(b.records())) == 300, 10, "b's record of 300")
        self.assertEqual(len(accepted(a.records())), 200)
        self.finish(pool)

    def test_pause_all_outlives_a_restart(self):
        fake = self.fake()
        cfg = self.config([("primary", self.provider(fake))])
        pool = self.pool(workers=2, args=["-c", cfg])
        path, _ = self.events("w", 10)
        self.publish_all(pool, path, 10)
        self.wait_sent(pool, 10, 60)
        out = ctl(self.data_dir, "pause")
        self.assertEqual((out.returncode, out.stdout), (0, "all sending paused\n"), out.stderr)
        self.assertEqual(pool.stop(), 0)
        # The pacing file forgets (as after a reboot); the store does not.
        os.unlink(os.path.join(self.data_dir, "pacing"))
        pool = self.pool(workers=2, args=["-c", cfg])
        self.assertIn("all sending is paused", pool.log_text())
        path, _ = self.events("x", 100)
        self.publish_all(pool, path, 100)  # ingest takes events while paused
        time.sleep(3)
        self.assertEqual(len(fake.records()), 10)
        st = self.stats()
        self.assertEqual(st["waiting"], 100)
        self.assertEqual([p["name"] for p in st["paused"]], ["*"])
        m = parse(get(pool.monitor_url() + "metrics")[2])
        self.assertEqual(total(m, "smsq_sending_paused"), 1)
        self.assertEqual(total(m, "smsq_provider_paused", provider="primary"), 0)
        wait_for(lambda: total(parse(get(pool.monitor_url() + "metrics")[2]),
                               "smsq_drain_state", state="stalled") == 1, 20, "stalled")
        out = ctl(self.data_dir, "resume", "primary")
        self.assertEqual(out.stdout, "primary resumed (it was already)\nall sending is still "
                         "paused: smsqctl resume (no name) lifts that\n")
        time.sleep(1)
        self.assertEqual(len(fake.records()), 10)
        out = ctl(self.data_dir, "resume")
        self.assertEqual(out.stdout, "all sending resumed\n")
        self.wait_sent(pool, 110, 60)
        self.finish(pool)

    def test_unknown_names_and_usage(self):
        fake = self.fake()
        cfg = self.config([("primary", self.provider(fake))])
        pool = self.pool(workers=1, args=["-c", cfg])
        path, _ = self.events("u", 5)
        self.publish_all(pool, path, 5)
        self.wait_sent(pool, 5, 60)
        out = ctl(self.data_dir, "pause", "primry")
        self.assertEqual(out.returncode, 2)
        self.assertIn("no provider named 'primry'", out.stderr)
        self.assertIn("known: primary", out.stderr)
        self.assertEqual(self.stats()["paused"], [])
        out = ctl(self.data_dir, "pause", "a", "b")
        self.assertEqual(out.returncode, 2)
        out = ctl(self.data_dir, "resume", "primary")
        self.assertEqual((out.returncode, out.stdout), (0, "primary resumed (it was already)\n"))
        out = ctl(self.data_dir, "pause", "x" * 40)
        self.assertEqual(out.returncode, 2)
        self.finish(pool)


class RequeueTest(DispatchBase):

    def test_requeue_what_a_provider_refused(self):
        """A provider refuses a range of numbers (a sender not yet allowed
        there, say); once it takes them, `requeue --state failed` sends each
        of them once, and nothing else."""
        bad = self.fake("bad", args=["--fail-prefix", "+336550002"])
        cfg = self.config([("primary", self.provider(bad))])
        pool = self.pool(workers=2, args=["-c", cfg])
        n = 300
        path, phones = self.events("r", n)
        self.publish_all(pool, path, n)
        refused = [i for i, p in enumerate(phones) if p.startswith("+336550002")]
        self.assertEqual(len(refused), 100)
        self.wait_states(pool, lambda s: s["waiting"] == 0, 60, "drained")
        self.assertEqual(self.stats()["states"]["failed"], 100)
        # Another provider answers on the same address, refusing nothing.
        port = bad.port
        bad.stop()
        good = harness.Fake(self.tmp, "good", ["--listen", "127.0.0.1:%d" % port], record=True)
        good.start()
        self.fakes.append(good)
        self.assertEqual(good.port, port)
        out = ctl(self.data_dir, "requeue", "--state", "sent")
        self.assertEqual(out.returncode, 2)
        # A filter cancels held messages only, never the waiting ones.
        out = ctl(self.data_dir, "cancel", "--state", "failed")
        self.assertEqual(out.returncode, 2)
        self.assertIn("--state held", out.stderr)
        out = ctl(self.data_dir, "requeue", "--state", "failed", "--reason", "no such reason")
        self.assertEqual((out.returncode, out.stdout), (0, "requeued 0\n"), out.stderr)
        out = ctl(self.data_dir, "requeue", "--state", "failed")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, "requeued 100\n")
        self.wait_states(pool, lambda s: s["waiting"] == 0 and s["states"]["failed"] == 0, 60,
                         "the requeued sent")
        wait_for(lambda: len(accepted(good.records())) >= 100, 10, "the record")
        keys = sorted(r.key for r in accepted(good.records()))
        self.assertEqual(len(keys), 100)
        self.assertEqual(len(set(keys)), 100)
        # by id: a sent message is left as it is; an unknown id is not found
        j = json.loads(ctl(self.data_dir, "inspect", "--key", "r-0", "--json").stdout)
        out = ctl(self.data_dir, "requeue", str(j["id"]))
        self.assertEqual((out.returncode, out.stdout),
                         (0, "requeued 0; 1 not failed, expired or held, left as they are\n"))
        self.assertEqual(ctl(self.data_dir, "requeue", "987654321").returncode, 3)
        self.assertEqual(ctl(self.data_dir, "requeue").returncode, 2)
        self.assertEqual(ctl(self.data_dir, "requeue", "1", "--key", "r-1").returncode, 2)
        self.finish(pool)


class InspectTest(DispatchBase):

    def test_inspect_by_id_and_key(self):
        fake = self.fake(args=["--fail-prefix", "+33655000001"])
        cfg = self.config([("primary", self.provider(fake))])
        pool = self.pool(workers=1, args=["-c", cfg])
        path, phones = self.events("i", 3)
        self.publish_all(pool, path, 3)
        self.wait_states(pool, lambda s: s["waiting"] == 0, 60, "drained")
        wait_for(lambda: len(fake.records()) == 3, 10, "the fake's record")
        key, dest = "i-0", phones[0]
        # by key: sent, the provider's id as its note, the number masked
        out = ctl(self.data_dir, "inspect", "--key", key, "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        j = json.loads(out.stdout)
        self.assertEqual((j["key"], j["state"], j["attempts"]), (key, "sent", 1))
        self.assertEqual(j["booking_id"], "B-" + key)
        self.assertEqual(j["kind"], "confirmed")
        self.assertEqual(j["locale"], "fr-FR")
        self.assertTrue(j["note"].startswith("fake-"), j)  # the provider's message id
        self.assertNotIn(dest.lstrip("+")[-8:-2], j["to"])
        self.assertTrue(j["to"].endswith(dest[-2:]))
        self.assertIsNone(j["due"])
        # by id, with the number asked for; text never shown
        out = ctl(self.data_dir, "inspect", str(j["id"]), "--show-number")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("state       sent", out.stdout)
        self.assertIn(dest, out.stdout)
        self.assertNotIn("Camille", out.stdout)
        # the refused one: failed, its reason, numbers in it masked
        out = ctl(self.data_dir, "inspect", "--key", "i-1", "--json")
        j = json.loads(out.stdout)
        self.assertEqual(j["state"], "failed")
        self.assertIsNotNone(j["note"])
        self.assertNotIn("655000001", out.stdout)
        # list: by state, page by page, by reason; no destination in it
        out = ctl(self.data_dir, "list", "--state", "failed", "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        j = json.loads(out.stdout)
        self.assertEqual([m["key"] for m in j["messages"]], ["i-1"])
        self.assertIsNone(j["next"])
        keys, after = [], None
        for _ in range(10):
            out = ctl(self.data_dir, "list", "--limit", "1", "--json",
                      *(["--after", after] if after else []))
            self.assertEqual(out.returncode, 0, out.stderr)
            page = json.loads(out.stdout)
            keys += [m["key"] for m in page["messages"]]
            after = page["next"]
            if after is None:
                break
        self.assertEqual(sorted(keys), ["i-0", "i-1", "i-2"])
        text = ctl(self.data_dir, "list", "--limit", "2").stdout
        self.assertIn("(more: the same command with --after ", text)
        for p in phones:
            self.assertNotIn(p[1:], text)
        out = ctl(self.data_dir, "list", "--reason", "no such reason", "--json")
        self.assertEqual(json.loads(out.stdout)["messages"], [])
        self.assertEqual(ctl(self.data_dir, "list", "--after", "zz").returncode, 2)
        self.assertEqual(ctl(self.data_dir, "list", "--state", "lost").returncode, 2)
        # unknown, bad input
        self.assertEqual(ctl(self.data_dir, "inspect", "--key", "nope").returncode, 3)
        self.assertEqual(ctl(self.data_dir, "inspect", "999999").returncode, 3)
        bad = ctl(self.data_dir, "inspect", "12x")
        self.assertEqual(bad.returncode, 2)
        self.assertIn("is not a message id", bad.stderr)
        self.assertEqual(ctl(self.data_dir, "inspect").returncode, 2)
        self.assertEqual(ctl(self.data_dir, "inspect", "1", "--key", "i-1").returncode, 2)
        self.finish(pool)

    def test_inspect_a_message_in_flight(self):
        """While the provider holds its request: in flight, with its lease."""
        fake = self.fake(args=["--latency-ms", "3000"])
        cfg = self.config([("primary", self.provider(fake, timeout_ms=10000))])
        pool = self.pool(workers=1, args=["-c", cfg])
        path, _ = self.events("f", 1)
        self.publish_all(pool, path, 1)

        def in_flight():
            out = ctl(self.data_dir, "inspect", "--key", "f-0", "--json")
            return out.returncode == 0 and json.loads(out.stdout)["state"] == "inflight" and out
        out = wait_for(in_flight, 10, "the message in flight")
        j = json.loads(out.stdout)
        self.assertIsNotNone(j["due"])  # the lease's end
        self.wait_sent(pool, 1, 30)
        self.finish(pool)


if __name__ == "__main__":
    itlib.main()
