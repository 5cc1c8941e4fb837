"""Signal handlers calling close/dup2/dup3/close_range while other threads work through the guard.

churn: SIGALRM from setitimer (every 100 us) and SIGUSR1 from a sender thread (pthread_kill)
interrupt threads that map, remap, truncate, open, dup2 and close; the handlers dup2/dup3/close
descriptors of their own and check every result. It must finish (no deadlock) with every result
right and no report.

closeall: with MMAPGUARD_LOG set to a file, the program cuts a mapped file, closes every
descriptor 3..1023 (close, close_range(3, ~0U, 0), closefrom(3), close_range CLOEXEC, dup2 over
all of them, the same inside a signal handler) and cuts again after each round: every cut must
reach the log file, and every one of the program's own calls must return what it returns without
the guard (the output of a bare run, compared byte for byte).
"""
import os
import unittest

from mgtest import GuardTest, run, test_prog


class SignalTest(GuardTest):
    def setUp(self):
        super().setUp()
        self.prog = test_prog("mg_signal")

    def churn(self, mode, env=None):
        r = run([self.prog, "churn", self.tmp, "4", "3000", "100000"], mode=mode, env=env,
                timeout=500)
        self.assertEqual(r.returncode, 0, "mg_signal churn failed:\n" + r.describe())
        lines = r.stdout.splitlines()
        self.assertEqual(lines[1:], ["usr1>0 1 alrm>0 1"], r.describe())
        self.assertTrue(lines[0].endswith(" bad 0 errors 0"), r.describe())
        self.assertNoReports(r)
        return r

    def test_handlers_close_and_dup2_during_churn_block(self):
        self.churn("block")

    def test_handlers_close_and_dup2_during_churn_log(self):
        self.churn("log")

    def test_bare_churn_is_clean(self):
        """The program's own checks hold without the guard (so a failure above is the guard's)."""
        r = run([self.prog, "churn", self.tmp, "2", "300", "2000"], preload=False, timeout=300)
        self.assertEqual(r.returncode, 0, r.describe())

    def closeall(self, preload, mode="log", env=None):
        d = os.path.join(self.tmp, "guard" if preload else "bare")
        os.mkdir(d)
        return run([self.prog, "closeall", d], preload=preload, mode=mode, env=env, timeout=300), d

    def check_closeall(self, fmt_env=None):
        bare, _ = self.closeall(False)
        self.assertEqual(bare.returncode, 0, "bare run failed:\n" + bare.describe())
        guarded, d = self.closeall(True, env=fmt_env)
        self.assertEqual(guarded.returncode, 0, guarded.describe())
        # the program's own view of its descriptors is the same as without the guard
        bl, gl = bare.stdout.splitlines(), guarded.stdout.splitlines()
        for i, (b, g) in enumerate(zip(bl, gl)):
            self.assertEqual(g, b, "line %d of the output differs under the guard "
                             "(guarded line first)" % (i + 1))
        self.assertEqual(len(gl), len(bl), guarded.describe())
        self.assertEqual(guarded.stderr, bare.stderr)
        return bare, guarded, d

    def test_closeall_log_survives_and_calls_unchanged(self):
        bare, guarded, d = self.check_closeall()
        cuts = [l.split() for l in guarded.stdout.splitlines() if l.startswith("cut ")]
        self.assertEqual(len(cuts), 8, guarded.describe())
        self.assertValidLog(guarded)
        self.assertEqual(len(guarded.records), len(cuts),
                         "every cut must reach the log file:\n" + guarded.describe())
        victim = os.path.join(d, "victim")
        st = os.stat(victim)
        for rec, cut in zip(guarded.records, cuts):
            # "cut K truncate BEFORE AFTER ret 0 errno 0 (...)"
            self.assertEqual(rec["event"], "truncate", rec)
            self.assertEqual(rec["action"], "logged", rec)
            self.assertIn(rec["call"], ("truncate", "truncate64"), rec)
            self.assertEqual(rec["path"], victim, rec)
            self.assertEqual((rec["dev"], rec["ino"]), (st.st_dev, st.st_ino), rec)
            self.assertEqual((rec["size_before"], rec["size_after"]), (int(cut[3]), int(cut[4])),
                             rec)
            self.assertEqual(rec["mappings_total"], 1, rec)

    def test_closeall_text_format(self):
        """The same with the text log: every cut's block arrives."""
        bare, guarded, _ = self.check_closeall({"MMAPGUARD_LOG_FORMAT": "text"})
        heads = [l for l in guarded.logtext.splitlines() if "would cut a memory-mapped file" in l]
        self.assertEqual(len(heads), 8, guarded.logtext)


if __name__ == "__main__":
    unittest.main()
