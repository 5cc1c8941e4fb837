"""A file mapped by another process, cut by each kind of cutter: refused in block mode, reported in
log mode (then the victim's SIGBUS record says who cut it), seen or not as each scope promises."""
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mgtest  # noqa: E402
from xptest import PAGE, SIZE, XprocTest, clean_env  # noqa: E402


class BlockMode(XprocTest):
    def refused(self, argv, victim, guarded, pages=SIZE // PAGE, **kw):
        r = self.cut(argv, **kw)
        self.assertNotEqual(r.returncode, 0, r.describe())
        self.assertEqual(os.path.getsize(self.path), SIZE, "the cut went through:\n" + r.describe())
        rec = self.only_record(r)
        self.assertEqual(rec["action"], "blocked", rec)
        self.assertEqual(rec["errno_name"], "ETXTBSY", rec)
        self.assertEqual(rec["mappings"], [], "the cutter maps nothing itself")
        self.assertEqual(rec["victims_total"], 1, rec)
        self.assertEqual(rec["scan"], "complete", rec)
        self.assertVictim(rec, victim.pid, guarded, pages)
        return rec

    def test_every_cutter_is_refused_guarded_victim(self):
        self.path = self.data_file()
        src = self.data_file("new", 100)
        v = self.victim(self.path)
        self.refused(["truncate", "-s", "0", self.path], v, True)
        self.refused(["cp", src, self.path], v, True)
        self.refused(["sh", "-c", ": > '%s'" % self.path], v, True)
        self.refused([sys.executable, "-c", "open(%r, 'w')" % self.path], v, True)
        self.assertEqual(v.cmd("touch %d" % (SIZE - 1)), "ok %d" % (((SIZE - 1) * 7) & 0xff))
        self.assertEqual(v.finish(), 0)

    def test_inherited_descriptor(self):
        self.path = self.data_file()
        v = self.victim(self.path)
        rec = self.refused(["sh", "-c", "exec %s -c 'import os; os.ftruncate(3, %d)' 3<>'%s'"
                            % (sys.executable, PAGE, self.path)], v, True, SIZE // PAGE - 1)
        self.assertIn(rec["call"], ("ftruncate", "ftruncate64"))
        self.assertEqual(rec["size_after"], PAGE)
        self.assertEqual(v.cmd("touch %d" % (SIZE - 1)), "ok %d" % (((SIZE - 1) * 7) & 0xff))

    def test_unguarded_victim(self):
        self.path = self.data_file()
        v = self.victim(self.path, guarded=False)
        self.refused(["truncate", "-s", "0", self.path], v, False)
        self.refused(["sh", "-c", ": > '%s'" % self.path], v, False)
        self.assertEqual(v.cmd("touch 0"), "ok 0")

    def test_scope_guarded_sees_only_guarded(self):
        self.path = self.data_file()
        g = self.victim(self.path)
        self.refused(["truncate", "-s", "0", self.path], g, True,
                     env={"MMAPGUARD_SCOPE": "guarded"})
        g.finish()
        self.victim(self.path, guarded=False)
        r = self.cut(["truncate", "-s", "0", self.path], env={"MMAPGUARD_SCOPE": "guarded"})
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(r.records, [], r.describe())
        self.assertEqual(os.path.getsize(self.path), 0)

    def test_scope_process_as_before(self):
        self.path = self.data_file()
        v = self.victim(self.path)
        r = self.cut(["truncate", "-s", "0", self.path], env={"MMAPGUARD_SCOPE": "process"})
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(r.records, [], r.describe())
        self.assertEqual(os.path.getsize(self.path), 0)
        self.assertEqual(os.listdir(self.index), [p for p in os.listdir(self.index)
                                                   if p.startswith("%d-" % v.pid)],
                         "a process with scope process publishes nothing")

    def test_reopen_record_lists_other_processes(self):
        self.path = self.data_file()
        v = self.victim(self.path)
        code = ("import mmap\nf = open(%r, 'rb')\nm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)\n"
                "open(%r, 'r+b').close()\n" % (self.path, self.path))
        r = self.cut([sys.executable, "-c", code], mode="log", env={"MMAPGUARD_REOPEN": "write"})
        rec = self.only_record(r, "reopen")
        self.assertEqual(rec["mappings_total"], 1, rec)
        self.assertEqual([x["pid"] for x in rec["victims"]], [v.pid], rec)
        self.assertEqual(rec["victims"][0]["windows"][0]["pages_beyond_eof"], 0, rec)

    def test_scope_process_own_mapping_record_unchanged(self):
        """In-process reports keep their fields and get no cross-process ones."""
        self.path = self.data_file()
        code = ("import mmap, os\nf = open(%r, 'r+b')\nm = mmap.mmap(f.fileno(), 0)\n"
                "os.ftruncate(f.fileno(), 0)\n" % self.path)
        r = self.cut([sys.executable, "-c", code], mode="log", env={"MMAPGUARD_SCOPE": "process"})
        rec = self.only_record(r)
        self.assertEqual(rec["mappings_total"], 1)
        for key in ("victims", "victims_total", "scope", "scan"):
            self.assertNotIn(key, rec)
        self.assertEqual(os.listdir(self.index), [])


# A program that sets its descriptor's owner and signal (O_ASYNC users), or holds a lease on it,
# then shrinks the file through it: each line is what the descriptor says after the ftruncate.
OWN_DESCRIPTOR = r"""
import fcntl, os, struct, sys
F_SETSIG, F_GETSIG, F_SETOWN_EX, F_GETOWN_EX = 10, 11, 15, 16
F_SETLEASE, F_GETLEASE = 1024, 1025
path, size = sys.argv[1], int(sys.argv[2])
for case in ("fresh", "owner_and_signal", "thread_owner", "opened_twice", "own_lease"):
    with open(path, "wb") as f:
        f.write(b"x" * size)
    fd = os.open(path, os.O_RDWR)
    other = os.open(path, os.O_RDONLY) if case == "opened_twice" else -1
    if case in ("owner_and_signal", "opened_twice"):
        fcntl.fcntl(fd, F_SETOWN_EX, struct.pack("ii", 1, os.getpid()))
        fcntl.fcntl(fd, F_SETSIG, 40)
    if case == "thread_owner":
        fcntl.fcntl(fd, F_SETOWN_EX, struct.pack("ii", 0, os.getpid()))
    if case == "own_lease":
        fcntl.fcntl(fd, F_SETLEASE, fcntl.F_WRLCK)
    os.ftruncate(fd, size // 2)
    kind, pid = struct.unpack("ii", fcntl.fcntl(fd, F_GETOWN_EX, bytes(8)))
    print(case, kind, "self" if pid == os.getpid() else pid, fcntl.fcntl(fd, F_GETSIG),
          fcntl.fcntl(fd, F_GETLEASE), os.fstat(fd).st_size)
    if case == "own_lease":
        fcntl.fcntl(fd, F_SETLEASE, fcntl.F_UNLCK)
    if other >= 0:
        os.close(other)
    os.close(fd)
"""


class OwnDescriptor(XprocTest):
    def test_the_proof_leaves_the_descriptor_as_it_was(self):
        """A shrinking ftruncate of a file nobody maps is proven safe with a lease taken and let
        go on the program's own descriptor; its owner, signal and lease read back as they do bare."""
        path = os.path.join(self.tmp, "own")
        argv = [sys.executable, "-c", OWN_DESCRIPTOR, path, str(4 * PAGE)]
        bare = mgtest.run(argv, preload=False)
        self.assertEqual(bare.returncode, 0, bare.describe())
        lines = bare.stdout.splitlines()
        self.assertEqual([ln.split()[0] for ln in lines],
                         ["fresh", "owner_and_signal", "thread_owner", "opened_twice", "own_lease"])
        self.assertIn("owner_and_signal 1 self 40 ", bare.stdout)
        for mode in ("block", "log"):
            r = self.cut(argv, mode=mode)
            self.assertEqual(r.returncode, 0, r.describe())
            self.assertEqual(r.records, [], r.describe())
            self.assertEqual(r.stdout.splitlines(), lines, mode)


class LoadedLibrary(XprocTest):
    def test_library_of_another_process_rewritten_in_place(self):
        """cp over a library another guarded process has dlopen'ed: refused, the dlopen named."""
        built = os.path.join(mgtest.BIN, "libdlm_lib.so")
        if not os.path.exists(built):
            self.skipTest("libdlm_lib.so was not built")
        lib = os.path.join(self.tmp, "libplugin.so")
        shutil.copy(built, lib)
        v = self.victim(self.data_file())
        self.assertEqual(v.cmd("dlopen " + lib), "loaded")
        r = self.cut(["cp", built, lib])
        self.assertNotEqual(r.returncode, 0, r.describe())
        rec = self.only_record(r)
        self.assertEqual((rec["action"], rec["call"]), ("blocked", "openat"), rec)   # cp
        (victim,) = rec["victims"]
        self.assertEqual((victim["pid"], victim["guarded"]), (v.pid, True), victim)
        self.assertGreaterEqual(victim["windows_total"], 2, victim)
        stacks = [w["backtrace"] for w in victim["windows"] if w["backtrace"]]
        self.assertEqual(len(stacks), 1, victim)
        self.assertTrue(any(f["module"].endswith("/xp_victim") and f["symbol"]
                            and f["symbol"].startswith("main") for f in stacks[0]), stacks[0])
        self.assertEqual(v.cmd("touch 0"), "ok 0")
        self.assertEqual(v.finish(), 0)


class LogMode(XprocTest):
    def test_cut_reported_then_sigbus_names_the_cutter(self):
        path = self.data_file()
        v = self.victim(path)
        r = self.cut(["truncate", "-s", "0", path], mode="log")
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(os.path.getsize(path), 0)
        rec = self.only_record(r)
        self.assertEqual(rec["action"], "logged")
        self.assertVictim(rec, v.pid, True)
        self.assertEqual(v.cmd("touch %d" % (3 * PAGE)), "", "the victim should die of SIGBUS")
        self.assertEqual(v.proc.wait(timeout=60), -7)
        sig = [x for x in v.records() if x["event"] == "sigbus"]
        self.assertEqual(len(sig), 1, v.records())
        s = sig[0]
        self.assertIsNone(s["truncation"], "the victim did not cut the file itself")
        c = s["cut_by"]
        self.assertIsNotNone(c, s)
        self.assertEqual(c["pid"], rec["pid"])
        self.assertEqual(c["tid"], rec["tid"])
        self.assertEqual(c["comm"], "truncate")
        self.assertEqual(c["call"], rec["call"])
        self.assertEqual((c["size_before"], c["size_after"]), (SIZE, 0))
        self.assertEqual([f["module_offset"] for f in c["backtrace"]],
                         [f["module_offset"] for f in rec["backtrace"]][:len(c["backtrace"])])
        self.assertTrue(c["backtrace"], c)
        self.assertEqual(s["verdict"], "truncated")

    def sigbus_of(self, v):
        self.assertEqual(v.proc.wait(timeout=60), -7)
        sig = [x for x in v.records() if x["event"] == "sigbus" and x["pid"] == v.proc.pid]
        self.assertEqual(len(sig), 1, v.records())
        return sig[0]

    def test_a_cut_before_the_mapping_is_not_its_cause(self):
        """The victim cut the file, wrote it again and mapped it anew; then another process cut
        it: the SIGBUS names that process, not the victim's own older cut."""
        path = self.data_file()
        v = self.victim(path)
        self.assertEqual(v.cmd("cut 0"), "cut")
        self.assertEqual(v.cmd("fill"), "filled")
        self.assertEqual(v.cmd("remap"), "remapped")
        r = self.cut(["truncate", "-s", "0", path], mode="log")
        rec = self.only_record(r)
        self.assertEqual(v.cmd("touch %d" % (3 * PAGE)), "", "the victim should die of SIGBUS")
        s = self.sigbus_of(v)
        self.assertEqual(s["verdict"], "truncated", s)
        self.assertIsNone(s["truncation"], "the victim's own cut came before this mapping: %r" % s)
        self.assertIsNotNone(s["cut_by"], s)
        self.assertEqual(s["cut_by"]["pid"], rec["pid"], s)
        self.assertIn("another process", s["note"], s)

    def test_a_lease_break_before_the_mapping_is_not_its_cause(self):
        """An unguarded cutter broke the victim's lease on an earlier mapping; the victim wrote
        the file again, mapped it anew and cut it itself: its own cut is the cause, no cut_by."""
        path = self.data_file()
        v = self.victim(path, env={"MMAPGUARD_LEASES": "watch"})
        # (coreutils truncate opens with O_NONBLOCK: a lease makes it fail with EAGAIN)
        subprocess.run(["sh", "-c", ": > '%s'" % path], env=clean_env(), check=True, timeout=60)
        self.assertEqual(v.cmd("fill"), "filled")
        self.assertEqual(v.cmd("remap"), "remapped")
        self.assertEqual(v.cmd("cut %d" % PAGE), "cut")
        self.assertEqual(v.cmd("touch %d" % (3 * PAGE)), "", "the victim should die of SIGBUS")
        s = self.sigbus_of(v)
        breaks = [x for x in v.records() if x["event"] == "lease_break"]
        self.assertEqual(len(breaks), 1, v.records())
        self.assertIsNotNone(s["truncation"], s)
        self.assertEqual(s["truncation"]["size_after"], PAGE, s)
        self.assertIsNone(s["cut_by"], "the lease break came before this mapping: %r" % s)
        self.assertIn("this process truncated", s["note"], s)

    def test_mapped_past_the_end_after_its_own_cut(self):
        """A cut before the mapping, and no regrowth: the page was beyond the end when mapped."""
        path = self.data_file()
        v = self.victim(path)
        self.assertEqual(v.cmd("cut 0"), "cut")
        self.assertEqual(v.cmd("remap"), "remapped")
        self.assertEqual(v.cmd("touch %d" % PAGE), "", "the victim should die of SIGBUS")
        s = self.sigbus_of(v)
        self.assertEqual(s["verdict"], "beyond_eof_at_map", s)
        self.assertIsNone(s["truncation"], s)
        self.assertIsNone(s["cut_by"], s)

    def test_only_a_cut_that_unbacks_the_page_is_named(self):
        """Another process cut the file to half, then the victim itself to one page: a fault in
        the second page is the victim's cut alone; one in the last page names both, the
        victim's (the later) as the cause."""
        for off, other_too in ((PAGE, False), (SIZE - 1, True)):
            with self.subTest(offset=off):
                path = self.data_file("data%d" % off)
                v = self.victim(path)
                r = self.cut(["truncate", "-s", str(SIZE // 2), path], mode="log")
                rec = self.only_record(r)
                self.assertEqual(v.cmd("cut %d" % PAGE), "cut")
                self.assertEqual(v.cmd("touch %d" % off), "", "the victim should die of SIGBUS")
                s = self.sigbus_of(v)
                self.assertEqual(s["verdict"], "truncated", s)
                self.assertIsNotNone(s["truncation"], s)
                self.assertEqual((s["truncation"]["size_before"], s["truncation"]["size_after"]),
                                 (SIZE // 2, PAGE), s)
                self.assertIn("this process truncated", s["note"], s)
                if other_too:
                    self.assertIsNotNone(s["cut_by"], s)
                    self.assertEqual(s["cut_by"]["pid"], rec["pid"], s)
                else:
                    self.assertIsNone(s["cut_by"], "the other cut left page 1 backed: %r" % s)

    def test_scan_time_bound(self):
        """Past MMAPGUARD_SCAN_MS the call proceeds and the record says the scan was incomplete."""
        path = self.data_file()
        self.victim(path)
        code = ("import mmap, os\nf = open(%r, 'r+b')\nm = mmap.mmap(f.fileno(), 0)\n"
                "os.ftruncate(f.fileno(), 0)\n" % path)
        r = self.cut([sys.executable, "-c", code], mode="block", env={"MMAPGUARD_SCAN_MS": "0"})
        rec = self.only_record(r)
        self.assertEqual(rec["scan"], "incomplete", rec)
        self.assertEqual(rec["victims"], [], rec)

    REUSE_CUTTER = """
import mmap, os, subprocess, sys
path, victim = sys.argv[1], sys.argv[2]
f = open(path, 'r+b')
g = open(path, 'rb')                   # its own window, through another open file description
m = mmap.mmap(g.fileno(), %d, prot=mmap.PROT_READ)   # (the first page, never cut), defeats the
os.ftruncate(f.fileno(), %d)           # lease: cut 1 walks /proc and finds nobody else
env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
v = subprocess.Popen([victim, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                     text=True)
print("victim", v.stdout.readline().split()[1], flush=True)
os.ftruncate(f.fileno(), %d)           # cut 2: the unguarded victim's window reaches past it
v.stdin.close()
v.wait()
"""

    def reuse_run(self, reuse_ms):
        path = self.data_file()
        code = self.REUSE_CUTTER % (PAGE, 12 * PAGE, 8 * PAGE)
        r = self.cut([sys.executable, "-c", code, path, mgtest.test_prog("xp_victim")], mode="log",
                     env={"MMAPGUARD_SCAN_REUSE_MS": reuse_ms})
        self.assertEqual(r.returncode, 0, r.describe())
        pid = int(r.stdout.split()[1])
        return r, pid

    def test_scan_reuse_off_sees_a_process_that_mapped_since(self):
        """MMAPGUARD_SCAN_REUSE_MS=0: the second cut walks /proc again and names the process that
        mapped the file after the first walk."""
        r, pid = self.reuse_run("0")
        rec = self.only_record(r)
        self.assertEqual(rec["size_after"], 8 * PAGE, rec)
        self.assertEqual([v["pid"] for v in rec["victims"]], [pid], rec)
        self.assertEqual(rec["victims"][0]["guarded"], False, rec)

    def test_scan_reuse_hides_a_process_that_mapped_since(self):
        """Within MMAPGUARD_SCAN_REUSE_MS the first walk's answer ("nobody past 12 pages") answers
        the second cut: the process that mapped the file in between is not seen (the documented
        price of reuse; 60 s here so that no timing decides)."""
        r, _ = self.reuse_run("60000")
        self.assertEqual(r.events("truncate"), [], r.describe())



class OverlayFS(XprocTest):
    """A container's root: the first write to a file of a lower layer copies it up, and mappings
    made before keep showing the lower file; the cut reaches only the copy and faults nobody."""

    def setUp(self):
        super().setUp()
        d = {k: os.path.join(self.tmp, "ov-" + k) for k in ("lower", "upper", "work", "merged")}
        for p in d.values():
            os.mkdir(p)
        self.lower_file = os.path.join(d["lower"], "data")
        with open(self.lower_file, "wb") as f:
            f.write(bytes((i * 7) & 0xff for i in range(SIZE)))
        r = subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                            "lowerdir=%(lower)s,upperdir=%(upper)s,workdir=%(work)s" % d, d["merged"]],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("no overlay mount here: " + r.stderr.strip())
        self.merged = d["merged"]
        self.path = os.path.join(self.merged, "data")

    def tearDown(self):
        for v in self.victims:
            v.kill()
        subprocess.run(["umount", "-l", self.merged], capture_output=True)
        super().tearDown()

    def spared_then_protected(self, v, argv):
        """argv (a guarded cutter, block mode) cuts the copy while v maps the lower file: it goes
        ahead unreported and v keeps its bytes; the copy, written again and mapped anew, is
        protected as on any filesystem."""
        r = self.cut(argv)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(r.events("truncate"), [], r.describe())
        self.assertEqual(os.path.getsize(self.path), 0)
        self.assertEqual(v.cmd("touch %d" % (SIZE - 1)), "ok %d" % (((SIZE - 1) * 7) & 0xff),
                         "the mapping shows the lower file, as bare")
        with open(self.path, "wb") as f:
            f.write(b"x" * SIZE)
        self.assertEqual(v.cmd("remap"), "remapped")
        r = self.cut(argv)
        self.assertNotEqual(r.returncode, 0, r.describe())
        self.assertEqual(os.path.getsize(self.path), SIZE)
        rec = self.only_record(r)
        self.assertEqual(rec["action"], "blocked", rec)
        self.assertEqual(rec["victims_total"], 1, rec)
        self.assertEqual(v.finish(), 0)

    def test_the_copy_up_cuts_no_mapping(self):
        self.spared_then_protected(self.victim(self.path), ["sh", "-c", ": > '%s'" % self.path])

    def test_the_programs_own_first_write_cuts_no_mapping(self):
        v = self.victim(self.path, env={"MMAPGUARD_MODE": "block"})
        self.assertEqual(v.cmd("cut 0"), "cut", "truncate(2) of the lower file was refused")
        self.assertEqual(v.cmd("touch %d" % PAGE), "ok %d" % ((PAGE * 7) & 0xff))
        self.assertEqual(v.finish(), 0)
        self.assertEqual([x for x in v.records() if x["event"] == "truncate"], [])

    def test_a_cut_of_the_copy_spares_another_processs_lower_file(self):
        """Another process's mapping of the lower file, the file copied up since by an append that
        cut nothing: a guarded cutter of the copy learns from that process's index that its
        windows show another file, and goes ahead in block mode; the copy mapped anew is
        protected."""
        v = self.victim(self.path)
        with open(self.path, "ab") as f:                 # the copy-up: cuts nothing
            f.write(b"+")
        self.spared_then_protected(v, ["truncate", "-s", "0", self.path])

    OWN_COPY = """
import errno, mmap, os, sys
p = sys.argv[1]
with open(p, "rb") as f:
    lower = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)   # the lower layer's file
w = os.open(p, os.O_WRONLY | os.O_APPEND)     # the first write copies the file up, cutting nothing
os.write(w, b"+")
os.ftruncate(w, 0)                            # cuts the copy only
print("cut", os.fstat(w).st_size, lower[len(lower) - 1])
os.write(w, b"y" * 8192)
with open(p, "rb") as f:
    copy = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)    # the copy
try:
    os.ftruncate(w, 0)
    print("cut", os.fstat(w).st_size)
except OSError as e:
    print("refused", errno.errorcode[e.errno], lower[len(lower) - 1], copy[0])
"""

    def test_a_cut_of_the_copy_spares_the_lower_files_windows(self):
        """The program maps a lower layer's file, writes it (copied up), then cuts it through that
        descriptor: its mapping shows the lower file and keeps every byte, so block mode lets the
        cut go; a mapping of the copy is what the next cut would hurt."""
        r = mgtest.run([sys.executable, "-c", self.OWN_COPY, self.path],
                       env={"MMAPGUARD_MODE": "block"})
        self.assertEqual(r.returncode, 0, r.describe())
        last = ((SIZE - 1) * 7) & 0xff
        self.assertEqual(r.stdout.split("\n")[:2],
                         ["cut 0 %d" % last, "refused ETXTBSY %d %d" % (last, ord("y"))], r.describe())
        (rec,) = r.events("truncate")
        self.assertEqual(rec["action"], "blocked", rec)
        self.assertEqual(len(rec["mappings"]), 1, rec)
        self.assertEqual(rec["mappings"][0]["length"], 8192, rec)

if __name__ == "__main__":
    unittest.main()
