"""bench_surge: the seed story's evening replayed, scaled in time (the pool's retry
delays too); its chart is drawn by bench/surge.gp into the work directory.

section_surge(R) measures into R["surge"]; report_surge() writes its part of
the report (bench/run calls both)."""

import math
import os
import shutil
import subprocess
import threading
import time

from benchlib import (
    BAR, BenchError, EVENING_BOOKINGS, EVENING_S, Fake, P, Pool, ROOT, RUNS, WORK,
    commands_block, fmt_num, fresh_dir, log, md_table, median, note_cmd, now_ms, publish,
    read_record, rel, rmtree, store_stats, verdict, wait_for)


# The evening of the seed story (../shared/seed/): bookings per minute,
# relative to the 20:35 peak (18,000 a minute), against minutes since 20:05.
SURGE_SHAPE = [
    (0, 0.02),    # 20:05 the announcement
    (12, 0.35),   # 20:17 first alerts: 500,000 -> 2.1 million visitors
    (21, 0.80),   # 20:26 past the previous record
    (30, 1.00),   # 20:35 18,000 bookings a minute
    (48, 0.95),   # 20:53 "very steady for a long half hour"
    (53, 0.30),   # the commercial break: "eerily quiet"
    (58, 0.30),
    (62, 1.15),   # 21:07 the second peak, higher
    (80, 0.70),   # 21:25
    (110, 0.45),  # 21:55
    (150, 0.15),  # 22:35 end of the 2.5 hours
]
# How far ahead the appointments are (real time, before scaling): a share,
# and a range in hours.
SURGE_APPOINTMENTS = [(0.05, 0.5, 3), (0.25, 12, 48), (0.50, 48, 14 * 24), (0.20, 14 * 24, 42 * 24)]


def surge_schedule(n, seconds, path, seed=12):
    """Event i's offset (inverse of the cumulative booking curve) and
    appointment delay, both scaled by seconds / the evening."""
    import random
    rng = random.Random(seed)
    scale = seconds / EVENING_S
    pts = [(m * 60.0, r) for m, r in SURGE_SHAPE]
    cum = [0.0]
    for (t0, r0), (t1, r1) in zip(pts, pts[1:]):
        cum.append(cum[-1] + (r0 + r1) / 2 * (t1 - t0))
    total = cum[-1]
    offsets = []
    seg = 0
    for i in range(n):
        target = (i + 0.5) / n * total
        while cum[seg + 1] < target:
            seg += 1
        (t0, r0), (t1, r1) = pts[seg], pts[seg + 1]
        need = target - cum[seg]
        slope = (r1 - r0) / (t1 - t0)
        if abs(slope) < 1e-12:
            dt = need / r0
        else:   # r0*dt + slope*dt^2/2 = need
            dt = (-r0 + math.sqrt(max(0.0, r0 * r0 + 2 * slope * need))) / slope
        offsets.append((t0 + dt) * scale * 1000.0)
    rows = []
    for off in offsets:
        u = rng.random()
        for share, lo_h, hi_h in SURGE_APPOINTMENTS:
            if u < share:
                break
            u -= share
        rows.append((off, rng.uniform(lo_h, hi_h) * 3600 * 1000 * scale))
    if path is not None:
        with open(path, "w") as f:
            f.write("# offset_ms delay_ms: the evening of the seed story, x%.5f in time\n" % scale)
            for off, delay in rows:
                f.write("%.3f %.3f\n" % (off, delay))
    peak_per_min = EVENING_BOOKINGS / (total / 60.0)   # the 1.0 of the shape, per minute
    return dict(scale=scale, peak_per_min=peak_per_min, rows=rows)


