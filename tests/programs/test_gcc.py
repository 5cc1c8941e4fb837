"""gcc compiling and linking a small multi-file C project under the guard.

The driver forks and execs cc1, as, collect2 and ld, which inherit LD_PRELOAD; ld truncates its
output (O_TRUNC), gold fallocates and maps it MAP_SHARED, lld ftruncates a temporary file, maps
it and renames it over the output. None of that cuts a live mapping: nothing may be reported, and
every object, archive, library and executable must be byte-identical to a bare build (built in
the same directory, one after the other, so that embedded paths agree).
"""
import os
import shutil
import unittest

import progs
from mgtest import GuardTest, run

SOURCES = {
    "util.h": "#ifndef UTIL_H\n#define UTIL_H\nint sq(int);\nconst char *name(void);\n"
              "long table_sum(void);\n#endif\n",
    "main.c": "#include <stdio.h>\n#include \"util.h\"\n"
              "int main(void) { int s = 0; for (int i = 0; i < 10; i++) s += sq(i);\n"
              "  printf(\"%s %d %ld\\n\", name(), s, table_sum()); return 0; }\n",
    "sq.c": "#include \"util.h\"\nint sq(int x) { return x * x; }\n",
    "name.c": "#include \"util.h\"\nconst char *name(void) { return \"project\"; }\n",
    # a larger object, so that the linkers' output is several pages
    "table.c": "#include \"util.h\"\nstatic const long table[] = {\n" +
               "".join("  %d,\n" % (i * 7919 % 100003) for i in range(6000)) +
               "};\nlong table_sum(void) { long s = 0;\n"
               "  for (unsigned i = 0; i < sizeof table / sizeof *table; i++) s += table[i];\n"
               "  return s; }\n",
}
EXPECTED = "project 285 %d\n" % sum(i * 7919 % 100003 for i in range(6000))
UNITS = ["main", "sq", "name", "table"]


