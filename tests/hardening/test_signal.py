"""ftruncate is async-signal-safe: a signal handler may cut a mapped file while the thread it
interrupted is inside the guard (its mmap/munmap wrappers hold the registry lock across the real
call). The program must not deadlock; the handler's violations are reported (or, when they
interrupt the guard's own reporting, let through), never anything else."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardlib  # noqa: E402
import mgtest  # noqa: E402

ITERS = 200000


class SignalHandlerTest(hardlib.HardTest):

    def test_ftruncate_in_signal_handler(self):
        try:
            r = mgtest.run([self.program("hard_signal"), self.tmp, str(ITERS)], timeout=60)
        except subprocess.TimeoutExpired:
            self.fail("deadlock: a signal handler's ftruncate waited for a lock held by the "
                      "thread it interrupted (no progress in 60 s)")
        self.assertRan(r)
        runs = hardlib.parse_lines(r.stdout, "HANDLER")[0]["runs"]
        self.assertGreater(runs, 0, "the timer never fired")
        self.assertEqual(r.malformed, [])
        victim = os.path.join(self.tmp, "victim")
        st = os.stat(victim)
        self.assertGreater(len(r.records), 0, hardlib.short(r))
        self.assertLessEqual(len(r.records), runs)
        for rec in r.records:
            self.assertEqual((rec["call"], rec["path"], rec["size_before"], rec["size_after"],
                              rec["dev"], rec["ino"]),
                             ("ftruncate", victim, 2 * hardlib.PAGE, 0, st.st_dev, st.st_ino))


if __name__ == "__main__":
    unittest.main()
