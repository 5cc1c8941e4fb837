"""Helpers shared by the tests of tests/programs/ (real programs under the guard).

A "pair" run executes the same command twice -- once bare, once under the guard -- in two
directories prepared identically, and the test compares exit status, stdout, stderr and
(optionally) the files each run produced, byte for byte.
"""
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mgtest  # noqa: E402

PY = "/usr/bin/python3"


def need(program):
    """The absolute path of a program the test runs, or SkipTest if it is not installed."""
    path = shutil.which(program)
    if not path:
        raise unittest.SkipTest("%s is not installed (the setup script installs it)" % program)
    return path


def same_run(tc, bare, guarded, what):
    """Bare and guarded runs of one command must be indistinguishable."""
    detail = "%s\n--- bare ---\n%s\n--- guarded ---\n%s" % (what, bare.describe(),
                                                             guarded.describe())
    tc.assertEqual(guarded.returncode, bare.returncode,
                   "exit status differs under the guard: " + detail)
    tc.assertEqual(guarded.stdout, bare.stdout, "stdout differs under the guard: " + detail)
    tc.assertEqual(guarded.stderr, bare.stderr, "stderr differs under the guard: " + detail)


def tree_bytes(root, skip=()):
    """{relative path: bytes} of every regular file under root."""
    out = {}
    for d, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            rel = os.path.relpath(p, root)
            if rel in skip or not os.path.isfile(p) or os.path.islink(p):
                continue
            with open(p, "rb") as fh:
                out[rel] = fh.read()
    return out


def same_files(tc, bare_dir, guard_dir, names, what):
    for n in names:
        with open(os.path.join(bare_dir, n), "rb") as f:
            a = f.read()
        with open(os.path.join(guard_dir, n), "rb") as f:
            b = f.read()
        tc.assertTrue(a == b, "%s: %s differs between the bare and the guarded run "
                      "(%d vs %d bytes)" % (what, n, len(a), len(b)))


def strace_available():
    path = shutil.which("strace")
    if not path:
        return None
    try:
        r = subprocess.run([path, "-f", "-e", "trace=none", "/bin/true"], capture_output=True,
                           timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if r.returncode == 0 else None


def run_both(tc, argv, bare_cwd, guard_cwd, mode="block", env=None, input=None, timeout=300):
    """Run argv bare in bare_cwd and guarded in guard_cwd; returns (bare, guarded)."""
    bare = mgtest.run(argv, preload=False, env=env, input=input, cwd=bare_cwd, timeout=timeout)
    guarded = mgtest.run(argv, mode=mode, env=env, input=input, cwd=guard_cwd, timeout=timeout)
    return bare, guarded
