"""The guard's descriptors never take numbers the program would get, whatever RLIMIT_NOFILE is:
the program, which maps a file and cuts it (so the log and libunwind's pipe exist), then opens
/dev/null until EMFILE, gets the same numbers, and as many, as bare. With the hard limit equal to
the soft one there is no number out of reach: the program's numbers are still the same, up to the
(at most three) it can no longer have at the top."""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edgelib  # noqa: E402
import mgtest  # noqa: E402
from edgelib import lines  # noqa: E402

SOFT = (8, 16, 64, 256, 900, 912, 1024)


class FdLimitsTest(edgelib.EdgeTest):

    def fds(self, soft, hard, preload):
        d = tempfile.mkdtemp(dir=self.tmp)
        argv = ["prlimit", "--nofile=%d:%d" % (soft, hard), mgtest.test_prog("edge_log"), "nofile", d]
        r = mgtest.run(argv, preload=preload, timeout=60)
        self.assertEqual(r.returncode, 0, r.describe())
        got = lines(r.stdout, "FDS")
        self.assertEqual(len(got), 1, r.describe())
        if preload:
            self.assertEqual(len(r.events("truncate")), 1, r.describe())
        return [int(x) for x in str(got[0]["list"]).split(",") if x != ""], r

    def test_room_above_the_soft_limit(self):
        for soft in SOFT:
            bare, _ = self.fds(soft, 4096, False)
            guarded, r = self.fds(soft, 4096, True)
            self.assertEqual(guarded, bare, "soft limit %d:\n%s" % (soft, r.describe()))

    def test_no_room_above_the_soft_limit(self):
        for soft in SOFT:
            bare, _ = self.fds(soft, soft, False)
            guarded, r = self.fds(soft, soft, True)
            self.assertEqual(guarded, bare[:len(guarded)], "soft=hard=%d:\n%s" % (soft, r.describe()))
            self.assertGreaterEqual(len(guarded), len(bare) - 3, "soft=hard=%d" % soft)


if __name__ == "__main__":
    unittest.main()
