"""The first call into the guard before its constructor ran: from another library's constructor
(preloaded before or after the guard, or a DT_NEEDED dependency of the program), from the program's
preinit_array, from threads started in such a constructor. No crash, every violation reported.

ld.so runs the constructors of LD_PRELOAD="A B" in the order B, A: a library listed BEFORE the
guard is initialized AFTER it. Each library says whether the guard's constructor had run when its
own started (EARLY guard_ctor_ran=0|1); the tests assert the order they rely on.

Stacks: the guard loads libunwind in its constructor, so a record (or a window) made before it
may carry an empty backtrace; one made after it must not."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardlib  # noqa: E402
import mgtest  # noqa: E402


class EarlyTest(hardlib.HardTest):

    def early_lib(self):
        path = os.path.join(mgtest.BIN, "libhard_early.so")
        if not os.path.exists(path):
            self.skipTest("libhard_early.so not built")
        return path

    def run_early(self, argv, preload):
        r = mgtest.run(argv, env={"LD_PRELOAD": preload, "HARD_EARLY_DIR": self.tmp}, timeout=120)
        self.assertRan(r)
        self.assertIn("DONE", r.stdout, hardlib.short(r))
        return r

    def check_early(self, r, want_before_guard):
        early = hardlib.parse_lines(r.stdout, "EARLY")
        self.assertTrue(early, hardlib.short(r))
        self.assertEqual(early[0].get("guard_ctor_ran"), 0 if want_before_guard else 1,
                         "constructor order is not what this test relies on\n" + hardlib.short(r))
        exps = hardlib.expectations(r.stdout)
        # ctor ftruncate, ctor open, joined thread, 20 from the background thread, the later cut
        # of the constructor's mapping, main's own
        self.assertEqual(len(exps), 1 + 1 + 1 + 20 + 1 + 1, hardlib.short(r))
        found = self.match(r, exps)
        # After the guard's constructor, stacks exist; before it they may be empty.
        for i, e in enumerate(exps):
            rec = found[i]
            if e["path"].endswith("/main_cut") or e["path"].endswith("/early_later"):
                self.assertTrue(rec["backtrace"], "no stack after the guard's constructor: %s"
                                % hardlib.describe(rec))
            if not want_before_guard:
                self.assertTrue(rec["backtrace"], "the guard's constructor had run, yet no stack: %s"
                                % hardlib.describe(rec))
        return exps, found

    def test_library_listed_after_guard_runs_first(self):
        lib = self.early_lib()
        r = self.run_early([self.program("hard_early_main"), self.tmp],
                           "%s %s" % (mgtest.LIB, lib))
        self.check_early(r, want_before_guard=True)

    def test_library_listed_before_guard(self):
        lib = self.early_lib()
        r = self.run_early([self.program("hard_early_main"), self.tmp],
                           "%s %s" % (lib, mgtest.LIB))
        self.check_early(r, want_before_guard=False)

    def test_dependency_of_the_program(self):
        self.early_lib()
        r = self.run_early([self.program("hard_early_needed"), self.tmp], mgtest.LIB)
        self.check_early(r, want_before_guard=True)

    def preinit(self, mode):
        argv = [self.program("hard_preinit"), self.tmp] + (["block"] if mode == "block" else [])
        r = mgtest.run(argv, mode=mode, timeout=120)
        # environ is still NULL while preinit_array runs (libc sets it later): a guard that reads
        # its configuration then and keeps it ignores MMAPGUARD_LOG/FORMAT/MODE for good
        if "mmapguard: " in r.stderr:
            self.fail("records went to stderr, not to MMAPGUARD_LOG: the configuration was read "
                      "before the environment existed\n" + hardlib.short(r, 1500))
        self.assertRan(r)
        pre = hardlib.parse_lines(r.stdout, "PREINIT")
        self.assertEqual(pre, [{"guard_ctor_ran": 0}], hardlib.short(r))
        exps = hardlib.expectations(r.stdout)
        self.assertEqual(len(exps), 3, hardlib.short(r))
        found = self.match(r, exps, action="blocked" if mode == "block" else "logged")
        self.assertTrue(found[1]["backtrace"] and found[2]["backtrace"],
                        "records made in main() have no stack")
        # the window made in preinit is known, with its creator
        m = found[1]["mappings"]
        self.assertEqual(len(m), 1)
        self.assertEqual(m[0]["tid"], exps[1]["tid"])

    def test_preinit_array(self):
        self.preinit("log")

    def test_preinit_array_block_mode(self):
        self.preinit("block")


if __name__ == "__main__":
    unittest.main()
