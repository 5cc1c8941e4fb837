"""Objects mapped by the dynamic loader are tracked like any other window.

dlm_prog (dlm_prog.c) loads a copy of libdlm_lib.so with dlopen and cuts it in place the way cp
does (open O_WRONLY|O_TRUNC, write, close); dlm_prog_needed has the library as DT_NEEDED. Every
library is a private copy in a scratch directory, so a cut never touches the build tree.
"""
import os
import shutil
import signal
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mgtest  # noqa: E402

ETXTBSY = 26


class DlopenTest(mgtest.GuardTest):

    def setUp(self):
        super().setUp()
        self.lib_src = os.path.join(mgtest.test_prog("dlm_prog").rsplit("/", 1)[0], "libdlm_lib.so")
        if not os.path.exists(self.lib_src):
            self.skipTest("libdlm_lib.so was not built")

    def copy(self, src, *parts):
        dst = os.path.join(self.tmp, *parts)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(src, dst)
        return dst

    def lib(self, *parts):
        return self.copy(self.lib_src, *(parts or ("libdlm_lib.so",)))

    def prog(self, name="dlm_prog"):
        return self.copy(mgtest.test_prog(name), name)

    def lines(self, r):
        return [l for l in r.stdout.splitlines() if l]

    def truncates(self, r, path):
        recs = [x for x in r.events("truncate") if x["path"] == path]
        self.assertTrue(recs, "no truncate record for %s:\n%s" % (path, r.describe()))
        return recs

    def assert_windows_of(self, rec, path, r):
        self.assertGreaterEqual(rec["mappings_total"], 1, r.describe())
        for m in rec["mappings"]:
            self.assertEqual(m["path"], path, r.describe())
            self.assertFalse(m["shared"], "the loader maps MAP_PRIVATE:\n" + r.describe())
            self.assertGreater(m["pages_beyond_eof"], 0, r.describe())

    def assert_created_by_dlopen(self, rec, r):
        for m in rec["mappings"]:
            syms = [f["symbol"] or "" for f in m["backtrace"]]
            self.assertTrue(syms and syms[0].startswith("load_library"),
                            "creation stack is not the dlopen call's: %r\n%s" % (syms, r.describe()))

    # ---- a library rewritten in place by another process (cp over it), with leases ----------

    def cut_from_outside(self, leases, map_first=False):
        """dlm_prog loads a library, maps a file (its first lease) and waits; a process that is not
        guarded truncates the library the way a shell's '>' does; then dlm_prog calls into it
        and reads its last page."""
        lib = self.lib()
        logdir = os.path.join(self.tmp, "log-%s-%d" % (leases, map_first))
        os.mkdir(logdir)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MMAPGUARD_") and k != "LD_PRELOAD"}
        bare = dict(env)
        env.update({"LD_PRELOAD": mgtest.LIB, "MMAPGUARD_LEASES": leases, "MMAPGUARD_LOG_FORMAT": "json",
                    "MMAPGUARD_LOG": os.path.join(logdir, "log.%p")})
        data = os.path.join(self.tmp, "data-%s-%d" % (leases, map_first))
        with open(data, "wb") as f:
            f.write(b"d" * 4096)
        # leases begin with the program's first file mapping (the loaded libraries' with it)
        steps = ["load", lib, "map", data]
        if map_first:                  # a library loaded after the first lease
            steps = steps[2:] + steps[:2]
        p = subprocess.Popen([self.prog()] + steps + ["wait", "call", "touch", "15", "quit"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        got = sorted(p.stdout.readline().split()[0] for _ in range(2))
        self.assertEqual(got, ["loaded", "mapped-file"])
        self.assertEqual(p.stdout.readline().strip(), "waiting")
        subprocess.run(["sh", "-c", ': > "$1"', "sh", lib], env=bare, check=True, timeout=60)
        out, _ = p.communicate("go\n", timeout=60)
        recs, bad, _ = mgtest.read_records(logdir)
        self.assertEqual(bad, [])
        return lib, p.returncode, out.split("\n"), recs

    def test_a_library_cut_by_another_process_names_it(self):
        lib, rc, out, recs = self.cut_from_outside("watch")
        self.assertEqual(rc, -signal.SIGBUS, out)
        (lb,) = [x for x in recs if x["event"] == "lease_break"]
        self.assertEqual(lb["path"], lib)
        self.assertEqual(lb["breaker"]["comm"], "sh")
        self.assertGreaterEqual(lb["mappings_total"], 1, lb)
        self.assertTrue(all(not m["shared"] for m in lb["mappings"]), lb)
        syms = [f["symbol"] or "" for f in lb["mappings"][0]["backtrace"]]
        self.assertTrue(syms and syms[0].startswith("load_library"), syms)
        (sb,) = [x for x in recs if x["event"] == "sigbus"]
        self.assertEqual(sb["path"], lib)
        self.assertEqual(sb["cut_by"]["pid"], lb["breaker"]["pid"], sb)
        self.assertEqual(sb["cut_by"]["seen_by"], "lease", sb)

    def test_rescue_keeps_a_library_cut_by_another_process(self):
        for map_first in (False, True):
            with self.subTest(map_first=map_first):
                self.rescued(map_first)

    def rescued(self, map_first):
        lib, rc, out, recs = self.cut_from_outside("rescue", map_first)
        self.assertEqual(rc, 0, out)
        self.assertIn("answer 42", out)
        self.assertIn("read 0", out)
        self.assertEqual(os.path.getsize(lib), 0, "the cut went ahead")
        (lb,) = [x for x in recs if x["event"] == "lease_break"]
        self.assertEqual(lb["action"], "rescued", lb)
        self.assertTrue(all(m["rescued"] for m in lb["mappings"]), lb)
        self.assertEqual([x for x in recs if x["event"] == "sigbus"], [])

    # ---- a dlopen'ed library cut in place -------------------------------------------------------

    def test_log_reports_the_cut_with_the_dlopen_stack(self):
        lib = self.lib()
        size = os.path.getsize(lib)
        r = mgtest.run([self.prog(), "load", lib, "mapped", lib, "cut", lib, "quit"])
        self.assertValidLog(r)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(self.lines(r), ["loaded %s errno=12345" % lib, "mapped 1", "cut ok"])
        (rec,) = self.truncates(r, lib)
        self.assertEqual(rec["action"], "logged")
        self.assertEqual((rec["size_before"], rec["size_after"]), (size, 0))
        self.assert_windows_of(rec, lib, r)
        self.assert_created_by_dlopen(rec, r)
        self.assertEqual(os.path.getsize(lib), 16, "log mode must let the cut through")

    def test_block_refuses_the_cut_and_the_program_runs_on(self):
        lib = self.lib()
        size = os.path.getsize(lib)
        r = mgtest.run([self.prog(), "load", lib, "cut", lib, "call", "touch", "9"], mode="block")
        self.assertValidLog(r)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(self.lines(r)[1:], ["cut errno=%d" % ETXTBSY, "answer 42", "read 0"])
        (rec,) = self.truncates(r, lib)
        self.assertEqual(rec["action"], "blocked")
        self.assert_windows_of(rec, lib, r)
        self.assertEqual(os.path.getsize(lib), size)

    def test_after_dlclose_a_cut_is_not_reported(self):
        lib = self.lib()
        r = mgtest.run([self.prog(), "load", lib, "mapped", lib, "close", "mapped", lib, "cut", lib],
                       mode="block")
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(self.lines(r)[1:], ["mapped 1", "closed 0", "mapped 0", "cut ok"])
        self.assertNoReports(r)
        self.assertEqual(os.path.getsize(lib), 16)

    def test_sigbus_in_the_cut_library_is_recorded(self):
        lib = self.lib()
        r = mgtest.run([self.prog(), "load", lib, "cut", lib, "touch", "9"])
        self.assertValidLog(r)
        self.assertEqual(r.returncode, -signal.SIGBUS, r.describe())
        sig = r.events("sigbus")
        self.assertEqual(len(sig), 1, r.describe())
        sig = sig[0]
        self.assertEqual(sig["path"], lib)
        self.assertEqual(sig["verdict"], "truncated", r.describe())
        self.assertEqual(sig["registry"], "exact")
        self.assertEqual(sig["mappings"][0]["path"], lib)
        self.assertIsNotNone(sig["truncation"], "the cut by this process is linked:\n" + r.describe())
        self.assertEqual(sig["truncation"]["call"], "open")

    def test_survive_mode_never_zero_fills_a_library(self):
        lib = self.lib()
        r = mgtest.run([self.prog(), "load", lib, "cut", lib, "touch", "9"],
                       env={"MMAPGUARD_SIGBUS": "survive"})
        self.assertEqual(r.returncode, -signal.SIGBUS, r.describe())
        self.assertEqual([x["action"] for x in r.events("sigbus")], ["reported"], r.describe())

    # ---- libraries present at start-up ---------------------------------------------------------

    def test_startup_library_cut_is_reported(self):
        prog = self.prog("dlm_prog_needed")
        lib = self.lib()                     # found through the program's $ORIGIN run path
        r = mgtest.run([prog, "needed-path", "mapped", lib, "cut", lib, "quit"])
        self.assertValidLog(r)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(self.lines(r), ["needed %s answer 42" % lib, "mapped 1", "cut ok"])
        (rec,) = self.truncates(r, lib)
        self.assert_windows_of(rec, lib, r)
        # mapped before the guard ran: no creation stack to show
        self.assertEqual([m["backtrace"] for m in rec["mappings"]], [[]] * len(rec["mappings"]))

    def test_startup_library_cut_is_refused_in_block_mode(self):
        prog = self.prog("dlm_prog_needed")
        lib = self.lib()
        r = mgtest.run([prog, "cut", lib, "needed-path"], mode="block")
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(self.lines(r), ["cut errno=%d" % ETXTBSY, "needed %s answer 42" % lib])
        self.assertEqual([x["action"] for x in r.events("truncate")], ["blocked"])

    def test_running_executable_is_not_reported(self):
        """The kernel refuses to write a running program (ETXTBSY): nothing for the guard to say."""
        prog = self.prog("dlm_prog_needed")
        self.lib()
        r = mgtest.run([prog, "mapped", prog, "cut", prog])
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(self.lines(r), ["mapped 1", "cut errno=%d" % ETXTBSY])
        self.assertNoReports(r)

    # ---- the caller's search path ---------------------------------------------------------------

    def test_runpath_and_origin_find_the_same_library_as_bare(self):
        prog = self.prog()                   # DT_RUNPATH $ORIGIN/dlm_rp
        lib = self.lib("dlm_rp", "libdlm_rp.so")
        argv = [prog, "load", "libdlm_rp.so", "load", "$ORIGIN/dlm_rp/libdlm_rp.so", "quit"]
        bare = mgtest.run(argv, preload=False)
        guarded = mgtest.run(argv, mode="block")
        self.assertEqual(self.lines(bare), ["loaded %s errno=12345" % lib] * 2, bare.describe())
        self.assertEqual(self.lines(guarded), self.lines(bare), guarded.describe())
        self.assertNoReports(guarded)

    def test_runpath_loaded_library_is_tracked(self):
        prog = self.prog()
        lib = self.lib("dlm_rp", "libdlm_rp.so")
        r = mgtest.run([prog, "load", "libdlm_rp.so", "cut", lib, "call"], mode="block")
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(self.lines(r), ["loaded %s errno=12345" % lib, "cut errno=%d" % ETXTBSY,
                                         "answer 42"])
        (rec,) = self.truncates(r, lib)
        self.assert_windows_of(rec, lib, r)
        self.assert_created_by_dlopen(rec, r)

    def test_library_with_its_own_runpath_loads_by_name(self):
        """dlopen called from a library: that library's DT_RUNPATH ($ORIGIN/dlm_rp2) applies."""
        prog = self.prog()
        loader = self.copy(os.path.join(os.path.dirname(self.lib_src), "libdlm_loader.so"),
                           "libdlm_loader.so")
        lib = self.lib("dlm_rp2", "libdlm_rp2.so")
        argv = [prog, "via", loader, "libdlm_rp2.so", "cut", lib, "call"]
        bare = mgtest.run(argv[:4] + ["quit"], preload=False)
        self.assertEqual(self.lines(bare), ["loaded %s" % lib], bare.describe())
        r = mgtest.run(argv, mode="block")
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(self.lines(r), ["loaded %s" % lib, "cut errno=%d" % ETXTBSY, "answer 42"])
        self.truncates(r, lib)

    def test_rpath_of_the_library_that_needed_the_caller_applies(self):
        """dlopen from a library without a search path that is the DT_NEEDED of one with DT_RPATH
        ($ORIGIN/dlm_rp3): glibc searches that DT_RPATH too."""
        bindir = os.path.dirname(self.lib_src)
        outer = self.copy(os.path.join(bindir, "libdlm_loader_rpath.so"), "libdlm_loader_rpath.so")
        self.copy(os.path.join(bindir, "libdlm_loader_plain.so"), "dlm_rp3", "libdlm_loader_plain.so")
        lib = self.lib("dlm_rp3", "libdlm_rp3.so")
        argv = [self.prog(), "via", outer, "libdlm_rp3.so", "cut", lib, "call"]
        bare = mgtest.run(argv[:4] + ["quit"], preload=False)
        self.assertEqual(self.lines(bare), ["loaded %s" % lib], bare.describe())
        r = mgtest.run(argv, mode="block")
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(self.lines(r), ["loaded %s" % lib, "cut errno=%d" % ETXTBSY, "answer 42"])
        self.truncates(r, lib)

    def test_dlopen_failure_keeps_errno_and_dlerror(self):
        argv = [self.prog(), "load", os.path.join(self.tmp, "absent.so"), "load", "absent-bare.so",
                "load", "$ORIGIN/absent.so"]
        bare = mgtest.run(argv, preload=False)
        self.assertEqual(len(self.lines(bare)), 3, bare.describe())
        self.assertTrue(all(l.startswith("load failed errno=12345 dlerror=")
                            for l in self.lines(bare)), bare.describe())
        for mode in ("log", "block"):
            r = mgtest.run(argv, mode=mode)
            self.assertEqual(self.lines(r), self.lines(bare), r.describe())
            self.assertNoReports(r)


class RealProgramsTest(mgtest.GuardTest):
    """Programs that load many objects: nothing is reported, nothing changes."""

    def check_same(self, argv, cwd=None):
        bare = mgtest.run(argv, preload=False, cwd=cwd)
        r = mgtest.run(argv, mode="block", cwd=cwd)
        self.assertEqual(r.returncode, bare.returncode, r.describe())
        self.assertEqual(r.stdout, bare.stdout, r.describe())
        self.assertNoReports(r)

    def test_python_imports_extension_modules(self):
        self.check_same([sys.executable, "-c",
                         "import ctypes, ctypes.util, json, sqlite3, decimal, hashlib, zlib, "
                         "select, array, math\n"
                         "m = ctypes.CDLL(ctypes.util.find_library('m'))\n"
                         "m.cos.restype = ctypes.c_double\n"
                         "m.cos.argtypes = [ctypes.c_double]\n"
                         "print(m.cos(0.0), sqlite3.connect(':memory:').execute('select 6*7')"
                         ".fetchone()[0])"])

    def test_gcc_compiles_and_links(self):
        if not shutil.which("gcc"):
            self.skipTest("no gcc")
        src = os.path.join(self.tmp, "hello.c")
        with open(src, "w") as f:
            f.write('#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n')
        for out in ("a", "a"):       # the second build overwrites the first program in place
            r = mgtest.run(["gcc", "-O1", "-o", os.path.join(self.tmp, out), src], mode="block")
            self.assertEqual(r.returncode, 0, r.describe())
            self.assertNoReports(r)
        self.assertEqual(subprocess.run([os.path.join(self.tmp, "a")], capture_output=True,
                                        text=True).stdout, "hi\n")

    def test_git(self):
        if not shutil.which("git"):
            self.skipTest("no git")
        env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
               "HOME": self.tmp}
        repo = os.path.join(self.tmp, "repo")
        for argv in (["git", "init", "-q", repo], ["git", "-C", repo, "commit", "-q",
                                                     "--allow-empty", "-m", "x"],
                     ["git", "-C", repo, "gc", "-q"], ["git", "-C", repo, "log", "--oneline"]):
            r = mgtest.run(argv, mode="block", env=env)
            self.assertEqual(r.returncode, 0, r.describe())
            self.assertNoReports(r)


if __name__ == "__main__":
    unittest.main()
