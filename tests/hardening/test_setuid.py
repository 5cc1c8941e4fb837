"""Secure execution: a setuid-root copy of a test program run by an unprivileged user (nobody),
with MMAPGUARD_LOG pointing at a file. The guard must not create or open that file (nor append to
an existing one) and must stay safe: the report goes to stderr.

For a setuid program ld.so preloads only libraries named without a slash, found in the standard
directories, that are themselves set-user-ID: the test copies the guard into the system library
directory under a name of its own, mode 4755, and removes it in tearDown. Needs root."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardlib  # noqa: E402
import mgtest  # noqa: E402

SYSLIB = "/usr/lib/x86_64-linux-gnu"
NOBODY = 65534


class SetuidTest(hardlib.HardTest):

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("needs root (to install a setuid program and library)")
        if not shutil.which("setpriv"):
            self.skipTest("setpriv (util-linux) not found")
        if not os.path.isdir(SYSLIB):
            self.skipTest("%s not found" % SYSLIB)
        self.libname = "libmmapguard-hardening-%d.so" % os.getpid()
        self.syslib = os.path.join(SYSLIB, self.libname)
        shutil.copy(mgtest.LIB, self.syslib)
        os.chmod(self.syslib, 0o4755)
        # the program and its data directory: root's, readable and traversable by nobody
        self.sdir = tempfile.mkdtemp(prefix="mg-setuid-")
        os.chmod(self.sdir, 0o755)
        self.prog = os.path.join(self.sdir, "hard_secure")
        shutil.copy(self.program("hard_secure"), self.prog)
        os.chown(self.prog, 0, 0)
        os.chmod(self.prog, 0o4755)

    def tearDown(self):
        for p in (getattr(self, "syslib", None),):
            if p and os.path.exists(p):
                os.unlink(p)
        if getattr(self, "sdir", None):
            shutil.rmtree(self.sdir, ignore_errors=True)
        super().tearDown()

    def run_secure(self, log):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("MMAPGUARD_", "LD_"))}
        env.update({"LD_PRELOAD": self.libname, "MMAPGUARD_LOG": log,
                    "MMAPGUARD_LOG_FORMAT": "json"})
        return subprocess.run(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
                               "--clear-groups", self.prog, self.sdir],
                              env=env, capture_output=True, text=True, timeout=60)

    def check_ran(self, p):
        self.assertEqual(p.returncode, 0, "rc=%s\nstdout:\n%s\nstderr:\n%s" % (
            p.returncode, p.stdout, p.stderr[-3000:]))
        info = hardlib.parse_lines(p.stdout, "SECURE")
        self.assertEqual(len(info), 1, p.stdout)
        self.assertEqual((info[0]["at_secure"], info[0]["ruid"], info[0]["euid"]), (1, NOBODY, 0),
                         "not a secure-execution run: %s" % info)
        self.assertEqual(info[0]["guard"], 1, "ld.so did not preload the guard: %s" % info)
        self.assertIn("DONE", p.stdout)
        # the record went to stderr (environment ignored: default text format)
        self.assertIn("would cut a memory-mapped file short", p.stderr, p.stderr[-3000:])
        self.assertIn(os.path.join(self.sdir, "secure_victim"), p.stderr)

    def test_log_file_not_created(self):
        log = os.path.join(self.sdir, "secure.log")
        p = self.run_secure(log)
        self.check_ran(p)
        self.assertFalse(os.path.exists(log), "the guard created MMAPGUARD_LOG in a setuid program")

    def test_existing_log_file_untouched(self):
        log = os.path.join(self.sdir, "existing.log")
        with open(log, "w") as f:
            f.write("precious\n")
        before = os.stat(log)
        p = self.run_secure(log)
        self.check_ran(p)
        with open(log) as f:
            self.assertEqual(f.read(), "precious\n", "the guard wrote into MMAPGUARD_LOG")
        after = os.stat(log)
        self.assertEqual((after.st_size, after.st_mtime_ns), (before.st_size, before.st_mtime_ns))

    def test_log_pattern_with_pid(self):
        log = os.path.join(self.sdir, "secure.%p.log")
        p = self.run_secure(log)
        self.check_ran(p)
        self.assertEqual(sorted(n for n in os.listdir(self.sdir) if n.endswith(".log")), [],
                         "the guard created a %p log file")


if __name__ == "__main__":
    unittest.main()
