#!/usr/bin/python3
"""it_supersede: the latest truth per booking, and smsqctl cancel, against a
running pool and a fake provider.

Supersede: for each order of arrival of a booking's events (a newer one
first or last; a reschedule, a cancellation, a reminder; equal created-at
times; a cancellation after the confirmation was sent), exactly the
messages that tell the truth reach the provider, once each; the others are
superseded, counted in stats and metrics, and shown by `smsqctl inspect
--booking`.  Sending is paused while the events arrive, so that every
earlier message still waits when the later one comes (what is in flight is
not recalled: the unit tests cover that).

Cancel: by id, key and booking, while the messages wait; one already sent
is left as it is; bad input is refused with its exit code.

Each test ends with the pool stopped cleanly and `smsqctl check` clean.
"""

import json
import os
import time

import itlib
from it_dispatch import DispatchBase, accepted
from it_monitor import get, parse, total
from it_operate import ctl
from itlib import wait_for


class SupersedeBase(DispatchBase):

    def write(self, name, events):
        """events: [(key, booking, kind, created_at ms, extra)] as NDJSON."""
        now = int(time.time() * 1000)
        path = os.path.join(self.tmp, "events-%s.ndjson" % name)
        with open(path, "w", encoding="utf-8") as f:
            for i, (key, booking, kind, created, extra) in enumerate(events):
                ev = {"version": 1, "idempotency_key": key, "booking_id": booking,
                      "kind": kind, "phone": "+33655%06d" % (hash(key) % 1000000),
                      "locale": "fr-FR", "patient_name": "Camille Martin",
                      "practitioner_name": "Dr Lefèvre",
                      "place": "Centre de vaccination de Nîmes",
                      "appointment_at": now + 86400000, "time_zone": "Europe/Paris",
                      "created_at": created}
                ev.update(extra)
                f.write(json.dumps(ev, ensure_ascii=False) + "\n")
        return path

    def send(self, pool, name, events):
        self.publish_all(pool, self.write(name, events), len(events))

    def drained(self, pool, timeout_s=60):
        self.wait_states(pool, lambda s: s["waiting"] == 0, timeout_s, "nothing waiting")

    def key_of(self, ref):
        """The idempotency key of the message the provider knows as ref
        (smsq-<id>)."""
        out = ctl(self.data_dir, "inspect", ref.split("-", 1)[1], "--json")
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)["key"]

    def sent_keys(self, fake, n):
        """The idempotency keys of what the provider accepted (n of them),
        each once."""
        wait_for(lambda: len(accepted(fake.records())) >= n, 15, "the record of %d" % n)
        refs = [r.key for r in accepted(fake.records())]
        self.assertEqual(len(refs), len(set(refs)), "a message sent twice: %s" % refs)
        return {self.key_of(r) for r in refs}


