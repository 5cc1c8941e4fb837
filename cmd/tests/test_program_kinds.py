"""Programs the guard needs help with, or cannot enter: an ASan program runs (its runtime is
preloaded first) and is guarded; a statically linked or a setuid program is named on stderr as
out of the guard's reach, and runs."""
import json
import os
import shutil
import subprocess
import unittest

import cmdtest


class ProgramKindsTest(cmdtest.CmdTest):

    def test_asan_program_is_guarded(self):
        target = os.path.join(self.tmp, "f")
        p = self.mg(["--mode", "block", cmdtest.prog("mgc_asanprog"), target])
        self.assertNotIn("ASan runtime does not come first", p.stderr, self.describe(p))
        self.assertNotIn("loaded ahead of the guard", p.stderr, self.describe(p))
        self.assertEqual(p.returncode, 0, self.describe(p))
        s = cmdtest.summary_line(p.stderr)
        self.assertIsNotNone(s, self.describe(p))
        self.assertEqual(s[:2], (1, 1), self.describe(p))

    def test_asan_program_started_by_another_is_guarded(self):
        """A shell (no sanitizer) starts the ASan program, with an ASAN_OPTIONS of its own as a test
        harness sets it: the program finds the guard ahead of its runtime, runs anyway, and its
        cut is refused. So too under a plain LD_PRELOAD."""
        target = os.path.join(self.tmp, "f")
        harness = {"ASAN_OPTIONS": "halt_on_error=1:detect_leaks=1"}
        p = self.mg(["--mode", "block", "sh", "-c", '"$0" "$1"', cmdtest.prog("mgc_asanprog"),
                     target], env=harness)
        self.assertNotIn("ASan runtime does not come first", p.stderr, self.describe(p))
        self.assertEqual(p.returncode, 0, self.describe(p))
        s = cmdtest.summary_line(p.stderr)
        self.assertIsNotNone(s, self.describe(p))
        self.assertEqual(s[:2], (1, 1), self.describe(p))
        env = cmdtest.clean_env(dict(harness, LD_PRELOAD=cmdtest.LIB, MMAPGUARD_MODE="block",
                                     MMAPGUARD_LOG_FORMAT="json",
                                     MMAPGUARD_LOG=os.path.join(self.tmp, "plain.log")))
        p = subprocess.run(["sh", "-c", '"$0" "$1"', cmdtest.prog("mgc_asanprog"), target],
                           env=env, capture_output=True, text=True, timeout=120)
        self.assertNotIn("ASan runtime does not come first", p.stderr, self.describe(p))
        self.assertEqual(p.returncode, 0, self.describe(p))
        with open(os.path.join(self.tmp, "plain.log")) as f:
            recs = [json.loads(line) for line in f if line.strip()]
        self.assertEqual([(r["event"], r["action"]) for r in recs], [("truncate", "blocked")],
                         recs)

    def test_static_program_warned_and_run(self):
        target = os.path.join(self.tmp, "f")
        p = self.mg([cmdtest.prog("mgc_staticprog"), target])
        self.assertEqual(p.returncode, 0, self.describe(p))
        self.assertIn("is statically linked: the guard cannot be loaded into it", p.stderr)
        self.assertIn("cut", p.stdout)

    def test_setuid_program_warned_and_run(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to make a setuid program of another user")
        prog = os.path.join(self.tmp, "suid")
        shutil.copy(cmdtest.prog("mgc_exitprog"), prog)
        os.chown(prog, 65534, 65534)
        os.chmod(prog, 0o4755)
        os.chmod(self.tmp, 0o755)
        p = self.mg([prog, "code", "0"])
        self.assertIn("is setuid/setgid", p.stderr, self.describe(p))
        self.assertEqual(p.returncode, 0, self.describe(p))


if __name__ == "__main__":
    unittest.main()
