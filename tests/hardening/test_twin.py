"""Two copies of the guard in one process: two library paths in LD_PRELOAD (an installed copy
and a build tree's, or `mmapguard` run with LD_PRELOAD already naming another copy).

The copy first in the search order receives every call and calls the other one as "the real
function". Each violation must still be reported exactly once, refused once in block mode, and a
SIGBUS recorded once; neither copy may tell the user that the other hides mappings from it.
Checked in both orders, with /usr/bin/python3 as the program (its os and mmap modules call libc's
open, mmap, ftruncate)."""
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardlib  # noqa: E402
import mgtest  # noqa: E402

SCRIPT = r"""
import errno, mmap, os, sys
d, touch = sys.argv[1], sys.argv[2] == "touch"
page = mmap.PAGESIZE
for name in ("cut", "reopened"):
    with open(os.path.join(d, name), "wb") as f:
        f.write(b"x" * (4 * page))
fd = os.open(os.path.join(d, "cut"), os.O_RDWR)
m = mmap.mmap(fd, 4 * page)
fd2 = os.open(os.path.join(d, "reopened"), os.O_RDONLY)
m2 = mmap.mmap(fd2, 4 * page, prot=mmap.PROT_READ)
for what, call in (("ftruncate", lambda: os.ftruncate(fd, page)),
                   ("open", lambda: os.close(os.open(os.path.join(d, "reopened"),
                                                     os.O_WRONLY | os.O_TRUNC)))):
    try:
        call()
        print("DONE", what, flush=True)
    except OSError as e:
        print("REFUSED", what, errno.errorcode[e.errno], flush=True)
print("SIZES", os.path.getsize(os.path.join(d, "cut")), os.path.getsize(os.path.join(d, "reopened")),
      flush=True)
if touch:
    m[3 * page]          # beyond the new end of "cut" in log mode: SIGBUS
print("END", flush=True)
"""


class TwinTest(hardlib.HardTest):

    def twin(self):
        copy = os.path.join(self.tmp, "copy", "libmmapguard.so")
        os.makedirs(os.path.dirname(copy))
        shutil.copy(mgtest.LIB, copy)
        return copy

    def run_twin(self, first, second, mode, touch=False):
        r = mgtest.run([hardlib.SYS_PYTHON, "-c", SCRIPT, self.tmp, "touch" if touch else "no"],
                       mode=mode, env={"LD_PRELOAD": "%s %s" % (first, second)}, timeout=120)
        self.assertNotIn("loaded ahead of the guard", r.stderr, hardlib.short(r))
        self.assertFalse(r.malformed, hardlib.short(r))
        return r

    def check_cuts(self, r, action):
        cuts = [x for x in r.records if x["event"] in ("truncate", "reopen")]
        calls = sorted(x["call"] for x in cuts)
        self.assertEqual(len(cuts), 2, "want one record per violation\n" + hardlib.short(r))
        self.assertIn(calls[0], ("ftruncate", "ftruncate64"), hardlib.short(r))
        self.assertIn(calls[1], ("open", "open64"), hardlib.short(r))
        for x in cuts:
            self.assertEqual(x["action"], action, hardlib.describe(x))
            self.assertEqual(len(x["mappings"]), 1, hardlib.describe(x))
            self.assertTrue(x["backtrace"], hardlib.describe(x))
            self.assertTrue(x["mappings"][0]["backtrace"], hardlib.describe(x))
        paths = sorted(os.path.basename(x["path"]) for x in cuts)
        self.assertEqual(paths, ["cut", "reopened"], hardlib.short(r))

    def both_orders(self):
        copy = self.twin()
        return ((mgtest.LIB, copy), (copy, mgtest.LIB))

    def test_log_mode_one_record_per_violation(self):
        page = hardlib.PAGE
        for first, second in self.both_orders():
            with self.subTest(first=first):
                r = self.run_twin(first, second, "log")
                self.assertEqual(r.returncode, 0, hardlib.short(r))
                self.assertIn("DONE ftruncate", r.stdout)
                self.assertIn("DONE open", r.stdout)
                self.assertIn("SIZES %d 0" % page, r.stdout, hardlib.short(r))
                self.check_cuts(r, "logged")

    def test_block_mode_refuses_once(self):
        page = hardlib.PAGE
        for first, second in self.both_orders():
            with self.subTest(first=first):
                r = self.run_twin(first, second, "block")
                self.assertEqual(r.returncode, 0, hardlib.short(r))
                self.assertIn("REFUSED ftruncate ETXTBSY", r.stdout, hardlib.short(r))
                self.assertIn("REFUSED open ETXTBSY", r.stdout, hardlib.short(r))
                self.assertIn("SIZES %d %d" % (4 * page, 4 * page), r.stdout, hardlib.short(r))
                self.check_cuts(r, "blocked")

    def test_sigbus_recorded_once(self):
        for first, second in self.both_orders():
            with self.subTest(first=first):
                r = self.run_twin(first, second, "log", touch=True)
                self.assertEqual(r.returncode, -7, "want death by SIGBUS\n" + hardlib.short(r))
                self.assertNotIn("END", r.stdout)
                self.check_cuts(r, "logged")
                faults = [x for x in r.records if x["event"] == "sigbus"]
                self.assertEqual(len(faults), 1, hardlib.short(r))
                self.assertEqual(os.path.basename(faults[0]["path"]), "cut",
                                 hardlib.describe(faults[0]))


if __name__ == "__main__":
    unittest.main()