class SupersedeTest(SupersedeBase):

    def test_every_order_of_arrival(self):
        fake = self.fake()
        cfg = self.config([("primary", self.provider(fake))])
        pool = self.pool(workers=2, args=["-c", cfg])
        now = int(time.time() * 1000)
        t_old, t_mid, t_new = now - 50000, now - 40000, now - 10000
        # A cancellation after its confirmation went out is sent.
        self.send(pool, "sent", [("I-c", "BI", "confirmed", t_old, {})])
        self.wait_sent(pool, 1, 30)
        self.assertEqual(ctl(self.data_dir, "pause").returncode, 0)
        first = [
            ("A-c", "BA", "confirmed", t_old, {}),      # then its reschedule
            ("B-r", "BB", "rescheduled", t_new, {}),    # then its older confirmation
            ("C-c", "BC", "confirmed", t_old, {}),      # then its cancellation
            ("D-x", "BD", "cancelled", t_new, {}),      # then its older confirmation
            ("E-c", "BE", "confirmed", t_old, {}),      # then a reminder, then a reschedule
            ("F-c", "BF", "confirmed", t_old, {}),      # alone
            ("G-c", "BG", "confirmed", t_old, {}),      # and a reschedule of the same time
            ("H-x", "BH", "cancelled", t_new, {}),      # alone: nothing known to take back
            ("I-x", "BI", "cancelled", t_new, {}),      # after I-c was sent
            ("J-c", "BJ", "confirmed", t_old, {}),      # then a reminder: both go
        ]
        self.send(pool, "first", first)
        second = [
            ("A-r", "BA", "rescheduled", t_new, {}),
            ("B-c", "BB", "confirmed", t_old, {}),
            ("C-x", "BC", "cancelled", t_new, {}),
            ("D-c", "BD", "confirmed", t_old, {}),
            ("E-m", "BE", "reminder", t_mid, {}),
            ("G-r", "BG", "rescheduled", t_old, {}),
            ("J-m", "BJ", "reminder", t_new, {}),
        ]
        self.send(pool, "second", second)
        self.send(pool, "third", [("E-r", "BE", "rescheduled", t_new, {})])
        # A resend of a superseded event is a duplicate, as before.
        rc, summary = self.publish(pool, self.write("again", [("A-c", "BA", "confirmed",
                                                                t_old, {})]))
        self.assertEqual((rc, summary["duplicate"]), (0, 1), summary)
        st = self.stats()
        self.assertEqual(st["states"]["superseded"], 8, st)
        self.assertEqual(ctl(self.data_dir, "resume").returncode, 0)
        self.drained(pool)
        want = {"I-c", "I-x", "A-r", "B-r", "E-r", "F-c", "G-c", "G-r", "H-x", "J-c", "J-m"}
        self.assertEqual(self.sent_keys(fake, len(want)), want)
        st = self.stats()
        self.assertEqual(st["states"]["superseded"], 8)
        self.assertEqual(st["superseded_total"], 8)
        self.assertGreaterEqual(st["segments_withdrawn"], 8)
        wait_for(lambda: total(parse(get(pool.monitor_url() + "metrics")[2]),
                               "smsq_superseded_total") == 8, 10, "the metric")
        m = parse(get(pool.monitor_url() + "metrics")[2])
        self.assertEqual(total(m, "smsq_store_messages", state="superseded"), 8)
        # What superseded what, in the booking's own order.
        out = ctl(self.data_dir, "inspect", "--booking", "BE")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("booking BE: 3 messages, oldest event first", out.stdout)
        states = [l.split()[1].rstrip(",") for l in out.stdout.splitlines()
                  if l.startswith("state ")]
        self.assertEqual(states, ["superseded", "superseded", "sent"])
        self.assertIn("superseded by message", out.stdout)
        js = json.loads(ctl(self.data_dir, "inspect", "--booking", "BD", "--json").stdout)
        self.assertEqual([(m["key"], m["kind"], m["state"]) for m in js],
                         [("D-c", "confirmed", "superseded"), ("D-x", "cancelled", "superseded")])
        self.assertIn("on arrival", js[0]["note"])
        self.assertIn("reached the patient", js[1]["note"])
        out = ctl(self.data_dir, "inspect", "--booking", "nope")
        self.assertEqual(out.returncode, 3)
        self.finish(pool)

    def test_cancellation_sent_always_when_configured(self):
        fake = self.fake()
        cfg = self.config([("primary", self.provider(fake))])
        pool = self.pool(workers=1, args=["-c", cfg, "-o", "ingest.cancel_notice=always"])
        now = int(time.time() * 1000)
        self.assertEqual(ctl(self.data_dir, "pause").returncode, 0)
        self.send(pool, "a", [("C-c", "BC", "confirmed", now - 5000, {})])
        self.send(pool, "b", [("C-x", "BC", "cancelled", now - 1000, {}),
                              ("D-x", "BD", "cancelled", now - 1000, {})])
        self.send(pool, "c", [("D-c", "BD", "confirmed", now - 5000, {})])
        self.assertEqual(ctl(self.data_dir, "resume").returncode, 0)
        self.drained(pool)
        self.assertEqual(self.sent_keys(fake, 2), {"C-x", "D-x"})
        self.assertEqual(self.stats()["states"]["superseded"], 2)
        self.finish(pool)


