"""`mmapguard --log` into a directory that is not there says so (the reports then go to stderr).
`mmapguard report` tells a sigbus record the way the live text does (the verdict in words, the
faulting stack with file:line, the linked cut with its stack and how long before the fault), and
refuses a text log with a word about what it reads."""
import glob
import os
import subprocess
import unittest

import cmdtest


class ReportRenderTest(cmdtest.CmdTest):

    def report(self, files):
        return subprocess.run([cmdtest.CMD, "report"] + files, capture_output=True, text=True,
                              timeout=120, env=cmdtest.clean_env())

    def test_sigbus_record(self):
        target = os.path.join(self.tmp, "f")
        logs = os.path.join(self.tmp, "log.%p")
        p = self.mg(["--json", "--log", logs, cmdtest.prog("mgc_faultprog"), target])
        self.assertEqual(p.returncode, 128 + 7, self.describe(p))
        r = self.report(glob.glob(os.path.join(self.tmp, "log.*")))
        self.assertEqual(r.returncode, 0, self.describe(r))
        out = r.stdout
        self.assertNotIn("fields (first record)", out)
        self.assertIn("1 x SIGBUS (BUS_ADRERR) in a mapping of " + target, out)
        self.assertIn("verdict: the file was cut short", out)
        self.assertIn("faultprog.c:%d" % cmdtest.marked_line("faultprog.c", "FAULT_SITE"), out)
        self.assertIn("cut earlier by this process: ftruncate() 16384 -> 0 bytes", out)
        self.assertIn("faultprog.c:%d" % cmdtest.marked_line("faultprog.c", "CUT_SITE"), out)
        self.assertRegex(out, r"\d+\.\d{6} s before the fault")

    def test_text_log_refused(self):
        log = os.path.join(self.tmp, "text.log")
        p = self.mg(["--log", log, cmdtest.prog("mgc_truncprog"), os.path.join(self.tmp, "f")])
        self.assertEqual(p.returncode, 0, self.describe(p))
        r = self.report([log])
        self.assertNotEqual(r.returncode, 0, self.describe(r))
        self.assertIn("is not a JSON log", r.stderr)

    def test_log_in_missing_directory(self):
        log = os.path.join(self.tmp, "no-such-dir", "x.log")
        p = self.mg(["--log", log, cmdtest.prog("mgc_truncprog"), os.path.join(self.tmp, "f")])
        self.assertEqual(p.returncode, 0, self.describe(p))
        self.assertIn("the log %s cannot be created" % log, p.stderr)
        self.assertIn("cannot write reports to %s: no such file or directory" % log, p.stderr)
        self.assertIn("would cut a memory-mapped file short", p.stderr)


if __name__ == "__main__":
    unittest.main()
