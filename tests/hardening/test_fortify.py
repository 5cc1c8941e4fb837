"""A program built with -O2 -D_FORTIFY_SOURCE=2 -D_FILE_OFFSET_BITS=64 truncates through
open(O_TRUNC) with run-time flags and ftruncate: it reaches libc as __open64_2 and ftruncate64,
and both are caught under those names."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardlib  # noqa: E402
import mgtest  # noqa: E402


class FortifyTest(hardlib.HardTest):

    def imports(self, prog):
        out = subprocess.run(["nm", "-D", "--undefined-only", prog], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        return {line.split()[-1].split("@")[0] for line in out.stdout.splitlines() if line.strip()}

    def test_fortified_entry_points(self):
        prog = self.program("hard_fortify")
        syms = self.imports(prog)
        # the build really produced the entry points this test is about
        self.assertIn("__open64_2", syms)
        self.assertIn("ftruncate64", syms)
        self.assertNotIn("ftruncate", syms)
        for mode in ("log", "block"):
            with self.subTest(mode=mode):
                d = os.path.join(self.tmp, mode)
                os.mkdir(d)
                flags = "%#x" % (os.O_WRONLY | os.O_TRUNC)
                r = mgtest.run([prog, d, flags, mode], mode=mode, timeout=60)
                self.assertRan(r)
                exps = hardlib.expectations(r.stdout)
                self.assertEqual([e["call"] for e in exps], ["ftruncate64", "__open64_2"])
                found = self.match(r, exps, action="blocked" if mode == "block" else "logged")
                self.assertEqual(found[1].get("flags"), "O_WRONLY|O_TRUNC")
                self.assertNotIn("flags", found[0])
                want = 3 * hardlib.PAGE if mode == "block" else 0
                self.assertEqual(os.stat(os.path.join(d, "fortified")).st_size, want)


if __name__ == "__main__":
    unittest.main()
