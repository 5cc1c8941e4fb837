"""sqlite3 with memory-mapped I/O (PRAGMA mmap_size) under the guard.

What sqlite 3.40 really does (strace -f of the sqlite3 CLI):
  * it maps the database with one MAP_SHARED PROT_READ window of the file's size, grows the file
    with ftruncate and the window with mremap -- never reported;
  * in WAL mode it maps DB-shm (created with ftruncate(fd, 3), mapped 32 KiB) and truncates DB-wal
    at checkpoints; neither the -shm nor the -wal file is ever cut under a window of its own;
  * but when the database itself gets smaller (VACUUM after deletes; in WAL mode at the checkpoint
    after a VACUUM) unixTruncate() calls ftruncate(db, smaller) while the full-size window is still
    mapped, and only munmaps it later (sqlite stops using the pages past the new end: it "reduces
    the effective mapping size"). That is a real cut of a live mapping -- pages go from backed to
    unbacked -- so the guard must report it (true positive), and in block mode sqlite sees the
    error as SQLITE_IOERR ("disk I/O error") with the database left intact.

The no-false-positive runs therefore shrink the database only with mmap off (PRAGMA mmap_size=0
unmaps the file first), and separate tests assert the true positive exactly.
"""
import os
import unittest

import progs
from mgtest import GuardTest, run

MMAP = "PRAGMA mmap_size=268435456;\n"
NO_DEFAULTS = {"MMAPGUARD_DEFAULT_SUPPRESSIONS": "0"}


