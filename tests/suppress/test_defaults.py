"""The default suppression list against the real libraries it names, in block mode with default
settings: SQLite (CLI and python3's sqlite3 module, PRAGMA mmap_size: VACUUM, auto_vacuum=FULL
with deletes, wal_checkpoint(TRUNCATE)), CPython's mmap.resize shrink, Tokyo Cabinet's tchtest,
Kyoto Cabinet's kchashtest and kctreetest. Each run is compared with a bare run, and the guard must
have seen the cut (a "suppressed" record) for the comparison to mean anything; with
MMAPGUARD_DEFAULT_SUPPRESSIONS=0 the same cuts are refused."""
import os
import shutil
import sys
import textwrap
import unittest

sys.path.insert(0, os.path.join(os.environ.get("MG_SOURCE_DIR", ""), "tests", "programs"))
import mgtest  # noqa: E402
import progs  # noqa: E402
from mgtest import GuardTest, run  # noqa: E402

PY = progs.PY
OFF = {"MMAPGUARD_DEFAULT_SUPPRESSIONS": "0"}
MMAP = "PRAGMA mmap_size=268435456;\n"


def fill(rows=2000, table="t"):
    out = ["CREATE TABLE %s(id INTEGER PRIMARY KEY, v BLOB, n INTEGER);" % table, "BEGIN;"]
    out += ["INSERT INTO %s(v, n) VALUES(zeroblob(%d), %d);" % (table, 200 + (i * 37) % 800, i)
            for i in range(rows)]
    out.append("COMMIT;")
    return "\n".join(out) + "\n"


CHECK = "PRAGMA integrity_check;\nSELECT count(*), sum(n) FROM t;\n"
# Each script maps the database (mmap_size, then a read) before the cut.
SCRIPTS = {
    "vacuum": MMAP + fill() + "SELECT count(*) FROM t;\nDELETE FROM t WHERE n % 3 = 0;\n"
              "VACUUM;\n" + CHECK,
    "auto_vacuum": "PRAGMA auto_vacuum=FULL;\n" + MMAP + fill() + "SELECT count(*) FROM t;\n"
                   "DELETE FROM t WHERE n >= 500;\n" + CHECK + "DELETE FROM t WHERE n >= 100;\n" + CHECK,
    "wal_checkpoint": MMAP + "PRAGMA journal_mode=WAL;\n" + fill() +
                      "PRAGMA wal_checkpoint(TRUNCATE);\nSELECT count(*) FROM t;\n"
                      "DELETE FROM t WHERE n % 2 = 0;\nVACUUM;\n"
                      "PRAGMA wal_checkpoint(TRUNCATE);\n" + CHECK,
}

PY_SQLITE = textwrap.dedent(r"""
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    for stmt in sys.stdin.read().split(";\n"):
        if stmt.strip():
            for row in db.execute(stmt):
                print("|".join(str(x) for x in row))
    db.close()
""")

RESIZE = textwrap.dedent(r"""
    import mmap, os, sys
    p = os.path.join(sys.argv[1], "cut.bin")
    with open(p, "wb") as f:
        f.write(b"x" * 65536)
    with open(p, "r+b") as f:
        m = mmap.mmap(f.fileno(), 0)
        m[:5] = b"hello"
        try:
            m.resize(8192)
            print("shrunk", len(m), os.path.getsize(p), m[:5])
        except OSError as e:
            print("refused", e.errno, len(m), os.path.getsize(p))
        m.close()
""")


