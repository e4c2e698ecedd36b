"""bench_shared: one provider account's limit kept by several pools (nodes)
through a Redis server (pace.shared).

One fake Infobip that enforces the account's limit (a 429 above it), a
redis-server on a free port, and pools on one machine with their own data
directories and backlogs, draining at once: one node without pace.shared,
one node with it (what the round trips cost a message), and three nodes
sharing the account.  Measured at the provider: the busiest second against
limit + burst, the average rate against the limit, 429s; in the pools: the
round trips per 1,000 messages and the CPU per 1,000 messages.

section_shared(R) measures into R["shared"]; report_shared() writes its part
of the report (bench/run calls both)."""

import os
import time

import harness
from benchlib import (
    P, RUNS, BenchError, Fake, Pool, build_backlog, commands_block, fmt_num, fresh_dir, log,
    md_table, median, rmtree, spread)

LIMIT = 2000  # the account's messages per second
MODES = (("alone", 1, False, "1 node, no pace.shared"),
         ("alone-shared", 1, True, "1 node, pace.shared"),
         ("three", 3, True, "3 nodes, pace.shared"))


def drain(run_dir, n_nodes, shared, n_each, run):
    """n_nodes pools with n_each messages each, draining at once through one
    fake at LIMIT; the figures."""
    redis = harness.Redis(run_dir).start() if shared else None
    fake = Fake(run_dir, "infobip", rate=LIMIT, burst=LIMIT // 20,
                label="fake provider (infobip, %d/s)" % LIMIT)
    fake.start()
    pools = []
    try:
        for i in range(n_nodes):
            data = os.path.join(run_dir, "node%d" % i)
            build_backlog(run_dir, data, n_each, first_index=(run * 10 + i) * n_each)
            options = {"pace.shared": redis.addr} if shared else {}
            pools.append(Pool(run_dir, data, [fake.provider("acct", LIMIT)], options,
                              label="node %d%s" % (i + 1, ", pace.shared" if shared else "")))
        cpu0 = []
        for p in pools:
            p.start()
        cpu0 = [p.cpu() for p in pools]
        total = n_nodes * n_each
        deadline = time.monotonic() + total / LIMIT * 3 + 120
        while True:
            st = fake.stats()
            if st["accepted"] >= total:
                break
            if time.monotonic() > deadline:
                raise BenchError("shared: %d of %d accepted" % (st["accepted"], total))
            time.sleep(0.05)
        cpu = sum(p.cpu() for p in pools) - sum(cpu0)
        trips = sum((p.stats()["providers"][0].get("shared") or {}).get("round_trips", 0)
                    for p in pools)
        span = (st["last_accept_ms"] - st["first_accept_ms"]) / 1000.0
        return dict(accepted=st["accepted"], busiest=st["max_accepted_1s"],
                    rate=(st["accepted"] - 1) / span if span > 0 else 0,
                    throttled=st["throttled"], trips_per_1000=trips / st["accepted"] * 1000,
                    pool_cpu=cpu / st["accepted"] * 1000)
    finally:
        for p in pools:
            p.stop()
        fake.stop()
        if redis is not None:
            redis.stop()


def section_shared(R):
    n_each = P["shared_events"]
    R["shared"] = res = {"limit": LIMIT, "burst": LIMIT // 20, "events": n_each,
                         "runs": {m[0]: [] for m in MODES}}
    for run in range(RUNS):
        for mode, nodes, shared, label in MODES:
            log("shared: run %d/%d, %s, %s messages a node" % (run + 1, RUNS, label,
                                                              fmt_num(n_each)))
            run_dir = fresh_dir("shared", "run%d-%s" % (run, mode))
            res["runs"][mode].append(drain(run_dir, nodes, shared, n_each, run))
            rmtree(run_dir)


def report_shared(C, summary):
    o = ["## 13. Several nodes on one account (pace.shared)\n"]
    o.append("One fake Infobip enforcing the account's limit (%s messages/s, burst %s: a 429 "
             "above it), a redis-server on the same machine, and pools with their own data "
             "directories and a backlog of %s messages each, all draining at once: one node "
             "without `pace.shared`, one with it, three with it. At the provider: the busiest "
             "1 s window (limit + burst is the most allowed), the average rate from the first "
             "message to the last, the 429s. In the pools: round trips to Redis and CPU per "
             "1,000 messages (all nodes together). The nodes share the machine's 2 cores.\n"
             % (fmt_num(C["limit"]), fmt_num(C["burst"]), fmt_num(C["events"])))
    rows = []
    for mode, nodes, shared, label in MODES:
        runs = C["runs"][mode]
        if runs:
            rows.append([label, spread([r["busiest"] for r in runs]),
                         spread([r["rate"] for r in runs]),
                         spread([r["throttled"] for r in runs]),
                         spread([r["trips_per_1000"] for r in runs], 1),
                         spread([r["pool_cpu"] for r in runs], 4)])
    o.append(md_table(["nodes", "busiest 1 s (limit + burst: %s)"
                       % fmt_num(C["limit"] + C["burst"]), "messages/s", "429s",
                       "Redis round trips / 1,000", "pool CPU-s / 1,000"], rows) + "\n")
    three = C["runs"]["three"]
    if three:
        busiest = max(r["busiest"] for r in three)
        summary.append(["3 nodes on one account: busiest 1 s (pace.shared)",
                        "<= %s" % fmt_num(C["limit"] + C["burst"]), fmt_num(busiest),
                        "meets" if busiest <= C["limit"] + C["burst"] else "**misses**"])
        summary.append(["3 nodes on one account: average rate", "~%s" % fmt_num(C["limit"]),
                        fmt_num(median([r["rate"] for r in three])), "-"])
    o.append(commands_block("shared"))
    return "\n".join(o)
