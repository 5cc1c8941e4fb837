"""The guard is PREPENDED to LD_PRELOAD (existing libraries stay loaded); options set the variables."""
import os
import re
import unittest

from cmdtest import LIB, MARKER_LIB, CmdTest, prog, summary_line


def parse_env(stdout):
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


class Preload(CmdTest):
    def setUp(self):
        super().setUp()
        self.lib = os.path.realpath(LIB)
        if not os.path.exists(self.lib):
            self.fail("MG_LIB does not exist: %r" % LIB)

    def test_alone(self):
        p = self.mg([prog("mgc_envprog")])
        self.assertEqual(p.returncode, 0, self.describe(p))
        env = parse_env(p.stdout)
        self.assertEqual(env["LD_PRELOAD"], self.lib, self.describe(p))
        self.assertEqual(env["guard_loaded"], "1", self.describe(p))
        self.assertEqual(env["mode"], "1", "default mode should be log (1):\n" + self.describe(p))
        self.assertEqual(env["MMAPGUARD_LOG_FORMAT"], "json")
        self.assertRegex(env["MMAPGUARD_LOG"],
                         "^" + re.escape(self.tmpdir) + r"/mmapguard\.[A-Za-z0-9]{6}/log\.%p$")
        self.assertEqual(env["MMAPGUARD_MODE"], "(unset)")

    def test_chained_with_existing_preload(self):
        self.assertTrue(os.path.exists(MARKER_LIB), MARKER_LIB)
        p = self.mg([prog("mgc_envprog")], env={"LD_PRELOAD": MARKER_LIB})
        self.assertEqual(p.returncode, 0, self.describe(p))
        env = parse_env(p.stdout)
        self.assertEqual(env["LD_PRELOAD"], self.lib + ":" + MARKER_LIB, self.describe(p))
        self.assertEqual(env["guard_loaded"], "1", self.describe(p))
        self.assertEqual(env["marker_loaded"], "1", "the existing LD_PRELOAD library was dropped:\n"
                         + self.describe(p))
        self.assertIn("mgc-marker: loaded", p.stderr)

    def test_chained_guard_still_reports(self):
        target = os.path.join(self.tmp, "data")
        p = self.mg([prog("mgc_truncprog"), target], env={"LD_PRELOAD": MARKER_LIB})
        self.assertEqual(p.returncode, 0, self.describe(p))
        self.assertIn("mgc-marker: loaded", p.stderr)
        self.assertEqual(summary_line(p.stderr)[:2], (1, 0), self.describe(p))

    def test_guard_already_first_is_not_doubled(self):
        p = self.mg([prog("mgc_envprog")], env={"LD_PRELOAD": self.lib + ":" + MARKER_LIB})
        env = parse_env(p.stdout)
        self.assertEqual(env["LD_PRELOAD"], self.lib + ":" + MARKER_LIB, self.describe(p))

    def test_mode_block(self):
        p = self.mg(["--mode", "block", prog("mgc_envprog")])
        env = parse_env(p.stdout)
        self.assertEqual((env["MMAPGUARD_MODE"], env["mode"]), ("block", "2"), self.describe(p))
        target = os.path.join(self.tmp, "data")
        p = self.mg(["--mode", "block", prog("mgc_truncprog"), target])
        self.assertEqual(p.returncode, 0, self.describe(p))
        self.assertRegex(p.stdout, r"^cut \d+ -1$", "ftruncate was not refused:\n" + self.describe(p))
        self.assertEqual(os.stat(target).st_size, 16384, "the refused truncation happened anyway")
        self.assertEqual(summary_line(p.stderr)[:2], (1, 1), self.describe(p))
        self.assertIn("BLOCKED", p.stderr)

    def test_mode_off(self):
        target = os.path.join(self.tmp, "data")
        p = self.mg(["--mode", "off", prog("mgc_truncprog"), target])
        self.assertEqual(p.returncode, 0, self.describe(p))
        self.assertRegex(p.stdout, r"^cut \d+ 0$")
        self.assertIsNone(summary_line(p.stderr), self.describe(p))
        self.assertEqual(self.log_dirs(), [])

    def test_mode_from_environment_when_no_option(self):
        p = self.mg([prog("mgc_envprog")], env={"MMAPGUARD_MODE": "block"})
        env = parse_env(p.stdout)
        self.assertEqual(env["mode"], "2", self.describe(p))

    def test_reopen_option(self):
        p = self.mg(["--reopen", "write", prog("mgc_envprog")])
        self.assertEqual(parse_env(p.stdout)["MMAPGUARD_REOPEN"], "write", self.describe(p))

    def test_scope_leases_sigbus_options(self):
        p = self.mg(["--scope", "guarded", "--leases", "rescue", "--sigbus", "survive",
                     prog("mgc_envprog")])
        env = parse_env(p.stdout)
        self.assertEqual((env["MMAPGUARD_SCOPE"], env["MMAPGUARD_LEASES"], env["MMAPGUARD_SIGBUS"]),
                         ("guarded", "rescue", "survive"), self.describe(p))
        p = self.mg([prog("mgc_envprog")], env={"MMAPGUARD_LEASES": "watch"})
        env = parse_env(p.stdout)
        self.assertEqual((env["MMAPGUARD_SCOPE"], env["MMAPGUARD_LEASES"], env["MMAPGUARD_SIGBUS"]),
                         ("(unset)", "watch", "(unset)"), self.describe(p))

    def test_program_options_are_not_ours(self):
        # Options after PROGRAM belong to it.
        p = self.mg([prog("mgc_exitprog"), "code", "--mode"])
        self.assertEqual(p.returncode, 0, self.describe(p))


if __name__ == "__main__":
    unittest.main()
