"""A cut the kernel refuses anyway is no violation: nothing is reported, and the call returns the
kernel's own errno in log and block mode alike (seals, append-only and immutable files, collapse
ranges a filesystem does not support or that overflow, flag combinations open rejects)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edgelib  # noqa: E402


class RefusedCutsTest(edgelib.EdgeTest):

    def check_refused(self, case):
        bare = self.result(self.edge(case))
        self.assertEqual(bare["rc"], -1, "%s succeeds bare: not a refused cut" % case)
        for mode in ("log", "block"):
            r = self.edge(case, mode)
            self.assertNoReports(r)
            self.assertEqual(self.result(r), bare, "%s (%s): errno changed\n%s"
                             % (case, mode, r.describe()))

    def test_sealed_memfd_ftruncate(self):
        self.check_refused("seal")

    def test_sealed_memfd_truncate(self):
        self.check_refused("seal-truncate")

    def test_sealed_memfd_open_trunc(self):
        self.check_refused("seal-open")

    def test_collapse_on_tmpfs(self):
        self.check_refused("collapse-tmpfs")

    def test_collapse_past_2_63(self):
        self.check_refused("collapse-overflow")

    def test_collapse_with_other_mode_bits(self):
        self.check_refused("collapse-mode")

    def test_open_trunc_directory_flag(self):
        self.check_refused("otrunc-directory")

    def test_append_only_ftruncate(self):
        self.check_refused("append-ftruncate")

    def test_append_only_truncate(self):
        self.check_refused("append-truncate")

    def test_append_only_open_trunc(self):
        self.check_refused("append-open")

    def test_immutable_truncate(self):
        self.check_refused("immutable-truncate")

    def test_real_collapse_still_reported(self):
        bare = self.result(self.edge("collapse-ok"))
        if bare["rc"] != 0:
            self.skipTest("this filesystem has no FALLOC_FL_COLLAPSE_RANGE: %s" % bare)
        r = self.edge("collapse-ok", "block")
        self.assertEqual(self.result(r), {"rc": -1, "errno": 26}, r.describe())
        self.assertEqual(len(r.events("truncate", "fallocate")), 1, r.describe())


if __name__ == "__main__":
    unittest.main()
