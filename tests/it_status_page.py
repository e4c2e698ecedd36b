"""The monitor's status page in a real browser, during a real drain.

A fake provider (Twilio's API: one message a request) limited in rate,
with transient 500s and destinations it refuses for good; a pool paced at
that limit; a few thousand events published at once.  Headless Chromium
(Debian's chromium, chromium-driver and python3-selenium, which
scripts/install-deps installs) opens the page, and the test reads the
figures it shows from their ids and data-* attributes, against
`smsqctl stats --json` and the fake's own counters:

  - the page runs without a script error (an error hook installed before
    the page's script, and the browser's console);
  - mid-drain, each figure lies between two reads of the store around it:
    stats read, then the page's sample is taken after that read ended
    (its data-now-ms), then stats read again;
  - the provider's row shows the limit it was configured with;
  - the drain ends on the page: "drained", every message that could be
    sent counted as sent;
  - everything the page loaded came from the monitor;
  - the failures table has the failures the fake produced, by class, and
    no phone number is anywhere in the page;
  - the pool stopped, the page says it cannot reach it and keeps the last
    figures.
"""

import html.parser
import json
import os
import time
import urllib.parse
import urllib.request

import itlib
from it_dispatch import DispatchBase
from itlib import wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
N = 3000               # events published
LIMIT = 300            # the fake's limit and the provider's rate_per_s, messages/s
BAD_PREFIX = "+336550029"  # the fake refuses these: the events 2900..2999
BAD = 100

# Installed before the page's own script: every error and unhandled
# rejection of the page, kept for the test.
ERROR_HOOK = """
window.__pageErrors = [];
window.addEventListener('error', function (e) {
  window.__pageErrors.push(String(e.message || e) + ' at ' + e.filename + ':' + e.lineno);
});
window.addEventListener('unhandledrejection', function (e) {
  window.__pageErrors.push('unhandled rejection: ' + String(e.reason));
});
"""

# What the page shows, in one go (the page renders a sample at once, so one
# script sees one sample).
READ_PAGE = """
var v = function (id) { var e = document.getElementById(id); return e ? e.dataset.value : null; };
var out = {
  now_ms: document.getElementById('sample').dataset.nowMs,
  conn: document.getElementById('conn').dataset.state,
  drain: document.getElementById('drain-state').dataset.state,
  offline: document.body.classList.contains('offline'),
  failures_since: v('failures-since'),
  errors: window.__pageErrors,
  providers: [], failures: []
};
['waiting', 'total', 'due', 'segments-waiting', 'progress', 'state-delayed', 'state-ready',
 'state-inflight', 'state-sent', 'state-delivered', 'state-failed', 'state-expired'
].forEach(function (id) { out[id] = v(id); });
document.querySelectorAll('#providers tr[data-provider]').forEach(function (tr) {
  var p = {name: tr.dataset.provider};
  tr.querySelectorAll('[data-field]').forEach(function (e) { p[e.dataset.field] = e.dataset.value; });
  out.providers.push(p);
});
document.querySelectorAll('#failures tr[data-kind]').forEach(function (tr) {
  out.failures.push({kind: tr.dataset.kind, reason: tr.dataset.reason,
    provider: tr.dataset.provider, count: tr.querySelector('[data-field=count]').dataset.value});
});
return out;
"""


def num(x):
    """A data-value as a number (None when empty)."""
    return None if x in (None, "") else float(x)


class Refs(html.parser.HTMLParser):
    """Every URL an element of a document refers to (src, href, action...)."""

    def __init__(self):
        super().__init__()
        self.refs = []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("src", "href", "action", "formaction", "poster", "data", "srcset") and v:
                self.refs.append((tag, k, v))


