"""A posix_spawn file action that opens a mapped file with O_TRUNC: glibc's child makes that open
with an internal call no wrapper sees, and cuts this process's mapping. The guard checks it before
the spawn as it checks the program's own open: reported in log mode (the spawn goes ahead, as bare),
refused in block mode (posix_spawn returns the block errno, as when the child's open fails; no child
runs, the file keeps its size)."""
import errno
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edgelib  # noqa: E402
from edgelib import lines  # noqa: E402


class SpawnCutTest(edgelib.EdgeTest):

    def after(self, r):
        a = lines(r.stdout, "AFTER")
        self.assertEqual(len(a), 1, r.describe())
        return a[0]

    def test_spawn_file_action_trunc(self):
        bare = self.edge("spawn-otrunc")
        self.assertEqual(self.result(bare)["rc"], 0, bare.describe())
        self.assertEqual(self.after(bare), {"size": 0, "status": 0}, bare.describe())

        log = self.edge("spawn-otrunc", "log")
        self.assertEqual(self.result(log), self.result(bare), log.describe())
        self.assertEqual(self.after(log), self.after(bare), log.describe())
        cuts = log.events("truncate")
        self.assertEqual(len(cuts), 1, log.describe())
        c = cuts[0]
        self.assertEqual(c["call"], "posix_spawn", c)
        self.assertEqual(c["action"], "logged", c)
        self.assertEqual((c["size_before"], c["size_after"]), (3 * edgelib.PAGE, 0), c)
        self.assertEqual(c["flags"], "O_WRONLY|O_TRUNC", c)
        self.assertTrue(c["backtrace"], c)

        block = self.edge("spawn-otrunc", "block")
        res = self.result(block)
        self.assertEqual((res["rc"], res["errno"]), (-1, errno.ETXTBSY), block.describe())
        self.assertEqual(self.after(block), {"size": 3 * edgelib.PAGE, "status": -1}, block.describe())
        refused = block.events("truncate")
        self.assertEqual([x["action"] for x in refused], ["blocked"], block.describe())

    def test_relative_path_after_a_change_of_directory_is_left_alone(self):
        """The child resolves the path in the directory a file action moved it to: the file of the
        same name here, which is mapped, is not the one opened. No report, no refusal."""
        bare = self.edge("spawn-chdir-otrunc")
        for mode in ("log", "block"):
            r = self.edge("spawn-chdir-otrunc", mode)
            self.assertNoReports(r)
            self.assertEqual(self.result(r), self.result(bare), r.describe())
            self.assertEqual(self.after(r), self.after(bare), r.describe())
        self.assertEqual(self.after(bare), {"size": 3 * edgelib.PAGE, "status": 0}, bare.describe())


if __name__ == "__main__":
    unittest.main()