def section_surge(R):
    n, seconds = P["surge_events"], P["surge_seconds"]
    limit = max(1, round(n / (2.0 * seconds)))
    burst = max(1, limit // 20)
    R["surge"] = res = dict(events=n, seconds=seconds, limit=limit, burst=burst, runs=[])
    for run in range(RUNS):
        log("surge: run %d/%d: %s bookings in %d s, provider limited to %s/s, 1%% errors"
            % (run + 1, RUNS, fmt_num(n), seconds, fmt_num(limit)))
        run_dir = fresh_dir("surge", "run%d" % run)
        data = os.path.join(run_dir, "var")
        sched = os.path.join(run_dir, "schedule.txt")
        manifest = os.path.join(run_dir, "manifest.tsv")
        info = surge_schedule(n, seconds, sched)
        info.pop("rows")
        res.update(info)
        fake = Fake(run_dir, "infobip", rate=limit, burst=burst, error_rate=0.01, record=True,
                    seed=run + 1, label="fake provider (infobip, limit, 1% errors, record)").start()
        # The pool's retry delays are time too: scaled like the evening
        # (the configuration's minimum for the first).
        retry = res["retry"] = surge_retry(info["scale"])
        pool = Pool(run_dir, data, [fake.provider("surge", limit, burst)],
                    options={"retry.base_ms": retry[0], "retry.cap_ms": retry[1]},
                    label="pool with the provider limited, retry delays scaled")
        samples = []
        stop = threading.Event()

        def sample_loop():
            while not stop.is_set():
                try:
                    st = store_stats(data)
                    samples.append((now_ms(), st["waiting"], st["total"],
                                    st["states"]["sent"], st["states"]["expired"]))
                except Exception:
                    pass
                stop.wait(0.25)
        try:
            pool.start()
            th = threading.Thread(target=sample_loop, daemon=True)
            th.start()
            pub = publish(pool.endpoint, n, "publisher, the surge schedule",
                          extra=["--schedule", sched, "--manifest", manifest, "--seed", 300 + run],
                          log_path=os.path.join(run_dir, "publish"))

            def drained():
                st = store_stats(data)
                return st["waiting"] == 0 and st["total"] == n and st
            final = wait_for(drained, seconds * 20 + 120, "the surge to drain", 0.25)
            time.sleep(0.5)
            stop.set()
            th.join()
            fst = fake.stats()
        finally:
            stop.set()
            pool.stop()
            fake.stop()
        r = surge_result(read_record(fake.record), manifest, pub, samples, final, fst, limit)
        r["run_dir"] = run_dir
        res["runs"].append(r)
    # The chart of the median run.
    runs = sorted(res["runs"], key=lambda r: r["ratio"])
    pick = runs[len(runs) // 2]
    res["chart"], res["curve"] = surge_chart(pick, res)
    for r in res["runs"]:
        rmtree(r.pop("run_dir"))


RETRY_DEFAULT_MS = (1000, 60000)   # retry.base_ms, retry.cap_ms (worker/config.c)
RETRY_MIN_MS = 10                  # the smallest retry.base_ms the configuration takes


def surge_retry(scale):
    """retry.base_ms and retry.cap_ms scaled like the evening's time."""
    base = max(RETRY_MIN_MS, round(RETRY_DEFAULT_MS[0] * scale))
    return base, max(base, round(RETRY_DEFAULT_MS[1] * scale))


def surge_result(rows, manifest, pub, samples, final, fst, limit):
    appointment = {}
    due = {}
    with open(manifest) as f:
        for line in f:
            if line.startswith("#"):
                continue
            idx, phone, appt, due_ms = line.rstrip("\n").split("\t")
            appointment[phone.lstrip("+")] = int(appt)
            due[phone.lstrip("+")] = float(due_ms)
    first_accept = {}
    for t, key, dst, outcome in rows:
        if outcome == "accepted" and dst not in first_accept:
            first_accept[dst] = t
    sent_times = sorted(first_accept.values())
    # Messages in requests answered HTTP 500: the pool's pacer counted them
    # against the limit (it cannot know whether the provider did).
    failed_sends = sum(1 for row in rows if row[3] == "error")
    on_time = sum(1 for dst, t in first_accept.items() if dst in appointment and t < appointment[dst])
    start = pub["start_wall_ms"]
    t_first, t_last = sent_times[0], sent_times[-1]
    sent = len(sent_times)
    ideal_s = sent / limit
    drain_s = (t_last - t_first) / 1000.0
    # The best any sender could do with these arrivals: never above the
    # limit, never sending what has not arrived (a fluid model): the last
    # message leaves at max over i of (arrival i + (N - i) / limit).
    arrivals = sorted(start + d for d in due.values())
    fluid_end = max(a + (len(arrivals) - i) / limit * 1000.0 for i, a in enumerate(arrivals))
    fluid_s = (fluid_end - arrivals[0]) / 1000.0
    return dict(events=len(appointment), sent=sent, on_time=on_time,
                share=on_time / len(appointment), expired=final["states"]["expired"],
                failed=final["states"]["failed"], drain_s=drain_s,
                from_publish_s=(t_last - arrivals[0]) / 1000.0, ideal_s=ideal_s,
                fluid_s=fluid_s, failed_sends=failed_sends, failed_s=failed_sends / limit,
                ratio=drain_s / ideal_s, errors=fst["errors"], throttled=fst["throttled"],
                duplicates=fst["duplicates"], retries=final.get("retries"),
                start=start, sent_times=sent_times, due=sorted(due.values()),
                samples=samples, publish=pub)


def surge_chart(r, res):
    """Data file and gnuplot chart of one run (the chart is built into the
    work directory, never committed); the chart's path (None without
    gnuplot) and the data's rows (second, waiting, booked/s, sent/s)."""
    start = r["start"]
    end_s = (r["sent_times"][-1] - start) / 1000.0 + 2
    nbins = int(end_s) + 1
    booked = [0] * nbins
    sent = [0] * nbins
    for d in r["due"]:
        b = int(d / 1000.0)
        if 0 <= b < nbins:
            booked[b] += 1
    for t in r["sent_times"]:
        b = int((t - start) / 1000.0)
        if 0 <= b < nbins:
            sent[b] += 1
    dat = os.path.join(WORK, "surge", "surge.dat")
    os.makedirs(os.path.dirname(dat), exist_ok=True)
    rows = []
    with open(dat, "w") as f:
        f.write("# seconds waiting booked/s sent/s limit/s\n")
        si = 0
        samples = r["samples"]
        for b in range(nbins):
            t = b + 0.5
            while si + 1 < len(samples) and (samples[si + 1][0] - start) / 1000.0 <= t:
                si += 1
            waiting = samples[si][1] if samples and (samples[si][0] - start) / 1000.0 <= t + 0.5 else 0
            f.write("%.1f %d %d %d %d\n" % (t, waiting, booked[b], sent[b], res["limit"]))
            rows.append((b, waiting, booked[b], sent[b]))
    svg = os.path.join(os.path.dirname(dat), "surge.svg")
    subtitle = ("%s bookings in %d s (the 2.5 h evening x1/%d), provider limit %s/s, 1%% errors"
                % (fmt_num(res["events"]), res["seconds"], round(1 / res["scale"]),
                   fmt_num(res["limit"])))
    cmd = ["gnuplot", "-e", "datafile='%s'; outfile='%s'; subtitle='%s'" % (rel(dat), rel(svg),
                                                                          subtitle),
           os.path.join(ROOT, "bench", "surge.gp")]
    note_cmd("chart", cmd)
    if shutil.which("gnuplot") is None:
        log("surge: gnuplot is missing (scripts/install-deps installs gnuplot-nox): no chart")
        return None, rows
    subprocess.run(cmd, check=True)
    return svg, rows


def report_surge(S, summary):
    o = ["## 6. The surge night\n"]
    o.append("The evening of the seed story (12 July 2021: 926,000 bookings in 2.5 hours, a ramp "
             "to 18,000 a minute at 20:35, a steady half hour, the lull of the commercial break, "
             "a higher second peak at 21:07, then a long tail), replayed with %s bookings in "
             "%d s (time x1/%d). Appointments are 30 min to 6 weeks after booking (5 %% within "
             "3 hours), in the same scaled time; a confirmation expires at its appointment. "
             "The provider (fake, Infobip API) is limited to %s messages/s (+%d burst) and "
             "answers 1 %% of requests with HTTP 500; the limit is set so that the ideal drain "
             "(total / limit) is twice the replay, as SMS platforms needed hours that night. "
             "The pool's retry delays are scaled with the time: retry.base_ms = %d and "
             "retry.cap_ms = %d (the defaults, 1 s and 60 s, would stand for %d s and %d hours "
             "of the evening; %d ms is the smallest base the configuration takes). "
             "Drain: from the first confirmation accepted by the provider to the last.\n"
             % (fmt_num(S["events"]), S["seconds"], round(1 / S["scale"]), fmt_num(S["limit"]),
                S["burst"], S["retry"][0], S["retry"][1], round(RETRY_DEFAULT_MS[0] / S["scale"] / 1000),
                round(RETRY_DEFAULT_MS[1] / S["scale"] / 3600000), RETRY_MIN_MS))
    runs = S["runs"]
    rows = [[fmt_num(r["sent"]), "%.1f s" % r["ideal_s"], "%.1f s" % r["drain_s"],
             "%.1f %%" % (100 * (r["ratio"] - 1)), "%.1f s" % r["fluid_s"],
             "%.1f s" % r["from_publish_s"], "%.1f %%" % (100 * (r["from_publish_s"] / r["fluid_s"] - 1)),
             "%.2f %%" % (100 * r["share"]), fmt_num(r["expired"]), fmt_num(r["errors"]),
             "%s (%.2f s)" % (fmt_num(r["failed_sends"]), r["failed_s"]),
             fmt_num(r["throttled"]), fmt_num(r["duplicates"])] for r in runs]
    o.append(md_table(["sent", "ideal (total / limit)", "drain (first to last sent)", "over ideal",
                       "ideal given the arrivals", "first booking -> last sent", "over that ideal",
                       "sent before the appointment", "expired", "HTTP 500 answered",
                       "messages in them (of the limit)", "throttled", "duplicates"], rows) + "\n")
    o.append("*Ideal given the arrivals*: the earliest any sender could finish with these "
             "bookings arriving when they did, never above the limit (at the start of the ramp "
             "bookings arrive slower than the limit, and no one can send what has not arrived); "
             "the bar compares with total / limit. *Messages in them*: the "
             "messages of the requests answered HTTP 500, sent again later. The pool's pacer counts "
             "them against the limit (it cannot know whether the provider did; this fake "
             "provider does not), so once the backlog is there that is time lost to the others. "
             "So up to about %.1f %% over total / limit is out of this pool's reach in these runs "
             "(median of ideal given the arrivals plus that time; less when requests failed "
             "during the ramp, when the limit was not used up anyway).\n" % (100 * (median([(r["fluid_s"] + r["failed_s"]) / r["ideal_s"]
                                                for r in runs]) - 1)))
    ratio = median([r["ratio"] for r in runs])
    share = median([r["share"] for r in runs])
    summary.append(["surge night drain", "within 3 % of ideal", "%.1f %% over" % (100 * (ratio - 1)),
                    verdict(ratio <= BAR["surge_ratio"])])
    summary.append(["surge night: confirmations sent before the appointment", "(no bar)",
                    "%.2f %%" % (100 * share), "—"])
    curve = S.get("curve") or []
    if curve:
        step = max(1, len(curve) // 12)
        o.append("The median run (by drain time), second by second, every %d s: messages "
                 "waiting, bookings made and messages sent in that second.%s\n"
                 % (step, " `make bench` draws it as a chart into `%s` (built, not committed)."
                    % rel(S["chart"]) if S.get("chart") else ""))
        o.append(md_table(["second", "waiting", "booked", "sent"],
                          [[str(t), fmt_num(w), fmt_num(b), fmt_num(n)]
                           for t, w, b, n in curve[::step]]) + "\n")
    o.append("Bar: drain within 3 % of ideal.\n")
    o.append(commands_block("surge"))
    return "\n".join(o)


# ---- the surge with reschedules and cancellations -----------------------
#
# Assumed, not measured (the seed story gives no figure): of the evening's
# bookings, 6 % are rescheduled and 3 % cancelled 1 to 30 minutes (evening
# time) after they were made.  That evening slots kept opening as centres
# added them, and people who had taken the first slot they found moved to
# an earlier or nearer one; some booked at two centres (or for a relative
# twice) and gave one up.  Within half an hour, because that is when the
# hunt for a better slot happens: a change hours later would meet a queue
# already drained.
REBOOK_SHARE = 0.06
CANCEL_SHARE = 0.03
FOLLOW_MIN = (1.0, 30.0)


def rebook_schedule(n, seconds, path, seed=13):
    """The surge's n bookings and their reschedules and cancellations, in
    due order; returns (bookings, reschedules, cancellations, scale)."""
    import random
    rng = random.Random(seed)
    info = surge_schedule(n, seconds, None)
    scale = info["scale"]
    lines = []   # (offset, delay, kind, original booking's row)
    for i, (off, delay) in enumerate(info["rows"]):
        lines.append((off, delay, "c", i))
        u = rng.random()
        if u < REBOOK_SHARE + CANCEL_SHARE:
            kind = "r" if u < REBOOK_SHARE else "x"
            later = rng.uniform(*FOLLOW_MIN) * 60 * 1000 * scale
            # a new slot: a fresh appointment delay from the same law
            new_delay = surge_schedule(1, seconds, None, seed=rng.randrange(1 << 30))["rows"][0][1] \
                if kind == "r" else delay
            lines.append((off + later, max(new_delay, delay * 0.5), kind, i))
    order = sorted(range(len(lines)), key=lambda j: (lines[j][0], j))
    first_row = {}   # original booking row -> its line in due order
    for pos, j in enumerate(order):
        if lines[j][2] == "c":
            first_row[lines[j][3]] = pos
    counts = {"c": 0, "r": 0, "x": 0}
    with open(path, "w") as f:
        f.write("# offset_ms delay_ms [r|x line]: the surge with reschedules and cancellations\n")
        for j in order:
            off, delay, kind, orig = lines[j]
            counts[kind] += 1
            if kind == "c":
                f.write("%.3f %.3f\n" % (off, delay))
            else:
                f.write("%.3f %.3f %s %d\n" % (off, delay, kind, first_row[orig]))
    return counts["c"], counts["r"], counts["x"], scale


def section_rebook(R):
    n, seconds = P["surge_events"], P["surge_seconds"]
    limit = max(1, round(n / (2.0 * seconds)))
    burst = max(1, limit // 20)
    run_dir = fresh_dir("rebook", "run0")
    data = os.path.join(run_dir, "var")
    sched = os.path.join(run_dir, "schedule.txt")
    bookings, resched, cancels, scale = rebook_schedule(n, seconds, sched)
    events = bookings + resched + cancels
    log("rebook: %s bookings, %s rescheduled, %s cancelled, in %d s; provider limited to %s/s"
        % (fmt_num(bookings), fmt_num(resched), fmt_num(cancels), seconds, fmt_num(limit)))
    fake = Fake(run_dir, "infobip", rate=limit, burst=burst, record=True, seed=7,
                label="fake provider (infobip, limit, record)").start()
    retry = surge_retry(scale)
    pool = Pool(run_dir, data, [fake.provider("surge", limit, burst)],
                options={"retry.base_ms": retry[0], "retry.cap_ms": retry[1]},
                label="pool with the provider limited, retry delays scaled")
    try:
        pool.start()
        pub = publish(pool.endpoint, events, "publisher, the surge with changes",
                      extra=["--schedule", sched, "--seed", 400],
                      log_path=os.path.join(run_dir, "publish"))

        def drained():
            st = store_stats(data)
            return st["waiting"] == 0 and st["total"] == events and st
        final = wait_for(drained, seconds * 20 + 120, "the surge to drain", 0.25)
        time.sleep(0.5)
    finally:
        pool.stop()
        fake.stop()
    rows = read_record(fake.record)
    per_dest = {}
    for t, key, dst, outcome in rows:
        if outcome == "accepted":
            per_dest.setdefault(dst, set()).add(key)
    sent_times = sorted(t for t, key, dst, outcome in rows if outcome == "accepted")
    st = final["states"]
    if any(len(keys) > 2 for keys in per_dest.values()) or len(sent_times) != st["sent"]:
        raise BenchError("rebook: a number got more than 2 SMS, or the provider's count (%d) "
                         "is not the store's (%d)" % (len(sent_times), st["sent"]))
    R["rebook"] = dict(
        events=events, bookings=bookings, resched=resched, cancels=cancels, limit=limit,
        seconds=seconds, scale=scale, sent=st["sent"], superseded=st["superseded"],
        expired=st["expired"], failed=st["failed"], withdrawn_parts=final["segments_withdrawn"],
        accepted=len(sent_times),
        two=sum(1 for keys in per_dest.values() if len(keys) == 2),
        none=bookings - len(per_dest),
        drain_s=(sent_times[-1] - sent_times[0]) / 1000.0 if sent_times else 0.0,
        publish=pub)
    rmtree(run_dir)


def report_rebook(S, summary):
    o = ["## 6b. The surge night with reschedules and cancellations\n"]
    o.append("The surge of section 6 (%s bookings in %d s, provider limited to %s/s, no errors), "
             "with %s reschedules (%.0f %%) and %s cancellations (%.0f %%) of those bookings, "
             "each 1 to 30 minutes of the evening after its booking (%.0f to %.0f s here). "
             "The shares are assumed, not measured (the seed gives none): that evening slots "
             "kept opening and people moved to an earlier or nearer one, or gave up a second "
             "booking. A reschedule or a cancellation is its own event with a later created-at, "
             "same booking id and number; the pool runs its defaults "
             "(`ingest.cancel_notice = if_told`). One run.\n"
             % (fmt_num(S["bookings"]), S["seconds"], fmt_num(S["limit"]), fmt_num(S["resched"]),
                100.0 * S["resched"] / S["bookings"], fmt_num(S["cancels"]),
                100.0 * S["cancels"] / S["bookings"], FOLLOW_MIN[0] * 60 * S["scale"],
                FOLLOW_MIN[1] * 60 * S["scale"]))
    without = S["events"] - S["expired"] - S["failed"]
    saved = S["superseded"]
    rows = [[fmt_num(S["events"]), fmt_num(without), fmt_num(S["sent"]), fmt_num(saved),
             "%.1f %%" % (100.0 * saved / max(1, without)),
             "%.0f s" % (saved / S["limit"]), fmt_num(S["two"]), fmt_num(S["none"]),
             fmt_num(S["expired"])]]
    o.append(md_table(["events", "SMS without superseding", "SMS sent", "SMS saved",
                       "of the SMS", "provider time saved", "numbers that got 2 SMS",
                       "bookings that got none", "expired"], rows) + "\n")
    o.append("*SMS without superseding*: every event not expired or failed, as smsq sent them "
             "before. *SMS saved*: messages superseded (never sent: a confirmation taken back by "
             "its reschedule or cancellation, and a cancellation of a booking the patient was "
             "never told of); at the provider's limit that is the provider time given to the "
             "other patients. *Numbers that got 2 SMS*: a booking whose change came after its "
             "confirmation had gone out (the change is then sent too: the truth). *Bookings "
             "that got none*: cancelled before anything was sent.\n")
    summary.append(["surge night with changes: SMS saved by superseding", "(no bar)",
                    "%s of %s (%.1f %%)" % (fmt_num(saved), fmt_num(without),
                                            100.0 * saved / max(1, without)), "—"])
    o.append(commands_block("rebook"))
    return "\n".join(o)
