"""The program's SIGBUS disposition under concurrency.

A signal handler that asks for SIGBUS's disposition while its own thread is halfway through
changing it must get an answer (it waited forever), and two threads installing different
handlers at once never leave one handler with the other's flags.
"""
import unittest

from mgtest import GuardTest, run, test_prog


class SignalLockTest(GuardTest):
    def setUp(self):
        super().setUp()
        self.prog = test_prog("mg_conc")

    def test_handler_reads_the_disposition_its_thread_is_changing(self):
        for argv in ([], None):
            r = run([self.prog, "sigaction-spin", self.tmp, "300"], preload=argv is None)
            self.assertEqual(r.returncode, 0, r.describe())
            self.assertIn("handled 300", r.stdout.splitlines(), r.describe())

    def test_concurrent_installs_never_mix(self):
        r = run([self.prog, "sigaction-mix", self.tmp, "300000"])
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertIn("reads 300000 mixed 0", r.stdout.splitlines(), r.describe())


if __name__ == "__main__":
    unittest.main()