class DefaultsTest(GuardTest):
    def dirs(self):
        b, g = os.path.join(self.tmp, "bare"), os.path.join(self.tmp, "guard")
        os.mkdir(b)
        os.mkdir(g)
        return b, g

    def assert_suppressed_only(self, r, rule):
        self.assertValidLog(r)
        self.assertEqual([x for x in r.records if x["event"] != "suppressed"], [],
                         "a violation was reported:\n" + r.describe())
        rules = {x["rule"] for x in r.events("suppressed") if "rule" in x}
        self.assertEqual(rules, {rule}, "the cut was not seen (the test is void):\n" + r.describe())

    def same_files(self, b, g, names):
        progs.same_files(self, b, g, names, "bare vs guarded")

    # ---- SQLite ----------------------------------------------------------------------------

    def sqlite_case(self, name, argv, python):
        script = SCRIPTS[name]
        b, g = self.dirs()
        bare = run(argv + ["db"], preload=False, input=script, cwd=b, timeout=300)
        self.assertEqual(bare.returncode, 0, bare.describe())
        guarded = run(argv + ["db"], mode="block", input=script, cwd=g, timeout=300)
        progs.same_run(self, bare, guarded, "%s %s" % ("python3 sqlite3" if python else "sqlite3", name))
        self.assert_suppressed_only(guarded, "sqlite-self-shrink")
        self.assertIn("ok", guarded.stdout.splitlines())
        self.same_files(b, g, ["db"])
        return g

    def sqlite_off(self, name, argv):
        g = os.path.join(self.tmp, "off")
        os.mkdir(g)
        r = run(argv + ["db"], mode="block", input=SCRIPTS[name], cwd=g, env=OFF, timeout=300)
        self.assertTrue(r.events("truncate") and all(x["action"] == "blocked"
                                                     for x in r.events("truncate")), r.describe())
        self.assertEqual(r.events("suppressed"), [], r.describe())

    def sqlite_cli(self):
        return [progs.need("sqlite3"), "-bail"]

    def test_sqlite_cli_vacuum(self):
        self.sqlite_case("vacuum", self.sqlite_cli(), False)
        self.sqlite_off("vacuum", self.sqlite_cli())

    def test_sqlite_cli_auto_vacuum(self):
        self.sqlite_case("auto_vacuum", self.sqlite_cli(), False)

    def test_sqlite_cli_wal_checkpoint_truncate(self):
        g = self.sqlite_case("wal_checkpoint", self.sqlite_cli(), False)
        self.assertFalse(os.path.exists(os.path.join(g, "db-wal")))

    def test_sqlite_cut_under_another_process_is_still_refused(self):
        # The rule is "reach self": when another process maps the database too, SQLite's own
        # shrink endangers that process's pages, and the cut is reported and refused as usual.
        import subprocess
        d = os.path.join(self.tmp, "shared")
        os.mkdir(d)
        db = os.path.join(d, "db")
        first = run(self.sqlite_cli() + [db], preload=False, input=fill() +
                    "DELETE FROM t WHERE n % 3 = 0;\n", timeout=300)
        self.assertEqual(first.returncode, 0, first.describe())
        reader = subprocess.Popen(
            [PY, "-c", "import mmap, sys\n"
             "f = open(sys.argv[1], 'rb')\n"
             "m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)\n"
             "print('ready', flush=True)\n"
             "sys.stdin.read()\n", db],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(reader.stdout.readline(), "ready\n")
            # a loaded machine must not stop the walk of other processes early (MMAPGUARD_SCAN_MS):
            # an incomplete walk sees no victim, and then the rule excuses the cut
            r = run(self.sqlite_cli() + [db], mode="block",
                    env={"MMAPGUARD_SCOPE": "all", "MMAPGUARD_SCAN_MS": "60000"},
                    input=MMAP + "SELECT count(*) FROM t;\nVACUUM;\n", timeout=300)
        finally:
            reader.stdin.close()
            reader.wait(timeout=60)
        cuts = r.events("truncate")
        self.assertTrue(cuts, r.describe())
        self.assertTrue(all(c["action"] == "blocked" for c in cuts), r.describe())
        self.assertIn(reader.pid, [v["pid"] for c in cuts for v in c["victims"]], r.describe())
        self.assertEqual(r.events("suppressed"), [], r.describe())

    def py_sqlite(self):
        path = os.path.join(self.tmp, "pysqlite.py")
        with open(path, "w") as f:
            f.write(PY_SQLITE)
        return [PY, path]

    def test_python_sqlite3_vacuum(self):
        self.sqlite_case("vacuum", self.py_sqlite(), True)

    def test_python_sqlite3_auto_vacuum(self):
        self.sqlite_case("auto_vacuum", self.py_sqlite(), True)
        self.sqlite_off("auto_vacuum", self.py_sqlite())

    def test_python_sqlite3_wal_checkpoint_truncate(self):
        self.sqlite_case("wal_checkpoint", self.py_sqlite(), True)

    # ---- CPython mmap.resize ---------------------------------------------------------------

    def resize(self, env=None, lib=None):
        path = os.path.join(self.tmp, "resize.py")
        with open(path, "w") as f:
            f.write(RESIZE)
        d = os.path.join(self.tmp, "r%d" % len(os.listdir(self.tmp)))
        os.mkdir(d)
        e = dict(env or {})
        if lib:
            e["LD_PRELOAD"] = lib
        return run([PY, path, d], mode="block", env=e)

    def test_python_mmap_resize_shrink(self):
        b = os.path.join(self.tmp, "bare")
        os.mkdir(b)
        path = os.path.join(self.tmp, "resize.py")
        with open(path, "w") as f:
            f.write(RESIZE)
        bare = run([PY, path, b], preload=False)
        guarded = self.resize()
        progs.same_run(self, bare, guarded, "python3 mmap.resize shrink")
        self.assertEqual(guarded.stdout, "shrunk 8192 8192 b'hello'\n")
        self.assert_suppressed_only(guarded, "cpython-mmap-resize-shrink")
        off = self.resize(env=OFF)
        self.assertEqual(off.stdout, "refused 26 65536 65536\n", off.describe())

    def test_builtin_fallback_and_installed_list(self):
        """Without libmmapguard.supp next to the library the compiled-in list applies; with one,
        that file is the default list."""
        libdir = os.path.join(self.tmp, "lib")
        os.mkdir(libdir)
        lib = os.path.join(libdir, "libmmapguard.so")
        shutil.copy(mgtest.LIB, lib)
        r = self.resize(lib=lib)
        self.assert_suppressed_only(r, "cpython-mmap-resize-shrink")
        self.assertEqual({x["rule_file"] for x in r.events("suppressed")}, {"(built-in default list)"})
        supp = os.path.join(libdir, "libmmapguard.supp")
        with open(supp, "w") as f:
            f.write("# local list\nsuppress local-resize\n  cutter */mmap.cpython-*.so\n")
        r = self.resize(lib=lib)
        self.assert_suppressed_only(r, "local-resize")
        self.assertEqual({x["rule_file"] for x in r.events("suppressed")}, {supp})
        with open(supp, "w") as f:
            f.write("# nothing is excused\n")
        r = self.resize(lib=lib)
        self.assertEqual(r.stdout, "refused 26 65536 65536\n", r.describe())
        # the build tree's copy is packaging/default.supp
        with open(os.path.join(mgtest.SRC, "packaging", "default.supp")) as a, \
                open(os.path.join(os.path.dirname(mgtest.LIB), "libmmapguard.supp")) as b:
            self.assertEqual(a.read(), b.read())

    # ---- Tokyo Cabinet, Kyoto Cabinet --------------------------------------------------------

    def cabinet(self, argv, env, rule, timeout=120):
        """Passes in block mode with the defaults; fails with the list off."""
        d = os.path.join(self.tmp, "cab%d" % len(os.listdir(self.tmp)))
        os.mkdir(d)
        argv = [a.replace("DIR", d) for a in argv]
        r = run(argv, mode="block", env=env, cwd=d, timeout=timeout)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertIn("ok", r.stdout.split(), r.describe())
        self.assert_suppressed_only(r, rule)
        shutil.rmtree(d)
        os.mkdir(d)
        off = run(argv, mode="block", env=dict(env, **OFF), cwd=d, timeout=timeout)
        self.assertNotEqual(off.returncode, 0, off.describe())
        self.assertTrue(off.events("truncate"), off.describe())

    def test_tokyocabinet_tchtest_misc(self):
        tch = progs.need("tchtest")
        # a seed whose run defragments (the random walk is fixed by TCRNDSEED)
        self.cabinet([tch, "misc", "DIR/t.tch", "3000"], {"TCRNDSEED": "742292953"},
                     "tokyocabinet-defrag")

    def test_kyotocabinet_kchashtest_wicked(self):
        kch = progs.need("kchashtest")
        self.cabinet([kch, "wicked", "DIR/t.kch", "1000"], {"KCRNDSEED": "742305045"},
                     "kyotocabinet-file")

    def test_kyotocabinet_kctreetest_wicked(self):
        kct = progs.need("kctreetest")
        self.cabinet([kct, "wicked", "DIR/t.kct", "1000"], {"KCRNDSEED": "742305289"},
                     "kyotocabinet-file")


if __name__ == "__main__":
    unittest.main()
