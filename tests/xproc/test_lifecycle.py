"""The index is a hint, /proc is the truth: victims that exit, die, exec or fork; reused pids,
forged and corrupt index files; a root cutter and an unprivileged victim."""
import os
import random
import shutil
import struct
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mgtest  # noqa: E402
from xptest import PAGE, SIZE, Victim, XprocTest  # noqa: E402

GUARDED = {"MMAPGUARD_SCOPE": "guarded"}


def start_time(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[19])


class Lifecycle(XprocTest):
    def cut_goes_through(self, path, env=GUARDED):
        r = self.cut(["truncate", "-s", "0", path], env=env)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(r.records, [], r.describe())
        self.assertEqual(os.path.getsize(path), 0)

    def index_files(self):
        return sorted(n for n in os.listdir(self.index) if n != "cuts")

    def test_victim_exits_its_entry_goes(self):
        path = self.data_file()
        v = self.victim(path)
        self.assertEqual(self.index_files(), ["%d-%d" % (v.pid, start_time(v.pid))])
        self.assertEqual(v.finish(), 0)
        self.assertEqual(self.index_files(), [], "the exiting process withdraws its file")
        self.cut_goes_through(path)

    def test_victim_killed_entry_reclaimed(self):
        path = self.data_file()
        v = self.victim(path)
        name = "%d-%d" % (v.pid, start_time(v.pid))
        v.kill()
        self.assertEqual(self.index_files(), [name], "SIGKILL leaves the file behind")
        self.cut_goes_through(path)
        with open(path, "wb") as f:
            f.write(b"z" * SIZE)
        v2 = self.victim(path)
        self.assertEqual(self.index_files(), ["%d-%d" % (v2.pid, start_time(v2.pid))],
                         "the next guarded process reclaims a dead process's file")

    def test_scan_reclaims_dead_and_reused(self):
        path = self.data_file()
        me = os.getpid()
        for name in ("999999999-1", "%d-1" % me):     # no such pid; our pid, another start time
            with open(os.path.join(self.index, name), "wb") as f:
                f.write(b"\0" * 64)
        with open(path, "rb"):                          # another open file: the lease fails
            r = self.cut(["truncate", "-s", "0", path], env=GUARDED)
            self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(self.index_files(), [], "a scan reclaims both")

    def test_victim_execs(self):
        path = self.data_file()
        v = self.victim(path)
        self.assertEqual(v.cmd("exec"), "exec")
        self.assertEqual(v.cmd("ping"), "ping")   # cat answers: the exec is done
        for env in (GUARDED, {}):
            self.cut_goes_through(path, env)
            with open(path, "wb") as f:
                f.write(b"x" * SIZE)

    def test_victim_forks(self):
        path = self.data_file()
        v = self.victim(path)
        child = int(v.cmd("fork").split()[1])
        self.assertEqual(v.cmd("unmap"), "unmapped")
        for env in (GUARDED, {}):
            r = self.cut(["truncate", "-s", "0", path], env=env)
            self.assertNotEqual(r.returncode, 0, r.describe())
            rec = self.only_record(r)
            self.assertEqual([x["pid"] for x in rec["victims"]], [child], rec)
            # the child did not make the window: the record says where it was made
            self.assertVictim(rec, child, True, made_in=v.pid)
        self.assertIn("%d-%d" % (child, start_time(child)), self.index_files())
        self.assertEqual(v.finish(), 0)

    def test_a_forked_child_cuts_what_it_inherited(self):
        """A fork child's own cut names the window it inherited with the process that made it; the
        parent, which made it, is a victim of its own making."""
        path = self.data_file()
        prog = (
            "import mmap, os, sys\n"
            "f = open(sys.argv[1], 'rb')\n"
            "m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    os.truncate(sys.argv[1], 0)\n"
            "    os._exit(0)\n"
            "os.waitpid(pid, 0)\n"
            "print(os.getpid(), pid)\n")
        r = mgtest.run([sys.executable, "-c", prog, path], per_process=True,
                       env={"MMAPGUARD_INDEX_DIR": self.index, "MMAPGUARD_SCAN_MS": "60000"})
        self.assertEqual(r.returncode, 0, r.describe())
        parent, child = map(int, r.stdout.split())
        rec = self.only_record(r)
        self.assertEqual(rec["pid"], child, rec)
        self.assertEqual(len(rec["mappings"]), 1, rec)
        self.assertEqual(rec["mappings"][0].get("mapped_in_pid"), parent, rec["mappings"][0])
        self.assertEqual([x["pid"] for x in rec["victims"]], [parent], rec)
        pw = rec["victims"][0]["windows"][0]
        self.assertNotIn("mapped_in_pid", pw, "the parent made it itself")
        self.assertEqual(pw["tid"], rec["mappings"][0]["tid"], (pw, rec["mappings"][0]))

    def test_reused_pid(self):
        """A live process under a dead one's entry (its pid reused): the entry does not count."""
        path = self.data_file()
        v = self.victim(path)
        old = "%d-%d" % (v.pid, start_time(v.pid))
        with open(os.path.join(self.index, old), "rb") as f:
            entry = f.read()
        v.kill()
        os.unlink(os.path.join(self.index, old))
        # this test process, alive, with the same start time as in its name: only /proc disagrees
        me = os.getpid()
        forged = os.path.join(self.index, "%d-%d" % (me, start_time(me)))
        with open(forged, "wb") as f:
            f.write(entry)
        self.cut_goes_through(path)
        self.assertTrue(os.path.exists(forged), "a live process's file is not removed")

    def test_more_files_than_the_first_index_version_held(self):
        """A process's 701st mapped file is still in its index, creation stack and all; readers of
        the first index version (512 files) are told to ask /proc instead."""
        path = self.data_file()
        n = 700
        d = os.path.join(self.tmp, "many")
        os.mkdir(d)
        for i in range(n):
            with open(os.path.join(d, "f%d" % i), "wb") as f:
                f.write(b"x" * SIZE)
        v = self.victim(path)
        self.assertEqual(v.cmd("mapmany %s %d" % (os.path.join(d, "f"), n)), "mapped %d" % n)
        last = os.path.join(d, "f%d" % (n - 1))
        r = self.cut(["truncate", "-s", "0", last])
        self.assertNotEqual(r.returncode, 0, r.describe())
        self.assertEqual(os.path.getsize(last), SIZE, "the cut went through:\n" + r.describe())
        rec = self.only_record(r)
        self.assertEqual(rec["action"], "blocked", rec)
        self.assertVictim(rec, v.pid, True)     # the creation stack: only the index has it
        with open(os.path.join(self.index, "%d-%d" % (v.pid, start_time(v.pid))), "rb") as f:
            h = f.read(512)
        capacity, hiwater, overflow = struct.unpack_from("<III", h, 20)
        overflow_all, = struct.unpack_from("<I", h, 324)
        self.assertGreater(capacity, 512)
        self.assertGreaterEqual(hiwater, n + 1)
        self.assertEqual((overflow, overflow_all), (1, 0))
        self.assertEqual(v.cmd("touch %d" % (SIZE - 1)), "ok %d" % (((SIZE - 1) * 7) & 0xff))
        self.assertEqual(v.finish(), 0)

    def test_forged_and_corrupt_index(self):
        path = self.data_file()
        v = self.victim(path)
        with open(os.path.join(self.index, "%d-%d" % (v.pid, start_time(v.pid))), "rb") as f:
            real = f.read()
        v.kill()
        rnd = random.Random(12)
        me = os.getpid()
        name = "%d-%d" % (me, start_time(me))
        variants = {
            "random bytes": bytes(rnd.getrandbits(8) for _ in range(len(real))),
            "truncated header": real[:40],
            "truncated slots": real[:600],
            "absurd counts": real[:24] + b"\xff\xff\xff\xff" * 2 + real[32:],
            "empty": b"",
        }
        for what, content in variants.items():
            for f in os.listdir(self.index):
                os.unlink(os.path.join(self.index, f))
            with open(os.path.join(self.index, name), "wb") as f:
                f.write(content)
            with open(os.path.join(self.index, "cuts"), "wb") as f:
                f.write(content)
            os.symlink("/etc/passwd", os.path.join(self.index, "1-1"))
            os.mkfifo(os.path.join(self.index, "2-2"))
            with open(path, "wb") as f:
                f.write(b"y" * SIZE)
            for env in (GUARDED, {}):
                with self.subTest(what=what, scope=env.get("MMAPGUARD_SCOPE", "all")):
                    self.cut_goes_through(path, env)
                    with open(path, "wb") as f:
                        f.write(b"y" * SIZE)
        # a victim that maps the file while the index directory holds garbage still works
        v = self.victim(path, env={"MMAPGUARD_MODE": "log"})
        r = self.cut(["truncate", "-s", "0", path], mode="log")
        self.assertVictim(self.only_record(r), v.pid, True)
        self.assertEqual(v.cmd("touch %d" % PAGE), "")
        self.assertEqual(v.proc.wait(timeout=60), -7)
        sig = [x for x in v.records() if x["event"] == "sigbus"]
        self.assertEqual(len(sig), 1, v.records())

    def test_index_directory_refused_when_not_private(self):
        path = self.data_file()
        os.chmod(self.index, 0o777)
        v = self.victim(path)
        self.assertEqual(os.listdir(self.index), [], "a directory others may write is not used")
        r = self.cut(["truncate", "-s", "0", path])
        self.assertVictim(self.only_record(r), v.pid, False)   # /proc still sees it

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"), "needs root and setpriv")
    def test_root_cutter_unprivileged_victim(self):
        path = self.data_file()
        os.chmod(self.tmp, 0o755)
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        theirs = os.path.join(self.tmp, "theirs")
        os.mkdir(theirs, 0o700)
        os.chown(theirs, 65534, 65534)
        v = self.victim(path, prefix=nobody, env={"MMAPGUARD_INDEX_DIR": theirs,
                                                   "MMAPGUARD_LOG": "/dev/null"})
        self.assertEqual(len(os.listdir(theirs)), 1, "the victim publishes in its own directory")
        r = self.cut(["truncate", "-s", "0", path])
        rec = self.only_record(r)
        self.assertVictim(rec, v.pid, True)
        self.assertEqual(os.path.getsize(path), SIZE)
        self.assertEqual(v.cmd("touch %d" % PAGE), "ok %d" % ((PAGE * 7) & 0xff))


    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("setpriv"), "needs root and setpriv")
    def test_root_cut_named_in_an_unprivileged_victims_sigbus(self):
        """Log mode: root's cut goes through; the victim (another user, its own private index
        directory) dies of SIGBUS and its record names root's truncate in cut_by."""
        path = self.data_file()
        os.chmod(self.tmp, 0o755)
        os.chmod(path, 0o644)
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        theirs = os.path.join(self.tmp, "theirs")
        os.mkdir(theirs, 0o700)
        os.chown(theirs, 65534, 65534)
        logs = os.path.join(self.tmp, "theirlogs")
        os.mkdir(logs, 0o700)
        os.chown(logs, 65534, 65534)
        v = Victim(path, env={"MMAPGUARD_INDEX_DIR": theirs, "MMAPGUARD_SCOPE": "all"},
                   prefix=nobody, logdir=logs)
        self.victims.append(v)
        r = self.cut(["truncate", "-s", "0", path], mode="log")
        self.assertEqual(r.returncode, 0, r.describe())
        rec = self.only_record(r)
        self.assertVictim(rec, v.pid, True)
        self.assertIn("cuts-root", os.listdir(theirs), "root's cut is kept where the victim reads")
        st = os.stat(os.path.join(theirs, "cuts-root"))
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (0, 0o644))
        self.assertEqual(v.cmd("touch %d" % PAGE), "", "the victim should die of SIGBUS")
        self.assertEqual(v.proc.wait(timeout=60), -7)
        sig = [x for x in v.records() if x["event"] == "sigbus"]
        self.assertEqual(len(sig), 1, v.records())
        c = sig[0]["cut_by"]
        self.assertIsNotNone(c, sig[0])
        self.assertEqual((c["pid"], c["comm"], c["call"]), (rec["pid"], "truncate", rec["call"]))
        self.assertEqual((c["size_before"], c["size_after"]), (SIZE, 0))


if __name__ == "__main__":
    unittest.main()
