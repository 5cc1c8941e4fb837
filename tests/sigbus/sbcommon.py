"""Shared helpers of the SIGBUS tests: run mg_sigbus, parse its steps, check a "sigbus" record.

mg_sigbus (mg_sigbus.c) prints one JSON object per step on stdout ("mapped", "fault", "cut",
"handler", ...); the guard writes its records to a private log (mgtest.run). check_record()
compares a record with what the program said and with the spec's rules.
"""
import json
import os
import re
import signal
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import mgtest  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")
SIGBUS = int(signal.SIGBUS)
BUS_ADRERR = 2
SKIP_STATUS = 77            # mg_sigbus: "this scenario cannot run here"
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
HEX_RE = re.compile(r"^0x[0-9a-f]+$")
SIGBUS_KEYS = {"event", "action", "fault_addr", "si_code", "si_code_name", "path", "file_status",
               "dev", "ino", "fault_offset", "file_size", "verdict", "registry", "pid", "tid",
               "thread_name", "time", "page_size", "backtrace", "mappings", "mappings_total",
               "truncation", "note"}
MAPPING_KEYS = {"addr", "length", "offset", "prot", "shared", "pages_beyond_eof", "path", "tid",
                "thread_name", "time", "backtrace"}
TRUNCATION_KEYS = {"call", "time", "tid", "thread_name", "size_before", "size_after", "backtrace"}
FRAME_KEYS = {"ip", "module", "module_offset", "symbol"}


def round_up(v, page=PAGE):
    return (v + page - 1) // page * page


def pages_beyond(off, length, size):
    """Pages of the window [off, off+length) wholly beyond size (the spec's pages_beyond_eof)."""
    limit = max(round_up(size), off)
    end = off + length
    return (end - limit) // PAGE if limit < end else 0


def verdict_for(offset, size, size_at_map=None, linked=False):
    if size is None:
        return "unknown"
    if offset < round_up(size):
        return "io_error"
    # past EOF now; if it was already past EOF when mapped and no cut of this process is known,
    # the guard does not call it a truncation
    if not linked and size_at_map is not None and offset >= round_up(size_at_map):
        return "beyond_eof_at_map"
    return "truncated"


def prog():
    return mgtest.test_prog("mg_sigbus")


def pre_lib():
    path = os.path.join(mgtest.BIN, "mg_sigbus_pre.so")
    if not os.path.exists(path):
        raise unittest.SkipTest("%s was not built" % path)
    return path


def parse_steps(text):
    steps, bad = [], []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            steps.append(json.loads(line))
        except ValueError:
            bad.append(line)
    return steps, bad


