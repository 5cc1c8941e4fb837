"""mg_stress: threads mapping/remapping/unmapping/growing/truncating files at once, a thread that
forks children doing the same, and anonymous churn -- in block mode. All truncations are of
unmapped files or to sizes that keep every window backed: zero reports. The "violate" variant adds
a thread that cuts mapped files at known points: exactly those are reported and refused.

The rule inside one process is what is checked (MMAPGUARD_SCOPE=process): the forking thread's
children inherit whatever windows the other threads have at that moment and hold them until they
exit, so under the default scope (all) a worker's cut of a file it no longer maps is a real cut of
a child's window. tests/xproc checks the scopes across processes.
"""
import os
import unittest

from mgtest import GuardTest, run, test_prog

THREADS, ITERS, CHILDREN = 6, 1500, 150


class StressTest(GuardTest):
    def setUp(self):
        super().setUp()
        self.prog = test_prog("mg_stress")

    def stress(self, *extra, mode="block", env=None):
        e = {"MMAPGUARD_SCOPE": "process"}
        e.update(env or {})
        r = run([self.prog, self.tmp, str(THREADS), str(ITERS), str(CHILDREN)] + list(extra),
                mode=mode, env=e, timeout=500)
        self.assertValidLog(r)
        self.assertEqual(r.returncode, 0, "mg_stress failed:\n" + r.describe())
        lines = r.stdout.splitlines()
        self.assertIn("workers %d" % THREADS, lines, r.describe())
        self.assertIn("children %d ok %d" % (CHILDREN, CHILDREN), lines, r.describe())
        self.assertIn("errors 0", lines, r.describe())
        return r

    def test_no_reports_block(self):
        r = self.stress()
        self.assertNoReports(r)
        self.assertIn("violations 0 refused 0 succeeded 0", r.stdout.splitlines())

    def test_no_reports_log_without_creation_stacks(self):
        r = self.stress(mode="log", env={"MMAPGUARD_CREATION_STACKS": "0"})
        self.assertNoReports(r)

    def expected_cuts(self, r):
        cuts = []
        for l in r.stdout.splitlines():
            if l.startswith("V "):
                _, how, path, before, after, dev, ino = l.split()
                cuts.append((how, path, int(before), int(after), int(dev), int(ino)))
        return cuts

    def check_violations(self, r, k, action):
        cuts = self.expected_cuts(r)
        self.assertEqual(len(cuts), k, r.describe())
        calls = {"ftruncate": ("ftruncate", "ftruncate64"), "truncate": ("truncate", "truncate64"),
                 "open": ("open", "open64")}
        self.assertEqual(len(r.records), len(cuts),
                         "expected exactly the %d deliberate cuts to be reported, got %d records"
                         % (len(cuts), len(r.records)))
        pids = {rec["pid"] for rec in r.records}
        self.assertEqual(len(pids), 1, "records from several processes: %s" % pids)
        remaining = list(cuts)
        for rec in r.records:
            key = (rec["path"], rec["size_before"], rec["size_after"], rec["dev"], rec["ino"])
            match = [c for c in remaining if c[1:] == key]
            self.assertTrue(match, "a record that matches no deliberate cut: %s" % rec)
            how = match[0][0]
            remaining.remove(match[0])
            self.assertEqual(rec["event"], "truncate", rec)
            self.assertEqual(rec["action"], action, rec)
            self.assertIn(rec["call"], calls[how], rec)
            if how == "open":
                self.assertEqual(rec["flags"], "O_WRONLY|O_TRUNC", rec)
            self.assertEqual(rec["thread_name"], "mg-violator", rec)
            if action == "blocked":
                self.assertEqual(rec["errno_name"], "ETXTBSY", rec)
            else:
                self.assertNotIn("errno", rec)
            page = rec["page_size"]
            self.assertEqual(rec["mappings_total"], 1, rec)
            m = rec["mappings"][0]
            self.assertEqual((m["offset"], m["length"], m["path"], m["thread_name"]),
                             (0, 4 * page, rec["path"], "mg-violator"), m)
            # the violator maps v<k> shared for even k, private for odd k
            k_ = int(os.path.basename(rec["path"])[1:])
            self.assertEqual(m["shared"], k_ % 2 == 0, m)
            up = -(-rec["size_after"] // page) * page
            self.assertEqual(m["pages_beyond_eof"], (4 * page - up) // page, m)
        self.assertEqual(remaining, [])

    def test_deliberate_cuts_are_exactly_reported_and_blocked(self):
        k = 90
        r = self.stress("violate=%d" % k)
        self.assertIn("violations %d refused %d succeeded 0" % (k, k), r.stdout.splitlines())
        self.check_violations(r, k, "blocked")

    def test_deliberate_cuts_in_log_mode(self):
        k = 45
        r = self.stress("violate=%d" % k, "expect=log", mode="log")
        self.assertIn("violations %d refused 0 succeeded %d" % (k, k), r.stdout.splitlines())
        self.check_violations(r, k, "logged")


if __name__ == "__main__":
    unittest.main()
