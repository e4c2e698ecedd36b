#!/usr/bin/python3
"""Integration test of tests/py_publisher.py (a Python publisher written from
proto/PROTOCOL.md alone) against a real pool.

Run: cd /work/main && /usr/bin/python3 tests/it_python_publisher.py
"""

import datetime
import os
import random
import socket
import sys
import threading
import time
import zoneinfo

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import itlib  # noqa: E402
import py_publisher  # noqa: E402

PB = py_publisher.load_pb2()   # protoc at run time, into a temp dir
PARIS = zoneinfo.ZoneInfo("Europe/Paris")

PATIENTS = ["Camille Lefèvre", "Léa Dubois", "Hélène Moreau", "Théo Girard", "Zoé Lambert",
            "Maël Rousseau", "Chloé Fontaine", "Jérôme Faure", "Inès Mercier", "François Bézier"]
PRACTITIONERS = ["Dr Martin", "Dr Bernard", "Dr Petit", "Dre Lefèvre", "Dr Garnier"]
PLACES = ["Centre de vaccination de Nîmes", "Cabinet médical Saint-Étienne",
          "Maison de santé de Montpellier", "Clinique du Parc, Lyon"]


def tomorrow_ms(hour, minute):
    """Epoch ms of tomorrow at hour:minute, Paris time."""
    day = datetime.datetime.now(PARIS).date() + datetime.timedelta(days=1)
    t = datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=PARIS)
    return int(t.timestamp() * 1000)


def booking(n, tag="c", **over):
    """A realistic confirmation for booking n: French patient, Europe/Paris,
    appointment tomorrow between 08:00 and ~16:00."""
    booking_id = "BK-%06d" % n
    ev = PB.BookingEvent(
        version=1,
        idempotency_key="%s-confirmed-%s" % (booking_id, tag),
        booking_id=booking_id,
        kind=PB.KIND_CONFIRMED,
        phone="+336%08d" % (12340000 + n),
        locale="fr-FR",
        patient_name=PATIENTS[n % len(PATIENTS)],
        practitioner_name=PRACTITIONERS[n % len(PRACTITIONERS)],
        place=PLACES[n % len(PLACES)],
        appointment_at_ms=tomorrow_ms(8 + (n * 5) // 60 % 9, (n * 5) % 60),
        time_zone="Europe/Paris",
        created_at_ms=int(time.time() * 1000),
    )
    for k, v in over.items():
        setattr(ev, k, v)
    return ev


def port_outside_ephemeral_range():
    """A free loopback port below the kernel's ephemeral range, so that
    connecting to it before anyone listens cannot end in a TCP self-connect."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError):
        low = 32768
    rnd = random.Random()
    for _ in range(200):
        port = rnd.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port found")


class T(itlib.PoolTest):

    def test_a_dealer_200_accepted_then_duplicate(self):
        pool = self.pool(workers=2)
        events = [booking(n) for n in range(1, 201)]
        with py_publisher.Publisher(pool.endpoint, window=64, pb=PB) as pub:
            first = pub.publish(events, deadline_s=20)
            self.assertEqual([r.status for r in first], ["ACK_ACCEPTED"] * 200,
                             [r for r in first if r.status != "ACK_ACCEPTED"][:5])
            self.assertEqual([r.key for r in first], [e.idempotency_key for e in events])
            ids = [r.message_id for r in first]
            self.assertNotIn(0, ids)
            self.assertEqual(len(set(ids)), 200, "message ids are not distinct")

            again = pub.publish(events, deadline_s=20)
            self.assertEqual([r.status for r in again], ["ACK_DUPLICATE"] * 200,
                             [r for r in again if r.status != "ACK_DUPLICATE"][:5])
            self.assertEqual([r.message_id for r in again], ids)
            self.assertTrue(all(r.ok and r.reason == "REASON_NONE" for r in first + again))
        self.assertEqual(self.stats()["total"], 200)

    def test_b_req_accepted_then_duplicate(self):
        pool = self.pool(workers=2)
        ev = booking(4242, tag="req")
        r1 = py_publisher.publish_req(ev, pool.endpoint, pb=PB, deadline_s=20)
        self.assertEqual((r1.status, r1.reason), ("ACK_ACCEPTED", "REASON_NONE"), r1)
        self.assertNotEqual(r1.message_id, 0)
        self.assertEqual(r1.ack.idempotency_key, ev.idempotency_key)
        r2 = py_publisher.publish_req(ev, pool.endpoint, pb=PB, deadline_s=20)
        self.assertEqual(r2.status, "ACK_DUPLICATE", r2)
        self.assertEqual(r2.message_id, r1.message_id)
        self.assertEqual(self.stats()["total"], 1)

    def test_c_invalid_phone_rejected_not_stored(self):
        pool = self.pool(workers=2)
        bad = booking(7, tag="badphone", phone="12")
        good = booking(8)
        with py_publisher.Publisher(pool.endpoint, pb=PB) as pub:
            r_bad, r_good = pub.publish([bad, good], deadline_s=20)
        self.assertEqual(r_bad.status, "ACK_REJECTED", r_bad)
        self.assertEqual(r_bad.reason, "REASON_INVALID_PHONE", r_bad)
        self.assertTrue(r_bad.detail, "empty detail")
        self.assertFalse(r_bad.local)
        self.assertEqual(r_bad.attempts, 1, "a rejection must not be resent")
        self.assertEqual(r_good.status, "ACK_ACCEPTED", r_good)
        # the same over REQ
        r_req = py_publisher.publish_req(booking(9, tag="badphone", phone="12"), pool.endpoint,
                                         pb=PB, deadline_s=20)
        self.assertEqual((r_req.status, r_req.reason), ("ACK_REJECTED", "REASON_INVALID_PHONE"))
        self.assertTrue(r_req.detail)
        self.assertEqual(self.stats()["total"], 1)   # only the good one

    def test_d_publisher_started_before_pool(self):
        pool = itlib.Pool(self.data_dir, 2)
        pool.port = port_outside_ephemeral_range()
        pool.endpoint = "tcp://127.0.0.1:%d" % pool.port
        events = [booking(n, tag="early") for n in range(1, 51)]
        out = {}

        def run():
            try:
                with py_publisher.Publisher(pool.endpoint, window=16, pb=PB) as pub:
                    out["pub"] = pub
                    out["results"] = pub.publish(events, deadline_s=25)
            except BaseException as e:  # reported by the main thread
                out["error"] = e

        th = threading.Thread(target=run, daemon=True)
        th.start()
        # The publisher really tries before the pool exists (sends refused).
        itlib.wait_for(lambda: "error" in out or ("pub" in out and out["pub"].send_blocked > 0),
                       timeout_s=10, what="publisher trying before the pool exists")
        time.sleep(1.0)
        self.assertNotIn("results", out, "finished without a pool?")
        self.pools.append(pool)
        pool.start()
        th.join(30)
        self.assertFalse(th.is_alive(), "publisher still running")
        self.assertNotIn("error", out, out.get("error"))
        results = out["results"]
        self.assertEqual([r.status for r in results], ["ACK_ACCEPTED"] * 50,
                         [r for r in results if r.status != "ACK_ACCEPTED"][:5])
        self.assertEqual(self.stats()["total"], 50)


if __name__ == "__main__":
    itlib.main()
