#!/usr/bin/python3
"""Integration tests of authenticated producers (CURVE): smsqctl keygen's
key files, a pool with ingest.curve_secret_file and an allow-list directory,
producers with and without a known key (the Python publisher of
PROTOCOL.md, smsq-publish, smsq-bench-publish), both ways producers reach a
pool (the only ingesting worker's socket, the broker's), the allow-list read
again on SIGHUP, and the start-up refusals: an endpoint beyond loopback
without CURVE, a secret file others may read.

Run: cd /work/main && /usr/bin/python3 tests/it_curve.py
"""

import os
import re
import signal
import stat
import subprocess
import time
import urllib.request

import itlib
import py_publisher

PB = itlib.pb2()
BIN = itlib.BIN


def keygen(name, out_dir):
    r = subprocess.run([os.path.join(BIN, "smsqctl"), "keygen", name, out_dir],
                       capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError("keygen %s: %s" % (name, r.stderr))
    return r


def events(n, tag):
    return [itlib.event("%s-%d" % (tag, i), phone="+3361234%04d" % i) for i in range(n)]


def metric(url, name):
    text = urllib.request.urlopen(url + "metrics", timeout=10).read().decode()
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else None


class T(itlib.PoolTest):

    def setUp(self):
        super().setUp()
        self.keys = os.path.join(self.tmp, "keys")
        self.allowed = os.path.join(self.tmp, "allowed")
        os.makedirs(self.keys)
        os.makedirs(self.allowed)
        for name in ("pool", "backend", "intruder"):
            keygen(name, self.keys)
        os.link(os.path.join(self.keys, "backend.key"), os.path.join(self.allowed, "backend.key"))

    def k(self, name):
        return os.path.join(self.keys, name)

    def curve(self, who):
        return py_publisher.Curve.load(self.k("pool.key"), self.k(who + ".secret"))

    def curve_pool(self, workers=1, ingest_workers=1, extra=()):
        return self.pool(workers=workers, args=[
            "-o", "ingest.curve_secret_file=" + self.k("pool.secret"),
            "-o", "ingest.curve_producers=" + self.allowed,
            "-o", "ingest.workers=%d" % ingest_workers] + list(extra))

    def check_known_and_unknown(self, pool):
        # A known key publishes.
        with py_publisher.Publisher(pool.endpoint, window=16, pb=PB,
                                    curve=self.curve("backend")) as pub:
            res = pub.publish(events(20, "known"), deadline_s=20)
        self.assertEqual([r.status for r in res], ["ACK_ACCEPTED"] * 20, res[:3])
        # An unknown key: its connection is closed after the handshake, no
        # frame of it is read, nothing stored.
        with py_publisher.Publisher(pool.endpoint, window=16, pb=PB, timeout_s=1,
                                    curve=self.curve("intruder")) as pub:
            res = pub.publish(events(5, "intruder"), deadline_s=3)
        self.assertEqual({r.status for r in res}, {"TIMEOUT"}, res[:3])
        # No CURVE at all: the handshake fails, nothing stored.
        with py_publisher.Publisher(pool.endpoint, window=16, pb=PB, timeout_s=1) as pub:
            res = pub.publish(events(5, "plain"), deadline_s=3)
        self.assertEqual({r.status for r in res}, {"TIMEOUT"}, res[:3])
        self.assertEqual(self.stats()["total"], 20)
        # Counted, and logged with the key, never with what it sent.
        intruder = py_publisher.Curve.read_keys(self.k("intruder.key"))["public-key"].decode()
        itlib.wait_for(lambda: intruder in pool.log_text(), 10, "the refusal logged")
        line = [l for l in pool.log_text().splitlines() if intruder in l][0]
        self.assertIn("producer refused (key not in the allow-list)", line)
        self.assertIn("from 127.0.0.1", line)
        self.assertNotIn("intruder-", pool.log_text())
        self.assertNotIn("+3361234", pool.log_text())
        self.assertGreaterEqual(self.stats()["producers_refused"], 1)
        self.assertGreaterEqual(metric(pool.monitor_url(), "smsq_producers_refused_total"), 1)
        text = subprocess.run([os.path.join(BIN, "smsqctl"), "-d", self.data_dir, "stats"],
                              capture_output=True, text=True, timeout=30).stdout
        self.assertIn("REFUSED", text)

    def test_a_known_key_publishes_unknown_refused_bound_worker(self):
        pool = self.curve_pool(workers=1)
        self.assertIn("CURVE, producers by their keys", pool.log_text())
        self.check_known_and_unknown(pool)

    def test_b_known_key_publishes_unknown_refused_behind_broker(self):
        pool = self.curve_pool(workers=2, ingest_workers=2)
        self.assertIn("broker: ingest endpoint", pool.log_text())
        self.check_known_and_unknown(pool)

    def test_c_smsq_publish_and_bench_publisher_with_keys(self):
        pool = self.curve_pool(workers=2, ingest_workers=2)
        path = self.gen(50, seed=7)
        rc, summary = self.publish(pool, path, "--server-key", self.k("pool.key"),
                                   "--key", self.k("backend.secret"))
        self.assertEqual((rc, summary["accepted"]), (0, 50), summary)
        rc, summary = self.publish(pool, path, "-t", "2000", "--server-key", self.k("pool.key"),
                                   "--key", self.k("intruder.secret"))
        self.assertEqual((rc, summary["accepted"], summary["duplicate"]), (1, 0, 0), summary)
        # A secret file others may read is refused, as ssh refuses a key.
        os.chmod(self.k("backend.secret"), 0o644)
        r = subprocess.run([os.path.join(BIN, "smsq-publish"), "-e", pool.endpoint,
                            "--server-key", self.k("pool.key"), "--key", self.k("backend.secret"),
                            path], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("chmod 600", r.stderr)
        os.chmod(self.k("backend.secret"), 0o600)
        # Only one of the two files: refused.
        r = subprocess.run([os.path.join(BIN, "smsq-publish"), "-e", pool.endpoint,
                            "--key", self.k("backend.secret"), path],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("needs both", r.stderr)
        r = subprocess.run([os.path.join(BIN, "smsq-bench-publish"), "-e", pool.endpoint,
                            "-n", "300", "-P", "2", "--server-key", self.k("pool.key"),
                            "--key", self.k("backend.secret")],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.stats()["total"], 350)

    def test_d_allow_list_read_again_on_sighup(self):
        for workers, ingest_workers in ((1, 1), (2, 2)):
            with self.subTest(workers=workers):
                pool = self.curve_pool(workers=workers, ingest_workers=ingest_workers)
                tag = "w%d" % workers
                with py_publisher.Publisher(pool.endpoint, pb=PB, timeout_s=1,
                                            curve=self.curve("intruder")) as pub:
                    res = pub.publish(events(3, tag + "-before"), deadline_s=3)
                self.assertEqual({r.status for r in res}, {"TIMEOUT"})
                os.link(self.k("intruder.key"), os.path.join(self.allowed, "intruder.key"))
                os.kill(pool.proc.pid, signal.SIGHUP)
                itlib.wait_for(lambda: "configuration accepted" in pool.log_text(), 20,
                               "the reload")

                def published():
                    with py_publisher.Publisher(pool.endpoint, pb=PB, timeout_s=1,
                                                curve=self.curve("intruder")) as pub:
                        res = pub.publish(events(3, tag + "-after"), deadline_s=3)
                    return all(r.status in ("ACK_ACCEPTED", "ACK_DUPLICATE") for r in res)
                itlib.wait_for(published, 30, "the new key to publish after the reload")
                # A key file that is not a key: the reload is refused, the
                # list in force stays.
                with open(os.path.join(self.allowed, "broken.key"), "w") as f:
                    f.write("public-key = \"not a key\"\n")
                os.kill(pool.proc.pid, signal.SIGHUP)
                itlib.wait_for(lambda: "reload refused" in pool.log_text(), 20, "the refusal")
                self.assertIn("broken.key", pool.log_text())
                with py_publisher.Publisher(pool.endpoint, pb=PB, curve=self.curve("backend")) as pub:
                    res = pub.publish(events(2, tag + "-still"), deadline_s=10)
                self.assertEqual({r.status for r in res}, {"ACK_ACCEPTED"})
                pool.stop()
                os.unlink(os.path.join(self.allowed, "intruder.key"))
                os.unlink(os.path.join(self.allowed, "broken.key"))

    def test_e_start_refused_beyond_loopback_without_curve(self):
        port = itlib.free_port()
        base = [os.path.join(BIN, "smsq-worker"), "-d", self.data_dir, "-w", "1",
                "-o", "metrics.listen=", "-e", "tcp://0.0.0.0:%d" % port]
        r = subprocess.run(base, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("reachable from other machines", r.stderr)
        self.assertIn("ingest.allow_anyone", r.stderr)
        # Said explicitly: it starts (and says it is open).
        pool = itlib.Pool(self.data_dir, 1, ["-o", "ingest.allow_anyone=1"])
        pool.endpoint = "tcp://0.0.0.0:%d" % port
        self.pools.append(pool)
        pool.start()
        self.assertIn("no CURVE: anyone who reaches it publishes", pool.log_text())
        pool.stop()
        # A secret file others may read stops the start.
        os.chmod(self.k("pool.secret"), 0o640)
        r = subprocess.run(base + ["-o", "ingest.curve_secret_file=" + self.k("pool.secret"),
                                   "-o", "ingest.curve_producers=" + self.allowed],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("chmod 600", r.stderr)
        os.chmod(self.k("pool.secret"), 0o600)
        # A secret key in the allow-list: refused (a secret is never shared).
        os.link(self.k("intruder.secret"), os.path.join(self.allowed, "intruder.secret"))
        r = subprocess.run(base + ["-o", "ingest.curve_secret_file=" + self.k("pool.secret"),
                                   "-o", "ingest.curve_producers=" + self.allowed],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("holds a secret key", r.stderr)
        # Only one of the two options.
        r = subprocess.run(base + ["-o", "ingest.curve_secret_file=" + self.k("pool.secret")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("go together", r.stderr)

    def test_f_keygen_files(self):
        for name, mode in (("pool.secret", 0o600), ("pool.key", 0o644)):
            self.assertEqual(stat.S_IMODE(os.stat(self.k(name)).st_mode), mode, name)
        secret = py_publisher.Curve.read_keys(self.k("pool.secret"))
        public = py_publisher.Curve.read_keys(self.k("pool.key"))
        self.assertEqual(secret["public-key"], public["public-key"])
        self.assertNotIn("secret-key", public)
        import zmq
        self.assertEqual(zmq.curve_public(secret["secret-key"]), public["public-key"])
        r = subprocess.run([os.path.join(BIN, "smsqctl"), "keygen", "pool", self.keys],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("exists already", r.stderr)
        self.assertEqual(py_publisher.Curve.read_keys(self.k("pool.secret")), secret)


if __name__ == "__main__":
    itlib.main()
