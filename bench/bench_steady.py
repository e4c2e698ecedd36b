"""bench_steady: a store that stays bounded.  Several times the map's worth
of messages pushed through a pool at a steady rate, once with a retention
of seconds (what is final is purged) and once with the default retention
(nothing is purged within the run): the file size over time, and the rates
of both.

section_steady(R) measures into R["steady"]; report_steady() writes its part
of the report (bench/run calls both)."""

import os
import threading
import time

from benchlib import (
    BenchError, Fake, P, Pool, commands_block, fmt_num, fresh_dir, log, md_table, now_ms,
    publish, rmtree, store_stats, wait_for)

STEADY_RETENTION_S = 2     # the short retention
STEADY_MAP_MB = 256        # store.map_max_mb with it
GROWING_MAP_MB = 8192      # and without (everything stays: it must all fit)


def steady_run(name, n, rate, retention_s, map_mb):
    run_dir = fresh_dir("steady", name)
    data = os.path.join(run_dir, "var")
    fake = Fake(run_dir, "infobip", label="fake provider (infobip, no limit)").start()
    options = {"store.map_max_mb": map_mb, "store.map_size_mb": 64}
    if retention_s:
        options["store.retention_s"] = retention_s
    pool = Pool(run_dir, data, [fake.provider("steady", 1000000)], options=options,
                label="pool, retention %s" % ("%d s" % retention_s if retention_s
                                               else "the default (7 days)"))
    samples = []
    stop = threading.Event()
    path = os.path.join(data, "data.mdb")

    def sample_loop():
        while not stop.is_set():
            try:
                st = store_stats(data)
                samples.append((now_ms(), os.path.getsize(path), st["store_bytes"]["used"],
                                st["total"], st["purged_total"],
                                sum(st["states"][k] for k in ("sent", "failed", "expired"))
                                + st["purged_total"]))
            except (OSError, ValueError, KeyError):
                pass
            stop.wait(0.5)
    try:
        pool.start()
        th = threading.Thread(target=sample_loop, daemon=True)
        th.start()
        t0 = time.monotonic()
        pub = publish(pool.endpoint, n, "publisher, %s events at %s/s" % (fmt_num(n), fmt_num(rate)),
                      producers=2, extra=["-r", rate], log_path=os.path.join(run_dir, "publish"))

        def drained():
            st = store_stats(data)
            return st["waiting"] == 0 and st["total"] == n and st
        final = wait_for(drained, n / rate * 4 + 120, "the steady run to drain", 0.25)
        wall = time.monotonic() - t0
        stop.set()
        th.join()
    finally:
        stop.set()
        pool.stop()
        fake.stop()
    rmtree(run_dir)
    if len(samples) < 8:
        raise BenchError("steady: too few samples")
    # Rates over the first and the last quarter of the run (by samples).
    q = len(samples) // 4

    def rate_of(a, b, col):
        dt = (samples[b][0] - samples[a][0]) / 1000.0
        return (samples[b][col] - samples[a][col]) / dt if dt > 0 else 0.0
    return dict(n=n, rate=rate, retention_s=retention_s, map_mb=map_mb, wall_s=wall, final=final, pub=pub,
                file_end=samples[-1][1], file_max=max(s[1] for s in samples),
                used_end=samples[-1][2],
                file_at=[samples[min(len(samples) - 1, len(samples) * k // 4)][1]
                         for k in range(1, 5)],
                in_first=rate_of(0, q, 3), in_last=rate_of(len(samples) - 1 - q, len(samples) - 1, 3),
                out_first=rate_of(0, q, 5),
                out_last=rate_of(len(samples) - 1 - q, len(samples) - 1, 5),
                purged=final.get("purged_total", 0), p99=pub.get("p99_ms"))


def section_steady(R):
    n, rate = P["steady_events"], P["steady_rate"]
    res = R["steady"] = dict(map_mb=STEADY_MAP_MB, runs=[])
    for retention, map_mb in ((STEADY_RETENTION_S, STEADY_MAP_MB), (0, GROWING_MAP_MB)):
        log("steady: %s events at %s/s, map ceiling %d MiB, retention %s"
            % (fmt_num(n), fmt_num(rate), map_mb, "%d s" % retention if retention else "default"))
        res["runs"].append(steady_run("r%d" % retention, n, rate, retention, map_mb))


def report_steady(S, summary):
    o = ["## 8. A store that stays bounded\n"]
    r0 = S["runs"][0]
    o.append("%s messages (about %.0f times what a map ceiling of %d MiB holds at ~1 KB a "
             "message) published at %s/s by 2 producers to a pool sending them to a fake "
             "provider without a limit; once with `store.retention_s = %d` (final messages "
             "purged 2 s after they went out, their keys with them) and `store.map_max_mb = "
             "%d`, once with the default retention of 7 days (nothing purged within the run) "
             "and a ceiling of %d MiB, so that it all fits. The data file's size is sampled "
             "twice a second; the rates over the first and the last quarter of the run.\n"
             % (fmt_num(r0["n"]), r0["n"] * 1024.0 / (S["map_mb"] << 20), S["map_mb"],
                fmt_num(r0["rate"]), r0["retention_s"], S["map_mb"], GROWING_MAP_MB))
    rows = []
    for r in S["runs"]:
        rows.append(["%d s" % r["retention_s"] if r["retention_s"] else "7 days (default)",
                     " / ".join("%.0f" % (b / 1048576.0) for b in r["file_at"]),
                     "%.0f" % (r["file_max"] / 1048576.0), fmt_num(r["purged"]),
                     "%s -> %s" % (fmt_num(r["in_first"]), fmt_num(r["in_last"])),
                     "%s -> %s" % (fmt_num(r["out_first"]), fmt_num(r["out_last"])),
                     "%.1f" % r["p99"] if r.get("p99") is not None else "—",
                     "%.1f s" % r["wall_s"]])
    o.append(md_table(["retention", "data.mdb at 1/4, 1/2, 3/4, end (MiB)", "largest (MiB)",
                       "purged", "stored/s (first -> last quarter)",
                       "done/s (first -> last quarter)", "ack p99 (ms)", "run"], rows) + "\n")
    flat = S["runs"][0]
    grow = S["runs"][1] if len(S["runs"]) > 1 else None
    summary.append(["steady state: file size with a short retention",
                    "bounded: at the end <= 1.25 x at 1/4",
                    "%.0f MiB at 1/2, %.0f MiB at the end%s"
                    % (flat["file_at"][1] / 1048576.0, flat["file_at"][3] / 1048576.0,
                       " (%.0f MiB without purging)" % (grow["file_at"][3] / 1048576.0)
                       if grow else ""),
                    "meets" if flat["file_at"][3] <= flat["file_at"][0] * 1.25 else "**misses**"])
    o.append(commands_block("steady"))
    return "\n".join(o)
