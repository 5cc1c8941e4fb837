"""The public API (include/mmapguard.h) with and without the guard loaded."""
import errno
import json
import os
import unittest

import mgtest


class ApiTest(mgtest.GuardTest):
    def run_prog(self, **kw):
        r = mgtest.run([mgtest.test_prog("api_prog"), self.tmp], **kw)
        self.assertEqual(r.returncode, 0, r.describe())
        return r, json.loads(r.stdout)

    def test_without_guard(self):
        r, out = self.run_prog(preload=False)
        self.assertEqual(out["loaded"], -1)          # MMAPGUARD_NOT_LOADED
        self.assertEqual(out["mapped"], 0)
        self.assertEqual(out["cbset"], -1)
        self.assertEqual(out["c1"], 0)
        self.assertEqual([out["r1"], out["r2"], out["r3"], out["r4"]], [0, 0, 0, 0])
        self.assertEqual(os.path.getsize(os.path.join(self.tmp, "a.dat")), 4096)

    def test_with_guard(self):
        r, out = self.run_prog(mode="log")
        self.assertEqual(out["loaded"], 1)           # MMAPGUARD_MODE_LOG
        self.assertEqual(out["mapped"], 1)
        # window [4096, 12288): smallest safe size keeps the last page's first byte
        self.assertEqual(out["safe"], 12288 - 4096 + 1)
        self.assertEqual(out["cbset"], 0)
        self.assertEqual(out["r1"], 0)
        self.assertEqual(out["c1"], 1)
        self.assertEqual(out["last_call"], "truncate")  # last callback: the blocked truncate()
        self.assertEqual(out["before"], 8192)
        self.assertEqual(out["after"], 4096)
        self.assertEqual(out["nmaps"], 1)
        self.assertEqual(out["len"], 8192)
        # suppressed scope and suppressed file: no callback, no report, call proceeds
        self.assertEqual(out["r2"], 0)
        self.assertEqual(out["c2"], 1)
        self.assertEqual(out["sp"], 0)
        self.assertEqual(out["r3"], 0)
        self.assertEqual(out["c3"], 1)
        self.assertEqual(out["suppressed"], 2)
        # run-time switch to block mode
        self.assertEqual(out["prev"], 1)
        self.assertEqual(out["r4"], -1)
        self.assertEqual(out["e4"], errno.ETXTBSY)
        self.assertEqual(out["bad"], -1)
        self.assertEqual(out["ebad"], errno.EINVAL)
        self.assertEqual(out["r5"], 0, "a mapping unmapped while the mode was off was still enforced")
        calls = [(x["call"], x["action"]) for x in r.records if x["event"] != "suppressed"]
        self.assertEqual(calls, [("ftruncate", "logged"), ("truncate", "blocked")], r.describe())
        # the two suppressed calls leave a short record each, naming why
        self.assertEqual([x["rule"] for x in r.events("suppressed")],
                         ["mmapguard_suppress_begin", "mmapguard_suppress_path"], r.describe())
        self.assertEqual(os.path.getsize(os.path.join(self.tmp, "a.dat")), 8192)
        self.assertEqual(os.path.getsize(os.path.join(self.tmp, "b.dat")), 0)

    def test_suppress_env_glob(self):
        r, out = self.run_prog(mode="log", env={"MMAPGUARD_SUPPRESS": "/nonexistent/*," + self.tmp + "/a.*"})
        self.assertEqual(out["c1"], 0, r.describe())
        self.assertEqual([x["path"] for x in r.records if x["event"] != "suppressed"], [],
                         r.describe())
        # the API's scope and file come first; the glob excuses the other two
        self.assertEqual(sorted(x["rule"] for x in r.events("suppressed")),
                         ["MMAPGUARD_SUPPRESS", "MMAPGUARD_SUPPRESS", "mmapguard_suppress_begin",
                          "mmapguard_suppress_path"], r.describe())
        self.assertEqual(out["r4"], 0)               # a.dat suppressed even in block mode
        self.assertEqual(out["suppressed"], 4)


if __name__ == "__main__":
    unittest.main()