class GccTest(GuardTest):
    def setUp(self):
        super().setUp()
        self.gcc = progs.need("gcc")
        self.ar = progs.need("ar")
        self.src = os.path.join(self.tmp, "proj")
        self.env = {"LC_ALL": "C", "TMPDIR": os.path.join(self.tmp, "t")}
        os.mkdir(self.env["TMPDIR"])

    def fresh_tree(self):
        shutil.rmtree(self.src, ignore_errors=True)
        os.mkdir(self.src)
        for n, text in SOURCES.items():
            with open(os.path.join(self.src, n), "w") as f:
                f.write(text)

    def build(self, steps, preload):
        """Runs the steps in a fresh tree; returns ([Run], {file: bytes})."""
        self.fresh_tree()
        runs = []
        for argv in steps:
            r = run(argv, mode="block", preload=preload, cwd=self.src, env=self.env, timeout=300)
            runs.append(r)
            if r.returncode != 0:
                break
        return runs, progs.tree_bytes(self.src)

    def build_both(self, steps, products):
        bare_runs, bare_files = self.build(steps, preload=False)
        for argv, r in zip(steps, bare_runs):
            self.assertEqual(r.returncode, 0, "bare %s failed:\n%s" % (argv, r.describe()))
        guard_runs, guard_files = self.build(steps, preload=True)
        self.assertEqual(len(guard_runs), len(bare_runs), "the guarded build stopped early:\n" +
                         guard_runs[-1].describe())
        for argv, b, g in zip(steps, bare_runs, guard_runs):
            progs.same_run(self, b, g, " ".join(argv))
            self.assertNoReports(g)
        self.assertEqual(sorted(guard_files), sorted(bare_files),
                         "the guarded build produced other files")
        for p in products:
            self.assertIn(p, guard_files, "%s was not built" % p)
        for name in sorted(bare_files):
            self.assertTrue(guard_files[name] == bare_files[name],
                            "%s differs between the bare and the guarded build" % name)
        return guard_files

    def run_product(self, exe, env=None):
        """The built program runs (under the guard too) and prints what it should."""
        r = run([os.path.join(self.src, exe)], mode="block", cwd=self.src, env=env)
        self.assertEqual((r.returncode, r.stdout), (0, EXPECTED), r.describe())
        self.assertNoReports(r)

    def test_compile_archive_link(self):
        g = self.gcc
        steps = [[g, "-O2", "-g", "-Wall", "-c", u + ".c"] for u in UNITS]
        steps += [[self.ar, "rcsD", "libutil.a", "sq.o", "name.o", "table.o"],
                  [g, "-o", "prog", "main.o", "-L.", "-lutil"],
                  # relink over the existing output, and a one-shot compile+link
                  [g, "-o", "prog", "main.o", "-L.", "-lutil"],
                  [g, "-O1", "-o", "prog2", "main.c", "sq.c", "name.c", "table.c"],
                  [g, "-pipe", "-O2", "-o", "prog3", "main.c", "sq.c", "name.c", "table.c"],
                  [g, "-shared", "-fPIC", "-o", "libutil.so", "sq.c", "name.c", "table.c"],
                  [g, "-o", "prog4", "main.c", "-L.", "-lutil", "-Wl,-rpath,$ORIGIN"]]
        self.build_both(steps, ["main.o", "libutil.a", "prog", "prog2", "prog3", "libutil.so",
                                "prog4"])
        for exe in ("prog", "prog2", "prog3", "prog4"):
            self.run_product(exe)

    def linker_test(self, linker):
        if not shutil.which("ld." + linker):
            raise unittest.SkipTest("ld.%s is not installed" % linker)
        g = self.gcc
        ld = "-fuse-ld=" + linker
        steps = [[g, "-O2", "-c", u + ".c"] for u in UNITS]
        steps += [[g, ld, "-o", "prog", "main.o", "sq.o", "name.o", "table.o"],
                  [g, ld, "-o", "prog", "main.o", "sq.o", "name.o", "table.o"],   # over itself
                  [g, ld, "-shared", "-o", "libutil.so", "sq.o", "name.o", "table.o"],
                  [g, ld, "-o", "prog2", "main.o", "./libutil.so"]]
        self.build_both(steps, ["prog", "libutil.so", "prog2"])
        self.run_product("prog")

    def test_gold_maps_its_output(self):
        self.linker_test("gold")

    def test_lld_maps_its_output(self):
        self.linker_test("lld")

    def test_children_inherit_the_guard(self):
        """Every process of a build loads the guard: each complains once about a bad setting."""
        self.fresh_tree()
        bad = {"MMAPGUARD_CREATION_STACKS": "bogus"}
        complaint = ("mmapguard: MMAPGUARD_CREATION_STACKS=bogus is not accepted "
                     "(accepted: 1, 0); using 1")
        # gcc -c: the driver, cc1 and as; linking: also collect2, which runs ld
        for argv in ([self.gcc, "-c", "sq.c"],
                     [self.gcc, "-o", "p", "main.c", "sq.c", "name.c", "table.c"]):
            plan = run(argv + ["-###"], preload=False, cwd=self.src, env=self.env)
            self.assertEqual(plan.returncode, 0, plan.describe())
            # one line per program the driver runs: " /path/cc1 ...", " as ...", " /path/collect2"
            cmds = [l.split()[0].strip('"') for l in plan.stderr.splitlines()
                    if l.startswith(" ") and l[1:2] not in (" ", "")]
            self.assertTrue(cmds, plan.describe())
            procs = ["gcc"] + [os.path.basename(c) for c in cmds]
            procs += ["ld" for c in cmds if os.path.basename(c) == "collect2"]
            r = run(argv, mode="block", cwd=self.src, env=dict(self.env, **bad))
            self.assertEqual(r.returncode, 0, r.describe())
            self.assertNoReports(r)
            lines = r.stderr.splitlines()
            self.assertTrue(all(l == complaint for l in lines), r.describe())
            self.assertEqual(len(lines), len(procs),
                             "expected one complaint from each of %s:\n%s" % (procs, r.describe()))

if __name__ == "__main__":
    unittest.main()
