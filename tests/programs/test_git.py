"""git in a fresh repository under the guard: commits, log, status, gc, repack, fsck.

git maps pack files, pack indexes, the commit-graph and the index; gc/repack write new packs
and remove old ones. Nothing of that cuts a live mapping, so nothing may be reported, and every
command must print exactly what it prints without the guard (commit ids included: author and
committer dates are fixed).
"""
import os
import unittest

import progs
from mgtest import GuardTest, run

ENV = {
    "GIT_AUTHOR_NAME": "Mg Test", "GIT_AUTHOR_EMAIL": "mg@example.invalid",
    "GIT_COMMITTER_NAME": "Mg Test", "GIT_COMMITTER_EMAIL": "mg@example.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C", "TZ": "UTC", "GIT_PAGER": "cat", "PAGER": "cat",
}


class GitTest(GuardTest):
    def setUp(self):
        super().setUp()
        self.git = progs.need("git")
        self.dirs = {}
        for side in ("bare", "guard"):
            d = os.path.join(self.tmp, side, "repo")
            os.makedirs(d)
            self.dirs[side] = d
        self.env = dict(ENV, HOME=self.tmp)
        self.step = 0

    def write(self, name, text):
        for d in self.dirs.values():
            p = os.path.join(d, name)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(text)

    def git_both(self, *args):
        """One git command in both repositories; same result, no report."""
        self.step += 1
        argv = [self.git] + list(args)
        bare = run(argv, preload=False, cwd=self.dirs["bare"], env=self.env, timeout=300)
        guarded = run(argv, mode="block", cwd=self.dirs["guard"], env=self.env, timeout=300)
        what = "step %d: git %s" % (self.step, " ".join(args))
        self.assertEqual(bare.returncode, 0, what + " failed bare:\n" + bare.describe())
        progs.same_run(self, bare, guarded, what)
        self.assertNoReports(guarded)
        return guarded

    def commit(self, n):
        self.write("f%d.txt" % n, "".join("line %d of file %d\n" % (i, n) for i in range(n * 700)))
        self.write("dir/shared.txt", "".join("v%d %d\n" % (n, i) for i in range(2000)))
        self.git_both("add", "-A")
        self.git_both("commit", "-q", "-m", "commit %d" % n)

    def test_commits_log_status_gc(self):
        self.git_both("init", "-q", "-b", "main", ".")
        for n in range(1, 6):
            self.commit(n)
        self.git_both("gc", "-q")
        log = self.git_both("log", "--stat", "--format=%H %s")
        self.assertEqual(log.stdout.count("commit "), 5, log.describe())
        self.git_both("status")
        # change the work tree, look at it, commit through the packed repository
        self.write("f2.txt", "rewritten\n")
        os.remove(os.path.join(self.dirs["bare"], "f3.txt"))
        os.remove(os.path.join(self.dirs["guard"], "f3.txt"))
        st = self.git_both("status", "--short")
        self.assertEqual(st.stdout.splitlines(), [" M f2.txt", " D f3.txt"], st.describe())
        self.git_both("diff", "--stat")
        self.commit(6)
        self.commit(7)
        self.git_both("gc", "--aggressive", "--prune=now", "-q")
        self.git_both("repack", "-a", "-d", "-q")
        self.git_both("commit-graph", "write", "--reachable")
        self.git_both("log", "-p", "-3", "--format=%H %an %s")
        self.git_both("log", "--graph", "--oneline", "--all")
        self.git_both("show", "HEAD~2:f2.txt")
        self.git_both("fsck", "--full", "--strict")
        objs = self.git_both("count-objects", "-v")
        self.assertIn("count: 0", objs.stdout.splitlines(), objs.describe())
        self.git_both("gc", "-q")
        self.git_both("status", "--porcelain")
        self.git_both("rev-list", "--objects", "--all")

    def test_branches_merge_and_tags(self):
        self.git_both("init", "-q", "-b", "main", ".")
        for n in range(1, 3):
            self.commit(n)
        self.git_both("checkout", "-q", "-b", "side")
        self.commit(3)
        self.git_both("checkout", "-q", "main")
        self.commit(4)
        self.git_both("merge", "-q", "--no-edit", "-X", "theirs", "side")
        self.git_both("tag", "-a", "-m", "v1", "v1")
        self.git_both("gc", "-q", "--prune=now")
        self.git_both("describe", "--tags")
        self.git_both("log", "--oneline", "--all", "--graph")
        self.git_both("fsck", "--full")


if __name__ == "__main__":
    unittest.main()