def fill_script(rows=3000, per_tx=100):
    """A few thousand inserts in transactions; deterministic content."""
    out = ["CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT UNIQUE, v BLOB, n INTEGER);",
           "CREATE INDEX tn ON t(n);"]
    for tx in range(rows // per_tx):
        out.append("BEGIN;")
        for i in range(per_tx):
            x = tx * per_tx + i
            out.append("INSERT INTO t(k, v, n) VALUES('key%05d', zeroblob(%d), %d);"
                       % (x, 100 + (x * 37) % 900, x))
        out.append("COMMIT;")
    return "\n".join(out) + "\n"


CHANGE = ("BEGIN; DELETE FROM t WHERE n % 4 = 1; COMMIT;\n"
          "BEGIN; UPDATE t SET v = zeroblob(1500), k = k || 'u' WHERE n % 10 = 0; COMMIT;\n"
          "DELETE FROM t WHERE n BETWEEN 2000 AND 2100;\n")

CHECK = ("PRAGMA integrity_check;\n"
         "SELECT count(*), sum(n), sum(length(v)), min(k), max(k) FROM t;\n"
         "SELECT n, k, length(v) FROM t WHERE n % 97 = 0 ORDER BY n;\n")


class SqliteTest(GuardTest):
    def setUp(self):
        super().setUp()
        self.sqlite = progs.need("sqlite3")

    def dirs(self):
        bare, guard = os.path.join(self.tmp, "bare"), os.path.join(self.tmp, "guard")
        os.mkdir(bare)
        os.mkdir(guard)
        return bare, guard

    def sql(self, db, script, cwd, mode="block", preload=True, env=None):
        return run([self.sqlite, "-bail", db], mode=mode, preload=preload, input=script,
                   cwd=cwd, timeout=300, env=env)

    def assert_ok_output(self, r, rows_expected):
        lines = r.stdout.splitlines()
        self.assertIn("ok", lines, "integrity_check did not say ok:\n" + r.describe())
        self.assertTrue(any(l.startswith("%d|" % rows_expected) for l in lines),
                        "final query does not show %d rows:\n%s" % (rows_expected, r.describe()))

    # 3000 rows, minus n%4==1 (750), minus 2000..2100 not already deleted (101 - 25)
    ROWS = 3000 - 750 - 76

    def test_rollback_journal_with_mmap_no_reports(self):
        script = (MMAP + fill_script() + CHANGE + CHECK +
                  # shrink the file only with the mapping gone; VACUUM INTO writes a new file
                  "PRAGMA mmap_size=0;\nVACUUM;\n" + MMAP +
                  "VACUUM INTO 'copy.db';\n" + CHECK +
                  "ATTACH 'copy.db' AS c;\nSELECT count(*) FROM c.t;\nPRAGMA c.integrity_check;\n")
        bare_dir, guard_dir = self.dirs()
        bare = self.sql("main.db", script, bare_dir, preload=False)
        guarded = self.sql("main.db", script, guard_dir)
        self.assertEqual(bare.returncode, 0, "bare sqlite3 failed:\n" + bare.describe())
        progs.same_run(self, bare, guarded, "sqlite3 rollback journal + mmap")
        self.assertNoReports(guarded)
        self.assert_ok_output(guarded, self.ROWS)
        progs.same_files(self, bare_dir, guard_dir, ["main.db", "copy.db"], "sqlite3")

    def test_wal_with_mmap_no_reports(self):
        script = (MMAP + "PRAGMA journal_mode=WAL;\n" + fill_script() +
                  "PRAGMA wal_checkpoint(TRUNCATE);\n" + CHANGE +
                  "PRAGMA wal_checkpoint(PASSIVE);\n" + CHECK +
                  fill_script(600, 50).replace("CREATE TABLE t(", "CREATE TABLE t2(")
                  .replace("CREATE INDEX tn ON t(n)", "CREATE INDEX t2n ON t2(n)")
                  .replace("INTO t(", "INTO t2(") +
                  "PRAGMA wal_checkpoint(RESTART);\n"
                  "PRAGMA mmap_size=0;\nVACUUM;\nPRAGMA wal_checkpoint(TRUNCATE);\n" + MMAP +
                  CHECK + "SELECT count(*) FROM t2;\n")
        bare_dir, guard_dir = self.dirs()
        bare = self.sql("wal.db", script, bare_dir, preload=False)
        guarded = self.sql("wal.db", script, guard_dir)
        self.assertEqual(bare.returncode, 0, "bare sqlite3 failed:\n" + bare.describe())
        progs.same_run(self, bare, guarded, "sqlite3 WAL + mmap")
        self.assertNoReports(guarded)
        self.assert_ok_output(guarded, self.ROWS)
        self.assertIn("600", guarded.stdout.splitlines())
        # the WAL and -shm files are gone after the last connection closed cleanly
        self.assertFalse(os.path.exists(os.path.join(guard_dir, "wal.db-wal")),
                         "the -wal file survived the guarded run")
        progs.same_files(self, bare_dir, guard_dir, ["wal.db"], "sqlite3 WAL")

    def test_second_connection_reads_while_writer_checkpoints(self):
        """Two processes share DB-shm: one reads through mmap while the other writes and checkpoints."""
        bare_dir, guard_dir = self.dirs()
        for d in (bare_dir, guard_dir):
            r = self.sql("two.db", MMAP + "PRAGMA journal_mode=WAL;\n" + fill_script(1000),
                         d, preload=d == guard_dir)
            self.assertEqual(r.returncode, 0, r.describe())
            self.assertNoReports(r)
        # sqlite3's .shell runs a second sqlite3 process while the first holds the -shm mapping
        script = (MMAP + "SELECT count(*) FROM t;\n"
                  ".shell %s -bail two.db \"PRAGMA mmap_size=268435456; "
                  "INSERT INTO t(k, v, n) SELECT k || 'x', v, n + 100000 FROM t; "
                  "PRAGMA wal_checkpoint(TRUNCATE); SELECT count(*) FROM t;\"\n"
                  "SELECT count(*) FROM t;\n" % self.sqlite + CHECK)
        bare = self.sql("two.db", script, bare_dir, preload=False)
        guarded = self.sql("two.db", script, guard_dir)
        progs.same_run(self, bare, guarded, "two sqlite3 processes")
        self.assertNoReports(guarded)
        # outer: mmap_size, count; inner: mmap_size, checkpoint, count; outer: count again
        self.assertEqual(guarded.stdout.splitlines()[:6],
                         ["268435456", "1000", "268435456", "0|0|0", "2000", "2000"],
                         guarded.describe())

    # --- the true positive: sqlite shrinks the database under its own live window -----------
    # The default suppression list excuses these cuts (tests/suppress checks that); here they are
    # seen with the list turned off.

    def prepare_shrinkable(self, d, wal):
        """A database with free pages (VACUUM will shrink it), written without the guard."""
        script = (("PRAGMA journal_mode=WAL;\n" if wal else "") + fill_script() + CHANGE +
                  ("PRAGMA wal_checkpoint(TRUNCATE);\n" if wal else ""))
        r = self.sql("db", script, d, preload=False)
        self.assertEqual(r.returncode, 0, "preparing the database failed:\n" + r.describe())
        return os.path.join(d, "db")

    def shrink_script(self, wal):
        # the SELECT maps the database (mmap_size is per connection); VACUUM then shrinks it
        return (MMAP + "SELECT count(*) FROM t;\nVACUUM;\n" +
                ("PRAGMA wal_checkpoint(TRUNCATE);\n" if wal else "") +
                "SELECT count(*), sum(n) FROM t;\n")

    def check_cut_record(self, rec, db, st, before, after, action):
        page = rec["page_size"]
        self.assertEqual(rec["event"], "truncate", rec)
        self.assertEqual(rec["action"], action, rec)
        self.assertIn(rec["call"], ("ftruncate", "ftruncate64"), rec)
        self.assertEqual(rec["path"], db, rec)
        self.assertEqual((rec["dev"], rec["ino"]), (st.st_dev, st.st_ino), rec)
        self.assertEqual(rec["size_before"], before, rec)
        self.assertEqual(rec["size_after"], after, rec)
        self.assertEqual(rec["mappings_total"], 1, rec)
        m = rec["mappings"][0]
        self.assertEqual(m["path"], db, m)
        self.assertEqual(m["offset"], 0, m)
        self.assertTrue(m["shared"], m)
        self.assertEqual(m["prot"], "PROT_READ", m)
        # sqlite maps exactly the file's size at the time
        self.assertEqual(m["length"], before, m)
        up = -(-after // page) * page
        self.assertEqual(m["pages_beyond_eof"], (m["offset"] + m["length"] - up) // page, m)

    def run_shrink(self, wal):
        bare_dir, guard_dir = self.dirs()
        bdb = self.prepare_shrinkable(bare_dir, wal)
        gdb = self.prepare_shrinkable(guard_dir, wal)
        before = os.stat(gdb).st_size
        self.assertEqual(before, os.stat(bdb).st_size)
        script = self.shrink_script(wal)
        bare = self.sql("db", script, bare_dir, preload=False)
        self.assertEqual(bare.returncode, 0, bare.describe())
        after = os.stat(bdb).st_size
        self.assertLess(after, before, "VACUUM did not shrink the database; the test is void")
        return bare_dir, guard_dir, gdb, before, after, bare

    def test_vacuum_shrinks_under_live_window_is_reported(self):
        """Rollback journal: VACUUM cuts the mapped database (log mode: reported, allowed)."""
        bare_dir, guard_dir, db, before, after, bare = self.run_shrink(False)
        st = os.stat(db)
        guarded = self.sql("db", self.shrink_script(False), guard_dir, mode="log", env=NO_DEFAULTS)
        progs.same_run(self, bare, guarded, "VACUUM under mmap, log mode")
        self.assertValidLog(guarded)
        self.assertEqual(len(guarded.records), 1,
                         "expected exactly one report (the VACUUM cut):\n" + guarded.describe())
        self.check_cut_record(guarded.records[0], db, st, before, after, "logged")
        self.assertEqual(os.stat(db).st_size, after)
        progs.same_files(self, bare_dir, guard_dir, ["db"], "VACUUM in log mode")

    def test_vacuum_shrink_refused_in_block_mode(self):
        bare_dir, guard_dir, db, before, after, bare = self.run_shrink(False)
        st = os.stat(db)
        guarded = self.sql("db", self.shrink_script(False), guard_dir, mode="block", env=NO_DEFAULTS)
        self.assertNotEqual(guarded.returncode, 0, guarded.describe())
        self.assertIn("disk I/O error", guarded.stderr, guarded.describe())
        self.assertValidLog(guarded)
        self.assertEqual(len(guarded.records), 1, guarded.describe())
        rec = guarded.records[0]
        self.check_cut_record(rec, db, st, before, after, "blocked")
        self.assertEqual((rec["errno"], rec["errno_name"]), (26, "ETXTBSY"), rec)
        self.assertEqual(os.stat(db).st_size, before, "the refused cut changed the size")
        # nothing was lost: a bare sqlite3 finds the same rows, intact
        chk = self.sql("db", "PRAGMA integrity_check;\nSELECT count(*), sum(n) FROM t;\n",
                       guard_dir, preload=False)
        want = bare.stdout.splitlines()[-1]
        self.assertEqual(chk.stdout.splitlines(), ["ok", want], chk.describe())

    def test_wal_checkpoint_shrinks_under_live_window_is_reported(self):
        """WAL: the checkpoint after VACUUM cuts the mapped database; -shm/-wal are never reported."""
        bare_dir, guard_dir, db, before, after, bare = self.run_shrink(True)
        st = os.stat(db)
        guarded = self.sql("db", self.shrink_script(True), guard_dir, mode="log", env=NO_DEFAULTS)
        progs.same_run(self, bare, guarded, "WAL checkpoint under mmap, log mode")
        self.assertValidLog(guarded)
        self.assertEqual(len(guarded.records), 1,
                         "expected exactly one report (the checkpoint cut):\n" + guarded.describe())
        self.check_cut_record(guarded.records[0], db, st, before, after, "logged")
        progs.same_files(self, bare_dir, guard_dir, ["db"], "WAL checkpoint in log mode")

    def test_wal_checkpoint_shrink_refused_in_block_mode(self):
        bare_dir, guard_dir, db, before, after, bare = self.run_shrink(True)
        st = os.stat(db)
        guarded = self.sql("db", self.shrink_script(True), guard_dir, mode="block", env=NO_DEFAULTS)
        self.assertIn("disk I/O error", guarded.stderr, guarded.describe())
        self.assertValidLog(guarded)
        self.assertGreaterEqual(len(guarded.records), 1, guarded.describe())
        for rec in guarded.records:       # the checkpoint, and again at close: always the db
            self.check_cut_record(rec, db, st, before, after, "blocked")
        self.assertEqual(os.stat(db).st_size, before)
        chk = self.sql("db", "PRAGMA integrity_check;\nSELECT count(*), sum(n) FROM t;\n",
                       guard_dir, preload=False)
        self.assertEqual(chk.stdout.splitlines(), ["ok", bare.stdout.splitlines()[-1]],
                         chk.describe())


if __name__ == "__main__":
    unittest.main()
