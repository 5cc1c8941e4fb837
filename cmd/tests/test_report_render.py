"""`mmapguard --log` into a directory that is not there says so (the reports then go to stderr).
`mmapguard report` tells a sigbus record the way the live text does (the verdict in words, the
faulting stack with file:line, the linked cut with its stack and how long before the fault), and
refuses a text log with a word about what it reads."""
import glob
import os
import re
import subprocess
import sys
import unittest

import cmdtest


class ReportRenderTest(cmdtest.CmdTest):

    def report(self, files):
        return subprocess.run([cmdtest.CMD, "report"] + files, capture_output=True, text=True,
                              timeout=120, env=cmdtest.clean_env())

    def test_sigbus_record(self):
        target = os.path.join(self.tmp, "f")
        logs = os.path.join(self.tmp, "log.%p")
        p = self.mg(["--json", "--log", logs, cmdtest.prog("mgc_faultprog"), target])
        self.assertEqual(p.returncode, 128 + 7, self.describe(p))
        r = self.report(glob.glob(os.path.join(self.tmp, "log.*")))
        self.assertEqual(r.returncode, 0, self.describe(r))
        out = r.stdout
        self.assertNotIn("fields (first record)", out)
        self.assertIn("1 x SIGBUS (BUS_ADRERR) in a mapping of " + target, out)
        self.assertIn("verdict: the file was cut short", out)
        self.assertIn("faultprog.c:%d" % cmdtest.marked_line("faultprog.c", "FAULT_SITE"), out)
        self.assertIn("cut earlier by this process: ftruncate() 16384 -> 0 bytes", out)
        self.assertIn("faultprog.c:%d" % cmdtest.marked_line("faultprog.c", "CUT_SITE"), out)
        self.assertRegex(out, r"\d+\.\d{6} s before the fault")

    # ---- `mmapguard PROGRAM` shows each record as the guard itself writes it -----------------

    @staticmethod
    def normalized_block(text, first):
        """The lines of the block that starts with `first`, numbers that differ between runs
        (addresses, times, pids, inodes, microseconds) replaced."""
        lines = text.splitlines()
        start = next(i for i, l in enumerate(lines) if l.startswith(first))
        block = [lines[start]]
        for l in lines[start + 1:]:
            if not l.startswith("mmapguard:  "):
                break
            block.append(l)
        out = []
        for l in block:
            l = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z", "TIME", l)
            l = re.sub(r"0x[0-9a-f]+", "0xX", l)
            l = re.sub(r"\b(thread|pid|process|ino|after) \d+", r"\1 N", l)
            l = re.sub(r"\(uid \d+\)", "(uid N)", l)
            l = re.sub(r"\b\d+ us\b", "N us", l)
            l = re.sub(r"mgc-test-[A-Za-z0-9_]+", "TMP", l)
            out.append(l)
        return out

    def guard_own_text(self, argv, env=None):
        e = cmdtest.clean_env({"LD_PRELOAD": cmdtest.LIB})
        e.update(env or {})
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=e)

    def test_live_sigbus_is_the_guards_own_text(self):
        """The faulting stack, the mapping with its creation stack, the cut with its stack."""
        target = os.path.join(self.tmp, "f")
        own = self.guard_own_text([cmdtest.prog("mgc_faultprog"), target])
        os.unlink(target)
        p = self.mg([cmdtest.prog("mgc_faultprog"), target])
        self.assertEqual(p.returncode, 128 + 7, self.describe(p))
        want = self.normalized_block(own.stderr, "mmapguard: SIGBUS")
        got = self.normalized_block(p.stderr, "mmapguard: SIGBUS")
        self.assertEqual(got, want, self.describe(p))
        self.assertTrue(any("this process cut the file earlier: ftruncate() 16384 -> 0 bytes" in l
                            for l in got), got)
        self.assertFalse(any("items]" in l for l in p.stderr.splitlines()), p.stderr)

    LEASE_PROGRAM = """
import mmap, os, subprocess, sys
f = open(sys.argv[1], "rb")
m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}   # a cutter not guarded
subprocess.run(["sh", "-c", ': > "$1"', "sh", sys.argv[1]], env=env, check=True)
"""

    def test_live_lease_break_is_the_guards_own_text(self):
        """--leases watch: the breaker (its command, its call) and the mapping it cuts, with the
        mapping's creation stack."""
        target = os.path.join(self.tmp, "f")
        runs = []
        for how in ("own", "cmd"):
            with open(target, "wb") as f:
                f.write(b"x" * 16384)
            argv = [sys.executable, "-c", self.LEASE_PROGRAM, target]
            if how == "own":
                runs.append(self.guard_own_text(argv, {"MMAPGUARD_LEASES": "watch"}))
            else:
                runs.append(self.mg(["--leases", "watch"] + argv))
            self.assertEqual(runs[-1].returncode, 0, self.describe(runs[-1]))
        want = self.normalized_block(runs[0].stderr, "mmapguard: lease break")
        got = self.normalized_block(runs[1].stderr, "mmapguard: lease break")
        self.assertEqual(got, want, self.describe(runs[1]))
        self.assertIn("system call: openat (shrinks the file)", "\n".join(got))
        self.assertTrue(any("mapped by thread" in l for l in got), got)
        self.assertIn("1 lease_break", runs[1].stderr)

    CUT_THEN_FAULT = """
import mmap, os, subprocess, sys
f = open(sys.argv[1], "rb")
m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
env = dict(os.environ)
if sys.argv[2] == "unguarded":
    env.pop("LD_PRELOAD")
subprocess.run(["sh", "-c", ': > "$1"', "sh", sys.argv[1]], env=env, check=True)
m[8192]
"""

    def test_sigbus_names_the_other_process_and_the_mapping(self):
        """report: the mapping's creation stack, and another process's cut (cut_by): a guarded
        cutter with its thread, an unguarded one seen through a lease break with its command;
        the lease_break group names the mapping with its creation stack."""
        for kind in ("guarded", "unguarded"):
            with self.subTest(cutter=kind):
                target = os.path.join(self.tmp, "f-" + kind)
                with open(target, "wb") as f:
                    f.write(b"x" * 16384)
                logs = os.path.join(self.tmp, kind + ".%p")
                p = self.mg(["--leases", "watch", "--json", "--log", logs, sys.executable, "-c",
                             self.CUT_THEN_FAULT, target, kind])
                self.assertEqual(p.returncode, 128 + 7, self.describe(p))
                r = self.report(glob.glob(os.path.join(self.tmp, kind + ".*")))
                self.assertEqual(r.returncode, 0, self.describe(r))
                out = r.stdout
                self.assertIn("1 x SIGBUS (BUS_ADRERR) in a mapping of " + target, out)
                self.assertRegex(out, r"mapping of 16384 bytes at file offset 0 \(PROT_READ, MAP_SHARED\) "
                                      r"made by thread \d+ \"python3\", \d+\.\d{6} s before the fault:\n"
                                      r"        #0  new_mmap_object")
                if kind == "guarded":
                    self.assertRegex(out, r"cut by process \d+ \"sh\": open\w*\(\) 16384 -> 0 bytes by "
                                          r"thread \d+ \"sh\", \d+\.\d{6} s before the fault:\n        #0  ")
                else:
                    self.assertRegex(out, r"cut by process \d+ \"sh\" \(it broke this "
                                          r"process's lease\): openat\(\) 16384 -> 0 bytes, \d+\.\d{6} s "
                                          r"before the fault\n        command: sh -c : > \"\$1\" sh " +
                                     re.escape(target))
                self.assertNotIn("no cut of this file", out)
                # the lease break (the cutter's open broke the lease either way) names the mapping
                lb = out[out.index("== event lease_break"):out.index("== event sigbus")]
                self.assertRegex(lb, r"mapping 0x[0-9a-f]+-0x[0-9a-f]+ \(16384 bytes at file offset 0, "
                                     r"PROT_READ, MAP_SHARED\), made by thread \d+ \"python3\":\n"
                                     r"        #0  new_mmap_object")

    def test_text_log_refused(self):
        log = os.path.join(self.tmp, "text.log")
        p = self.mg(["--log", log, cmdtest.prog("mgc_truncprog"), os.path.join(self.tmp, "f")])
        self.assertEqual(p.returncode, 0, self.describe(p))
        r = self.report([log])
        self.assertNotEqual(r.returncode, 0, self.describe(r))
        self.assertIn("is not a JSON log", r.stderr)

    def test_log_in_missing_directory(self):
        log = os.path.join(self.tmp, "no-such-dir", "x.log")
        p = self.mg(["--log", log, cmdtest.prog("mgc_truncprog"), os.path.join(self.tmp, "f")])
        self.assertEqual(p.returncode, 0, self.describe(p))
        self.assertIn("the log %s cannot be created" % log, p.stderr)
        self.assertIn("cannot write reports to %s: no such file or directory" % log, p.stderr)
        self.assertIn("would cut a memory-mapped file short", p.stderr)


if __name__ == "__main__":
    unittest.main()