class SigbusTest(mgtest.GuardTest):
    """GuardTest with mg_sigbus helpers."""

    def run_prog(self, scenario, *opts, mode="log", env=None, preload=True, fmt="json",
                 workdir=None, **kw):
        workdir = workdir or self.tmp
        r = mgtest.run([prog(), scenario, workdir] + list(opts), mode=mode, env=env,
                       preload=preload, fmt=fmt, **kw)
        r.steps, bad = parse_steps(r.stdout)
        self.assertEqual(bad, [], "mg_sigbus printed lines that are not JSON:\n" + r.describe())
        if r.returncode == SKIP_STATUS:
            skip = [s for s in r.steps if s.get("step") == "skip"]
            raise unittest.SkipTest(skip[0]["reason"] if skip else "mg_sigbus exited 77")
        self.assertNotEqual(r.returncode, 2, "mg_sigbus failed to set up:\n" + r.describe())
        self.assertValidLog(r)
        return r

    # ---- program output ----

    def steps(self, r, name):
        return [s for s in r.steps if s.get("step") == name]

    def one(self, r, name):
        s = self.steps(r, name)
        self.assertEqual(len(s), 1, "expected one %r step:\n%s" % (name, r.describe()))
        return s[0]

    # ---- exit status ----

    def assertKilledBySigbus(self, r):
        self.assertEqual(r.returncode, -SIGBUS,
                         "expected death by SIGBUS (returncode -7):\n" + r.describe())

    def assertExit(self, r, code):
        self.assertEqual(r.returncode, code, "expected exit status %d:\n%s" % (code, r.describe()))

    # ---- records ----

    def only_sigbus(self, r, count=1):
        """All records are sigbus records, and there are count of them."""
        others = [x for x in r.records if x.get("event") != "sigbus"]
        self.assertEqual(others, [], "records other than sigbus:\n" + r.describe())
        recs = r.events("sigbus")
        self.assertEqual(len(recs), count, "expected %d sigbus record(s):\n%s" % (count, r.describe()))
        return recs

    def check_frames(self, frames, what, r):
        self.assertIsInstance(frames, list, what)
        for f in frames:
            self.assertTrue(FRAME_KEYS <= set(f), "%s: frame lacks keys: %r" % (what, f))
            self.assertRegex(f["ip"], HEX_RE, what)
            self.assertRegex(f["module_offset"], HEX_RE, what)

    def assertFrame0(self, frames, func, what, r):
        self.assertTrue(frames, "%s: empty backtrace:\n%s" % (what, r.describe()))
        sym = frames[0].get("symbol") or ""
        self.assertTrue(sym.startswith(func + "+"),
                        "%s: frame 0 should name %s, got %r (module %r)\n%s"
                        % (what, func, sym, frames[0].get("module"), r.describe()))
        self.assertEqual(os.path.realpath(frames[0]["module"]), os.path.realpath(prog()),
                         "%s: frame 0 module" % what)

    def check_record(self, r, rec, *, fault, mapped, file_status="present", file_size,
                     verdict=None, thread_name="mg_sigbus", registry=("exact",),
                     reader="read_mapped_byte", path=None, mapping_thread=None,
                     prot="PROT_READ", shared=True, truncation=None):
        """Compare one sigbus record with the program's "fault" and "mapped" steps."""
        ctx = "\n" + r.describe()
        self.assertTrue(SIGBUS_KEYS <= set(rec), "missing fields %s%s"
                        % (sorted(SIGBUS_KEYS - set(rec)), ctx))
        self.assertEqual(rec["event"], "sigbus", ctx)
        self.assertEqual(rec["action"], "reported", ctx)
        self.assertRegex(rec["fault_addr"], HEX_RE, ctx)
        self.assertEqual(int(rec["fault_addr"], 16), int(fault["fault_addr"], 16),
                         "fault_addr" + ctx)
        self.assertEqual(rec["si_code"], BUS_ADRERR, "si_code" + ctx)
        self.assertEqual(rec["si_code_name"], "BUS_ADRERR", ctx)
        self.assertEqual(rec["path"], path if path is not None else mapped["path"], "path" + ctx)
        self.assertEqual(rec["file_status"], file_status, "file_status" + ctx)
        self.assertEqual((rec["dev"], rec["ino"]), (mapped["dev"], mapped["ino"]), "dev/ino" + ctx)
        self.assertEqual(rec["fault_offset"], fault["fault_offset"], "fault_offset" + ctx)
        self.assertEqual(rec["file_size"], file_size, "file_size" + ctx)
        # the spec's rule, and what this test expects of it
        self.assertEqual(rec["verdict"], verdict_for(rec["fault_offset"], rec["file_size"],
                                                     rec.get("size_at_map"),
                                                     rec.get("truncation") is not None),
                         "verdict does not follow the offset rule" + ctx)
        if verdict is not None:
            self.assertEqual(rec["verdict"], verdict, "verdict" + ctx)
        self.assertIn(rec["registry"], registry, "registry" + ctx)
        self.assertEqual(rec["pid"], fault["pid"], "pid" + ctx)
        self.assertEqual(rec["tid"], fault["tid"], "tid" + ctx)
        self.assertEqual(rec["thread_name"], thread_name, "thread_name" + ctx)
        self.assertRegex(rec["time"], TIME_RE, ctx)
        self.assertEqual(rec["page_size"], PAGE, ctx)
        self.check_frames(rec["backtrace"], "faulting stack", r)
        self.assertFrame0(rec["backtrace"], reader, "faulting stack", r)

        self.assertEqual(rec["mappings_total"], 1, ctx)
        self.assertIsInstance(rec["mappings"], list, ctx)
        self.assertEqual(len(rec["mappings"]), 1, ctx)
        m = rec["mappings"][0]
        self.assertTrue(MAPPING_KEYS <= set(m), "mapping lacks %s%s"
                        % (sorted(MAPPING_KEYS - set(m)), ctx))
        self.assertEqual(int(m["addr"], 16), int(mapped["map_addr"], 16), "mapping addr" + ctx)
        self.assertEqual(m["length"], round_up(mapped["map_len"]), "mapping length" + ctx)
        self.assertEqual(m["offset"], mapped["map_off"], "mapping offset" + ctx)
        self.assertEqual(m["prot"], prot, ctx)
        self.assertIs(m["shared"], shared, ctx)
        expect_beyond = (pages_beyond(m["offset"], m["length"], file_size)
                         if file_size is not None else 0)
        self.assertEqual(m["pages_beyond_eof"], expect_beyond, "pages_beyond_eof" + ctx)
        self.assertEqual(m["path"], rec["path"], "mapping path" + ctx)
        self.assertEqual(m["tid"], mapped["creator_tid"], "mapping tid" + ctx)
        self.assertEqual(m["thread_name"], mapping_thread or thread_name, "mapping thread" + ctx)
        self.assertRegex(m["time"], TIME_RE, ctx)
        self.check_frames(m["backtrace"], "creation stack", r)
        self.assertFrame0(m["backtrace"], "map_file", "creation stack", r)

        note = rec["note"]
        self.assertIsInstance(note, str, ctx)
        if truncation is None:
            self.assertIsNone(rec["truncation"], "truncation should be null" + ctx)
            if rec["verdict"] != "io_error":
                self.assertIn("another process", note, ctx)
                # a guarded cutter is named in cut_by (scope guarded/all); else nobody could see it
                self.assertIn("cut_by" if rec.get("cut_by") else "cannot see", note, ctx)
        else:
            t = rec["truncation"]
            self.assertIsInstance(t, dict, "truncation should be an object" + ctx)
            self.assertTrue(TRUNCATION_KEYS <= set(t), "truncation lacks %s%s"
                            % (sorted(TRUNCATION_KEYS - set(t)), ctx))
            for k, v in truncation.items():
                self.assertEqual(t[k], v, "truncation.%s%s" % (k, ctx))
            self.assertRegex(t["time"], TIME_RE, ctx)
            self.check_frames(t["backtrace"], "truncation stack", r)
            self.assertNotIn("another process", note, ctx)
        if rec["verdict"] == "io_error":
            self.assertIn("I/O error", note, ctx)
        return rec
