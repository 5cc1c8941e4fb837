"""A daemon that closes every descriptor (close loop, close_range(0, ~0U), closefrom), reopens
stdin/out/err on /dev/null, puts its own files on the numbers the guard's log may have had, and
violates again with MMAPGUARD_LOG=file: the record still reaches the log file, the program's files
contain only what the program wrote, and every close() result equals a run without the guard."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardlib  # noqa: E402
import mgtest  # noqa: E402


def comparable(text):
    """The lines of the results file that must not depend on the guard."""
    return [ln for ln in text.splitlines() if ln.split(" ", 1)[0] in ("STD", "CLOSEFROM", "CLOSE",
                                                                      "CLOSE_RANGE")]


class DaemonTest(hardlib.HardTest):

    def one(self, variant, preload):
        d = os.path.join(self.tmp, "%s-%s" % (variant, "guard" if preload else "bare"))
        os.mkdir(d)
        results = os.path.join(d, "results")
        r = mgtest.run([self.program("hard_daemon"), d, results, variant], preload=preload,
                       timeout=120)
        with open(results) as f:
            text = f.read()
        return d, r, text

    def check_variant(self, variant):
        _, bare, bare_text = self.one(variant, False)
        self.assertEqual(bare.returncode, 0, "bare run\n" + hardlib.short(bare) + bare_text[-2000:])
        d, r, text = self.one(variant, True)
        fails = [ln for ln in text.splitlines() if ln.startswith("FAIL")]
        self.assertEqual(fails, [], text[-3000:])
        self.assertEqual(r.returncode, 0, hardlib.short(r) + "\nresults:\n" + text[-3000:])
        self.assertIn("DONE", text)

        # the program's view of its descriptors is the same as without the guard
        self.assertEqual(comparable(text), comparable(bare_text),
                         "close()/close_range()/closefrom() results differ from a bare run")
        self.assertEqual(len([ln for ln in comparable(text) if ln.startswith("CLOSE ")]), 1024)

        # the program's files hold exactly what the program wrote, nothing of ours
        for i in range(5):
            with open(os.path.join(d, "prog_%d" % i)) as f:
                lines = f.read().splitlines()
            self.assertTrue(lines and lines[0].startswith("program file %d opened as fd" % i), lines)
            want = [lines[0]] + ["program line via fd %d" % fd for fd in range(900, 910)
                                 if fd % 5 == i] + ["program end"]
            self.assertEqual(lines, want, "program file prog_%d was written by someone else" % i)

        # both daemon-time violations and the one before reached the log file
        exps = hardlib.expectations(text)
        self.assertEqual(len(exps), 3, text[-2000:])
        self.match(r, exps)
        self.assertEqual(r.stderr, "", "the guard wrote to stderr")

    def test_libc_close_everything(self):
        self.check_variant("libc")

    def test_raw_close_range_and_dup3(self):
        self.check_variant("raw")


if __name__ == "__main__":
    unittest.main()
