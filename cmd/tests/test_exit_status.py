"""mmapguard passes the program's exit status through (128+N for a death by signal N)."""
import os
import signal
import subprocess
import unittest

from cmdtest import CMD, CmdTest, clean_env, prog, summary_line


class ExitStatus(CmdTest):
    def check(self, args, expected):
        p = self.mg([prog("mgc_exitprog")] + args)
        self.assertEqual(p.returncode, expected,
                         "mmapguard exitprog %s: expected exit status %d\n%s"
                         % (" ".join(args), expected, self.describe(p)))
        # Nothing was reported: no summary line, and the private log directory is gone.
        self.assertIsNone(summary_line(p.stderr), "summary line without reports:\n" + self.describe(p))
        self.assertEqual(self.log_dirs(), [], "the private log directory was left behind")
        return p

    def test_exit_0(self):
        self.check(["code", "0"], 0)

    def test_exit_3(self):
        self.check(["code", "3"], 3)

    def test_exit_255(self):
        self.check(["code", "255"], 255)

    def test_sigbus_is_135(self):
        self.assertEqual(128 + signal.SIGBUS, 135)
        self.check(["signal", str(int(signal.SIGBUS))], 135)

    def test_sigkill_is_137(self):
        self.check(["signal", str(int(signal.SIGKILL))], 137)

    def test_sigterm_is_143(self):
        self.check(["signal", str(int(signal.SIGTERM))], 143)

    def test_status_with_reports(self):
        # A program that reports and then exits 0: status 0 and a summary line.
        target = os.path.join(self.tmp, "data")
        p = self.mg([prog("mgc_truncprog"), target])
        self.assertEqual(p.returncode, 0, self.describe(p))
        s = summary_line(p.stderr)
        self.assertIsNotNone(s, "no summary line:\n" + self.describe(p))
        self.assertEqual(s[:2], (1, 0), self.describe(p))

    def test_sigterm_is_forwarded(self):
        # SIGTERM to mmapguard reaches the program, which dies of it: 143.
        e = clean_env({"TMPDIR": self.tmpdir})
        p = subprocess.Popen([CMD, "sh", "-c", "echo ready; exec sleep 60"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=e)
        try:
            self.assertEqual(p.stdout.readline(), "ready\n")
            p.send_signal(signal.SIGTERM)
            rc = p.wait(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.assertEqual(rc, 128 + signal.SIGTERM, p.stderr.read())

    def test_help_and_version(self):
        p = self.mg(["--help"])
        self.assertEqual(p.returncode, 0, self.describe(p))
        self.assertIn("Usage: mmapguard", p.stdout)
        self.assertIn("report", p.stdout)
        p = self.mg(["--version"])
        self.assertEqual(p.returncode, 0, self.describe(p))
        self.assertEqual(p.stdout.strip(), "mmapguard " + os.environ.get("MG_VERSION", "?"))

    def test_usage_errors(self):
        for args, what in ((["--mode", "bogus", "true"], "--mode bogus"),
                           (["--reopen", "never", "true"], "--reopen never"),
                           (["--scope", "world", "true"], "--scope world"),
                           (["--leases", "on", "true"], "--leases on"),
                           (["--sigbus", "yes", "true"], "--sigbus yes"),
                           (["--frobnicate", "true"], "frobnicate"),
                           ([], "no program")):
            p = self.mg(args)
            self.assertEqual(p.returncode, 125, "%s: expected 125\n%s" % (args, self.describe(p)))
            self.assertIn("mmapguard:", p.stderr, self.describe(p))
        p = self.mg(["--mode", "bogus", "true"])
        self.assertIn("accepted: log, block, off", p.stderr)
        p = self.mg(["report"])
        self.assertEqual(p.returncode, 2, self.describe(p))


if __name__ == "__main__":
    unittest.main()
