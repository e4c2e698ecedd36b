#!/usr/bin/python3
"""it_retention: a store that stays bounded, against a running pool.

With a retention of a second, rounds of messages flow through the pool to a
fake provider: after the first rounds the store's pages in use and its file
stop growing (what is purged is reused); the purged messages are counted in
stats and metrics, a purged message is not found, its key is still a
duplicate within store.keys_s and is taken anew after; `smsqctl check` is
clean after each round.
"""

import json
import os
import subprocess
import time

import itlib
from it_dispatch import DispatchBase
from it_monitor import get, parse, total
from it_operate import ctl
from itlib import wait_for


class RetentionTest(DispatchBase):

    def round(self, pool, name, n):
        path, _ = self.events(name, n)
        self.publish_all(pool, path, n)

    def purged_down_to(self, kept, timeout_s=30):
        """Wait until the store holds at most kept final messages."""
        def done():
            s = self.stats()
            final = sum(s["states"][k] for k in ("sent", "delivered", "failed", "expired",
                                                 "superseded", "cancelled"))
            return s["waiting"] == 0 and final <= kept and s["total"] == s["purged_total"] + \
                final and s
        return wait_for(done, timeout_s, "the store purged down to %d" % kept)

    def test_the_store_stays_flat_while_messages_flow(self):
        fake = self.fake()
        cfg = self.config([("primary", self.provider(fake, rate_per_s=20000, burst=1000))])
        pool = self.pool(workers=2, args=["-c", cfg, "-o", "store.retention_s=1",
                                          "-o", "store.keys_s=4"])
        n, rounds = 4000, 6
        used, files = [], []
        for r in range(rounds):
            self.round(pool, "r%d" % r, n)
            s = self.purged_down_to(0, 60)
            self.assertEqual(s["total"], n * (r + 1))
            used.append(s["store_bytes"]["used"])
            files.append(os.path.getsize(os.path.join(self.data_dir, "data.mdb")))
            out = ctl(self.data_dir, "check")
            self.assertEqual(out.returncode, 0, out.stderr)
        s = self.stats()
        self.assertEqual(s["total"], n * rounds)
        self.assertEqual(s["purged_total"], n * rounds)
        # Flat after the first three rounds (the retention's and the keys'
        # worth is in): what a round adds, a purge frees.  Without purging
        # each round adds as much as the first.
        self.assertLessEqual(max(used[3:]), used[2] * 1.15, "pages in use: %s" % used)
        self.assertLessEqual(max(files[3:]), files[2] * 1.15, "file: %s" % files)
        print("\n  used=%s file=%s" % (used, files), end="", flush=True)
        # A purged message is not found; its key is still a duplicate...
        out = ctl(self.data_dir, "inspect", "--key", "r%d-0" % (rounds - 1))
        self.assertEqual(out.returncode, 3, out.stdout)
        path, _ = self.events("r%d" % (rounds - 1), 1)
        rc, summary = self.publish(pool, path)
        self.assertEqual((rc, summary["duplicate"]), (0, 1), summary)
        # ... until store.keys_s has passed; then it is a new message.
        wait_for(lambda: self.stats()["keys_kept"] == 0, 30, "the keys forgotten")
        rc, summary = self.publish(pool, path)
        self.assertEqual((rc, summary["accepted"]), (0, 1), summary)
        wait_for(lambda: total(parse(get(pool.monitor_url() + "metrics")[2]),
                               "smsq_purged_total") >= n * rounds, 10, "the metric")
        text = ctl(self.data_dir, "stats").stdout
        self.assertIn("purged since", text)
        self.finish(pool)


if __name__ == "__main__":
    itlib.main()
