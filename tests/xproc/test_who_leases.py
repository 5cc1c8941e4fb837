"""mmapguard who shows each guarded process's lease coverage of the file (MMAPGUARD_LEASES): off,
held (confirmed in /proc/locks), unavailable with the reason, released after a break; the index is
a hint, so a lease the index claims and /proc/locks does not list is said to be unconfirmed."""
import json
import os
import shutil
import struct
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from xptest import PAGE, XprocTest, clean_env  # noqa: E402

CMD = os.environ.get("MG_CMD", "")


def proc_locks_lease(pid, path):
    """The (access, state) of pid's lease on path as /proc/locks lists it, or None."""
    st = os.stat(path)
    dev = "%02x:%02x:%d" % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    with open("/proc/locks") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[1] == "LEASE" and parts[4] == str(pid) and parts[5] == dev:
                return parts[3], parts[2]
    return None


class WhoLeases(XprocTest):
    def setUp(self):
        super().setUp()
        if not CMD:
            self.fail("MG_CMD is not set")

    def who(self, *args):
        r = subprocess.run([CMD, "who"] + list(args), capture_output=True, text=True, env=clean_env(),
                           timeout=120)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        return r

    def lease_of(self, doc, path, pid):
        f, = [f for f in doc["files"] if f["path"] == path]
        p, = [p for p in f["processes"] if p["pid"] == pid]
        return p["lease"]

    def test_held_unavailable_off_and_unguarded(self):
        held, busy, off, rescue = (self.data_file(n) for n in ("held", "busy", "off", "rescue"))
        with open(busy, "r+b"):         # a writer: no read lease can be had
            vh = self.victim(held, env={"MMAPGUARD_LEASES": "watch"})
            vb = self.victim(busy, env={"MMAPGUARD_LEASES": "watch"})
            vo = self.victim(off)
            vr = self.victim(rescue, env={"MMAPGUARD_LEASES": "rescue"})
            vu = self.victim(held, guarded=False)
            r = self.who("--json", held, busy, off, rescue)
            t = self.who(held, busy, off, rescue)
        doc = json.loads(r.stdout)

        h = self.lease_of(doc, held, vh.pid)
        self.assertEqual(proc_locks_lease(vh.pid, held), ("READ", "ACTIVE"))
        self.assertEqual((h["state"], h["mode"], h["in_proc_locks"], h["confirmed"], h["reason"]),
                         ("held", "watch", True, True, None), h)
        h = self.lease_of(doc, rescue, vr.pid)
        self.assertEqual((h["state"], h["mode"], h["confirmed"]), ("held", "rescue", True), h)

        b = self.lease_of(doc, busy, vb.pid)
        self.assertIsNone(proc_locks_lease(vb.pid, busy))
        self.assertEqual((b["state"], b["mode"], b["errno"], b["in_proc_locks"], b["confirmed"]),
                         ("unavailable", "watch", "EAGAIN", False, None), b)
        self.assertIn("a writer has the file open", b["reason"])

        o = self.lease_of(doc, off, vo.pid)
        self.assertEqual((o["state"], o["mode"], o["reason"]), ("off", "off", None), o)
        self.assertIsNone(self.lease_of(doc, held, vu.pid), "an unguarded process has no lease of the guard's")

        self.assertIn("lease: held (MMAPGUARD_LEASES=watch), confirmed by /proc/locks (READ ACTIVE)", t.stdout)
        self.assertIn("lease: unavailable (MMAPGUARD_LEASES=watch): a writer has the file open", t.stdout)
        self.assertIn("lease: off (MMAPGUARD_LEASES=off)", t.stdout)

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"), "needs root and setpriv")
    def test_not_the_owner(self):
        path = self.data_file()         # root's, readable by all
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        theirs = os.path.join(self.tmp, "theirs")
        os.mkdir(theirs, 0o700)
        os.chown(theirs, 65534, 65534)
        v = self.victim(path, prefix=nobody, env={"MMAPGUARD_INDEX_DIR": theirs, "MMAPGUARD_LOG": "/dev/null",
                                                   "MMAPGUARD_LEASES": "watch"})
        lease = self.lease_of(json.loads(self.who("--json", path).stdout), path, v.pid)
        self.assertEqual((lease["state"], lease["errno"], lease["confirmed"]), ("unavailable", "EACCES", None),
                         lease)
        self.assertIn("not the file's owner", lease["reason"])

    def test_released_after_a_break(self):
        path = self.data_file()
        v = self.victim(path, env={"MMAPGUARD_LEASES": "watch"})
        self.assertEqual(self.lease_of(json.loads(self.who("--json", path).stdout), path, v.pid)["state"],
                         "held")
        # an unguarded cut that keeps the first page: the kernel holds it until the victim lets go
        # (not coreutils truncate: it opens O_NONBLOCK and fails at once with EAGAIN)
        c = subprocess.run([sys.executable, "-c", "import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY); "
                            "os.ftruncate(fd, int(sys.argv[2]))", path, str(PAGE)],
                           env=clean_env(), capture_output=True, text=True, timeout=120)
        self.assertEqual(c.returncode, 0, c.stderr)
        # the victim answers once its handler has run (one thread: the handler interrupted its read)
        self.assertEqual(v.cmd("touch 0"), "ok 0")
        lease = self.lease_of(json.loads(self.who("--json", path).stdout), path, v.pid)
        self.assertIsNone(proc_locks_lease(v.pid, path))
        self.assertEqual((lease["state"], lease["in_proc_locks"]), ("released", False), lease)

    def test_a_forked_child_publishes_its_own_lease(self):
        path = self.data_file()
        v = self.victim(path, env={"MMAPGUARD_LEASES": "watch"})
        child = int(v.cmd("fork").split()[1])
        doc = json.loads(self.who("--json", path).stdout)
        for pid in (v.pid, child):
            lease = self.lease_of(doc, path, pid)
            self.assertEqual(proc_locks_lease(pid, path), ("READ", "ACTIVE"), pid)
            self.assertEqual((lease["state"], lease["confirmed"]), ("held", True), (pid, lease))

    def test_a_claim_the_kernel_does_not_back_is_not_confirmed(self):
        path = self.data_file()
        v = self.victim(path)           # leases off: the kernel lists none
        # forge the victim's index entry: its slot for the file now claims a held lease
        st = os.stat(path)
        entry, = [os.path.join(self.index, n) for n in os.listdir(self.index) if n.startswith("%d-" % v.pid)]
        with open(entry, "r+b") as f:
            data = f.read()
            header, slot = 512, 312     # the layout of shim/index_format.h (sizes checked there)
            for off in range(header, len(data) - slot + 1, slot):
                used, dev, ino = struct.unpack_from("<IQQ", data, off + 4)
                if used == 1 and (dev, ino) == (st.st_dev, st.st_ino):
                    f.seek(off + 84)
                    f.write(struct.pack("<I", 3))   # MG_IX_LEASE_HELD
                    break
            else:
                self.fail("no slot for the file in " + entry)
        lease = self.lease_of(json.loads(self.who("--json", path).stdout), path, v.pid)
        self.assertEqual((lease["state"], lease["in_proc_locks"], lease["confirmed"]), ("held", False, False),
                         lease)
        t = self.who(path)
        self.assertIn("not confirmed: the index says so, but /proc/locks lists no lease", t.stdout)


if __name__ == "__main__":
    unittest.main()