class CancelTest(SupersedeBase):

    def test_cancel_by_id_key_and_booking(self):
        fake = self.fake()
        cfg = self.config([("primary", self.provider(fake))])
        pool = self.pool(workers=2, args=["-c", cfg])
        now = int(time.time() * 1000)
        self.send(pool, "sent", [("S", "BS", "confirmed", now, {})])
        self.wait_sent(pool, 1, 30)
        self.assertEqual(ctl(self.data_dir, "pause").returncode, 0)
        self.send(pool, "w", [("K1", "B1", "confirmed", now, {}),
                              ("K2", "B2", "confirmed", now, {}),
                              ("K3", "B3", "confirmed", now - 1000, {}),
                              ("K3m", "B3", "reminder", now,
                               {"not_before": now + 3600000}),
                              ("K4", "B4", "confirmed", now, {}),
                              ("K5", "B5", "confirmed", now, {})])
        k1 = json.loads(ctl(self.data_dir, "inspect", "--key", "K1", "--json").stdout)["id"]
        out = ctl(self.data_dir, "cancel", str(k1))
        self.assertEqual((out.returncode, out.stdout), (0, "cancelled 1\n"), out.stderr)
        out = ctl(self.data_dir, "cancel", "--key", "K2")
        self.assertEqual((out.returncode, out.stdout), (0, "cancelled 1\n"), out.stderr)
        out = ctl(self.data_dir, "cancel", "--booking", "B3")
        self.assertEqual((out.returncode, out.stdout), (0, "cancelled 2\n"), out.stderr)
        out = ctl(self.data_dir, "cancel", "--booking", "BS")
        self.assertEqual(out.stdout, "cancelled 0; 1 already final, left as they are\n")
        out = ctl(self.data_dir, "cancel", str(k1))
        self.assertIn("1 already final", out.stdout)
        # bad input: a clear refusal, nothing changed
        for args, code in ((["cancel", "999999"], 3), (["cancel", "--key", "nope"], 3),
                           (["cancel", "--booking", "nope"], 3), (["cancel", "x1"], 2),
                           (["cancel"], 2), (["cancel", "--booking", "B1", "--key", "K1"], 2),
                           (["cancel", "--booking", "b" * 200], 2)):
            out = ctl(self.data_dir, *args)
            self.assertEqual(out.returncode, code, (args, out.stdout, out.stderr))
            said = out.stderr if out.stderr else out.stdout
            self.assertTrue(said.startswith("smsqctl: ") or "1 not found" in said,
                            (args, out.stdout, out.stderr))
        st = self.stats()
        self.assertEqual(st["states"]["cancelled"], 4)
        self.assertEqual(st["operator_cancelled_total"], 4)
        self.assertEqual(st["waiting"], 2)
        self.assertEqual(ctl(self.data_dir, "check").returncode, 0)
        lst = json.loads(ctl(self.data_dir, "list", "--state", "cancelled", "--json").stdout)
        self.assertEqual(sorted(m["key"] for m in lst["messages"]), ["K1", "K2", "K3", "K3m"])
        self.assertEqual({m["note"] for m in lst["messages"]}, {"cancelled by an operator"})
        self.assertEqual(ctl(self.data_dir, "resume").returncode, 0)
        self.drained(pool)
        self.assertEqual(self.sent_keys(fake, 3), {"S", "K4", "K5"})
        wait_for(lambda: total(parse(get(pool.monitor_url() + "metrics")[2]),
                               "smsq_operator_cancelled_total") == 4, 10, "the metric")
        self.finish(pool)


if __name__ == "__main__":
    itlib.main()
