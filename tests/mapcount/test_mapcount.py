"""The vm.max_map_count wall: map_limit, map_count_high and map_limit_summary records.

mc_wall (mc_wall.c) reaches the REAL limit the way the third seed document does -- tens of
thousands of one-page anonymous mappings, every second one unmapped -- and prints as JSON lines
what it sees itself (each failed call with its errno, each free() that left its block mapped).
Each scenario runs once per class (a few seconds) and the tests compare the guard's records with
the program's own account.
"""
import json
import os
import shutil
import re
import sys
import unittest

import mgtest

PAGE = os.sysconf("SC_PAGE_SIZE")
PROT_READ, PROT_WRITE = 1, 2
MAP_PRIVATE, MAP_ANONYMOUS = 0x02, 0x20
MALLOC_SIZE = 128 * 1024
# glibc serves malloc(128 KiB) with its own mmap: the request plus the chunk header (2 size
# words), rounded up to pages.
CHUNK = (MALLOC_SIZE + 2 * 8 + PAGE - 1) // PAGE * PAGE
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
TIMEOUT = 300           # against hangs only; a scenario takes a few seconds


def max_map_count():
    with open("/proc/sys/vm/max_map_count") as f:
        return int(f.read())


LIMIT = max_map_count()
DEFAULT_THRESHOLD = LIMIT * 90 // 100


def parse_stdout(r):
    """The program's JSON lines: (list of dicts, the last one = totals)."""
    lines = []
    for line in r.stdout.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            raise AssertionError("mc_wall printed a non-JSON line %r\n%s" % (line, r.describe()))
    return lines


def symbol(frame):
    return frame.get("symbol") or ""


def frame0(rec):
    bt = rec.get("backtrace") or []
    return symbol(bt[0]) if bt else "(empty backtrace)"


def run_wall(testcase, argv, **kw):
    kw.setdefault("timeout", TIMEOUT)
    r = mgtest.run([mgtest.test_prog("mc_wall")] + argv, **kw)
    out = parse_stdout(r)
    if r.returncode != 0 or not out:
        raise AssertionError("mc_wall %s failed\n%s" % (" ".join(argv), r.describe()))
    errors = [o for o in out if "error" in o]
    if errors:
        raise AssertionError("mc_wall %s: %s\n%s" % (" ".join(argv), errors, r.describe()))
    return r, out


