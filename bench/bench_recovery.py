"""bench_recovery: SIGKILL of one worker mid-drain (time until its leased messages are
sent, against dispatch.lease_ms); SIGKILL of the whole pool with a backlog
(restart to first message sent).

section_recovery(R) measures into R["recovery"]; report_recovery() writes its part of
the report (bench/run calls both)."""

import datetime
import os
import re
import signal
import time
from collections import OrderedDict

from benchlib import (
    Fake, P, Pool, REF, RUNS, build_backlog, commands_block, fmt_num, fresh_dir, log,
    md_table, now_ms, read_record, rmtree, spread, wait_count, wait_for)


def section_recovery(R):
    R["recovery"] = res = {"worker": OrderedDict(), "pool": []}
    rate = P["recovery_rate"]
    for lease in P["recovery_leases"]:
        res["worker"][lease] = runs = []
        backlog = int(rate * (lease / 1000.0 + P["recovery_tail_s"] + 4))
        for run in range(RUNS):
            log("recovery: SIGKILL of a worker, lease %d ms, run %d/%d" % (lease, run + 1, RUNS))
            run_dir = fresh_dir("recovery", "worker-l%d-run%d" % (lease, run))
            data = os.path.join(run_dir, "var")
            # One appointment time for all: messages are then taken in id order,
            # which tells the dead worker's leftovers apart (see worker_kill_times).
            build_backlog(run_dir, data, backlog, extra=["--appointment-ms", 2 * 86400 * 1000],
                          label="publisher, building a backlog (one appointment time)", producers=1)
            fake = Fake(run_dir, "infobip", rate=rate, burst=rate // 20, record=True,
                        label="fake provider (infobip, limit, record)").start()
            pool = Pool(run_dir, data, [fake.provider("bench", rate)],
                        options={"dispatch.lease_ms": lease},
                        label="pool, lease_ms L, provider limited")
            try:
                pool.start()
                wait_count(fake, 1, 60, "the first message")
                time.sleep(2.0)
                before = pool.stats()
                victim = pool.roles()["worker-1"]
                t_kill = now_ms()
                os.kill(victim, signal.SIGKILL)
                wait_count(fake, backlog, 600, "the drain")
                after = pool.stats()
                st = fake.stats()
            finally:
                pool.stop()
                fake.stop()
            r = worker_kill_times(read_record(fake.record), t_kill, lease)
            r.update(lease_expired=after["lease_expired"] - before["lease_expired"],
                     duplicates=st["duplicates"], inflight=before["states"]["inflight"])
            runs.append(r)
            rmtree(run_dir)
    # The whole pool, with a large backlog.
    n = P["pool_kill_backlog"]
    run_dir = fresh_dir("recovery", "pool")
    data = os.path.join(run_dir, "var")
    if n == REF.n:
        REF.copy_to(data)
    else:
        build_backlog(run_dir, data, n)
    limit = 2000
    fake = Fake(run_dir, "infobip", rate=limit, burst=limit // 20, record=True,
                label="fake provider (infobip, 2,000/s, record)").start()
    pool = Pool(run_dir, data, [fake.provider("bench", limit)],
                label="pool with the provider limited to 2,000/s")
    try:
        pool.start()
        for run in range(RUNS):
            log("recovery: SIGKILL of the whole pool, %s waiting, run %d/%d"
                % (fmt_num(n), run + 1, RUNS))
            wait_count(fake, 1, 60, "the first message")
            time.sleep(2.0)
            waiting = pool.stats()["waiting"]
            pool.kill9()
            time.sleep(0.5)
            pool.start(wait=False)
            t0 = pool.t_start_ms

            def first_after():
                time.sleep(0.1)
                for t, k, dst, o in read_record(fake.record):
                    if o == "accepted" and t > t0:
                        return t
                return None
            t_first = wait_for(first_after, 120, "the first message after the restart", 0.05)
            pool.wait_ready()
            ready = re.search(r"^(\S+) (?:broker|worker-\d+)\[\d+\] info: (?:broker: )?ingest endpoint",
                              pool.log_text(), re.M)
            t_ready = None
            if ready:
                t_ready = datetime.datetime.strptime(ready.group(1), "%Y-%m-%dT%H:%M:%S.%fZ") \
                    .replace(tzinfo=datetime.timezone.utc).timestamp() * 1000
            res["pool"].append(dict(waiting=waiting, first_ms=t_first - t0,
                                    ready_ms=(t_ready - t0) if t_ready else None))
        st = fake.stats()
        res["pool_duplicates"] = st["duplicates"]
    finally:
        pool.stop()
        fake.stop()
    rmtree(run_dir)


