"""harness: smsq's processes for the integration tests, the benchmarks and
the demo.

Each process is really started, in its own session, on a free loopback
port, and stopped by its process id: SIGTERM as an operator would, then
SIGKILL to its process group when it does not exit in time.  Nothing here
stops a process it did not start.  Every process started is remembered in
LIVE until it is stopped, so that a caller can stop what is left (stop_all())
on any exit.

    Fake    smsq-fakeprovider: its port from its "listening" line, /_stats,
            the record file of what it answered
    Pool    smsq-worker (master, broker, workers): ready once every worker
            said "started" and the ingest endpoint is bound
    run()   a program run to its end (smsq-publish, smsqctl, the load
            generator), its output checked

Programs come from $SMSQ_BIN (a folder, relative to the repository), bin/ by
default.  Failures raise HarnessError, an AssertionError: a test fails with
the message, a script prints it.
"""

import collections
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, os.environ.get("SMSQ_BIN", "bin"))
# The tests may run as root (CI does): a pool started as root runs only if
# its configuration says so, and theirs does.  it_privilege tests the rest.
RUN_AS = ["-o", "pool.user=root"] if os.geteuid() == 0 else []
RECEIVER = os.path.join(ROOT, "examples", "outcomes_receiver.py")
LIVE = []  # the Procs started and not yet stopped

# A record line of the fake provider (fake/fake_record.h).
Rec = collections.namedtuple("Rec", "t_ms api key dest segments status outcome text")
Receipt = collections.namedtuple(
    "Receipt", "t_ms api ref dest status report flags attempts provider_status error")


class HarnessError(AssertionError):
    pass


def read_records(path):
    """A record file of the fake provider: a Rec per message line (its
    delivery reports' lines left out: read_receipts())."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) < 7 or p[2] == "receipt":
                continue  # a line cut short by a kill, or a report's
            out.append(Rec(float(p[0]), p[1], p[2], p[3], int(p[4]), int(p[5]), p[6],
                           p[7] if len(p) > 7 else ""))
    return out


def read_receipts(path):
    """The delivery reports of a record file (fake/fake_record.h): a Receipt
    per report answered or given up."""
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) < 11 or p[2] != "receipt":
                continue
            out.append(Receipt(float(p[0]), p[1], p[3], p[4], int(p[5]), p[6], p[7], int(p[8]),
                               p[9], p[10]))
    return out


def free_port():
    """A loopback TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout_s=60.0, what="condition", interval=0.05):
    """Poll pred() until it returns something true, and return that; raise
    HarnessError after timeout_s (generous: callers run on slow, busy
    machines)."""
    deadline = time.monotonic() + timeout_s
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise HarnessError("timed out after %ss waiting for %s" % (timeout_s, what))
        time.sleep(interval)


def run(cmd, timeout=600, check=True, **kw):
    """Run cmd to its end; its CompletedProcess (text).  check: a non-zero
    exit raises HarnessError with the end of its stderr."""
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and out.returncode != 0:
        raise HarnessError("%s exited %d: %s" % (" ".join(cmd), out.returncode,
                                                 out.stderr[-2000:]))
    return out


def store_stats(data_dir, timeout=120):
    """`smsqctl stats --json` of the store in data_dir."""
    out = run([os.path.join(BIN, "smsqctl"), "-d", data_dir, "stats", "--json"], timeout)
    return json.loads(out.stdout)


