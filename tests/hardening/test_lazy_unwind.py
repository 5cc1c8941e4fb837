"""When the guard maps its unwinder. libunwind (with liblzma) costs a process about 0.2 ms to load,
so a process with glibc's malloc loads it only on first need: the first file mapping through the
guard (then every record has its stacks), or before fork() in a threaded process (a child of
glibc 2.36's fork may never dlopen if another thread was inside the loader). Under another
allocator, dlopen could land on the allocator's own lock, so it is loaded at start-up."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardlib  # noqa: E402
import mgtest  # noqa: E402


class LazyUnwindTest(hardlib.HardTest):

    def steps(self, argv, env=None, preload_extra=None, prog="hard_lazy"):
        prog = self.program(prog)
        e = dict(env or {})
        if preload_extra:
            e["LD_PRELOAD"] = mgtest.LIB + ":" + preload_extra
        r = mgtest.run([prog] + argv, env=e, timeout=120)
        self.assertRan(r)
        self.assertIn("DONE", r.stdout, hardlib.short(r))
        return r, {s["name"]: s["unwind"] for s in hardlib.parse_lines(r.stdout, "STEP")}

    def test_not_loaded_when_nothing_is_mapped(self):
        r, s = self.steps(["none"])
        self.assertEqual(s, {"start": 0}, hardlib.short(r))
        self.assertEqual(r.records, [], hardlib.short(r))

    def test_bare_program_has_no_unwinder(self):
        # the program's own view, without the guard: what "0" means above
        r = mgtest.run([self.program("hard_lazy"), "none"], preload=False, timeout=60)
        self.assertEqual(hardlib.parse_lines(r.stdout, "STEP"), [{"name": "start", "unwind": 0}])

    def check_file(self, env):
        path = os.path.join(self.tmp, "mapped")
        r, s = self.steps(["file", path], env=env)
        self.assertEqual(s, {"start": 0, "mapped": 1}, hardlib.short(r))
        found = self.match(r, hardlib.expectations(r.stdout))
        rec = found[0]
        self.assertTrue(rec["backtrace"], "the truncating call has no stack\n" + hardlib.short(r))
        self.assertTrue(any((f.get("symbol") or "").startswith("main+") for f in rec["backtrace"]),
                        rec["backtrace"])
        return rec

    def test_loaded_by_the_first_file_mapping(self):
        rec = self.check_file({})
        created = rec["mappings"][0]["backtrace"]
        self.assertTrue(any((f.get("symbol") or "").startswith("main+") for f in created), created)

    def test_loaded_without_creation_stacks_too(self):
        # the SIGBUS handler and the truncation reports still unwind
        rec = self.check_file({"MMAPGUARD_CREATION_STACKS": "0"})
        self.assertEqual(rec["mappings"][0]["backtrace"], [])

    def test_loaded_before_a_threaded_fork(self):
        r, s = self.steps(["threadfork"])
        self.assertEqual(s, {"start": 0, "child": 1, "parent": 1}, hardlib.short(r))

    def test_loaded_at_start_under_jemalloc(self):
        if not os.path.exists(hardlib.JEMALLOC):
            self.skipTest("libjemalloc2 not installed")
        r, s = self.steps(["none"], preload_extra=hardlib.JEMALLOC)
        self.assertEqual(s, {"start": 1}, hardlib.short(r))

    def test_loaded_at_start_with_the_programs_own_malloc(self):
        # RTLD_NEXT from the preload skips the executable: its malloc must still be noticed
        r, s = self.steps(["none"], prog="hard_lazy_own_malloc")
        self.assertEqual(s, {"start": 1}, hardlib.short(r))
        path = os.path.join(self.tmp, "mapped")
        r, s = self.steps(["file", path], prog="hard_lazy_own_malloc")
        self.assertEqual(s, {"start": 1, "mapped": 1}, hardlib.short(r))
        self.assertTrue(self.match(r, hardlib.expectations(r.stdout))[0]["backtrace"])


if __name__ == "__main__":
    unittest.main()
