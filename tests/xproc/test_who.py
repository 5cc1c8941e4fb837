"""mmapguard who FILE...: who maps the file, guarded or not, and the exit status a deploy script
can test."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from xptest import PAGE, SIZE, XprocTest, clean_env  # noqa: E402

CMD = os.environ.get("MG_CMD", "")


class Who(XprocTest):
    def who(self, *args):
        if not CMD:
            self.fail("MG_CMD is not set")
        return subprocess.run([CMD, "who"] + list(args), capture_output=True, text=True,
                              env=clean_env(), timeout=120)

    def test_json_guarded_and_unguarded(self):
        path = self.data_file()
        other = self.data_file("other")
        g = self.victim(path)
        u = self.victim(path, guarded=False)
        r = self.who("--json", path, other)
        self.assertEqual(r.returncode, 1, r.stderr)
        doc = json.loads(r.stdout)
        files = {f["path"]: f for f in doc["files"]}
        self.assertEqual(files[other]["processes"], [])
        procs = {p["pid"]: p for p in files[path]["processes"]}
        self.assertEqual(set(procs), {g.pid, u.pid}, r.stdout)
        st = os.stat(path)
        self.assertEqual((files[path]["dev"], files[path]["ino"]), (st.st_dev, st.st_ino))
        for pid, guarded in ((g.pid, True), (u.pid, False)):
            p = procs[pid]
            self.assertEqual(p["guarded"], guarded, p)
            self.assertEqual(p["comm"], "xp_victim")
            self.assertEqual(p["safe_size"], SIZE - PAGE + 1)
            w, = p["windows"]
            self.assertEqual((w["length"], w["offset"], w["prot"], w["shared"]),
                             (SIZE, 0, "PROT_READ", True))
            if guarded:
                self.assertTrue(any(f["symbol"] and f["symbol"].startswith("map_file")
                                    for f in w["backtrace"]), w)
            else:
                self.assertEqual(w["backtrace"], [])

    def test_report_symbolizes_the_victims_windows(self):
        path = self.data_file()
        v = self.victim(path)
        log = os.path.join(self.tmp, "cutter.log")
        env = clean_env({"LD_PRELOAD": os.environ.get("MG_LIB", ""), "MMAPGUARD_MODE": "block",
                         "MMAPGUARD_LOG_FORMAT": "json", "MMAPGUARD_LOG": log,
                         "MMAPGUARD_INDEX_DIR": self.index, "MMAPGUARD_SCAN_MS": "60000",
                         "MMAPGUARD_SCOPE": "all"})
        c = subprocess.run(["truncate", "-s", "0", path], env=env, capture_output=True, text=True)
        self.assertNotEqual(c.returncode, 0, c.stderr)
        r = subprocess.run([CMD, "report", log], capture_output=True, text=True, env=clean_env(),
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("pid %d \"xp_victim\"" % v.pid, r.stdout)
        self.assertIn("16 page(s) beyond EOF", r.stdout)
        self.assertRegex(r.stdout, r"#\d+ +map_file at .*xp_victim\.c:\d+")

    def test_a_window_inherited_through_fork(self):
        """The parent maps, forks and unmaps: the child holds the window it did not make, and
        who, the cutter's own text and the report all say where it was made."""
        path = self.data_file()
        v = self.victim(path)
        child = int(v.cmd("fork").split()[1])
        self.assertEqual(v.cmd("unmap"), "unmapped")
        note = "(pid %d inherited the mapping through fork: it was made in pid %d)" % (child, v.pid)
        r = self.who("--json", path)
        self.assertEqual(r.returncode, 1, r.stderr)
        procs = json.loads(r.stdout)["files"][0]["processes"]
        self.assertEqual([p["pid"] for p in procs], [child], r.stdout)
        w, = procs[0]["windows"]
        self.assertEqual((w["mapped_in_pid"], w["tid"]), (v.pid, v.pid), w)
        r = self.who(path)
        self.assertIn(note, r.stdout)
        self.assertIn("of pid %d at" % v.pid, r.stdout)
        log = os.path.join(self.tmp, "cutter.log")
        env = clean_env({"MMAPGUARD_INDEX_DIR": self.index, "MMAPGUARD_SCAN_MS": "60000",
                         "MMAPGUARD_SCOPE": "all"})
        c = subprocess.run([CMD, "--mode", "block", "--", "truncate", "-s", "0", path], env=env,
                           capture_output=True, text=True, timeout=120)
        self.assertNotEqual(c.returncode, 0, c.stderr)
        self.assertIn("other process %d \"xp_victim\"" % child, c.stderr)
        self.assertIn(note, c.stderr)
        env.update({"LD_PRELOAD": os.environ.get("MG_LIB", ""), "MMAPGUARD_MODE": "block",
                    "MMAPGUARD_LOG_FORMAT": "json", "MMAPGUARD_LOG": log})
        c = subprocess.run(["truncate", "-s", "0", path], env=env, capture_output=True, text=True)
        self.assertNotEqual(c.returncode, 0, c.stderr)
        r = subprocess.run([CMD, "report", "--no-symbols", log], capture_output=True, text=True,
                           env=clean_env(), timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("mapped in pid %d, inherited through fork, at:" % v.pid, r.stdout)
        self.assertEqual(v.finish(), 0)

    def test_text_and_exit_status(self):
        path = self.data_file()
        r = self.who(path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("nobody maps it", r.stdout)
        v = self.victim(path)
        r = self.who(path)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("pid %d \"xp_victim\"" % v.pid, r.stdout)
        self.assertIn("guarded", r.stdout)
        self.assertIn("map_file", r.stdout)
        self.assertEqual(v.finish(), 0)
        self.assertEqual(self.who(path).returncode, 0)
        r = self.who(path, os.path.join(self.tmp, "missing"))
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("missing", r.stderr)


if __name__ == "__main__":
    unittest.main()
