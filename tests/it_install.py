"""it_install: what make install installs, and that it works from there.

make install PREFIX=/usr/local into a temporary DESTDIR, then: every file is
where docs/INSTALL.md says; the producer library exports its API only, with
its soname; the header stands alone; the man pages render without a warning
and smsq.conf(5) lists every option of the installed smsq-worker; the unit
passes systemd-analyze verify and the sysusers file creates the user; and
examples/ builds against the staged install with pkg-config, then publishes
through the installed library to a pool started from the installed binary,
whose store (read by the installed smsqctl) holds the events.

The programs under test are the installed ones (built by make install into
build/install/), not SMSQ_BIN's; only the in-tree check of the templates
directory uses SMSQ_BIN.  make deb and lintian run in .ci/run, not here.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
from unittest import mock

import itlib

ROOT = itlib.ROOT
PREFIX = "/usr/local"
SYMBOLS = ["smsq_flush", "smsq_outstanding", "smsq_poll", "smsq_producer_destroy",
           "smsq_producer_new", "smsq_publish", "smsq_publish_sync", "smsq_reason_name",
           "smsq_stats", "smsq_status_name", "smsq_strerror"]
SYMBOLS_1_1 = ["smsq_producer_new_curve"]  # added in the library's version node 1.1
MAN_PAGES = ["man8/smsq-worker.8", "man8/smsqctl.8", "man1/smsq-publish.1",
             "man5/smsq.conf.5", "man3/smsq_producer.3"]


def clean_env(**extra):
    """The environment without the calling make's (tests/run runs under make
    test): no jobserver nor command-line variables leak into our make."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.update(extra)
    return env


def run(cmd, timeout=600, **kw):
    """Run cmd; fail the test with its output unless it exits 0."""
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if out.returncode != 0:
        raise AssertionError("%s: exit %d\n%s%s" % (" ".join(cmd), out.returncode,
                                                   out.stdout[-3000:], out.stderr[-3000:]))
    return out


