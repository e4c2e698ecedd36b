"""bench_faults: providers that behave as real ones do: a lower limit than configured,
random 5xx, a 5 s outage, a rotated key; the rate against the ideal for each.

section_faults(R) measures into R["faults"]; report_faults() writes its part of
the report (bench/run calls both)."""

import os
import time
from collections import OrderedDict

from benchlib import (
    Fake, P, Pool, REF, RUNS, build_backlog, commands_block, fmt_num, fresh_dir, log,
    md_table, median, now_ms, rmtree, spread, verdict, wait_count)
import harness  # after benchlib, which puts tests/ on the path


FAULT_LOWER_LIMIT = 20      # what the provider enforces (+ a burst of 5)
FAULT_LOWER_CONFIGURED = 100
FAULT_LIMIT = 1000          # random 5xx and outage: the provider's limit and ours
FAULT_KEY_LIMIT = 500       # rotated key
FAULT_OUTAGE = (4, 5)       # s after the fake's start, s long
FAULT_BAR = dict(lower=0.90, lower_429_per_min=5, goodput=0.70, resume_ms=2000)


def read_record_status(path):
    """The fake provider's record: [(time_ms, key, http_status, outcome)]."""
    return [(r.t_ms, r.key, r.status, r.outcome) for r in harness.read_records(path)]


def fault_run(run_dir, name, fake_args, provider_opts, backlog=None, seconds=None):
    """One situation: a backlog (a copy of the reference store, or n new
    events), a fake provider with fake_args, a pool with provider_opts; until
    the backlog is sent, or for seconds.  The fake's start (ms), the
    record's rows, the pool's store stats at the end."""
    data = os.path.join(run_dir, "var")
    n = REF.copy_to(data) if backlog is None else backlog
    if backlog is not None:
        build_backlog(run_dir, data, backlog, first_index=120_000_000)  # apart from scale's keys
    fake = Fake(run_dir, "infobip", record=True, extra=fake_args,
                label="fake provider (infobip: %s)" % name)
    t_fake = now_ms()
    fake.start()
    _, prov = fake.provider("primary", provider_opts.pop("rate_per_s"))
    prov.update(provider_opts)
    pool = Pool(run_dir, data, [("primary", prov)], label="pool (%s)" % name)
    try:
        pool.start()
        if seconds is not None:
            time.sleep(max(0.0, (t_fake + seconds * 1000 - now_ms()) / 1000.0))
        else:
            wait_count(fake, n, 600, "%d messages sent" % n)
        st = pool.stats()
    finally:
        pool.stop()
        fake.stop()
    return t_fake, read_record_status(fake.record), st


