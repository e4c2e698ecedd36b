"""bench_dispatch: messages/s through the unlimited fake provider, Infobip (batch) and
Twilio (one per request); CPU-s per 1,000 messages, pool and fake provider apart.

section_dispatch(R) measures into R["dispatch"]; report_dispatch() writes its part of
the report (bench/run calls both)."""

import os
from collections import OrderedDict

from benchlib import (
    BAR, Fake, P, Pool, REF, RUNS, accept_rate, commands_block, fmt_num, fresh_dir, log,
    md_table, median, rmtree, spread, verdict, wait_count)


def section_dispatch(R):
    R["dispatch"] = res = OrderedDict()
    for api in ("infobip", "twilio"):
        n = P["dispatch_events"][api]
        res[api] = runs = []
        for run in range(RUNS):
            log("dispatch: %s, run %d/%d, %s messages from a backlog of %s"
                % (api, run + 1, RUNS, fmt_num(n), fmt_num(REF.n)))
            run_dir = fresh_dir("dispatch", "%s-run%d" % (api, run))
            data = os.path.join(run_dir, "var")
            REF.copy_to(data)
            fake = Fake(run_dir, api, label="fake provider (%s, no limit)" % api).start()
            pool = Pool(run_dir, data, [fake.provider("bench", 1_000_000)],
                        label="pool with the %s provider, no limit" % api)
            try:
                fcpu0 = fake.cpu()
                pool.start()
                pcpu0, wb0 = pool.cpu(), pool.written()
                st = wait_count(fake, n, 1800, "the dispatch of %d messages" % n)
                pcpu1, fcpu1, wb1 = pool.cpu(), fake.cpu(), pool.written()
            finally:
                pool.stop()
                fake.stop()
            sent = st["unique_accepted"]
            runs.append(dict(rate=accept_rate(st), sent=sent, requests=st["requests"],
                             req_rate=st["requests"] / ((st["last_accept_ms"] - st["first_accept_ms"])
                                                        / 1000.0),
                             pool_cpu=(pcpu1 - pcpu0) / sent * 1000,
                             fake_cpu=(fcpu1 - fcpu0) / sent * 1000,
                             written=(wb1 - wb0) / sent,
                             duplicates=st["duplicates"], errors=st["errors"]))
            rmtree(run_dir)


def report_dispatch(R, summary):
    D = R["dispatch"]
    o = ["## 2. Dispatch\n"]
    o.append("A pool started on a copy of a store holding %s ready messages, its provider "
             "pointed at the fake provider with no limit (`rate_per_s = 1000000`, the highest "
             "allowed; the fake provider limits nothing). Rate: distinct messages accepted by the "
             "provider per second, from its first to its last acceptance (its own clock), over "
             "the first N messages. CPU: user + system seconds of the pool's processes (master, "
             "broker, workers; the store is LMDB inside them) and of the fake provider, from "
             "/proc/PID/stat, per 1,000 messages sent; bytes written: sectors written to the disk holding the store (/sys/block/DISK/stat) during the run, per message.\n" % fmt_num(REF.n))
    rows = []
    ingest_cost = None
    if "ingest" in R and R["ingest"]["runs"][4]:
        ingest_cost = median([r["pool_cpu_per_1000"] for r in R["ingest"]["runs"][4]])
    for api, runs in D.items():
        if not runs:
            continue
        kind = "batch, 100 per request" if api == "infobip" else "one message per request"
        rate = [r["rate"] for r in runs]
        pool_cpu = [r["pool_cpu"] for r in runs]
        rows.append([api + " (" + kind + ")", fmt_num(runs[0]["sent"]), spread(rate),
                     spread([r["req_rate"] for r in runs]), spread(pool_cpu, 3),
                     spread([r["written"] / 1024 for r in runs], 1),
                     spread([r["fake_cpu"] for r in runs], 3),
                     "%.3f" % (median(pool_cpu) + ingest_cost) if ingest_cost is not None else "n/a"])
        if api == "infobip":
            summary.append(["dispatch, batched (msg/s)", ">= 50,000", fmt_num(median(rate)),
                            verdict(median(rate) >= BAR["dispatch_batch"])])
        else:
            summary.append(["dispatch, one per request (requests/s)", ">= 15,000",
                            fmt_num(median([r["req_rate"] for r in runs])),
                            verdict(median([r["req_rate"] for r in runs]) >= BAR["dispatch_single"])])
        cost = median(pool_cpu) + (ingest_cost or 0)
        summary.append(["cost, %s: pool CPU-s per 1,000 delivered (%s)"
                        % (api, "ingest + dispatch" if ingest_cost is not None else "dispatch only"),
                        "<= 0.1", "%.3f" % cost, verdict(cost <= BAR["cpu_per_1000"])])
    o.append(md_table(["adapter", "messages", "messages/s", "requests/s",
                       "pool CPU-s / 1,000 sent", "disk KiB written / message",
                       "fake provider CPU-s / 1,000",
                       "pool CPU-s / 1,000, ingest + dispatch"], rows) + "\n")
    o.append("The last column adds the pool's ingest cost per 1,000 events (section 1, 4 "
             "producers): what a delivered message costs the pool and its store in all.\n")
    o.append("Bar: >= 50,000 msg/s batched, >= 15,000 requests/s one per request; <= 0.1 CPU-s "
             "per 1,000 messages delivered (pool + store).\n")
    o.append(commands_block("dispatch"))
    return "\n".join(o)
