"""bench_receipts: delivery reports in, outcomes out, and what they cost the drain.

The batched drain of section 2 (the reference backlog, Infobip's API, no limit) four ways:
nothing coming back; the provider reporting every message's delivery to the pool's
receipt endpoint as it goes (the fake provider's reports, 100 to a request as Infobip
sends them, half a second to 2 s after each message); the outcomes pushed to a booking
backend (the example receiver, examples/outcomes_receiver.py); both.  For each:
messages/s at the provider, the pool's CPU per 1,000 messages, how long after the last
message the last report was recorded, and, with outcomes, when the backend had them all.
Then what the endpoint takes: the reports held by the fake provider until the drain is
over and sent all at once (--receipt-hold-s), Infobip's 100 a request and Twilio's one a
request, signed: reports/s by the times the endpoint answered them.

section_receipts(R) measures into R["receipts"]; report_receipts() writes its part of the
report (bench/run calls both)."""

import os
import time
from collections import OrderedDict

import harness
from benchlib import (
    BIN, Fake, P, Pool, REF, RUNS, accept_rate, commands_block, fmt_num, fresh_dir, log, md_table,
    median, rmtree, run_tool, spread, store_stats, wait_count, wait_for)

TOKEN = "bench-receipts-path-token-0123"
SECRET = "bench-outcomes-secret-0123456789"
REPORT_ARGS = ["--receipt-delay-ms", "500:2000", "--receipt-undelivered", "0.03"]
HOLD_S = 20  # a burst: after the pool's start and the drain (a few seconds each)
VARIANTS = (
    # label, api, reports, outcomes, hold the reports for a burst: requests in flight
    ("nothing back", "infobip", False, False, 0),
    ("delivery reports as they come", "infobip", True, False, 0),
    ("outcomes to the backend", "infobip", False, True, 0),
    ("reports and outcomes", "infobip", True, True, 0),
    ("Infobip, 100 a request, 32 in flight", "infobip", True, False, 32),
    ("Twilio, one a request (signed), 32 in flight", "twilio", True, False, 32),
    ("Twilio, one a request (signed), 256 in flight", "twilio", True, False, 256),
)


def one_run(label, api, reports, outcomes, hold, run):
    n = P["dispatch_events"][api]
    run_dir = fresh_dir("receipts", "%s-%s-run%d" % (api, "r" * reports + "o" * outcomes, run))
    data = os.path.join(run_dir, "var")
    REF.copy_to(data)
    args = list(REPORT_ARGS) + (["--receipt-batch", "100"] if api == "infobip" else []) \
        + ["--receipt-concurrency", hold or 32] \
        + (["--receipt-hold-s", HOLD_S] if hold else [])
    fake = Fake(run_dir, api, record=reports, extra=args if reports else (),
                label="fake provider (%s, no limit%s)"
                % (api, (", reports held, %d in flight" % hold if hold else ", reports")
                   if reports else ""))
    fake.start()
    options = OrderedDict()
    if reports:
        options["receipts.listen"] = "127.0.0.1:%d" % harness.free_port()
        options["receipts.token"] = TOKEN
    receiver = None
    if outcomes:
        receiver = harness.Receiver(run_dir, os.path.join(run_dir, "outcomes.ndjson"),
                                    secret=SECRET, name="backend")
        receiver.label = "the example receiver of outcomes"
        receiver.start()
        options["outcomes.url"] = receiver.url
        options["outcomes.secret"] = SECRET
    pool = Pool(run_dir, data, [fake.provider("bench", 1_000_000)], options=options,
                label="pool, %s (%s)" % (label, api))
    res = dict(n=n)
    try:
        pool.start()
        pcpu0 = pool.cpu()
        t0 = time.monotonic()
        st = wait_count(fake, n, 1800, "the dispatch of %d messages" % n)
        res["rate"] = accept_rate(st)
        res["pool_cpu"] = (pool.cpu() - pcpu0) / n * 1000
        if reports or outcomes:
            # the rest of the reference backlog stays: what comes back of these only
            run_tool([os.path.join(BIN, "smsqctl"), "-d", data, "pause"])
        if reports:
            wait_for(lambda: fake.stats()["receipts_2xx"] >= n
                     and fake.stats()["receipts_pending"] == 0, 600, "every report taken", 0.25)
            # (the messages sent before the pause took, a few more than n)
            res["pool_cpu_all"] = (pool.cpu() - pcpu0) / fake.stats()["unique_accepted"] * 1000
        if outcomes:
            wait_for(lambda: store_stats(data)["outbox"] == 0, 900, "the outbox taken", 0.25)
            res["outcomes_s"] = time.monotonic() - t0
        fst = fake.stats()
    finally:
        pool.stop()
        fake.stop()
        if receiver is not None:
            receiver.stop()
    if reports:
        reps = [r for r in harness.read_receipts(fake.record) if 200 <= r.status < 300]
        times = sorted(r.t_ms for r in reps)
        res["reports"] = len(reps)
        res["requests"] = fst["receipts_requests"]
        res["report_rate"] = len(times) / ((times[-1] - times[0]) / 1000.0)
        res["lag_s"] = (times[-1] - fst["last_accept_ms"]) / 1000.0
    rmtree(run_dir)
    return res


