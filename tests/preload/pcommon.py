"""Helpers shared by the tests of tests/preload/: running mg_entry and checking its records."""
import errno
import json
import os
import re
import subprocess
import sys

import mgtest

PAGE = os.sysconf("SC_PAGE_SIZE")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
HEX_RE = re.compile(r"^0x[0-9a-f]+$")
PLAIN, FORTIFY, FORTIFY32 = "mg_entry", "mg_entry_fortify", "mg_entry_fortify32"


def round_up(v, page=PAGE):
    return (v + page - 1) // page * page


def pages_beyond(off, length, size, page=PAGE):
    """Pages of the window [off, off+length) wholly beyond a file size (independent oracle)."""
    end = off + round_up(length)
    first_unbacked = max(round_up(size), off)
    return (end - first_unbacked) // page if first_unbacked < end else 0


def endangered(off, length, old, new, page=PAGE):
    """The rule, written out page by page: does some page of the window go backed -> unbacked?"""
    end = off + round_up(length)
    for p in range(off, end, page):
        backed_before = p < round_up(old)
        backed_after = p < round_up(new)
        if backed_before and not backed_after:
            return True
    return False


def argv_opts(opts):
    out = []
    for k, v in opts.items():
        if isinstance(v, bytes):
            out.append(k.encode() + b"=" + v)
        else:
            out.append("%s=%s" % (k, v))
    return out


