"""Shared helpers for the tests that run real programs under the guard.

Every test runs a program with LD_PRELOAD=libmmapguard.so, the log sent to a private JSON Lines
file, and parses that file. Paths come from the environment CTest sets (see tests/CMakeLists.txt).
"""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

LIB = os.environ.get("MG_LIB", "")
BIN = os.environ.get("MG_TEST_BIN", "")          # directory of the compiled test programs
SRC = os.environ.get("MG_SOURCE_DIR", "")


def require_lib(testcase):
    if not LIB or not os.path.exists(LIB):
        testcase.fail("MG_LIB does not point at libmmapguard.so: %r" % LIB)


class Run:
    """The result of one program run: exit status, output and the guard's records."""

    def __init__(self, proc, records, malformed, logtext):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.records = records
        self.malformed = malformed
        self.logtext = logtext

    def events(self, event=None, call=None):
        return [r for r in self.records
                if (event is None or r.get("event") == event)
                and (call is None or r.get("call") == call)]

    def describe(self):
        return "rc=%s\nstdout:\n%s\nstderr:\n%s\nlog:\n%s" % (
            self.returncode, self.stdout, self.stderr, self.logtext)


def read_records(logdir):
    records, malformed, text = [], [], ""
    for name in sorted(os.listdir(logdir)):
        with open(os.path.join(logdir, name), "rb") as f:
            data = f.read().decode("utf-8")       # the guard promises valid UTF-8
        text += data
        for line in data.splitlines():
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except ValueError:
                malformed.append(line)
    return records, malformed, text


def run(argv, mode="log", env=None, preload=True, fmt="json", timeout=120, input=None,
        cwd=None, per_process=False):
    """Run argv under the guard; returns Run. The log is JSON unless fmt says otherwise."""
    logdir = tempfile.mkdtemp(prefix="mg-log-")
    try:
        e = dict(os.environ)
        e.pop("LD_PRELOAD", None)
        for k in list(e):
            if k.startswith("MMAPGUARD_"):
                del e[k]
        if preload:
            e["LD_PRELOAD"] = LIB
            e["MMAPGUARD_MODE"] = mode
            e["MMAPGUARD_LOG_FORMAT"] = fmt
            e["MMAPGUARD_LOG"] = os.path.join(logdir, "log.%p" if per_process else "log")
        if env:
            e.update(env)
        proc = subprocess.run(argv, env=e, capture_output=True, text=True, timeout=timeout,
                              input=input, cwd=cwd)
        if fmt == "json":
            records, malformed, text = read_records(logdir)
        else:
            records, malformed = [], []
            text = ""
            for n in sorted(os.listdir(logdir)):
                with open(os.path.join(logdir, n), encoding="utf-8", errors="replace") as f:
                    text += f.read()
        return Run(proc, records, malformed, text)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


def thread_first_env():
    """LD_PRELOAD for a program that has started a thread before main (libhard_thread_first.so
    after the guard): its munmap/mremap/MAP_FIXED calls take the claim path."""
    path = os.path.join(BIN, "libhard_thread_first.so")
    if not os.path.exists(path):
        raise unittest.SkipTest("libhard_thread_first.so was not built")
    return {"LD_PRELOAD": LIB + " " + path}


def test_prog(name):
    path = os.path.join(BIN, name)
    if not os.path.exists(path):
        raise unittest.SkipTest("test program %s was not built" % path)
    return path


class GuardTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        require_lib(self)
        self.tmp = tempfile.mkdtemp(prefix="mg-test-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def assertNoReports(self, r):
        self.assertEqual(r.records, [], "unexpected reports:\n" + r.describe())
        self.assertEqual(r.malformed, [], "malformed log lines:\n" + r.describe())

    def assertValidLog(self, r):
        self.assertEqual(r.malformed, [], "malformed log lines:\n" + r.describe())
