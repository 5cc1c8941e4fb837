"""mmapguard explain on real cores: explain_prog dies (a cut file, a full tmpfs, kill -BUS, a null
pointer), gdb writes its core (generate-core-file at the signal, so the machine's core settings are
never touched; one test lets the kernel write it where core_pattern names a plain file), and the
tests compare what `mmapguard explain` says with what the program said it did."""
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

import mgtest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sigbus"))
from sbcommon import SIGBUS_KEYS, MAPPING_KEYS, TRUNCATION_KEYS  # noqa: E402

CMD = os.environ.get("MG_CMD", "")
SRC = os.environ.get("MG_EXPLAIN_SRC", os.path.dirname(os.path.abspath(__file__)))
PAGE = os.sysconf("SC_PAGE_SIZE")
BUS_ADRERR = 2
PROG_SRC = "explain_prog.c"


def marked_line(marker):
    with open(os.path.join(SRC, PROG_SRC)) as f:
        for n, line in enumerate(f, 1):
            if marker in line:
                return n
    raise AssertionError("marker %s not in %s" % (marker, PROG_SRC))


def clean_env(extra=None):
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("MMAPGUARD_") or k in ("LD_PRELOAD", "DEBUGINFOD_URLS"):
            del e[k]
    if extra:
        e.update(extra)
    return e


def read_steps(workdir):
    path = os.path.join(workdir, "steps")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def parse_time(t):
    return datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


class ExplainTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        if not CMD or not os.path.exists(CMD):
            self.fail("MG_CMD does not point at the mmapguard command: %r" % CMD)
        self.tmp = tempfile.mkdtemp(prefix="mg-explain-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- making cores ----

    def gdb_core(self, scenario, workdir=None, guard_env=None, wrap=None, prog=None):
        """Run explain_prog under gdb to its fatal signal and have gdb write the core."""
        if not shutil.which("gdb"):
            self.skipTest("gdb is not installed (package gdb)")
        workdir = workdir or self.tmp
        core = os.path.join(self.tmp, "core.%s" % scenario)
        cmd = ["gdb", "-nx", "-batch", "-q", "-ex", "set startup-with-shell off",
               "-ex", "set pagination off"]
        for k, v in (guard_env or {}).items():
            cmd += ["-ex", "set environment %s=%s" % (k, v)]
        cmd += ["-ex", "run", "-ex", "generate-core-file " + core, "-ex", "kill",
                "--args", prog or mgtest.test_prog("explain_prog"), scenario, workdir]
        p = subprocess.run((wrap or []) + cmd, env=clean_env(), capture_output=True, text=True,
                           timeout=300, stdin=subprocess.DEVNULL)
        steps = read_steps(workdir)
        errors = [s for s in steps if s["step"] == "error"]
        self.assertEqual(errors, [], "explain_prog failed: %s\n%s" % (steps, p.stdout + p.stderr))
        self.assertTrue(os.path.exists(core), "gdb wrote no core:\n" + p.stdout + p.stderr)
        return core, {s["step"]: s for s in steps}

    def explain(self, core, *opts, json_out=True, rc=0):
        args = [CMD, "explain", core] + list(opts) + (["--json"] if json_out else [])
        p = subprocess.run(args, env=clean_env(), capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, rc, "mmapguard explain exit status:\n%s%s" % (p.stdout, p.stderr))
        if json_out and rc in (0, 1):
            lines = p.stdout.splitlines()
            self.assertEqual(len(lines), 1, "one JSON line expected:\n" + p.stdout)
            return json.loads(lines[0]), p
        return None, p

    # ---- checks ----

    def check_fault(self, rec, steps, *, verdict, file_status, file_size, func, marker):
        mapped, fault = steps["mapped"], steps["fault"]
        ctx = "\n" + json.dumps(rec, indent=1)
        # the guard's sigbus record's fields, so that report takes both alike
        self.assertTrue(SIGBUS_KEYS <= set(rec), "missing %s%s" % (sorted(SIGBUS_KEYS - set(rec)), ctx))
        self.assertTrue(MAPPING_KEYS <= set(rec["mappings"][0]), ctx)
        if rec["truncation"] is not None:
            self.assertTrue(TRUNCATION_KEYS <= set(rec["truncation"]), ctx)
        self.assertEqual((rec["event"], rec["action"]), ("sigbus", "explained"), ctx)
        self.assertEqual(int(rec["fault_addr"], 16), int(fault["fault_addr"], 16), ctx)
        self.assertEqual((rec["si_code"], rec["si_code_name"]), (BUS_ADRERR, "BUS_ADRERR"), ctx)
        self.assertEqual(rec["path"], mapped["path"], ctx)
        self.assertEqual(rec["fault_offset"], fault["fault_offset"], ctx)
        self.assertEqual(rec["file_status"], file_status, ctx)
        self.assertEqual(rec["file_size"], file_size, ctx)
        self.assertEqual(rec["verdict"], verdict, ctx)
        self.assertEqual((rec["pid"], rec["tid"]), (mapped["pid"], mapped["tid"]), ctx)
        self.assertEqual(rec["page_size"], PAGE, ctx)
        m = rec["mappings"]
        self.assertEqual(len(m), 1, ctx)
        self.assertEqual(int(m[0]["addr"], 16), int(mapped["map_addr"], 16), ctx)
        self.assertEqual((m[0]["length"], m[0]["offset"], m[0]["path"]),
                         (mapped["map_len"], 0, mapped["path"]), ctx)
        top = rec["backtrace"][0]
        self.assertEqual(top["function"], func, ctx)
        self.assertEqual(os.path.basename(top["file"] or ""), PROG_SRC, ctx)
        self.assertEqual(top["line"], marked_line(marker), ctx)
        self.assertEqual(os.path.realpath(top["module"]),
                         os.path.realpath(mgtest.test_prog("explain_prog")), ctx)
        self.assertIsInstance(rec["note"], str, ctx)
        # the other thread, blocked in read() called from waiter()
        funcs = [f["function"] for t in rec["threads"] for f in t["backtrace"]]
        self.assertEqual(len(rec["threads"]), 1, ctx)
        self.assertTrue({"read", "__libc_read", "waiter"} & set(funcs), ctx)

    # ---- the tests ----

    def test_truncated(self):
        core, steps = self.gdb_core("truncated")
        rec, _ = self.explain(core)
        self.check_fault(rec, steps, verdict="truncated", file_status="present", file_size=PAGE,
                         func="read_mapped_byte", marker="/* FAULT_READ */")
        self.assertEqual((rec["dev"], rec["ino"]), (steps["mapped"]["dev"], steps["mapped"]["ino"]))
        self.assertEqual(rec["mappings"][0]["pages_beyond_eof"], 15)
        self.assertIsNone(rec["truncation"])
        self.assertFalse(rec["guard"]["loaded"], rec["guard"])
        self.assertIn("rename", rec["note"])

        _, p = self.explain(core, json_out=False)
        out = p.stdout
        self.assertIn("SIGBUS, BUS_ADRERR", out)
        self.assertIn("fault offset:   %d in the file" % steps["fault"]["fault_offset"], out)
        self.assertIn("verdict:        truncated", out)
        self.assertRegex(out, r"#0 +0x[0-9a-f]+ read_mapped_byte at \S*%s:%d "
                         % (PROG_SRC, marked_line("/* FAULT_READ */")))
        self.assertIn("other threads:", out)
        self.assertIn("what to do:", out)

    def test_exe_option(self):
        """The program moved after the crash: --exe names it, and the stack has its functions again."""
        prog = os.path.join(self.tmp, "explain_prog")
        shutil.copy(mgtest.test_prog("explain_prog"), prog)
        core, steps = self.gdb_core("truncated", prog=prog)
        moved = os.path.join(self.tmp, "moved_prog")
        os.rename(prog, moved)
        rec, _ = self.explain(core)
        self.assertEqual(rec["verdict"], "truncated")
        self.assertIsNone(rec["backtrace"][0]["function"], rec["backtrace"][0])
        rec, _ = self.explain(core, "--exe", moved)
        self.assertEqual((rec["backtrace"][0]["function"], rec["backtrace"][0]["line"]),
                         ("read_mapped_byte", marked_line("/* FAULT_READ */")), rec["backtrace"][0])
        _, p = self.explain(core, "--exe", os.path.join(self.tmp, "absent"), json_out=False, rc=2)
        self.assertIn("--exe", p.stderr)

    def test_kernel_core(self):
        """The same crash, with the core the kernel writes (where core_pattern names a file)."""
        with open("/proc/sys/kernel/core_pattern") as f:
            pattern = f.read().strip()
        if pattern.startswith("|") or "/" in pattern:
            self.skipTest("core_pattern %r does not write a file in the working directory" % pattern)

        def limit():
            resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        p = subprocess.run([mgtest.test_prog("explain_prog"), "truncated", self.tmp], cwd=self.tmp,
                           env=clean_env(), preexec_fn=limit, capture_output=True, timeout=120)
        self.assertEqual(p.returncode, -signal.SIGBUS, p)
        steps = {s["step"]: s for s in read_steps(self.tmp)}
        prefix = pattern.split("%", 1)[0]
        cores = [n for n in os.listdir(self.tmp) if n.startswith(prefix) and n not in ("data", "steps")]
        if not cores:
            self.skipTest("the kernel wrote no core (core_pattern %r)" % pattern)
        rec, _ = self.explain(os.path.join(self.tmp, cores[0]))
        self.check_fault(rec, steps, verdict="truncated", file_status="present", file_size=PAGE,
                         func="read_mapped_byte", marker="/* FAULT_READ */")
        # the kernel's PT_LOAD headers give the protection
        self.assertEqual(rec["mappings"][0]["prot"], "PROT_READ")

    def test_io_error(self):
        """A store into a hole of a sparse file on a full tmpfs: SIGBUS inside the file's size."""
        if os.geteuid() != 0 or not shutil.which("unshare"):
            self.skipTest("needs root and unshare(1) to mount a small tmpfs in a private namespace")
        fs = os.path.join(self.tmp, "fs")
        os.mkdir(fs)
        probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                               capture_output=True)
        if probe.returncode != 0:
            self.skipTest("unshare -m is not permitted here: %s" % probe.stderr)
        # The tmpfs exists only in the namespace: gdb and explain both run inside it.
        core = os.path.join(self.tmp, "core.io_error")
        script = ('mount -t tmpfs -o size=%d tmpfs "$1" && '
                  'gdb -nx -batch -q -ex "set startup-with-shell off" -ex run '
                  '-ex "generate-core-file $2" -ex kill --args "$3" io_error "$1" >/dev/null 2>&1; '
                  'cp "$1/steps" "$4/steps"; "$5" explain --json "$2"' % (16 * PAGE))
        p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                            fs, core, mgtest.test_prog("explain_prog"), self.tmp, CMD],
                           env=clean_env(), capture_output=True, text=True, timeout=300)
        steps = {s["step"]: s for s in read_steps(self.tmp)}
        self.assertNotIn("error", steps, steps)
        if "no_fault" in steps:
            self.skipTest("the store into the full tmpfs did not fault on this kernel")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        rec = json.loads(p.stdout)
        self.check_fault(rec, steps, verdict="io_error", file_status="present",
                         file_size=steps["mapped"]["map_len"], func="store_mapped_byte",
                         marker="/* FAULT_STORE */")
        self.assertIn("inside the file", rec["note"])

    def test_kill_bus(self):
        core, steps = self.gdb_core("kill")
        rec, p = self.explain(core, rc=1)
        self.assertEqual((rec["signal"], rec["si_code_name"]), ("SIGBUS", "SI_USER"), rec)
        self.assertIn("sent by a process", rec["reason"])
        self.assertIn("pid %d" % steps["kill"]["pid"], rec["reason"])
        _, p = self.explain(core, json_out=False, rc=1)
        self.assertIn("SIGBUS sent by a process (SI_USER", p.stdout)
        self.assertIn("not a fault", p.stdout)

    def test_segv(self):
        core, _ = self.gdb_core("segv")
        rec, _ = self.explain(core, rc=1)
        self.assertEqual((rec["signal"], rec["si_code_name"]), ("SIGSEGV", "SEGV_MAPERR"), rec)
        self.assertEqual(int(rec["fault_addr"], 16), 16)
        _, p = self.explain(core, json_out=False, rc=1)
        self.assertIn("not a SIGBUS: the process was killed by SIGSEGV (SEGV_MAPERR, address 0x10)",
                      p.stdout)

    def test_sigbus_outside_file_mapping(self):
        """A real SIGBUS fault that is not in a file mapping (alignment check on heap memory: x86
        reports it without an address): exit 1."""
        if platform.machine() != "x86_64":
            self.skipTest("the alignment-check fault is made on x86-64 only")
        core, steps = self.gdb_core("align")
        rec, _ = self.explain(core, rc=1)
        self.assertEqual((rec["signal"], rec["si_code_name"]), ("SIGBUS", "BUS_ADRALN"), rec)
        self.assertIn(int(rec["fault_addr"], 16), (0, int(steps["fault"]["fault_addr"], 16)), rec)
        self.assertIn("which is not in a file mapping", rec["reason"])
        self.assertIn("not a truncated file", rec["reason"])

    def test_sigbus_in_shared_anonymous_memory(self):
        """A SIGBUS in shared anonymous memory (listed in the core as /dev/zero (deleted)): no file
        was cut, exit 1."""
        core, steps = self.gdb_core("shared_anon")
        rec, _ = self.explain(core, rc=1)
        self.assertEqual((rec["signal"], rec["si_code_name"]), ("SIGBUS", "BUS_ADRERR"), rec)
        self.assertEqual(int(rec["fault_addr"], 16), int(steps["fault"]["fault_addr"], 16))
        self.assertIn("shared anonymous memory", rec["reason"])

    def test_file_deleted_after_crash(self):
        core, steps = self.gdb_core("truncated")
        os.unlink(steps["mapped"]["path"])
        rec, _ = self.explain(core)
        self.check_fault(rec, steps, verdict="unknown", file_status="unlinked", file_size=None,
                         func="read_mapped_byte", marker="/* FAULT_READ */")
        self.assertIn("deleted or renamed since", rec["file_detail"])
        _, p = self.explain(core, json_out=False)
        self.assertIn("verdict:        unknown", p.stdout)

    def test_file_replaced_after_crash(self):
        core, steps = self.gdb_core("truncated")
        path = steps["mapped"]["path"]
        os.unlink(path)
        # a new file under the old name, born after the core was written
        st = os.stat(core)
        os.utime(core, (st.st_atime - 10, st.st_mtime - 10))
        with open(path, "wb") as f:
            f.write(b"x" * 100 * PAGE)
        rec, _ = self.explain(core)
        self.assertEqual((rec["verdict"], rec["file_status"], rec["identity"]),
                         ("unknown", "renamed", "replaced"), rec)

    def test_guarded_process_lists_its_cut(self):
        log = os.path.join(self.tmp, "guard.log")
        core, steps = self.gdb_core("truncated", guard_env={
            "LD_PRELOAD": mgtest.LIB, "MMAPGUARD_MODE": "log", "MMAPGUARD_LOG": log,
            "MMAPGUARD_LOG_FORMAT": "json"})
        with open(log) as f:
            recs = [json.loads(line) for line in f if line.strip()]
        cuts = [r for r in recs if r.get("event") == "truncate"]
        self.assertEqual(len(cuts), 1, recs)
        os.unlink(log)                  # the log need not survive
        rec, _ = self.explain(core)
        g = rec["guard"]
        self.assertTrue(g["loaded"] and g["found"], g)
        self.assertEqual(g["found_by"], "symbol")
        self.assertEqual(len(g["cuts"]), 1, g)
        c = g["cuts"][0]
        self.assertEqual((c["call"], c["size_before"], c["size_after"]),
                         ("ftruncate", 16 * PAGE, PAGE), c)
        self.assertEqual((c["dev"], c["ino"]), (steps["mapped"]["dev"], steps["mapped"]["ino"]))
        self.assertEqual(c["tid"], steps["mapped"]["tid"])
        self.assertEqual(c["thread_name"], "explain_prog")
        # the ring and the log each read the clock once for the same call
        self.assertLess(abs(parse_time(c["time"]) - parse_time(cuts[0]["time"])), 1.0,
                        "the cut's time, and the time the guard logged for it")
        self.assertEqual((c["backtrace"][0]["function"], c["backtrace"][0]["line"]),
                         ("cut", marked_line("if (ftruncate(fd, size) < 0)")), c["backtrace"])
        self.assertEqual(rec["identity"], "matches")
        self.assertEqual(rec["truncation"]["call"], "ftruncate")
        self.assertEqual(rec["verdict"], "truncated")
        _, p = self.explain(core, json_out=False)
        self.assertIn("1 earlier cut(s) by this process", p.stdout)
        self.assertRegex(p.stdout, r"ftruncate\(\) %d -> %d bytes, file %d:%d \(the faulting file\), "
                         r"thread %d \(explain_prog\)" % (16 * PAGE, PAGE, c["dev"], c["ino"], c["tid"]))

    def test_guard_state_found_by_magic(self):
        """The library's file is gone: the state is found by its magic in the core's memory."""
        lib = os.path.join(self.tmp, "libmmapguard-copy.so")
        shutil.copy(mgtest.LIB, lib)
        core, steps = self.gdb_core("truncated", guard_env={
            "LD_PRELOAD": lib, "MMAPGUARD_MODE": "log",
            "MMAPGUARD_LOG": os.path.join(self.tmp, "guard.log")})
        os.unlink(lib)
        rec, _ = self.explain(core)
        g = rec["guard"]
        self.assertTrue(g["found"], g)
        self.assertEqual(g["found_by"], "magic", g)
        self.assertEqual([(c["call"], c["ino"]) for c in g["cuts"]],
                         [("ftruncate", steps["mapped"]["ino"])], g)

    def test_report_includes_explain_records(self):
        core, steps = self.gdb_core("truncated")
        rec, p = self.explain(core)
        out = os.path.join(self.tmp, "explained.jsonl")
        with open(out, "w") as f:
            f.write(p.stdout)
        r = subprocess.run([CMD, "report", "--json", out], env=clean_env(), capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        s = json.loads(r.stdout)
        self.assertEqual((s["records"], s["malformed"]), (1, 0), s)
        other = [o for o in s["other"] if o["event"] == "sigbus"]
        self.assertEqual(len(other), 1, s)
        self.assertEqual(other[0]["path"], steps["mapped"]["path"])
        self.assertEqual(other[0]["fields"]["verdict"], "truncated")
        # frame 0 is the faulting instruction: its own line, as explain gave it
        self.assertEqual((other[0]["stack"][0]["function"], other[0]["stack"][0]["line"]),
                         ("read_mapped_byte", marked_line("/* FAULT_READ */")), other[0]["stack"][0])

    def test_not_a_core(self):
        exe = mgtest.test_prog("explain_prog")
        _, p = self.explain(exe, json_out=False, rc=2)
        self.assertIn("not a core file: an ELF file of type", p.stderr)
        text = os.path.join(self.tmp, "text")
        with open(text, "w") as f:
            f.write("hello\n")
        _, p = self.explain(text, json_out=False, rc=2)
        self.assertIn("not a core file: not an ELF file", p.stderr)
        empty = os.path.join(self.tmp, "empty")
        open(empty, "w").close()
        _, p = self.explain(empty, json_out=False, rc=2)
        self.assertIn("the file is empty", p.stderr)
        _, p = self.explain(os.path.join(self.tmp, "absent"), json_out=False, rc=2)
        self.assertIn("No such file", p.stderr)

    def test_truncated_and_corrupt_cores(self):
        core, _ = self.gdb_core("truncated")
        with open(core, "rb") as f:
            data = f.read()
        # cut at several places: inside the header, the program headers, the notes, the memory
        phoff = int.from_bytes(data[32:40], "little")
        cuts = sorted({10, 40, phoff + 20, phoff + 56 * 2 + 5, len(data) // 8, len(data) // 2,
                       len(data) - 1})
        for n in cuts:
            with self.subTest(cut=n):
                bad = os.path.join(self.tmp, "cut.%d" % n)
                with open(bad, "wb") as f:
                    f.write(data[:n])
                p = subprocess.run([CMD, "explain", bad], env=clean_env(), capture_output=True,
                                   text=True, timeout=120)
                self.assertIn(p.returncode, (0, 1, 2), p.stderr)     # no crash
                if p.returncode == 2:
                    self.assertRegex(p.stderr, r"damaged or incomplete core file|not a core file")
        # flipped bytes all over the notes
        rnd = bytearray(data)
        for i in range(phoff, min(len(rnd), phoff + 8192), 7):
            rnd[i] ^= 0x5a
        bad = os.path.join(self.tmp, "flipped")
        with open(bad, "wb") as f:
            f.write(rnd)
        p = subprocess.run([CMD, "explain", bad], env=clean_env(), capture_output=True, text=True,
                           timeout=120)
        self.assertIn(p.returncode, (0, 1, 2), p.stderr)


if __name__ == "__main__":
    unittest.main()
