"""The guard under valgrind's memcheck: a reported cut (log mode) and a refused one (block mode) by
a program with a cutter thread. The guard formats records on a stack of its own; memcheck must see
no invalid access and no use of uninitialised memory by the guard (libunwind's own address checks
are suppressed in valgrind.supp, with the reason)."""
import os
import shutil
import tempfile
import unittest

import mgtest

SUPP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "valgrind.supp")
ERROR_EXIT = 97


@unittest.skipUnless(shutil.which("valgrind"), "valgrind is not installed")
class ValgrindTest(mgtest.GuardTest):
    def memcheck(self, call, mode):
        d = tempfile.mkdtemp(dir=self.tmp)
        argv = ["valgrind", "-q", "--error-exitcode=%d" % ERROR_EXIT, "--suppressions=" + SUPP,
                "--num-callers=30", mgtest.test_prog("mg_entry"), call, d]
        r = mgtest.run(argv, mode=mode, timeout=600)
        self.assertNotEqual(r.returncode, ERROR_EXIT, "memcheck found errors:\n" + r.describe())
        self.assertEqual(r.returncode, 0, r.describe())
        cuts = r.events("truncate")
        self.assertEqual(len(cuts), 1, r.describe())
        self.assertTrue(cuts[0]["backtrace"] and cuts[0]["mappings"], cuts[0])
        return cuts[0]

    def test_reported_cut(self):
        self.assertEqual(self.memcheck("truncate", "log")["action"], "logged")

    def test_refused_cut(self):
        self.assertEqual(self.memcheck("open", "block")["action"], "blocked")


if __name__ == "__main__":
    unittest.main()
