"""A long soak in block mode (bounded by iteration counts, roughly 20 s here): many threads map,
unmap in pieces, remap, grow, shrink within their windows, truncate files they no longer map,
overlay MAP_FIXED and fork. Not one call may be refused or reported (zero false reports), nothing
may hang (subprocess timeout), the exit status is 0; a real violation at the end is still refused.
HARD_SOAK_ITERS overrides the iteration count (e.g. 100000 for a longer run by hand).

The soak checks the rule inside one process (MMAPGUARD_SCOPE=process): its forked children inherit
whatever windows the other threads have at that moment and keep them until they exit, so under the
default scope a thread's cut of a file it no longer maps is a real cut of a child's window.
tests/xproc checks the scopes across processes."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardlib  # noqa: E402
import mgtest  # noqa: E402

THREADS = 8
ITERS = int(os.environ.get("HARD_SOAK_ITERS", "12000"))


class SoakTest(hardlib.HardTest):

    def test_soak_block_mode(self):
        r = mgtest.run([self.program("hard_soak"), self.tmp, str(THREADS), str(ITERS)],
                       mode="block", env={"MMAPGUARD_SCOPE": "process"}, timeout=900)
        falses = [ln for ln in r.stdout.splitlines() if ln.startswith("FALSE")]
        self.assertEqual(falses, [], "legitimate calls were refused or failed\n" + hardlib.short(r))
        self.assertRan(r)
        self.assertIn("SUMMARY falses=0", r.stdout)
        exps = hardlib.expectations(r.stdout)
        self.assertEqual(len(exps), 1, "only the final violation")
        self.assertTrue(exps[0]["path"].endswith("/soak_final"))
        # exactly one record: the final, refused violation; no false report during the soak
        self.match(r, exps, action="blocked")


if __name__ == "__main__":
    unittest.main()