class WallCase(mgtest.GuardTest):
    """Skips when the machine's limit would make the scenario take minutes."""

    @classmethod
    def setUpClass(cls):
        if LIMIT > 300000:
            raise unittest.SkipTest("vm.max_map_count=%d: reaching it would take too long" % LIMIT)
        mgtest.require_lib(unittest.TestCase())

    def assertMapLimitCommon(self, rec, r):
        what = json.dumps({k: v for k, v in rec.items() if k not in ("explanation", "remedy")})
        self.assertEqual(rec.get("errno"), 12, what)
        self.assertEqual(rec.get("errno_name"), "ENOMEM", what)
        self.assertEqual(rec.get("max_map_count"), LIMIT, what)
        # At the wall the count is the limit (mmap alone can take it one past).
        self.assertLessEqual(abs(rec.get("vma_count", -10) - LIMIT), 2,
                             "vma_count is not close to max_map_count %d: %s" % (LIMIT, what))
        self.assertEqual(rec.get("pid"), rec.get("tid"), what)
        self.assertEqual(rec.get("thread_name"), "mc_wall", what)
        self.assertRegex(rec.get("time", ""), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", what)
        self.assertTrue(rec.get("explanation"), what)
        self.assertTrue(rec.get("remedy"), what)
        bt = rec.get("backtrace") or []
        self.assertTrue(bt, "empty backtrace: " + what)
        self.assertTrue(bt[0].get("module", "").endswith("/mc_wall"),
                        "frame 0 is not in the test program: " + what)


class MunmapAtTheWall(WallCase):
    """Seed (a): munmap of every second page; the last ones fail with ENOMEM."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        tc = unittest.TestCase()
        cls.r, cls.out = run_wall(tc, ["munmap"])
        cls.totals = cls.out[-1]
        cls.fails = [o for o in cls.out if o.get("fail") == "munmap"]
        if cls.totals["munmap_failures"] == 0:
            raise AssertionError("the program never reached the wall (no munmap failed)\n"
                                 + cls.r.describe())

    def test_program_sees_the_failures_bare_too(self):
        r, out = run_wall(self, ["munmap"], preload=False)
        self.assertGreater(out[-1]["munmap_failures"], 0,
                           "bare, no munmap failed: the wall is not real here\n" + r.describe())
        self.assertEqual(out[-1]["other_errors"], 0, r.describe())
        self.assertEqual(out[-1]["released"], 0, r.describe())

    def test_each_failure_has_a_record(self):
        r = self.r
        self.assertValidLog(r)
        recs = r.events("map_limit")
        self.assertEqual(len(recs), self.totals["munmap_failures"],
                         "map_limit records != munmap failures the program counted\n" + r.describe())
        self.assertEqual(len(self.fails), self.totals["munmap_failures"])
        self.assertEqual(self.totals["other_errors"], 0, r.describe())
        for o in self.fails:
            self.assertEqual(o["errno"], 12, "the program saw errno %d" % o["errno"])
        self.assertEqual([(x["call"], x["addr"], x["length"]) for x in recs],
                         [("munmap", o["addr"], o["length"]) for o in self.fails],
                         "records (call, addr, length) differ from the failed calls, in order")
        for rec in recs:
            self.assertEqual(rec.get("action"), "logged", rec)
            self.assertNotIn("from_free", rec)
            self.assertMapLimitCommon(rec, r)

    def test_frame0_is_the_caller(self):
        for rec in self.r.events("map_limit"):
            self.assertTrue(frame0(rec).startswith("unmap_every_second+"),
                            "frame 0 is %r, not unmap_every_second" % frame0(rec))
            self.assertTrue(symbol(rec["backtrace"][1]).startswith("seed_munmap+")
                            or symbol(rec["backtrace"][1]).startswith("main+"),
                            "frame 1 is %r" % symbol(rec["backtrace"][1]))

    def test_vma_count_not_above_limit(self):
        # munmap fails when the kernel's count (mm->map_count) has reached the limit and never
        # makes it grow: the count at each failure is exactly max_map_count. /proc/self/maps has
        # one line more ([vsyscall] is not a VMA of the process).
        for rec in self.r.events("map_limit"):
            self.assertLessEqual(rec["vma_count"], LIMIT,
                                 "vma_count %d > vm.max_map_count %d: the process cannot have more "
                                 "VMAs than the limit when munmap fails (is [vsyscall] counted?)"
                                 % (rec["vma_count"], LIMIT))

    def test_summary(self):
        r = self.r
        sums = r.events("map_limit_summary")
        self.assertEqual(len(sums), 1, "expected one map_limit_summary\n" + r.describe())
        s = sums[0]
        self.assertIs(r.records[-1], s, "the summary is not the last record")
        n = self.totals["munmap_failures"]
        self.assertEqual(s.get("failures"), n, s)
        self.assertEqual(s.get("bytes_not_returned"), n * PAGE, s)
        self.assertEqual(s.get("bytes_not_returned"),
                         sum(x["length"] for x in r.events("map_limit")), s)
        self.assertEqual(s.get("max_map_count"), LIMIT, s)
        self.assertEqual(s.get("action"), "logged", s)

    def test_map_count_high_once(self):
        r = self.r
        highs = r.events("map_count_high")
        self.assertEqual(len(highs), 1, "expected one map_count_high for one crossing of %d\n%s"
                         % (DEFAULT_THRESHOLD, r.describe()))
        h = highs[0]
        self.assertEqual(h.get("threshold"), DEFAULT_THRESHOLD, h)
        self.assertEqual(h.get("max_map_count"), LIMIT, h)
        self.assertGreaterEqual(h.get("vma_count"), DEFAULT_THRESHOLD, h)
        self.assertLessEqual(h.get("vma_count"), LIMIT + 1, h)
        self.assertEqual(h.get("action"), "logged", h)
        self.assertTrue(frame0(h).startswith("unmap_every_second+"), frame0(h))
        first_limit = next(i for i, x in enumerate(r.records) if x.get("event") == "map_limit")
        self.assertLess(r.records.index(h), first_limit, "map_count_high came after the first failure")


class TextFormat(WallCase):
    def test_text_blocks_and_summary_line(self):
        r = mgtest.run([mgtest.test_prog("mc_wall"), "munmap"], fmt="text", timeout=TIMEOUT)
        out = parse_stdout(r)
        self.assertEqual(r.returncode, 0, r.describe())
        fails = [o for o in out if o.get("fail") == "munmap"]
        n = out[-1]["munmap_failures"]
        self.assertGreater(n, 0, r.describe())
        heads = re.findall(r"^mmapguard: map_limit: munmap\((0x[0-9a-f]+), (\d+)\) failed with ENOMEM$",
                           r.logtext, re.M)
        self.assertEqual(heads, [(o["addr"], str(o["length"])) for o in fails],
                         "text map_limit headers differ from the failed calls\n" + r.logtext[:3000])
        self.assertEqual(len(re.findall(r"^mmapguard: map_count_high$", r.logtext, re.M)), 1,
                         r.logtext[:3000])
        self.assertEqual(len(re.findall(r"^mmapguard:     #0  unmap_every_second\+0x", r.logtext, re.M)),
                         n + 1, "frame 0 of each failure and of the warning")
        m = re.findall(r"^mmapguard: map_limit_summary: (\d+) mapping call\(s\) refused; (\d+) bytes "
                       r"were not returned to the system$", r.logtext, re.M)
        self.assertEqual(m, [(str(n), str(n * PAGE))], "summary line\n" + r.logtext[-2000:])


class OtherCallsAtTheWall(WallCase):
    """At the wall, mprotect splitting a mapping and a new mmap fail with ENOMEM too."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.r, cls.out = run_wall(unittest.TestCase(), ["munmap", "extras"])
        cls.totals = cls.out[-1]

    def test_mprotect(self):
        r = self.r
        mine = [o for o in self.out if o.get("fail") == "mprotect"]
        self.assertEqual(len(mine), 1)
        self.assertEqual((mine[0]["rc"], mine[0]["errno"]), (-1, 12),
                         "precondition: mprotect at the wall should fail with ENOMEM\n" + r.describe())
        recs = r.events("map_limit", "mprotect")
        self.assertEqual(len(recs), 1, r.describe())
        rec = recs[0]
        self.assertEqual((rec["addr"], rec["length"], rec.get("prot")),
                         (mine[0]["addr"], PAGE, PROT_READ | PROT_WRITE), rec)
        self.assertEqual(rec.get("action"), "logged")
        self.assertMapLimitCommon(rec, r)
        self.assertTrue(frame0(rec).startswith("protect_middle+"), frame0(rec))

    def test_mmap(self):
        r = self.r
        mine = [o for o in self.out if o.get("fail") == "mmap"]
        self.assertEqual(len(mine), 1, "precondition: an mmap at the wall should fail\n" + r.describe())
        self.assertEqual(mine[0]["errno"], 12)
        recs = r.events("map_limit", "mmap")
        self.assertEqual(len(recs), 1, "the failed mmap at the wall has no record\n" + r.describe())
        rec = recs[0]
        self.assertEqual((rec["length"], rec.get("prot"), rec.get("flags")),
                         (PAGE, mine[0]["prot"], MAP_PRIVATE | MAP_ANONYMOUS), rec)
        self.assertMapLimitCommon(rec, r)
        # frame 0 is the caller of mmap: map_at_wall, or the helper it calls when not inlined
        names = [f.get("symbol") or "" for f in rec["backtrace"][:2]]
        self.assertTrue(names[0].startswith(("map_at_wall+", "map_anon+")), names)
        self.assertTrue(any(n.startswith("map_at_wall+") for n in names), names)

    def test_summary_counts_every_call(self):
        r = self.r
        n = self.totals["munmap_failures"]
        sums = r.events("map_limit_summary")
        self.assertEqual(len(sums), 1, "no summary at exit (the process ends one VMA past the limit)\n"
                         + r.logtext[-3000:])
        self.assertEqual(sums[0].get("failures"), n + 2, sums[0])
        self.assertEqual(sums[0].get("bytes_not_returned"), n * PAGE, sums[0])


class FreeLeaks(WallCase):
    """Seed (b): glibc's free() ignores its munmap's ENOMEM; the guard sees it with mincore."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.r, cls.out = run_wall(unittest.TestCase(), ["free"])
        cls.totals = cls.out[-1]
        cls.leaks = [o for o in cls.out if "leak" in o]
        if cls.totals["leaks"] == 0:
            raise AssertionError("no free() leaked: the wall was not reached\n" + cls.r.describe())

    def test_each_leak_reported(self):
        r = self.r
        self.assertValidLog(r)
        recs = r.events("map_limit")
        self.assertEqual(len(recs), self.totals["leaks"],
                         "map_limit records != blocks free() left mapped\n" + r.describe())
        self.assertEqual([x["addr"] for x in recs], [o["leak"] for o in self.leaks],
                         "record addresses differ from the leaked blocks, in order")
        for o in self.leaks:
            self.assertTrue(o["mmapped"], o)
            self.assertEqual(o["chunk"], CHUNK, "glibc's chunk size: %r" % o)
        for rec in recs:
            self.assertEqual(rec.get("call"), "munmap", rec)
            self.assertIs(rec.get("from_free"), True, rec)
            self.assertEqual(rec.get("leaked_bytes"), CHUNK, rec)
            self.assertEqual(rec.get("length"), CHUNK, rec)
            self.assertEqual(rec.get("action"), "logged", rec)
            self.assertMapLimitCommon(rec, r)
            self.assertTrue(frame0(rec).startswith("free_every_second+"),
                            "frame 0 is %r, not the caller of free()" % frame0(rec))

    def test_summary(self):
        sums = self.r.events("map_limit_summary")
        self.assertEqual(len(sums), 1, self.r.describe())
        n = self.totals["leaks"]
        self.assertEqual(sums[0].get("failures"), n, sums[0])
        self.assertEqual(sums[0].get("bytes_not_returned"), n * CHUNK, sums[0])

    def test_map_count_high_for_the_crossing(self):
        # The count crosses 90% while free() splits glibc's mapped blocks (glibc's own munmap,
        # invisible to the munmap wrapper) and ends at the limit: one crossing, one warning.
        highs = self.r.events("map_count_high")
        self.assertEqual(len(highs), 1,
                         "the process went from %d to %d VMAs (threshold %d) through free(): "
                         "expected one map_count_high, got %d"
                         % (self.totals["vmas_before"], self.totals["vmas_after"],
                            DEFAULT_THRESHOLD, len(highs)))


class Release(WallCase):
    """MMAPGUARD_MUNMAP_ENOMEM=release: the refused munmap is answered with MADV_DONTNEED.

    The range stays mapped: a use after this "successful" munmap does not fault, it reads zeros.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.r, cls.out = run_wall(unittest.TestCase(), ["munmap"],
                                  env={"MMAPGUARD_MUNMAP_ENOMEM": "release"})
        cls.totals = cls.out[-1]

    def test_munmap_returns_0_and_memory_reads_zeros(self):
        t = self.totals
        self.assertEqual(t["munmap_failures"], 0, "munmap failed in release mode\n" + self.r.describe())
        self.assertEqual(t["other_errors"], 0)
        self.assertGreater(t["released"], 0, "no page stayed mapped after munmap returned 0\n"
                           + self.r.describe())
        self.assertEqual(t["released_nonzero"], 0, "released pages do not read as zeros")

    def test_records_say_released(self):
        r = self.r
        recs = r.events("map_limit")
        released = [o for o in self.out if "released" in o and isinstance(o["released"], str)]
        self.assertEqual([(x["call"], x["addr"], x["length"], x["action"]) for x in recs],
                         [("munmap", o["released"], o["length"], "released") for o in released],
                         r.describe())
        for rec in recs:
            self.assertMapLimitCommon(rec, r)
            self.assertTrue(frame0(rec).startswith("unmap_every_second+"), frame0(rec))

    def test_summary(self):
        sums = self.r.events("map_limit_summary")
        self.assertEqual(len(sums), 1, self.r.describe())
        self.assertEqual(sums[0].get("failures"), self.totals["released"], sums[0])
        self.assertEqual(sums[0].get("bytes_not_returned"), 0, sums[0])

    def test_bad_value(self):
        r = mgtest.run([mgtest.test_prog("mc_wall"), "quiet"], env={"MMAPGUARD_MUNMAP_ENOMEM": "drop"})
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertIn("mmapguard: MMAPGUARD_MUNMAP_ENOMEM=drop is not accepted", r.stderr)
        self.assertIn("using fail", r.stderr)


class WarnThreshold(WallCase):
    def base_count(self):
        r, out = run_wall(self, ["count"])
        return out[0]["vmas"]

    def test_two_crossings_two_warnings(self):
        n = 3000
        warn = self.base_count() + 2000
        r, out = run_wall(self, ["warn", str(n)], env={"MMAPGUARD_MAP_WARN": str(warn)})
        t = out[-1]
        # Preconditions: the program did go above, below and above again.
        self.assertGreaterEqual(t["up1"], warn, t)
        self.assertLess(t["down"], warn, t)
        self.assertGreaterEqual(t["up2"], warn, t)
        self.assertValidLog(r)
        highs = r.events("map_count_high")
        self.assertEqual(len(highs), 2, "expected 2 map_count_high (2 crossings of %d)\n%s"
                         % (warn, r.describe()))
        self.assertEqual(r.events("map_limit"), [], "nothing failed")
        self.assertEqual(r.events("map_limit_summary"), [], "nothing failed: no summary")
        for h, caller in zip(highs, ("first_crossing+", "second_crossing+")):
            self.assertEqual(h.get("threshold"), warn, h)
            self.assertEqual(h.get("max_map_count"), LIMIT, h)
            self.assertGreaterEqual(h["vma_count"], warn, h)
            self.assertLessEqual(h["vma_count"], max(t["up1"], t["up2"]) + 1, h)
            syms = [symbol(f) for f in h["backtrace"]]
            self.assertTrue(syms and syms[0].startswith("rise+"), syms)
            self.assertTrue(len(syms) > 1 and syms[1].startswith(caller),
                            "expected %s in frame 1: %s" % (caller, syms))

    def test_percentage(self):
        r, out = run_wall(self, ["munmap"], env={"MMAPGUARD_MAP_WARN": "50%"})
        highs = r.events("map_count_high")
        self.assertEqual(len(highs), 1, r.describe())
        self.assertEqual(highs[0]["threshold"], LIMIT * 50 // 100, highs[0])
        self.assertGreaterEqual(highs[0]["vma_count"], LIMIT * 50 // 100, highs[0])
        self.assertEqual(len(r.events("map_limit")), out[-1]["munmap_failures"])

    def test_bad_values_complain(self):
        for v in ["abc", "0", "0%", "101%", "-5", "12x", "90%%", "%"]:
            with self.subTest(value=v):
                r = mgtest.run([mgtest.test_prog("mc_wall"), "quiet"], env={"MMAPGUARD_MAP_WARN": v})
                self.assertEqual(r.returncode, 0, r.describe())
                self.assertIn("mmapguard: MMAPGUARD_MAP_WARN=%s is not accepted (accepted: " % v,
                              r.stderr)
                self.assertIn("); using 90%\n", r.stderr)
                self.assertNoReports(r)

    def test_bad_value_uses_default(self):
        r, out = run_wall(self, ["munmap"], env={"MMAPGUARD_MAP_WARN": "lots"})
        self.assertIn("mmapguard: MMAPGUARD_MAP_WARN=lots is not accepted", r.stderr)
        highs = r.events("map_count_high")
        self.assertEqual(len(highs), 1, r.describe())
        self.assertEqual(highs[0]["threshold"], DEFAULT_THRESHOLD, highs[0])
        self.assertEqual(len(r.events("map_limit")), out[-1]["munmap_failures"])


class FarFromTheLimit(mgtest.GuardTest):
    def test_no_record_at_all(self):
        r, out = run_wall(self, ["quiet"])
        bare, bare_out = run_wall(self, ["quiet"], preload=False)
        self.assertNoReports(r)
        self.assertEqual(r.logtext, "", "the log is not empty")
        self.assertEqual(r.stderr, "", r.describe())
        self.assertEqual(out[0]["ok"], out[0]["expected"], "a mapping call failed under the guard")
        self.assertEqual((out[0]["ok"], out[0]["expected"]), (bare_out[0]["ok"], bare_out[0]["expected"]))

    def test_many_pairs_no_record(self):
        r, out = run_wall(self, ["pairs", "200000"])
        self.assertNoReports(r)
        self.assertEqual(out[0], {"pairs": 200000, "fails": 0})


class MapUnmapLoop(mgtest.GuardTest):
    """A program that maps and unmaps windows in a loop never comes near the threshold: the
    estimate must not drift towards it. A munmap of a whole window no other one adjoins takes back
    what its mmap added; without that, the estimate grows by two per pair and /proc/self/maps is
    read again every thousand-odd calls."""

    def maps_opens(self, env):
        strace = shutil.which("strace")
        if not strace:
            self.skipTest("strace is not installed")
        trace = os.path.join(self.tmp, "trace")
        # 8 rounds of 2,500 windows: 40,000 pairs, the VMA count between ~50 and ~2,550
        r = mgtest.run([strace, "-f", "-qq", "-e", "trace=openat", "-o", trace,
                        mgtest.test_prog("mc_wall"), "windows", "2500", "8"], env=env,
                       timeout=TIMEOUT)
        self.assertEqual(parse_stdout(r), [{"windows": 2500, "rounds": 8, "fails": 0}],
                         r.describe())
        self.assertNoReports(r)
        with open(trace) as f:
            return sum(1 for line in f if '"/proc/self/maps"' in line)

    def test_no_drift_to_the_threshold(self):
        # threshold 4,000 VMAs: the count never gets there; the first exact count comes at
        # half of it, the next ones only if the windows really were that many
        n = self.maps_opens({"MMAPGUARD_MAP_WARN": "4000"})
        self.assertLessEqual(n, 3, "/proc/self/maps opened %d times" % n)

    def test_crossing_still_warned(self):
        # the same loop with the threshold below the real count: it is crossed in every round,
        # and the guard still counts, and warns (once: it stays above until a count sees it back)
        r, out = run_wall(self, ["windows", "2500", "8"], env={"MMAPGUARD_MAP_WARN": "1500"})
        self.assertEqual(out[0]["fails"], 0)
        highs = r.events("map_count_high")
        self.assertEqual(len(highs), 1, r.describe())
        self.assertGreaterEqual(highs[0]["vma_count"], 1500, highs[0])


class SmallThreadStack(mgtest.GuardTest):
    """A thread on a PTHREAD_STACK_MIN stack crosses the guard's re-counts of the VMAs."""

    def test_runs_as_bare(self):
        bare, bare_out = run_wall(self, ["smallstack", "6000"], preload=False)
        self.assertEqual(bare_out[-1]["fails"], 0, "precondition: bare run\n" + bare.describe())
        # 12,000 mapping calls: past the guard's first exact count of the VMAs (4096 calls).
        r, out = run_wall(self, ["smallstack", "6000"])
        self.assertEqual(r.returncode, 0, "the guarded thread died\n" + r.describe())
        self.assertEqual(out[-1], bare_out[-1])
        self.assertNoReports(r)


class FixedIntoTheMiddle(WallCase):
    """mmap(MAP_FIXED) into a mapping's middle turns one VMA into three: the warning must still
    come before the wall, whatever the threshold."""

    def check(self, warn_env, threshold):
        r, out = run_wall(self, ["fixedsplit"], env={"MMAPGUARD_MAP_WARN": warn_env})
        t = out[-1]
        self.assertEqual(t["errno"], 12, "precondition: the loop should end at the wall\n" + r.describe())
        self.assertGreaterEqual(t["vmas_at_wall"], LIMIT, t)
        self.assertValidLog(r)
        highs = r.events("map_count_high")
        self.assertEqual(len(highs), 1, "MMAPGUARD_MAP_WARN=%s: expected one map_count_high before "
                         "the wall\n%s" % (warn_env, r.describe()))
        h = highs[0]
        self.assertEqual(h["threshold"], threshold, h)
        self.assertGreaterEqual(h["vma_count"], threshold, h)
        self.assertLess(h["vma_count"], LIMIT, h)
        self.assertTrue(frame0(h).startswith("split_with_fixed+"), frame0(h))
        limits = r.events("map_limit")
        self.assertEqual([(x["call"], x["addr"]) for x in limits],
                         [("mmap", o["addr"]) for o in out if o.get("fail") == "mmap"], r.describe())
        self.assertLess(r.records.index(h), r.records.index(limits[0]),
                        "map_count_high came after the failure")

    def test_default_threshold(self):
        self.check("90%", DEFAULT_THRESHOLD)

    def test_threshold_near_the_wall(self):
        for pct in (97, 99):
            with self.subTest(pct=pct):
                self.check("%d%%" % pct, LIMIT * pct // 100)


@unittest.skipUnless(os.path.exists(JEMALLOC), "jemalloc is not installed (%s)" % JEMALLOC)
class UnderJemalloc(WallCase):
    """LD_PRELOAD="libjemalloc.so.2 libmmapguard.so": the guard must neither hang nor lose records.
    jemalloc's free() is not glibc's: the guard's free() check stands aside."""

    def env(self):
        return {"LD_PRELOAD": JEMALLOC + " " + mgtest.LIB}

    def test_munmap_wall(self):
        r, out = run_wall(self, ["munmap"], env=self.env(), timeout=120)
        n = out[-1]["munmap_failures"]
        self.assertGreater(n, 0, r.describe())
        self.assertValidLog(r)
        recs = r.events("map_limit")
        self.assertEqual([(x["addr"], x["length"]) for x in recs],
                         [(o["addr"], o["length"]) for o in out if o.get("fail") == "munmap"],
                         r.describe())
        sums = r.events("map_limit_summary")
        self.assertEqual([(s["failures"], s["bytes_not_returned"]) for s in sums], [(n, n * PAGE)])

    def test_free_scenario(self):
        r, out = run_wall(self, ["free"], env=self.env(), timeout=120)
        self.assertValidLog(r)
        self.assertEqual([x for x in r.records if x.get("from_free")], [],
                         "from_free records under jemalloc (its free() is not glibc's)")

    def test_warn_crossings(self):
        r, out = run_wall(self, ["count"], env=self.env())
        warn = out[0]["vmas"] + 2000
        r, out = run_wall(self, ["warn", "3000"], env=dict(self.env(), MMAPGUARD_MAP_WARN=str(warn)),
                          timeout=120)
        self.assertEqual(len(r.events("map_count_high")), 2, r.describe())


if __name__ == "__main__":
    unittest.main()
