#!/usr/bin/python3
"""it_reload: SIGHUP reloads the configuration of a running pool, mid-drain.

The master reads the same file with the same flags again, checks it as a
start would (templates and providers included) and only then replaces its
workers one at a time, each stopped gracefully.  What the fake provider
receives says whether it worked: requests after the reload carry the new
credential (the fake takes the old and the new token and counts the requests
of each) at the new rate, messages taken after it have the new template's
text, and every message is accepted exactly once.  A configuration that does
not pass is refused, logged, and the pool goes on sending with the one in
force; an option only a start applies is reported and kept.  Each test ends
with the pool stopped cleanly and `smsqctl check` clean.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import time

import itlib
from it_dispatch import DispatchBase, accepted, busiest_1s
from itlib import wait_for

TEMPLATES = os.path.join(itlib.ROOT, "etc", "templates")
MARK = "v2: "  # what the edited French template puts before its text


class ReloadTest(DispatchBase):

    def setUp(self):
        super().setUp()
        self.templates = os.path.join(self.tmp, "templates")
        shutil.copytree(TEMPLATES, self.templates)
        self.conf = os.path.join(self.tmp, "smsq.conf")

    def write(self, provider, extra=""):
        """The configuration file: our templates, provider "p" with options
        provider (in this order), then extra lines as they are."""
        lines = ["[ingest]", "templates_dir = " + self.templates,
                 "[retry]", "base_ms = 200", "cap_ms = 2000",
                 "[dispatch]", "lease_ms = 5000",
                 "[provider.p]"] + ["%s = %s" % kv for kv in provider.items()]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n" + extra)

    def edit_template(self, old, new):
        path = os.path.join(self.templates, "fr.tmpl")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        self.assertIn(old, text)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace(old, new))

    def hup(self, pool, expect):
        """SIGHUP to the master; wait for the log line expect (a regex) to
        appear once more than before.  Returns the wall clock (ms) then."""
        before = len(re.findall(expect, pool.log_text()))
        pool.send(signal.SIGHUP)
        wait_for(lambda: len(re.findall(expect, pool.log_text())) > before, 60,
                 "%r in the pool's log" % expect)
        return time.time() * 1000

    def workers(self, pool):
        return {k: v for k, v in pool.roles().items() if k.startswith("worker-")}

    def test_rate_credential_and_template_change_mid_drain(self):
        fake = self.fake(args=["--webhook-token", "old-token", "--webhook-token", "new-token",
                               "--rate-limit", "400", "--burst", "20"])
        prov = self.provider(fake, rate_per_s=100, burst=5, token="old-token")
        self.write(prov)
        pool = self.pool(workers=2, args=["-c", self.conf])
        n1, n2 = 900, 300
        path, _ = self.events("a", n1)
        self.publish_all(pool, path, n1)
        self.wait_sent(pool, 150, 60)
        before = self.workers(pool)

        prov.update(rate_per_s=300, burst=15, token="new-token")
        self.write(prov)
        self.edit_template("confirmed   = ", "confirmed   = " + MARK)
        t_hup = time.time() * 1000
        t_done = self.hup(pool, r"reload: done: every worker runs the new configuration")
        self.assertGreater(self.stats()["waiting"], 0, "the drain was over before the reload")
        after = self.workers(pool)
        self.assertEqual(set(before), set(after))
        self.assertFalse(set(before.values()) & set(after.values()),
                         "every worker was replaced: %s -> %s" % (before, after))
        old_requests = fake.stats()["credentials"]["old-token"]
        self.assertEqual(self.stats()["providers"][0]["limit_per_s"], 300.0)

        path, _ = self.events("b", n2, phone=lambda i: "+33656%06d" % i)
        self.publish_all(pool, path, n2)
        self.wait_sent(pool, n1 + n2, 120)
        wait_for(lambda: len(accepted(fake.records())) >= n1 + n2, 10, "the fake's record")
        fs = fake.stats()
        self.assertEqual(fake.stop(), 0)
        recs = fake.records()

        # Every message once, none lost, none doubled.
        self.assert_each_once(recs, n1 + n2)
        self.assertEqual(fs["duplicates"], 0, fs)
        self.assertEqual(fs["unauthorized"], 0, fs)
        s = self.stats()
        self.assertEqual((s["states"]["sent"], s["waiting"], s["states"]["failed"]),
                         (n1 + n2, 0, 0))
        # The new credential from the end of the reload on, and only it.
        self.assertEqual(fs["credentials"]["old-token"], old_requests, fs)
        self.assertGreater(fs["credentials"]["new-token"], 0, fs)
        # The old rate before, the new one after.
        early = [r for r in accepted(recs) if r.t_ms < t_hup]
        late = [r for r in accepted(recs) if r.t_ms > t_done + 200]
        self.assertLessEqual(busiest_1s(early), 100 + 5)
        self.assertLessEqual(busiest_1s(late), 300 + 15)
        self.assertGreater(busiest_1s(late), 200, "the new rate was not used")
        # Texts are rendered at ingest: the new template for events taken
        # after the reload, the old for those stored before.
        texts = {r.dest: r.text for r in accepted(recs)}
        new = [t for d, t in texts.items() if d.startswith("+33656")]
        old = [t for d, t in texts.items() if d.startswith("+33655")]
        self.assertEqual(len(new), n2)
        self.assertTrue(all(t.startswith(MARK) for t in new), new[:3])
        self.assertFalse(any(t.startswith(MARK) for t in old), old[:3])

        log = pool.log_text()
        self.assertIn("reload: provider.p.rate_per_s: 100 -> 300", log)
        self.assertIn("reload: provider.p.token: changed (not shown)", log)
        self.assertNotIn("new-token", log)
        self.assertNotIn("will restart in", log)  # no worker died
        self.finish(pool, busiest_after=busiest_1s(late))

    def test_a_bad_configuration_is_refused_and_sending_goes_on(self):
        fake = self.fake()
        prov = self.provider(fake, rate_per_s=200, burst=10)
        self.write(prov)
        pool = self.pool(workers=2, args=["-c", self.conf])
        n = 800
        path, _ = self.events("a", n)
        self.publish_all(pool, path, n)
        self.wait_sent(pool, 100, 60)
        before = self.workers(pool)

        # A value that is not one.
        self.write(dict(prov, rate_per_s="fast"))
        self.hup(pool, r"error: reload refused, the configuration in force stays: "
                       r".*smsq\.conf: line \d+: provider\.p\.rate_per_s: 'fast' is not an "
                       r"integer")
        # Good options, but a template that does not parse: checked as a
        # start checks it, refused as well.
        self.write(dict(prov, rate_per_s=1000, burst=50))
        self.edit_template("{practitioner_name} le {date}", "{practitioner} le {date}")
        self.hup(pool, r"error: reload refused, the configuration in force stays: "
                       r"templates: .*fr\.tmpl:\d+: unknown placeholder \{practitioner\}")
        self.assertEqual(self.workers(pool), before, "a worker was restarted")
        self.assertNotIn("reload: stopping", pool.log_text())
        self.assertNotIn("configuration accepted", pool.log_text())

        t_bad = time.time() * 1000
        self.wait_sent(pool, n, 60)
        wait_for(lambda: len(accepted(fake.records())) >= n, 10, "the fake's record")
        self.assertEqual(fake.stop(), 0)
        recs = fake.records()
        self.assert_each_once(recs, n)
        # Still the old limit (200 + 10), not the refused one.
        late = [r for r in accepted(recs) if r.t_ms > t_bad]
        self.assertGreater(len(late), 0, "nothing left to send after the refusals")
        self.assertLessEqual(busiest_1s(late), 210)
        self.assertEqual(self.stats()["providers"][0]["limit_per_s"], 200.0)
        self.finish(pool)

    def test_restart_only_option_is_kept_and_intake_goes_on(self):
        """With a broker (two ingesting workers) and a publisher running
        through the reload: a changed option that needs a restart is named and
        kept, the rest applies, every event is acknowledged and sent once."""
        fake = self.fake()
        prov = self.provider(fake, rate_per_s=300, burst=15)
        self.write(prov)
        pool = self.pool(workers=2, args=["-c", self.conf, "-o", "ingest.workers=2"])
        self.assertIn("through a broker", pool.log_text())
        n = 3000
        path, _ = self.events("a", n)
        # One event at a time: still publishing when the roll is done.
        pub = subprocess.Popen([os.path.join(itlib.BIN, "smsq-publish"), "-e", pool.endpoint,
                                "-w", "1", "--json-summary", path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: self.stats()["total"] >= 300, 60, "300 events stored")
            self.write(dict(prov, rate_per_s=500, burst=25),
                       "[store]\nmap_max_mb = 1024\n[dispatch]\nflush_ms = 20\n")
            # Most of the events are still to come when the roll starts (the
            # publisher, one at a time, may finish before the roll does).
            self.assertLess(self.stats()["total"], n // 2, "intake was over before the roll")
            self.hup(pool, r"reload: done: every worker runs the new configuration")
            out, err = pub.communicate(timeout=300)
        finally:
            if pub.poll() is None:
                pub.kill()
                pub.wait()
        # Every event acknowledged: stored once (a resend of one whose ack
        # was late is answered DUPLICATE).
        self.assertEqual(pub.returncode, 0, err)
        summary = json.loads(out)
        self.assertEqual((summary["accepted"] + summary["duplicate"], summary["unacked"]),
                         (n, 0), summary)
        self.assertEqual(self.stats()["total"], n)
        log = pool.log_text()
        # The broker was paused and resumed, never stopped.
        self.assertNotIn("broker will restart", log)
        self.assertNotIn("broker: poll", log)
        self.assertIn("warn: reload: store.map_max_mb: 65536 -> 1024 needs a restart of the "
                      "pool; 65536 stays in force until then", log)
        self.assertIn("reload: dispatch.flush_ms: 10 -> 20", log)
        self.assertIn("reload: provider.p.rate_per_s: 300 -> 500", log)
        self.assertIn("(the broker holds new requests meanwhile)", log)
        self.assertEqual(self.stats()["store_bytes"]["map_max"], 65536 << 20)
        self.assertEqual(self.stats()["providers"][0]["limit_per_s"], 500.0)

        self.wait_sent(pool, n, 120)
        wait_for(lambda: len(accepted(fake.records())) >= n, 10, "the fake's record")
        self.assertEqual(fake.stop(), 0)
        self.assert_each_once(fake.records(), n)
        self.finish(pool)


if __name__ == "__main__":
    itlib.main()
