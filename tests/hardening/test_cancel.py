"""pthread_cancel of threads blocked in open() on a FIFO, of threads looping open/close/fopen on a
mapped file (every such open a "reopen" report with MMAPGUARD_REOPEN=any) and of threads
violating in a loop: no deadlock afterwards, later violations still reported."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardlib  # noqa: E402
import mgtest  # noqa: E402


class CancelTest(hardlib.HardTest):

    def run_cancel(self, extra_env):
        r = mgtest.run([self.program("hard_cancel"), self.tmp], env=extra_env, timeout=180)
        self.assertNotEqual(r.returncode, -14, "hung (the program's watchdog fired)\n"
                            + hardlib.short(r))
        self.assertRan(r)
        self.assertIn("DONE", r.stdout)
        self.assertEqual(len(hardlib.parse_lines(r.stdout, "ROUND")), 10)
        exps = hardlib.expectations(r.stdout)
        self.assertEqual(len(exps), 2, hardlib.short(r))
        mapped = os.path.join(self.tmp, "mapped")
        st = os.stat(mapped)

        def cancelled_threads_record(rec):
            # violators may be cancelled between their call and its announcement
            if rec.get("event") == "truncate" and "/viol_" in rec.get("path", ""):
                return rec.get("call") == "ftruncate" and rec.get("mappings_total") == 1
            # the loopers' reopen reports: the mapped file, by open/fopen
            if rec.get("event") == "reopen":
                return (rec.get("call") in ("open", "fopen") and (rec.get("dev"), rec.get("ino"))
                        == (st.st_dev, st.st_ino) and rec.get("mappings_total") == 1)
            return False
        found = self.match(r, exps, allow_extra=cancelled_threads_record)
        # the violators' announced cuts were all reported
        maybe = hardlib.parse_lines(r.stdout, "MAYBE")
        keys = {(x.get("tid"), x.get("path")) for x in r.records if x.get("event") == "truncate"}
        missing = [m for m in maybe if (m["tid"], m["path"]) not in keys]
        self.assertEqual(missing, [], "violations made before the cancellation were not reported")
        return r, found

    def test_cancel_reopen_any(self):
        r, _ = self.run_cancel({"MMAPGUARD_REOPEN": "any"})
        self.assertTrue(r.events("reopen"), "the loopers' opens were never reported")

    def test_cancel_default_reopen(self):
        r, _ = self.run_cancel(None)
        self.assertEqual(r.events("reopen"), [])


if __name__ == "__main__":
    unittest.main()
