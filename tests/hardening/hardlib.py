"""Helpers for tests/hardening: the programs' EXPECT lines matched against the guard's records.

A hardening program announces every violation it commits with a line
    EXPECT pid=P tid=T call=NAME path=/abs/path before=B after=A
(hard_common.h). check_records() finds, for each such line, the one record that reports it and
checks it field by field against what the test knows independently (os.stat of the file, the
sizes the program used, the page size), then complains about records nobody announced.
"""
import os
import re
import shutil
import subprocess

import mgtest

PAGE = os.sysconf("SC_PAGE_SIZE")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
HEX_RE = re.compile(r"^0x[0-9a-f]+$")
SYS_PYTHON = "/usr/bin/python3"
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
TCMALLOC = "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4"
HERE = os.path.dirname(os.path.abspath(__file__))


def parse_lines(text, tag):
    """key=value lines starting with tag, as dicts (values converted to int where they are)."""
    out = []
    for line in text.splitlines():
        if not line.startswith(tag + " "):
            continue
        d = {}
        for part in line.split()[1:]:
            if "=" in part:
                k, v = part.split("=", 1)
                try:
                    d[k] = int(v)
                except ValueError:
                    d[k] = v
        out.append(d)
    return out


def expectations(text):
    return parse_lines(text, "EXPECT")


def round_up(v, page=PAGE):
    return (v + page - 1) // page * page


def pages_beyond(off, length, size, page=PAGE):
    end = off + length
    limit = max(round_up(size, page), off)
    return (end - limit) // page if limit < end else 0


def short(run, limit=3000):
    """A bounded description of a run: status, the program's lines other than EXPECT, stderr and
    the log, each cut to its last `limit` characters."""
    other = "\n".join(ln for ln in run.stdout.splitlines() if not ln.startswith("EXPECT "))
    return "rc=%s\nstdout (without EXPECT lines):\n%s\nstderr:\n%s\nlog (%d records):\n%s" % (
        run.returncode, other[-limit:], run.stderr[-limit:], len(run.records), run.logtext[-limit:])


def describe(rec):
    keep = {k: rec.get(k) for k in ("event", "action", "call", "path", "pid", "tid", "size_before",
                                    "size_after", "mappings_total")}
    return repr(keep)


class HardTest(mgtest.GuardTest):
    """GuardTest plus record matching."""

    def program(self, name):
        return mgtest.test_prog(name)

    def assertRan(self, r, rc=0):
        fails = [ln for ln in r.stdout.splitlines() if ln.startswith("FAIL ")]
        self.assertEqual(fails, [], "the program reported a failed check\n" + short(r))
        self.assertEqual(r.returncode, rc, "program exit status\n" + short(r))

    def check_record(self, rec, exp, action="logged", stat=True, where=""):
        """One record against one EXPECT line. Fields the program knows, os.stat, the rule."""
        ctx = "%s\nrecord: %s\nexpected: %s" % (where, describe(rec), exp)
        self.assertEqual(rec.get("event"), "truncate", ctx)
        self.assertEqual(rec.get("action"), action, ctx)
        self.assertEqual(rec.get("call"), exp["call"], ctx)
        self.assertEqual(rec.get("pid"), exp["pid"], ctx)
        self.assertEqual(rec.get("tid"), exp["tid"], ctx)
        self.assertEqual(rec.get("size_before"), exp["before"], ctx)
        self.assertEqual(rec.get("size_after"), exp["after"], ctx)
        self.assertEqual(rec.get("page_size"), PAGE, ctx)
        self.assertRegex(rec.get("time", ""), TIME_RE, ctx)
        self.assertIsInstance(rec.get("backtrace"), list, ctx)
        if action == "blocked":
            self.assertEqual(rec.get("errno_name"), "ETXTBSY", ctx)
        # the path: as named (absolute) or the fd's /proc link, i.e. the file's real path
        self.assertEqual(os.path.realpath(rec.get("path", "")), os.path.realpath(exp["path"]), ctx)
        if stat and os.path.exists(exp["path"]):
            st = os.stat(exp["path"])
            self.assertEqual((rec.get("dev"), rec.get("ino")), (st.st_dev, st.st_ino),
                             "dev/ino differ from os.stat\n" + ctx)
        maps = rec.get("mappings")
        self.assertIsInstance(maps, list, ctx)
        self.assertGreaterEqual(len(maps), 1, ctx)
        self.assertEqual(rec.get("mappings_total"), len(maps), ctx)
        for m in maps:
            self.assertRegex(m.get("addr", ""), HEX_RE, ctx)
            self.assertEqual(m["length"] % PAGE, 0, ctx)
            self.assertIsInstance(m.get("backtrace"), list, ctx)
            total = pages_beyond(m["offset"], m["length"], exp["after"])
            self.assertEqual(m.get("pages_beyond_eof_total"), total, "pages_beyond_eof_total\n" + ctx)
            # the pages this call cut: beyond the new end, and not already beyond the old one
            want = total - pages_beyond(m["offset"], m["length"], exp["before"])
            self.assertEqual(m.get("pages_beyond_eof"), want, "pages_beyond_eof\n" + ctx)
            self.assertGreater(want, 0, "a reported window must be cut\n" + ctx)
            if m.get("path"):
                self.assertTrue(m["path"].startswith(os.path.realpath(exp["path"])),
                                "mapping path %r\n%s" % (m["path"], ctx))

    def match(self, run, exps, action="logged", optional=(), allow_extra=None, stat=True):
        """Every EXPECT has its record (except those in optional: may be missing); every record is
        expected, or accepted by allow_extra(rec). Returns {index of exp: record}."""
        self.assertEqual(run.malformed, [], "malformed log lines\n" + short(run))

        def key(pid, tid, call, path, before, after):
            return (pid, tid, call, os.path.realpath(path or ""), before, after)

        index = {}
        for j, r in enumerate(run.records):
            k = key(r.get("pid"), r.get("tid"), r.get("call"), r.get("path"),
                    r.get("size_before"), r.get("size_after"))
            index.setdefault(k, []).append(j)
        used = set()
        found = {}
        # required expectations first: an optional one must not take a record a required one needs
        order = [i for i in range(len(exps)) if i not in optional] + \
            [i for i in range(len(exps)) if i in optional]
        for i in order:
            e = exps[i]
            cand = index.get(key(e["pid"], e["tid"], e["call"], e["path"], e["before"],
                                 e["after"]), [])
            if not cand:
                if i in optional:
                    continue
                near = [describe(r) for r in run.records if r.get("pid") == e["pid"]][:20]
                self.fail("no record for %s\n%d records; this pid's first ones:\n%s\n"
                          "stderr:\n%s" % (e, len(run.records), "\n".join(near),
                                           run.stderr[-3000:]))
            j = cand.pop(0)
            used.add(j)
            found[i] = run.records[j]
            self.check_record(run.records[j], e, action=action, stat=stat)
        extra = [r for j, r in enumerate(run.records) if j not in used]
        if allow_extra is not None:
            extra = [r for r in extra if not allow_extra(r)]
        self.assertEqual(extra, [], "records nobody announced:\n%s" % "\n".join(
            describe(r) for r in extra[:30]))
        return found


def compile_cxx_plugin(src, out):
    """g++ -shared -fPIC: the C++ plugin of test_cxx.py."""
    gxx = shutil.which("g++")
    if not gxx:
        raise RuntimeError("g++ not found")
    subprocess.run([gxx, "-shared", "-fPIC", "-O1", "-g", "-o", out, src], check=True,
                   capture_output=True, text=True, timeout=300)
    return out
