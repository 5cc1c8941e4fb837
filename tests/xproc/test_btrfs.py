"""btrfs: /proc/PID/maps and /proc/locks show a file's file-system device number, while stat gives
each subvolume a number of its own (and the first file of each subvolume has inode 257). Victims,
lease breaks and `mmapguard who` are found through the shown number, and a file of another
subvolume with the same inode is told apart. Needs root, btrfs in the kernel, mkfs.btrfs and a
loop device: a scratch file system is made and mounted for the test, else the test is skipped."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mgtest  # noqa: E402
from xptest import PAGE, SIZE, XprocTest, clean_env  # noqa: E402

CMD = os.environ.get("MG_CMD", "")
MNT = None
IMG_DIR = None


def setUpModule():
    global MNT, IMG_DIR
    if os.geteuid() != 0 or not shutil.which("mkfs.btrfs") or not shutil.which("btrfs"):
        return
    IMG_DIR = tempfile.mkdtemp(prefix="mg-btrfs-")
    img = os.path.join(IMG_DIR, "fs.img")
    mnt = os.path.join(IMG_DIR, "mnt")
    os.mkdir(mnt)
    with open(img, "wb") as f:
        f.truncate(256 << 20)
    ok = (subprocess.run(["mkfs.btrfs", "-q", "-f", img], capture_output=True).returncode == 0 and
          subprocess.run(["mount", "-o", "loop", img, mnt], capture_output=True).returncode == 0)
    if ok:
        MNT = mnt
        subprocess.run(["btrfs", "subvolume", "create", os.path.join(mnt, "sub")],
                       capture_output=True, check=True)
        os.chmod(mnt, 0o755)


def tearDownModule():
    if MNT:
        subprocess.run(["umount", MNT], capture_output=True)
    if IMG_DIR:
        shutil.rmtree(IMG_DIR, ignore_errors=True)


class Btrfs(XprocTest):
    def setUp(self):
        super().setUp()
        if not MNT:
            self.skipTest("no scratch btrfs here (needs root, btrfs, mkfs.btrfs, a loop device)")
        self.sub = os.path.join(MNT, "sub", "data")
        self.top = os.path.join(MNT, "top")
        for p in (self.sub, self.top):
            with open(p, "wb") as f:
                f.write(bytes((i * 7) & 0xff for i in range(SIZE)))
        s, t = os.stat(self.sub), os.stat(self.top)
        self.assertNotEqual(s.st_dev, t.st_dev, "subvolumes have device numbers of their own")

    def tearDown(self):
        for p in (self.sub, self.top):
            try:
                os.unlink(p)
            except OSError:
                pass
        super().tearDown()

    def test_unguarded_victim_on_a_subvolume_is_seen(self):
        self.path = self.sub
        v = self.victim(self.sub, guarded=False)
        r = self.cut(["truncate", "-s", "0", self.sub])
        self.assertNotEqual(r.returncode, 0, r.describe())
        self.assertEqual(os.path.getsize(self.sub), SIZE, "the cut went through:\n" + r.describe())
        rec, = r.events("truncate")
        self.assertEqual(rec["action"], "blocked", rec)
        self.assertVictim(rec, v.pid, False)
        self.assertEqual(v.cmd("touch %d" % (SIZE - 1)), "ok %d" % (((SIZE - 1) * 7) & 0xff))

    def test_same_inode_in_another_subvolume_is_not_a_victim(self):
        """The victim maps the top-level file and keeps the subvolume's file open (so that no
        lease proves the cut safe and /proc is read): same file system, same inode number, another
        file. The cut of the subvolume's file goes ahead, as bare."""
        if os.stat(self.sub).st_ino != os.stat(self.top).st_ino:
            self.skipTest("the two files do not share an inode number here")
        code = ("import mmap, sys\ng = open(sys.argv[2], 'rb')\nf = open(sys.argv[1], 'rb')\n"
                "m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)\n"
                "print('ready', flush=True)\nsys.stdin.readline()\n")
        p = subprocess.Popen([sys.executable, "-c", code, self.top, self.sub], env=clean_env(),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(p.stdout.readline().strip(), "ready")
            r = self.cut(["truncate", "-s", "0", self.sub])
            self.assertEqual(r.returncode, 0, r.describe())
            self.assertEqual(r.records, [], r.describe())
            self.assertEqual(os.path.getsize(self.sub), 0)
        finally:
            p.stdin.close()
            p.wait(timeout=60)
            p.stdout.close()

    def test_who_names_the_mapper(self):
        if not CMD:
            self.skipTest("MG_CMD is not set")
        v = self.victim(self.sub, guarded=False)
        r = subprocess.run([CMD, "who", "--json", self.sub, self.top], capture_output=True,
                           text=True, env=clean_env(), timeout=120)
        self.assertEqual(r.returncode, 1, r.stderr)
        files = {f["path"]: f for f in json.loads(r.stdout)["files"]}
        self.assertEqual([p["pid"] for p in files[self.sub]["processes"]], [v.pid], r.stdout)
        self.assertEqual(files[self.top]["processes"], [], r.stdout)

    def test_lease_break_names_the_cutter(self):
        log = os.path.join(self.tmp, "lease")
        os.mkdir(log)
        env = clean_env({"LD_PRELOAD": mgtest.LIB, "MMAPGUARD_LEASES": "watch",
                         "MMAPGUARD_LOG_FORMAT": "json", "MMAPGUARD_LOG": os.path.join(log, "log.%p"),
                         "MMAPGUARD_INDEX_DIR": self.index})
        p = subprocess.Popen([mgtest.test_prog("lease_victim"), self.sub], env=env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            self.assertTrue(p.stdout.readline().startswith("ready "))
            c = subprocess.run(["cp", "/dev/null", self.sub], capture_output=True, timeout=30)
            self.assertEqual(c.returncode, 0, c.stderr)
        finally:
            p.stdin.close()
            p.wait(timeout=60)
            p.stdout.close()
        recs, bad, _ = mgtest.read_records(log)
        breaks = [x for x in recs if x.get("event") == "lease_break"]
        self.assertEqual(len(breaks), 1, recs)
        self.assertEqual(breaks[0]["breaker"]["comm"], "cp", breaks[0])
        self.assertEqual(breaks[0]["mappings_total"], 1, breaks[0])


if __name__ == "__main__":
    unittest.main()
