"""Helpers for the cross-process tests: a victim process on pipes, cutters under the guard."""
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

import mgtest

PAGE = os.sysconf("SC_PAGE_SIZE")
SIZE = 16 * PAGE


def clean_env(extra=None):
    e = dict(os.environ)
    e.pop("LD_PRELOAD", None)
    for k in list(e):
        if k.startswith("MMAPGUARD_"):
            del e[k]
    if extra:
        e.update(extra)
    return e


class Victim:
    """xp_victim mapping a file: guarded (its own JSON log) or not; talks over its stdin/stdout."""

    def __init__(self, path, guarded=True, env=None, prefix=None, logdir=None):
        self.logdir = logdir
        e = clean_env()
        if guarded:
            e.update({"LD_PRELOAD": mgtest.LIB, "MMAPGUARD_LOG_FORMAT": "json",
                      "MMAPGUARD_LOG": os.path.join(logdir, "victim.%p")})
        if env:
            e.update(env)
        argv = (prefix or []) + [mgtest.test_prog("xp_victim"), path]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=e, text=True)
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "ready":
            self.proc.kill()
            raise AssertionError("victim did not start: %r" % line)
        self.pid = int(line[1])

    def cmd(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def finish(self):
        """Tell it to exit (or close its input); returns its exit status."""
        try:
            self.proc.stdin.write("exit\n")
            self.proc.stdin.close()
        except (BrokenPipeError, ValueError):
            pass
        rc = self.proc.wait(timeout=60)
        self.proc.stdout.close()
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=60)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except (BrokenPipeError, ValueError):
                pass

    def records(self):
        recs, bad, _ = mgtest.read_records(self.logdir)
        return recs


class XprocTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        mgtest.require_lib(self)
        self.tmp = tempfile.mkdtemp(prefix="mg-xproc-")
        os.chmod(self.tmp, 0o755)
        self.index = os.path.join(self.tmp, "index")    # private index directory for this test
        os.mkdir(self.index, 0o700)
        self.logdir = os.path.join(self.tmp, "logs")
        os.mkdir(self.logdir)
        self.victims = []

    def tearDown(self):
        for v in self.victims:
            v.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def data_file(self, name="data", size=SIZE):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(bytes((i * 7) & 0xff for i in range(size)))
        os.chmod(path, 0o644)
        return path

    def victim(self, path, guarded=True, env=None, prefix=None):
        e = {"MMAPGUARD_INDEX_DIR": self.index, "MMAPGUARD_SCOPE": "all"}
        e.update(env or {})
        v = Victim(path, guarded=guarded, env=e, prefix=prefix, logdir=self.logdir)
        self.victims.append(v)
        return v

    def cut(self, argv, mode="block", env=None, **kw):
        # a loaded machine must not make the scan stop early: no test depends on timing
        e = {"MMAPGUARD_INDEX_DIR": self.index, "MMAPGUARD_SCAN_MS": "60000",
             "MMAPGUARD_SCOPE": "all"}
        e.update(env or {})
        return mgtest.run(argv, mode=mode, env=e, **kw)

    def only_record(self, r, event="truncate"):
        recs = r.events(event)
        self.assertEqual(len(recs), 1, r.describe())
        self.assertEqual(r.malformed, [], r.describe())
        return recs[0]

    def assertVictim(self, rec, pid, guarded, pages=SIZE // PAGE, made_in=None):
        """rec names pid among its victims, with its window and (guarded) the creation stack;
        made_in: the process the window was made in, when pid inherited it through fork."""
        found = [v for v in rec.get("victims", []) if v["pid"] == pid]
        self.assertEqual(len(found), 1, "victim %d not in %r" % (pid, rec.get("victims")))
        v = found[0]
        self.assertEqual(v["guarded"], guarded, v)
        self.assertEqual(len(v["windows"]), 1, v)
        w = v["windows"][0]
        self.assertEqual((w["length"], w["offset"], w["prot"], w["shared"], w["pages_beyond_eof"]),
                         (SIZE, 0, "PROT_READ", True, pages), w)
        self.assertEqual(w.get("mapped_in_pid"), made_in if guarded else None, w)
        modules = [f["module"] for f in w["backtrace"]]
        if guarded:
            self.assertTrue(any(m.endswith("/xp_victim") for m in modules), w["backtrace"])
            self.assertTrue(any(f["symbol"] and f["symbol"].startswith("map_file")
                                for f in w["backtrace"]), w["backtrace"])
        else:
            self.assertEqual(w["backtrace"], [])
        self.assertTrue(v["exe"].endswith("/xp_victim"), v)
        self.assertEqual(v["comm"], "xp_victim", v)
        return v
