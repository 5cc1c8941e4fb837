"""Helpers for tests/edges: run an edge_calls case bare and under the guard, parse its lines."""
import os
import sys
import tempfile
import unittest

import mgtest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hardening"))
import hardlib  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def lines(text, tag):
    """key=value lines starting with tag, as dicts; hexadecimal values (0x...) as ints too."""
    out = hardlib.parse_lines(text, tag)
    for d in out:
        for k, v in d.items():
            if isinstance(v, str) and v.startswith("0x"):
                d[k] = int(v, 16)
    return out


class EdgeTest(mgtest.GuardTest):

    def edge(self, case, mode=None, env=None):
        """Run edge_calls CASE in a fresh directory; mode None: bare. Skips on exit 77."""
        d = tempfile.mkdtemp(dir=self.tmp)
        argv = [mgtest.test_prog("edge_calls"), case, d]
        if mode is None:
            r = mgtest.run(argv, preload=False, env=env)
        else:
            r = mgtest.run(argv, mode=mode, env=env)
        if r.returncode == 77:
            raise unittest.SkipTest("%s: %s" % (case, r.stdout.strip()))
        self.assertEqual(r.returncode, 0, "%s (%s):\n%s" % (case, mode, r.describe()))
        self.assertIn("DONE", r.stdout, r.describe())
        self.assertValidLog(r)
        return r

    def result(self, r):
        res = lines(r.stdout, "RESULT")
        self.assertEqual(len(res), 1, r.describe())
        return res[0]
