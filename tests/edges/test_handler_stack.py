"""The program's own SIGBUS handler runs where, and as, it would without the guard: on the thread's
normal stack without SA_ONSTACK (even when the program has an alternate stack), on the program's
alternate stack with it, with its sa_mask and SA_NODEFER; a 160 KiB handler frame fits as it does
bare. The guard installs no alternate stack on the program's threads, and its own work in the
handler (the sigbus record) happens on a stack of its own: on the faulting thread's stack the guard
adds at most STACK_BUDGET bytes before the program's handler runs."""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edgelib  # noqa: E402
import mgtest  # noqa: E402
from edgelib import lines  # noqa: E402

STACK_BUDGET = 1024


class HandlerStackTest(edgelib.EdgeTest):

    def handler_run(self, case, preload):
        d = tempfile.mkdtemp(dir=self.tmp)
        r = mgtest.run([mgtest.test_prog("edge_handler"), case, d], preload=preload, timeout=60)
        self.assertEqual(r.returncode, 0, "%s (guard: %s):\n%s" % (case, preload, r.describe()))
        self.assertIn("DONE", r.stdout, r.describe())
        return r

    def facts(self, r, tags):
        return {t: lines(r.stdout, t) for t in tags}

    def check(self, case):
        bare = self.handler_run(case, False)
        guarded = self.handler_run(case, True)
        self.assertEqual(self.facts(guarded, ("HANDLER", "MASK")), self.facts(bare, ("HANDLER", "MASK")),
                         "%s: the program's handler ran elsewhere or otherwise:\nbare:\n%s\nguarded:\n%s"
                         % (case, bare.stdout, guarded.describe()))
        recs = guarded.events("sigbus")
        self.assertEqual(len(recs), 1, guarded.describe())
        self.assertEqual(recs[0]["verdict"], "truncated")
        return bare, guarded

    def test_normal_stack_without_altstack(self):
        bare, guarded = self.check("plain")
        b = lines(bare.stdout, "DEPTH")[0]["bytes"]
        g = lines(guarded.stdout, "DEPTH")[0]["bytes"]
        self.assertLessEqual(g - b, STACK_BUDGET, "the guard used %d bytes of the faulting stack" % (g - b))

    def test_normal_stack_with_program_altstack(self):
        self.check("normal")

    def test_program_altstack_with_sa_onstack(self):
        self.check("onstack")

    def test_mask_and_nodefer(self):
        self.check("nodefer")

    def test_no_altstack_installed_for_the_program(self):
        bare = self.handler_run("threads", False)
        guarded = self.handler_run("threads", True)
        self.assertEqual(lines(guarded.stdout, "ALTSTACK"), lines(bare.stdout, "ALTSTACK"), guarded.describe())


if __name__ == "__main__":
    unittest.main()
