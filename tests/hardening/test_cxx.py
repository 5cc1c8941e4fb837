"""A C program dlopens a C++ plugin (built here with g++) that throws and catches exceptions, under
the guard: everything works, and the dynamic linker binds the unwinder entry points
(_Unwind_RaiseException, _Unwind_Resume, ...) to libgcc_s, never to the libunwind the guard loads
for its stacks (LD_DEBUG=bindings)."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardlib  # noqa: E402
import mgtest  # noqa: E402

BIND_RE = re.compile(r"binding file (\S+) \[\d+\] to (\S+) \[\d+\]: normal symbol `([^']+)'")
N = 25


class CxxPluginTest(hardlib.HardTest):

    def plugin(self):
        try:
            return hardlib.compile_cxx_plugin(os.path.join(hardlib.HERE, "hard_plugin.cpp"),
                                              os.path.join(self.tmp, "libhard_plugin.so"))
        except RuntimeError as e:
            self.skipTest(str(e))

    def run_plugin(self, env=None):
        plugin = self.plugin()
        r = mgtest.run([self.program("hard_dlopen"), self.tmp, plugin, str(N)], env=env,
                       timeout=120)
        return r

    def test_exceptions_work_and_are_reported_around(self):
        r = self.run_plugin()
        self.assertRan(r)
        runs = hardlib.parse_lines(r.stdout, "PLUGIN")
        self.assertEqual([x["caught"] for x in runs], [3 * N, 3 * N], hardlib.short(r))
        # deep(d) leaves d+1 Trackers per throw; both runs destroyed all of them
        per_run = sum((i % 7) + 1 for i in range(N))
        self.assertEqual(runs[0]["destroyed"], per_run)
        self.assertEqual(runs[1]["destroyed"], 2 * per_run)
        exps = hardlib.expectations(r.stdout)
        self.assertEqual(len(exps), 2)
        found = self.match(r, exps)
        # the second window was mapped inside the plugin's catch handler: its creation stack
        # names the plugin
        stack = found[1]["mappings"][0]["backtrace"]
        self.assertTrue(any(f.get("module", "").endswith("libhard_plugin.so") for f in stack),
                        "creation stack does not pass through the plugin: %s" % stack)

    def test_unwinder_bound_to_libgcc_s(self):
        debug = os.path.join(self.tmp, "ld-debug")
        r = self.run_plugin(env={"LD_DEBUG": "bindings", "LD_DEBUG_OUTPUT": debug})
        self.assertRan(r)
        text = ""
        for name in os.listdir(self.tmp):
            if name.startswith("ld-debug"):
                with open(os.path.join(self.tmp, name), errors="replace") as f:
                    text += f.read()
        binds = [m.groups() for m in BIND_RE.finditer(text)]
        self.assertTrue(binds, "no LD_DEBUG output")
        unwind = [(src, dst, sym) for src, dst, sym in binds if sym.startswith("_Unwind_")]
        wrong = [b for b in unwind if "libgcc_s" not in os.path.basename(b[1])
                 and os.path.basename(b[0]) != os.path.basename(b[1])]
        self.assertEqual(wrong, [], "unwinder symbols bound outside libgcc_s")
        names = {sym for _, dst, sym in unwind if "libgcc_s" in dst}
        for needed in ("_Unwind_RaiseException", "_Unwind_Resume"):
            self.assertIn(needed, names, "%s was never bound (to libgcc_s): %s" % (needed, names))
        # and nothing at all binds to the guard's libunwind from outside it
        to_unwind = [b for b in binds if "libunwind" in os.path.basename(b[1])
                     and "libunwind" not in os.path.basename(b[0])
                     and "libmmapguard" not in os.path.basename(b[0])]
        self.assertEqual(to_unwind, [], "the program or its libraries bound to libunwind")


if __name__ == "__main__":
    unittest.main()
