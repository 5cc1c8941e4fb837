"""fork, clone and _Fork against the guard's locks; calls made from inside the guard.

Every child here must run as it would bare: no lock another thread held at the fork stays held in
the child, the recursion depth is what it was, and a call made from the violation callback keeps
the registry true. The programs catch a hang with a watchdog alarm (SIGALRM, status "signal 14").
"""
import json
import os
import unittest

from mgtest import GuardTest, run, test_prog


class ForkLockTest(GuardTest):
    def setUp(self):
        super().setUp()
        self.prog = test_prog("mg_conc")

    def check(self, r):
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertValidLog(r)

    def test_fork_while_a_thread_uses_the_api(self):
        # the callback's and the suppressed files' mutexes
        r = run([self.prog, "fork-api", self.tmp, "200"], mode="block", timeout=300)
        self.check(r)
        self.assertIn("forks 200 ok 200", r.stdout.splitlines(), r.describe())
        self.assertEqual(len(r.events("truncate", "ftruncate")), 200, r.describe())

    def blocked_log(self, how):
        # stderr is the log: a pipe that a thread's report is blocked writing to
        r = run([self.prog, "fork-blocked-log", self.tmp, how], mode="log",
                env={"MMAPGUARD_LOG": ""}, timeout=300)
        self.assertEqual(r.returncode, 0, r.describe())
        lines = r.stdout.splitlines()
        self.assertIn("%s child: exit 0" % how, lines, r.describe())
        rec = [l for l in lines if l.startswith("record: ")]
        self.assertEqual(len(rec), 1, r.describe())
        parent = json.loads(rec[0][len("record: "):])
        self.assertEqual((parent["call"], parent["action"], parent["path"]),
                         ("ftruncate", "logged", os.path.join(self.tmp, "parentmap")), parent)
        with open(os.path.join(self.tmp, "child.log")) as f:
            child = [json.loads(l) for l in f.read().splitlines()]
        self.assertEqual(len(child), 1, child)
        self.assertEqual((child[0]["action"], child[0]["path"]),
                         ("blocked", os.path.join(self.tmp, "childmap")), child[0])
        self.assertNotEqual(child[0]["pid"], parent["pid"])

    def test_fork_while_a_report_blocks_on_its_log(self):
        self.blocked_log("fork")

    def test_clone_without_clone_vm_while_a_report_blocks_on_its_log(self):
        self.blocked_log("clone")

    def test_Fork_while_a_report_blocks_on_its_log(self):
        self.blocked_log("_Fork")

    def callback_fork(self, how):
        r = run([self.prog, "callback-fork", self.tmp, how], mode="block", per_process=True)
        self.check(r)
        lines = r.stdout.splitlines()
        self.assertIn("callback child: exit 0", lines, r.describe())
        self.assertIn("child: first refused 1, second refused 1, reports 2", lines, r.describe())
        self.assertIn("parent: refused 1", lines, r.describe())
        pids = {}
        for rec in r.events("truncate", "ftruncate"):
            self.assertEqual(rec["action"], "blocked", rec)
            pids.setdefault(rec["pid"], []).append(rec["size_after"])
        page = os.sysconf("SC_PAGESIZE")
        self.assertEqual(sorted(pids.values()), [[page], [2 * page]], r.describe())

    def test_fork_in_the_callback(self):
        self.callback_fork("fork")

    def test_Fork_in_the_callback(self):
        self.callback_fork("_Fork")

    def test_callback_unmaps_the_endangered_mapping(self):
        r = run([self.prog, "callback-unmap", self.tmp], mode="block")
        self.check(r)
        self.assertIn("first refused 1, mapped after 0, second 0", r.stdout.splitlines(),
                      r.describe())
        self.assertEqual(len(r.events("truncate")), 1, r.describe())


if __name__ == "__main__":
    unittest.main()
