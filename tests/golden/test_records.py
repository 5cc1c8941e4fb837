"""Golden records: one test per record kind (truncate, reopen, sigbus, map_limit, map_count_high,
map_limit_summary, suppressed), each running a real program under the guard.

For each kind the exact JSON field set and order is compared with a list written out by hand from
the record schema (README.md, "JSON records" and "Map-count wall"), and the text block is compared
line by line with a template (a suppressed call has none: only a JSON log file gets its record). Only what differs from run to run is masked: times, and in the text
stack frames (their count and form are checked, not their addresses) and mapping addresses.
Everything the scenario decides (call, sizes, paths, thread names, pids the program printed) is
compared exactly.
"""
import json
import os
import re
import tempfile
import unittest

import mgtest

PAGE = os.sysconf("SC_PAGE_SIZE")
FRAME_KEYS = ["ip", "module", "module_offset", "symbol"]
MAPPING_KEYS = ["addr", "length", "offset", "prot", "shared", "pages_beyond_eof",
                "pages_beyond_eof_total", "path", "tid", "thread_name", "time", "backtrace"]
# truncate / reopen, in the order of the README's table; [optional] members are named per test.
VIOLATION_HEAD = ["event", "action", "call"]
VIOLATION_IDENTITY = ["path", "dev", "ino"]
WHO = ["pid", "tid", "thread_name", "time"]
VIOLATION_TAIL = ["page_size", "backtrace", "mappings", "mappings_total"]
# other processes (the default scope, all; absent with MMAPGUARD_SCOPE=process)
ACROSS = ["scope", "scan", "victims", "victims_total"]
SIGBUS_KEYS = ["event", "action", "fault_addr", "si_code", "si_code_name", "path", "file_status",
               "dev", "ino", "fault_offset", "file_size", "size_at_map", "verdict", "registry",
               "pid", "tid", "thread_name", "time", "page_size", "backtrace", "mappings",
               "mappings_total", "truncation", "cut_by", "note"]
TRUNCATION_KEYS = ["call", "time", "pid", "tid", "thread_name", "size_before", "size_after", "backtrace"]
TIME_RE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
FRAME_LINE = re.compile(r"^mmapguard: ( +)#\d+ +\S+ \(.*\+0x[0-9a-f]+\) 0x[0-9a-f]+$")
WALL_MAX_LIMIT = 300000


def pairs(line):
    """A JSON line as nested (key, value) lists, so duplicate keys and order are both visible."""
    return json.loads(line, object_pairs_hook=lambda kv: [tuple(p) for p in kv])


def keys(obj_pairs):
    return [k for k, _ in obj_pairs]


def as_dict(obj_pairs):
    """Nested pairs back to plain dicts and lists."""
    if isinstance(obj_pairs, list) and all(isinstance(p, tuple) and len(p) == 2
                                           for p in obj_pairs) and obj_pairs:
        return {k: as_dict(v) for k, v in obj_pairs}
    if isinstance(obj_pairs, list):
        return [as_dict(v) for v in obj_pairs]
    return obj_pairs


def record_lines(r, event):
    """The raw JSON lines of one event, in log order."""
    return [line for line in r.logtext.splitlines()
            if line.startswith("{") and json.loads(line).get("event") == event]


def text_blocks(logtext):
    """The text log cut into records: a record starts with 'mmapguard: X' (X not a space)."""
    blocks = []
    for line in logtext.splitlines():
        if re.match(r"^mmapguard: \S", line):
            blocks.append([])
        if blocks:
            blocks[-1].append(line)
    return blocks


def masked(block):
    """Times masked; each run of stack frame lines becomes one '<frames N>' line (N: indent)."""
    out = []
    for line in block:
        m = FRAME_LINE.match(line)
        if m:
            tok = "<frames %d>" % len(m.group(1))
            if not out or out[-1] != tok:
                out.append(tok)
            continue
        out.append(re.sub(TIME_RE, "<time>", line))
    return out


def program_lines(r):
    return [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]


