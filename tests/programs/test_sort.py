"""sort(1) of a few MB under the guard: in memory, with temporary files and threads, in place.

sort maps its locale files (MAP_PRIVATE/MAP_SHARED, live for the whole run) and writes its output
with open/ftruncate; none of that may be reported, and every output must be byte-identical to a
bare run.
"""
import os
import random
import unittest

import progs
from mgtest import GuardTest, run


class SortTest(GuardTest):
    def setUp(self):
        super().setUp()
        self.sort = progs.need("sort")
        self.bare_dir = os.path.join(self.tmp, "bare")
        self.guard_dir = os.path.join(self.tmp, "guard")
        rnd = random.Random(20261125)
        lines = ["%08d %s %d\n" % (rnd.randrange(10 ** 8), "w" * rnd.randrange(1, 30),
                                   rnd.randrange(1000)) for _ in range(250000)]
        data = "".join(lines).encode()
        self.assertGreater(len(data), 4 << 20)
        for d in (self.bare_dir, self.guard_dir):
            os.mkdir(d)
            os.mkdir(os.path.join(d, "tmp"))
            with open(os.path.join(d, "in.txt"), "wb") as f:
                f.write(data)

    def pair(self, args, outputs, env=None):
        env = dict(env or {})
        env.setdefault("LC_ALL", "C.UTF-8")
        bare = run([self.sort] + args, preload=False, cwd=self.bare_dir, env=env, timeout=300)
        guarded = run([self.sort] + args, mode="block", cwd=self.guard_dir, env=env, timeout=300)
        self.assertEqual(bare.returncode, 0, "bare sort failed:\n" + bare.describe())
        progs.same_run(self, bare, guarded, "sort " + " ".join(args))
        self.assertNoReports(guarded)
        progs.same_files(self, self.bare_dir, self.guard_dir, outputs, "sort " + " ".join(args))
        return guarded

    def test_in_memory_to_file(self):
        self.pair(["in.txt", "-o", "out.txt"], ["out.txt"])
        with open(os.path.join(self.guard_dir, "out.txt"), "rb") as f:
            out = f.read().splitlines()
        self.assertEqual(out, sorted(out), "the output is not sorted")
        self.assertEqual(len(out), 250000)

    def test_external_merge_with_threads(self):
        # a small buffer forces temporary files (created, written, read back, removed)
        self.pair(["-S", "256K", "-T", "tmp", "--parallel=2", "-k3,3n", "-k1,1", "in.txt",
                   "-o", "merged.txt"], ["merged.txt"])
        self.assertEqual(os.listdir(os.path.join(self.guard_dir, "tmp")), [],
                         "sort left temporary files behind")

    def test_in_place_and_stdout(self):
        # -o onto its own input: sort reads everything, then truncates and rewrites the file
        self.pair(["-u", "-n", "-r", "in.txt", "-o", "in.txt"], ["in.txt"])
        g = self.pair(["-c", "-u", "-n", "-r", "in.txt"], ["in.txt"])
        self.assertEqual(g.stdout, "")

    def test_pipeline_via_shell(self):
        sh = progs.need("sh")
        cmd = "%s -t' ' -k2,2 -k1,1n in.txt | %s -s -k3,3n > piped.txt" % (self.sort, self.sort)
        bare = run([sh, "-c", cmd], preload=False, cwd=self.bare_dir, env={"LC_ALL": "C"})
        guarded = run([sh, "-c", cmd], mode="block", cwd=self.guard_dir, env={"LC_ALL": "C"})
        progs.same_run(self, bare, guarded, cmd)
        self.assertNoReports(guarded)
        progs.same_files(self, self.bare_dir, self.guard_dir, ["piped.txt"], cmd)


if __name__ == "__main__":
    unittest.main()
