"""Death by SIGBUS with a core dump, with and without the guard: the wait status has the core flag,
and (when core_pattern names a file) the core's NT_SIGINFO and NT_PRSTATUS notes show the original
fault -- signal 7, BUS_ADRERR, the faulting address, the faulting instruction -- not a signal the
guard sent again."""
import os
import resource
import shutil
import struct
import subprocess
import tempfile
import unittest

import mgtest
import sbcommon as sb

NT_PRSTATUS = 1
NT_SIGINFO = 0x53494749
PT_NOTE = 4
PRSTATUS_CURSIG = 12            # struct elf_prstatus (x86-64): pr_cursig
PRSTATUS_RIP = 112 + 16 * 8     # pr_reg (user_regs_struct) starts at 112; rip is its 17th word
SI_TKILL = -6


def core_pattern():
    with open("/proc/sys/kernel/core_pattern") as f:
        return f.read().strip()


def core_uses_pid():
    try:
        with open("/proc/sys/kernel/core_uses_pid") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def read_notes(path):
    """{note type: [desc bytes, ...]} of an x86-64 ELF core file."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise AssertionError("%s is not an ELF64 core" % path)
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    notes = {}
    for i in range(phnum):
        p_type, _flags, p_offset, _va, _pa, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + i * phentsize)
        if p_type != PT_NOTE:
            continue
        pos, end = p_offset, p_offset + p_filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            pos += 12 + (namesz + 3) // 4 * 4
            notes.setdefault(ntype, []).append(data[pos:pos + descsz])
            pos += (descsz + 3) // 4 * 4
    return notes


class CoreRun:
    def __init__(self, status, stdout, stderr, records, malformed, logtext, cwd):
        self.status = status
        self.stdout, self.stderr = stdout, stderr
        self.records, self.malformed, self.logtext = records, malformed, logtext
        self.steps, _ = sb.parse_steps(stdout)
        self.cwd = cwd

    def events(self, event):
        return [r for r in self.records if r.get("event") == event]

    def describe(self):
        return "status=0x%x\nstdout:\n%s\nstderr:\n%s\nlog:\n%s" % (
            self.status, self.stdout, self.stderr, self.logtext)


class CoreDumps(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        mgtest.require_lib(self)
        soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
        if hard != resource.RLIM_INFINITY and hard < (64 << 20):
            self.skipTest("the hard RLIMIT_CORE (%d) is too small for a core dump" % hard)
        self.tmp = tempfile.mkdtemp(prefix="mg-core-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_core(self, scenario, guard, *opts):
        """Run mg_sigbus with RLIMIT_CORE raised; the raw wait status, not returncode."""
        work = tempfile.mkdtemp(prefix="work-", dir=self.tmp)
        logdir = tempfile.mkdtemp(prefix="log-", dir=self.tmp)
        env = {k: v for k, v in os.environ.items()
               if k != "LD_PRELOAD" and not k.startswith("MMAPGUARD_")}
        if guard:
            env.update(LD_PRELOAD=mgtest.LIB, MMAPGUARD_LOG_FORMAT="json",
                       MMAPGUARD_LOG=os.path.join(logdir, "log"))

        def raise_core_limit():
            hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
            resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))

        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.Popen([sb.prog(), scenario, work] + list(opts), env=env, cwd=work,
                                 stdout=out, stderr=err, preexec_fn=raise_core_limit)
            try:
                _, status = os.waitpid(p.pid, 0)
            finally:
                p.returncode = 0        # reaped here; keep Popen from waiting again
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        records, malformed, text = mgtest.read_records(logdir)
        return CoreRun(status, stdout, stderr, records, malformed, text, work)

    def find_core(self, r, pid):
        pattern = core_pattern()
        if pattern.startswith("|"):
            return None                 # piped to a helper: only the wait status is ours
        d = os.path.dirname(pattern)
        d = d if os.path.isabs(d) else os.path.join(r.cwd, d)
        base = os.path.basename(pattern)
        prefix = base.split("%", 1)[0]
        names = [n for n in os.listdir(d) if n.startswith(prefix) and n not in ("data",)]
        if "%" not in base and core_uses_pid():
            names = [n for n in names if n == "%s.%d" % (base, pid)]
        elif "%p" in base or "%P" in base:
            names = [n for n in names if str(pid) in n]
        self.assertEqual(len(names), 1, "core file for pattern %r in %s: %r\n%s"
                         % (pattern, d, sorted(os.listdir(d)), r.describe()))
        return os.path.join(d, names[0])

    def check_core(self, r, code, addr=None, rip_range=None):
        st = r.status
        self.assertTrue(os.WIFSIGNALED(st), "not killed by a signal:\n" + r.describe())
        self.assertEqual(os.WTERMSIG(st), sb.SIGBUS, r.describe())
        self.assertTrue(os.WCOREDUMP(st), "no core dumped (core_pattern %r):\n%s"
                        % (core_pattern(), r.describe()))
        pid = [s for s in r.steps if s["step"] == "mapped"][0]["pid"]
        core = self.find_core(r, pid)
        if core is None:
            return None
        notes = read_notes(core)
        self.assertIn(NT_SIGINFO, notes, "core without NT_SIGINFO")
        signo, _errno, si_code = struct.unpack_from("<iii", notes[NT_SIGINFO][0], 0)
        self.assertEqual(signo, sb.SIGBUS)
        self.assertEqual(si_code, code, "si_code in the core:\n" + r.describe())
        if addr is not None:
            si_addr, = struct.unpack_from("<Q", notes[NT_SIGINFO][0], 16)
            self.assertEqual(si_addr, addr, "si_addr in the core:\n" + r.describe())
        pr = notes[NT_PRSTATUS][0]
        cursig, = struct.unpack_from("<h", pr, PRSTATUS_CURSIG)
        self.assertEqual(cursig, sb.SIGBUS)
        rip, = struct.unpack_from("<Q", pr, PRSTATUS_RIP)
        if rip_range:
            lo, hi = rip_range
            self.assertTrue(lo <= rip < hi, "the core's rip 0x%x is not in [0x%x, 0x%x):\n%s"
                            % (rip, lo, hi, r.describe()))
        return rip

    def fault_core(self, guard):
        r = self.run_core("raw", guard)
        fault = [s for s in r.steps if s["step"] == "fault"]
        self.assertEqual(len(fault), 1, r.describe())
        fn = int(fault[0]["reader_fn"], 16)
        addr = int(fault[0]["fault_addr"], 16)
        rip = self.check_core(r, sb.BUS_ADRERR, addr=addr, rip_range=(fn, fn + 64))
        return r, rip

    def test_fault_without_guard(self):
        r, _ = self.fault_core(guard=False)
        self.assertEqual(r.records, [])

    def test_fault_under_guard(self):
        r, rip = self.fault_core(guard=True)
        self.assertEqual(r.malformed, [], r.describe())
        recs = r.events("sigbus")
        self.assertEqual(len(recs), 1, r.describe())
        if rip is not None:
            self.assertEqual(rip, int(recs[0]["backtrace"][0]["ip"], 16),
                             "the core's rip is not the faulting instruction the record names")

    def test_raise_with_and_without_guard(self):
        for guard in (False, True):
            with self.subTest(guard=guard):
                r = self.run_core("raise", guard)
                self.check_core(r, SI_TKILL)
                self.assertEqual(r.records, [], r.describe())


if __name__ == "__main__":
    unittest.main()