class Golden(mgtest.GuardTest):
    def entry(self, call, *opts, mode="log", fmt="json", env=None):
        d = tempfile.mkdtemp(dir=self.tmp)
        # the scan of other processes finishes however loaded the machine is (no "incomplete" line)
        e = {"MMAPGUARD_SCAN_MS": "60000"}
        e.update(env or {})
        r = mgtest.run([mgtest.test_prog("mg_entry"), call, d] + list(opts), mode=mode, fmt=fmt,
                       env=e)
        self.assertEqual(r.returncode, 0, r.describe())
        out = program_lines(r)
        self.assertEqual(len(out), 1, r.describe())
        return r, out[0]

    def assertFrames(self, frames, what):
        self.assertIsInstance(frames, list, what)
        for f in frames:
            self.assertEqual(keys(f), FRAME_KEYS, what)

    def assertMappings(self, mappings, what):
        for m in mappings:
            self.assertEqual(keys(m), MAPPING_KEYS, what)
            self.assertFrames(dict(m)["backtrace"], what + " mapping backtrace")

    def assertTime(self, value, what):
        self.assertRegex(value, "^" + TIME_RE + "$", what)


class Violations(Golden):
    def check_violation_json(self, r, prog, event, keys_expected, values, across=True):
        if across:
            keys_expected = keys_expected + ACROSS
            # nobody else maps the scenario's fresh file. A call by path cannot prove it with a
            # lease (the program's own mapping is another open file description): the walk does.
            values = dict(dict(scope="all", scan="complete", victims=[], victims_total=0), **values)
        lines = record_lines(r, event)
        self.assertEqual(len(lines), 1, r.describe())
        rec = pairs(lines[0])
        what = lines[0][:400]
        self.assertEqual(keys(rec), keys_expected, what)
        d = as_dict(rec)
        for k, v in values.items():
            self.assertEqual(d[k], v, "%s: %s" % (k, what))
        self.assertTime(d["time"], what)
        self.assertFrames(dict(rec)["backtrace"], what)
        self.assertMappings(dict(rec)["mappings"], what)
        self.assertEqual(len(d["mappings"]), d["mappings_total"], what)
        self.assertTrue(d["backtrace"][0]["symbol"].startswith("do_" + prog["call"] + "+"), what)
        m = d["mappings"][0]
        self.assertEqual((m["addr"], m["length"], m["offset"], m["path"], m["tid"], m["thread_name"]),
                         (prog["addr"], prog["map_len"], prog["map_off"], prog["path"],
                          prog["map_tid"], "mg-mapper"), what)
        self.assertTime(m["time"], what)
        return d

    def test_truncate_logged(self):
        r, p = self.entry("ftruncate")
        keys_expected = (VIOLATION_HEAD + VIOLATION_IDENTITY + ["size_before", "size_after"] + WHO +
                         VIOLATION_TAIL)
        d = self.check_violation_json(r, p, "truncate", keys_expected, {
            "event": "truncate", "action": "logged", "call": "ftruncate", "path": p["path"],
            "dev": p["dev"], "ino": p["ino"], "size_before": 5 * PAGE, "size_after": PAGE,
            "pid": p["pid"], "tid": p["call_tid"], "thread_name": "mg-cutter", "page_size": PAGE,
            "mappings_total": 1, "scan": "lease"})
        m = d["mappings"][0]
        self.assertEqual((m["prot"], m["shared"], m["pages_beyond_eof"], m["pages_beyond_eof_total"]),
                         ("PROT_READ|PROT_WRITE", True, 4, 4))

    def test_truncate_logged_scope_process(self):
        r, p = self.entry("ftruncate", env={"MMAPGUARD_SCOPE": "process"})
        keys_expected = (VIOLATION_HEAD + VIOLATION_IDENTITY + ["size_before", "size_after"] + WHO +
                         VIOLATION_TAIL)
        self.check_violation_json(r, p, "truncate", keys_expected, {
            "event": "truncate", "action": "logged", "call": "ftruncate", "size_before": 5 * PAGE,
            "size_after": PAGE, "mappings_total": 1}, across=False)

    def test_truncate_blocked_with_flags(self):
        r, p = self.entry("open", mode="block")
        keys_expected = (VIOLATION_HEAD + ["flags"] + VIOLATION_IDENTITY +
                         ["size_before", "size_after"] + WHO + ["errno", "errno_name"] +
                         VIOLATION_TAIL)
        self.check_violation_json(r, p, "truncate", keys_expected, {
            "action": "blocked", "call": "open", "flags": "O_WRONLY|O_TRUNC", "size_before": 5 * PAGE,
            "size_after": 0, "errno": 26, "errno_name": "ETXTBSY", "pid": p["pid"],
            "tid": p["call_tid"], "thread_name": "mg-cutter"})

    def test_reopen(self):
        r, p = self.entry("open", "flags=wronly", env={"MMAPGUARD_REOPEN": "write"})
        keys_expected = VIOLATION_HEAD + ["flags"] + VIOLATION_IDENTITY + WHO + VIOLATION_TAIL
        d = self.check_violation_json(r, p, "reopen", keys_expected, {
            "event": "reopen", "action": "logged", "call": "open", "flags": "O_WRONLY",
            "path": p["path"], "pid": p["pid"], "tid": p["call_tid"], "thread_name": "mg-cutter",
            "mappings_total": 1})
        self.assertEqual(d["mappings"][0]["pages_beyond_eof"], 0)
        self.assertEqual(d["mappings"][0]["pages_beyond_eof_total"], 0)

    def test_truncate_text(self):
        r, p = self.entry("truncate", mode="block", fmt="text")
        blocks = text_blocks(r.logtext)
        self.assertEqual(len(blocks), 1, r.logtext)
        dev = "%d:%d" % (os.major(p["dev"]), os.minor(p["dev"]))
        m = re.search(r"endangered mapping 1 of 1: (0x[0-9a-f]+)-(0x[0-9a-f]+) ", r.logtext)
        self.assertIsNotNone(m, r.logtext)
        self.assertEqual(m.group(1), p["addr"])
        self.assertEqual(int(m.group(2), 16) - int(m.group(1), 16), p["map_len"])
        self.assertEqual(masked(blocks[0]), [
            "mmapguard: truncate() would cut a memory-mapped file short: %s" % p["path"],
            "mmapguard:   file dev %s ino %d, size %d -> %d bytes" % (dev, p["ino"], 5 * PAGE, PAGE),
            "mmapguard:   BLOCKED: the call was refused with -1, errno ETXTBSY",
            'mmapguard:   called by thread %d "mg-cutter" of pid %d at <time>:' % (p["call_tid"],
                                                                                  p["pid"]),
            "<frames 4>",
            "mmapguard:   endangered mapping 1 of 1: %s-%s (%d bytes at file offset 0, "
            "PROT_READ|PROT_WRITE, MAP_SHARED) %s" % (m.group(1), m.group(2), p["map_len"], p["path"]),
            "mmapguard:     4 page(s) of it lie beyond the new end of file: touching them raises "
            "SIGBUS",
            'mmapguard:     mapped by thread %d "mg-mapper" at <time>:' % p["map_tid"],
            "<frames 6>",
        ], r.logtext)

    def test_reopen_text(self):
        r, p = self.entry("openat", "flags=rdwr", fmt="text", env={"MMAPGUARD_REOPEN": "write"})
        blocks = text_blocks(r.logtext)
        self.assertEqual(len(blocks), 1, r.logtext)
        dev = "%d:%d" % (os.major(p["dev"]), os.minor(p["dev"]))
        m = re.search(r"live mapping 1 of 1: (0x[0-9a-f]+)-(0x[0-9a-f]+) ", r.logtext)
        self.assertIsNotNone(m, r.logtext)
        self.assertEqual(masked(blocks[0]), [
            "mmapguard: openat(O_RDWR) reopens a memory-mapped file: %s" % p["path"],
            "mmapguard:   file dev %s ino %d" % (dev, p["ino"]),
            "mmapguard:   logged: the call was allowed to proceed",
            'mmapguard:   called by thread %d "mg-cutter" of pid %d at <time>:' % (p["call_tid"],
                                                                                  p["pid"]),
            "<frames 4>",
            "mmapguard:   live mapping 1 of 1: %s-%s (%d bytes at file offset 0, "
            "PROT_READ|PROT_WRITE, MAP_SHARED) %s" % (m.group(1), m.group(2), p["map_len"], p["path"]),
            'mmapguard:     mapped by thread %d "mg-mapper" at <time>:' % p["map_tid"],
            "<frames 6>",
        ], r.logtext)


