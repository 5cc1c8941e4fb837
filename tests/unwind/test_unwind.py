"""The creation-stack walk by the loaded objects' CFI (shim/cfi_walk.c) gives libunwind's stacks.

Under MMAPGUARD_UNWIND=check every capture is walked both ways from the same frame, libunwind's
stack is kept, and the guard writes each difference and a summary at exit on stderr. The cases
cover what the walk follows (recursion past the 32 frames read, alloca frames, rbp used as a plain
register, the same leaf reached from two callers at the same depth, threads, real programs) and
what it leaves to libunwind (a signal frame, a CFA given as an expression, code without CFI). A
cut's record is also compared between the default walk and MMAPGUARD_UNWIND=libunwind. Code
replaced at the same addresses (dlclose, then dlopen) is checked against the return addresses the
program writes down: there libunwind 1.6's own cache keeps the old code's rules.
"""
import os
import re
import shutil
import unittest

import mgtest

SUMMARY = re.compile(r"^mmapguard: unwind check: (\d+) stacks, (\d+) walked by CFI "
                     r"\((\d+) from a kept walk\), (\d+) different$",
                     re.M)


class UnwindWalk(mgtest.GuardTest):
    def setUp(self):
        super().setUp()
        self.file = os.path.join(self.tmp, "data")
        with open(self.file, "wb") as f:
            f.write(b"\0" * 8192)

    def check(self, argv, env=None, same=True):
        e = {"MMAPGUARD_UNWIND": "check"}
        e.update(env or {})
        r = mgtest.run(argv, env=e, timeout=300)
        found = SUMMARY.findall(r.stderr)
        self.assertTrue(found, "no unwind check summary\n" + r.describe())
        stacks = sum(int(f[0]) for f in found)
        walked = sum(int(f[1]) for f in found)
        self.kept = sum(int(f[2]) for f in found)
        diff = sum(int(f[3]) for f in found)
        if same:
            self.assertEqual(diff, 0, "the walks differ\n" + r.describe())
            self.assertNotIn("unwind check: cfi", r.stderr)
        return r, stacks, walked

    def prog(self, case, *more):
        return [mgtest.test_prog("unwind_prog"), self.file, case] + list(more)

    def test_followed_stacks_are_libunwinds(self):
        # loop(100): 100 deep() + 100 with_alloca() + 100 via_g/h + 300 rbp_counter mappings
        r, stacks, walked = self.check(self.prog("loop"))
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(stacks, 600, r.describe())
        self.assertEqual(walked, stacks, r.describe())

    def test_a_repeated_walk_is_kept_from_every_stack_position(self):
        # 64 stack positions, 2 call sites, 8 mappings each: the first walk of each runs the
        # rules, the 7 others are answered by the kept walk, whatever the distance from the
        # position to the top of the stack
        r, stacks, walked = self.check(self.prog("depths"))
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(stacks, 64 * 2 * 8, r.describe())
        self.assertEqual(walked, stacks, r.describe())
        self.assertEqual(self.kept, 64 * 2 * 7, r.describe())

    def test_threads(self):
        r, stacks, walked = self.check(self.prog("threads"))
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(stacks, 6 * (30 + 31 + 32 + 33), r.describe())
        self.assertEqual(walked, stacks, r.describe())

    def test_code_replaced_at_the_same_addresses(self):
        # Two builds of a library with the same code at the same addresses and frames of
        # different sizes, each loaded, used and closed in turn. libunwind's own cache is not
        # the oracle here: the callers write down their return addresses.
        libs = [mgtest.test_prog("unwind_lib_a.so"), mgtest.test_prog("unwind_lib_b.so")]
        r = mgtest.run(self.prog("libs", *libs))
        self.assertEqual(r.returncode, 0, r.describe())
        at = {}
        for path, addr in re.findall(r"^lib (\S+) (0x[0-9a-f]+)$", r.stdout, re.M):
            at.setdefault(addr, set()).add(path)
        # the precondition: the other library was loaded where the first had been
        self.assertTrue(any(len(p) == 2 for p in at.values()), r.stdout)
        expected = [l.split()[1:] for l in r.stdout.splitlines() if l.startswith("expect ")]
        self.assertEqual(len(expected), 4, r.stdout)
        cuts = r.events("truncate")
        self.assertEqual(len(cuts), 1, r.describe())
        got = [[f["ip"] for f in m["backtrace"]][1:5] for m in cuts[0]["mappings"]]
        self.assertEqual(sorted(got), sorted(expected), r.describe())
        # and by the rules, not by libunwind: a rule kept from the closed library would not
        # follow the other's frames (libunwind's stacks are not compared: see above)
        with open(self.file, "wb") as f:
            f.write(b"\0" * 8192)
        r, stacks, walked = self.check(self.prog("libs", *libs), same=False)
        self.assertEqual(r.returncode, 0, r.describe())
        # 2 rounds x 2 libraries x 6 calls, each dlopen's own mapping, and the cut's stack
        self.assertEqual(stacks, 2 * 2 * 6 + 4 + 1, r.describe())
        self.assertEqual(walked, stacks, r.describe())

    def left_to_libunwind(self, case, extra):
        r, stacks, walked = self.check(self.prog(case))
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(stacks, extra + 2 * 6, r.describe())
        # the stacks through that frame are libunwind's alone; the loop's are walked
        self.assertEqual(walked, 2 * 6, r.describe())

    def test_signal_frame(self):
        self.left_to_libunwind("signal", 3)

    def test_cfa_expression(self):
        self.left_to_libunwind("expr", 2)

    def test_code_without_cfi(self):
        self.left_to_libunwind("nocfi", 2)

    def test_cut_record_same_as_libunwind(self):
        stacks = []
        for how in ("cfi", "libunwind"):
            with open(self.file, "wb") as f:
                f.write(b"\0" * 8192)
            r = mgtest.run(self.prog("cut"), env={"MMAPGUARD_UNWIND": how})
            self.assertEqual(r.returncode, 0, r.describe())
            cuts = r.events("truncate")
            self.assertEqual(len(cuts), 1, r.describe())
            created = cuts[0]["mappings"][0]["backtrace"]
            stacks.append([(f["module_offset"], f.get("symbol")) for f in created])
        names = [s for _, s in stacks[0]]
        self.assertEqual(sum(1 for s in names if s and s.startswith("keep_map+")), 7, names)
        self.assertTrue(any(s and s.startswith("main+") for s in names), names)
        self.assertEqual(stacks[0], stacks[1])

    def test_real_programs(self):
        ran = 0
        py = shutil.which("python3")
        if py:
            code = ("import mmap, threading\n"
                    "f = open(%r, 'rb')\n"
                    "def w():\n"
                    "    for i in range(50):\n"
                    "        mmap.mmap(f.fileno(), 4096, prot=mmap.PROT_READ).close()\n"
                    "t = [threading.Thread(target=w) for _ in range(3)]\n"
                    "[x.start() for x in t]; [x.join() for x in t]\n" % self.file)
            r, stacks, walked = self.check([py, "-c", code])
            self.assertEqual(r.returncode, 0, r.describe())
            self.assertGreaterEqual(stacks, 150, r.describe())
            self.assertGreater(walked, 0, r.describe())
            ran += 1
        sq = shutil.which("sqlite3")
        if sq:
            db = os.path.join(self.tmp, "t.db")
            r, stacks, walked = self.check([sq, db, "pragma mmap_size=1000000; create table t(a);"
                                            " insert into t values(1),(2); select count(*) from t;"])
            self.assertEqual(r.returncode, 0, r.describe())
            self.assertGreater(walked, 0, r.describe())
            ran += 1
        if not ran:
            self.skipTest("neither python3 nor sqlite3 here")


if __name__ == "__main__":
    unittest.main()
