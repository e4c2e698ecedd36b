"""bench_dispatch: messages/s through the unlimited fake provider, Infobip (batch) and
Twilio (one per request); CPU-s per 1,000 messages, pool and fake provider apart; and
what the monitor and a Prometheus scraping it every second cost that drain.

section_dispatch(R) measures into R["dispatch"]; report_dispatch() writes its part of
the report (bench/run calls both)."""

import os
import threading
import time
import urllib.request
from collections import OrderedDict

from benchlib import (
    BAR, Fake, P, Pool, REF, RUNS, accept_rate, commands_block, fmt_num, fresh_dir, log,
    md_table, median, proc_cpu_s, rmtree, spread, verdict, wait_count)


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
    section_scrape(R)


SCRAPE_VARIANTS = (("monitor off", {"metrics.listen": ""}, False),
                   ("monitor on", {}, False),
                   ("monitor on, scraped every second", {}, True))


class Scraper(threading.Thread):
    """GET /metrics and /status.json once a second, as Prometheus and the
    status page would, until stopped; counts the scrapes."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url = url
        self.done = threading.Event()
        self.scrapes = 0
        self.bytes = 0

    def run(self):
        while not self.done.wait(1.0 - time.time() % 1.0):
            for path in ("metrics", "status.json"):
                with urllib.request.urlopen(self.url + path, timeout=10) as r:
                    self.bytes += len(r.read())
            self.scrapes += 1


def section_scrape(R):
    """The drain of section 2 (batched), over a longer backlog, with the
    monitor off, on, and on with a scraper every second: run by run, in
    turn, so that the machine's drift touches the three alike."""
    R["scrape"] = res = OrderedDict((v[0], []) for v in SCRAPE_VARIANTS)
    n = P["scrape_events"]
    for run in range(RUNS):
        for name, options, scraped in SCRAPE_VARIANTS:
            log("dispatch: %s, run %d/%d, %s messages" % (name, run + 1, RUNS, fmt_num(n)))
            run_dir = fresh_dir("dispatch", "scrape-%d-%s" % (run, name.split()[-1]))
            data = os.path.join(run_dir, "var")
            REF.copy_to(data)
            fake = Fake(run_dir, "infobip", label="fake provider (infobip, no limit)").start()
            pool = Pool(run_dir, data, [fake.provider("bench", 1_000_000)], options=options,
                        label="pool with the infobip provider, no limit, %s" % name)
            scraper = None
            try:
                pool.start()
                if scraped:
                    scraper = Scraper(pool.monitor_url())
                    scraper.start()
                cpu0 = pool.cpu()
                mon0 = proc_cpu_s(pool.roles().get("monitor", 0)) or 0.0
                st = wait_count(fake, n, 1800, "the dispatch of %d messages" % n)
                cpu1 = pool.cpu()
                mon1 = proc_cpu_s(pool.roles().get("monitor", 0)) or 0.0
            finally:
                if scraper is not None:
                    scraper.done.set()
                    scraper.join(15)
                pool.stop()
                fake.stop()
            sent = st["unique_accepted"]
            seconds = (st["last_accept_ms"] - st["first_accept_ms"]) / 1000.0
            res[name].append(dict(rate=accept_rate(st), sent=sent, seconds=seconds,
                                  pool_cpu=(cpu1 - cpu0) / sent * 1000,
                                  monitor_cpu_per_s=(mon1 - mon0) / seconds if seconds else 0,
                                  scrapes=scraper.scrapes if scraper else 0,
                                  scrape_kib=scraper.bytes / 1024 / max(scraper.scrapes, 1)
                                  if scraper else 0))
            rmtree(run_dir)


def report_scrape(R, summary):
    S = R.get("scrape")
    if not S or not all(S.values()):
        return ""
    o = ["### Watching the drain: the monitor and a scrape every second\n"]
    o.append("The batched drain above, over %s messages, three ways, run by run in turn: the "
             "monitor off (`metrics.listen` empty), on (it reads the store, the counters and the "
             "pacing file once a second), and on with a client fetching `/metrics` and "
             "`/status.json` every second, as a Prometheus scraping at 1 s and an open status "
             "page do. Pool CPU includes the monitor's; the monitor's own CPU is per second of "
             "the drain.\n" % fmt_num(P["scrape_events"]))
    rows = []
    for name, runs in S.items():
        rows.append([name, spread([r["rate"] for r in runs]),
                     spread([r["pool_cpu"] for r in runs], 4),
                     spread([r["monitor_cpu_per_s"] * 1000 for r in runs], 1),
                     "%d" % median([r["scrapes"] for r in runs]) if runs[0]["scrapes"] else "-",
                     "%.0f" % median([r["scrape_kib"] for r in runs]) if runs[0]["scrapes"] else "-"])
    o.append(md_table(["pool", "messages/s", "pool CPU-s / 1,000 sent",
                       "monitor CPU ms / s", "scrapes", "KiB a scrape"], rows) + "\n")
    off = median([r["rate"] for r in S["monitor off"]])
    scraped = median([r["rate"] for r in S["monitor on, scraped every second"]])
    summary.append(["drain rate scraped every second, against the monitor off", "within noise",
                    "%.1f %%" % (100.0 * scraped / off if off else 0), "-"])
    return "\n".join(o)


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
    scrape = report_scrape(R, summary)
    if scrape:
        o.append(scrape)
    o.append(commands_block("dispatch"))
    return "\n".join(o)