class Sigbus(Golden):
    def threads(self, fmt):
        d = tempfile.mkdtemp(dir=self.tmp)
        r = mgtest.run([mgtest.test_prog("mg_sigbus"), "threads", d], fmt=fmt)
        steps = program_lines(r)
        mapped = next(s for s in steps if s.get("step") == "mapped")
        fault = next(s for s in steps if s.get("step") == "fault")
        cut = [s for s in steps if s.get("step") == "cut" and s.get("thread") == "mg-cutter"][0]
        return r, mapped, fault, cut

    def test_sigbus_json(self):
        r, mapped, fault, cut = self.threads("json")
        lines = record_lines(r, "sigbus")
        self.assertEqual(len(lines), 1, r.describe())
        rec = pairs(lines[0])
        what = lines[0][:400]
        self.assertEqual(keys(rec), SIGBUS_KEYS, what)
        d = as_dict(rec)
        expect = {"event": "sigbus", "action": "reported", "fault_addr": fault["fault_addr"],
                  "si_code": 2, "si_code_name": "BUS_ADRERR", "path": mapped["path"],
                  "file_status": "present", "dev": mapped["dev"], "ino": mapped["ino"],
                  "fault_offset": fault["fault_offset"], "file_size": fault["file_size"],
                  "size_at_map": 8 * PAGE, "verdict": "truncated", "registry": "exact",
                  "pid": fault["pid"], "tid": fault["tid"], "thread_name": "mg-reader",
                  "page_size": PAGE, "mappings_total": 1}
        for k, v in expect.items():
            self.assertEqual(d[k], v, "%s: %s" % (k, what))
        self.assertTime(d["time"], what)
        self.assertFrames(dict(rec)["backtrace"], what)
        self.assertMappings(dict(rec)["mappings"], what)
        self.assertEqual(len(d["mappings"]), 1, what)
        self.assertEqual(d["mappings"][0]["addr"], mapped["map_addr"], what)
        trunc = dict(rec)["truncation"]
        self.assertEqual(keys(trunc), TRUNCATION_KEYS, what)
        self.assertFrames(dict(trunc)["backtrace"], what)
        t = as_dict(trunc)
        self.assertEqual((t["call"], t["pid"], t["tid"], t["thread_name"], t["size_before"],
                          t["size_after"]),
                         ("ftruncate", fault["pid"], cut["tid"], "mg-cutter", cut["size_before"],
                          cut["size_after"]), what)
        self.assertTime(t["time"], what)
        self.assertEqual(d["note"], "this process truncated the file earlier (see truncation)")

    def test_sigbus_without_truncation(self):
        d = tempfile.mkdtemp(dir=self.tmp)
        r = mgtest.run([mgtest.test_prog("mg_sigbus"), "raw", d])
        lines = record_lines(r, "sigbus")
        self.assertEqual(len(lines), 1, r.describe())
        rec = pairs(lines[0])
        self.assertEqual(keys(rec), SIGBUS_KEYS, lines[0][:400])
        self.assertIsNone(dict(rec)["truncation"])
        self.assertTrue(dict(rec)["note"].startswith("no truncation of this file by this process"))

    def test_sigbus_text(self):
        r, mapped, fault, cut = self.threads("text")
        blocks = [b for b in text_blocks(r.logtext) if b[0].startswith("mmapguard: SIGBUS")]
        self.assertEqual(len(blocks), 1, r.logtext)
        dev = "%d:%d" % (os.major(mapped["dev"]), os.minor(mapped["dev"]))
        end = "0x%x" % (int(mapped["map_addr"], 16) + mapped["map_len"])
        self.assertEqual(masked(blocks[0]), [
            "mmapguard: SIGBUS (BUS_ADRERR) at %s in a mapping of %s" % (fault["fault_addr"],
                                                                         mapped["path"]),
            "mmapguard:   verdict: truncated: file offset %d, file size now %d (file present, "
            "dev %s ino %d)" % (fault["fault_offset"], fault["file_size"], dev, mapped["ino"]),
            'mmapguard:   faulting thread %d "mg-reader" of pid %d at <time>:' % (fault["tid"],
                                                                                 fault["pid"]),
            "<frames 4>",
            'mmapguard:   mapping %s-%s (file offset %d, PROT_READ, MAP_SHARED) mapped by thread '
            '%d "mg-main" at <time>:' % (mapped["map_addr"], end, mapped["map_off"],
                                           mapped["creator_tid"]),
            "<frames 6>",
            "mmapguard:   this process cut the file earlier: ftruncate() %d -> %d bytes by thread "
            '%d "mg-cutter" at <time>:' % (cut["size_before"], cut["size_after"], cut["tid"]),
            "<frames 6>",
        ], r.logtext)


