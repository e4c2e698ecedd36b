#!/usr/bin/python3
"""Integration tests of least privilege: a pool started as root refuses to
run without pool.user, becomes pool.user (every process, every file of its
data directory), sends and reloads as that user; a data directory of
another user is refused; a provider's token read from a file (and from
systemd's $CREDENTIALS_DIRECTORY), one that others may read refused; an
http:// provider URL and tls_verify = 0 logged as warnings at every start
and reload.

The tests that change users need root (CI runs as root); as another user
they check what a non-root pool does with pool.user.  The pool runs from a
copy of its binary and templates in a directory the unprivileged user can
reach, whatever the checkout's permissions.

Run: cd /work/main && /usr/bin/python3 tests/it_privilege.py
"""

import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import unittest

import itlib
from it_dispatch import DispatchBase

ROOT = os.geteuid() == 0
USER = "nobody"


def proc_ids(pid):
    """(real uid, effective uid, real gid, effective gid) of pid."""
    with open("/proc/%d/status" % pid) as f:
        text = f.read()
    uid = [int(x) for x in re.search(r"^Uid:\s+(.*)$", text, re.M).group(1).split()]
    gid = [int(x) for x in re.search(r"^Gid:\s+(.*)$", text, re.M).group(1).split()]
    return uid[0], uid[1], gid[0], gid[1]


class Pool(itlib.Pool):
    """A pool run from a copy of smsq-worker (bin), without the harness's
    pool.user = root: each test says who it runs as."""

    def __init__(self, data_dir, workers, args, bin_path):
        super().__init__(data_dir, workers, args)
        self.bin_path = bin_path

    def command(self):
        cmd = [self.bin_path, "-d", self.data_dir, "-e", self.endpoint,
               "-o", "metrics.listen=127.0.0.1:0", "-w", str(self.workers)]
        return cmd + self.args


