"""Where reports go: a log path that cannot be used is named once on stderr and the reports go to
stderr (never dropped without a word, never blocking the program); /dev/stderr, /dev/stdout and
/proc/self/fd/N name the program's own descriptors; a relative path is resolved at start-up; a
descriptor number the program reused for its data is never written to."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edgelib  # noqa: E402
import mgtest  # noqa: E402

COMPLAINT = "mmapguard: cannot write reports to "


def json_lines(text):
    return [json.loads(ln) for ln in text.splitlines() if ln.startswith("{")]


class LogPathsTest(edgelib.EdgeTest):

    def log_run(self, case, log, *extra, cwd=None, check=True):
        d = tempfile.mkdtemp(dir=self.tmp)
        r = mgtest.run([mgtest.test_prog("edge_log"), case, d] + list(extra),
                       env={"MMAPGUARD_LOG": log}, cwd=cwd, timeout=60)
        if check:
            self.assertEqual(r.returncode, 0, r.describe())
        return r, d

    def assertOnStream(self, text, r, n=2):
        recs = [x for x in json_lines(text) if x.get("event") == "truncate"]
        self.assertEqual(len(recs), n, r.describe())

    def test_dev_stderr(self):
        for log in ("/dev/stderr", "/proc/self/fd/2", "/dev/fd/2"):
            r, _ = self.log_run("cut", log)
            self.assertOnStream(r.stderr, r)
            self.assertNotIn(COMPLAINT, r.stderr)

    def test_dev_stdout(self):
        r, _ = self.log_run("cut", "/dev/stdout")
        self.assertOnStream(r.stdout, r)

    def check_fallback(self, r, path, reason):
        complaints = [ln for ln in r.stderr.splitlines() if ln.startswith(COMPLAINT)]
        self.assertEqual(len(complaints), 1, "said once:\n" + r.describe())
        self.assertIn(path, complaints[0])
        self.assertIn(reason, complaints[0])
        self.assertOnStream(r.stderr, r)

    def test_missing_directory(self):
        path = os.path.join(self.tmp, "no-such-dir", "log")
        r, _ = self.log_run("cut", path)
        self.check_fallback(r, path, "no such file or directory")

    def test_directory(self):
        r, _ = self.log_run("cut", self.tmp)
        self.check_fallback(r, self.tmp, "directory")

    def test_fifo_without_reader(self):
        fifo = os.path.join(self.tmp, "fifo")
        os.mkfifo(fifo)
        # bare, the program does not block; under the guard it must not either (timeout = a hang)
        r, _ = self.log_run("cut", fifo)
        self.check_fallback(r, fifo, "FIFO")

    def test_relative_path_resolved_at_start(self):
        r, d = self.log_run("chdir-cut", "rel.log", cwd=self.tmp)
        self.assertFalse(os.path.exists(os.path.join(d, "elsewhere", "rel.log")), r.describe())
        with open(os.path.join(self.tmp, "rel.log")) as f:
            self.assertOnStream(f.read(), r)

    def check_data(self, r, fd):
        own = r.stdout if fd != 1 else r.stderr
        self.assertIn("DATA size=5", own, "reports went into the program's data file:\n"
                      + r.describe())

    def test_reused_stderr_number(self):
        r, d = self.log_run("reuse-fd", "", "2")
        self.check_data(r, 2)
        with open(os.path.join(d, "data")) as f:
            self.assertEqual(f.read(), "DATA\n")

    def test_reused_stdout_number(self):
        r, d = self.log_run("reuse-fd", "/dev/stdout", "1")
        self.check_data(r, 1)

    def test_reused_number_sigbus_record(self):
        r, d = self.log_run("reuse-fault", "", "2", check=False)
        self.assertEqual(r.returncode, -7, r.describe())        # SIGBUS, as bare
        with open(os.path.join(d, "data")) as f:
            self.assertEqual(f.read(), "DATA\n")

    def test_dup2_onto_stderr_is_followed(self):
        r, d = self.log_run("redirect-fd", "", "2")
        with open(os.path.join(d, "redirected")) as f:
            self.assertOnStream(f.read(), r)


if __name__ == "__main__":
    unittest.main()
