"""The command rebuilds a truncate record's victims as a block per process: `mmapguard PROGRAM`
(its text echo of the JSON log) and `mmapguard report` (text and JSON). A real cutter, real
victims (guarded and not) on pipes; the windows are checked against the victims' own
/proc/PID/maps and the creation stack against xp_victim.c."""
import glob
import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from xptest import PAGE, SIZE, XprocTest, clean_env  # noqa: E402

CMD = os.environ.get("MG_CMD", "")
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "xp_victim.c")


def mmap_line():
    """The line of xp_victim.c whose mmap call creates the victim's window."""
    with open(SRC) as f:
        for n, line in enumerate(f, 1):
            if "= mmap(" in line:
                return n
    raise AssertionError("no mmap call in " + SRC)


def window_of(pid, path):
    """(start, end) of pid's one window of path, from its /proc/PID/maps."""
    st = os.stat(path)
    found = []
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and int(parts[4]) == st.st_ino:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                found.append((lo, hi))
    assert len(found) == 1, found
    return found[0]


def block(text, head):
    """The lines from the one line containing head to the next line indented no deeper."""
    lines = text.splitlines()
    starts = [i for i, ln in enumerate(lines) if head in ln]
    assert len(starts) == 1, (head, text)
    i = starts[0]
    depth = len(re.match(r"(mmapguard:)? *", lines[i]).group(0))
    out = [lines[i]]
    for ln in lines[i + 1:]:
        if len(re.match(r"(mmapguard:)? *", ln).group(0)) <= depth:
            break
        out.append(ln)
    return "\n".join(out)


class ReportVictims(XprocTest):
    def setUp(self):
        super().setUp()
        if not CMD:
            self.fail("MG_CMD is not set")
        self.path = self.data_file()
        self.g = self.victim(self.path)
        self.u = self.victim(self.path, guarded=False)
        self.win = {v.pid: window_of(v.pid, self.path) for v in (self.g, self.u)}

    def cut_under_command(self):
        """truncate -s 0 under `mmapguard --mode block`: its stderr text and its kept JSON log."""
        env = clean_env({"MMAPGUARD_INDEX_DIR": self.index, "MMAPGUARD_SCAN_MS": "60000",
                         "MMAPGUARD_SCOPE": "all", "TMPDIR": self.tmp})
        p = subprocess.run([CMD, "--mode", "block", "truncate", "-s", "0", self.path], env=env,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(os.path.getsize(self.path), SIZE)
        logs = glob.glob(os.path.join(self.tmp, "mmapguard.*", "log.*"))
        self.assertEqual(len(logs), 1, p.stderr)
        with open(logs[0]) as f:
            recs = [json.loads(ln) for ln in f if ln.strip()]
        cut, = [r for r in recs if r["event"] == "truncate"]
        self.assertEqual(cut["action"], "blocked")
        for v in (self.g, self.u):
            self.assertVictim(cut, v.pid, v is self.g)
        return p.stderr, logs[0]

    def window_text(self, pid):
        lo, hi = self.win[pid]
        return "0x%x-0x%x" % (lo, hi)

    def test_live_text_has_a_block_per_victim(self):
        text, _ = self.cut_under_command()
        g = block(text, "other process %d " % self.g.pid)
        self.assertIn('"xp_victim" (%s), guarded,' % os.path.realpath(self.g.proc.args[-2]), g)
        self.assertIn("mapping %s (%d bytes at file offset 0, PROT_READ, MAP_SHARED): %d page(s) "
                      "beyond the new end of file" % (self.window_text(self.g.pid), SIZE, SIZE // PAGE), g)
        self.assertIn("mapped by thread %d " % self.g.pid, g)
        # the symbolizer names the function and the line of the mmap call, from debug information
        self.assertRegex(g, r"#\d+ +map_file at \S*xp_victim\.c:%d " % mmap_line())
        u = block(text, "other process %d " % self.u.pid)
        self.assertIn("not guarded", u)
        self.assertIn("mapping %s (%d bytes" % (self.window_text(self.u.pid), SIZE), u)
        self.assertNotIn("mapped by", u)

    def test_report_has_a_block_per_victim(self):
        _, log = self.cut_under_command()
        r = subprocess.run([CMD, "report", log], capture_output=True, text=True, env=clean_env(),
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("other processes the cut would hurt (2):", r.stdout)
        g = block(r.stdout, "pid %d \"xp_victim\"" % self.g.pid)
        self.assertIn(", guarded, named by 1 record:", g)
        self.assertIn("%s: %d bytes at file offset 0, PROT_READ, MAP_SHARED, %d page(s) beyond EOF"
                      % (self.window_text(self.g.pid), SIZE, SIZE // PAGE), g)
        self.assertRegex(g, r"#\d+ +map_file at \S*xp_victim\.c:%d " % mmap_line())
        u = block(r.stdout, "pid %d \"xp_victim\"" % self.u.pid)
        self.assertIn(", not guarded, named by 1 record:", u)
        self.assertIn(self.window_text(self.u.pid), u)
        self.assertNotIn("mapped at", u)
        # the cutter maps nothing itself: no empty list of its own mappings
        self.assertNotIn("endangered mappings", r.stdout)

        j = subprocess.run([CMD, "report", "--json", log], capture_output=True, text=True,
                           env=clean_env(), timeout=120)
        self.assertEqual(j.returncode, 0, j.stderr)
        site, = json.loads(j.stdout)["files"][0]["call_sites"]
        self.assertEqual(site["mappings"], [])
        vs = {v["pid"]: v for v in site["victims"]}
        self.assertEqual(set(vs), {self.g.pid, self.u.pid})
        for pid, guarded in ((self.g.pid, True), (self.u.pid, False)):
            v = vs[pid]
            self.assertEqual((v["guarded"], v["comm"], v["count"]), (guarded, "xp_victim", 1), v)
            w, = v["windows"]
            self.assertEqual((int(w["addr"], 16), w["length"], w["pages_beyond_eof"]),
                             (self.win[pid][0], SIZE, SIZE // PAGE), w)
            funcs = [(f["function"], f["line"]) for f in w["creation_stack"]]
            if guarded:
                self.assertIn(("map_file", mmap_line()), funcs)
            else:
                self.assertEqual(funcs, [])


if __name__ == "__main__":
    unittest.main()
