"""Every record reaches the log whole, or is dropped whole and counted.

The log here is stderr, a pipe: only a write of at most PIPE_BUF bytes is atomic there. A record
from 30 calls deep (two stacks of 24 frames) is longer than that: the guard writes it with fewer
stack frames ("frames_left_out") in one write, so that another writer, a signal that cuts a write
short, or a full non-blocking pipe can never leave a broken line for a JSON reader.
"""
import json
import unittest

from mgtest import GuardTest, run, test_prog

PIPE_BUF = 4096


def lines_after(r):
    out = r.stdout.split("out: ", 1)
    if len(out) != 2:
        raise AssertionError("no out: in\n" + r.describe())
    return out[1].splitlines()


class LogWriteTest(GuardTest):
    def setUp(self):
        super().setUp()
        self.prog = test_prog("mg_conc")

    def whole(self, line):
        self.assertLessEqual(len(line) + 1, PIPE_BUF, line[:200])
        rec = json.loads(line)          # a broken line does not parse
        self.assertEqual((rec["event"], rec["call"], rec["action"]),
                         ("truncate", "ftruncate", "logged"), rec)
        self.assertEqual(len(rec["backtrace"]), 8, rec)
        self.assertEqual(len(rec["mappings"][0]["backtrace"]), 8, rec)
        self.assertEqual(rec["frames_left_out"], 32, rec)
        return rec

    def test_two_writers_and_a_signal_on_one_pipe(self):
        r = run([self.prog, "pipe-writers", self.tmp], mode="log", env={"MMAPGUARD_LOG": ""})
        self.assertEqual(r.returncode, 0, r.describe())
        lines = lines_after(r)
        self.assertEqual(len(lines), 2, r.describe())
        pids = {self.whole(l)["pid"] for l in lines}
        self.assertEqual(len(pids), 2, lines)

    def test_full_nonblocking_pipe(self):
        r = run([self.prog, "pipe-nonblock", self.tmp], mode="log", env={"MMAPGUARD_LOG": ""})
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertIn("dropped 1", r.stdout.splitlines(), r.describe())
        lines = lines_after(r)
        self.assertEqual(len(lines), 1, r.describe())
        self.whole(lines[0])

    def test_a_file_log_keeps_every_frame(self):
        r = run([self.prog, "pipe-nonblock", self.tmp], mode="log")
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertValidLog(r)
        recs = r.events("truncate")
        self.assertEqual(len(recs), 2, r.describe())
        for rec in recs:
            self.assertNotIn("frames_left_out", rec)
            self.assertEqual(len(rec["backtrace"]), 24, rec)


if __name__ == "__main__":
    unittest.main()
