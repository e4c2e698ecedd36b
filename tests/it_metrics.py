"""it_metrics: the pool's /metrics as Prometheus sees it, and the files of
etc/prometheus and etc/grafana against it.

One fake provider (limited to RATE messages a second), one pool paced at
that rate, and a real Prometheus (Debian's, which scripts/install-deps
installs) scraping the pool's monitor every second with the alerting rules
of etc/prometheus/smsq-rules.yml loaded, on a free loopback port with its
database in the test's temporary directory; all three are started once for
the file and stopped by their process ids.  The tests:

  - a backlog published at once drains, as Prometheus' query API reads it:
    the due backlog falls to nothing, and the send rate (Prometheus' rate()
    of smsq_messages_sent_total, and the pool's own
    smsq_provider_used_per_second) is close to the provider's limit;
  - `promtool check metrics` takes the exposition without a word: its lint
    warnings (a counter without _total, a unit not in base units...) make it
    exit non-zero, and any of them is a naming problem of watch/report.c;
  - `promtool check rules`, `promtool test rules` (smsq-rules.test.yml: each
    alert fires, and does not where it must not) and `promtool check config`
    of the example prometheus.yml pass; in the running Prometheus every rule
    evaluates against the pool's real series without an error;
  - every smsq_* name in the rules file, the dashboard and the "Prometheus
    and Grafana" section of docs/OPERATIONS.md is a metric the pool exports
    (a histogram's _bucket, _sum and _count are its own); the check is
    itself checked on a made-up name;
  - the dashboard is well-formed (its data source a variable, panels inside
    the grid), its pool variable finds the pool, and each of its queries,
    with Grafana's variables filled in, runs in Prometheus and returns
    series whose values, where a panel names them (the drain's state, the
    circuits), have a name.

Missing prometheus or promtool fails the file with a message, never skips.
SMSQ_KEEP_TMP=1 keeps the directory (pool log, Prometheus' log and config).
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import harness
import itlib
from itlib import wait_for

ROOT = itlib.ROOT
RULES = os.path.join(ROOT, "etc", "prometheus", "smsq-rules.yml")
RULES_TEST = os.path.join(ROOT, "etc", "prometheus", "smsq-rules.test.yml")
PROM_CONFIG = os.path.join(ROOT, "etc", "prometheus", "prometheus.yml")
DASHBOARD = os.path.join(ROOT, "etc", "grafana", "smsq-dashboard.json")
OPERATIONS = os.path.join(ROOT, "docs", "OPERATIONS.md")

RATE = 400     # the fake's limit and the pool's rate_per_s, messages a second
EVENTS = 7000  # about 18 s of sending at RATE
NAME_RE = re.compile(r"\bsmsq_[a-z0-9_]+")
HIST_SUFFIXES = ("_bucket", "_sum", "_count")


def tool(name):
    """The path of a program of the prometheus package; a clear failure
    when it is missing (scripts/install-deps installs it)."""
    path = shutil.which(name) or ("/usr/bin/" + name if os.access("/usr/bin/" + name, os.X_OK)
                                  else None)
    if path is None:
        raise AssertionError("%s not found: it_metrics needs Debian's prometheus package "
                             "(scripts/install-deps installs it)" % name)
    return path


def exposition_types(text):
    """{metric name: type} from the # TYPE lines of a text exposition."""
    return dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))


def unknown_names(text, types):
    """smsq_* names referred to in text that the exposition does not have:
    NAME_bucket, NAME_sum and NAME_count stand for a histogram NAME."""
    bad = set()
    for name in set(NAME_RE.findall(text)):
        if name in types:
            continue
        base = next((name[:-len(s)] for s in HIST_SUFFIXES if name.endswith(s)), None)
        if base is None or types.get(base) != "histogram":
            bad.add(name)
    return bad