def stop_all(timeout_s=20):
    """Stop every process started here and not stopped yet: one SIGTERM
    each (a pool's master takes a second one for "kill everything now"),
    then SIGKILL to the process groups still there after timeout_s."""
    for p in list(LIVE):
        p.send(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for p in list(LIVE):
        Proc.reap(p, max(0.1, deadline - time.monotonic()))


class Proc:
    """One program in its own session; its stderr (and stdout, unless read)
    in log_path.  on_spawn(cmd), when given, is told every command line
    (the benchmarks print them)."""

    on_spawn = None

    def __init__(self, log_path):
        self.log_path = log_path
        self.proc = None

    def spawn(self, cmd, read_stdout=False, stdout_path=None):
        """Start cmd; its stdout to a pipe (read_stdout), to stdout_path, or
        to the log."""
        os.makedirs(os.path.dirname(self.log_path) or ".", exist_ok=True)
        if Proc.on_spawn is not None:
            Proc.on_spawn(self, cmd)
        with open(self.log_path, "ab") as log:
            out = open(stdout_path, "wb") if stdout_path else None
            try:
                self.proc = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE if read_stdout else (out or log), stderr=log,
                    start_new_session=True)
            finally:
                if out is not None:
                    out.close()
        LIVE.append(self)
        return self.proc

    def wait(self, timeout_s):
        """Until it exits by itself; stopped (and HarnessError) after
        timeout_s.  Its exit code."""
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.stop()
            raise HarnessError("%s did not finish within %ss" % (self.log_path, timeout_s))
        self._done()
        return self.proc.returncode

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def send(self, sig):
        """sig to the process, if it still runs."""
        if self.alive():
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def stop(self, sig=signal.SIGTERM, timeout_s=60):
        """sig to the pid, then SIGKILL to its process group if it has not
        exited within timeout_s; the exit code (None if never started)."""
        if self.proc is None:
            return None
        self.send(sig)
        return Proc.reap(self, timeout_s)

    def reap(self, timeout_s):
        """Wait for an exit already asked for; SIGKILL to the process group
        after timeout_s.  The exit code (None if never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill9()
        self._done()
        return self.proc.returncode

    def kill9(self):
        """SIGKILL to the whole process group at once (a crash)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self._done()

    def _done(self):
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.proc.stdout.close()
        if self in LIVE:
            LIVE.remove(self)


