"""A cut made by a vfork child (which shares the parent's memory, and so the guard's history of
cuts) is named in the parent's sigbus record as the child's, not as "this process"."""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edgelib  # noqa: E402
import mgtest  # noqa: E402
from edgelib import lines  # noqa: E402


class VforkCutTest(edgelib.EdgeTest):

    def test_vfork_child_cut(self):
        d = tempfile.mkdtemp(dir=self.tmp)
        r = mgtest.run([mgtest.test_prog("edge_calls"), "vfork-cut", d], mode="log", timeout=60)
        self.assertEqual(r.returncode, -7, r.describe())           # SIGBUS, as bare
        child = lines(r.stdout, "CHILD")[0]["pid"]
        cuts = r.events("truncate")
        self.assertEqual([c["pid"] for c in cuts], [child], r.describe())
        faults = r.events("sigbus")
        self.assertEqual(len(faults), 1, r.describe())
        f = faults[0]
        self.assertNotEqual(f["pid"], child)
        self.assertIsNotNone(f["truncation"], r.describe())
        self.assertEqual(f["truncation"].get("pid"), child, r.describe())
        self.assertIn("vfork child", f["note"])
        self.assertNotIn("this process truncated", f["note"])


if __name__ == "__main__":
    unittest.main()