def section_faults(R):
    R["faults"] = res = OrderedDict((k, []) for k in ("lower", "random", "outage", "key"))
    n, nk = P["faults_events"], P["faults_key_events"]
    for run in range(RUNS):
        # 1. The provider allows 20/s (and 5 at once) where 100/s is configured.
        log("faults: a provider allowing %d/s, configured %d/s, run %d/%d, %d s"
            % (FAULT_LOWER_LIMIT, FAULT_LOWER_CONFIGURED, run + 1, RUNS, P["faults_lower_s"]))
        d = fresh_dir("faults", "lower-run%d" % run)
        t0, rows, st = fault_run(d, "lower limit",
                                 ["--rate-limit", FAULT_LOWER_LIMIT, "--burst", 5,
                                  "--limit-kind", "bucket"],
                                 dict(rate_per_s=FAULT_LOWER_CONFIGURED, burst=5, concurrency=8),
                                 seconds=P["faults_lower_s"])
        w0, w1 = t0 + 30_000, t0 + P["faults_lower_s"] * 1000
        ok = [t for t, k, code, o in rows if o == "accepted" and w0 <= t < w1]
        thr = [t for t, k, code, o in rows if code == 429 and w0 <= t < w1]
        res["lower"].append(dict(rate=len(ok) * 1000.0 / (w1 - w0),
                                 per_min=len(thr) * 60_000.0 / (w1 - w0),
                                 allowed=[p["allowed_per_s"] for p in st["providers"]][0]))
        rmtree(d)
        # 2. One request in five answered 500 or 503 (no Retry-After), 20 ms.
        log("faults: 20 %% of requests answered 500/503, %d messages, run %d/%d" % (n, run + 1, RUNS))
        d = fresh_dir("faults", "random-run%d" % run)
        t0, rows, st = fault_run(d, "random 5xx",
                                 ["--rate-limit", FAULT_LIMIT, "--burst", FAULT_LIMIT // 20,
                                  "--error-rate", 0.2, "--error-status", "500,503",
                                  "--latency-ms", 20],
                                 dict(rate_per_s=FAULT_LIMIT, burst=FAULT_LIMIT // 20), backlog=n)
        acc = sorted(t for t, k, code, o in rows if o == "accepted")
        first, last = acc[0], acc[-1]
        res["random"].append(dict(drain_s=(last - first) / 1000.0, ideal_s=n / FAULT_LIMIT,
                                  goodput=sum(1 for t in acc if t < first + 5000) / 5.0))
        rmtree(d)
        # 3. A 5 s outage (503 to everything), 20 ms latency.
        log("faults: a %d s outage, %d messages, run %d/%d" % (FAULT_OUTAGE[1], n, run + 1, RUNS))
        d = fresh_dir("faults", "outage-run%d" % run)
        t0, rows, st = fault_run(d, "outage",
                                 ["--rate-limit", FAULT_LIMIT, "--burst", FAULT_LIMIT // 20,
                                  "--outage", "%d:%d" % FAULT_OUTAGE, "--latency-ms", 20],
                                 dict(rate_per_s=FAULT_LIMIT, burst=FAULT_LIMIT // 20), backlog=n)
        acc = sorted(t for t, k, code, o in rows if o == "accepted")
        end = t0 + sum(FAULT_OUTAGE) * 1000
        after = [t for t in acc if t >= end]
        res["outage"].append(dict(drain_s=(acc[-1] - acc[0]) / 1000.0,
                                  ideal_s=n / FAULT_LIMIT + FAULT_OUTAGE[1],
                                  resume_ms=(after[0] - end) if after else None))
        rmtree(d)
        # 4. A rotated key: 401 for the first seconds, then the right key.
        log("faults: 401 for %d s, %d messages, run %d/%d" % (P["faults_key_s"], nk, run + 1, RUNS))
        d = fresh_dir("faults", "key-run%d" % run)
        t0, rows, st = fault_run(d, "rotated key", ["--auth-fail", "0:%d" % P["faults_key_s"]],
                                 dict(rate_per_s=FAULT_KEY_LIMIT, burst=FAULT_KEY_LIMIT // 20),
                                 backlog=nk)
        acc = sorted(t for t, k, code, o in rows if o == "accepted")
        fixed = t0 + P["faults_key_s"] * 1000
        res["key"].append(dict(after_fix_s=(acc[-1] - fixed) / 1000.0,
                               ideal_s=nk / FAULT_KEY_LIMIT,
                               refused=len({t for t, k, code, o in rows if code == 401}),
                               attempts=st["attempts"], n=nk, failed=st["states"]["failed"]))
        rmtree(d)


def report_faults(F, summary):
    o = ["## 7. Providers that behave as real ones do\n"]
    o.append("Four situations, each against the fake provider (Infobip API) with a "
             "pool of one worker per core. *Lower limit*: the provider accepts %d messages/s "
             "from a token bucket of 5 (`--limit-kind bucket`; its sliding window would let "
             "%d through in any second) where the "
             "pool is configured for %d/s; a copy of the reference backlog; the rate is the "
             "messages accepted per second from 30 s after the provider's start to the end "
             "of the run, against %d/s. *Random 5xx*: one request in five answered 500 or 503 "
             "(no Retry-After, one or the other at random), 20 ms latency, limit %s/s on both "
             "sides, %s messages: the goodput over the first 5 s, against the limit, and the "
             "drain against the ideal. *Outage*: 503 to everything for %d s from %d s after the "
             "provider's start, otherwise the same: the delay from the outage's end to the "
             "next message accepted, and the drain against the ideal (the messages at the "
             "limit plus the outage). *Rotated key*: 401 to everything for the first %d s (the "
             "key fixed then), %s messages, limit %d/s: requests answered 401, the drain after "
             "the fix against the ideal, and the attempts counted (one per message: a 401 is "
             "no attempt).\n"
             % (FAULT_LOWER_LIMIT, FAULT_LOWER_LIMIT + 5, FAULT_LOWER_CONFIGURED,
                FAULT_LOWER_LIMIT, fmt_num(FAULT_LIMIT), fmt_num(P["faults_events"]),
                FAULT_OUTAGE[1], FAULT_OUTAGE[0], P["faults_key_s"],
                fmt_num(P["faults_key_events"]), FAULT_KEY_LIMIT))
    rows = []
    lo, rnd, out, key = F["lower"], F["random"], F["outage"], F["key"]
    if lo:
        rate = [r["rate"] for r in lo]
        per_min = [r["per_min"] for r in lo]
        ok = median(rate) >= FAULT_BAR["lower"] * FAULT_LOWER_LIMIT and \
            median(per_min) <= FAULT_BAR["lower_429_per_min"]
        rows.append(["lower limit (%d/s allowed, %d/s configured)"
                     % (FAULT_LOWER_LIMIT, FAULT_LOWER_CONFIGURED),
                     "%d/s" % FAULT_LOWER_LIMIT, spread(rate, 1, "/s"),
                     "%.0f %%" % (100 * median(rate) / FAULT_LOWER_LIMIT),
                     "429s a minute: %s; paced at %s/s at the end"
                     % (spread(per_min, 1), spread([r["allowed"] for r in lo], 1)), verdict(ok)])
        summary.append(["faults: rate under a lower provider limit", ">= 90 %% of %d/s, <= %d "
                        "429s a minute" % (FAULT_LOWER_LIMIT, FAULT_BAR["lower_429_per_min"]),
                        "%.1f/s, %.1f a minute" % (median(rate), median(per_min)), verdict(ok)])
    if rnd:
        gp = [r["goodput"] for r in rnd]
        ok = median(gp) >= FAULT_BAR["goodput"] * FAULT_LIMIT
        rows.append(["random 5xx (20 %, 20 ms)", "%s/s; %.0f s" % (fmt_num(FAULT_LIMIT),
                                                                 rnd[0]["ideal_s"]),
                     "%s/s; %s" % (spread(gp), spread([r["drain_s"] for r in rnd], 1, " s")),
                     "%.0f %%" % (100 * median(gp) / FAULT_LIMIT), "", verdict(ok)])
        summary.append(["faults: goodput with 20 % random 5xx", ">= 70 % of the limit",
                        "%.0f %%" % (100 * median(gp) / FAULT_LIMIT), verdict(ok)])
    if out:
        res_ms = [r["resume_ms"] for r in out if r["resume_ms"] is not None]
        ok = len(res_ms) == len(out) and max(res_ms) <= FAULT_BAR["resume_ms"]
        rows.append(["%d s outage" % FAULT_OUTAGE[1], "%.0f s" % out[0]["ideal_s"],
                     spread([r["drain_s"] for r in out], 1, " s"),
                     "%.0f %%" % (100 * out[0]["ideal_s"] / median([r["drain_s"] for r in out])),
                     "resumed %s after its end" % spread(res_ms, 0, " ms"), verdict(ok)])
        summary.append(["faults: sending resumes after a 5 s outage", "<= 2,000 ms after its end",
                        "%s ms (max of runs)" % fmt_num(max(res_ms)) if res_ms else "never",
                        verdict(ok)])
    if key:
        ok = all(r["attempts"] == r["n"] and r["failed"] == 0 for r in key)
        rows.append(["rotated key (401 for %d s)" % P["faults_key_s"],
                     "%.0f s after the fix" % key[0]["ideal_s"],
                     spread([r["after_fix_s"] for r in key], 1, " s"),
                     "%.0f %%" % (100 * key[0]["ideal_s"] / median([r["after_fix_s"] for r in key])),
                     "requests answered 401: %s; attempts %s for %s messages, failed %s"
                     % (spread([r["refused"] for r in key]), fmt_num(key[0]["attempts"]),
                        fmt_num(key[0]["n"]), fmt_num(key[0]["failed"])), verdict(ok)])
        summary.append(["faults: bad credentials", "no attempt counted, none failed",
                        "%s attempts for %s messages" % (fmt_num(key[0]["attempts"]),
                                                         fmt_num(key[0]["n"])), verdict(ok)])
    o.append(md_table(["situation", "ideal", "measured", "of ideal", "", ""], rows) + "\n")
    o.append("Bars: at least 90 % of a lower provider limit within a minute with a "
             "few 429s a minute at most; goodput at least 70 % of the limit with 20 % random "
             "5xx; sending again within 2 s of an outage's end; bad credentials count no "
             "attempt and fail no message.\n")
    o.append(commands_block("faults"))
    return "\n".join(o)
