"""benchlib: what the sections of smsq's benchmarks share (bench/run runs
them): the settings from the environment, the processes (the fake provider,
pools with generated configurations, the load generator), the reference
backlog, measurements of processes and disks, formatting of the report.
"""

import json
import math
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import OrderedDict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import harness  # noqa: E402  (tests/harness.py: the processes, shared with the tests)


os.chdir(ROOT)


SECTIONS = ["ingest", "dispatch", "pacing", "scale", "recovery", "surge", "rebook", "faults",
            "steady", "receipts", "curve", "crypt", "shared"]


def env_flag(name):
    return os.environ.get(name, "") not in ("", "0", "no", "false")


BIN = os.environ.get("SMSQ_BIN", "bin")
QUICK = env_flag("BENCH_QUICK")
RUNS = int(os.environ.get("BENCH_RUNS", "1" if QUICK else "3"))
WORK = os.environ.get("BENCH_DIR", "build/bench")
REPORT = os.environ.get("BENCH_REPORT", "BENCHMARKS.md")
KEEP = env_flag("BENCH_KEEP")
ONLY = [s.strip() for s in os.environ.get("BENCH_ONLY", "").split(",") if s.strip()]
CLK_TCK = os.sysconf("SC_CLK_TCK")
NPROC = os.cpu_count() or 1


# Sizes.  Full: what the bar asks for, in about 30 minutes on 2 cores.
# Quick: the same measurements, small.
if QUICK:
    P = dict(ingest_events=100_000, paced_seconds=3, paced_warmup_s=1, ref_events=100_000,
             dispatch_events={"infobip": 30_000, "twilio": 10_000}, scrape_events=100_000,
             pacing_limits=(500, 2000, 10000), pacing_seconds=4,
             scale_levels=(20_000, 100_000, 300_000), scale_take=4_000,
             recovery_leases=(2000,), recovery_rate=5000, recovery_tail_s=5,
             pool_kill_backlog=100_000,
             surge_events=8_000, surge_seconds=20,
             faults_lower_s=60, faults_events=5_000, faults_key_events=1_000, faults_key_s=10,
             steady_events=200_000, steady_rate=20_000, crypt_events=50_000,
             shared_events=4_000)
else:
    P = dict(ingest_events=1_000_000, paced_seconds=10, paced_warmup_s=1, ref_events=1_000_000,
             dispatch_events={"infobip": 200_000, "twilio": 50_000}, scrape_events=1_000_000,
             pacing_limits=(500, 2000, 10000), pacing_seconds=15,
             scale_levels=(100_000, 1_000_000, 5_000_000), scale_take=80_000,
             recovery_leases=(2000, 5000), recovery_rate=5000, recovery_tail_s=5,
             pool_kill_backlog=1_000_000,
             surge_events=40_000, surge_seconds=30,
             faults_lower_s=90, faults_events=10_000, faults_key_events=2_000, faults_key_s=30,
             steady_events=1_500_000, steady_rate=40_000, crypt_events=200_000,
             shared_events=20_000)


VELOCITY_OPTIONS = OrderedDict([("velocity.range_per_minute", 100_000),
                                ("velocity.range_per_hour", 1_000_000 - 1),
                                ("velocity.slots", 8_388_608)])
CHUNK = 1_000_000          # events per publisher run when building a backlog
WARMUP_TAKE = 1_000 if QUICK else 10_000  # scale: messages a fresh pool sends before the rate is taken
INGEST_WINDOW = 4096       # per producer (the library's default)
PACING_WARMUP_S = 1.0      # pacing: the average starts 1 s after the first message
DRAIN_POLL_S = 0.05        # how often /_stats is read while waiting for a count
SAMPLE_S = 0.2             # process sampler period
EVENING_S = 150 * 60       # the seed story: 926,000 bookings in 2.5 hours
EVENING_BOOKINGS = 926_000
# The project's bar (README, Benchmarks).
BAR = dict(ingest_rate=100_000, ingest_p99_ms=20, dispatch_batch=50_000, dispatch_single=15_000,
           cpu_per_1000=0.1, rss_mib=32, disk_per_msg=1024, take_ratio=0.90, surge_ratio=1.03,
           pacing_avg=0.98)


class BenchError(Exception):
    pass


# What stops a section: its own checks, or a process that did not behave.
SECTION_ERRORS = (BenchError, harness.HarnessError)


def log(msg):
    print("bench: " + msg, flush=True)


def now_ms():
    return time.time() * 1000.0


free_port = harness.free_port


def rel(path):
    """A path as the report shows it (relative to the repository)."""
    try:
        return os.path.relpath(path, ROOT)
    except ValueError:
        return path


def fmt_num(v, digits=0):
    if v is None:
        return "n/a"
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return "n/a"
    return "{:,.{d}f}".format(v, d=digits)