class Fake(Proc):
    """smsq-fakeprovider on a free loopback port.  args: its options (--api,
    --rate-limit...); record: keep a record file of every message (of the
    last start: a start removes the one before).  Its clock
    for --outage and --auth-fail starts between spawned_ms and listening_ms
    (wall clock, ms)."""

    def __init__(self, run_dir, name="fake", args=(), record=False):
        super().__init__(os.path.join(run_dir, "fake-%s.log" % name if name != "fake"
                                      else "fake.log"))
        self.name = name
        self.args = [str(a) for a in args]
        self.record_path = os.path.join(run_dir, "record-%s.tsv" % name) if record else None
        self.port = None

    def start(self, timeout_s=30):
        cmd = [os.path.join(BIN, "smsq-fakeprovider"), "--listen", "127.0.0.1:0"] + self.args
        if self.record_path:
            # The fake appends: a record of this start only.
            if os.path.exists(self.record_path):
                os.unlink(self.record_path)
            cmd += ["--record", self.record_path]
        self.spawned_ms = time.time() * 1000
        self.spawn(cmd, read_stdout=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        line = self.proc.stdout.readline().decode() if ready else ""
        m = re.fullmatch(r"listening 127\.0\.0\.1:(\d+)\n", line)
        if not m:
            self.stop()
            raise HarnessError("fake %s: no 'listening' line, got %r; log:\n%s"
                               % (self.name, line, self.log_text()[-3000:]))
        self.listening_ms = time.time() * 1000
        self.port = int(m.group(1))
        self.url = "http://127.0.0.1:%d" % self.port
        return self

    def stats(self, timeout=30):
        with urllib.request.urlopen(self.url + "/_stats", timeout=timeout) as r:
            return json.loads(r.read())

    def records(self):
        """Every line of the record file (read it after stop(): SIGTERM
        flushes it)."""
        if not self.record_path or not os.path.exists(self.record_path):
            return []
        return read_records(self.record_path)

    def provider(self, api, rate_per_s, **over):
        """Options of a [provider.NAME] section of type api pointing here."""
        p = collections.OrderedDict(type=api, base_url=self.url, rate_per_s=rate_per_s)
        if api == "twilio":
            p.update(account="AC" + "0123456789abcdef" * 2, token="test-token",
                     sender="+33644630000")
        else:
            p.update(token="test-key", sender="SMSQTEST")
        p.update(over)
        return p


class Redis(Proc):
    """redis-server on a free loopback port, nothing saved to disk (for
    pace.shared).  stop() ends it; pause()/resume() freeze it (SIGSTOP,
    SIGCONT) as a stalled server; start() again takes the same port."""

    def __init__(self, run_dir, name="redis"):
        super().__init__(os.path.join(run_dir, "%s.log" % name))
        self.dir = os.path.join(run_dir, name)
        self.port = free_port()
        self.addr = "redis://127.0.0.1:%d" % self.port

    def start(self, timeout_s=30):
        os.makedirs(self.dir, exist_ok=True)
        self.spawn(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", self.dir,
                    "--loglevel", "warning"])
        wait_for(self.ping, timeout_s, "redis-server on port %d" % self.port)
        return self

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args):
        """One command (RESP); the first line of its answer."""
        req = b"*%d\r\n" % len(args) + b"".join(
            b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(req)
            return s.recv(4096).split(b"\r\n")[0].decode()

    def pause(self):
        self.send(signal.SIGSTOP)

    def resume(self):
        self.send(signal.SIGCONT)


def busiest_1s(times):
    """Most of times (sorted, in ms) within 1000 consecutive milliseconds."""
    best = i = 0
    for j in range(len(times)):
        while times[j] - times[i] >= 1000:
            i += 1
        best = max(best, j - i + 1)
    return best


def write_config(path, options=None, providers=(), header="; generated"):
    """A configuration file: options {"section.name": value} and providers
    [(name, {option: value})] in failover order.  Returns its text."""
    sections = collections.OrderedDict()
    for key, value in (options or {}).items():
        sec, opt = key.split(".", 1)
        sections.setdefault(sec, collections.OrderedDict())[opt] = value
    lines = [header]
    for sec, opts in sections.items():
        lines.append("[%s]" % sec)
        lines += ["%s = %s" % (k, v) for k, v in opts.items()]
    for name, opts in providers:
        lines.append("[provider.%s]" % name)
        lines += ["%s = %s" % (k, v) for k, v in opts.items()]
    text = "\n".join(lines) + "\n"
    with open(path, "w") as f:
        f.write(text)
    return text


def read_outcomes(path):
    """The outcomes of a receiver's output file, one a line (a last line
    still being written is left out)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in data[:data.rfind(b"\n") + 1].splitlines()]


class Receiver(Proc):
    """examples/outcomes_receiver.py on 127.0.0.1:port (0: a free one, read
    from its first line), appending to out."""

    def __init__(self, tmp, out, port=0, secret="", name="receiver"):
        super().__init__(os.path.join(tmp, name + ".log"))
        self.out = out
        self.port = port
        self.secret = secret

    def start(self, timeout_s=30):
        """Started and listening.  The port of a receiver just killed may take
        a moment to be free: tried again until timeout_s."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.spawn([sys.executable, RECEIVER, "--listen", "127.0.0.1:%d" % self.port,
                        "--secret", self.secret, "--out", self.out], read_stdout=True)
            ready, _, _ = select.select([self.proc.stdout], [], [],
                                        max(0.1, deadline - time.monotonic()))
            line = self.proc.stdout.readline().decode() if ready else ""
            m = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)/outcomes\n", line)
            if m:
                self.port = int(m.group(1))
                self.url = "http://127.0.0.1:%d/outcomes" % self.port
                return self
            self.stop()
            if "Address already in use" not in self.log_text() or time.monotonic() > deadline:
                raise HarnessError("receiver: no 'listening' line, got %r; log:\n%s"
                                           % (line, self.log_text()[-3000:]))
            time.sleep(0.2)

    def outcomes(self):
        return read_outcomes(self.out)

    def lines(self):
        """Outcomes in the output file (cheaper than len(outcomes()))."""
        try:
            with open(self.out, "rb") as f:
                return f.read().count(b"\n")
        except FileNotFoundError:
            return 0

    def answers(self, code):
        """How many requests it answered code (from its log)."""
        return len(re.findall(r" POST /outcomes %d " % code, self.log_text()))

    def repeats(self):
        """Outcomes it dropped as repeats, in all (from its log)."""
        return sum(int(x) for x in re.findall(r'"repeats": (\d+)', self.log_text()))


