"""Fault tests: an operator's worst night, through the real pool.

A full disk, a store at its map ceiling, a worker frozen past its lease, and
links or loose permissions in the data directory.  Each test reproduces the
fault with real processes (the pool, the fake provider, smsq-publish), then
checks what came out at the provider (its own record of every message), in
the acks, the log and `smsqctl stats`, and that `smsqctl check` is clean.

A filesystem of limited size is a tmpfs mounted on the data directory: that
takes root (or CAP_SYS_ADMIN); without it those tests are skipped, saying so.
"""

import os
import re
import signal
import subprocess
import time
import unittest

import itlib
from itlib import Dealer, event, pb2, wait_for
from it_dispatch import DispatchBase, accepted, worker_pids


class FaultTest(DispatchBase):

    # ---- helpers ---------------------------------------------------------

    def tmpfs(self, path, size_mb):
        """Mount a tmpfs of size_mb on path (mode 0700), unmounted at the end;
        skip the test where this process may not mount."""
        os.makedirs(path, exist_ok=True)
        out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0700" % size_mb,
                              "tmpfs", path], capture_output=True, text=True)
        if out.returncode != 0:
            raise unittest.SkipTest("cannot mount a tmpfs for a small filesystem (needs root): "
                                    + out.stderr.strip())
        self.addCleanup(subprocess.run, ["umount", "-l", path], capture_output=True)

    def fill(self, pool, name, n):
        """Publish n events (smsq-publish, short ack timeout) until the store
        refuses them; returns how many were accepted."""
        path, _ = self.events(name, n)
        rc, summary = self.publish(pool, path, "-t", "1500")
        self.assertNotEqual(rc, 0, "the store never filled up: %s" % summary)
        self.assertEqual(summary["rejected"], {}, summary)
        self.assertGreater(summary["accepted"], 0, summary)
        return summary["accepted"]

    def refused_ack(self, pool, key):
        """The first ack that is not ACCEPTED, publishing events with long
        texts one at a time (a small one may still fit where a batch did not)."""
        d = Dealer(pool.endpoint)
        try:
            for i in range(500):
                ack = d.call(event("%s-%d" % (key, i), text="t" * 1000), req_id=b"f%d" % i)
                if ack.status != pb2().ACK_ACCEPTED:
                    return ack, i
            raise AssertionError("500 more events accepted by a full store")
        finally:
            d.close()

    def drain_and_check(self, pool, fake, n):
        """Wait until the n accepted messages are sent, each once; the pool
        never died meanwhile."""
        self.wait_sent(pool, n, 180, extra=lambda s: s["waiting"] == 0)
        fs = fake.stats()
        self.assertEqual(fs["unique_accepted"], n, fs)
        self.assertEqual(fs["duplicates"], 0, fs)
        log = pool.log_text()
        self.assertNotIn("killed by signal", log)
        self.assertNotIn("exited with status", log)

    # ---- a full disk -------------------------------------------------------

    def test_full_disk_answers_store_full_and_a_restart_sends_what_it_holds(self):
        self.tmpfs(self.data_dir, 8)
        pool = self.pool(workers=2)
        n = self.fill(pool, "disk", 30000)
        ack, more = self.refused_ack(pool, "disk-late")
        n += more
        m = pb2()
        self.assertEqual(ack.status, m.ACK_RETRY_LATER, ack)
        self.assertEqual(ack.reason, m.REASON_STORE_FULL, ack)
        self.assertIn("disk full", ack.detail)
        self.assertGreater(ack.retry_after_ms, 0)
        self.assertIn("disk full", pool.log_text())
        s = self.stats()
        self.assertEqual(s["full"], "disk", s)
        self.assertTrue(s["disk"]["full"], s)
        self.assertEqual(s["total"], n)
        self.assertEqual(pool.stop(), 0)

        # Restarted on the full disk with a provider: it must neither die
        # (a mapped file without its blocks is a SIGBUS) nor stop sending.
        fake = self.fake()
        cfg = self.config([("primary", self.provider(fake, type="infobip", rate_per_s=5000,
                                                     burst=250))])
        pool2 = self.pool(workers=2, args=["-c", cfg])
        self.drain_and_check(pool2, fake, n)
        self.finish(pool2, accepted=n)

    # ---- a store at its map ceiling ------------------------------------------

    def test_store_at_its_map_ceiling_keeps_sending_and_takes_events_again(self):
        ceiling = ["-o", "store.map_size_mb=8", "-o", "store.map_max_mb=8"]
        pool = self.pool(workers=2, args=ceiling)
        n = self.fill(pool, "map", 30000)
        ack, more = self.refused_ack(pool, "map-late")
        n += more
        m = pb2()
        self.assertEqual((ack.status, ack.reason), (m.ACK_RETRY_LATER, m.REASON_STORE_FULL), ack)
        self.assertIn("store is full", ack.detail)
        s = self.stats()
        self.assertEqual(s["full"], "map", s)
        self.assertEqual(s["store_bytes"]["map_max"], 8 << 20, s)
        self.assertEqual(pool.stop(), 0)

        fake = self.fake()
        cfg = self.config([("primary", self.provider(fake, type="infobip", rate_per_s=5000,
                                                     burst=250))])
        pool2 = self.pool(workers=2, args=["-c", cfg] + ceiling)
        self.drain_and_check(pool2, fake, n)
        # What was sent left the ready index: ingest has room again.
        path, _ = self.events("map-after", 200)
        rc, summary = self.publish(pool2, path, "-t", "1500")
        self.assertGreater(summary["accepted"], 0, summary)
        self.assertIsNone(self.stats()["full"])
        self.finish(pool2, accepted=n, accepted_after=summary["accepted"])

    # ---- a worker paused past its lease ---------------------------------------

    def freeze(self, pid, seconds):
        """Freeze process pid for seconds at the worst moment for leases: just
        after it handed a request to libcurl, before libcurl wrote it (gdb
        stops it on returning from curl_multi_add_handle).  Returns the wall
        time (ms) it stopped at."""
        out = subprocess.run(
            ["gdb", "-p", str(pid), "-batch", "-nx",
             "-ex", "break curl_multi_add_handle", "-ex", "continue", "-ex", "finish",
             "-ex", "shell date +stopped_ms=%s%3N", "-ex", "shell sleep %d" % seconds,
             "-ex", "detach"],
            capture_output=True, text=True, timeout=120)
        m = re.search(r"stopped_ms=(\d+)", out.stdout)
        self.assertTrue(m and "in http_start" in out.stdout,
                        "gdb did not stop the worker:\n%s%s" % (out.stdout[-2000:], out.stderr[-2000:]))
        return int(m.group(1))

    def test_worker_paused_past_its_lease_sends_nothing_it_no_longer_holds(self):
        """Freeze one of two workers for twice the lease right after it started
        a request (not yet written), while it holds a full queue and 64
        requests of 100 at a provider that answers in 1 s: the other worker
        takes over its messages once their leases run out, and the resumed
        worker must not send them again.  The one window: requests that had
        left before the freeze, whose first copy reached the provider then."""
        n = 40000
        path, _ = self.events("pause", n)
        pool = self.pool(workers=2)
        self.publish_all(pool, path, n)
        self.assertEqual(pool.stop(), 0)

        fake = self.fake(args=["--latency-ms", "1000"])
        lease_ms = 3000
        # The requests outlast the pause (timeout_ms): they are answered, not
        # timed out, so the resumed worker carries on sending at once.
        cfg = self.config([("primary", self.provider(fake, type="infobip", rate_per_s=100000,
                                                     burst=5000, concurrency=64,
                                                     timeout_ms=15000))],
                          dispatch={"lease_ms": lease_ms})
        pool = self.pool(workers=2, args=["-c", cfg])
        wait_for(lambda: fake.stats()["unique_accepted"] >= 2000, what="sending under way")
        stop_ms = self.freeze(worker_pids(pool)["worker-2"], 2 * lease_ms / 1000)
        self.wait_sent(pool, n, 240, extra=lambda s: s["waiting"] == 0)
        time.sleep(1)
        self.assertEqual(fake.stop(), 0)
        arrivals = {}
        for r in accepted(fake.records()):
            arrivals.setdefault(r.key, []).append(r.t_ms)
        self.assertEqual(len(arrivals), n)
        dups = {k: sorted(t) for k, t in arrivals.items() if len(t) > 1}
        # The allowed duplicates' first copy left before the freeze (and
        # reached the provider about then: its arrival is stamped once the
        # fake gets to it, up to ~100 ms later on a busy machine); a message
        # sent twice after the freeze was first sent by the other worker once
        # the leases ran out, a lease after the freeze at the earliest.
        late = {k: t for k, t in dups.items() if t[0] > stop_ms + lease_ms / 2}
        self.assertEqual(len(late), 0, "sent twice after the freeze: %d of %d duplicates, e.g. %s"
                         % (len(late), len(dups), sorted(late.items())[:3]))
        log = pool.log_text()
        self.assertTrue("did not run for" in log, "the pause went unsaid")
        self.assertTrue("held back before it left" in log, "no request held back")
        self.finish(pool, duplicates=len(dups))

    # ---- providers that behave as real ones do ------------------------------

    def rate_in(self, recs, start_ms, end_ms):
        """Messages accepted per second in [start_ms, end_ms) (provider's clock)."""
        n = sum(1 for r in accepted(recs) if start_ms <= r.t_ms < end_ms)
        return n * 1000.0 / (end_ms - start_ms)

    def test_a_provider_allowing_less_than_configured_is_used_at_90_percent(self):
        """The provider enforces 20 messages/s with a bucket of 5, smsq is
        configured for 100/s: within 30 s the pool settles at 90 % of what
        the provider allows or more, with at most a few 429s a minute."""
        fake = self.fake(args=["--api", "infobip", "--rate-limit", "20", "--burst", "5",
                               "--limit-kind", "bucket"])
        cfg = self.config([("primary", self.provider(fake, type="infobip", rate_per_s=100,
                                                     burst=5, concurrency=8))])
        pool = self.pool(workers=2, args=["-c", cfg])
        n = 1500
        path, _ = self.events("lower", n)
        self.publish_all(pool, path, n)
        t0 = time.time() * 1000
        wait_for(lambda: time.time() * 1000 > t0 + 62000, timeout_s=90, what="a minute")
        s = self.stats()
        self.assertEqual(fake.stop(), 0)
        recs = fake.records()
        rate = self.rate_in(recs, t0 + 30000, t0 + 60000)
        throttled = [r for r in recs if r.status == 429 and t0 + 30000 <= r.t_ms < t0 + 60000]
        self.assertGreaterEqual(rate, 0.9 * 20, "%.1f messages/s in the second half minute" % rate)
        self.assertLessEqual(len(throttled), 3, "429s in the second half minute")
        p = [x for x in s["providers"] if x["name"] == "primary"][0]
        self.assertLess(p["allowed_per_s"], 30, p)
        self.assertGreater(p["throttles"], 0, p)
        self.assertIn("provider allows ~", subprocess.run(
            [os.path.join(itlib.BIN, "smsqctl"), "-d", self.data_dir, "top", "--plain",
             "--max-seconds", "1", "--interval-ms", "500"], capture_output=True,
            text=True, timeout=60).stdout)
        self.assert_each_once(recs, len({r.key for r in accepted(recs)}))
        self.finish(pool, rate="%.1f/s" % rate, throttled=len(throttled))

    def drain_through(self, name, n, fake_args):
        """n messages through a fake provider (Infobip API, fake_args) at
        1,000/s (burst 50) on both sides, until all are sent; the pool and
        the fake's record."""
        fake = self.fake(args=["--api", "infobip"] + fake_args)
        cfg = self.config([("primary", self.provider(fake, type="infobip", rate_per_s=1000,
                                                     burst=50))])
        pool = self.pool(workers=2, args=["-c", cfg])
        path, _ = self.events(name, n)
        self.publish_all(pool, path, n)
        self.wait_sent(pool, n, 180, extra=lambda s: s["waiting"] == 0)
        self.assertEqual(fake.stop(), 0)
        self.fake_clock = (fake.spawned_ms, fake.listening_ms)
        return pool, fake.records()

    def test_random_5xx_keep_most_of_the_rate(self):
        """One request in five answered 500 or 503 (without Retry-After),
        20 ms latency: the goodput stays at 70 % of the limit or more, and
        the circuit never opens."""
        n = 10000
        pool, recs = self.drain_through("random5xx", n, [
            "--rate-limit", "1000", "--burst", "50", "--error-rate", "0.2",
            "--error-status", "500,503", "--latency-ms", "20"])
        first = min(r.t_ms for r in accepted(recs))
        rate = self.rate_in(recs, first + 1000, first + 6000)
        self.assertGreaterEqual(rate, 700, "goodput %.0f/s of a limit of 1000/s" % rate)
        self.assertTrue("circuit open" not in pool.log_text(), "random errors opened the circuit")
        self.assert_each_once(recs, n)
        self.finish(pool, goodput="%.0f/s" % rate)

    def test_sending_resumes_within_2_s_of_an_outage_end(self):
        n = 12000
        pool, recs = self.drain_through("outage", n, ["--outage", "5:5", "--latency-ms", "20"])
        # The outage is [origin + 5 s, origin + 10 s) of the fake's clock,
        # whose origin lies between these two: judge it by the surest bounds.
        earliest, latest = self.fake_clock
        end = earliest + 10000
        during = [r for r in accepted(recs) if latest + 5100 <= r.t_ms < end - 100]
        self.assertEqual(during, [], "accepted during the outage")
        before = [r for r in accepted(recs) if r.t_ms < earliest + 5000]
        self.assertTrue(before, "nothing sent before the outage: the test is too slow")
        after = min(r.t_ms for r in accepted(recs) if r.t_ms >= latest + 10000 - 100)
        self.assertLessEqual(after - end, 2000, "sending resumed %.0f ms after the outage"
                             % (after - end))
        self.assert_each_once(recs, n)
        self.finish(pool, resumed_ms=round(after - end))

    def test_bad_credentials_park_the_provider_not_the_messages(self):
        """Infobip answers 401 for its first 8 s (a rotated key): see
        check_bad_credentials_park()."""
        p, log = self.check_bad_credentials_park("infobip", 401)
        self.assertIn("401", p["misconfigured"])
        self.assertTrue("provider primary: misconfigured (http 401" in log, "not said")

    # ---- the data directory ---------------------------------------------------

    def start_refused(self, *extra):
        out = subprocess.run([os.path.join(itlib.BIN, "smsq-worker"), "-d", self.data_dir,
                              "-e", "tcp://127.0.0.1:%d" % itlib.free_port(), "-w", "1"]
                             + itlib.RUN_AS + list(extra), capture_output=True, text=True, timeout=60)
        self.assertNotEqual(out.returncode, 0, out.stderr)
        return out.stderr

    def test_links_in_the_data_directory_are_never_followed(self):
        fake = self.fake()
        cfg = self.config([("primary", self.provider(fake))])  # so that pacing is used
        pool = self.pool(workers=1, args=["-c", cfg])
        self.assertEqual(pool.stop(), 0)
        victim = os.path.join(self.tmp, "victim")
        for name in ("pacing", "lock.mdb", "pool.lock", "data.mdb"):
            with open(victim, "w") as f:
                f.write("precious\n")
            path = os.path.join(self.data_dir, name)
            os.rename(path, path + ".real")
            os.symlink(victim, path)
            err = self.start_refused("-c", cfg)
            self.assertIn("symbolic link", err, name)
            self.assertIn(name, err)
            with open(victim) as f:
                self.assertEqual(f.read(), "precious\n", name)
            os.unlink(path)
            os.rename(path + ".real", path)
        # Put back as they were, the pool starts again.
        pool2 = self.pool(workers=1, args=["-c", cfg])
        self.finish(pool2)

    def test_data_directory_private_whatever_the_umask(self):
        d = os.path.join(self.tmp, "deep", "var")
        proc = subprocess.Popen([os.path.join(itlib.BIN, "smsq-worker"), "-d", d, "-e",
                                 "tcp://127.0.0.1:%d" % itlib.free_port(), "-w", "1"]
                                + itlib.RUN_AS,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                preexec_fn=lambda: os.umask(0), start_new_session=True)
        try:
            wait_for(lambda: os.path.exists(os.path.join(d, "pacing")) or proc.poll() is not None,
                     what="the data directory")
        finally:
            proc.send_signal(signal.SIGTERM)
            err = proc.communicate(timeout=60)[1]
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(os.stat(d).st_mode & 0o777, 0o700)
        for name in os.listdir(d):
            st = os.lstat(os.path.join(d, name))
            self.assertEqual(st.st_mode & 0o022, 0, "%s is writable by others" % name)

    def test_data_directory_writable_by_others_refused(self):
        os.makedirs(self.data_dir)
        for mode in (0o777, 0o770):
            os.chmod(self.data_dir, mode)
            err = self.start_refused()
            self.assertIn("writable by", err)
            self.assertIn("chmod go-w", err)
        os.chmod(self.data_dir, 0o700)
        self.assertEqual(self.pool(workers=1).stop(), 0)


if __name__ == "__main__":
    itlib.main()