def median(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def spread(values, digits=0, unit=""):
    """'median (min-max)' over the runs, or the single value."""
    vals = [v for v in values if v is not None]
    if not vals:
        return "n/a"
    m = statistics.median(vals)
    s = fmt_num(m, digits) + unit
    if len(vals) > 1:
        s += " ({}–{})".format(fmt_num(min(vals), digits), fmt_num(max(vals), digits))
    return s


def verdict(ok):
    if ok is None:
        return "n/a"
    return "meets" if ok else "**misses**"


def mib(kb):
    return None if kb is None else kb / 1024.0


COMMANDS = OrderedDict()   # section -> OrderedDict(label -> command line)
SECTION = ["setup"]


def note_cmd(label, cmd):
    sec = COMMANDS.setdefault(SECTION[0], OrderedDict())
    if label not in sec:
        sec[label] = " ".join(shlex.quote(rel(c) if os.path.exists(c) else c) for c in cmd)


# Every command line a section starts goes into its part of the report.
harness.Proc.on_spawn = lambda p, cmd: note_cmd(getattr(p, "label", "process"), cmd)


def cleanup():
    """Stop every process still running that a section started."""
    harness.stop_all()


def on_signal(sig, frame):
    raise KeyboardInterrupt()


def run_tool(cmd, label=None, timeout=600):
    if label:
        note_cmd(label, cmd)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise BenchError("%s failed (%d): %s" % (" ".join(cmd), out.returncode, out.stderr[-2000:]))
    return out.stdout


wait_for = harness.wait_for


def rmtree(path):
    if not KEEP:
        shutil.rmtree(path, ignore_errors=True)


def fresh_dir(*parts):
    d = os.path.join(WORK, *parts)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def du_bytes(path):
    out = subprocess.run(["du", "-sb", "--apparent-size", path], capture_output=True, text=True)
    apparent = int(out.stdout.split()[0]) if out.returncode == 0 else None
    out = subprocess.run(["du", "-sk", path], capture_output=True, text=True)
    allocated = int(out.stdout.split()[0]) * 1024 if out.returncode == 0 else None
    return apparent, allocated


def proc_rss_anon_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def proc_stat_fields(pid):
    """The fields of /proc/PID/stat after the command's name (state first),
    or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return data[data.rindex(")") + 2:].split()


def proc_cpu_s(pid):
    fields = proc_stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK   # utime, stime


def proc_minflt(pid):
    """Page faults of pid served without a disk read (minflt), or None."""
    fields = proc_stat_fields(pid)
    return int(fields[7]) if fields is not None else None


def block_stat_path(path):
    """/sys/block/<disk>/stat of the disk holding path (its whole disk for a
    partition), or None."""
    try:
        st = os.stat(path)
        sysdir = os.path.realpath("/sys/dev/block/%d:%d" % (os.major(st.st_dev), os.minor(st.st_dev)))
    except OSError:
        return None
    if os.path.exists(os.path.join(sysdir, "partition")):
        sysdir = os.path.dirname(sysdir)
    stat = os.path.join(sysdir, "stat")
    return stat if os.path.exists(stat) else None


def device_written(path):
    """Bytes written so far to the disk holding path (sectors written x 512, from
    /sys/block/<disk>/stat: what reached the device, whoever wrote it), or None.
    Not /proc/PID/io write_bytes: on recent kernels ext4 accounts a whole large
    folio per dirtied page there, ~30x what reaches the disk."""
    return device_bytes(path, 6)


def device_read(path):
    """Bytes read so far from the disk holding path (sectors read x 512), or None."""
    return device_bytes(path, 2)


def device_bytes(path, field):
    """Sectors x 512 of field `field` of /sys/block/<disk>/stat, or None."""
    stat = block_stat_path(path)
    if stat is None:
        return None
    try:
        with open(stat) as f:
            return int(f.read().split()[field]) * 512
    except (OSError, ValueError, IndexError):
        return None


def proc_children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


class Sampler:
    """Samples RssAnon of watched processes every SAMPLE_S in a thread and
    keeps the largest value per role ("master", "broker", "worker-1", "fake
    provider"...)."""

    def __init__(self):
        self.sources = []        # callables returning {role: pid}
        self.max_rss = {}        # role -> kB
        self.stop_ev = threading.Event()
        self.thread = None

    def watch(self, source):
        self.sources.append(source)

    def sample(self):
        for src in list(self.sources):
            try:
                roles = src()
            except Exception:
                continue
            for role, pid in roles.items():
                kb = proc_rss_anon_kb(pid)
                if kb is not None and kb > self.max_rss.get(role, -1):
                    self.max_rss[role] = kb

    def loop(self):
        while not self.stop_ev.is_set():
            self.sample()
            self.stop_ev.wait(SAMPLE_S)

    def __enter__(self):
        self.stop_ev.clear()    # entered again: the largest values so far are kept
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.thread.join()
        self.sample()


class Fake(harness.Fake):
    """The fake provider (harness.Fake) as the sections set it up: an API, a
    limit, an error rate, a record file; a label for the report."""

    def __init__(self, run_dir, api, rate=0, burst=0, error_rate=0.0, record=False, seed=1,
                 label="fake provider", extra=()):
        args = ["--api", api, "--seed", seed] + list(extra)
        if rate:
            args += ["--rate-limit", rate, "--burst", burst]
        if error_rate:
            args += ["--error-rate", error_rate]
        super().__init__(run_dir, "fake", args, record=record)
        self.api = api
        self.label = label

    @property
    def record(self):
        return self.record_path

    def roles(self):
        return {"fake provider": self.pid} if self.alive() else {}

    def cpu(self):
        return (proc_cpu_s(self.pid) or 0.0) if self.pid else 0.0

    def provider(self, name, rate, burst=None, count="messages"):
        """The [provider.NAME] section pointing at this fake."""
        p = super().provider(self.api, rate, count=count)
        if burst is not None:
            p["burst"] = burst
        if self.api == "twilio":
            p.update(token="bench-token")
        else:
            p.update(token="bench-key", sender="SMSQBENCH")
        return name, p


class Pool(harness.Pool):
    """A pool (harness.Pool) with a generated configuration: providers
    [(name, options)], options {"section.name": value}; a label for the
    report.  Each start takes a new port and writes a new configuration."""

    counter = 0

    def __init__(self, run_dir, data_dir, providers=(), options=None, label="pool"):
        super().__init__(data_dir, os.path.join(run_dir, "pool.log"), workers=None)
        self.dir = run_dir
        self.data = data_dir
        self.providers = list(providers)
        self.options = options or {}
        self.label = label

    def write_conf(self):
        Pool.counter += 1
        self.port = free_port()
        self.endpoint = "tcp://127.0.0.1:%d" % self.port
        self.conf = os.path.join(self.dir, "pool-%d.conf" % Pool.counter)
        self.log_path = os.path.join(self.dir, "pool-%d.log" % Pool.counter)
        # The monitor on a free port (several pools may run at once).
        options = OrderedDict([("store.dir", self.data), ("ingest.endpoint", self.endpoint),
                               ("metrics.listen", "127.0.0.1:0")])
        # The velocity limits on, as in production, but the ranges' far
        # above the benchmarks' load: every section publishes millions of
        # French numbers in seconds (a block of 10,000 numbers gets a few
        # hundred a minute, no booking platform's traffic), and the scale
        # section 5 million distinct numbers (a table of 8 Mi slots).
        options.update(VELOCITY_OPTIONS)
        options.update(self.options)
        text = harness.write_config(self.conf, options, self.providers,
                                    header="; generated by bench/run")
        CONFIGS.setdefault(SECTION[0], OrderedDict()).setdefault(self.label, text.rstrip("\n"))

    def command(self):
        return [os.path.join(BIN, "smsq-worker"), "-c", self.conf] + harness.RUN_AS

    def start(self, wait=True):
        self.write_conf()
        return super().start(wait)

    def cpu(self):
        return sum(proc_cpu_s(pid) or 0.0 for pid in self.roles().values())

    def written(self):
        """Bytes written so far to the disk holding the store (the whole disk:
        the bench runs on a quiet machine; 0 when the kernel does not say)."""
        return device_written(self.data) or 0

    def read(self):
        """Bytes read so far from the disk holding the store: pages of the
        map that were not in the page cache."""
        return device_read(self.data) or 0

    def minflt(self):
        """Page faults without a disk read so far, summed over the pool's
        processes (a first touch of a page of the map already in the page
        cache is one)."""
        return sum(proc_minflt(pid) or 0 for pid in self.roles().values())

    def stop(self):
        return super().stop(timeout_s=120)


CONFIGS = OrderedDict()


def store_stats(data_dir):
    return json.loads(run_tool([os.path.join(BIN, "smsqctl"), "-d", data_dir, "stats", "--json"]))


def publish(endpoint, n, label, producers=1, window=INGEST_WINDOW, extra=(), log_path=None,
            timeout=3600, expect_all=True):
    """Run smsq-bench-publish; its JSON summary."""
    cmd = [os.path.join(BIN, "smsq-bench-publish"), "-e", endpoint, "-n", str(n),
           "-P", str(producers), "-w", str(window)] + [str(x) for x in extra]
    base = log_path or os.path.join(WORK, "publish")
    pub = harness.Proc(base + ".err")
    pub.label = label
    pub.spawn(cmd, stdout_path=base + ".out")
    rc = pub.wait(timeout)
    with open(base + ".out") as f:
        lines = [ln for ln in f.read().splitlines() if ln.startswith("{")]
    if not lines:
        raise BenchError("publisher printed no summary (rc %s): %s" % (rc, cmd))
    res = json.loads(lines[-1])
    if expect_all and res["accepted"] + res["duplicate"] != res["events"]:
        raise BenchError("publisher: not every event accepted: %s" % lines[-1])
    return res


def ingest_only_pool(run_dir, data_dir, label="pool, ingest only (no provider)", options=None):
    return Pool(run_dir, data_dir, (), options, label).start()


def build_backlog(run_dir, data_dir, n, first_index=0, extra=(), sampler=None,
                  label="publisher, building a backlog", producers=4):
    """n more ready messages in data_dir (an ingest-only pool, chunks of CHUNK
    events, 4 producers); the publishers' summaries."""
    pool = ingest_only_pool(run_dir, data_dir)
    if sampler:
        sampler.watch(pool.roles)
    results = []
    try:
        done = 0
        while done < n:
            k = min(CHUNK, n - done)
            results.append(publish(pool.endpoint, k, label, producers=producers,
                                   extra=["--first-index", first_index + done, "--seed", 11]
                                   + list(extra),
                                   log_path=os.path.join(run_dir, "publish-backlog")))
            done += k
    finally:
        pool.stop()
    return results


def copy_store(src_dir, dst_dir):
    """dst_dir gets a copy of the store in src_dir (only data.mdb: LMDB
    recreates its lock file, the pool its pacing file)."""
    os.makedirs(dst_dir, mode=0o700, exist_ok=True)  # the pool refuses one others may write
    dst = os.path.join(dst_dir, "data.mdb")
    subprocess.run(["cp", "--sparse=always", os.path.join(src_dir, "data.mdb"), dst], check=True)
    # On disk before the pool starts: otherwise the pool's first commit
    # (LMDB's fdatasync) writes back the whole copy, and a section that
    # counts bytes written or times a start would count the copy.
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Reference:
    """One store with P['ref_events'] ready messages (random appointments),
    built once (or taken from the ingest section's 4-producer run) and copied
    for the sections that need a large backlog to drain."""

    def __init__(self):
        self.dir = os.path.join(WORK, "ref")
        self.n = P["ref_events"]
        self.ready = False

    def adopt(self, data_dir, n):
        if self.ready or n != self.n:
            return False
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        shutil.move(os.path.join(data_dir, "data.mdb"), os.path.join(self.dir, "data.mdb"))
        self.ready = True
        return True

    def build(self):
        log("building the reference backlog: %s ready messages" % fmt_num(self.n))
        run_dir = fresh_dir("ref-build")
        data = os.path.join(run_dir, "var")
        build_backlog(run_dir, data, self.n, first_index=50_000_000)
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        shutil.move(os.path.join(data, "data.mdb"), os.path.join(self.dir, "data.mdb"))
        rmtree(run_dir)
        self.ready = True

    def copy_to(self, data_dir):
        """data_dir gets a copy of the store (only data.mdb: LMDB recreates its lock
        file, the pool its pacing file); returns the number of messages."""
        if not self.ready:
            self.build()
        copy_store(self.dir, data_dir)
        return self.n

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


REF = Reference()


def read_record(path):
    """The fake provider's record: [(time_ms, key, destination, outcome)]."""
    return [(r.t_ms, r.key, r.dest, r.outcome) for r in harness.read_records(path)]


def busiest_window(times_ms, window_ms=1000):
    """Most events in any window of window_ms consecutive milliseconds, the
    times cut to the millisecond (as the fake provider counts)."""
    ts = sorted(int(t) for t in times_ms)
    best = j = 0
    for i, t in enumerate(ts):
        while ts[j] <= t - window_ms:
            j += 1
        best = max(best, i - j + 1)
    return best


def wait_count(fake, target, timeout_s, what):
    """Poll /_stats until unique_accepted >= target; the stats then."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        st = fake.stats()
        if st["unique_accepted"] >= target:
            return st
        time.sleep(DRAIN_POLL_S)
    raise BenchError("timed out waiting for %s (%d/%d accepted)" % (what, st["unique_accepted"],
                                                                     target))


def accept_rate(st):
    span = (st["last_accept_ms"] - st["first_accept_ms"]) / 1000.0 if st["first_accept_ms"] else 0
    return st["unique_accepted"] / span if span > 0 else None


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def commands_block(section):
    lines = []
    for label, cmd in COMMANDS.get(section, {}).items():
        lines.append("# " + label)
        lines.append(cmd)
    confs = CONFIGS.get(section, {})
    out = "Commands (as run, first run; ports and directories change per run):\n\n```sh\n" \
        + "\n".join(lines) + "\n```\n"
    for label, text in confs.items():
        out += "\nConfiguration of the " + label + ":\n\n```ini\n" + text + "\n```\n"
    return out