class StatusPageTest(DispatchBase):

    def setUp(self):
        # Never skipped: without its browser the test fails, saying why.
        missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
        try:
            import selenium  # noqa: F401
        except ImportError:
            missing.append("the selenium module for /usr/bin/python3")
        if missing:
            self.fail("the status page test needs a headless browser: missing %s (Debian "
                      "packages chromium chromium-driver python3-selenium; scripts/install-deps "
                      "installs them)" % ", ".join(missing))
        super().setUp()
        self.driver = None

    def tearDown(self):
        try:
            if self.driver is not None:
                self.driver.quit()  # chromium, then chromedriver
        finally:
            super().tearDown()

    def browser(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--disable-gpu", "--window-size=1280,800",
                  "--user-data-dir=" + os.path.join(self.tmp, "chromium"),
                  "--no-first-run", "--disable-extensions", "--disable-background-networking",
                  "--disable-dev-shm-usage", "--disable-breakpad", "--disable-crash-reporter"):
            opts.add_argument(a)
        if os.geteuid() == 0:
            opts.add_argument("--no-sandbox")  # Chromium's sandbox refuses root
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        driver.set_script_timeout(10)
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": ERROR_HOOK})
        return driver

    def severe(self, driver):
        return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]

    def page_ids(self, driver):
        """The page's figures; a script error of the page fails the test at
        once."""
        p = driver.execute_script(READ_PAGE)
        self.assertEqual(p.pop("errors"), [], "script errors in the page")
        return p

    def test_status_page_follows_a_drain(self):
        fake = self.fake(args=["--api", "twilio", "--rate-limit", LIMIT, "--burst", LIMIT // 20,
                               "--error-rate", "0.03", "--error-status", "500",
                               "--fail-prefix", BAD_PREFIX, "--seed", "5"])
        cfg = self.config([("primary", self.provider(fake, type="twilio", rate_per_s=LIMIT,
                                                     burst=LIMIT // 20))])
        pool = self.pool(workers=2, args=["-c", cfg])
        url = pool.monitor_url()
        origin = url.rstrip("/")

        # The page as served: the policy that keeps it to its origin, and no
        # reference to anything outside it.
        with urllib.request.urlopen(url, timeout=30) as r:
            csp = r.headers.get("Content-Security-Policy", "")
            body = r.read().decode()
        self.assertIn("default-src 'self'", csp)
        refs = Refs()
        refs.feed(body)
        for tag, attr, ref in refs.refs:
            u = urllib.parse.urlsplit(ref)
            self.assertTrue(u.scheme == "data" or (not u.scheme and not u.netloc),
                            "<%s %s=%r> leaves the monitor" % (tag, attr, ref))
        self.assertNotIn("@import", body)
        self.assertNotIn("url(", body)

        driver = self.browser()
        driver.get(url)
        try:
            wait_for(lambda: self.page_ids(driver)["conn"] == "live", 30, "the page to go live",
                     interval=0.2)
        except AssertionError as e:
            raise AssertionError("%s: it says %r; script errors %s; console %s" % (
                e, driver.find_element("id", "conn").text,
                driver.execute_script("return window.__pageErrors"), self.severe(driver))) from None

        path, phones = self.events("page", N)
        self.assertEqual(sum(p.startswith(BAD_PREFIX) for p in phones), BAD)
        t_publish = time.time() * 1000
        self.publish_all(pool, path, N)

        # (b) Mid-drain, the page against the store, twice.
        brackets = 0
        while brackets < 2:
            before = self.stats()
            read_ms = time.time() * 1000  # the read above has ended
            if before["waiting"] == 0:
                break
            page = wait_for(lambda: (lambda p: p if num(p["now_ms"]) > read_ms else None)(
                self.page_ids(driver)), 15, "a sample taken after the store's read", interval=0.2)
            after = self.stats()
            st_b, st_a = before["states"], after["states"]
            msg = "\npage %s\nbefore %s\nafter %s" % (json.dumps(page), json.dumps(before),
                                                     json.dumps(after))
            for key, lo, hi in (("total", before["total"], after["total"]),
                                ("state-sent", st_b["sent"], st_a["sent"]),
                                ("state-delivered", st_b["delivered"], st_a["delivered"]),
                                ("state-failed", st_b["failed"], st_a["failed"]),
                                ("state-expired", st_b["expired"], st_a["expired"]),
                                ("waiting", after["waiting"], before["waiting"]),
                                ("segments-waiting", after["segments_waiting"],
                                 before["segments_waiting"])):
                self.assertTrue(lo <= num(page[key]) <= hi,
                                "%s: %s not within [%s, %s]%s" % (key, page[key], lo, hi, msg))
            self.assertEqual(num(page["waiting"]), num(page["state-delayed"]) +
                             num(page["state-ready"]) + num(page["state-inflight"]), msg)
            if num(page["waiting"]) > 0:
                brackets += 1
        self.assertEqual(brackets, 2, "the drain ended before the page could be compared "
                         "twice mid-drain")

        # (c) The provider's row: its configured limit.
        page = self.page_ids(driver)
        rows = {p["name"]: p for p in page["providers"]}
        self.assertEqual(set(rows), {"primary"}, page)
        self.assertEqual(num(rows["primary"]["limit"]), LIMIT, page)
        self.assertIn(rows["primary"]["circuit"], ("closed", "open"), page)

        # (d) The end of the drain, as the page says it.
        def drained():
            p = self.page_ids(driver)
            return p if (p["drain"] == "drained" and num(p["waiting"]) == 0 and
                         num(p["state-sent"]) + num(p["state-delivered"]) == N - BAD) else None
        try:
            page = wait_for(drained, 60, "the page to say drained, %d sent" % (N - BAD),
                            interval=0.5)
        except AssertionError as e:
            raise AssertionError("%s\npage: %s%s" % (e, json.dumps(self.page_ids(driver)),
                                                     self.diag(pool))) from None
        self.assertEqual(num(page["state-failed"]), BAD, page)
        self.assertEqual(num(page["progress"]), 1, page)

        # (f) Failures by class, as many as the fake produced; the window
        # began before the publish, so it holds them all.  Counters reach
        # the page a moment after the store's outcomes: wait for them.
        self.assertLessEqual(num(page["failures_since"]), t_publish, page)
        fs = fake.stats()
        want = {("failed", "refused"): BAD, ("request", "4xx"): fs["rejected"],
                ("request", "5xx"): fs["errors"], ("request", "429"): fs["throttled"]}
        want = {k: v for k, v in want.items() if v}

        def failures():
            p = self.page_ids(driver)
            got = {(f["kind"], f["reason"]): num(f["count"]) for f in p["failures"]
                   if f["provider"] == "primary"}
            return p if got == want else None
        try:
            page = wait_for(failures, 15, "the failures table", interval=0.5)
        except AssertionError:
            self.fail("failures: want %s, the page shows %s (fake: %s)"
                      % (want, self.page_ids(driver)["failures"], fs))
        self.assertEqual(fs["rejected"], BAD, fs)
        self.assertGreater(fs["errors"], 0, fs)
        source = driver.page_source
        text = driver.execute_script("return document.body.innerText")
        leaked = [p for p in phones if p in source or p.lstrip("+") in source or p in text]
        self.assertEqual(leaked, [], "phone numbers in the page")

        # (e) Everything the page loaded came from the monitor.
        loaded = driver.execute_script(
            "return performance.getEntriesByType('navigation').concat("
            "performance.getEntriesByType('resource')).map(function (e) { return e.name; })")
        self.assertIn(origin + "/status.json", loaded)
        self.assertIn(origin + "/history.json", loaded)
        outside = [u for u in loaded if not u.startswith(origin + "/")]
        self.assertEqual(outside, [], "requests outside the monitor")

        # (a) No script error, nothing severe in the console.
        self.assertEqual(driver.execute_script("return window.__pageErrors"), [])
        self.assertEqual(self.severe(driver), [])

        # The pool stops: the page says so and keeps the last figures, greyed.
        self.assertEqual(fake.stop(), 0)
        self.finish(pool)
        page = wait_for(lambda: (lambda p: p if p["conn"] == "offline" else None)(
            self.page_ids(driver)), 15, "the page to say the pool cannot be reached",
            interval=0.2)
        self.assertTrue(page["offline"], page)
        self.assertEqual(num(page["state-sent"]), N - BAD, page)
        self.assertEqual(page["drain"], "drained", page)
        self.assertIn("Cannot reach the pool", driver.find_element("id", "conn").text)
        self.assertEqual(driver.execute_script("return window.__pageErrors"), [])
        for e in self.severe(driver):  # only the failed reads of the pool
            self.assertIn("net::ERR_CONNECTION_REFUSED", e["message"], e)


if __name__ == "__main__":
    itlib.main()
