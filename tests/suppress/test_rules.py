"""Suppression rule files (MMAPGUARD_SUPPRESSIONS, mmapguard --suppressions), the records of
suppressed calls, `mmapguard report --suppressed` and the rule generator
(`mmapguard report --suppressions`), with a small program that cuts its mapped file from two
call sites (supp_prog.c)."""
import json
import os
import re
import subprocess
import unittest

import mgtest
from mgtest import GuardTest, run

CMD = os.path.join(os.path.dirname(mgtest.LIB), "mmapguard")
SEED_RACE = os.path.join(os.path.dirname(mgtest.LIB), "demo", "seed_race")


class RulesTest(GuardTest):
    def setUp(self):
        super().setUp()
        self.prog = mgtest.test_prog("supp_prog")
        self.data = os.path.join(self.tmp, "data")
        os.mkdir(self.data)

    def rules(self, text, name="rules.supp"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def steps(self, steps, rules=None, mode="block", env=None, data=None):
        e = {"MMAPGUARD_SUPPRESSIONS": rules} if rules else {}
        e.update(env or {})
        r = run([self.prog, data or self.data] + steps, mode=mode, env=e)
        self.assertValidLog(r)
        return r

    def outcome(self, r):
        return r.stdout.splitlines()

    def test_cutter_symbol_rule_excuses_one_site(self):
        rules = self.rules("# cut_a shrinks on purpose\n"
                           "suppress a-only\n  events truncate\n"
                           "  cutter */supp_prog:cut_a\n  reach self\n")
        r = self.steps(["A", "B", "A"], rules)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(self.outcome(r), ["A 0", "B -1 ETXTBSY", "A 0"], r.describe())
        self.assertEqual(r.stderr, "", r.describe())
        blocked = r.events("truncate")
        self.assertEqual([x["action"] for x in blocked], ["blocked"], r.describe())
        self.assertEqual(blocked[0]["backtrace"][0]["symbol"].split("+")[0], "cut_b")
        sup = r.events("suppressed")
        self.assertEqual([(x["rule"], x["count"], x["kind"], x["rule_file"]) for x in sup],
                         [("a-only", 1, "truncate", rules), ("a-only", 2, "truncate", rules)],
                         r.describe())
        self.assertEqual(sup[0]["path"], os.path.join(self.data, "a.dat"))
        self.assertEqual(sup[0]["backtrace"][0]["symbol"].split("+")[0], "cut_a")

    def test_without_rules_both_sites_refused(self):
        r = self.steps(["A", "B"])
        self.assertEqual(self.outcome(r), ["A -1 ETXTBSY", "B -1 ETXTBSY"], r.describe())
        self.assertEqual(len(r.events("truncate")), 2)
        self.assertEqual(r.events("suppressed"), [])

    def test_counts_are_logarithmic_records(self):
        rules = self.rules("suppress any-a\n  cutter *:cut_a\n")
        r = self.steps(["A"] * 9, rules)
        self.assertEqual(self.outcome(r), ["A 0"] * 9, r.describe())
        sup = r.events("suppressed")
        self.assertEqual([x["count"] for x in sup if "rule" in x], [1, 2, 4, 8], r.describe())
        # the tally at exit completes the count: the same site, all 9 calls
        tally = [x for x in sup if "rule" not in x]
        self.assertEqual([(x["site"], x["count"], x["final"]) for x in tally],
                         [(sup[0]["site"], 9, True)], r.describe())
        self.assertEqual(r.events("truncate"), [])

    def test_path_events_creator_and_offset(self):
        # module+offset of cut_a's call, as a record names it
        r = self.steps(["A"], mode="log")
        off = r.events("truncate")[0]["backtrace"][0]["module_offset"]
        creator = r.events("truncate")[0]["mappings"][0]["backtrace"][0]["symbol"].split("+")[0]
        self.assertEqual(creator, "main")
        cases = [
            ("suppress x\n  cutter */supp_prog+%s\n" % off, ["A 0", "B -1 ETXTBSY"]),
            ("suppress x\n  cutter */supp_prog+0x1\n", ["A -1 ETXTBSY", "B -1 ETXTBSY"]),
            ("suppress x\n  path */a.dat\n", ["A 0", "B 0"]),
            ("suppress x\n  path */b.dat\n  path /nowhere/*\n", ["A -1 ETXTBSY", "B -1 ETXTBSY"]),
            ("suppress x\n  events reopen\n", ["A -1 ETXTBSY", "B -1 ETXTBSY"]),
            ("suppress x\n  events reopen,truncate\n  cutter ... *:main\n", ["A 0", "B 0"]),
            ("suppress x\n  cutter *:cut_? *:main\n", ["A 0", "B 0"]),
            ("suppress x\n  cutter *:cut_a *:cut_a\n", ["A -1 ETXTBSY", "B -1 ETXTBSY"]),
            ("suppress x\n  creator */supp_prog:main\n", ["A 0", "B 0"]),
            ("suppress x\n  creator */libc.so*\n", ["A -1 ETXTBSY", "B -1 ETXTBSY"]),
            ("suppress x\n  cutter */supp_prog:cut_b\n  creator * \n  reach any\n",
             ["A -1 ETXTBSY", "B 0"]),
        ]
        for text, want in cases:
            r = self.steps(["A", "B"], self.rules(text))
            self.assertEqual(self.outcome(r), want, text + "\n" + r.describe())
            self.assertEqual(r.stderr, "", text + "\n" + r.describe())

    def test_malformed_lines_named_rest_applies(self):
        text = ("# header\n"
                "events truncate\n"                       # 2: outside a rule
                "suppress broken-keyword\n"               # 3
                "  cutter */supp_prog:cut_b\n"
                "  frobnicate yes\n"                      # 5: unknown keyword -> rule ignored
                "suppress broken-frame\n"                 # 6
                "  cutter */supp_prog:\n"                 # 7: empty symbol -> rule ignored
                "suppress broken-reach\n"                 # 8
                "  path *\n"
                "  reach others\n"                        # 10
                "suppress good\n"                         # 11
                "  cutter */supp_prog:cut_a\n")
        rules = self.rules(text)
        r = self.steps(["A", "B"], rules)
        self.assertEqual(self.outcome(r), ["A 0", "B -1 ETXTBSY"], r.describe())
        lines = r.stderr.splitlines()
        self.assertEqual([re.match(r"mmapguard: (.*):(\d+): ", l).groups() for l in lines],
                         [(rules, "2"), (rules, "5"), (rules, "7"), (rules, "10")], r.describe())
        self.assertIn("outside a rule", lines[0])
        self.assertIn("rule broken-keyword (line 3) is ignored", lines[1])
        self.assertIn("rule broken-frame (line 6) is ignored", lines[2])
        self.assertIn("unknown reach", lines[3])
        self.assertEqual([x["rule"] for x in r.events("suppressed")], ["good"])

    def test_several_files_and_unreadable_one(self):
        a = self.rules("suppress ra\n  cutter *:cut_a\n", "a.supp")
        b = self.rules("suppress rb\n  cutter *:cut_b\n", "b.supp")
        missing = os.path.join(self.tmp, "missing.supp")
        r = self.steps(["A", "B"], ":".join([a, missing, b]))
        self.assertEqual(self.outcome(r), ["A 0", "B 0"], r.describe())
        self.assertEqual(r.stderr, "mmapguard: cannot read rule file %s\n" % missing)
        self.assertEqual([x["rule"] for x in r.events("suppressed")], ["ra", "rb"])

    def test_nothing_to_decide_reads_no_file(self):
        """Rule files are read on the first violation: a run without one never complains."""
        rules = self.rules("garbage line\n")
        r = run(["/bin/cat", rules], mode="block", env={"MMAPGUARD_SUPPRESSIONS": rules})
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "garbage line\n", ""))

    def test_text_log_and_stderr_get_no_record(self):
        rules = self.rules("suppress ra\n  cutter *:cut_a\n")
        r = run([self.prog, self.data, "A"], mode="block", fmt="text",
                env={"MMAPGUARD_SUPPRESSIONS": rules})
        self.assertEqual((r.stdout, r.stderr, r.logtext), ("A 0\n", "", ""), r.describe())
        e = dict(os.environ, LD_PRELOAD=mgtest.LIB, MMAPGUARD_MODE="block",
                 MMAPGUARD_LOG_FORMAT="json", MMAPGUARD_SUPPRESSIONS=rules)
        e.pop("MMAPGUARD_LOG", None)
        p = subprocess.run([self.prog, self.data, "A"], env=e, capture_output=True, text=True)
        self.assertEqual((p.returncode, p.stdout, p.stderr), (0, "A 0\n", ""))

    # ---- the command ----------------------------------------------------------------------

    def cmd(self, args, **kw):
        return subprocess.run([CMD] + args, capture_output=True, text=True, timeout=120, **kw)

    def test_command_option_summary_and_report_suppressed(self):
        rules = self.rules("suppress ra\n  cutter *:cut_a\n")
        log = os.path.join(self.tmp, "log.%p")
        p = self.cmd(["--mode", "block", "--json", "--log", log, "--suppressions", rules,
                      self.prog, self.data, "A", "A", "A", "B", "A", "A"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.splitlines(), ["A 0"] * 3 + ["B -1 ETXTBSY"] + ["A 0"] * 2)
        self.assertRegex(p.stderr.splitlines()[-1],
                         r"^mmapguard: 1 violation \(1 blocked\), 5 suppressed in 1 process; log: ")
        logs = [os.path.join(self.tmp, n) for n in os.listdir(self.tmp) if n.startswith("log.")]
        rep = self.cmd(["report", "--suppressed"] + logs)
        self.assertEqual(rep.returncode, 0, rep.stderr)
        self.assertTrue(rep.stdout.startswith("mmapguard report: 5 suppressed calls at 1 site\n"),
                        rep.stdout)
        self.assertIn("rule: ra (%s)" % rules, rep.stdout)
        self.assertRegex(rep.stdout, r"#0  cut_a\+0x[0-9a-f]+ \(.*supp_prog\+0x")
        js = json.loads(self.cmd(["report", "--suppressed", "--json"] + logs).stdout)
        self.assertEqual((js["suppressed"], len(js["sites"]), js["sites"][0]["rule"],
                          js["sites"][0]["count"]), (5, 1, "ra", 5))
        plain = self.cmd(["report"] + logs).stdout
        self.assertIn("1 violation (1 blocked)", plain.splitlines()[0])
        self.assertIn("5 suppressed calls (mmapguard report --suppressed lists them)", plain)
        bad = self.cmd(["--suppressions", os.path.join(self.tmp, "nope"), "/bin/true"])
        self.assertEqual(bad.returncode, 125)
        self.assertIn("--suppressions", bad.stderr)

    def test_private_log_dir_counts_without_echo(self):
        rules = self.rules("suppress ra\n  cutter *:cut_a\n")
        p = self.cmd(["--mode", "block", "--suppressions", rules, self.prog, self.data, "A", "A"])
        self.assertEqual((p.returncode, p.stdout), (0, "A 0\nA 0\n"), p.stderr)
        self.assertRegex(p.stderr, r"^mmapguard: 0 violations \(0 blocked\), 2 suppressed in 1 "
                                   r"process; log: \S+\n$")

    def test_generated_rules_silence_exactly_their_site(self):
        # only A is reported in the first run: the rules name A's site
        first = self.steps(["A", "A"], mode="log")
        log = os.path.join(self.tmp, "first.jsonl")
        with open(log, "w") as f:
            f.write(first.logtext)
        gen = self.cmd(["report", "--suppressions", log])
        self.assertEqual(gen.returncode, 0, gen.stderr)
        text = gen.stdout
        self.assertEqual(len(re.findall(r"^suppress ", text, re.M)), 1, text)
        self.assertIn("\n  events  truncate\n  path    %s\n" % os.path.join(self.data, "a.dat"), text)
        self.assertRegex(text, r"\n  cutter  \S+/supp_prog:cut_a \S+/supp_prog:main ")
        self.assertRegex(text, r"\n  creator \S+/supp_prog:main ")
        rules = self.rules(text, "generated.supp")
        # the site itself: silenced; the other site and the same site on another file: not
        r = self.steps(["A", "B", "A"], rules)
        self.assertEqual(self.outcome(r), ["A 0", "B -1 ETXTBSY", "A 0"], r.describe())
        self.assertEqual(r.stderr, "", r.describe())
        other = os.path.join(self.tmp, "other")
        os.mkdir(other)
        r = self.steps(["A"], rules, data=other)
        self.assertEqual(self.outcome(r), ["A -1 ETXTBSY"], r.describe())
        # two sites, two rules; with both, nothing is refused
        both = self.steps(["A", "B"], mode="log")
        with open(log, "w") as f:
            f.write(both.logtext)
        text = self.cmd(["report", "--suppressions", log]).stdout
        self.assertEqual(len(re.findall(r"^suppress ", text, re.M)), 2, text)
        r = self.steps(["B", "A"], self.rules(text, "both.supp"))
        self.assertEqual(self.outcome(r), ["B 0", "A 0"], r.describe())
        self.assertEqual(r.events("truncate"), [])

    def test_generator_without_violations(self):
        log = self.rules("", "empty.jsonl")
        gen = self.cmd(["report", "--suppressions", log])
        self.assertEqual((gen.returncode, gen.stdout), (0, ""))
        self.assertIn("no violation", gen.stderr)

    def test_seed_race_still_refused_with_defaults(self):
        if not os.path.exists(SEED_RACE):
            self.skipTest("demo/seed_race was not built")
        conf = os.path.join(self.tmp, "service.conf")
        r = run([SEED_RACE, conf, "5"], mode="block")
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertValidLog(r)
        self.assertGreaterEqual(len(r.events("truncate")), 5, r.describe())
        self.assertTrue(all(x["action"] == "blocked" for x in r.events("truncate")))
        self.assertEqual(r.events("suppressed"), [], r.describe())


if __name__ == "__main__":
    unittest.main()