class Pool(Proc):
    """smsq-worker on a free loopback port, with data_dir as its store.
    workers: -w (None: the configuration's); args: more options (-c FILE,
    -o NAME=VALUE); prefix: a command that execs it, keeping its pid
    (["prlimit", "--nofile=64:64", "--"])."""

    def __init__(self, data_dir, log_path, workers=2, args=(), prefix=()):
        super().__init__(log_path)
        self.data_dir = data_dir
        self.port = free_port()
        self.endpoint = "tcp://127.0.0.1:%d" % self.port
        self.workers = workers
        self.args = list(args)
        self.prefix = list(prefix)

    def command(self):
        # The monitor on a port of its own (written to <dir>/monitor.url):
        # pools of several tests, the demo and a bench may run at once.
        cmd = self.prefix + [os.path.join(BIN, "smsq-worker"), "-d", self.data_dir,
                             "-e", self.endpoint, "-o", "metrics.listen=127.0.0.1:0"] + RUN_AS
        if self.workers is not None:
            cmd += ["-w", str(self.workers)]
        return cmd + self.args  # last: an -o of the caller's wins

    def start(self, wait=True, timeout_s=300):
        self.t_start_ms = time.time() * 1000
        self.spawn(self.command())
        if wait:
            self.wait_ready(timeout_s)
        return self

    def wait_ready(self, timeout_s=300):
        """Until every worker said "started" and the endpoint is bound."""
        def ready():
            if self.proc.poll() is not None:
                raise HarnessError("pool exited at start (%s):\n%s"
                                   % (self.proc.returncode, self.log_text()[-3000:]))
            text = self.log_text()
            m = re.search(r"pool starting: (\d+) workers", text)
            return (m is not None and "ingest endpoint" in text
                    and text.count("started: store") >= int(m.group(1)))
        wait_for(ready, timeout_s, "the pool to start (%s)" % self.log_path)
        self.workers = int(re.search(r"pool starting: (\d+) workers", self.log_text()).group(1))

    def roles(self):
        """{role: pid} of the live master, broker, workers, monitor, outcome
        pusher and receipt endpoint."""
        if not self.alive():
            return {}
        roles = {"master": self.proc.pid}
        alive = set(self.children())
        for role, pid in re.findall(r"started (broker|worker-\d+|monitor|outcome pusher|"
                                    r"receipt endpoint) pid=(\d+)",
                                    self.log_text()):
            if int(pid) in alive:
                roles[role] = int(pid)
        return roles

    def children(self):
        """Pids of the master's children (broker, workers, monitor)."""
        if not self.alive():
            return []
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                             text=True)
        return [int(x) for x in out.stdout.split()]

    def pids(self):
        """Pids of the master's broker and workers (not its monitor)."""
        monitors = {int(p) for p in re.findall(r"started monitor pid=(\d+)", self.log_text())}
        return [p for p in self.children() if p not in monitors]

    def stats(self):
        return store_stats(self.data_dir)

    def monitor_url(self, timeout_s=60):
        """The monitor's address ("http://127.0.0.1:PORT/"), once it listens."""
        path = os.path.join(self.data_dir, "monitor.url")

        def url():
            try:
                with open(path) as f:
                    text = f.read()
            except FileNotFoundError:
                return None
            return text.strip() if text.endswith("\n") else None
        return wait_for(url, timeout_s, "the monitor to listen (%s)" % path)
