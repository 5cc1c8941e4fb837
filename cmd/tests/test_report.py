"""mmapguard report: grouping and deduplication, file:line, other events, malformed lines, scale."""
import json
import os
import re
import subprocess
import sys
import unittest

from cmdtest import CMD, TESTS_SRC, CmdTest, clean_env, marked_line, prog


class Report(CmdTest):
    def make_logs(self, args):
        """Run truncprog ARGS under mmapguard with per-pid JSON logs; returns (log files, pids)."""
        logdir = os.path.join(self.tmp, "logs")
        os.makedirs(logdir, exist_ok=True)
        p = self.mg(["--log", os.path.join(logdir, "log.%p"), "--json", prog("mgc_truncprog")] + args)
        self.assertEqual(p.returncode, 0, self.describe(p))
        self.order = [int(x) for x in re.findall(r"^cut (\d+)", p.stdout, re.M)]
        return sorted(os.path.join(logdir, f) for f in os.listdir(logdir)), sorted(set(self.order))

    def site(self, summary, call):
        files = summary["files"]
        sites = [s for f in files for s in f["call_sites"] if s["call"] == call]
        self.assertEqual(len(sites), 1, "expected one call site of %s:\n%s" % (call, json.dumps(summary, indent=1)))
        return sites[0]

    def test_dedup_and_lines(self):
        target = os.path.join(self.tmp, "data")
        logs, pids = self.make_logs(["--fork", "--second", target])
        self.assertEqual(len(logs), 2, "one log per process expected: %s" % logs)
        self.assertEqual(len(pids), 2)
        s, _ = self.report_json(logs)
        self.assertEqual((s["records"], s["violations"], s["blocked"], s["malformed"]), (3, 3, 0, 0), s)
        self.assertEqual(s["processes"], 2)
        self.assertEqual(len(s["files"]), 1, s)
        f = s["files"][0]
        self.assertEqual((f["path"], f["violations"], f["pids"]), (target, 3, pids))
        self.assertEqual(len(f["call_sites"]), 2, "ftruncate (twice, two pids) and truncate (once)")

        # The same call site in two processes: one group, count 2.
        ft = self.site(s, "ftruncate")
        self.assertEqual((ft["event"], ft["count"], ft["logged"], ft["blocked"]), ("truncate", 2, 2, 0))
        self.assertEqual(ft["pids"], pids)
        self.assertEqual((ft["size_before"], ft["size_after"], ft["sizes_vary"]), (16384, 0, False))
        self.assertLessEqual(ft["first_time"], ft["last_time"])
        top = ft["stack"][0]
        self.assertEqual(top["function"], "cut", ft["stack"])
        self.assertEqual(os.path.basename(top["file"] or ""), "truncprog.c", top)
        self.assertEqual(top["line"], marked_line("truncprog.c", "/* CUT_SITE */"), top)
        self.assertEqual(os.path.realpath(top["module"]), os.path.realpath(prog("mgc_truncprog")))
        # The endangered mapping: same creation site in both processes -> one entry, count 2.
        self.assertEqual(len(ft["mappings"]), 1, ft["mappings"])
        m = ft["mappings"][0]
        self.assertEqual((m["count"], m["length"], m["offset"], m["prot"], m["shared"], m["pages_beyond_eof"]),
                         (2, 16384, 0, "PROT_READ", True, 4))
        self.assertEqual(m["path"], target)
        made = m["creation_stack"][0]
        self.assertEqual((made["function"], made["line"]), ("map_file", marked_line("truncprog.c", "/* MAP_SITE */")),
                         m["creation_stack"])

        tr = self.site(s, "truncate")
        self.assertEqual((tr["count"], tr["pids"]), (1, [self.order[-1]]))     # the parent did it
        self.assertEqual((tr["stack"][0]["function"], tr["stack"][0]["line"]),
                         ("cut_by_path", marked_line("truncprog.c", "/* SECOND_SITE */")))

        # The text form says the same.
        p = subprocess.run([CMD, "report"] + logs, capture_output=True, text=True, timeout=60, env=clean_env())
        self.assertEqual(p.returncode, 0, self.describe(p))
        self.assertIn("mmapguard report: 3 violations (0 blocked) in 2 processes, at 2 call sites on 1 file",
                      p.stdout)
        self.assertIn("truncate by ftruncate(): 2 times (2 logged)", p.stdout)
        self.assertRegex(p.stdout, r"#0 +cut at \S*truncprog\.c:%d " % marked_line("truncprog.c", "/* CUT_SITE */"))
        self.assertRegex(p.stdout, r"#0 +map_file at \S*truncprog\.c:%d " % marked_line("truncprog.c", "/* MAP_SITE */"))
        self.assertIn("pids: %d, %d" % tuple(pids), p.stdout)

    def test_two_runs_merge(self):
        # Two separate runs of the same program: the same call site across log files is one group.
        target = os.path.join(self.tmp, "data")
        logs1, pids1 = self.make_logs([target])
        logs2, pids2 = self.make_logs([target])
        s, _ = self.report_json(sorted(set(logs1 + logs2)))
        ft = self.site(s, "ftruncate")
        self.assertEqual(ft["count"], 2, ft)
        self.assertEqual(ft["pids"], sorted(pids1 + pids2))

    def test_blocked_and_no_symbols(self):
        target = os.path.join(self.tmp, "data")
        logdir = os.path.join(self.tmp, "logs")
        os.makedirs(logdir)
        p = self.mg(["--mode", "block", "--log", os.path.join(logdir, "log.%p"), "--json",
                     prog("mgc_truncprog"), target])
        self.assertEqual(p.returncode, 0, self.describe(p))
        logs = [os.path.join(logdir, f) for f in os.listdir(logdir)]
        s, _ = self.report_json(logs, ["--no-symbols"])
        ft = self.site(s, "ftruncate")
        self.assertEqual((ft["blocked"], ft["logged"], ft["errno_names"]), (1, 0, ["ETXTBSY"]))
        self.assertIsNone(ft["stack"][0]["file"], "--no-symbols must not read debug info")
        self.assertTrue(ft["stack"][0]["symbol"].startswith("cut+"), ft["stack"][0])

    def test_malformed_lines(self):
        target = os.path.join(self.tmp, "data")
        logs, _ = self.make_logs(["--fork", target])
        good = [line for path in logs for line in open(path).read().splitlines()]
        self.assertEqual(len(good), 2)
        mixed = os.path.join(self.tmp, "mixed.jsonl")
        bad = ["this is not json",
               good[0][: len(good[0]) // 2],           # cut in the middle
               "[1, 2, 3]",                             # JSON, not a record
               '{"no_event": 1}',
               '{"event": "truncate", "path": "/x"} trailing',
               "\x01\x02 binary \xff"]
        with open(mixed, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(good[0] + "\n" + "\n".join(bad) + "\n\n   \n" + good[1])   # no final newline
        s, p = self.report_json([mixed])
        self.assertEqual(s["malformed"], len(bad), s)
        self.assertEqual(s["violations"], 2, s)
        self.assertEqual([b["line"] for b in s["malformed_lines"]], [2, 3, 4])
        self.assertIn("malformed", p.stderr)
        p = subprocess.run([CMD, "report", mixed], capture_output=True, text=True, timeout=60, env=clean_env())
        self.assertEqual(p.returncode, 0, self.describe(p))
        self.assertIn("note: %d malformed lines skipped" % len(bad), p.stdout)

    def test_unreadable_file(self):
        target = os.path.join(self.tmp, "data")
        logs, _ = self.make_logs([target])
        p = subprocess.run([CMD, "report", "--json", os.path.join(self.tmp, "missing.jsonl")] + logs,
                           capture_output=True, text=True, timeout=60, env=clean_env())
        self.assertEqual(p.returncode, 1, self.describe(p))
        self.assertIn("missing.jsonl", p.stderr)
        self.assertEqual(json.loads(p.stdout)["violations"], 1, "the readable file is still summarized")

    def test_generated_scale_and_other_events(self):
        # 20000 synthetic records: totals and per-site counts equal what the generator wrote.
        log = os.path.join(self.tmp, "gen.jsonl")
        g = subprocess.run([sys.executable, os.path.join(TESTS_SRC, "genlog.py"), log, "20000"],
                           capture_output=True, text=True, timeout=300, check=True)
        expect = json.loads(g.stdout)
        s, _ = self.report_json([log], ["--no-symbols"])
        self.assertEqual((s["records"], s["violations"], s["blocked"], s["other_events"], s["processes"],
                          s["malformed"]),
                         (expect["records"], expect["violations"], expect["blocked"], expect["sigbus"],
                          expect["pids"], 0))
        counts = sorted((site["count"] for f in s["files"] for site in f["call_sites"]), reverse=True)
        self.assertEqual(counts, expect["sites"])
        self.assertEqual(sum(f["violations"] for f in s["files"]), expect["violations"])
        other = s["other"]
        self.assertEqual([o["event"] for o in other], ["sigbus"], other)
        self.assertEqual(other[0]["count"], expect["sigbus"])
        self.assertEqual(other[0]["fields"]["fault.addr"], "0x7f0000001000")
        self.assertEqual(len(other[0]["stack"]), 10)
        p = subprocess.run([CMD, "report", "--no-symbols", log], capture_output=True, text=True, timeout=120,
                           env=clean_env())
        self.assertEqual(p.returncode, 0, self.describe(p))
        self.assertIn("== event sigbus: %d records" % expect["sigbus"], p.stdout)
        # told as a fault (test_report_render checks how), not as a dump of fields
        self.assertIn("%d x SIGBUS" % expect["sigbus"], p.stdout)
        self.assertNotIn("fault.addr=0x7f0000001000", p.stdout)


if __name__ == "__main__":
    unittest.main()
