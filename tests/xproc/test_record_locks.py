"""The program's POSIX record locks survive the guard: it never closes a descriptor of its own of a
file the program has locked (any close of one would release them). Each case runs bare and under
the guard in each configuration that opens files of the program's: the default lease proofs of
a shrinking truncate(path) and of open(O_TRUNC), and MMAPGUARD_LEASES=watch on a mapping."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mgtest  # noqa: E402
from xptest import clean_env  # noqa: E402

CONFIGS = {
    "default": {},
    "block": {"MMAPGUARD_MODE": "block"},
    "watch": {"MMAPGUARD_LEASES": "watch"},
}


class RecordLocks(unittest.TestCase):
    def setUp(self):
        mgtest.require_lib(self)
        self.dirs = []

    def tearDown(self):
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)

    def run_case(self, where, how, step, env):
        d = tempfile.mkdtemp(prefix="mg-locks-", dir=where)
        self.dirs.append(d)
        e = clean_env(env)
        if env is not None:
            e.update({"LD_PRELOAD": mgtest.LIB, "MMAPGUARD_LOG_FORMAT": "json",
                      "MMAPGUARD_LOG": os.path.join(d, "log.%p"),
                      "MMAPGUARD_INDEX_DIR": os.path.join(d, "ix")})
        r = subprocess.run([mgtest.test_prog("xp_locks"), d, how, step], env=e,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.split("\n")

    def check(self, where):
        for how in ("fcntl", "lockf"):
            for step in ("map", "truncate", "otrunc"):
                bare = self.run_case(where, how, step, None)
                self.assertNotIn("lost", " ".join(bare), (how, step, bare))
                for name, env in CONFIGS.items():
                    self.assertEqual(self.run_case(where, how, step, env), bare, (how, step, name))

    def same_as_bare(self, step, expect):
        """An fcntl lock and step: bare prints expect, and so does every configuration."""
        where = tempfile.gettempdir()
        bare = self.run_case(where, "fcntl", step, None)
        self.assertEqual(bare, expect)
        for name, env in CONFIGS.items():
            self.assertEqual(self.run_case(where, "fcntl", step, env), bare, name)

    def test_locks_survive(self):
        self.check(tempfile.gettempdir())

    def test_a_fork_child_holds_none_of_the_locks(self):
        """The child of a process that locked the file holds no lock on it: its guard takes a lease
        on the file it maps, and the parent keeps its lock."""
        where = tempfile.gettempdir()
        bare = self.run_case(where, "fcntl", "forkmap", None)
        self.assertIn("child lease no", bare)
        self.assertIn("forked locked", bare)
        watch = self.run_case(where, "fcntl", "forkmap", CONFIGS["watch"])
        self.assertEqual(watch, [x.replace("child lease no", "child lease yes") for x in bare])

    def test_a_lock_taken_after_the_lease_survives_exec(self):
        """Mapped (a lease in watch mode), then locked, then exec keeping the locked descriptor:
        the guard's lease descriptor, close-on-exec, is kept open across it."""
        self.same_as_bare("mapexec", ["locked locked", "execed locked", ""])

    def test_close_range_passes_the_guards_kept_descriptor_by(self):
        """A lease broken after the lock leaves the guard's descriptor of the file open; the
        program's close_range of every descriptor above its own must not close it."""
        self.same_as_bare("keptclose", ["locked locked", "closed locked", ""])

    def test_locks_survive_on_tmpfs(self):
        """On tmpfs a shrink also asks whether the file is sealed against it (a descriptor)."""
        if not os.path.isdir("/dev/shm"):
            self.skipTest("no /dev/shm")
        self.check("/dev/shm")


if __name__ == "__main__":
    unittest.main()
