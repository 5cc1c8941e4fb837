"""A mapping call that fails leaves the registry exactly as it was; mremap's arguments all reach
the kernel. Each case: a failed (or unusual) call on a 3-page shared file mapping, then a real cut
of the whole file, which must be reported for the whole, unchanged window."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edgelib  # noqa: E402
import mgtest  # noqa: E402
from edgelib import PAGE, lines  # noqa: E402


class FailedCallsTest(edgelib.EdgeTest):

    def check_cut_after_failure(self, case):
        bare = self.edge(case)
        failed = lines(bare.stdout, "FAILED")[0]
        self.assertEqual(failed["rc"], -1, bare.describe())
        for mode in ("log", "block"):
            r = self.edge(case, mode)
            self.assertEqual(lines(r.stdout, "FAILED")[0], failed, "%s: %s" % (mode, r.describe()))
            mp = lines(r.stdout, "MAP")[0]
            recs = r.events("truncate", "ftruncate")
            self.assertEqual(len(recs), 1, r.describe())
            rec = recs[0]
            self.assertEqual(rec["action"], "logged" if mode == "log" else "blocked")
            self.assertEqual(rec["mappings_total"], 1, r.describe())
            w = rec["mappings"][0]
            self.assertEqual((int(w["addr"], 16), w["length"], w["offset"], w["pages_beyond_eof"]),
                             (mp["addr"], 3 * PAGE, 0, 3), "%s: the window changed: %s" % (case, w))
            res = self.result(r)
            if mode == "log":
                self.assertEqual(res, self.result(bare))
            else:
                self.assertEqual(res, {"rc": -1, "errno": 26})

    def test_munmap_unaligned(self):
        self.check_cut_after_failure("munmap-unaligned")

    def test_munmap_zero_length(self):
        self.check_cut_after_failure("munmap-zero")

    def test_munmap_wrapping_length(self):
        self.check_cut_after_failure("munmap-wrap")

    def test_mremap_unaligned(self):
        self.check_cut_after_failure("mremap-unaligned")

    def test_mremap_dontunmap_hint(self):
        bare = self.edge("mremap-hint")
        if lines(bare.stdout, "HINT")[0]["at_hint"] != 1:
            self.skipTest("the kernel does not honour the hint here: " + bare.stdout)
        for mode in ("log", "block"):
            r = self.edge("mremap-hint", mode)
            self.assertEqual(lines(r.stdout, "HINT")[0]["at_hint"], 1,
                             "the hint (fifth argument) was dropped: " + r.describe())

    def test_mremap_dontunmap_keeps_old_range(self):
        bare = self.edge("mremap-dontunmap")
        self.assertEqual(self.result(bare), {"rc": 0, "errno": 0})
        # without a thread the call keeps the registry lock; with one it runs under a claim
        for env in (None, mgtest.thread_first_env()):
            r = self.edge("mremap-dontunmap", "log", env=env)
            maps = sorted(m["addr"] for m in lines(r.stdout, "MAP"))
            recs = r.events("truncate", "ftruncate")
            self.assertEqual(len(recs), 1, r.describe())
            self.assertEqual(recs[0]["mappings_total"], 2, r.describe())
            self.assertEqual(sorted(int(w["addr"], 16) for w in recs[0]["mappings"]), maps)


if __name__ == "__main__":
    unittest.main()
