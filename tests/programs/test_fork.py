"""fork, vfork and posix_spawn under the guard (block mode).

fork: a multi-threaded parent forks while its other threads are inside the guard (mapping,
remapping, truncating; one keeps cutting a mapped file and being refused). Each child maps a file
and cuts it (a record with the child's own pid), cuts a file the parent mapped before the fork
(the inherited window is still tracked: a record naming the parent thread that mapped it), and
exits 0. After all forks the parent's guard still refuses and reports.

spawn: a vfork child closes and dup2s descriptors -- the guard's log number among them -- then
execs; posix_spawn does the same with file actions. The exec'd children are guarded (their cut
is reported with their pid), the vfork child's own calls return what they return without the
guard, nothing leaks through exec, and the parent's guard keeps working after each.
"""
import os
import unittest

from mgtest import GuardTest, run, test_prog

NFORKS = 200


class ForkTest(GuardTest):
    def setUp(self):
        super().setUp()
        self.prog = test_prog("mg_fork")

    def kv(self, lines, prefix):
        return [l for l in lines if l.startswith(prefix)]

    def test_fork_while_threads_are_inside_the_guard(self):
        # in-process fork safety: the children that inherit the busy files are not victims here
        r = run([self.prog, "fork", self.tmp, str(NFORKS)], mode="block", timeout=300,
                env={"MMAPGUARD_SCOPE": "process"})
        self.assertEqual(r.returncode, 0, "mg_fork fork failed:\n" + r.describe())
        self.assertValidLog(r)
        lines = r.stdout.splitlines()
        self.assertIn("forks %d ok %d" % (NFORKS, NFORKS), lines, r.describe())
        self.assertIn("final refused 1", lines, r.describe())
        premap_tid = int(self.kv(lines, "premap tid ")[0].split()[2])
        children = {}
        for l in self.kv(lines, "child "):
            _, k, _, pid = l.split()
            children[int(pid)] = int(k)
        self.assertEqual(len(children), NFORKS, r.describe())
        refused = int(self.kv(lines, "pviolator refused ")[0].split()[2])
        self.assertGreater(refused, 0, r.describe())
        inherited = os.path.join(self.tmp, "inherited")

        by_pid = {}
        for rec in r.records:
            by_pid.setdefault(rec["pid"], []).append(rec)
            self.assertEqual((rec["event"], rec["action"], rec["errno_name"]),
                             ("truncate", "blocked", "ETXTBSY"), rec)
        parent_pids = set(by_pid) - set(children)
        self.assertEqual(len(parent_pids), 1, "records from unknown processes: %s"
                         % sorted(parent_pids))
        parent = by_pid[parent_pids.pop()]
        # the parent: every refusal of the violator thread, and the final cut of the main thread
        self.assertEqual(len(parent), refused + 1, "parent records")
        self.assertEqual(sum(1 for x in parent if x["thread_name"] == "mg-pviolator"), refused)
        self.assertEqual(parent[-1]["path"], inherited, parent[-1])

        page = r.records[0]["page_size"]
        for pid, k in children.items():
            recs = by_pid.get(pid, [])
            self.assertEqual(len(recs), 2, "child %d (pid %d): expected its own cut and the "
                             "inherited cut, got %s" % (k, pid, recs))
            own, inh = recs
            self.assertEqual(own["path"], os.path.join(self.tmp, "child%d" % k), own)
            self.assertEqual((own["size_before"], own["size_after"]), (4 * page, page), own)
            self.assertEqual(own["tid"], pid, own)
            self.assertEqual(own["mappings"][0]["tid"], pid, own)
            # the inherited window: mapped in the parent by mg-premap, cut in the child
            self.assertEqual(inh["path"], inherited, inh)
            self.assertEqual((inh["size_before"], inh["size_after"]), (4 * page, 0), inh)
            st = os.stat(inherited)
            self.assertEqual((inh["dev"], inh["ino"]), (st.st_dev, st.st_ino), inh)
            self.assertEqual(inh["mappings_total"], 1, inh)
            m = inh["mappings"][0]
            self.assertEqual((m["path"], m["length"], m["offset"], m["shared"]),
                             (inherited, 4 * page, 0, True), m)
            self.assertEqual((m["tid"], m["thread_name"]), (premap_tid, "mg-premap"), m)
            self.assertEqual(m["pages_beyond_eof"], 4, m)
        self.assertEqual(os.path.getsize(inherited), 4 * page, "a refused cut changed the file")

    VFORK_LINE = ("vfork-child close 0 dup2 1 close 0 dup2-900 900 close-900 0 dup2-901 901 "
                  "dup3-902 902 close-victim 0 close_range 0")

    def spawn(self):
        r = run([self.prog, "spawn", self.tmp], mode="block", timeout=300)
        self.assertEqual(r.returncode, 0, "mg_fork spawn failed:\n" + r.describe())
        self.assertValidLog(r)
        return r, r.stdout.splitlines()

    def test_vfork_and_posix_spawn_keep_the_guard(self):
        r, lines = self.spawn()
        parent = int(self.kv(lines, "parent pid ")[0].split()[2])
        self.assertIn("vfork status 0", lines, r.describe())
        self.assertIn("spawn status 0", lines, r.describe())
        self.assertIn("parent refused 3", lines, r.describe())
        self.assertTrue(any(l.endswith("exec-child spawn inherited fds: none") for l in lines),
                        "descriptors leaked into the posix_spawn child:\n" + r.describe())
        kids = {}
        for l in lines:
            if "exec-child " in l and " refused 1" in l:
                w = l.split()
                i = w.index("exec-child")
                kids[w[i + 1]] = int(w[i + 3])
        self.assertEqual(sorted(kids), ["spawn", "vfork"], r.describe())

        mine = [x for x in r.records if x["pid"] == parent]
        self.assertEqual(len(mine), 3, "the parent's cuts before vfork, after vfork and after "
                         "posix_spawn must all be reported:\n" + r.describe())
        for x in mine:
            self.assertEqual((x["action"], x["path"]),
                             ("blocked", os.path.join(self.tmp, "pvictim")), x)
        for tag, pid in kids.items():
            theirs = [x for x in r.records if x["pid"] == pid]
            self.assertEqual(len(theirs), 1, "exec'd %s child (pid %d) records: %s"
                             % (tag, pid, theirs))
            self.assertEqual(theirs[0]["path"], os.path.join(self.tmp, "exec-" + tag))
            self.assertEqual(theirs[0]["action"], "blocked")
            self.assertEqual(theirs[0]["tid"], pid)
        self.assertEqual(len(r.records), 5, r.describe())

    def test_vfork_child_descriptor_calls(self):
        """close/dup2 in a vfork child (the parent's log number among them) act as without the
        guard, and nothing but stdin/stdout/stderr survives the exec."""
        r, lines = self.spawn()
        vline = [l for l in lines if "vfork-child " in l]
        self.assertEqual(len(vline), 1, r.describe())
        self.assertTrue(vline[0].endswith(self.VFORK_LINE),
                        "the vfork child's close/dup2 results differ from a run without the "
                        "guard:\n  want ...%s\n  got  %s" % (self.VFORK_LINE, vline[0]))
        self.assertTrue(any(l.endswith("exec-child vfork inherited fds: none") for l in lines),
                        "descriptors leaked through the vfork child's exec:\n" + r.describe())

    def test_vfork_bare_expectations(self):
        """The vfork child's results asserted above are what the kernel gives without the guard."""
        r = run([self.prog, "spawn", self.tmp], preload=False, timeout=300)
        lines = r.stdout.splitlines()
        vline = [l for l in lines if "vfork-child " in l]
        self.assertEqual(len(vline), 1, r.describe())
        self.assertTrue(vline[0].endswith(self.VFORK_LINE), r.describe())
        self.assertTrue(any(l.endswith("exec-child vfork inherited fds: none") for l in lines),
                        r.describe())


if __name__ == "__main__":
    unittest.main()
