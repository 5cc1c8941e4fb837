"""Configuration: bad values, MMAPGUARD_MODE=off, MMAPGUARD_LOG with %p across fork(), the text
format, MMAPGUARD_CREATION_STACKS=0, and JSON that parses whatever bytes the path holds."""
import errno
import json
import os
import re
import shutil
import tempfile
import unittest

import mgtest
from pcommon import PAGE, PLAIN, PreloadTest

FSIZE = 5 * PAGE
MSG = r"^mmapguard: %s=%s is not accepted \(accepted: ([^)]*)\); using %s$"


class Config(PreloadTest):

    def complaint(self, r, var, value, default, accepted):
        lines = [l for l in r.stderr.splitlines() if "is not accepted" in l]
        self.assertEqual(len(lines), 1, "expected one complaint about %s on stderr:\n%s"
                         % (var, r.describe()))
        m = re.match(MSG % (re.escape(var), re.escape(value), re.escape(default)), lines[0])
        self.assertIsNotNone(m, "complaint not in the documented form: %r" % lines[0])
        listed = [a.strip() for a in m.group(1).split(",")]
        self.assertEqual(set(listed), set(accepted), "accepted values listed: %r" % lines[0])

    # ---- bad values: documented message, the default is used, the program runs on ---------------

    def test_bad_mode(self):
        r, out = self.call("ftruncate", mode="block", env={"MMAPGUARD_MODE": "bogus"})
        self.complaint(r, "MMAPGUARD_MODE", "bogus", "log", ["log", "block", "off"])
        rec = self.one_record(r, "truncate")
        self.assertEqual(rec["action"], "logged", "default mode is log")
        self.assertEqual((out["ret"], out["size"]), (0, PAGE), "log mode lets the call proceed")

    def test_bad_reopen(self):
        r, out = self.call("open", mode="block", flags="wronly",
                           env={"MMAPGUARD_REOPEN": "sometimes"})
        self.complaint(r, "MMAPGUARD_REOPEN", "sometimes", "trunc", ["trunc", "write", "any"])
        self.assertNoReports(r)
        self.assertGreaterEqual(out["ret"], 0, "default reopen policy trunc: open succeeds")

    def test_bad_log_format(self):
        r, out = self.call("ftruncate", fmt="text", env={"MMAPGUARD_LOG_FORMAT": "xml"})
        self.complaint(r, "MMAPGUARD_LOG_FORMAT", "xml", "text", ["text", "json"])
        self.assertTrue(r.logtext.startswith("mmapguard: ftruncate("),
                        "default format text:\n" + r.describe())
        self.assertEqual(out["ret"], 0)

    def test_bad_errno(self):
        r, out = self.call("ftruncate", mode="block", env={"MMAPGUARD_ERRNO": "ENOSPC"})
        self.complaint(r, "MMAPGUARD_ERRNO", "ENOSPC", "ETXTBSY",
                       ["ETXTBSY", "EBUSY", "EPERM", "EACCES", "EAGAIN", "EINVAL", "EROFS"])
        rec = self.one_record(r, "truncate")
        self.assertEqual((rec["errno"], rec["errno_name"]), (errno.ETXTBSY, "ETXTBSY"))
        self.assertEqual((out["ret"], out["errno"], out["size"]), (-1, errno.ETXTBSY, FSIZE))

    def test_bad_creation_stacks(self):
        r, out = self.call("ftruncate", env={"MMAPGUARD_CREATION_STACKS": "maybe"})
        self.complaint(r, "MMAPGUARD_CREATION_STACKS", "maybe", "1", ["1", "0"])
        rec = self.one_record(r, "truncate")
        self.check_frame0(rec["mappings"][0]["backtrace"], "map_file", self.prog(),
                          "creation stack (default on)", r)

    def test_every_accepted_errno(self):
        for name in ("ETXTBSY", "EBUSY", "EPERM", "EACCES", "EAGAIN", "EINVAL", "EROFS"):
            with self.subTest(errno=name):
                self.fresh_dir()
                r, out = self.call("truncate", mode="block", env={"MMAPGUARD_ERRNO": name})
                self.assertNotIn("is not accepted", r.stderr)
                rec = self.one_record(r, "truncate")
                want = getattr(errno, name)
                self.assertEqual((rec["errno"], rec["errno_name"]), (want, name))
                self.assertEqual((out["ret"], out["errno"], out["size"]), (-1, want, FSIZE))

    def test_accepted_values_do_not_complain(self):
        for var, value in (("MMAPGUARD_MODE", "log"), ("MMAPGUARD_MODE", "block"),
                           ("MMAPGUARD_MODE", "off"), ("MMAPGUARD_REOPEN", "trunc"),
                           ("MMAPGUARD_REOPEN", "write"), ("MMAPGUARD_REOPEN", "any"),
                           ("MMAPGUARD_LOG_FORMAT", "json"), ("MMAPGUARD_CREATION_STACKS", "0"),
                           ("MMAPGUARD_CREATION_STACKS", "1")):
            with self.subTest(var=var, value=value):
                self.fresh_dir()
                r, out = self.call("ftruncate", env={var: value})
                self.assertNotIn("mmapguard:", r.stderr, r.describe())

    # ---- off -------------------------------------------------------------------------------

    def test_mode_off(self):
        for call, opts, size in (("ftruncate", {}, PAGE), ("truncate64", {}, PAGE),
                                 ("open", {"flags": "rdwr|trunc"}, 0), ("fopen", {}, 0),
                                 ("open", {"flags": "wronly"}, FSIZE)):
            with self.subTest(call=call, opts=opts):
                self.fresh_dir()
                r, out = self.call(call, mode="off", env={"MMAPGUARD_REOPEN": "any"}, **opts)
                self.assertNoReports(r)
                self.assertEqual(r.stderr, "", "off prints nothing")
                self.assertGreaterEqual(out["ret"], 0, "off never blocks: %r" % out)
                self.assertEqual(out["size"], size)

    # ---- MMAPGUARD_LOG with %p and fork() -------------------------------------------------------

    def test_log_per_pid_across_fork(self):
        logdir = tempfile.mkdtemp(prefix="mg-pid-log-")
        self.addCleanup(shutil.rmtree, logdir, True)
        r = mgtest.run([self.prog(), "fork", self.tmp],
                       env={"MMAPGUARD_LOG": os.path.join(logdir, "log.%p")})
        self.assertEqual(r.returncode, 0, r.describe())
        outs = {o["who"]: o for o in map(json.loads, r.stdout.splitlines())}
        self.assertEqual(set(outs), {"parent", "child"}, r.describe())
        parent, child = outs["parent"]["pid"], outs["child"]["pid"]
        self.assertEqual(outs["parent"]["child"], child)
        self.assertEqual(outs["parent"]["child_status"], 0)
        self.assertEqual(sorted(os.listdir(logdir)), sorted(["log.%d" % parent, "log.%d" % child]),
                         "one log file per process expected")
        recs = {}
        for pid in (parent, child):
            with open(os.path.join(logdir, "log.%d" % pid), encoding="utf-8") as f:
                recs[pid] = [json.loads(l) for l in f.read().splitlines() if l.strip()]
        a = os.stat(os.path.join(self.tmp, "a")).st_ino
        b = os.stat(os.path.join(self.tmp, "b")).st_ino
        self.assertEqual([(x["pid"], x["ino"], x["size_before"], x["size_after"])
                          for x in recs[parent]],
                         [(parent, b, 4 * PAGE, 2 * PAGE), (parent, b, 2 * PAGE, 0)],
                         "the parent's file: its two violations, before and after the fork")
        self.assertEqual([(x["pid"], x["ino"], x["size_before"], x["size_after"])
                          for x in recs[child]],
                         [(child, a, 4 * PAGE, 0)], "the child's file: its own violation")
        self.assertEqual(recs[child][0]["mappings"][0]["tid"], parent,
                         "the child's window was created by the parent before the fork")

    # ---- text format ------------------------------------------------------------------------------

    def check_text(self, text, out, blocked):
        lines = text.splitlines()
        self.assertTrue(lines, "no text report")
        for l in lines:
            self.assertTrue(l.startswith("mmapguard: "), "line without prefix: %r" % l)
        path = os.path.join(os.path.realpath(self.tmp), "data")
        self.assertIn("ftruncate(", lines[0], "first line names the call")
        self.assertIn(path, lines[0], "first line names the path")
        self.assertIn('thread %d "mg-cutter"' % out["call_tid"], text, "the calling thread")
        self.assertIn('thread %d "mg-mapper"' % out["map_tid"], text, "the mapping thread")
        self.assertIn("do_ftruncate+0x", text)
        self.assertIn("map_file+0x", text)
        self.assertIn("%d -> %d" % (FSIZE, PAGE), text, "sizes")
        self.assertEqual("BLOCKED" in text, blocked)

    def test_text_format(self):
        r, out = self.call("ftruncate", fmt="text")
        self.check_text(r.logtext, out, blocked=False)

    def test_text_format_block(self):
        r, out = self.call("ftruncate", mode="block", fmt="text")
        self.check_text(r.logtext, out, blocked=True)

    def test_text_with_hostile_path_keeps_the_prefix(self):
        """A newline in the path must not start a line without "mmapguard: " (log forgery)."""
        r, out = self.call("truncate", fmt="text", name=b"we\nmmapguard-less line")
        lines = r.logtext.splitlines()
        self.assertTrue(lines, r.describe())
        bad = [l for l in lines if not l.startswith("mmapguard: ")]
        self.assertEqual(bad, [], "text report lines without the prefix:\n" + r.logtext)
        self.assertIn("mmapguard-less line", r.logtext, "the rest of the path is shown")

    def test_text_to_stderr_by_default(self):
        r, out = self.call("ftruncate", fmt="text", env={"MMAPGUARD_LOG": ""})
        self.assertEqual(r.logtext, "")
        self.check_text(r.stderr, out, blocked=False)

    # ---- creation stacks off ------------------------------------------------------------------------

    def test_creation_stacks_off(self):
        r, out = self.call("ftruncate", env={"MMAPGUARD_CREATION_STACKS": "0"})
        rec = self.one_record(r, "truncate")
        self.assertEqual(rec["mappings"][0]["backtrace"], [], "creation backtrace must be empty")
        self.assertEqual(rec["mappings"][0]["thread_name"], "mg-mapper")
        self.check_frame0(rec["backtrace"], "do_ftruncate", self.prog(), "truncating call", r)

    # ---- JSON always parses ---------------------------------------------------------------------

    def test_json_with_hostile_path(self):
        name = b'we"ird\\ \n\t\xc3\xa9\xffna\x01me'
        for call in ("truncate", "ftruncate", "fopen"):
            with self.subTest(call=call):
                self.fresh_dir()
                r, out = self.call(call, name=name)     # mgtest decodes the log as strict UTF-8
                rec = self.one_record(r, "truncate")
                json.dumps(rec)
                prefix = os.path.realpath(self.tmp) + '/we"ird\\ \n\t\u00e9'
                path = rec["path"]
                self.assertTrue(path.startswith(prefix), "path %r" % path)
                self.assertTrue(path.endswith("na\x01me"), "path %r" % path)
                self.assertGreater(len(path), len(prefix) + len("na\x01me"),
                                   "the invalid byte vanished: %r" % path)
                st = os.stat(os.path.join(os.fsencode(self.tmp), name))
                self.assertEqual((rec["dev"], rec["ino"]), (st.st_dev, st.st_ino))
                self.assertIsInstance(rec["mappings"][0]["path"], str)
                self.assertIn("we", rec["mappings"][0]["path"])


if __name__ == "__main__":
    unittest.main()
