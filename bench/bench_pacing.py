"""bench_pacing: 500, 2,000 and 10,000 messages/s limits with a backlog: average rate
and busiest 1 s window of arrivals at the provider.

section_pacing(R) measures into R["pacing"]; report_pacing() writes its part of
the report (bench/run calls both)."""

import os
import time
from collections import OrderedDict

from benchlib import (
    BAR, BenchError, Fake, P, PACING_WARMUP_S, Pool, REF, RUNS, busiest_window,
    commands_block, fmt_num, fresh_dir, log, md_table, median, now_ms, read_record, rmtree,
    spread, verdict, wait_count)


def section_pacing(R):
    R["pacing"] = res = OrderedDict()
    d = P["pacing_seconds"]
    for limit in P["pacing_limits"]:
        burst = max(1, limit // 20)
        res[limit] = runs = []
        for run in range(RUNS):
            log("pacing: %s/s (+%d burst), run %d/%d, %d s" % (fmt_num(limit), burst, run + 1, RUNS, d))
            run_dir = fresh_dir("pacing", "l%d-run%d" % (limit, run))
            data = os.path.join(run_dir, "var")
            backlog = REF.copy_to(data)
            if backlog < limit * (d + PACING_WARMUP_S + 3):
                raise BenchError("pacing: the reference backlog is too small")
            fake = Fake(run_dir, "infobip", rate=limit, burst=burst, record=True,
                        label="fake provider (infobip, limit L + burst B, record)").start()
            pool = Pool(run_dir, data, [fake.provider("paced", limit, burst)],
                        label="pool with a provider limited to L/s, burst B")
            try:
                pool.start()
                st = wait_count(fake, 1, 60, "the first message")
                first = st["first_accept_ms"]
                end = first + (PACING_WARMUP_S + d) * 1000
                time.sleep(max(0, (end - now_ms()) / 1000.0) + 0.3)
                st = fake.stats()
            finally:
                pool.stop()
                fake.stop()
            rows = read_record(fake.record)
            arrivals = [t for t, k, dst, o in rows]
            accepted = [t for t, k, dst, o in rows if o == "accepted"]
            w0 = first + PACING_WARMUP_S * 1000
            in_window = sum(1 for t in accepted if w0 <= t < w0 + d * 1000)
            runs.append(dict(avg=in_window / d, busiest=busiest_window(arrivals),
                             busiest_accepted=st["max_accepted_1s"], throttled=st["throttled"],
                             burst=burst))
            rmtree(run_dir)


def report_pacing(Pc, summary):
    o = ["## 3. Pacing accuracy\n"]
    o.append("A copy of the %s-message store, a pool whose provider is limited to L "
             "messages/s with the default burst B = L/20 (`count = messages`), and a fake "
             "provider enforcing the same limit and burst over a sliding 1-second window and "
             "recording every message it receives. Average: messages accepted per second over "
             "%d s, starting %.0f s after the first one, while the backlog lasts. Busiest window: "
             "the most messages *received* (accepted or throttled) in any 1,000 consecutive "
             "milliseconds, from the record, the whole run included.\n"
             % (fmt_num(REF.n), P["pacing_seconds"], PACING_WARMUP_S))
    rows = []
    for limit, runs in Pc.items():
        if not runs:
            continue
        burst = runs[0]["burst"]
        avg = [r["avg"] for r in runs]
        busiest = [r["busiest"] for r in runs]
        ok_b = max(busiest) <= limit + burst
        ok_a = median(avg) >= BAR["pacing_avg"] * limit
        rows.append([fmt_num(limit), fmt_num(burst), spread(avg), "%.1f %%" % (100 * median(avg) / limit),
                     spread(busiest), fmt_num(limit + burst), sum(r["throttled"] for r in runs),
                     verdict(ok_a and ok_b)])
        summary.append(["pacing %s/s: busiest 1 s window" % fmt_num(limit),
                        "<= %s (L + B)" % fmt_num(limit + burst), "%s (max of runs %s)"
                        % (fmt_num(median(busiest)), fmt_num(max(busiest))), verdict(ok_b)])
        summary.append(["pacing %s/s: average while backlogged" % fmt_num(limit),
                        ">= %s (98 %%)" % fmt_num(BAR["pacing_avg"] * limit),
                        fmt_num(median(avg)), verdict(ok_a)])
    o.append(md_table(["limit L", "burst B", "average msg/s", "of L", "busiest 1 s window",
                       "L + B", "throttled (all runs)", ""], rows) + "\n")
    o.append("Bar: busiest window <= limit + configured burst; average >= 98 % of the limit "
             "while backlogged.\n")
    o.append(commands_block("pacing"))
    return "\n".join(o)