def makefile_version():
    """VERSION := x.y.z of the Makefile."""
    with open(os.path.join(ROOT, "Makefile")) as f:
        return re.search(r"^VERSION := (\S+)$", f.read(), re.M).group(1)


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="smsq-install-")
        cls.dest = os.path.join(cls.tmp, "dest")
        cls.root = cls.dest + PREFIX
        run(["make", "-C", ROOT, "-j2", "install", "DESTDIR=" + cls.dest, "PREFIX=" + PREFIX],
            env=clean_env())
        cls.version = makefile_version()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, rel):
        return os.path.join(self.root, rel)

    def test_files_in_place(self):
        for rel in ["sbin/smsq-worker", "sbin/smsqctl", "bin/smsq-publish"]:
            self.assertTrue(os.access(self.path(rel), os.X_OK), rel)
        for rel in ["bin/smsq-fakeprovider", "bin/smsq-bench-publish",
                    "sbin/smsq-fakeprovider", "sbin/smsq-bench-publish"]:
            self.assertFalse(os.path.exists(self.path(rel)), rel + ": a test tool, not installed")
        for rel in ["lib/libsmsq-producer.a", "lib/libsmsq-producer.so.1.1.0",
                    "include/smsq_producer.h", "lib/pkgconfig/smsq-producer.pc",
                    "share/smsq/booking.proto", "etc/smsq/smsq.conf",
                    "lib/systemd/system/smsq.service", "lib/sysusers.d/smsq.conf",
                    "share/doc/smsq/INSTALL.md", "share/doc/smsq/PROTOCOL.md",
                    "share/doc/smsq/OUTCOMES.md"]:
            self.assertTrue(os.path.isfile(self.path(rel)), rel)
        self.assertEqual(os.readlink(self.path("lib/libsmsq-producer.so.1")),
                         "libsmsq-producer.so.1.1.0")
        self.assertEqual(os.readlink(self.path("lib/libsmsq-producer.so")), "libsmsq-producer.so.1")
        with open(os.path.join(ROOT, "etc/smsq.conf"), "rb") as a, \
                open(self.path("etc/smsq/smsq.conf"), "rb") as b:
            self.assertEqual(a.read(), b.read(), "the sample configuration, as is")
        shipped = sorted(os.listdir(os.path.join(ROOT, "etc/templates")))
        self.assertEqual(sorted(os.listdir(self.path("share/smsq/templates"))), shipped)
        self.assertTrue(os.path.isfile(self.path("share/doc/smsq/OPERATIONS.md")))
        self.assertTrue(os.path.isfile(self.path("share/doc/smsq/METRICS.md")))
        for d in ("prometheus", "grafana"):
            shipped = sorted(os.listdir(os.path.join(ROOT, "etc", d)))
            self.assertEqual(sorted(os.listdir(self.path("share/doc/smsq/examples/" + d))),
                             shipped, "etc/%s: the monitoring examples, as they are" % d)

    def test_programs_carry_the_installed_paths(self):
        out = run([self.path("sbin/smsq-worker"), "--help-config"]).stdout
        self.assertIn("default '%s/share/smsq/templates'" % PREFIX, out)
        # ...and the programs of the checkout keep the checkout's.
        out = run([os.path.join(itlib.BIN, "smsq-worker"), "--help-config"]).stdout
        self.assertIn("default '%s/etc/templates'" % ROOT, out)
        # The installed sample is a valid configuration for the installed pool.
        run([self.path("sbin/smsq-worker"), "-c", self.path("etc/smsq/smsq.conf"),
             "-d", os.path.join(self.tmp, "unused"),
             "-o", "ingest.templates_dir=" + self.path("share/smsq/templates"), "--print-config"])

    def test_make_install_again_keeps_an_edited_config(self):
        conf = self.path("etc/smsq/smsq.conf")
        with open(conf, "rb") as f:
            sample = f.read()
        try:
            with open(conf, "ab") as f:
                f.write(b"\n[log]\nlevel = debug\n")
            out = run(["make", "-C", ROOT, "install", "DESTDIR=" + self.dest, "PREFIX=" + PREFIX],
                      env=clean_env())
            self.assertIn("kept", out.stderr)
            with open(conf, "rb") as f:
                self.assertTrue(f.read().endswith(b"level = debug\n"), "edited file kept")
            with open(conf + ".sample", "rb") as f:
                self.assertEqual(f.read(), sample)
        finally:
            with open(conf, "wb") as f:
                f.write(sample)
            if os.path.exists(conf + ".sample"):
                os.unlink(conf + ".sample")

    def test_library_exports_its_api_only(self):
        so = self.path("lib/libsmsq-producer.so.1.1.0")
        dyn = run(["readelf", "-d", so]).stdout
        self.assertRegex(dyn, r"\(SONAME\)\s+Library soname: \[libsmsq-producer\.so\.1\]")
        self.assertIn("libzmq.so.5", dyn)
        self.assertIn("libprotobuf-c.so.1", dyn)
        syms = run(["nm", "-D", "--defined-only", so]).stdout.split("\n")
        names = sorted(l.split()[-1] for l in syms if l.strip())
        self.assertEqual(names, sorted(["SMSQ_PRODUCER_1", "SMSQ_PRODUCER_1.1"] +
                                       [s + "@@SMSQ_PRODUCER_1" for s in SYMBOLS] +
                                       [s + "@@SMSQ_PRODUCER_1.1" for s in SYMBOLS_1_1]))
        # The archive: the same API global, the rest local (no err_set, no
        # protobuf-c symbols to clash with a program's own).
        syms = run(["nm", "-g", "--defined-only", self.path("lib/libsmsq-producer.a")]).stdout
        names = sorted(l.split()[-1] for l in syms.split("\n") if re.match(r"^[0-9a-f]+ ", l))
        self.assertEqual(names, sorted(SYMBOLS + SYMBOLS_1_1))

    def test_header_stands_alone(self):
        hdr = self.path("include/smsq_producer.h")
        with open(hdr) as f:
            includes = re.findall(r"^#\s*include\s*(\S+)", f.read(), re.M)
        self.assertTrue(all(i.startswith("<") for i in includes), includes)
        for lang, std in (("c", "-std=c99"), ("c++", "-std=c++11")):
            run(["cc" if lang == "c" else "c++", "-x", lang, std, "-Wall", "-Wextra", "-Werror",
                 "-fsyntax-only", "-I", self.path("include"), "-"],
                input="#include <smsq_producer.h>\nint main(void) { return SMSQ_OK; }\n")

    def test_pkg_config(self):
        env = self.pkg_env()
        self.assertEqual(run(["pkg-config", "--modversion", "smsq-producer"], env=env).stdout.strip(),
                         self.version)
        flags = run(["pkg-config", "--cflags", "--libs", "smsq-producer"], env=env).stdout.split()
        self.assertIn("-I" + self.path("include"), flags)
        self.assertIn("-L" + self.path("lib"), flags)
        self.assertIn("-lsmsq-producer", flags)
        static = run(["pkg-config", "--static", "--libs", "smsq-producer"], env=env).stdout.split()
        self.assertIn("-lzmq", static)
        self.assertIn("-lprotobuf-c", static)
        self.assertEqual(run(["pkg-config", "--variable=protodir", "smsq-producer"],
                             env=env).stdout.strip(), self.path("share/smsq"))

    def test_man_pages_render(self):
        for rel in MAN_PAGES:
            page = self.path("share/man/" + rel)
            with open(page) as f:
                text = f.read()
            self.assertTrue(text.startswith('.\\" Generated by scdoc'), rel)
            self.assertNotRegex(text, r"@[A-Za-z_]+@", rel + ": a path left unsubstituted")
            out = run(["groff", "-t", "-man", "-Tutf8", "-ww", "-z", page],
                      env=clean_env(LC_ALL="C.UTF-8"))
            self.assertEqual(out.stderr, "", rel)
        with open(self.path("share/man/man8/smsq-worker.8")) as f:
            self.assertIn(PREFIX + "/etc/smsq/smsq.conf", f.read().replace("\\&", ""))

    def test_config_man_page_lists_every_option(self):
        table = run([self.path("sbin/smsq-worker"), "--help-config"]).stdout
        names = re.findall(r"^([a-z][a-zA-Z_.]+) +(?:integer|string)", table, re.M)
        self.assertGreater(len(names), 40)
        with open(self.path("share/man/man5/smsq.conf.5")) as f:
            page = f.read().replace("\\&", "").replace("\\fB", "").replace("\\fR", "")
        for n in names:
            self.assertIn(n, page)
        self.assertIn("default %s/share/smsq/templates" % PREFIX, page)

    def test_units(self):
        unit = self.path("lib/systemd/system/smsq.service")
        with open(unit) as f:
            text = f.read()
        self.assertIn("\nExecStart=%s/sbin/smsq-worker -c %s/etc/smsq/smsq.conf -d ${STATE_DIRECTORY}\n"
                      % (PREFIX, PREFIX), text)
        for line in ["User=smsq", "StateDirectory=smsq", "KillSignal=SIGTERM", "KillMode=mixed",
                     "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                     "ProtectHome=yes", "LimitNOFILE=65536",
                     "ExecReload=/bin/kill -HUP $MAINPID"]:
            self.assertIn("\n" + line + "\n", text)
        stop_s = int(re.search(r"^TimeoutStopSec=(\d+)s$", text, re.M).group(1))
        self.assertGreater(stop_s * 1000, 20000 + 3000,
                           "above pool.shutdown_timeout_ms and the broker's 3 s")

        # systemd-analyze verify in a root holding the install and the
        # system's units (it checks that ExecStart exists, in the root, and
        # that man finds the pages of Documentation=).
        vroot = os.path.join(self.tmp, "vroot")
        shutil.copytree(self.dest, vroot, symlinks=True)
        shutil.copytree(os.path.realpath("/lib/systemd/system"),
                        os.path.join(vroot, "lib/systemd/system"), symlinks=True,
                        dirs_exist_ok=True)
        # ...and the system's kill, which ExecReload runs.
        os.makedirs(os.path.join(vroot, "bin"), exist_ok=True)
        shutil.copy2(os.path.realpath("/bin/kill"), os.path.join(vroot, "bin", "kill"))
        out = run(["systemd-analyze", "verify", "--root=" + vroot, "smsq.service"],
                  env=clean_env(MANPATH=self.path("share/man")))
        self.assertNotIn("smsq", out.stdout + out.stderr)
        print("systemd-analyze verify: ok %r" % (out.stdout + out.stderr))
        out = subprocess.run(["systemd-analyze", "security", "--offline=yes", unit],
                             capture_output=True, text=True, timeout=60)
        print("systemd-analyze security: " + (out.stdout.strip().split("\n") or [""])[-1])

        # The sysusers file creates a system user with no login.
        os.makedirs(os.path.join(vroot, "etc"), exist_ok=True)
        run(["systemd-sysusers", "--root=" + vroot, self.path("lib/sysusers.d/smsq.conf")])
        with open(os.path.join(vroot, "etc/passwd")) as f:
            user = [l.split(":") for l in f.read().split("\n") if l.startswith("smsq:")]
        self.assertEqual(len(user), 1)
        self.assertLess(int(user[0][2]), 1000, "a system uid")
        self.assertEqual(user[0][5:], ["/var/lib/smsq", "/usr/sbin/nologin"])

    def pkg_env(self):
        return clean_env(PKG_CONFIG_PATH=self.path("lib/pkgconfig"),
                         PKG_CONFIG_SYSROOT_DIR=self.dest)

    def test_example_publishes_through_the_installed_library(self):
        ex = os.path.join(self.tmp, "examples")
        shutil.copytree(os.path.join(ROOT, "examples"), ex)
        run(["make", "-C", ex, "publish", "publish-static", "CFLAGS=-O2 -g -Wall -Wextra -Werror"],
            env=self.pkg_env())
        dyn = run(["readelf", "-d", os.path.join(ex, "publish")]).stdout
        self.assertIn("[libsmsq-producer.so.1]", dyn)
        dyn = run(["readelf", "-d", os.path.join(ex, "publish-static")]).stdout
        self.assertNotIn("libsmsq-producer", dyn)

        data_dir = os.path.join(self.tmp, "var")
        pool = itlib.Pool(data_dir, workers=1, args=[
            "-c", self.path("etc/smsq/smsq.conf"),
            "-o", "ingest.templates_dir=" + self.path("share/smsq/templates")])
        try:
            with mock.patch.object(itlib, "BIN", self.path("sbin")):
                pool.start()
            env = clean_env(LD_LIBRARY_PATH=self.path("lib"))
            out = run([os.path.join(ex, "publish"), "-e", pool.endpoint, "-n", "3", "-k", "inst"],
                      env=env, timeout=120)
            acks = sorted(out.stdout.split("\n")[:-1])
            self.assertEqual(len(acks), 3, out.stdout)
            for i, line in enumerate(acks):
                self.assertRegex(line, r"^inst-%d accepted message_id=[1-3] sends=1 " % (i + 1))
            # Again, with the library linked in: the same keys, no second SMS.
            out = run([os.path.join(ex, "publish-static"), "-e", pool.endpoint, "-n", "3",
                       "-k", "inst"], env=clean_env(), timeout=120)
            self.assertEqual(sorted(l.split()[1] for l in out.stdout.split("\n")[:-1]),
                             ["duplicate"] * 3, out.stdout)

            stats = json.loads(run([self.path("sbin/smsqctl"), "-d", data_dir, "stats",
                                    "--json"]).stdout)
            self.assertEqual(stats["total"], 3)
            self.assertEqual(stats["states"]["ready"], 3, "no provider: they wait")
            self.assertEqual(pool.stop(), 0, pool.log_text())
        finally:
            pool.kill9()
        self.assertIn("started: store", pool.log_text())


if __name__ == "__main__":
    itlib.main()