def section_receipts(R):
    res = R["receipts"] = OrderedDict()
    only = os.environ.get("BENCH_RECEIPTS_ONLY")  # a variant's label, for profiling
    for label, api, reports, outcomes, hold in VARIANTS:
        if only and only != label:
            continue
        res[label] = runs = []
        for run in range(RUNS):
            log("receipts: %s, run %d/%d" % (label, run + 1, RUNS))
            runs.append(one_run(label, api, reports, outcomes, hold, run))
            runs[-1]["hold"] = hold


def report_receipts(S, summary):
    o = ["## 9. Delivery reports and outcomes\n"]
    o.append("The drain of section 2 (from the reference backlog, a provider without a "
             "limit), with what comes back from it and what goes to the booking backend. "
             "**Reports**: the fake provider calls the pool's receipt endpoint for every "
             "message it took, 0.5 to 2 s later (3 % undelivered; Infobip's in requests of up "
             "to 100 reports, 32 requests in flight); each is recorded in the store before it is answered. *Last "
             "report after the last message*: how long after the provider took the last "
             "message its report was recorded (its delay alone is up to 2 s). **Outcomes**: "
             "every final state (sent, delivered, undelivered) written to the outbox in the "
             "state's own transaction and POSTed, 500 a request, to "
             "`examples/outcomes_receiver.py` (Python, one fsync a request); *backend had "
             "all*: from the pool's start.\n")
    rows = []
    base = None
    for label, runs in S.items():
        if runs[0]["hold"]:
            continue
        rate = median([r["rate"] for r in runs])
        base = base or rate
        rows.append([label, fmt_num(runs[0]["n"]),
                     spread([r["rate"] for r in runs]),
                     "%.2f" % (rate / base),
                     "%.3f" % median([r["pool_cpu"] for r in runs]),
                     "%.1f s" % median([r["lag_s"] for r in runs]) if "lag_s" in runs[0] else "—",
                     "%.3f" % median([r["pool_cpu_all"] for r in runs])
                     if "pool_cpu_all" in runs[0] else "—",
                     "%.1f s" % median([r["outcomes_s"] for r in runs])
                     if "outcomes_s" in runs[0] else "—"])
    o.append(md_table(["variant", "messages", "sent/s at the provider", "vs nothing back",
                       "pool CPU-s / 1,000 sent", "last report after the last message",
                       "pool CPU-s / 1,000 sent and reported", "backend had all"], rows) + "\n")
    o.append("What the endpoint takes: the fake provider holds every report until %d s after "
             "its start (the drain is over by then) and sends them all at once. Reports/s by the times the endpoint answered them, first to last. "
             "The fake provider's own ceiling, measured against a trivial endpoint: about "
             "200,000 reports/s in requests of 100, 27,000 to 31,000 one a request; it shares "
             "the 2 cores with the pool (profiled during Twilio's burst: the fake provider "
             "took about half of the CPU, the endpoint's server thread 29 %%, the store "
             "commits the rest), so one a request it is the limit measured, not the "
             "endpoint.\n" % HOLD_S)
    rows = []
    for label, runs in S.items():
        if not runs[0]["hold"]:
            continue
        rows.append([label, fmt_num(runs[0]["reports"]), fmt_num(runs[0]["requests"]),
                     spread([r["report_rate"] for r in runs])])
    o.append(md_table(["reports", "taken", "requests", "taken/s"], rows) + "\n")
    burst = [r for label, runs in S.items() for r in runs
             if r["hold"] and label.startswith("Infobip")]
    if burst and "nothing back" in S:
        taken = median([r["report_rate"] for r in burst])
        sent = median([r["rate"] for r in S["nothing back"]])
        summary.append(["delivery reports taken/s (Infobip's 100 a request, all at once)",
                        "at least the batched dispatch rate (%s/s here)" % fmt_num(sent),
                        fmt_num(taken), "meets" if taken >= sent else "**misses**"])
    o.append(commands_block("receipts"))
    return "\n".join(o)
