"""Clear errors: a program that does not exist (127), cannot be run (126), a missing library (125)."""
import os
import shutil
import stat
import unittest

from cmdtest import CMD, CmdTest


class Missing(CmdTest):
    def test_command_not_found(self):
        p = self.mg(["mgc-no-such-command-xyz", "arg"])
        self.assertEqual(p.returncode, 127, self.describe(p))
        self.assertIn("mmapguard: mgc-no-such-command-xyz: command not found", p.stderr)
        self.assertEqual(self.log_dirs(), [], "the private log directory was left behind")

    def test_path_not_found(self):
        missing = os.path.join(self.tmp, "nothing-here")
        p = self.mg([missing])
        self.assertEqual(p.returncode, 127, self.describe(p))
        self.assertIn(missing, p.stderr)
        self.assertIn("No such file or directory", p.stderr)

    def test_not_executable(self):
        path = os.path.join(self.tmp, "plain.txt")
        with open(path, "w") as f:
            f.write("not a program\n")
        os.chmod(path, 0o644)
        p = self.mg([path])
        if os.geteuid() == 0 and os.access(path, os.X_OK):
            self.skipTest("root can execute anything here")
        self.assertEqual(p.returncode, 126, self.describe(p))
        self.assertIn("Permission denied", p.stderr)

    def test_missing_library(self):
        # The command alone, without libmmapguard.so next to it or in ../lib...
        lonely = os.path.join(self.tmp, "a", "b", "bin")
        os.makedirs(lonely)
        copy = os.path.join(lonely, "mmapguard")
        shutil.copy(CMD, copy)
        os.chmod(copy, stat.S_IRWXU)
        p = self.mg(["true"], cmd=copy)
        self.assertEqual(p.returncode, 125, self.describe(p))
        self.assertIn("cannot find the guard library", p.stderr)
        self.assertIn("libmmapguard.so", p.stderr)
        self.assertIn(lonely, p.stderr)

    def test_library_found_through_symlink(self):
        # /proc/self/exe resolves symlinks: a link to the command elsewhere still finds the library.
        link = os.path.join(self.tmp, "mg-link")
        os.symlink(CMD, link)
        p = self.mg(["--", "true"], cmd=link)
        self.assertEqual(p.returncode, 0, self.describe(p))


if __name__ == "__main__":
    unittest.main()
