"""Programs the guard needs help with, or cannot enter: an ASan program runs (its runtime is
preloaded first) and is guarded; a statically linked or a setuid program is named on stderr as
out of the guard's reach, and runs."""
import os
import shutil
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
