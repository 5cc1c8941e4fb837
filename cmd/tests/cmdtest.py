"""Helpers for the tests of the mmapguard command (paths from the environment CTest sets)."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

CMD = os.environ.get("MG_CMD", "")
LIB = os.environ.get("MG_LIB", "")
BIN = os.environ.get("MGC_TEST_BIN", "")
TESTS_SRC = os.environ.get("MGC_TESTS_SRC", os.path.dirname(os.path.abspath(__file__)))
MARKER_LIB = os.environ.get("MGC_MARKER_LIB", "")

SUMMARY_RE = re.compile(
    r"^mmapguard: (\d+) violations? \((\d+) blocked\)(?:, ([^;]*?))? in (\d+) process(?:es)?; log: (.+)$",
    re.M)


def prog(name):
    path = os.path.join(BIN, name)
    if not os.path.exists(path):
        raise unittest.SkipTest("test program %s was not built" % path)
    return path


def clean_env(extra=None):
    """The environment without any guard setting, plus extra."""
    e = dict(os.environ)
    e.pop("LD_PRELOAD", None)
    for k in list(e):
        if k.startswith("MMAPGUARD_"):
            del e[k]
    if extra:
        e.update(extra)
    return e


def marked_line(source, marker):
    """1-based line number of the line of source (a file in this directory) containing marker."""
    with open(os.path.join(TESTS_SRC, source)) as f:
        for n, line in enumerate(f, 1):
            if marker in line:
                return n
    raise AssertionError("marker %s not found in %s" % (marker, source))


def summary_line(stderr):
    """(violations, blocked, other, processes, log) from the final line, or None."""
    m = SUMMARY_RE.findall(stderr)
    if not m:
        return None
    if len(m) != 1:
        raise AssertionError("more than one summary line:\n" + stderr)
    v, b, other, p, log = m[0]
    return int(v), int(b), other or None, int(p), log


class CmdTest(unittest.TestCase):
    """Every test gets a private TMPDIR (where mmapguard makes its log directory) and a scratch dir."""
    maxDiff = None

    def setUp(self):
        if not CMD or not os.path.exists(CMD):
            self.fail("MG_CMD does not point at the mmapguard command: %r" % CMD)
        self.tmp = tempfile.mkdtemp(prefix="mgc-test-")
        self.tmpdir = os.path.join(self.tmp, "tmpdir")
        os.mkdir(self.tmpdir)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def mg(self, args, env=None, cmd=None, timeout=120, cwd=None):
        e = clean_env({"TMPDIR": self.tmpdir})
        if env:
            e.update(env)
        return subprocess.run([cmd or CMD] + list(args), env=e, capture_output=True, text=True,
                              timeout=timeout, cwd=cwd)

    def describe(self, p):
        return "rc=%s\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout, p.stderr)

    def log_dirs(self):
        return sorted(d for d in os.listdir(self.tmpdir) if d.startswith("mmapguard."))

    def report_json(self, files, extra=()):
        p = subprocess.run([CMD, "report", "--json"] + list(extra) + list(files), capture_output=True,
                           text=True, timeout=120, env=clean_env())
        self.assertEqual(p.returncode, 0, "mmapguard report failed:\n" + self.describe(p))
        try:
            return json.loads(p.stdout), p
        except ValueError as e:
            self.fail("mmapguard report --json printed invalid JSON (%s):\n%s" % (e, p.stdout[:2000]))