class T(DispatchBase):

    def setUp(self):
        super().setUp()
        os.chmod(self.tmp, 0o755)   # the pool's user reaches its files
        self.bin = os.path.join(self.tmp, "bin")
        os.makedirs(self.bin)
        shutil.copy2(os.path.join(itlib.BIN, "smsq-worker"), self.bin)
        self.templates = os.path.join(self.tmp, "templates")
        shutil.copytree(os.path.join(itlib.ROOT, "etc", "templates"), self.templates)
        self.pw = pwd.getpwnam(USER)

    def start(self, args, workers=2, wait=True):
        pool = Pool(self.data_dir, workers,
                    ["-o", "ingest.templates_dir=" + self.templates] + list(args),
                    os.path.join(self.bin, "smsq-worker"))
        self.pools.append(pool)
        return pool.start(wait=wait) if wait else pool

    def refused(self, args, code=2):
        r = subprocess.run([os.path.join(self.bin, "smsq-worker"), "-d", self.data_dir, "-w", "1",
                            "-e", "tcp://127.0.0.1:%d" % itlib.free_port(), "-o", "metrics.listen=",
                            "-o", "ingest.templates_dir=" + self.templates] + list(args),
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, code, r.stderr)
        return r.stderr

    def secret_file(self, name, text, mode=0o600, owner=None):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text + "\n")
        os.chmod(path, mode)
        if owner is not None:
            os.chown(path, owner.pw_uid, owner.pw_gid)
        return path

    @unittest.skipUnless(ROOT, "needs root")
    def test_a_root_without_pool_user_refused(self):
        err = self.refused([])
        self.assertIn("started as root without pool.user", err)
        self.assertFalse(os.path.exists(self.data_dir))
        err = self.refused(["-o", "pool.user=no-such-user-smsq"])
        self.assertIn('no user named "no-such-user-smsq"', err)

    @unittest.skipUnless(ROOT, "needs root")
    def test_b_runs_sends_and_reloads_as_pool_user(self):
        fake = self.fake(args=["--webhook-token", "s3cret-webhook-token"])
        token = self.secret_file("webhook.token", "s3cret-webhook-token", owner=self.pw)
        opts = self.provider(fake)
        opts["token_file"] = token
        cfg = self.config([("primary", opts)])
        os.chmod(cfg, 0o644)
        # CURVE too: the pool's key pair root's alone (read once, as root),
        # the allow-list read again by the reload, as the user.
        keys = os.path.join(self.tmp, "keys")
        producers = os.path.join(self.tmp, "producers")
        os.makedirs(keys)
        os.makedirs(producers, mode=0o755)
        for name in ("pool", "backend"):
            subprocess.run([os.path.join(itlib.BIN, "smsqctl"), "keygen", name, keys], check=True,
                           capture_output=True)
        shutil.copy(os.path.join(keys, "backend.key"), producers)
        os.chmod(os.path.join(producers, "backend.key"), 0o644)
        curve = ["--server-key", os.path.join(keys, "pool.key"),
                 "--key", os.path.join(keys, "backend.secret")]
        pool = self.start(["-c", cfg, "-o", "pool.user=" + USER,
                           "-o", "ingest.curve_secret_file=" + os.path.join(keys, "pool.secret"),
                           "-o", "ingest.curve_producers=" + producers])
        log = pool.log_text()
        self.assertIn("running as %s (uid %d" % (USER, self.pw.pw_uid), log)
        # Every process of the pool is the user, for good (real and effective).
        pids = [pool.proc.pid] + pool.children()
        self.assertGreaterEqual(len(pids), 3)
        for pid in pids:
            self.assertEqual(proc_ids(pid), (self.pw.pw_uid, self.pw.pw_uid,
                                             self.pw.pw_gid, self.pw.pw_gid), pid)
        path, _ = self.events("priv", 50)
        rc, summary = self.publish(pool, path, *curve)
        self.assertEqual((rc, summary["accepted"]), (0, 50), summary)
        self.wait_sent(pool, 50, 60)
        # The data directory and every file in it: the user's alone.
        st = os.stat(self.data_dir)
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode)), (self.pw.pw_uid, 0o700))
        for name in os.listdir(self.data_dir):
            st = os.lstat(os.path.join(self.data_dir, name))
            self.assertEqual(st.st_uid, self.pw.pw_uid, name)
            if stat.S_ISREG(st.st_mode):
                self.assertEqual(stat.S_IMODE(st.st_mode) & 0o077, 0, name)
        # The warning of an http:// provider, at start and at a reload
        # (which reads the token file again, as the user).
        self.assertEqual(log.count("base_url is http://"), 1)
        os.kill(pool.proc.pid, signal.SIGHUP)
        itlib.wait_for(lambda: "reload: done" in pool.log_text(), 60, "the reload")
        self.assertNotIn("reload refused", pool.log_text())
        self.assertEqual(pool.log_text().count("base_url is http://"), 2)
        path, _ = self.events("priv2", 20)
        rc, summary = self.publish(pool, path, *curve)
        self.assertEqual(summary["accepted"], 20, summary)
        self.wait_sent(pool, 70, 60)
        self.finish(pool)

    @unittest.skipUnless(ROOT, "needs root")
    def test_c_data_directory_of_another_user_refused(self):
        os.makedirs(self.data_dir, mode=0o700)   # root's
        err = self.refused(["-o", "pool.user=" + USER], code=1)
        self.assertIn("owned by uid 0", err)
        self.assertIn("chown", err)

    def test_d_tokens_from_files(self):
        fake = self.fake(args=["--webhook-token", "tok-from-file-123"])
        opts = self.provider(fake)
        # Others may read it: refused at start, the option and the fix named.
        opts["token_file"] = self.secret_file("loose.token", "tok-from-file-123", 0o644)
        cfg = self.config([("primary", opts)], name="loose.conf")
        err = self.refused(["-c", cfg] + itlib.RUN_AS)
        self.assertIn("provider.primary.token_file", err)
        self.assertIn("chmod 600", err)
        self.assertNotIn("tok-from-file-123", err)
        # From systemd's credentials directory.
        creds = os.path.join(self.tmp, "creds")
        os.makedirs(creds, mode=0o700)
        self.secret_file(os.path.join("creds", "webhook"), "tok-from-file-123")
        opts["token_file"] = "$CREDENTIALS_DIRECTORY/webhook"
        cfg = self.config([("primary", opts)], name="creds.conf")
        err = self.refused(["-c", cfg] + itlib.RUN_AS)
        self.assertIn("CREDENTIALS_DIRECTORY is not set", err)
        os.environ["CREDENTIALS_DIRECTORY"] = creds
        try:
            pool = self.start(["-c", cfg, "-o", "outcomes.url=http://127.0.0.1:9/",
                               "-o", "outcomes.secret_file=" +
                               self.secret_file("outcomes.secret", "x" * 32)] + itlib.RUN_AS)
        finally:
            del os.environ["CREDENTIALS_DIRECTORY"]
        path, _ = self.events("file", 30)
        rc, summary = self.publish(pool, path)
        self.assertEqual(summary["accepted"], 30, summary)
        self.wait_sent(pool, 30, 60)   # the fake takes only the right token
        log = pool.log_text()
        self.assertNotIn("tok-from-file-123", log)
        self.assertIn("outcomes.url is http://", log)
        # --print-config never shows it.
        opts["token_file"] = self.secret_file("p.token", "tok-from-file-123")
        cfg = self.config([("primary", opts)], name="print.conf")
        out = subprocess.run([os.path.join(self.bin, "smsq-worker"), "-c", cfg,
                              "--print-config"], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNotIn("tok-from-file-123", out.stdout)
        self.finish(pool)

    def test_e_tls_verify_off_warned(self):
        fake = self.fake()
        cfg = self.config([("primary", self.provider(fake, tls_verify=0))])
        pool = self.start(["-c", cfg] + itlib.RUN_AS, workers=1)
        self.assertIn("provider.primary: tls_verify = 0", pool.log_text())
        if ROOT:
            self.assertIn("running as root (pool.user = root)", pool.log_text())
        self.finish(pool)


if __name__ == "__main__":
    itlib.main()
