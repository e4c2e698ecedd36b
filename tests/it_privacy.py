#!/usr/bin/python3
"""it_privacy: personal data kept no longer than needed, against a running pool.

Events with distinctive names, places and numbers are drained through a fake
provider; with store.personal_data_s of a few seconds, `strings` over every
file of the data directory finds none of them a little after (and finds them
before, or the test would prove nothing), while `smsqctl stats`, `inspect`
and `check` still work and a resent event is still answered DUPLICATE.
"""

import json
import os
import subprocess
import time

import itlib
from it_dispatch import DispatchBase
from it_operate import ctl
from itlib import wait_for

PATIENT = "Quillon Zebrowski"
DOCTOR = "Dr Vanterpool"
PLACE = "Cabinet Xanthippe-Moreau"


class PrivacyTest(DispatchBase):

    def private_events(self, name, n):
        """n due events with the names above and numbers +33699NNNNNN."""
        now = int(time.time() * 1000)
        path = os.path.join(self.tmp, "events-%s.ndjson" % name)
        phones = []
        with open(path, "w", encoding="utf-8") as f:
            for i in range(n):
                phone = "+33699%06d" % (417000 + i)
                ev = {"version": 1, "idempotency_key": "%s-%d" % (name, i),
                      "booking_id": "B-%s-%d" % (name, i), "kind": "confirmed",
                      "phone": phone, "locale": "fr-FR",
                      "patient_name": "%s %d" % (PATIENT, i), "practitioner_name": DOCTOR,
                      "place": PLACE, "appointment_at": now + 86400000,
                      "time_zone": "Europe/Paris", "created_at": now}
                phones.append(phone)
                f.write(json.dumps(ev) + "\n")
        return path, phones

    def found(self, needles):
        """The needles `strings` finds in the files of the data directory."""
        seen = set()
        for entry in sorted(os.listdir(self.data_dir)):
            path = os.path.join(self.data_dir, entry)
            if not os.path.isfile(path):
                continue
            out = subprocess.run(["strings", "-a", "-n", "4", path], capture_output=True,
                                 timeout=120)
            text = out.stdout.decode("latin-1")
            seen.update(n for n in needles if n in text)
        return seen

    def test_personal_fields_leave_the_data_directory_after_their_window(self):
        fake = self.fake()
        cfg = self.config([("primary", self.provider(fake, rate_per_s=20000, burst=1000))])
        pool = self.pool(workers=2, args=["-c", cfg, "-o", "store.retention_s=3600",
                                          "-o", "store.personal_data_s=3"])
        n = 2000
        path, phones = self.private_events("p", n)
        self.publish_all(pool, path, n)
        self.wait_sent(pool, n, 60)
        # What a number looks like in the store: with and without its '+';
        # the names, the place.
        needles = [PATIENT.split()[1], DOCTOR.split()[1], "Xanthippe"] + \
            [p[1:] for p in phones[::97]] + [p[-8:] for p in phones[::89]]
        before = self.found(needles)
        self.assertTrue({"Zebrowski", "Xanthippe"} <= before, before)
        # The window passes; the purge rounds erase and zero.
        wait_for(lambda: not self.found(needles), 90,
                 "no personal data left in the data directory")
        # What stats, inspect and audits need is still there.
        s = self.stats()
        self.assertEqual(s["states"]["sent"], n, s)
        out = ctl(self.data_dir, "inspect", "--key", "p-7")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("personal    erased", out.stdout)
        self.assertIn("+33*******07", out.stdout)
        self.assertIn("B-p-7", out.stdout)
        out = ctl(self.data_dir, "inspect", "--json", "--key", "p-7")
        self.assertTrue(json.loads(out.stdout)["personal_data_erased"], out.stdout)
        self.assertEqual(ctl(self.data_dir, "check").returncode, 0)
        # A resend is still a duplicate.
        rc, summary = self.publish(pool, path)
        self.assertEqual((rc, summary["duplicate"]), (0, n), summary)
        # Its commit may carry stale bytes of the erased pages (LMDB recycles
        # page buffers): the walk that follows commits takes them out again.
        wait_for(lambda: not self.found(needles), 90,
                 "no personal data left after the resend")
        self.finish(pool)


if __name__ == "__main__":
    itlib.main()