def operations_section():
    """The "Prometheus and Grafana" section of docs/OPERATIONS.md."""
    with open(OPERATIONS, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^## Prometheus and Grafana\n.*?(?=^## |\Z)", text, re.M | re.S)
    if m is None:
        raise AssertionError("docs/OPERATIONS.md has no section \"## Prometheus and Grafana\"")
    return m.group(0)


def dashboard_exprs(dash):
    """(panel, query) of every query of the dashboard (rows' panels
    included)."""
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append((p, t["expr"]))
            walk(p.get("panels", []))
    walk(dash["panels"])
    return out


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


class Prometheus(harness.Proc):
    """A Prometheus of its own: config and database in run_dir, its web
    server on a free loopback port, scraping the pool's monitor at target
    (host:port) every second and evaluating rule_files every second."""

    def __init__(self, run_dir, target, rule_files):
        super().__init__(os.path.join(run_dir, "prometheus.log"))
        self.run_dir = run_dir
        self.port = harness.free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.config = os.path.join(run_dir, "prometheus.yml")
        with open(self.config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "  evaluation_interval: 1s\n"
                    "rule_files:\n" + "".join("  - %s\n" % json.dumps(r) for r in rule_files)
                    + "scrape_configs:\n  - job_name: smsq\n    metrics_path: /metrics\n"
                    "    static_configs:\n      - targets: [%s]\n" % json.dumps(target))

    def start(self, timeout_s=60):
        self.spawn([tool("prometheus"), "--config.file=" + self.config,
                    "--storage.tsdb.path=" + os.path.join(self.run_dir, "tsdb"),
                    "--web.listen-address=127.0.0.1:%d" % self.port,
                    "--storage.tsdb.retention.time=1d", "--log.level=warn"])

        def ready():
            if not self.alive():
                raise AssertionError("prometheus exited (%s):\n%s"
                                     % (self.proc.returncode, self.log_text()[-3000:]))
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False
        wait_for(ready, timeout_s, "prometheus to be ready (%s)" % self.log_path, interval=0.2)
        return self

    def api(self, path, **params):
        """The data of a /api/v1 answer; AssertionError with Prometheus'
        error otherwise."""
        url = "%s/api/v1/%s?%s" % (self.url, path, urllib.parse.urlencode(params))
        try:
            body = http_get(url)
        except urllib.error.HTTPError as e:
            body = e.read().decode()
        answer = json.loads(body)
        if answer.get("status") != "success":
            raise AssertionError("%s: %s: %s" % (path, params, answer.get("error", answer)))
        return answer["data"]

    def query(self, expr, **params):
        """An instant query's vector: [(labels, float value)]."""
        data = self.api("query", query=expr, **params)
        if data["resultType"] != "vector":
            raise AssertionError("%s: a %s, not a vector" % (expr, data["resultType"]))
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    def value(self, expr):
        """The one value of expr now (None: no series)."""
        v = self.query(expr)
        if len(v) > 1:
            raise AssertionError("%s: %d series: %s" % (expr, len(v), v))
        return v[0][1] if v else None


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.promtool_bin = tool("promtool")
        tool("prometheus")
        cls.tmp = tempfile.mkdtemp(prefix="smsq-it-metrics-")
        cls.fake = cls.pool = cls.prom = None
        try:
            cls.start_all()
        except BaseException:
            cls.stop_all()
            raise

    @classmethod
    def start_all(cls):
        # The fake allows a little more than the pool sends, so that the
        # rate is the pool's pacing, not throttling.
        cls.fake = harness.Fake(cls.tmp, "primary",
                                ["--api", "webhook", "--rate-limit", RATE,
                                 "--burst", RATE // 4]).start()
        cfg = os.path.join(cls.tmp, "smsq.conf")
        harness.write_config(cfg, {"retry.base_ms": 200, "retry.cap_ms": 2000}, [
            ("primary", {"type": "webhook", "base_url": cls.fake.url + "/webhook",
                         "rate_per_s": RATE, "burst": 20, "count": "messages",
                         "concurrency": 64, "timeout_ms": 5000})])
        cls.pool = itlib.Pool(os.path.join(cls.tmp, "var"), workers=2, args=["-c", cfg])
        cls.pool.start()
        monitor = cls.pool.monitor_url()
        cls.monitor = monitor.rstrip("/")
        target = urllib.parse.urlparse(monitor).netloc
        cls.prom = Prometheus(cls.tmp, target, [RULES]).start()
        # Three scrapes: rate() over a few seconds has samples.
        wait_for(lambda: cls.prom.query('count_over_time(up{job="smsq"}[1m]) >= 3'), 60,
                 "three scrapes of the pool")
        if cls.prom.value('up{job="smsq"}') != 1:
            raise AssertionError("prometheus cannot scrape %s:\n%s"
                                 % (monitor, cls.prom.log_text()[-3000:]))

    @classmethod
    def stop_all(cls):
        """Stop what was started; the pool's exit code (None: not started)."""
        code = None
        for p in (cls.prom, cls.pool, cls.fake):
            if p is not None:
                rc = p.stop()
                if p is cls.pool:
                    code = rc
        return code

    @classmethod
    def tearDownClass(cls):
        code = cls.stop_all()
        # The pool, scraped all along, stops cleanly (SIGTERM: exit 0) and
        # without a sanitizer's report.
        log = cls.pool.log_text()
        bad = [b for b in ("AddressSanitizer", "LeakSanitizer", "runtime error:") if b in log]
        if os.environ.get("SMSQ_KEEP_TMP") or code != 0 or bad:
            print("\n  kept " + cls.tmp)
        else:
            shutil.rmtree(cls.tmp, ignore_errors=True)
        if code != 0 or bad:
            raise AssertionError("the pool exited %s %s:\n%s" % (code, bad, log[-3000:]))

    def exposition(self):
        return http_get(self.monitor + "/metrics")

    # ---- Prometheus watches a drain --------------------------------------

    def events(self, n):
        """n events due now (no reminders), as NDJSON."""
        now = int(time.time() * 1000)
        path = os.path.join(self.tmp, "events.ndjson")
        with open(path, "w", encoding="utf-8") as f:
            for i in range(n):
                f.write(json.dumps({
                    "version": 1, "idempotency_key": "m-%d" % i, "booking_id": "B-m-%d" % i,
                    "kind": "confirmed", "phone": "+33655%06d" % i, "locale": "fr-FR",
                    "patient_name": "Camille Martin", "practitioner_name": "Dr Lefèvre",
                    "place": "Centre de vaccination de Nîmes", "appointment_at": now + 86400000,
                    "time_zone": "Europe/Paris", "created_at": now}, ensure_ascii=False) + "\n")
        return path

    def test_prometheus_sees_the_backlog_drain_at_the_limit(self):
        path = self.events(EVENTS)
        out = subprocess.run([os.path.join(itlib.BIN, "smsq-publish"), "-e", self.pool.endpoint,
                              "--json-summary", path], capture_output=True, text=True,
                             timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["accepted"], EVENTS, out.stdout)
        # What Prometheus says, once a second, until the backlog is gone.
        seen = []  # (s since the last event went in, due backlog, rate() of sent, used)
        t0 = time.monotonic()
        while time.monotonic() < t0 + 60:
            due = self.prom.value('smsq_backlog_due_messages{job="smsq"}')
            rate = self.prom.value('sum(rate(smsq_messages_sent_total{job="smsq"}[5s]))')
            used = self.prom.value('sum(smsq_provider_used_per_second{job="smsq"})')
            seen.append((time.monotonic() - t0, due, rate, used))
            if due == 0 and len(seen) > 3:
                break
            time.sleep(1)
        text = "\n".join("%4.1f s: due %s, rate %s, used %s" % s for s in seen)
        dues = [s[1] for s in seen]
        peak = max(range(len(dues)), key=lambda i: dues[i])
        # Samples taken before the last events were in may rise; from the
        # peak on nothing arrives and the backlog only falls.
        self.assertGreaterEqual(dues[peak], EVENTS / 2, text)
        after = dues[peak:]
        self.assertEqual(after, sorted(after, reverse=True), "the backlog rose again:\n" + text)
        self.assertGreaterEqual(len(set(after)), 5, "too few steps down:\n" + text)
        self.assertEqual(after[-1], 0, "not drained within 60 s:\n" + text)
        # The rate while the pool had plenty to send: each figure is an
        # average over a window that must lie inside the drain (rate()'s
        # 5 s; the monitor's 10 samples, a second apart), so samples from a
        # window past the start, and before the backlog is gone.
        for i, what, window_s in ((2, "rate(smsq_messages_sent_total[5s])", 6),
                                  (3, "smsq_provider_used_per_second", 11)):
            vals = sorted(s[i] for s in seen if s[0] >= window_s and s[1] > 0 and
                          s[i] is not None and s[i] == s[i])
            self.assertGreaterEqual(len(vals), 3, "%s: too few samples:\n%s" % (what, text))
            median = vals[len(vals) // 2]
            self.assertGreater(median, RATE * 0.75, "%s:\n%s" % (what, text))
            self.assertLess(median, RATE * 1.15, "%s:\n%s" % (what, text))
        print("\n  limit %d/s, seen through Prometheus: %s" % (RATE, text.replace("\n", "; ")),
              end=" ", flush=True)

    # ---- promtool ----------------------------------------------------------

    def promtool(self, *args, **kw):
        return subprocess.run([self.promtool_bin] + list(args), capture_output=True, text=True,
                              timeout=120, **kw)

    def test_promtool_accepts_the_exposition(self):
        out = self.promtool("check", "metrics", input=self.exposition())
        self.assertEqual((out.returncode, out.stdout + out.stderr), (0, ""),
                         "promtool check metrics: lint problems in /metrics")
        # What would fail: a counter without _total.
        out = self.promtool("check", "metrics",
                            input="# HELP smsq_x A counter.\n# TYPE smsq_x counter\nsmsq_x 1\n")
        self.assertNotEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_promtool_checks_and_tests_the_rules(self):
        out = self.promtool("check", "rules", RULES)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        out = self.promtool("test", "rules", RULES_TEST)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("SUCCESS", out.stdout)
        out = self.promtool("check", "config", PROM_CONFIG)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_every_rule_evaluates_against_the_pool(self):
        with open(RULES) as f:
            n_alerts = len(re.findall(r"^\s*- alert: ", f.read(), re.M))

        def evaluated():
            rules = [r for g in self.prom.api("rules")["groups"] for r in g["rules"]]
            if len(rules) != n_alerts:
                raise AssertionError("prometheus loaded %d rules, the file has %d alerts"
                                     % (len(rules), n_alerts))
            return rules if all(not r["lastEvaluation"].startswith("0001-")
                                for r in rules) else None
        rules = wait_for(evaluated, 30, "every rule evaluated")
        bad = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
        self.assertEqual(bad, {})

    # ---- names -----------------------------------------------------------

    def test_rules_dashboard_and_docs_name_only_exported_metrics(self):
        types = exposition_types(self.exposition())
        self.assertIn("smsq_backlog_due_messages", types)
        # The check itself: a made-up name, and a histogram's suffix on a gauge.
        self.assertEqual(unknown_names("smsq_no_such_thing_total smsq_backlog_due_messages_sum "
                                       "smsq_ingest_ack_latency_seconds_bucket", types),
                         {"smsq_no_such_thing_total", "smsq_backlog_due_messages_sum"})
        with open(RULES) as f:
            rules = f.read()
        with open(DASHBOARD) as f:
            dash = f.read()
        for what, text in (("etc/prometheus/smsq-rules.yml", rules),
                           ("etc/grafana/smsq-dashboard.json", dash),
                           ("docs/OPERATIONS.md, Prometheus and Grafana", operations_section())):
            with self.subTest(what):
                self.assertTrue(NAME_RE.search(text), what + " names no metric")
                self.assertEqual(unknown_names(text, types), set(), what)

    # ---- the dashboard -----------------------------------------------------

    def test_dashboard_queries_run_in_prometheus(self):
        with open(DASHBOARD) as f:
            dash = json.load(f)
        variables = {v["name"]: v for v in dash["templating"]["list"]}
        self.assertEqual(variables["datasource"]["type"], "datasource")
        self.assertEqual(variables["datasource"]["query"], "prometheus")
        ids = []

        def walk(panels):
            for p in panels:
                ids.append(p["id"])
                g = p["gridPos"]
                self.assertLessEqual(g["x"] + g["w"], 24, p["title"])
                if p["type"] != "row":
                    self.assertEqual(p["datasource"]["uid"], "${datasource}", p["title"])
                    self.assertTrue(p.get("targets"), p["title"] + ": no query")
                for t in p.get("targets", []):
                    self.assertEqual(t["datasource"]["uid"], "${datasource}", p["title"])
                walk(p.get("panels", []))
        walk(dash["panels"])
        self.assertEqual(len(ids), len(set(ids)), "panel ids repeat")
        # The pool variable finds the pool.
        m = re.fullmatch(r"label_values\((\w+), (\w+)\)", variables["instance"]["definition"])
        self.assertIsNotNone(m, variables["instance"]["definition"])
        found = self.prom.api("label/%s/values" % m.group(2), **{"match[]": m.group(1)})
        instance = urllib.parse.urlparse(self.monitor).netloc
        self.assertIn(instance, found)
        # Each query with Grafana's variables filled in: valid, and (those
        # without a filter such as "> 0") with series; where a panel maps
        # values to names (the drain's state, the circuits), each value has
        # a name other than the "-" of no state at all.
        for p, expr in dashboard_exprs(dash):
            q = (expr.replace("$__rate_interval", "10s")
                 .replace("$instance", instance))
            with self.subTest(title=p["title"], expr=expr):
                self.assertNotIn("$", q, "a variable the test does not know")
                got = self.prom.query(q)
                if not re.search(r"\)\s*[<>]=?\s*[0-9]", expr):
                    self.assertTrue(got, "no series")
                for m in p.get("fieldConfig", {}).get("defaults", {}).get("mappings", []):
                    names = {k: o["text"] for k, o in m["options"].items()}
                    for labels, v in got:
                        self.assertNotEqual(names.get("%g" % v, "-"), "-",
                                            "%s: %g has no name" % (labels, v))


if __name__ == "__main__":
    itlib.main()
