#!/usr/bin/python3
"""it_crypt: personal fields encrypted at rest (store.encrypt_key_file), against a running pool.

With a key made by `smsqctl keygen --store`, events with distinctive names,
places and numbers are drained through a fake provider: the provider gets
the right numbers and texts, yet `strings` over every file of the data
directory finds none of them, long before the personal-data window; smsqctl
inspect shows "(encrypted)" without the key and the number and the event's
fields with it; a pool started with another key, or with none, refuses the
store.
"""

import os
import subprocess

import itlib
from it_dispatch import WORKER_BIN, DispatchBase, accepted
from it_operate import ctl
import it_privacy
from it_privacy import DOCTOR, PATIENT, PLACE


class CryptTest(DispatchBase):

    private_events = it_privacy.PrivacyTest.private_events
    found = it_privacy.PrivacyTest.found

    def keygen(self, name):
        path = os.path.join(self.tmp, name)
        out = ctl(self.data_dir, "keygen", "--store", path)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        return path

    def refused(self, cfg, *opts):
        """A pool started on this store with opts: its exit code and output."""
        args = [WORKER_BIN, "-c", cfg, "-d", self.data_dir, "-e",
                "tcp://127.0.0.1:%d" % itlib.free_port(), "-w", "1"] + itlib.RUN_AS
        for o in opts:
            args += ["-o", o]
        out = subprocess.run(args, capture_output=True, text=True, timeout=60)
        return out.returncode, out.stdout + out.stderr

    def test_nothing_personal_in_the_data_directory_with_a_key(self):
        key = self.keygen("store.key")
        fake = self.fake()
        cfg = self.config([("primary", self.provider(fake, rate_per_s=20000, burst=1000))])
        pool = self.pool(workers=2, args=["-c", cfg, "-o", "store.encrypt_key_file=" + key])
        n = 2000
        path, phones = self.private_events("c", n)
        self.publish_all(pool, path, n)
        self.wait_sent(pool, n, 90)
        # Sealed, not erased: the personal-data window (2 days) is far off.
        needles = [PATIENT.split()[1], DOCTOR.split()[1], "Xanthippe"] + \
            [p[1:] for p in phones[::97]] + [p[-8:] for p in phones[::89]]
        self.assertEqual(self.found(needles), set())
        self.assertEqual(ctl(self.data_dir, "check").returncode, 0)
        # Without the key: what audits need, and "(encrypted)".
        out = ctl(self.data_dir, "inspect", "--key", "c-7", "--show-number")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("to          (encrypted)", out.stdout)
        self.assertIn("B-c-7", out.stdout)
        self.assertIn("sent", out.stdout)
        # With it: the number and the event's locale.
        out = ctl(self.data_dir, "-o", "store.encrypt_key_file=" + key, "inspect", "--key", "c-7",
                  "--show-number")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("to          " + phones[7], out.stdout)
        self.assertIn("fr-FR", out.stdout)
        self.finish(pool)
        # The provider got every number with its own patient's text.
        recs = accepted(fake.records()) if fake.stop() == 0 else []
        got = {r.dest: r.text for r in recs}
        self.assertEqual(len(got), n)
        for i in (0, 7, 1234, n - 1):
            self.assertIn("%s %d" % (PATIENT, i), got[phones[i]])
            self.assertIn(PLACE, got[phones[i]])
        # Another key, or none: the pool refuses the store.
        other = self.keygen("other.key")
        rc, log = self.refused(cfg, "store.encrypt_key_file=" + other)
        self.assertNotEqual(rc, 0, log)
        self.assertIn("not the key", log)
        rc, log = self.refused(cfg)
        self.assertNotEqual(rc, 0, log)
        self.assertIn("store.encrypt_key_file", log)


if __name__ == "__main__":
    itlib.main()
