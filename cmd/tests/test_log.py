"""Where the reports go: --log with %p (one file per process), text or JSON; the private log."""
import glob
import json
import os
import re
import unittest

from cmdtest import CmdTest, prog, summary_line


def cut_pids(stdout):
    return [int(m) for m in re.findall(r"^cut (\d+) -?\d+$", stdout, re.M)]


def records(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class Log(CmdTest):
    def test_log_per_pid_json(self):
        target = os.path.join(self.tmp, "data")
        pattern = os.path.join(self.tmp, "logs", "mg.%p.jsonl")
        os.mkdir(os.path.dirname(pattern))
        p = self.mg(["--log", pattern, "--json", prog("mgc_truncprog"), "--fork", target])
        self.assertEqual(p.returncode, 0, self.describe(p))
        pids = cut_pids(p.stdout)
        self.assertEqual(len(set(pids)), 2, "expected two processes:\n" + self.describe(p))
        files = sorted(glob.glob(os.path.join(self.tmp, "logs", "*")))
        self.assertEqual(files, sorted(pattern.replace("%p", str(pid)) for pid in pids),
                         "one log file per pid expected")
        for pid in pids:
            recs = records(pattern.replace("%p", str(pid)))
            self.assertEqual(len(recs), 1, recs)
            self.assertEqual((recs[0]["pid"], recs[0]["event"], recs[0]["call"]), (pid, "truncate", "ftruncate"))
            self.assertEqual(recs[0]["path"], target)
        # Nothing echoed on stderr with --log; the summary counts both processes.
        self.assertNotIn("would cut", p.stderr)
        self.assertEqual(summary_line(p.stderr), (2, 0, None, 2, pattern.replace("%p", "*")),
                         self.describe(p))
        self.assertEqual(self.log_dirs(), [], "no private directory is made with --log")

    def test_log_per_pid_text(self):
        target = os.path.join(self.tmp, "data")
        pattern = os.path.join(self.tmp, "mg.%p.txt")
        p = self.mg(["--log", pattern, prog("mgc_truncprog"), "--fork", target])
        self.assertEqual(p.returncode, 0, self.describe(p))
        pids = cut_pids(p.stdout)
        for pid in pids:
            with open(pattern.replace("%p", str(pid))) as f:
                text = f.read()
            self.assertIn("mmapguard: ftruncate() would cut a memory-mapped file short: " + target, text)
            self.assertIn("of pid %d at" % pid, text)
        self.assertEqual(summary_line(p.stderr)[:4], (2, 0, None, 2), self.describe(p))

    def test_log_single_file_counts_only_this_run(self):
        target = os.path.join(self.tmp, "data")
        log = os.path.join(self.tmp, "mg.jsonl")
        p = self.mg(["--log", log, "--json", prog("mgc_truncprog"), target])
        self.assertEqual(summary_line(p.stderr), (1, 0, None, 1, log), self.describe(p))
        # Appended: the second run adds two records and counts only those.
        p = self.mg(["--log", log, "--json", "--mode", "block", prog("mgc_truncprog"), "--fork", target])
        self.assertEqual(summary_line(p.stderr), (2, 2, None, 2, log), self.describe(p))
        self.assertEqual(len(records(log)), 3)

    def test_relative_log_is_made_absolute(self):
        target = os.path.join(self.tmp, "data")
        p = self.mg(["--log", "rel.%p.log", "--json", prog("mgc_truncprog"), target], cwd=self.tmp)
        pid = cut_pids(p.stdout)[0]
        path = os.path.join(self.tmp, "rel.%d.log" % pid)
        self.assertTrue(os.path.exists(path), self.describe(p))
        self.assertEqual(summary_line(p.stderr)[4], os.path.join(self.tmp, "rel.*.log"))

    def test_private_log_shows_text_and_keeps_json(self):
        target = os.path.join(self.tmp, "data")
        p = self.mg([prog("mgc_truncprog"), target])
        self.assertEqual(p.returncode, 0, self.describe(p))
        pid = cut_pids(p.stdout)[0]
        # The human text report, live, on stderr...
        self.assertIn("mmapguard: ftruncate() would cut a memory-mapped file short: " + target, p.stderr)
        self.assertIn("mmapguard:   file dev ", p.stderr)
        self.assertIn("size 16384 -> 0 bytes", p.stderr)
        self.assertIn("of pid %d at" % pid, p.stderr)
        self.assertIn("4 page(s) of it lie beyond the new end of file", p.stderr)
        # ...and the JSON log kept for `mmapguard report`, named by the summary line.
        s = summary_line(p.stderr)
        self.assertIsNotNone(s, self.describe(p))
        self.assertEqual(s[:4], (1, 0, None, 1))
        dirs = self.log_dirs()
        self.assertEqual(len(dirs), 1)
        self.assertEqual(s[4], os.path.join(self.tmpdir, dirs[0], "log.%d" % pid))
        self.assertEqual(oct(os.stat(os.path.join(self.tmpdir, dirs[0])).st_mode & 0o777), "0o700")
        recs = records(s[4])
        self.assertEqual(len(recs), 1)
        self.assertEqual((recs[0]["pid"], recs[0]["size_before"], recs[0]["size_after"]), (pid, 16384, 0))
        # The summary line comes last.
        self.assertTrue(p.stderr.rstrip("\n").splitlines()[-1].startswith("mmapguard: 1 violation (0 blocked)"),
                        self.describe(p))

    def test_private_log_several_processes(self):
        target = os.path.join(self.tmp, "data")
        p = self.mg([prog("mgc_truncprog"), "--fork", target])
        pids = cut_pids(p.stdout)
        s = summary_line(p.stderr)
        self.assertEqual(s[:4], (2, 0, None, 2), self.describe(p))
        d = os.path.join(self.tmpdir, self.log_dirs()[0])
        self.assertEqual(s[4], os.path.join(d, "log.*"))
        self.assertEqual(sorted(os.listdir(d)), sorted("log.%d" % pid for pid in pids))
        for pid in pids:
            self.assertIn("of pid %d at" % pid, p.stderr)

    def test_private_log_json_echo(self):
        target = os.path.join(self.tmp, "data")
        p = self.mg(["--json", prog("mgc_truncprog"), target])
        lines = [l for l in p.stderr.splitlines() if l.startswith("{")]
        self.assertEqual(len(lines), 1, self.describe(p))
        rec = json.loads(lines[0])
        self.assertEqual((rec["event"], rec["call"], rec["path"]), ("truncate", "ftruncate", target))
        self.assertNotIn("would cut", p.stderr)
        self.assertEqual(summary_line(p.stderr)[:4], (1, 0, None, 1))


if __name__ == "__main__":
    unittest.main()
