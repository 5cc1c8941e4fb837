"""jemalloc and tcmalloc preloaded with the guard, in both orders; python3 and sqlite3 under
jemalloc + guard. The allocators call mmap/munmap themselves (with their own locks held): the
guard must neither deadlock with them nor lose or invent records."""
import os
import shutil
import sys
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardlib  # noqa: E402
import mgtest  # noqa: E402

THREADS, ITERS = 4, 40


def need(path):
    if not os.path.exists(path):
        raise unittest.SkipTest("%s not installed (packages libjemalloc2, libgoogle-perftools4)" % path)


class AllocatorTest(hardlib.HardTest):

    def run_alloc(self, preload):
        prog = self.program("hard_alloc")
        r = mgtest.run([prog, self.tmp, str(THREADS), str(ITERS)], env={"LD_PRELOAD": preload},
                       timeout=300)
        self.assertRan(r)
        self.assertIn("DONE", r.stdout, hardlib.short(r))
        exps = hardlib.expectations(r.stdout)
        self.assertEqual(len(exps), THREADS * ITERS, hardlib.short(r))
        if not r.records:
            # e.g. gperftools' libtcmalloc defines mmap/munmap/mremap itself (raw syscalls, for its
            # MallocHook): listed before the guard, it takes the program's mmap calls
            self.fail("not one record with LD_PRELOAD=%r: the guard saw none of the program's "
                      "mappings (is mmap interposed ahead of it?)\n%s" % (preload, hardlib.short(r)))
        self.match(r, exps)
        # each record's window was made by the thread that cut it, one window of 3 pages
        for rec in r.records:
            self.assertEqual(len(rec["mappings"]), 1, hardlib.describe(rec))
            m = rec["mappings"][0]
            self.assertEqual((m["tid"], m["length"], m["offset"], m["shared"]),
                             (rec["tid"], 3 * hardlib.PAGE, 0, True), hardlib.describe(rec))
        return r

    def test_jemalloc_first(self):
        need(hardlib.JEMALLOC)
        self.run_alloc("%s %s" % (hardlib.JEMALLOC, mgtest.LIB))

    def test_jemalloc_second(self):
        need(hardlib.JEMALLOC)
        self.run_alloc("%s %s" % (mgtest.LIB, hardlib.JEMALLOC))

    def test_tcmalloc_first(self):
        need(hardlib.TCMALLOC)
        self.run_alloc("%s %s" % (hardlib.TCMALLOC, mgtest.LIB))

    def test_tcmalloc_second(self):
        need(hardlib.TCMALLOC)
        self.run_alloc("%s %s" % (mgtest.LIB, hardlib.TCMALLOC))

    def test_glibc_malloc(self):
        # the reference: the same program with the default allocator
        self.run_alloc(mgtest.LIB)


PY_SCRIPT = textwrap.dedent(r"""
    import mmap, os, sys, threading
    d = sys.argv[1]
    PAGE = mmap.PAGESIZE
    lines = []
    lock = threading.Lock()

    def worker(k):
        junk = []
        for i in range(15):
            junk.append(bytearray(3 << 20))          # large: the allocator maps it
            if len(junk) > 3:
                junk.pop(0)
            path = os.path.join(d, "py_%d_%d" % (k, i))
            with open(path, "wb") as f:
                f.write(b"x" * (3 * PAGE))
            fd = os.open(path, os.O_RDWR)
            m = mmap.mmap(fd, 3 * PAGE)
            m[0] = 65
            tid = threading.get_native_id()
            with lock:
                lines.append("EXPECT pid=%d tid=%d call=CALL path=%s before=%d after=0"
                             % (os.getpid(), tid, path, 3 * PAGE))
            os.ftruncate(fd, 0)
            m.close()
            os.close(fd)

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in ts: t.start()
    for t in ts: t.join()
    print("\n".join(lines))
    print("DONE")
""")


class HostProgramsTest(hardlib.HardTest):

    def test_python3_jemalloc(self):
        need(hardlib.JEMALLOC)
        if not os.path.exists(hardlib.SYS_PYTHON):
            self.skipTest("no /usr/bin/python3")
        r = mgtest.run([hardlib.SYS_PYTHON, "-c", PY_SCRIPT, self.tmp],
                       env={"LD_PRELOAD": "%s %s" % (hardlib.JEMALLOC, mgtest.LIB)}, timeout=300)
        self.assertRan(r)
        self.assertIn("DONE", r.stdout, hardlib.short(r))
        exps = hardlib.expectations(r.stdout)
        self.assertEqual(len(exps), 60)
        # python calls ftruncate (64-bit off_t build): which name it reaches depends on the build;
        # take it from the records, but it must be one of the ftruncate entry points
        calls = {rec.get("call") for rec in r.records}
        self.assertLessEqual(calls, {"ftruncate", "ftruncate64"}, hardlib.short(r))
        call = calls.pop() if len(calls) == 1 else "ftruncate64"
        for e in exps:
            e["call"] = call
        self.match(r, exps)

    def sqlite(self, db, sql, preload):
        if preload:
            return mgtest.run(["sqlite3", db], input=sql, timeout=300,
                              env={"LD_PRELOAD": "%s %s" % (hardlib.JEMALLOC, mgtest.LIB)})
        return mgtest.run(["sqlite3", db], input=sql, timeout=300, preload=False)

    def test_sqlite3_jemalloc(self):
        need(hardlib.JEMALLOC)
        if not shutil.which("sqlite3"):
            self.skipTest("no sqlite3")
        # mmap I/O on: sqlite maps the database file. No deletion, no VACUUM: the file only grows,
        # so nothing may be reported; the output must equal a run without the guard.
        sql = textwrap.dedent("""
            PRAGMA mmap_size=268435456;
            PRAGMA journal_mode=WAL;
            CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c BLOB);
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 20000)
              INSERT INTO t SELECT i, printf('row %d', i), randomblob(200) FROM n;
            CREATE INDEX tb ON t(b);
            SELECT count(*), sum(a), max(b) FROM t;
            SELECT count(*) FROM t WHERE b LIKE 'row 1%';
            PRAGMA integrity_check;
            PRAGMA wal_checkpoint(TRUNCATE);
            SELECT count(*) FROM t;
        """)
        outs = []
        for preload in (False, True):
            db = os.path.join(self.tmp, "db%d.sqlite" % preload)
            r = self.sqlite(db, sql, preload)
            self.assertEqual(r.returncode, 0, hardlib.short(r))
            outs.append(r.stdout)
            if preload:
                self.assertNoReports(r)
        self.assertEqual(outs[1], outs[0], "sqlite3 output differs under the guard")


if __name__ == "__main__":
    unittest.main()
