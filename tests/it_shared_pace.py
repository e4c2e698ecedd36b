#!/usr/bin/python3
"""it_shared_pace: one provider account's limit held by two pools (nodes)
through a Redis server (pace.shared), end to end.

A redis-server of the test's own on a free port, one fake provider (Infobip,
recording each message's arrival), two pools with their own data
directories whose provider section has the same name.  Both drain a backlog
at once: the provider's busiest second stays within the limit and the
burst, and the average comes near the limit (not twice it).  Then a pool
whose Redis server stops paces on its share (pace.shared_fallback_percent),
says so in its log, stats and metrics, and goes back to the shared pace
when the server returns."""

import os
import re
import time
import unittest
import urllib.request

import harness
import itlib
from harness import wait_for


def accepted_times(fake):
    return sorted(int(r.t_ms) for r in fake.records() if r.outcome == "accepted")


busiest_1s = harness.busiest_1s


class SharedPace(itlib.PoolTest):

    def setUp(self):
        super().setUp()
        self.redis = harness.Redis(self.tmp).start()
        self.addCleanup(self.redis.stop)

    def node(self, name, fake, rate, burst, options=None):
        opts = {"pace.shared": self.redis.addr}
        opts.update(options or {})
        conf = os.path.join(self.tmp, name + ".conf")
        harness.write_config(conf, opts,
                             providers=[("acct", fake.provider("infobip", rate, burst=burst))])
        p = itlib.Pool(os.path.join(self.tmp, name), 2, ["-c", conf])
        self.pools.append(p)
        return p.start()

    def events(self, pool, n, seed):
        path = self.gen(n, seed=seed)
        rc, s = self.publish(pool, path)
        self.assertEqual(rc, 0, s)
        with open(path, encoding="utf-8") as f:
            return sum(1 for line in f if "not_before" not in line)

    def stats_of(self, pool):
        return pool.stats()

    def metrics(self, pool):
        with urllib.request.urlopen(pool.monitor_url().rstrip("/") + "/metrics", timeout=30) as r:
            return r.read().decode()

    def test_two_nodes_hold_one_limit(self):
        fake = harness.Fake(self.tmp, args=["--api", "infobip"], record=True).start()
        self.addCleanup(fake.stop)
        rate, burst = 300, 15
        a = self.node("a", fake, rate, burst)
        b = self.node("b", fake, rate, burst)
        due = self.events(a, 1000, 1) + self.events(b, 1000, 2)
        wait_for(lambda: fake.stats()["accepted"] >= due, 120, "both backlogs sent")
        time.sleep(0.5)
        fs = fake.stats()
        self.assertEqual(fs["accepted"], due, fs)
        fake.stop()
        t = accepted_times(fake)
        self.assertEqual(len(t), due)
        busiest = busiest_1s(t)
        self.assertLessEqual(busiest, rate + burst, "busiest 1 s at the provider: %d" % busiest)
        # The average over the drain: the limit, not twice it (each node
        # alone would take all of it), nor much less.
        avg = (len(t) - 1) * 1000.0 / (t[-1] - t[0])
        self.assertLessEqual(avg, rate * 1.05, avg)
        self.assertGreaterEqual(avg, rate * 0.8, avg)
        for p in (a, b):
            prov = self.stats_of(p)["providers"][0]
            self.assertGreater(prov["shared"]["round_trips"], 0, prov)
            self.assertEqual(prov["shared"]["fallback_processes"], 0, prov)
            # One round trip per request (of ~3 messages at this rate), not
            # one per message.
            self.assertLess(prov["shared"]["round_trips"] * 2, prov["shared"]["units"], prov)

    def test_fallback_to_the_share_and_back(self):
        fake = harness.Fake(self.tmp, args=["--api", "infobip"], record=True).start()
        self.addCleanup(fake.stop)
        rate, burst = 200, 10
        p = self.node("c", fake, rate, burst, {"pace.shared_fallback_percent": 50})
        due = self.events(p, 2000, 3)
        wait_for(lambda: fake.stats()["accepted"] >= 200, 60, "the drain under way")
        self.redis.stop()
        down_at = time.time() * 1000
        wait_for(lambda: "pace.shared: %s: no answer" % self.redis.addr in p.log_text(), 30,
                 "the fallback logged")
        wait_for(lambda: self.stats_of(p)["providers"][0]["shared"]["fallback_processes"] > 0,
                 30, "the fallback in stats")
        wait_for(lambda: re.search(r'smsq_pace_shared_fallback\{provider="acct"\} [12]\n',
                                   self.metrics(p)), 30, "the fallback in the metrics")
        time.sleep(4)
        up_at = time.time() * 1000
        self.redis.start()
        wait_for(lambda: "answers again" in p.log_text(), 30, "back to the shared pace")
        wait_for(lambda: fake.stats()["accepted"] >= due, 120, "the backlog sent")
        fake.stop()
        t = accepted_times(fake)
        # While the server was down: paced at half the limit (the burst's
        # half on top), so the busiest second of that time stays within it.
        down = [x for x in t if down_at + 1500 <= x <= up_at]
        self.assertGreater(len(down), 0)
        self.assertLessEqual(busiest_1s(down), rate // 2 + burst // 2 + 1, busiest_1s(down))
        self.assertLessEqual(busiest_1s(t), rate + burst)
        self.assertEqual(len(t), due)
        self.assertIsNone(re.search(r"unix:|password", p.log_text()))


if __name__ == "__main__":
    itlib.main()