class Suppressed(Golden):
    """A call a suppression excuses (README "Suppressions", "JSON records"): a short suppressed
    record in a JSON log file (mg_entry with MMAPGUARD_SUPPRESS; supp_prog with a rule file for
    the counts and the tally at exit), nothing in a text log or on stderr."""
    HEAD = ["event", "kind", "call"]
    IDENTITY = ["path", "dev", "ino"]
    SIZES = ["size_before", "size_after"]
    TAIL = ["rule", "rule_file", "count", "site", "mappings_total", "pid", "tid", "thread_name",
            "time", "backtrace"]
    TALLY = ["event", "site", "count", "final", "pid", "time"]

    def entry(self, call, *opts, mode="block", fmt="json", env=None):
        e = {"MMAPGUARD_SUPPRESS": "*"}
        e.update(env or {})
        return super().entry(call, *opts, mode=mode, fmt=fmt, env=e)

    def check(self, r, prog, keys_expected, values):
        lines = record_lines(r, "suppressed")
        self.assertEqual(len(lines), 1, r.describe())
        self.assertEqual(record_lines(r, "truncate") + record_lines(r, "reopen"), [], r.describe())
        self.assertEqual(r.stderr, "", r.describe())
        rec = pairs(lines[0])
        what = lines[0][:400]
        self.assertEqual(keys(rec), keys_expected, what)
        d = as_dict(rec)
        expected = {"event": "suppressed", "path": prog["path"], "dev": prog["dev"],
                    "ino": prog["ino"], "rule": "MMAPGUARD_SUPPRESS", "rule_file": None,
                    "count": 1, "mappings_total": 1, "pid": prog["pid"], "tid": prog["call_tid"],
                    "thread_name": "mg-cutter"}
        expected.update(values)
        for k, v in expected.items():
            self.assertEqual(d[k], v, "%s: %s" % (k, what))
        self.assertRegex(d["site"], "^0x[0-9a-f]+$", what)
        self.assertTime(d["time"], what)
        self.assertFrames(dict(rec)["backtrace"], what)
        self.assertTrue(d["backtrace"][0]["symbol"].startswith("do_" + prog["call"] + "+"), what)

    def test_suppressed_truncate(self):
        r, p = self.entry("ftruncate")
        self.check(r, p, self.HEAD + self.IDENTITY + self.SIZES + self.TAIL, {
            "kind": "truncate", "call": "ftruncate", "size_before": 5 * PAGE, "size_after": PAGE})

    def test_suppressed_truncate_with_flags(self):
        r, p = self.entry("open")
        self.check(r, p, self.HEAD + ["flags"] + self.IDENTITY + self.SIZES + self.TAIL, {
            "kind": "truncate", "call": "open", "flags": "O_WRONLY|O_TRUNC", "size_before": 5 * PAGE,
            "size_after": 0})

    def test_suppressed_reopen(self):
        r, p = self.entry("open", "flags=wronly", env={"MMAPGUARD_REOPEN": "write"})
        self.check(r, p, self.HEAD + ["flags"] + self.IDENTITY + self.TAIL, {
            "kind": "reopen", "call": "open", "flags": "O_WRONLY"})

    def test_suppressed_counts_and_tally(self):
        data = tempfile.mkdtemp(dir=self.tmp)
        rules = os.path.join(self.tmp, "golden.supp")
        with open(rules, "w") as f:
            f.write("suppress golden-a\n  cutter *:cut_a\n")
        r = mgtest.run([mgtest.test_prog("supp_prog"), data, "A", "A", "A"], mode="block",
                       env={"MMAPGUARD_SUPPRESSIONS": rules})
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "A 0\nA 0\nA 0\n", ""),
                         r.describe())
        lines = record_lines(r, "suppressed")
        self.assertEqual(len(lines), 3, r.describe())
        recs = [pairs(l) for l in lines]
        for rec, line in zip(recs[:2], lines):
            self.assertEqual(keys(rec), self.HEAD + self.IDENTITY + self.SIZES + self.TAIL, line)
        calls = [as_dict(rec) for rec in recs[:2]]
        self.assertEqual([(c["kind"], c["call"], c["path"], c["size_before"], c["size_after"],
                           c["rule"], c["rule_file"], c["count"], c["mappings_total"])
                          for c in calls],
                         [("truncate", "ftruncate", os.path.join(data, "a.dat"), 8192, 4096,
                           "golden-a", rules, n, 1) for n in (1, 2)], lines)
        self.assertEqual(calls[0]["site"], calls[1]["site"], lines)
        self.assertEqual(calls[0]["tid"], calls[0]["pid"], lines)    # supp_prog has one thread
        self.assertEqual(calls[0]["thread_name"], "supp_prog", lines)
        self.assertTrue(calls[0]["backtrace"][0]["symbol"].startswith("cut_a+"), lines)
        self.assertEqual(keys(recs[2]), self.TALLY, lines[2])
        tally = as_dict(recs[2])
        self.assertEqual((tally["event"], tally["site"], tally["count"], tally["final"], tally["pid"]),
                         ("suppressed", calls[0]["site"], 3, True, calls[0]["pid"]), lines[2])
        self.assertTime(tally["time"], lines[2])

    def test_suppressed_text(self):
        """No text form: a text log and stderr stay empty, the call proceeds."""
        r, p = self.entry("ftruncate", fmt="text")
        self.assertEqual((p["call"], r.logtext, r.stderr), ("ftruncate", "", ""), r.describe())


