"""Out of descriptors, out of address space: the guard's own opens and mmaps fail, yet every
intercepted call returns what libc would (log mode: a violation proceeds; block mode: it is
refused), records are written or dropped (counted), never half-written, and nothing exits."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hardlib  # noqa: E402
import mgtest  # noqa: E402


class LimitsTest(hardlib.HardTest):

    def run_limits(self, what, mode, env=None):
        r = mgtest.run([self.program("hard_limits"), self.tmp, what, mode], mode=mode, timeout=120,
                       env=env)
        self.assertRan(r)
        # a log that cannot be opened (no free descriptor) is named on stderr, and the records
        # go there instead
        r.records += [json.loads(ln) for ln in r.stderr.splitlines() if ln.startswith("{")]
        self.assertIn("DONE", r.stdout, hardlib.short(r))
        self.assertEqual(r.malformed, [], hardlib.short(r))
        return r

    def sections(self, r):
        """EXPECT lines grouped by the SECTION line before them: [(name, [expectation])]."""
        groups = [("start", [])]
        for line in r.stdout.splitlines():
            if line.startswith("SECTION "):
                groups.append((line.split()[1], []))
            elif line.startswith("EXPECT "):
                groups[-1][1].append(hardlib.parse_lines(line, "EXPECT")[0])
        return groups

    def counts(self, r):
        return {line.split()[1]: hardlib.parse_lines(line, "COUNTS")[0]
                for line in r.stdout.splitlines() if line.startswith("COUNTS ")}

    def check(self, r, mode, may_drop):
        """Expectations in the sections named in may_drop may lack their record; all others not.
        The guard's counters (API) agree with the log."""
        exps, optional = [], set()
        for tag, group in self.sections(r):
            for e in group:
                if tag in may_drop:
                    optional.add(len(exps))
                exps.append(e)
        found = self.match(r, exps, action="blocked" if mode == "block" else "logged",
                           optional=optional, stat=False)
        counts = self.counts(r)
        final = list(counts.values())[-1]
        self.assertEqual(final["written"], len(r.records), counts)
        # every violation was written or counted as dropped (an optional one may also have gone
        # unseen: a mapping the guard could not register for want of memory)
        self.assertGreaterEqual(final["written"] + final["dropped"], len(exps) - len(optional),
                                counts)
        self.assertLessEqual(final["written"] + final["dropped"], len(exps), counts)
        return counts, found

    def test_nofile_log(self):
        counts, _ = self.check(self.run_limits("nofile", "log"), "log", may_drop=())
        self.assertEqual(counts["after"]["dropped"], 0, counts)

    def test_nofile_block(self):
        counts, _ = self.check(self.run_limits("nofile", "block"), "block", may_drop=())
        self.assertEqual(counts["after"]["dropped"], 0, counts)

    def test_nofile_late_log(self):
        # the log cannot be opened while no descriptor is free: those records are dropped (and
        # counted); once descriptors are back, the next one is written
        self.check(self.run_limits("nofile-late", "log"), "log", may_drop=("exhausted",))

    def test_nofile_late_block(self):
        self.check(self.run_limits("nofile-late", "block"), "block", may_drop=("exhausted",))

    def test_address_space_log(self):
        self.check(self.run_limits("as", "log"), "log", may_drop=("no-room", "little-room"))

    def test_address_space_block(self):
        self.check(self.run_limits("as", "block"), "block", may_drop=("no-room", "little-room"))

    def test_address_space_with_a_thread_started(self):
        # the failed mremap of the tracked window detaches it and puts it back (claim path)
        for mode in ("log", "block"):
            self.check(self.run_limits("as", mode, env=mgtest.thread_first_env()), mode,
                       may_drop=("no-room", "little-room"))


if __name__ == "__main__":
    unittest.main()
