"""bench_crypt: what encryption at rest (store.encrypt_key_file) costs: ingest
from 4 producers (events/s acked ACCEPTED, the pool's CPU per 1,000 events),
then the dispatch of that backlog through the fake provider (Infobip, batches
of 100: messages/s, the pool's CPU per 1,000 sent), with and without a key,
the runs alternating on the same machine.

section_crypt(R) measures into R["crypt"]; report_crypt() writes its part of
the report (bench/run calls both)."""

import os
import subprocess

from benchlib import (
    BIN, P, RUNS, BenchError, Fake, Pool, accept_rate, commands_block, fmt_num, fresh_dir,
    ingest_only_pool, log, md_table, median, publish, rmtree, spread, wait_count)

MODES = (("plain", "without a key"), ("sealed", "with store.encrypt_key_file"))


def store_key(run_dir):
    path = os.path.join(run_dir, "store.key")
    subprocess.run([os.path.join(BIN, "smsqctl"), "keygen", "--store", path], check=True,
                   stdout=subprocess.DEVNULL)
    return path


def one_run(run, mode, n):
    run_dir = fresh_dir("crypt", "run%d-%s" % (run, mode))
    data = os.path.join(run_dir, "var")
    options = {"store.encrypt_key_file": store_key(run_dir)} if mode == "sealed" else {}
    pool = ingest_only_pool(run_dir, data, label="pool, ingest only, %s" % mode,
                            options=options)
    try:
        cpu0 = pool.cpu()
        r = publish(pool.endpoint, n, "publisher, 4 producers, %s" % mode, producers=4,
                    log_path=os.path.join(run_dir, "publish"), extra=["--seed", 300 + run])
        cpu1 = pool.cpu()
        st = pool.stats()
    finally:
        pool.stop()
    if st["total"] != r["accepted"]:
        raise BenchError("crypt: store holds %d, publisher saw %d accepted"
                         % (st["total"], r["accepted"]))
    r["pool_cpu_per_1000"] = (cpu1 - cpu0) / r["accepted"] * 1000
    fake = Fake(run_dir, "infobip", label="fake provider (infobip, no limit)").start()
    pool = Pool(run_dir, data, [fake.provider("bench", 1_000_000)], options,
                label="pool with the infobip provider, no limit, %s" % mode)
    try:
        fcpu0 = fake.cpu()
        pool.start()
        pcpu0 = pool.cpu()
        fst = wait_count(fake, r["accepted"], 1800, "the dispatch of %d messages" % r["accepted"])
        pcpu1, fcpu1 = pool.cpu(), fake.cpu()
    finally:
        pool.stop()
        fake.stop()
    sent = fst["unique_accepted"]
    d = dict(rate=accept_rate(fst), sent=sent, pool_cpu=(pcpu1 - pcpu0) / sent * 1000,
             fake_cpu=(fcpu1 - fcpu0) / sent * 1000)
    rmtree(run_dir)
    return r, d


def section_crypt(R):
    n = P["crypt_events"]
    R["crypt"] = res = {"events": n, "ingest": {m: [] for m, _ in MODES},
                        "dispatch": {m: [] for m, _ in MODES}}
    for run in range(RUNS):
        for mode, _ in MODES:
            log("crypt: run %d/%d, %s, %s events" % (run + 1, RUNS, mode, fmt_num(n)))
            r, d = one_run(run, mode, n)
            res["ingest"][mode].append(r)
            res["dispatch"][mode].append(d)


def report_crypt(C, summary):
    o = ["## 11. Encryption at rest\n"]
    o.append("%s events ingested by an ingest-only pool from 4 producers, then the same store "
             "drained by a pool with the fake provider (Infobip, no limit), once without a key "
             "and once with `store.encrypt_key_file` (the event, and the number and text "
             "together, sealed with XChaCha20-Poly1305 at ingest; number and text opened at "
             "each lease; the sending copy in the ready index is the record's ciphertext), the "
             "runs alternating. The machine is 2 shared cores: the figures are noisy, compare "
             "the medians.\n" % fmt_num(C["events"]))
    rows = []
    for mode, label in MODES:
        ing, dis = C["ingest"][mode], C["dispatch"][mode]
        if ing:
            rows.append([label, spread([r["events_per_s"] for r in ing]),
                         spread([r["p50_ms"] for r in ing], 1),
                         spread([r["p99_ms"] for r in ing], 1),
                         spread([r["pool_cpu_per_1000"] for r in ing], 3),
                         spread([d["rate"] for d in dis]),
                         spread([d["pool_cpu"] for d in dis], 3)])
    o.append(md_table(["store", "ingest events/s", "ack p50 ms", "ack p99 ms",
                       "ingest pool CPU-s / 1,000", "dispatch messages/s",
                       "dispatch pool CPU-s / 1,000"], rows) + "\n")
    for part, key, what in (("ingest", "events_per_s", "ingest with encryption at rest, 4 "
                             "producers (events/s)"),
                            ("dispatch", "rate", "dispatch with encryption at rest, batched "
                             "(msg/s)")):
        plain = median([r[key] for r in C[part]["plain"]])
        sealed = median([r[key] for r in C[part]["sealed"]])
        if plain and sealed:
            summary.append([what, "(no bar)", fmt_num(sealed), "%.2f of without" % (sealed / plain)])
    o.append(commands_block("crypt"))
    return "\n".join(o)