class PreloadTest(mgtest.GuardTest):
    """GuardTest with mg_entry runners and record checks."""

    def prog(self, binary=PLAIN):
        return mgtest.test_prog(binary)

    def call(self, call, mode="log", binary=PLAIN, env=None, preload=True, fmt="json", **opts):
        """Run `mg_entry CALL tmp opts...`; returns (Run, the program's JSON line)."""
        argv = [self.prog(binary), call, self.tmp] + argv_opts(opts)
        if any(isinstance(a, bytes) for a in argv):
            argv = [os.fsencode(a) for a in argv]
        r = mgtest.run(argv, mode=mode, env=env, preload=preload, fmt=fmt)
        self.assertEqual(r.returncode, 0, "mg_entry %s failed:\n%s" % (call, r.describe()))
        lines = r.stdout.splitlines()
        self.assertTrue(lines, "mg_entry printed nothing:\n" + r.describe())
        try:
            out = json.loads(lines[-1])
        except ValueError:
            self.fail("mg_entry printed no JSON:\n" + r.describe())
        if fmt == "json":
            self.assertValidLog(r)
        return r, out

    def script(self, *steps, mode="log", env=None, binary=PLAIN):
        """Run `mg_entry script tmp STEP...`; returns (Run, list of step outputs)."""
        argv = [self.prog(binary), "script", self.tmp] + [str(s) for s in steps]
        r = mgtest.run(argv, mode=mode, env=env)
        self.assertEqual(r.returncode, 0, "mg_entry script failed:\n" + r.describe())
        self.assertValidLog(r)
        return r, [json.loads(l) for l in r.stdout.splitlines()]

    def fresh_dir(self):
        """Empty the per-test directory (between runs of one test)."""
        for n in os.listdir(self.tmp):
            os.unlink(os.path.join(self.tmp, n))

    # ---- record checks ----------------------------------------------------------------------

    def one_record(self, r, event=None):
        self.assertEqual(len(r.records), 1,
                         "expected exactly one record, got %d:\n%s" % (len(r.records), r.describe()))
        rec = r.records[0]
        if event:
            self.assertEqual(rec.get("event"), event, "event of the record:\n" + r.describe())
        return rec

    def check_frame0(self, stack, function, module, what, r):
        self.assertTrue(stack, "%s: empty backtrace:\n%s" % (what, r.describe()))
        f0 = stack[0]
        self.assertEqual(set(f0), {"ip", "module", "module_offset", "symbol"},
                         "%s: frame keys" % what)
        self.assertRegex(f0["ip"], HEX_RE, what)
        self.assertRegex(f0["module_offset"], HEX_RE, what)
        sym = f0["symbol"]
        self.assertIsNotNone(sym, "%s: frame 0 has no symbol:\n%s" % (what, r.describe()))
        self.assertRegex(sym, r"^%s\+0x[0-9a-f]+$" % re.escape(function),
                         "%s: frame 0 should be the caller %s:\n%s" % (what, function, r.describe()))
        if module:
            self.assertEqual(os.path.realpath(f0["module"]), os.path.realpath(module),
                             "%s: module of frame 0" % what)
        for f in stack:
            self.assertNotIn("libmmapguard", f["module"] or "",
                             "%s: shim frame in backtrace:\n%s" % (what, r.describe()))

    def check_mapping(self, m, r, addr, length, offset, prot="PROT_READ|PROT_WRITE", shared=True,
                      beyond=None, path=None, tid=None, thread_name=None, creator="map_file",
                      module=None, sizes=None):
        """beyond: all pages of the window beyond the new end (pages_beyond_eof_total); sizes:
        (before, after) of the cut, for the pages it newly cut (pages_beyond_eof)."""
        what = "mapping at %s" % m.get("addr")
        self.assertEqual(int(m["addr"], 16), addr,
                         "mapping addr: got %s want %#x\n%s" % (m["addr"], addr, r.describe()))
        self.assertRegex(m["addr"], HEX_RE)
        self.assertEqual(m["length"], length, "%s: length\n%s" % (what, r.describe()))
        self.assertEqual(m["offset"], offset, "%s: offset\n%s" % (what, r.describe()))
        self.assertEqual(m["prot"], prot, "%s: prot" % what)
        self.assertIs(m["shared"], shared, "%s: shared" % what)
        if beyond is not None:
            self.assertEqual(m["pages_beyond_eof_total"], beyond,
                             "%s: pages_beyond_eof_total\n%s" % (what, r.describe()))
        if sizes is not None:
            cut = pages_beyond(offset, length, sizes[1]) - pages_beyond(offset, length, sizes[0])
            self.assertEqual(m["pages_beyond_eof"], cut, "%s: pages_beyond_eof\n%s" % (what, r.describe()))
        if path is not None:
            self.assertEqual(m["path"], path, "%s: path" % what)
        if tid is not None:
            self.assertEqual(m["tid"], tid, "%s: creator tid" % what)
        if thread_name is not None:
            self.assertEqual(m["thread_name"], thread_name, "%s: creator thread name" % what)
        self.assertRegex(m["time"], TIME_RE, "%s: time" % what)
        if creator:
            self.check_frame0(m["backtrace"], creator, module, what + " creation stack", r)

    def check_common(self, rec, r, out, call, path, thread_name="mg-cutter"):
        """Fields every record of a mg_entry CALL run has."""
        self.assertEqual(rec["call"], call, "call name:\n" + r.describe())
        self.assertEqual(rec["path"], path, "path:\n" + r.describe())
        self.assertEqual(rec["dev"], out["dev"], "dev")
        self.assertEqual(rec["ino"], out["ino"], "ino")
        self.assertEqual(rec["pid"], out["pid"], "pid")
        self.assertEqual(rec["tid"], out["call_tid"], "tid: the calling thread")
        self.assertEqual(rec["thread_name"], thread_name, "thread_name")
        self.assertRegex(rec["time"], TIME_RE, "time")
        self.assertEqual(rec["page_size"], PAGE, "page_size")


def nm_undefined(path):
    """Names a binary imports (nm -D --undefined-only), versions stripped."""
    p = subprocess.run(["nm", "-D", "--undefined-only", path], capture_output=True, text=True,
                       timeout=60)
    if p.returncode != 0:
        raise AssertionError("nm -D %s failed: %s" % (path, p.stderr))
    names = set()
    for line in p.stdout.splitlines():
        parts = line.split()
        if parts:
            names.add(parts[-1].split("@")[0])
    return names


ERRNO = errno
