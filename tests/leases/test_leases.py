"""Read leases: a guarded reader keeps a file mapped, an unguarded process cuts it.

The reader (lease_victim) says "ready", the test runs the cutter to completion, then asks the reader
to sum its mapping. No sleeps: the cutter's own return is the synchronisation point (the kernel
holds it inside its system call until the reader's guard released the lease).
"""
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

import mgtest

SIZE = 16 * 4096
BYTE = 0x41
# Far below /proc/sys/fs/lease-break-time (45 s): a cutter that waited for the kernel's timeout
# instead of the guard's answer fails the test.
CUTTER_TIMEOUT = 30


def lease_break_time():
    try:
        with open("/proc/sys/fs/lease-break-time") as f:
            return int(f.read())
    except OSError:
        return 45


class Victim:
    """lease_victim under the guard, driven through its stdin/stdout."""

    def __init__(self, path, leases, extra=(), env=None, user=None, logdir=None, argv=None):
        self.logdir = logdir or tempfile.mkdtemp(prefix="mg-lease-log-")
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("MMAPGUARD_"):
                del e[k]
        e.update({"LD_PRELOAD": mgtest.LIB, "MMAPGUARD_MODE": "log", "MMAPGUARD_LOG_FORMAT": "json",
                  "MMAPGUARD_LOG": os.path.join(self.logdir, "log.%p")})
        if leases is not None:
            e["MMAPGUARD_LEASES"] = leases
        e.update(env or {})
        argv = argv or [mgtest.test_prog("lease_victim"), path] + list(extra)
        if user:
            argv = ["setpriv", "--reuid=%d" % user, "--regid=%d" % user, "--clear-groups"] + argv
        self.proc = subprocess.Popen(argv, env=e, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError("victim exited before it was ready: " + self.proc.stderr.read())
            self.lines.append(line.strip())
            if line.startswith("ready "):
                self.pid = int(line.split()[1])
                break

    def sum(self):
        """The sum of the mapping's bytes, or None if the victim died on the way."""
        try:
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return None
        line = self.proc.stdout.readline()
        if not line.startswith("sum "):
            return None
        self.lines.append(line.strip())
        return int(line.split()[1])

    def cmd(self, text):
        """One command line; its one-line answer."""
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().strip()
        self.lines.append(line)
        return line

    def finish(self):
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        self.proc.wait(timeout=60)
        self.stderr = self.proc.stderr.read()
        self.records, self.raw = [], []
        for name in sorted(os.listdir(self.logdir)):
            with open(os.path.join(self.logdir, name), encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        self.records.append(json.loads(line))
                        self.raw.append(line)
        return self.proc.returncode

    def events(self, kind):
        return [r for r in self.records if r.get("event") == kind]

    def describe(self):
        return "rc=%s\nstdout: %s\nstderr: %s\nrecords: %s" % (
            self.proc.returncode, self.lines, getattr(self, "stderr", ""),
            json.dumps(getattr(self, "records", []), indent=1))


def key_order(line):
    """The keys of a JSON line in order, nested objects as (key, [their keys]) where asked."""
    return json.loads(line, object_pairs_hook=lambda kv: kv)


def keys(pairs):
    return [k for k, _ in pairs]


# Written out from the README's "JSON records" section.
WHO = ["pid", "tid", "thread_name", "time"]
MAPPING_KEYS = ["addr", "length", "offset", "prot", "shared", "pages_beyond_eof",
                "pages_beyond_eof_total", "path", "tid", "thread_name", "time", "backtrace"]
LEASE_BREAK_KEYS = (["event", "action", "path", "dev", "ino", "size_before", "size_after",
                     "breaker", "held_us"] + WHO + ["page_size", "mappings", "mappings_total", "note"])
BREAKER_KEYS = ["pid", "comm", "exe", "cmdline", "uid", "syscall"]
SYSCALL_KEYS = ["nr", "name", "args", "cuts"]
UNAVAILABLE_KEYS = ["event", "action", "path", "dev", "ino", "reason", "errno"] + WHO
SIGNAL_KEYS = ["event", "action", "from", "to", "reason"] + WHO


class LeaseTest(mgtest.GuardTest):
    def setUp(self):
        super().setUp()
        self.file = os.path.join(self.tmp, "data.bin")
        with open(self.file, "wb") as f:
            f.write(bytes([BYTE]) * SIZE)
        self.logdir = tempfile.mkdtemp(prefix="mg-lease-log-")

    def tearDown(self):
        shutil.rmtree(self.logdir, ignore_errors=True)
        super().tearDown()

    def victim(self, leases, *extra, **kw):
        v = Victim(self.file, leases, extra, logdir=self.logdir, **kw)
        self.addCleanup(lambda: v.proc.poll() is None and v.proc.kill())
        return v

    def cut(self, argv, expect_ok=True):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=CUTTER_TIMEOUT)
        if expect_ok:
            self.assertEqual(r.returncode, 0, "cutter %s failed: %s" % (argv, r.stderr))
        return r

    def assertBreak(self, v, action, comm, syscall):
        breaks = v.events("lease_break")
        self.assertEqual(len(breaks), 1, v.describe())
        b = breaks[0]
        self.assertEqual(b["action"], action, v.describe())
        self.assertEqual(b["path"], os.path.realpath(self.file))
        st = os.stat(self.file)
        self.assertEqual((b["dev"], b["ino"]), (st.st_dev, st.st_ino))
        self.assertEqual(b["size_before"], SIZE)
        self.assertEqual(b["breaker"]["comm"], comm, v.describe())
        self.assertEqual(b["breaker"]["uid"], os.getuid())
        if syscall:
            self.assertEqual(b["breaker"]["syscall"]["name"], syscall, v.describe())
        self.assertEqual(b["mappings_total"], 1)
        w = b["mappings"][0]
        self.assertEqual(w["length"], SIZE)
        self.assertTrue(w["backtrace"], "creation stack missing: " + v.describe())
        self.assertLess(b["held_us"], lease_break_time() * 1000000)
        return b

    # ---- rescue: the reader keeps the bytes it had ----------------------------------------------

    def rescue_with(self, argv, comm, syscall, size_after=0, cut_to=0):
        v = self.victim("rescue")
        self.assertEqual(v.sum(), BYTE * SIZE)
        self.cut(argv)
        self.assertEqual(os.path.getsize(self.file), size_after)
        # The pages wholly past the size the breaking call cuts to (cut_to) keep their old bytes;
        # the page holding that end stays the file's (it never faults), and the kernel zeroes its
        # tail as it would bare.
        eof_page_end = -(-cut_to // 4096) * 4096
        expect = BYTE * (SIZE - eof_page_end) + BYTE * cut_to
        self.assertEqual(v.sum(), expect, "rescued reader must read the old bytes: " + v.describe())
        self.assertEqual(v.finish(), 0, v.describe())
        b = self.assertBreak(v, "rescued", comm, syscall)
        self.assertTrue(b["mappings"][0]["rescued"], v.describe())
        return b

    def test_rescue_shell_redirection(self):
        b = self.rescue_with(["sh", "-c", ': > "$1"', "sh", self.file], "sh", "openat")
        self.assertEqual(b["size_after"], 0)
        self.assertEqual(b["mappings"][0]["pages_beyond_eof"], SIZE // 4096)

    def test_rescue_cp(self):
        other = os.path.join(self.tmp, "new.bin")
        with open(other, "wb") as f:
            f.write(b"n" * 100)
        self.rescue_with(["cp", other, self.file], "cp", "openat", size_after=100)

    def test_rescue_python_open_w(self):
        self.rescue_with(["python3", "-c", "import sys; open(sys.argv[1], 'w').close()", self.file],
                         "python3", "openat")

    def test_rescue_truncate_syscall_partial(self):
        # truncate(2) to one page and a half: only the pages from the third one on are cut.
        b = self.rescue_with(["python3", "-c", "import os, sys; os.truncate(sys.argv[1], 6000)",
                              self.file], "python3", "truncate", size_after=6000, cut_to=6000)
        self.assertEqual(b["size_after"], 6000)
        self.assertEqual(b["mappings"][0]["pages_beyond_eof"], SIZE // 4096 - 2)

    # ---- watch: the reader dies as it would bare, and the records name the cutter ------------------

    def test_watch_names_breaker_then_sigbus(self):
        v = self.victim("watch")
        self.cut(["sh", "-c", ': > "$1"', "sh", self.file])
        self.assertIsNone(v.sum())
        rc = v.finish()
        self.assertEqual(rc, -7, "watch must not save the reader: " + v.describe())
        b = self.assertBreak(v, "released", "sh", "openat")
        self.assertFalse(b["mappings"][0]["rescued"])
        sig = v.events("sigbus")
        self.assertEqual(len(sig), 1, v.describe())
        self.assertEqual(sig[0]["action"], "reported")
        self.assertEqual(sig[0]["verdict"], "truncated")
        cut = sig[0]["cut_by"]
        self.assertIsNotNone(cut, v.describe())
        self.assertEqual(cut["pid"], b["breaker"]["pid"])
        self.assertEqual(cut["comm"], "sh")
        self.assertIn(self.file, cut["cmdline"])
        self.assertEqual((cut["size_before"], cut["size_after"]), (SIZE, 0))
        self.assertIsNone(sig[0]["truncation"])

    # ---- MMAPGUARD_SIGBUS=survive: zero pages, the program goes on ----------------------------------

    def test_survive_reads_zeros(self):
        v = self.victim(None, env={"MMAPGUARD_SIGBUS": "survive"})
        self.assertEqual(v.sum(), BYTE * SIZE)
        self.cut(["python3", "-c", "import os, sys; os.truncate(sys.argv[1], 4096)", self.file])
        # The first page is still the file's; the fifteen past the end read as zeros.
        self.assertEqual(v.sum(), BYTE * 4096, v.describe())
        self.assertEqual(v.sum(), BYTE * 4096, v.describe())
        self.assertEqual(v.finish(), 0, v.describe())
        sig = v.events("sigbus")
        self.assertEqual(len(sig), 1, "one fault, then no more: " + v.describe())
        self.assertEqual(sig[0]["action"], "survived")
        self.assertEqual(sig[0]["verdict"], "truncated")
        self.assertIsNone(sig[0]["cut_by"])

    def test_survive_with_watch_names_the_cutter(self):
        v = self.victim("watch", env={"MMAPGUARD_SIGBUS": "survive"})
        self.cut(["sh", "-c", ': > "$1"', "sh", self.file])
        self.assertEqual(v.sum(), 0, v.describe())
        self.assertEqual(v.finish(), 0, v.describe())
        sig = v.events("sigbus")
        self.assertEqual(len(sig), 1, v.describe())
        self.assertEqual(sig[0]["action"], "survived")
        self.assertEqual(sig[0]["cut_by"]["comm"], "sh")

    def test_nonblocking_truncate_command(self):
        # coreutils truncate opens with O_NONBLOCK: while a read lease is held the kernel answers
        # EAGAIN at once. The guard releases the lease; the file is not cut.
        v = self.victim("watch")
        r = self.cut(["truncate", "-s", "0", self.file], expect_ok=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Resource temporarily unavailable", r.stderr)
        self.assertEqual(os.path.getsize(self.file), SIZE)
        self.assertEqual(v.sum(), BYTE * SIZE)
        self.assertEqual(v.finish(), 0, v.describe())
        breaks = v.events("lease_break")
        self.assertEqual(len(breaks), 1, v.describe())
        self.assertIsNone(breaks[0]["breaker"])
        self.assertEqual(breaks[0]["action"], "released")

    # ---- where no lease can be taken ----------------------------------------------------------------

    def test_unavailable_not_owner(self):
        os.chmod(self.tmp, 0o755)
        os.chmod(self.logdir, 0o777)
        os.chmod(self.file, 0o644)
        v = self.victim("rescue", user=65534)
        self.assertEqual(v.sum(), BYTE * SIZE)
        self.cut(["sh", "-c", ': > "$1"', "sh", self.file])
        self.assertIsNone(v.sum())
        self.assertEqual(v.finish(), -7, v.describe())
        un = v.events("lease_unavailable")
        self.assertEqual(len(un), 1, v.describe())
        self.assertIn("owner", un[0]["reason"])
        self.assertEqual(un[0]["errno"], "EACCES")
        self.assertEqual(v.events("lease_break"), [])

    def test_unavailable_writer(self):
        w = os.open(self.file, os.O_RDWR)
        try:
            v = self.victim("watch")
            self.assertEqual(v.sum(), BYTE * SIZE)
            self.assertEqual(v.finish(), 0, v.describe())
        finally:
            os.close(w)
        un = v.events("lease_unavailable")
        self.assertEqual(len(un), 1, v.describe())
        self.assertEqual(un[0]["errno"], "EAGAIN")
        self.assertIn("writer", un[0]["reason"])

    UNLINKED = """
import mmap, os, sys, tempfile
d = sys.argv[1]
for make in (tempfile.TemporaryFile, tempfile.NamedTemporaryFile):   # unlinked, then named
    with make(dir=d, prefix="t") as t:                # open for writing
        t.write(b"x" * 8192); t.flush()
        m = mmap.mmap(t.fileno(), 0, access=mmap.ACCESS_READ); print(m[0]); m.close()
"""

    def test_an_unlinked_file_is_no_warning(self):
        """An unlinked temporary file has no name another process could open it by: no
        lease_unavailable for it; a named one open for writing has one."""
        r = mgtest.run([sys.executable, "-c", self.UNLINKED, self.tmp],
                       env={"MMAPGUARD_LEASES": "watch"})
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(r.stdout.split(), ["120", "120"], r.describe())
        un = r.events("lease_unavailable")
        self.assertEqual(len(un), 1, r.describe())
        self.assertTrue(os.path.basename(un[0]["path"]).startswith("t"), r.describe())
        self.assertNotIn("(deleted)", un[0]["path"], r.describe())
        self.assertEqual(un[0]["errno"], "EAGAIN", r.describe())
        self.assertIn("writer", un[0]["reason"])

    REUSED = """
import mmap, os, sys
d = sys.argv[1]
inos = []
for name in ("first", "second"):       # the second takes the first's inode number, once deleted
    p = os.path.join(d, name)
    with open(p, "w+b") as f:           # open for writing: no lease
        f.write(b"x" * 8192); f.flush()
        inos.append(os.fstat(f.fileno()).st_ino)
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ); m.close()
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ); m.close()
    os.unlink(p)
print(inos[0] == inos[1])
"""

    def test_a_new_file_with_a_deleted_ones_inode_is_told_of(self):
        """One lease_unavailable a file, however often it is mapped; a new file that took the
        inode number of one already told of is another file, and has its own."""
        r = mgtest.run([sys.executable, "-c", self.REUSED, self.tmp],
                       env={"MMAPGUARD_LEASES": "watch"})
        self.assertEqual(r.returncode, 0, r.describe())
        if r.stdout.split() != ["True"]:
            self.skipTest("the filesystem gave the second file a new inode number")
        un = r.events("lease_unavailable")
        self.assertEqual([os.path.basename(x["path"]) for x in un], ["first", "second"], r.describe())
        self.assertEqual(un[0]["ino"], un[1]["ino"], r.describe())

    # ---- the program's own signal, fork ---------------------------------------------------------------

    def test_program_takes_the_lease_signal(self):
        v = self.victim("rescue", "--handler", "60", env={"MMAPGUARD_LEASE_SIGNAL": "60"})
        self.cut(["sh", "-c", ': > "$1"', "sh", self.file])
        self.assertEqual(v.sum(), BYTE * SIZE, v.describe())
        self.assertEqual(v.finish(), 0, v.describe())
        self.assertIn("own_signals 0", v.lines[-1], "the program's handler got the guard's signal")
        moved = v.events("lease_signal")
        self.assertEqual(len(moved), 1, v.describe())
        self.assertEqual(moved[0]["from"], 60)
        self.assertNotEqual(moved[0]["to"], 60)
        self.assertIsNotNone(moved[0]["to"])
        self.assertBreak(v, "rescued", "sh", "openat")

    def test_fork_child_and_parent_both_answer(self):
        v = self.victim("rescue", "--fork")
        self.cut(["sh", "-c", ': > "$1"', "sh", self.file])
        self.assertEqual(v.sum(), BYTE * SIZE, v.describe())
        self.assertEqual(v.finish(), 0, v.describe())
        breaks = v.events("lease_break")
        self.assertEqual(len({b["pid"] for b in breaks}), 2, v.describe())
        for b in breaks:
            self.assertEqual(b["action"], "rescued")

    # ---- a child resets every signal before exec ------------------------------------------------

    def spawn_then_cut(self, mode):
        """The victim runs /bin/true from a child that first sets every real-time signal (the lease
        signal among them) to SIG_DFL; then a cut. The parent's lease is as it was: it answers the
        break, survives, and nobody wrote a lease_signal record."""
        v = self.victim("watch", "--spawn", mode)
        self.assertIn("spawned 0", v.lines, v.describe())
        self.cut(["cp", "/dev/null", self.file])
        self.assertEqual(v.finish(), 0, v.describe())
        b = self.assertBreak(v, "released", "cp", "openat")
        self.assertEqual(b["pid"], v.pid, v.describe())
        self.assertEqual(v.events("lease_signal"), [], v.describe())

    def test_vfork_child_resetting_signals_leaves_the_parents_leases(self):
        self.spawn_then_cut("vfork")

    def test_vfork_child_writing_the_file_leaks_no_descriptor(self):
        """A vfork child opens the leased file for writing: the lease goes (the child does not
        wait), and the parent, whose slot it is, closes its descriptor at its next mapping."""
        v = self.victim("watch", "--spawn", "vfork-write")
        self.assertIn("spawned 0", v.lines, v.describe())
        before = v.cmd("fds")
        self.assertTrue(v.cmd("remap").startswith("ready "), v.describe())
        self.assertEqual(v.cmd("fds"), before, v.describe())
        self.assertEqual(v.finish(), 0, v.describe())

    def test_vfork_child_resetting_signals_all_blocked_leaves_the_parents_leases(self):
        self.spawn_then_cut("vfork-blocked")

    def test_fork_child_resetting_signals_then_exec_writes_nothing(self):
        self.spawn_then_cut("fork")

    def test_fork_child_resetting_signals_all_blocked_then_exec_writes_nothing(self):
        self.spawn_then_cut("fork-blocked")

    def test_fork_child_resetting_signals_then_exit_writes_its_record(self):
        # A child that lived on (exit(), not exec) took the lease signal: its record is written.
        v = self.victim("watch", "--spawn", "fork-exit")
        self.assertIn("spawned 0", v.lines, v.describe())
        self.assertEqual(v.finish(), 0, v.describe())
        moved = v.events("lease_signal")
        self.assertEqual(len(moved), 1, v.describe())
        self.assertNotEqual(moved[0]["pid"], v.pid, v.describe())
        self.assertEqual(moved[0]["from"], 60, v.describe())

    def test_clone_child_resetting_signals_leaves_the_parents_leases(self):
        # No fork handler ran: the child shares the parent's lease descriptors until it takes its own.
        self.spawn_then_cut("clone")

    def test_python_subprocess_leaves_the_parents_leases(self):
        # _posixsubprocess: vfork, every signal blocked, each handled signal reset in the child.
        prog = ("import mmap, os, subprocess, sys\n"
                "f = open(sys.argv[1], 'rb')\n"
                "m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)\n"
                "subprocess.run(['true'], check=True)\n"
                "print('ready', os.getpid(), flush=True)\n"
                "sys.stdin.read()\n")
        v = self.victim("watch", argv=["python3", "-c", prog, self.file])
        self.cut(["cp", "/dev/null", self.file])
        self.assertEqual(v.finish(), 0, v.describe())
        breaks = v.events("lease_break")
        self.assertEqual([(b["pid"], b["breaker"]["comm"]) for b in breaks], [(v.pid, "cp")],
                         v.describe())
        self.assertEqual(v.events("lease_signal"), [], v.describe())

    def test_fork_child_that_lives_on_moves_its_own_leases(self):
        """A forked child resets the lease signal and goes on mapping files: its leases move to
        another signal (lease_signal, written once it maps), and both processes answer the break."""
        v = self.victim("rescue", "--fork-reset")
        self.cut(["sh", "-c", ': > "$1"', "sh", self.file])
        self.assertEqual(v.sum(), BYTE * SIZE, v.describe())
        self.assertEqual(v.finish(), 0, v.describe())
        moved = v.events("lease_signal")
        self.assertEqual(len(moved), 1, v.describe())
        self.assertNotEqual(moved[0]["pid"], v.pid, v.describe())
        self.assertEqual(moved[0]["from"], 60, v.describe())
        self.assertIsNotNone(moved[0]["to"], v.describe())
        breaks = v.events("lease_break")
        self.assertEqual(sorted(b["pid"] for b in breaks), sorted([v.pid, moved[0]["pid"]]),
                         v.describe())

    def test_program_write_lease_still_works(self):
        bare = subprocess.run([mgtest.test_prog("lease_victim"), self.file, "--wrlease"], input="",
                              capture_output=True, text=True, timeout=60)
        self.assertIn("wrlease 0", bare.stdout, bare.stderr)
        v = self.victim("watch", "--wrlease")
        self.assertIn("wrlease 0", v.lines, v.describe())
        self.assertEqual(v.finish(), 0, v.describe())

    def test_a_file_no_longer_mapped_breaks_quietly(self):
        """The lease outlives the file's last window (a remap needs no new one); a break of it
        then is nobody's business here: no record, and the cutter goes on."""
        v = self.victim("watch")
        self.assertEqual(v.cmd("unmap"), "unmapped")
        self.cut(["cp", "/dev/null", self.file])
        self.assertEqual(os.path.getsize(self.file), 0)
        self.assertEqual(v.finish(), 0, v.describe())
        self.assertEqual(v.events("lease_break"), [], v.describe())

    # ---- the program's own writes: the guard lets its lease go first --------------------------------

    def held_lease(self, v):
        """Whether /proc/locks shows a lease of v's process on the file."""
        ino = os.stat(self.file).st_ino
        with open("/proc/locks") as f:
            return any(" LEASE " in line and " %d " % v.pid in line and ":%d " % ino in line
                       for line in f)

    def own_write(self, command, *extra):
        """The victim writes its own mapped file: its call waits for nobody and nothing is reported
        (the kernel does not tell the lease holder's own opens from others': the guard's lease
        would be broken by the program itself)."""
        v = self.victim("watch", *extra)
        self.assertTrue(self.held_lease(v), v.describe())
        self.assertEqual(v.cmd(command), command.split()[0] + " 0", v.describe())
        self.assertEqual(os.path.getsize(self.file), SIZE + 1)
        self.assertFalse(self.held_lease(v), v.describe())
        self.assertEqual(v.sum(), BYTE * SIZE)
        self.assertEqual(v.finish(), 0, v.describe())
        self.assertEqual(v.events("lease_break"), [], v.describe())
        return v

    def test_own_open_for_writing_breaks_no_lease(self):
        self.own_write("openw")

    def test_own_fopen_append_breaks_no_lease(self):
        self.own_write("fopenw")

    def test_own_truncate_breaks_no_lease(self):
        self.own_write("grow")

    def test_own_open_with_every_signal_blocked(self):
        """A daemon blocking every signal (it reads them from a signalfd) never handles the lease
        signal: an open of its own that broke the guard's lease would wait lease-break-time. With
        O_NONBLOCK the kernel says so at once (EWOULDBLOCK) instead: the lease must be gone before
        the call is made."""
        v = self.own_write("openw nonblock", "--block")
        self.assertEqual(v.lines[-1], "sum %d own_signals 0" % (BYTE * SIZE))

    def test_own_open_blocking_after_remap_with_every_signal_blocked(self):
        v = self.victim("watch", "--block")
        self.assertEqual(v.cmd("openw nonblock"), "openw 0", v.describe())
        self.assertEqual(v.cmd("remap"), "ready %d" % v.pid, v.describe())
        self.assertTrue(self.held_lease(v), "the writer is closed: a new mapping takes a lease")
        self.assertEqual(v.cmd("openw"), "openw 0", v.describe())
        self.assertEqual(v.finish(), 0, v.describe())
        self.assertEqual(v.events("lease_break"), [], v.describe())

    def test_outside_cutter_is_answered_with_every_signal_blocked(self):
        """A daemon that blocks every signal (and reads the ones it wants from a signalfd or a
        sigwait() thread) still has the guard answer a break at once: its masks never block the
        lease signal for real. Unanswered, the cutter would wait lease-break-time (45 s, more than
        CUTTER_TIMEOUT) and the cut go unseen."""
        v = self.victim("watch", "--block")
        self.assertTrue(self.held_lease(v), v.describe())
        self.cut(["sh", "-c", ': > "$1"', "sh", self.file])
        self.assertIsNone(v.sum())
        self.assertEqual(v.finish(), -7, "watch must not save the reader: " + v.describe())
        self.assertBreak(v, "released", "sh", "openat")

    def in_system_call(self, v, numbers):
        """Until the victim sleeps in one of these system calls (x86-64 numbers), read from
        /proc/PID/syscall: it says "waiting" right before it makes the call."""
        for _ in range(20000):
            with open("/proc/%d/syscall" % v.pid) as f:
                first = f.read().split()[0]
            if first.isdigit() and int(first) in numbers:
                return
            os.sched_yield()
        self.fail("the victim never sat in %s: %s" % (numbers, v.describe()))

    def fresh_victim(self):
        """A watch-mode victim holding a lease on a whole file again, no records from the last."""
        for name in os.listdir(self.logdir):
            os.unlink(os.path.join(self.logdir, name))
        with open(self.file, "wb") as f:
            f.write(bytes([BYTE]) * SIZE)
        v = self.victim("watch")
        self.assertTrue(self.held_lease(v), v.describe())
        return v

    def assertCutSeen(self, v):
        """The sh cutter was answered: the reader dies of SIGBUS, its break names sh."""
        self.assertIsNone(v.sum())
        self.assertEqual(v.finish(), -7, v.describe())
        self.assertBreak(v, "released", "sh", "openat")

    # rt_sigsuspend, ppoll, pselect6, epoll_pwait, rt_sigtimedwait (every sigwait)
    WAITS = {"sigsuspend": 130, "ppoll": 271, "pselect": 270, "epoll_pwait": 281,
             "sigwait": 128, "sigwaitinfo": 128, "sigtimedwait": 128}

    def test_waits_with_every_signal_blocked_are_answered(self):
        """A program that waits with a mask of its own blocking every signal but one (sigsuspend,
        ppoll, pselect, epoll_pwait), or for every signal (sigwait, sigwaitinfo, sigtimedwait),
        still has the guard answer a break during its wait, and is never handed the lease signal
        by its sigwait. Unanswered, the cutter would wait lease-break-time (45 s, more than
        CUTTER_TIMEOUT)."""
        for kind, nr in sorted(self.WAITS.items()):
            with self.subTest(kind=kind):
                v = self.fresh_victim()
                self.assertEqual(v.cmd("wait " + kind), "waiting " + kind, v.describe())
                self.in_system_call(v, {nr})
                self.cut(["sh", "-c", ': > "$1"', "sh", self.file])
                os.kill(v.pid, signal.SIGUSR1)
                self.assertEqual(v.proc.stdout.readline().strip(), "woke %s others 0" % kind,
                                 v.describe())
                self.assertCutSeen(v)

    # x86-64 numbers of what glibc makes of each (poll, select, epoll_wait: old or new call)
    WAITS_ALL = {"ppoll": {271}, "pselect": {270}, "epoll_pwait": {281}, "sigwaitinfo": {128},
                 "sigtimedwait": {128}, "poll": {7, 271}, "select": {23, 270},
                 "epoll_wait": {232, 281}, "nanosleep": {35, 230}, "clock_nanosleep": {230},
                 "sleep": {35, 230}, "usleep": {35, 230}, "sem_timedwait": {202}}

    def test_waits_that_let_no_signal_in_end_as_they_would_bare(self):
        """A wait with every signal blocked (ppoll, pselect, epoll_pwait with a full mask;
        sigwaitinfo, sigtimedwait for SIGUSR1, and poll, select, epoll_wait and the sleeps, from a
        thread blocking everything) cannot end with EINTR without the guard: after the guard's
        handler answered a break during it, the call is made again and ends as it would bare,
        with the line or the signal it waited for, or its time slept."""
        self.wait_through_cuts("waitall", self.WAITS_ALL)

    # x86-64 numbers of the calls of waitopen's kinds (glibc: old or new call)
    WAITS_OPEN = {"poll": {7, 271}, "select": {23, 270}, "epoll_wait": {232, 281},
                  "nanosleep": {35, 230}, "clock_nanosleep": {230}, "sleep": {35, 230},
                  "usleep": {35, 230}, "sem_timedwait": {202}, "semop": {65, 220}, "msgrcv": {70}, "recv": {45}}

    def test_waits_of_a_program_without_handlers_end_as_they_would_bare(self):
        """A program that installed no signal handler and blocks nothing cannot see EINTR bare:
        its sleep sleeps the whole time, its semop returns once the semaphore is posted. When
        the guard's lease handler runs in the waiting thread to answer a break (the kernel picks
        that thread), the wait it interrupted is made again: poll, select, epoll_wait, the sleeps,
        sem_timedwait, System V semop and msgrcv, recv on a socket with a timeout."""
        self.wait_through_cuts("waitopen", self.WAITS_OPEN)

    def test_an_eintr_of_the_programs_own_handler_stays(self):
        """A wait that a signal the program handles interrupts returns EINTR, as bare: only an
        EINTR the lease handler alone can have caused is made again."""
        v = self.victim("watch", "--handler", str(int(signal.SIGUSR1)))
        self.assertTrue(self.held_lease(v), v.describe())
        for kind, nrs in (("poll", {7, 271}), ("nanosleep", {35, 230}), ("select", {23, 270})):
            with self.subTest(kind=kind):
                self.assertEqual(v.cmd("waitopen " + kind), "waiting " + kind, v.describe())
                self.in_system_call(v, nrs)
                os.kill(v.pid, signal.SIGUSR1)
                self.assertEqual(v.proc.stdout.readline().strip(),
                                 "woke %s -1 %d" % (kind, errno.EINTR), v.describe())
        self.assertEqual(v.finish(), 0, v.describe())

    def test_an_eintr_another_thread_took_the_signal_of_is_made_again(self):
        """The lease signal is the process's: the kernel can wake a thread waiting in a call with a
        timeout (a socket's, which SA_RESTART does not restart) and let another thread take the
        signal and run the handler; the woken call then ends with EINTR, though the handler never
        ran in its thread. A thread that changes its mask without end takes it first most of the
        time (the kernel looks at the pending signals again at each change)."""
        for attempt in range(5):
            with self.subTest(attempt=attempt):
                for name in os.listdir(self.logdir):
                    os.unlink(os.path.join(self.logdir, name))
                with open(self.file, "wb") as f:
                    f.write(bytes([BYTE]) * SIZE)
                v = self.victim("watch", "--spin")
                self.assertTrue(self.held_lease(v), v.describe())
                self.assertEqual(v.cmd("waitopen recv"), "waiting recv", v.describe())
                self.in_system_call(v, {45})
                self.cut(["sh", "-c", ': > "$1"', "sh", self.file])
                v.proc.stdin.write("wake\n")
                v.proc.stdin.flush()
                self.assertEqual(v.proc.stdout.readline().strip(), "woke recv 1 0", v.describe())
                v.proc.kill()
                v.proc.wait()

    def wait_through_cuts(self, command, waits):
        """Each kind of wait of the victim's command, a cut from outside while it waits, and how
        the wait ends: as it would bare (its time slept, or what it waited for when it comes)."""
        posted = {"semop": 0, "msgrcv": 1, "recv": 1}
        for kind, nrs in sorted(waits.items()):
            with self.subTest(kind=kind):
                v = self.fresh_victim()
                self.assertEqual(v.cmd("%s %s" % (command, kind)), "waiting " + kind,
                                 v.describe())
                self.in_system_call(v, nrs)
                self.cut(["sh", "-c", ': > "$1"', "sh", self.file])
                if "sleep" in kind:
                    want = "woke %s 0 0" % kind
                elif kind == "sem_timedwait":
                    want = "woke %s -1 %d" % (kind, errno.ETIMEDOUT)    # as bare: nobody posts
                elif kind.startswith("sig"):
                    os.kill(v.pid, signal.SIGUSR1)
                    want = "woke %s %d 0" % (kind, signal.SIGUSR1)
                else:
                    v.proc.stdin.write("wake\n")
                    v.proc.stdin.flush()
                    want = "woke %s %d 0" % (kind, posted.get(kind, 1))
                self.assertEqual(v.proc.stdout.readline().strip(), want, v.describe())
                self.assertCutSeen(v)

    def test_a_program_using_the_lease_signal_without_a_handler_gets_it(self):
        """A program that blocks the real-time signal the guard picked (60 here) alone and sigwait()s
        for it uses that signal itself (it needs no handler for that): the guard's leases move to
        another signal, the program gets its signal, and a cutter is still answered."""
        v = self.victim("watch")
        self.assertTrue(self.held_lease(v), v.describe())
        self.assertEqual(v.cmd("waitone 60"), "waiting 60", v.describe())
        self.in_system_call(v, {128})
        self.cut(["sh", "-c", ': > "$1"', "sh", self.file])
        os.kill(v.pid, 60)
        self.assertEqual(v.proc.stdout.readline().strip(), "woke 60", v.describe())
        self.assertIsNone(v.sum())
        self.assertEqual(v.finish(), -7, v.describe())
        moved = v.events("lease_signal")
        self.assertEqual([(m["from"], m["pid"]) for m in moved], [(60, v.pid)], v.describe())
        self.assertNotEqual(moved[0]["to"], 60, v.describe())
        self.assertIn("among a few", moved[0]["reason"], v.describe())
        self.assertBreak(v, "released", "sh", "openat")

    def test_a_program_that_blocks_everything_before_mapping_gets_leases(self):
        """A daemon blocks every signal first thing in main, then opens and maps its files: the
        lease signal picked at the first mapping is one it blocked with all the others, not one
        it uses, and the mapping thread lets it in. Its leases are held, a cutter is answered at
        once, and its masks still read back all blocked, in a new thread too."""
        bare = subprocess.run([mgtest.test_prog("lease_victim"), self.file, "--block-first"],
                              input="mask\n", capture_output=True, text=True, timeout=60)
        full = bare.stdout.splitlines()[1:]
        self.assertEqual(len(full), 1, bare.stdout + bare.stderr)
        v = self.victim("watch", "--block-first")
        self.assertTrue(self.held_lease(v), v.describe())
        self.assertEqual([v.cmd("mask")], full, v.describe())
        self.assertEqual(v.cmd("threadmask"), "thread" + full[0], v.describe())
        self.cut(["sh", "-c", ': > "$1"', "sh", self.file])
        self.assertIsNone(v.sum())
        self.assertEqual(v.finish(), -7, v.describe())
        self.assertEqual(v.events("lease_unavailable"), [], v.describe())
        self.assertBreak(v, "released", "sh", "openat")

    def test_a_file_mapped_by_a_thread_that_ended_is_answered(self):
        """A worker thread maps the file and ends (a thread pool, a loader thread); the program
        goes on. The kernel sends a lease's break to the thread that took it, found by its id:
        the guard gives the lease to the process, so another thread answers and the cutter does
        not wait lease-break-time (45 s, more than CUTTER_TIMEOUT)."""
        v = self.victim("watch", "--map-in-thread")
        self.assertTrue(self.held_lease(v), v.describe())
        self.cut(["sh", "-c", ': > "$1"', "sh", self.file])
        self.assertIsNone(v.sum())
        self.assertEqual(v.finish(), -7, v.describe())
        self.assertBreak(v, "released", "sh", "openat")

    def test_leases_are_given_up_when_no_thread_lets_the_signal_in(self):
        """The same daemon, but its files are mapped by a thread that then ends (a loader thread):
        no thread lets the lease signal in any more, a break would reach nobody and every writer
        of the file would wait lease-break-time (45 s, more than CUTTER_TIMEOUT). The guard gives
        its leases up when that thread ends and says so (lease_signal, to null); the cutter goes
        on at once, and the program, bare as it would be, dies of its SIGBUS."""
        v = self.victim("watch", "--block-first", "--map-in-thread")
        self.cut(["sh", "-c", ': > "$1"', "sh", self.file])
        self.assertIsNone(v.sum())
        self.assertEqual(v.finish(), -7, v.describe())
        (moved,) = v.events("lease_signal")
        self.assertIsNone(moved["to"], v.describe())
        self.assertIn("no thread lets the lease signal in", moved["reason"], v.describe())
        self.assertEqual(v.events("lease_break"), [], v.describe())

    def test_every_thread_that_takes_a_lease_answers(self):
        """The same daemon: a thread maps the file and lives on, the main thread maps a second
        file (its own lease), then the first thread ends. The main thread lets the lease signal
        in as it takes its lease, so a thread still answers: the leases are kept, and a cutter of
        the first file is answered (lease_break), no lease_signal record."""
        other = self.file + ".second"
        with open(other, "wb") as f:
            f.write(bytes([BYTE]) * SIZE)
        v = self.victim("watch", "--block-first", "--map-in-kept-thread")
        self.assertEqual(v.cmd("map " + other), "mapped", v.describe())
        self.assertEqual(v.cmd("endthread"), "ended", v.describe())
        self.cut(["sh", "-c", ': > "$1"', "sh", self.file])
        self.assertIsNone(v.sum())
        self.assertEqual(v.finish(), -7, v.describe())
        self.assertEqual(v.events("lease_signal"), [], v.describe())
        self.assertBreak(v, "released", "sh", "openat")

    def test_a_signalfd_for_every_signal_never_sees_the_lease_signal(self):
        """A daemon that blocks every signal and reads them from a signalfd for every signal, made
        before its first mapping (at start) or after: the signalfd loses the lease signal (at the
        pick, or as it is made), so a break neither wakes the daemon's poll for nothing (a blocking
        read after it would wait forever) nor hands it a signal nobody sent it, and the guard
        answers the cutter."""
        for command in ("sigfd", "sigfd new"):
            with self.subTest(command=command):
                for name in os.listdir(self.logdir):
                    os.unlink(os.path.join(self.logdir, name))
                with open(self.file, "wb") as f:
                    f.write(bytes([BYTE]) * SIZE)
                v = self.victim("watch", "--block-first", "--signalfd")
                self.assertTrue(self.held_lease(v), v.describe())
                self.assertEqual(v.cmd(command), "waiting sigfd", v.describe())
                self.in_system_call(v, {7, 271})
                self.cut(["sh", "-c", ': > "$1"', "sh", self.file])
                v.proc.stdin.write("wake\n")
                v.proc.stdin.flush()
                self.assertEqual(v.proc.stdout.readline().strip(), "sigfd got 0 empty 0",
                                 v.describe())
                self.assertCutSeen(v)

    def test_masks_read_back_as_the_program_set_them(self):
        """What the program sees of its masks is what it set, as bare: the blocked set read back,
        in a new thread, and in children exec'd after fork and after vfork or started by
        posix_spawnp."""
        commands = ["mask", "threadmask", "execmask", "spawnmask"]
        for extra in (["--block"], []):
            bare = subprocess.run([mgtest.test_prog("lease_victim"), self.file] + extra,
                                  input="\n".join(commands) + "\n", capture_output=True, text=True,
                                  timeout=60)
            self.assertEqual(bare.returncode, 0, bare.stderr)
            want = bare.stdout.splitlines()[1:]
            self.assertEqual(len(want), len(commands), bare.stdout)
            if extra:
                self.assertNotIn(" 0", " ".join(want), "bare, --block blocks: " + bare.stdout)
            v = self.victim("watch", *extra)
            self.assertTrue(self.held_lease(v), v.describe())
            got = [v.cmd(c) for c in commands]
            self.assertEqual(got, want, v.describe())
            self.assertEqual(v.finish(), 0, v.describe())

    def test_spawn_file_action_writing_the_file_waits_for_nobody(self):
        """posix_spawn's child opens its file actions' paths where no wrapper sees them, while the
        parent thread waits for it: a lease on a file it opens for writing is let go first, or the
        spawn would wait lease-break-time and the child's open be reported as another process's."""
        v = self.victim("watch")
        self.assertTrue(self.held_lease(v), v.describe())
        self.assertEqual(v.cmd("spawnw"), "spawnw 0", v.describe())
        self.assertFalse(self.held_lease(v), v.describe())
        self.assertEqual(v.sum(), BYTE * SIZE)
        self.assertEqual(v.finish(), 0, v.describe())
        self.assertEqual(v.events("lease_break"), [], v.describe())

    def test_own_raw_open_is_answered_quietly(self):
        """An open past the wrappers (syscall(2)) still breaks the lease; the handler runs on the
        very thread whose open it interrupted, finds that call in the interrupted context and
        answers without a record."""
        v = self.victim("watch")
        self.assertTrue(self.held_lease(v), v.describe())
        self.assertEqual(v.cmd("openw raw"), "openw 0", v.describe())
        self.assertEqual(os.path.getsize(self.file), SIZE + 1)
        self.assertEqual(v.finish(), 0, v.describe())
        self.assertEqual(v.events("lease_break"), [], v.describe())

    def test_outside_cutter_after_own_write_is_still_seen(self):
        """After its own write (and its writable descriptor closed) the program maps the file
        again: a new lease, and a cutter is named as before."""
        v = self.victim("watch")
        self.assertEqual(v.cmd("openw"), "openw 0", v.describe())
        self.assertEqual(v.cmd("remap"), "ready %d" % v.pid, v.describe())
        self.assertTrue(self.held_lease(v), v.describe())
        self.cut(["cp", "/dev/null", self.file])
        self.assertIsNone(v.sum())
        self.assertEqual(v.finish(), -7, v.describe())
        self.assertEqual(v.events("lease_unavailable"), [], v.describe())
        breaks = v.events("lease_break")
        self.assertEqual(len(breaks), 1, v.describe())
        self.assertEqual(breaks[0]["breaker"]["comm"], "cp", v.describe())
        self.assertEqual(breaks[0]["breaker"]["syscall"]["name"], "openat", v.describe())
        self.assertEqual(breaks[0]["size_before"], SIZE + 1)

    def test_leases_of_unmapped_files_make_room(self):
        """A long-lived process maps and unmaps more files than it can hold leases: the leases of
        files it no longer maps make room, and the file it maps last is still covered."""
        v = self.victim("watch")
        self.assertEqual(v.cmd("cycle %s 80" % os.path.join(self.tmp, "f")), "cycled 80")
        last = os.path.join(self.tmp, "last.bin")
        with open(last, "wb") as f:
            f.write(bytes([BYTE]) * SIZE)
        self.assertEqual(v.cmd("map " + last), "mapped")
        self.cut(["cp", "/dev/null", last])
        self.assertEqual(v.finish(), 0, v.describe())
        self.assertEqual(v.events("lease_unavailable"), [], v.describe())
        breaks = v.events("lease_break")
        self.assertEqual([b["path"] for b in breaks], [os.path.realpath(last)], v.describe())
        self.assertEqual(breaks[0]["breaker"]["comm"], "cp", v.describe())

    def test_a_moving_file_keeps_its_lease_when_slots_run_out(self):
        """Every lease slot is held, and a file's mremap is in the kernel (its window is out of
        the guard's registry until the call returns) when one more file is mapped: the moving file
        is not taken for one no longer mapped. It keeps its lease, the new file goes without (and
        says so), and a cut of the moved file is still seen."""
        if not os.path.isdir("/dev/shm"):
            self.skipTest("no /dev/shm (userfaultfd needs the file on tmpfs)")
        shm = tempfile.mkdtemp(prefix="mg-lease-", dir="/dev/shm")
        self.addCleanup(shutil.rmtree, shm, True)
        self.file = os.path.join(shm, "moving.bin")
        with open(self.file, "wb") as f:
            f.write(bytes([BYTE]) * SIZE)
        v = self.victim("watch")
        self.assertEqual(v.cmd("fill %s 63" % os.path.join(shm, "f")), "filled 63")
        extra = os.path.join(shm, "one_more.bin")
        with open(extra, "wb") as f:
            f.write(bytes([BYTE]) * SIZE)
        answer = v.cmd("move_and_map " + extra)
        if answer.startswith("unsupported"):
            v.finish()
            self.skipTest("userfaultfd not available here: " + answer)
        self.assertEqual(answer, "moved", v.describe())
        self.cut(["cp", "/dev/null", self.file])
        self.assertEqual(v.finish(), 0, v.describe())
        breaks = v.events("lease_break")
        self.assertEqual([b["path"] for b in breaks], [os.path.realpath(self.file)], v.describe())
        self.assertEqual(breaks[0]["breaker"]["comm"], "cp", v.describe())
        self.assertEqual(breaks[0]["mappings_total"], 1, v.describe())
        missing = v.events("lease_unavailable")
        self.assertEqual([u["path"] for u in missing], [os.path.realpath(extra)], v.describe())

    def test_exec_drops_the_old_image_leases(self):
        # After exec the old image's lease descriptors are closed: nobody holds the breaker.
        v = self.victim("rescue", "--exec", "/bin/cat")
        v.proc.stdin.write("exec done\n")          # cat echoes it: the exec has happened
        v.proc.stdin.flush()
        self.assertEqual(v.proc.stdout.readline(), "exec done\n")
        self.cut(["sh", "-c", ': > "$1"', "sh", self.file])
        self.assertEqual(os.path.getsize(self.file), 0)
        self.assertEqual(v.finish(), 0, v.describe())
        self.assertEqual(v.events("lease_break"), [], v.describe())

    # ---- golden: the exact fields, in order ---------------------------------------------------------

    def raw(self, v, event):
        return [key_order(line) for line in v.raw if json.loads(line)["event"] == event]

    def test_golden_lease_break(self):
        v = self.victim("rescue")
        self.cut(["sh", "-c", ': > "$1"', "sh", self.file])
        self.assertEqual(v.finish(), 0, v.describe())
        (rec,) = self.raw(v, "lease_break")
        self.assertEqual(keys(rec), LEASE_BREAK_KEYS)
        d = dict(rec)
        self.assertEqual(keys(d["breaker"]), BREAKER_KEYS)
        self.assertEqual(keys(dict(d["breaker"])["syscall"]), SYSCALL_KEYS)
        self.assertEqual([keys(m) for m in d["mappings"]], [MAPPING_KEYS + ["rescued"]])

    def test_golden_lease_unavailable_and_signal(self):
        w = os.open(self.file, os.O_RDWR)
        try:
            v = self.victim("watch", "--handler", "60", env={"MMAPGUARD_LEASE_SIGNAL": "60"})
            self.assertEqual(v.finish(), 0, v.describe())
        finally:
            os.close(w)
        (un,) = self.raw(v, "lease_unavailable")
        self.assertEqual(keys(un), UNAVAILABLE_KEYS)
        (sig,) = self.raw(v, "lease_signal")
        self.assertEqual(keys(sig), SIGNAL_KEYS)

    # ---- off by default -----------------------------------------------------------------------------

    def test_off_by_default_takes_no_lease(self):
        v = self.victim(None)
        with open("/proc/locks") as f:
            locks = f.read()
        ino = os.stat(self.file).st_ino
        self.assertNotIn(":%d " % ino, locks)
        self.cut(["sh", "-c", ': > "$1"', "sh", self.file])
        self.assertIsNone(v.sum())
        self.assertEqual(v.finish(), -7)
        self.assertEqual(v.events("lease_break"), [])


if __name__ == "__main__":
    unittest.main()