def worker_kill_times(rows, t_kill, lease):
    """From the provider's record: the messages the killed worker held, and
    when the last of them was sent.

    Messages are taken in id order (one appointment time), so every message
    leased before the kill has a lower id than any leased after it.  The
    survivors send what they hold within milliseconds and go on with higher
    ids; the dead worker's messages cannot be sent before its lease runs out,
    at least 3/4 of lease_ms after the kill (a lease is renewed every
    quarter).  So its messages are:
      - those first accepted more than 0.7 lease after the kill with an id
        below the highest id accepted in the half lease after the kill (what
        the survivors and the restarted worker leased after the kill is sent
        long before 0.7 lease);
      - those the provider had accepted before the kill and accepts again
        after 0.7 lease: the dead worker's requests answered but not yet
        committed, sent twice (the documented window)."""
    accepts = {}
    for t, key, dst, outcome in rows:
        if outcome == "accepted" and key.startswith("smsq-"):
            accepts.setdefault(int(key[5:]), []).append(t)
    back = t_kill + 0.7 * lease
    early = [m for m, ts in accepts.items() if t_kill < ts[0] <= t_kill + lease / 2.0]
    if not early:
        return dict(held=0, resent=0, recovered_ms=None)
    frontier = max(early)
    late = [ts[0] for m, ts in accepts.items() if ts[0] > back and m < frontier]
    again = [t for m, ts in accepts.items() if ts[0] <= t_kill for t in ts[1:] if t > back]
    times = late + again
    return dict(held=len(times), resent=len(again),
                recovered_ms=(max(times) - t_kill) if times else None)


def report_recovery(Rc):
    o = ["## 5. Recovery\n"]
    o.append("**One worker killed mid-drain.** A backlog whose messages all have the same "
             "appointment time (so they are taken in id order), a provider limited to %s/s, "
             "2 workers. Two seconds into the drain, worker-1 gets SIGKILL (the master restarts "
             "it %s later). From the provider's record: the messages the dead worker held are "
             "those first sent more than 0.7 lease after the kill with an id below what the "
             "others sent in the half lease after it, plus those the provider had accepted "
             "just before the kill and accepts again then (answered, not yet committed: sent "
             "twice). The time is from the kill until the provider accepts the last of them. "
             "They can only come back once their lease runs out (`dispatch.lease_ms`, renewed "
             "every quarter while held), so the time is shown with the lease; the store's "
             "`lease_expired` counter is beside the count.\n" % (fmt_num(P["recovery_rate"]), "0.5 s"))
    rows = []
    for lease, runs in Rc["worker"].items():
        rec = [r["recovered_ms"] for r in runs]
        rows.append(["%s ms" % fmt_num(lease), spread([r["held"] for r in runs]),
                     spread([r["resent"] for r in runs]),
                     spread([r["lease_expired"] for r in runs]),
                     spread([x / 1000 if x is not None else None for x in rec], 2, " s"),
                     spread([(x - lease) / 1000 if x is not None else None for x in rec], 2, " s"),
                     sum(r["duplicates"] for r in runs)])
    o.append(md_table(["lease_ms", "messages held by the dead worker", "of which sent twice",
                       "leases expired (store)",
                       "kill -> all of them sent", "beyond the lease",
                       "duplicates at the provider (all runs)"], rows) + "\n")
    if Rc["pool"]:
        runs = Rc["pool"]
        o.append("**The whole pool killed** (SIGKILL to master, broker and workers at once) "
                 "while draining %s waiting messages at 2,000/s, restarted 0.5 s later, %d time(s) "
                 "in a row on the same store. Time from starting `smsq-worker` again to the "
                 "provider's first accepted message, and to the pool's ingest endpoint being up "
                 "(its log).\n" % (fmt_num(runs[0]["waiting"]), len(runs)))
        o.append(md_table(["waiting at the kill", "restart -> ingest endpoint up",
                           "restart -> first message sent", "duplicates at the provider"],
                          [[spread([r["waiting"] for r in runs]),
                            spread([r["ready_ms"] for r in runs], 0, " ms"),
                            spread([r["first_ms"] for r in runs], 0, " ms"),
                            fmt_num(Rc.get("pool_duplicates"))]]) + "\n")
    o.append("No bar for recovery: figures as measured. Duplicates are messages the "
             "provider accepted twice: the documented window (a worker killed between a "
             "provider's answer and the commit of the outcome).\n")
    o.append(commands_block("recovery"))
    return "\n".join(o)
