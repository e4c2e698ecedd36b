"""bench_curve: what authenticated producers (CURVE) cost ingest: events/s
acked ACCEPTED from 4 producers and the pool's CPU per 1,000 events, with
and without CURVE, the runs alternating on the same machine.

section_curve(R) measures into R["curve"]; report_curve() writes its part of
the report (bench/run calls both)."""

import os
import subprocess

from benchlib import (
    BIN, P, RUNS, BenchError, Sampler, commands_block, fmt_num, fresh_dir, ingest_only_pool,
    log, md_table, median, publish, rmtree, spread)


def keygen(run_dir):
    keys = os.path.join(run_dir, "keys")
    allowed = os.path.join(run_dir, "producers")
    os.makedirs(keys)
    os.makedirs(allowed)
    for name in ("pool", "bench"):
        subprocess.run([os.path.join(BIN, "smsqctl"), "keygen", name, keys], check=True,
                       stdout=subprocess.DEVNULL)
    os.link(os.path.join(keys, "bench.key"), os.path.join(allowed, "bench.key"))
    return keys, allowed


def section_curve(R):
    n = P["ingest_events"]
    R["curve"] = res = {"events": n, "runs": {"plain": [], "curve": []}}
    for run in range(RUNS):
        for mode in ("plain", "curve"):
            log("curve: run %d/%d, %s, %s events" % (run + 1, RUNS, mode, fmt_num(n)))
            run_dir = fresh_dir("curve", "run%d-%s" % (run, mode))
            data = os.path.join(run_dir, "var")
            options, extra = {}, []
            if mode == "curve":
                keys, allowed = keygen(run_dir)
                options = {"ingest.curve_secret_file": os.path.join(keys, "pool.secret"),
                           "ingest.curve_producers": allowed}
                extra = ["--server-key", os.path.join(keys, "pool.key"),
                         "--key", os.path.join(keys, "bench.secret")]
            pool = ingest_only_pool(run_dir, data, label="pool, ingest only, %s" % mode,
                                    options=options)
            with Sampler() as sampler:
                sampler.watch(pool.roles)
                cpu0 = pool.cpu()
                r = publish(pool.endpoint, n, "publisher, 4 producers, %s" % mode, producers=4,
                            log_path=os.path.join(run_dir, "publish"),
                            extra=["--seed", 200 + run] + extra)
                cpu1 = pool.cpu()
            st = pool.stats()
            pool.stop()
            if st["total"] != r["accepted"]:
                raise BenchError("curve: store holds %d, publisher saw %d accepted"
                                 % (st["total"], r["accepted"]))
            r["pool_cpu_per_1000"] = (cpu1 - cpu0) / r["accepted"] * 1000
            res["runs"][mode].append(r)
            rmtree(run_dir)


def report_curve(C, summary):
    o = ["## 10. Authenticated producers (CURVE)\n"]
    o.append("Ingest as in section 1 (4 producers, %s events, an ingest-only pool), once "
             "without CURVE and once with it (`ingest.curve_secret_file`, an allow-list of one "
             "key; the publisher with `--server-key` and `--key`), the runs alternating. With "
             "CURVE every frame is encrypted and authenticated (Curve25519 keys agreed once per "
             "connection, then XSalsa20-Poly1305 per message) on both sides.\n"
             % fmt_num(C["events"]))
    rows = []
    for mode, label in (("plain", "without CURVE"), ("curve", "with CURVE")):
        runs = C["runs"][mode]
        if runs:
            rows.append([label, spread([r["events_per_s"] for r in runs]),
                         spread([r["p50_ms"] for r in runs], 1),
                         spread([r["p99_ms"] for r in runs], 1),
                         spread([r["pool_cpu_per_1000"] for r in runs], 3)])
    o.append(md_table(["4 producers", "events/s acked ACCEPTED", "p50 ms", "p99 ms",
                       "pool CPU-s per 1,000 events"], rows) + "\n")
    plain = median([r["events_per_s"] for r in C["runs"]["plain"]])
    curve = median([r["events_per_s"] for r in C["runs"]["curve"]])
    if plain and curve:
        summary.append(["ingest with CURVE, 4 producers (events/s)", "(no bar)", fmt_num(curve),
                        "%.2f of without" % (curve / plain)])
    o.append(commands_block("curve"))
    return "\n".join(o)