class MapCount(Golden):
    """mc_wall reaches the real vm.max_map_count (tests/mapcount/): map_count_high on the way,
    map_limit for each refused munmap, map_limit_summary at exit."""

    @classmethod
    def setUpClass(cls):
        with open("/proc/sys/vm/max_map_count") as f:
            cls.limit = int(f.read())
        if cls.limit > WALL_MAX_LIMIT:
            raise unittest.SkipTest("vm.max_map_count=%d: reaching it would take too long" % cls.limit)
        mgtest.require_lib(unittest.TestCase())
        prog = mgtest.test_prog("mc_wall")
        cls.json_run = mgtest.run([prog, "munmap"], timeout=300)
        cls.text_run = mgtest.run([prog, "munmap"], fmt="text", timeout=300)

    HEAD = ["event", "action"]
    CALL = ["call", "addr", "length", "errno", "errno_name"]
    COUNTS = ["vma_count", "max_map_count"]
    TAIL = ["pid", "tid", "thread_name", "time", "explanation", "remedy", "backtrace"]

    def one_kind(self, event):
        r = self.json_run
        self.assertEqual(r.returncode, 0, r.describe()[:3000])
        lines = record_lines(r, event)
        self.assertTrue(lines, "no %s record\n%s" % (event, r.describe()[:3000]))
        return [pairs(l) for l in lines], lines

    def check_common(self, rec, line):
        d = as_dict(rec)
        self.assertEqual(d["max_map_count"], self.limit, line[:400])
        self.assertEqual(d["tid"], d["pid"], line[:400])         # mc_wall has one thread
        self.assertEqual(d["thread_name"], "mc_wall", line[:400])
        self.assertTime(d["time"], line[:400])
        self.assertFrames(dict(rec)["backtrace"], line[:400])
        return d

    def test_map_limit_json(self):
        recs, lines = self.one_kind("map_limit")
        fails = [o for o in program_lines(self.json_run) if o.get("fail") == "munmap"]
        self.assertEqual(len(recs), len(fails))
        for rec, line, fail in zip(recs, lines, fails):
            self.assertEqual(keys(rec), self.HEAD + self.CALL + self.COUNTS + self.TAIL, line[:400])
            d = self.check_common(rec, line)
            self.assertEqual((d["event"], d["action"], d["call"], d["addr"], d["length"], d["errno"],
                              d["errno_name"]),
                             ("map_limit", "logged", "munmap", fail["addr"], fail["length"], 12,
                              "ENOMEM"), line[:400])

    def test_map_count_high_json(self):
        recs, lines = self.one_kind("map_count_high")
        self.assertEqual(len(recs), 1)
        self.assertEqual(keys(recs[0]), self.HEAD + self.COUNTS + ["threshold"] + self.TAIL, lines[0])
        d = self.check_common(recs[0], lines[0])
        self.assertEqual((d["event"], d["action"], d["threshold"]),
                         ("map_count_high", "logged", self.limit * 90 // 100))

    def test_map_limit_summary_json(self):
        recs, lines = self.one_kind("map_limit_summary")
        self.assertEqual(len(recs), 1)
        self.assertEqual(keys(recs[0]),
                         self.HEAD + self.COUNTS + ["failures", "bytes_not_returned"] + self.TAIL,
                         lines[0])
        d = self.check_common(recs[0], lines[0])
        n = program_lines(self.json_run)[-1]["munmap_failures"]
        self.assertEqual((d["event"], d["action"], d["failures"], d["bytes_not_returned"],
                          d["backtrace"]), ("map_limit_summary", "logged", n, n * PAGE, []))

    def text_of(self, event):
        r = self.text_run
        self.assertEqual(r.returncode, 0, r.describe()[:3000])
        return [masked(b) for b in text_blocks(r.logtext)
                if re.match(r"^mmapguard: %s(:|$)" % event, b[0])]

    def explanation(self, event):
        return as_dict(self.one_kind(event)[0][0])

    def test_map_limit_text(self):
        blocks = self.text_of("map_limit")
        fails = [o for o in program_lines(self.text_run) if o.get("fail") == "munmap"]
        self.assertEqual(len(blocks), len(fails))
        j = self.explanation("map_limit")
        for b, fail in zip(blocks, fails):
            n = re.match(r"^mmapguard:   the process has (\d+) memory mappings", b[1])
            self.assertIsNotNone(n, b)
            tid = re.match(r'^mmapguard:   thread (\d+) "mc_wall" at <time>:$', b[4])
            self.assertIsNotNone(tid, b)
            self.assertEqual(b, [
                "mmapguard: map_limit: munmap(%s, %d) failed with ENOMEM" % (fail["addr"],
                                                                             fail["length"]),
                "mmapguard:   the process has %s memory mappings; vm.max_map_count is %d"
                % (n.group(1), self.limit),
                "mmapguard:   " + j["explanation"],
                "mmapguard:   remedy: " + j["remedy"],
                'mmapguard:   thread %s "mc_wall" at <time>:' % tid.group(1),
                "<frames 4>",
            ])

    def test_map_count_high_text(self):
        blocks = self.text_of("map_count_high")
        self.assertEqual(len(blocks), 1)
        b = blocks[0]
        j = self.explanation("map_count_high")
        n = re.match(r"^mmapguard:   the process has (\d+) memory mappings", b[1])
        tid = re.match(r'^mmapguard:   thread (\d+) "mc_wall" at <time>:$', b[4])
        self.assertTrue(n and tid, b)
        self.assertEqual(b, [
            "mmapguard: map_count_high",
            "mmapguard:   the process has %s memory mappings; vm.max_map_count is %d"
            % (n.group(1), self.limit),
            "mmapguard:   " + j["explanation"],
            "mmapguard:   remedy: " + j["remedy"],
            'mmapguard:   thread %s "mc_wall" at <time>:' % tid.group(1),
            "<frames 4>",
        ])

    def test_map_limit_summary_text(self):
        blocks = self.text_of("map_limit_summary")
        self.assertEqual(len(blocks), 1)
        b = blocks[0]
        j = self.explanation("map_limit_summary")
        n = program_lines(self.text_run)[-1]["munmap_failures"]
        vmas = re.match(r"^mmapguard:   the process has (\d+) memory mappings", b[1])
        tid = re.match(r'^mmapguard:   thread (\d+) "mc_wall" at <time>:$', b[4])
        self.assertTrue(vmas and tid, b)
        self.assertEqual(b, [
            "mmapguard: map_limit_summary: %d mapping call(s) refused; %d bytes were not returned "
            "to the system" % (n, n * PAGE),
            "mmapguard:   the process has %s memory mappings; vm.max_map_count is %d"
            % (vmas.group(1), self.limit),
            "mmapguard:   " + j["explanation"],
            "mmapguard:   remedy: " + j["remedy"],
            'mmapguard:   thread %s "mc_wall" at <time>:' % tid.group(1),
        ])


if __name__ == "__main__":
    unittest.main()
