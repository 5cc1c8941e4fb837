#!/usr/bin/env python3
"""mmapguard benchmark driver: guarded vs bare, side by side, as ratios.

    python3 bench/run.py --build build            # full run, about 8 minutes on 2 cores
    python3 bench/run.py --build build --quick    # under a minute, fewer rounds, smaller macro
    python3 bench/run.py --build build --smoke    # seconds: checks that everything runs (CTest)

Prints a table and writes JSON (bench/results.json unless --json PATH).

How it measures (the machine is shared and noisy, so only ratios measured in the same run count):
* Micro workloads run in bench/mgbench (built by CMake as build/bench/mgbench; compiled here with
  cc if it is missing). Each round starts one bare process (no LD_PRELOAD) and one guarded process,
  alternating which goes first. The guarded process itself alternates timed batches (ABBA...)
  that call libc directly (looked up in libc.so.6: bare) with batches that call through the
  dynamic symbols (the guard's wrappers). Per-op times are thread CPU time (kernel + user time
  of the calling thread, so time the machine gives to other tenants does not count); the thread
  workload uses wall time. Each process reports the median of its batches; the driver reports the
  median over rounds of each. Where guard and bare come from one process (the micro and live rows),
  the ratio is the median over rounds of that process's own guard / bare (paired: how fast the
  machine was during that process cancels out); the ratio of the two medians is kept in the JSON
  as "ratio_of_medians".
* "ratio" (the verdict) is guard / bare with both from the same process, interleaved batch by batch:
  same address space, same VMA layout, same file. "proc" is guard / bare across processes (bare
  process without LD_PRELOAD): a cross-check, noisier (layout, ASLR).
* The peer: the same workloads under `strace -f -k -e trace=open,openat,ftruncate,mmap,munmap
  -o /dev/null`, in wall time (strace's work happens in another process), against the guarded
  process's wall time.
* Macro: whole-command wall time of a sqlite3 CLI session (PRAGMA mmap_size=268435456, WAL,
  a few hundred MB of inserts) and of `make` building a generated multi-file C project with gcc;
  bare and guarded runs interleaved.

The guard's log goes to a scratch file per process; any record in it is listed (the workloads cut
no mapping, so a truncate/reopen record is a false positive and makes the run fail).
"""
import argparse
import glob
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from leases import run_leases  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)

# (row id, label, mgbench workload, extra guard env, target ratio or None)
MICRO = [
    ("open_close", "open+close (1 file mapped)", "open_close", {}, 1.03),
    ("mmap_file", "file mmap+munmap, creation stacks on", "mmap_file", {}, 1.10),
    ("mmap_file_nostacks", "file mmap+munmap, MMAPGUARD_CREATION_STACKS=0", "mmap_file",
     {"MMAPGUARD_CREATION_STACKS": "0"}, 1.10),
    ("mmap_anon", "anon mmap+munmap (1 file mapped)", "mmap_anon", {}, 1.02),
    ("mmap_anon_empty", "anon mmap+munmap (empty registry)", "mmap_anon_empty", {}, 1.02),
    ("ftrunc_unmapped", "ftruncate unmapped file (other file mapped)", "ftrunc_unmapped", {}, 1.05),
    ("ftrunc_unmapped_empty", "ftruncate unmapped file (empty registry)", "ftrunc_unmapped_empty",
     {}, 1.05),
    ("ftrunc_unmapped_zero", "ftruncate unmapped file 1 page <-> 0 (other mapped)",
     "ftrunc_unmapped_zero", {}, 1.05),
    ("ftrunc_unmapped_zero_proc", "  the same, MMAPGUARD_SCOPE=process", "ftrunc_unmapped_zero",
     {"MMAPGUARD_SCOPE": "process"}, None),
    ("ftrunc_grow", "ftruncate growing a mapped file", "ftrunc_grow", {}, None),
    # Across processes (the default scope is all): the index on the mmap path, the write lease
    # on the truncating path.
    ("mmap_file_proc", "file mmap+munmap, MMAPGUARD_SCOPE=process (no index)", "mmap_file",
     {"MMAPGUARD_SCOPE": "process"}, None),
    ("otrunc_write", "O_TRUNC open+write+close, nobody else has it", "otrunc_write", {}, 1.25),
    ("otrunc_write_guarded", "  the same, MMAPGUARD_SCOPE=guarded", "otrunc_write",
     {"MMAPGUARD_SCOPE": "guarded"}, 1.25),
    ("otrunc_write_proc", "  the same, MMAPGUARD_SCOPE=process", "otrunc_write",
     {"MMAPGUARD_SCOPE": "process"}, None),
    ("fopen_fclose", "fopen+fclose (1 file mapped)", "fopen_fclose", {}, None),
    # No guard in either column: libc's fstat + mmap + munmap against mmap + munmap. Knowing which
    # file a mapping is costs this at least; it bounds what the file mmap rows can reach.
    ("floor_fstat", "no guard: fstat + file mmap+munmap vs the pair", "floor_fstat", {}, None),
    ("floor_fstat_ftrunc", "no guard: ftruncate 1 page <-> 0, fstat before 0",
     "floor_fstat_ftrunc", {}, None),
]
SCALE_OPS = [
    ("mmap_pair", "one more file mmap+munmap"),
    ("ftrunc_other", "ftruncate of another (mapped) file"),
    ("ftrunc_same", "ftruncate of the file holding the N windows"),
]
SCALE_TARGET = 1.3
LIVE_TARGET = 1.3       # guard/bare with N live mappings (map N windows, unmap them)
LIVE_MAP_COUNT = 262144 # vm.max_map_count the 100k row needs; raised for it when root may
MACRO_TARGET = 1.05
STRACE_TARGET = 20.0
STRACE_ARGS = ["-f", "-k", "-e", "trace=open,openat,ftruncate,mmap,munmap", "-o", "/dev/null"]


class BenchError(Exception):
    pass


def median(v):
    return statistics.median(v) if v else float("nan")


def fmt_ns(v):
    if v != v:
        return "-"
    if v >= 100000:
        return "%.0fk" % (v / 1000)
    return "%.0f" % v


def paired_ratio(guard, bare):
    """Median of guard[i] / bare[i]: both of a pair measured in one process."""
    return median([g / b for g, b in zip(guard, bare) if b]) if guard and bare else float("nan")


def fmt_ratio(v):
    return "-" if v != v else "%.3f" % v


SMOKE = False


def verdict(ok):
    if SMOKE:
        return ""
    return "PASS" if ok else "MISS"


# ---- environment ---------------------------------------------------------------------------------

def clean_env():
    e = dict(os.environ)
    e.pop("LD_PRELOAD", None)
    for k in list(e):
        if k.startswith("MMAPGUARD_"):
            del e[k]
    e["LC_ALL"] = "C"
    return e


class Runner:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.lib = os.path.join(self.build, "libmmapguard.so")
        if not os.path.exists(self.lib):
            raise BenchError("%s not found: build first (cmake --build %s)" % (self.lib, args.build))
        self.mgbench = self.find_mgbench()
        self.scratch = tempfile.mkdtemp(prefix="mgbench-", dir=args.dir)
        self.logdir = os.path.join(self.scratch, "guardlog")
        os.makedirs(self.logdir)
        self.guard_events = {}
        self.notes = []
        self.failures = []
        self.strace_args = list(STRACE_ARGS)
        self.strace_note = None
        self.strace_ok = False

    def find_mgbench(self):
        exe = os.path.join(self.build, "bench", "mgbench")
        src = os.path.join(HERE, "mgbench.c")
        if os.path.exists(exe) and os.path.getmtime(exe) >= os.path.getmtime(src):
            return exe
        # Not built by CMake (bench/ not added to the build yet, or stale): build it here.
        os.makedirs(os.path.dirname(exe), exist_ok=True)
        cc = os.environ.get("CC", "cc")
        cmd = [cc, "-O2", "-g", "-fno-omit-frame-pointer", "-Wall", "-Wextra", "-o", exe, src,
               "-pthread", "-ldl"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError("building mgbench failed: %s\n%s" % (" ".join(cmd), r.stderr))
        return exe

    def find_seed_race(self):
        """demo/seed_race as CMake built it, or compiled here (the same flags) into the scratch."""
        exe = os.path.join(self.build, "demo", "seed_race")
        src = os.path.join(SRC, "demo", "seed_race.c")
        if os.path.exists(exe) and os.path.getmtime(exe) >= os.path.getmtime(src):
            return exe
        exe = os.path.join(self.scratch, "seed_race")
        cmd = [os.environ.get("CC", "cc"), "-O1", "-g", "-fno-omit-frame-pointer", "-o", exe, src,
               "-pthread"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError("building seed_race failed: %s\n%s" % (" ".join(cmd), r.stderr))
        return exe

    def env(self, guarded, extra=None):
        e = clean_env()
        if guarded:
            e["LD_PRELOAD"] = self.lib
            e["MMAPGUARD_LOG"] = os.path.join(self.logdir, "guard.%p.log")
            e["MMAPGUARD_LOG_FORMAT"] = "json"
            if extra:
                e.update(extra)
        return e

    def collect_guard_log(self, what):
        """Records the guard wrote since the last call, counted by event; truncate/reopen fail."""
        for path in glob.glob(os.path.join(self.logdir, "*")):
            with open(path, "rb") as f:
                data = f.read().decode("utf-8", "replace")
            os.unlink(path)
            for line in data.splitlines():
                line = line.strip()
                if not line:
                    continue
                try:
                    ev = json.loads(line).get("event", "?")
                except ValueError:
                    ev = "text:" + line[:60]
                key = "%s: %s" % (what, ev)
                self.guard_events[key] = self.guard_events.get(key, 0) + 1
                if ev in ("truncate", "reopen"):
                    self.failures.append("guard reported '%s' during %s (false positive): %s"
                                         % (ev, what, line[:300]))

    def mgbench_args(self):
        a = ["--dir", self.scratch]
        if self.args.smoke:
            a += ["--iters", "20", "--batches", "2"]
        else:
            a += ["--batch-ms", str(self.args.batch_ms), "--batches", str(self.args.batches),
                  "--warmup-ms", str(self.args.warmup_ms)]
        return a

    def run_mgbench(self, workload, mode, extra_args=(), extra_env=None, timeout=600):
        """mode: bare | guard | strace. Returns the parsed JSON line."""
        argv = [self.mgbench, workload] + self.mgbench_args() + list(extra_args)
        if mode == "guard":
            argv.append("--ab")
        if mode == "strace":
            argv = ["strace"] + self.strace_args + argv
        r = subprocess.run(argv, env=self.env(mode == "guard", extra_env), capture_output=True,
                           text=True, timeout=timeout)
        if mode == "guard":
            self.collect_guard_log(("%s %s" % (workload, " ".join(extra_args))).strip())
        if r.returncode != 0:
            raise BenchError("%s failed (rc %d):\n%s" % (" ".join(argv), r.returncode,
                                                         r.stderr[-2000:]))
        lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
        if not lines:
            raise BenchError("%s printed no result:\n%s" % (" ".join(argv), r.stdout[-2000:]))
        d = json.loads(lines[-1])
        if mode == "guard" and d.get("provider") in ("libc", "?"):
            raise BenchError("the guard was not in effect in %s (provider %s)"
                             % (" ".join(argv), d.get("provider")))
        return d

    def check_strace(self):
        self.strace_args = list(STRACE_ARGS)
        self.strace_note = None
        if not shutil.which("strace"):
            self.strace_note = "strace not installed (apt-get install -y strace): peer skipped"
            return False
        out = os.path.join(self.scratch, "strace-k-check")
        r = subprocess.run(["strace", "-f", "-k", "-e", "trace=openat", "-o", out, "/bin/true"],
                           capture_output=True, text=True)
        ok = r.returncode == 0 and os.path.exists(out) and any(
            l.startswith(" > ") for l in open(out, errors="replace"))
        if not ok:
            self.strace_args.remove("-k")
            self.strace_note = "this strace build has no working -k: peer measured WITHOUT -k"
        return True


# ---- sections ------------------------------------------------------------------------------------

def results_by_mode(d, op=None):
    out = {}
    for r in d["results"]:
        if op is None or r["op"] == op:
            out[r["mode"]] = r
    return out


def run_micro(R, rounds, strace_rounds, log):
    samples = {row[0]: {"bare_proc": [], "guard": [], "bare_inproc": [], "guard_wall": [],
                        "strace_wall": []} for row in MICRO}
    strace_cache = {}
    for rnd in range(rounds):
        for rid, label, w, extra_env, target in MICRO:
            order = ["bare", "guard"] if rnd % 2 == 0 else ["guard", "bare"]
            if (R.strace_ok and rnd < strace_rounds and (w, rnd) not in strace_cache
                    and not w.startswith("floor")):
                order.append("strace")
            for mode in order:
                d = R.run_mgbench(w, mode, extra_env=extra_env)
                m = results_by_mode(d)
                s = samples[rid]
                if mode == "bare":
                    s["bare_proc"].append(m["self"]["cpu_ns"])
                elif mode == "guard":
                    s["guard"].append(m["self"]["cpu_ns"])
                    s["guard_wall"].append(m["self"]["wall_ns"])
                    s["bare_inproc"].append(m["bare"]["cpu_ns"])
                else:
                    strace_cache[(w, rnd)] = m["self"]["wall_ns"]
            if (w, rnd) in strace_cache:
                samples[rid]["strace_wall"].append(strace_cache[(w, rnd)])
        log("  micro round %d/%d done" % (rnd + 1, rounds))
    rows = []
    for rid, label, w, extra_env, target in MICRO:
        s = samples[rid]
        g, b, bp = median(s["guard"]), median(s["bare_inproc"]), median(s["bare_proc"])
        ratio = paired_ratio(s["guard"], s["bare_inproc"])
        st = median(s["strace_wall"]) / median(s["guard_wall"]) if s["strace_wall"] else float("nan")
        rows.append({
            "id": rid, "label": label, "workload": w, "env": extra_env,
            "bare_ns": b, "guard_ns": g, "bare_proc_ns": bp,
            "ratio": ratio, "ratio_of_medians": g / b, "ratio_proc": g / bp, "target": target,
            "pass": (ratio <= target) if target else None,
            "strace_wall_ns": median(s["strace_wall"]) if s["strace_wall"] else None,
            "guard_wall_ns": median(s["guard_wall"]),
            "strace_over_guard": st if st == st else None,
            "strace_pass": (st >= STRACE_TARGET) if st == st else None,
            "samples": s,
        })
    return rows


def run_scale(R, rounds, sizes, log):
    cells = []
    for layout, ns in sizes:
        for n in ns:
            cells.append((layout, n))
    samples = {c: {op: {"guard": [], "bare_inproc": [], "bare_proc": []} for op, _ in SCALE_OPS}
               for c in cells}
    info = {}
    for rnd in range(rounds):
        for layout, n in cells:
            order = ["bare", "guard"] if rnd % 2 == 0 else ["guard", "bare"]
            for mode in order:
                d = R.run_mgbench("scale", mode, ["--live", str(n), "--layout", layout])
                if mode == "guard":
                    info[(layout, n)] = {"vmas": d["vmas"], "setup_ms_guard": d["setup_ms"]}
                for op, _ in SCALE_OPS:
                    m = results_by_mode(d, op)
                    s = samples[(layout, n)][op]
                    if mode == "bare":
                        s["bare_proc"].append(m["self"]["cpu_ns"])
                    else:
                        s["guard"].append(m["self"]["cpu_ns"])
                        s["bare_inproc"].append(m["bare"]["cpu_ns"])
        log("  scaling round %d/%d done" % (rnd + 1, rounds))
    out = []
    for layout, ns in sizes:
        for op, label in SCALE_OPS:
            row = {"layout": layout, "op": op, "label": label, "points": []}
            for n in ns:
                s = samples[(layout, n)][op]
                g, b = median(s["guard"]), median(s["bare_inproc"])
                row["points"].append({"live": n, "guard_ns": g, "bare_ns": b,
                                      "bare_proc_ns": median(s["bare_proc"]), "ratio": g / b,
                                      **info.get((layout, n), {}), "samples": s})
            first, last = row["points"][0], row["points"][-1]
            row["guard_growth"] = last["guard_ns"] / first["guard_ns"]
            row["bare_growth"] = last["bare_ns"] / first["bare_ns"]
            row["from"], row["to"] = first["live"], last["live"]
            row["pass"] = row["guard_growth"] <= SCALE_TARGET
            out.append(row)
    return out


class MapCountRaised:
    """vm.max_map_count raised to at least `want` for the rows that need it, restored after.
    The setting is system-wide: it is changed only for those rows, and only by root. A run
    stopped meanwhile by SIGTERM or SIGHUP (a CI timeout, a closed terminal) restores it too:
    those signals end the run through the same exit path as Ctrl-C."""

    STOPS = (signal.SIGTERM, signal.SIGHUP)

    def __init__(self, want):
        self.want, self.old, self.why = want, read_max_map_count(), None
        self.saved = None

    @staticmethod
    def _stop(signo, frame):
        raise SystemExit(128 + signo)

    def __enter__(self):
        if self.old >= self.want:
            return self
        self.saved = [(s, signal.signal(s, self._stop)) for s in self.STOPS]
        try:
            with open("/proc/sys/vm/max_map_count", "w") as f:
                f.write(str(self.want))
        except OSError as e:
            self.why = "vm.max_map_count is %d and cannot be raised here (%s)" % (
                self.old, e.strerror)
        return self

    def __exit__(self, *exc):
        try:
            if self.why is None and self.old < self.want:
                with open("/proc/sys/vm/max_map_count", "w") as f:
                    f.write(str(self.old))
        finally:
            for s, h in self.saved or ():
                signal.signal(s, h)
        return False


def live_fits(n, limit):
    """N distinct VMAs plus the process's own, with room below the guard's 90% threshold."""
    return n + 2000 <= limit * 9 // 10


def run_live(R, rounds, sizes, batches, log):
    """mgbench live --live N: N one-page windows mapped, then unmapped; guard vs bare."""
    rows = []
    for n in sizes:
        need = LIVE_MAP_COUNT if not live_fits(n, read_max_map_count()) else 0
        with MapCountRaised(need) as raised:
            limit = read_max_map_count()
            if raised.why or not live_fits(n, limit):
                R.notes.append("live N=%d skipped: %s" % (n, raised.why or "vm.max_map_count=%d"
                                                          % limit))
                continue
            s = {"guard": [], "bare_inproc": [], "bare_proc": []}
            for rnd in range(rounds):
                for mode in (["bare", "guard"] if rnd % 2 == 0 else ["guard", "bare"]):
                    d = R.run_mgbench("live", mode, ["--live", str(n), "--batches", str(batches)])
                    m = results_by_mode(d)
                    if mode == "bare":
                        s["bare_proc"].append(m["self"]["cpu_ns"])
                    else:
                        s["guard"].append(m["self"]["cpu_ns"])
                        s["bare_inproc"].append(m["bare"]["cpu_ns"])
            log("  live N=%d done (vm.max_map_count %d)" % (n, limit))
        g, b, bp = median(s["guard"]), median(s["bare_inproc"]), median(s["bare_proc"])
        ratio = paired_ratio(s["guard"], s["bare_inproc"])
        rows.append({"live": n, "max_map_count": limit, "guard_ns": g, "bare_ns": b,
                     "bare_proc_ns": bp, "ratio": ratio, "ratio_of_medians": g / b,
                     "ratio_proc": g / bp, "target": LIVE_TARGET, "pass": ratio <= LIVE_TARGET,
                     "samples": s})
    return rows


def run_threads(R, rounds, counts, log):
    samples = {t: {"guard": [], "bare_inproc": [], "bare_proc": [], "guard_cpu": [],
                   "bare_inproc_cpu": [], "guard_csw": [], "bare_inproc_csw": []} for t in counts}
    for rnd in range(rounds):
        for t in counts:
            order = ["bare", "guard"] if rnd % 2 == 0 else ["guard", "bare"]
            for mode in order:
                d = R.run_mgbench("threads", mode, ["--threads", str(t)])
                m = results_by_mode(d)
                if mode == "bare":
                    samples[t]["bare_proc"].append(m["self"]["wall_ns"])
                else:
                    samples[t]["guard"].append(m["self"]["wall_ns"])
                    samples[t]["bare_inproc"].append(m["bare"]["wall_ns"])
                    samples[t]["guard_cpu"].append(m["self"]["cpu_ns"])
                    samples[t]["bare_inproc_cpu"].append(m["bare"]["cpu_ns"])
                    samples[t]["guard_csw"].append(m["self"]["csw_per_op"])
                    samples[t]["bare_inproc_csw"].append(m["bare"]["csw_per_op"])
        log("  threads round %d/%d done" % (rnd + 1, rounds))
    rows = []
    for t in counts:
        s = samples[t]
        g, b, bp = median(s["guard"]), median(s["bare_inproc"]), median(s["bare_proc"])
        gc, bc = median(s["guard_cpu"]), median(s["bare_inproc_cpu"])
        rows.append({"threads": t, "guard_ns": g, "bare_ns": b, "bare_proc_ns": bp,
                     "ratio": g / b, "ratio_proc": g / bp, "guard_cpu_ns": gc, "bare_cpu_ns": bc,
                     "cpu_ratio": gc / bc, "guard_csw_per_iter": median(s["guard_csw"]),
                     "bare_csw_per_iter": median(s["bare_inproc_csw"]), "samples": s})
    return rows


# ---- macro ---------------------------------------------------------------------------------------

def sqlite_script(path, transactions, rows_per_tx):
    lines = ["PRAGMA mmap_size=268435456;", "PRAGMA journal_mode=WAL;", "PRAGMA synchronous=OFF;",
             "CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v BLOB);",
             "CREATE INDEX tk ON t(k);"]
    for i in range(transactions):
        lines.append("BEGIN; INSERT INTO t(k, v) SELECT hex(randomblob(8)), randomblob(1200) "
                     "FROM generate_series(1, %d); COMMIT;" % rows_per_tx)
        if i % 10 == 9:
            lines.append("SELECT count(*) FROM t WHERE k >= '%X';" % (i * 7 % 16))
    lines.append("SELECT count(*), sum(length(v)) FROM t;")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


GCC_HEADER = """#ifndef COMMON_H
#define COMMON_H
#include <stddef.h>
struct rec { int id; double w; char name[24]; struct rec *next; };
double mod_entry_%(n)d(int seed);
%(decls)s
#endif
"""

GCC_MODULE = """#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"

static int cmp_%(i)d(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;
	return (x->w > y->w) - (x->w < y->w);
}

static double fold_%(i)d(struct rec *r, int n, int k)
{
	double acc = 0;
	for (int j = 0; j < n; j++) {
		switch ((r[j].id + k) %% 7) {
		case 0: acc += r[j].w * 1.5; break;
		case 1: acc -= r[j].w / 3.0; break;
		case 2: acc *= 1.0001; break;
		case 3: acc += strlen(r[j].name); break;
		case 4: acc += (double)(r[j].id ^ k); break;
		case 5: acc = acc > 1e9 ? acc / 2 : acc + 1; break;
		default: acc += j; break;
		}
	}
	return acc;
}

double mod_%(i)d(int seed)
{
	int n = 64 + seed %% 32;
	struct rec *r = calloc((size_t)n, sizeof *r);
	if (!r)
		return 0;
	for (int j = 0; j < n; j++) {
		r[j].id = j * %(i)d + seed;
		r[j].w = (double)((j * 2654435761u + %(i)du) %% 1000) / 7.0;
		snprintf(r[j].name, sizeof r[j].name, "m%(i)d-%%d", j);
		r[j].next = j + 1 < n ? &r[j + 1] : NULL;
	}
	qsort(r, (size_t)n, sizeof *r, cmp_%(i)d);
	double acc = 0;
	for (int k = 0; k < 8; k++)
		acc += fold_%(i)d(r, n, k + seed);
	free(r);
	return acc;
}
"""

GCC_MAIN = """#include <stdio.h>
#include "common.h"
int main(void)
{
	double acc = 0;
%(calls)s
	printf("%%.3f\\n", acc);
	return 0;
}
"""


def make_gcc_project(d, nfiles):
    os.makedirs(d, exist_ok=True)
    decls = "\n".join("double mod_%d(int seed);" % i for i in range(nfiles))
    with open(os.path.join(d, "common.h"), "w") as f:
        f.write(GCC_HEADER % {"n": nfiles, "decls": decls})
    objs = []
    for i in range(nfiles):
        with open(os.path.join(d, "mod%d.c" % i), "w") as f:
            f.write(GCC_MODULE % {"i": i})
        objs.append("mod%d.o" % i)
    with open(os.path.join(d, "main.c"), "w") as f:
        f.write(GCC_MAIN % {"calls": "\n".join("\tacc += mod_%d(%d);" % (i, i)
                                              for i in range(nfiles))})
    objs.append("main.o")
    with open(os.path.join(d, "Makefile"), "w") as f:
        f.write("CC = gcc\nCFLAGS = -O2 -g -Wall\nOBJS = %s\n\n" % " ".join(objs))
        f.write("prog: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n\n")
        f.write("%.o: %.c common.h\n\t$(CC) $(CFLAGS) -c $< -o $@\n\n")
        f.write("clean:\n\trm -f prog $(OBJS)\n")


def timed(R, argv, guarded, cwd=None, stdin_path=None, what="", extra=None):
    os.sync()       # the previous run's dirty pages are written back now, not during this run
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    stdin = open(stdin_path) if stdin_path else subprocess.DEVNULL
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, env=R.env(guarded, extra), cwd=cwd, stdin=stdin, capture_output=True,
                           text=True, timeout=1800)
    finally:
        if stdin_path:
            stdin.close()
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if guarded:
        R.collect_guard_log(what)
    if r.returncode != 0:
        raise BenchError("%s failed (rc %d): %s" % (" ".join(argv), r.returncode, r.stderr[-2000:]))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, r.stdout


def interleaved(R, rounds, run_one, log, name):
    """run_one(guarded) -> (wall, cpu, value) for each mode, alternating which goes first."""
    s = {"bare": [], "guard": [], "bare_cpu": [], "guard_cpu": [], "bare_value": [],
         "guard_value": []}
    for rnd in range(rounds):
        for mode in (["bare", "guard"] if rnd % 2 == 0 else ["guard", "bare"]):
            wall, cpu, value = run_one(mode == "guard")
            s[mode].append(wall)
            s[mode + "_cpu"].append(cpu)
            s[mode + "_value"].append(value)
        log("  %s round %d/%d done" % (name, rnd + 1, rounds))
    return s


def macro_seed(R, rounds, cfg, log):
    """The incident's program with its reload done safely (write a new file, rename it over the
    old name): the mapping stays whole, so bare and guarded do the same work. A reader thread
    sweeps the 64 KiB mapping while the reload thread rewrites the config every 20 ms; the
    figure is the reader's sweeps per second, bare over guarded (a slowdown, like the others)."""
    exe = R.find_seed_race()
    d = os.path.join(R.scratch, "seed")
    os.makedirs(d, exist_ok=True)
    cfgpath = os.path.join(d, "service.conf")
    pass_re = re.compile(r"(\d+) applied, (\d+) refused; reader made (\d+) passes")

    def one(guarded):
        wall, cpu, out = timed(R, [exe, cfgpath, str(cfg["seed_rounds"]), "rename"], guarded,
                               what="seed_race")
        m = pass_re.search(out)
        if not m or int(m.group(1)) != cfg["seed_rounds"] or int(m.group(2)) != 0:
            raise BenchError("seed_race (rename) did not apply every reload: %r" % out)
        return wall, cpu, int(m.group(3)) / wall

    s = interleaved(R, rounds, one, log, "seed race")
    ratio = median(s["bare_value"]) / median(s["guard_value"])
    return {"id": "seed", "label": "seed race, reload by rename, %d reloads: reader sweeps/s"
            % cfg["seed_rounds"], "bare_s": median(s["bare"]), "guard_s": median(s["guard"]),
            "ratio": ratio, "cpu_ratio": median(s["guard_cpu"]) / median(s["bare_cpu"]),
            "target": MACRO_TARGET, "pass": ratio <= MACRO_TARGET, "samples": s}


def macro_spawn(R, rounds, cfg, log, extra=None, rid="spawn", note=""):
    """Process start-up: a shell starting /bin/true N times. LD_PRELOAD reaches every process,
    so this is the fixed cost per process (loading the library, its constructor). Shown for
    information: the issue's macro target is about the programs above."""
    n = cfg["spawn_n"]
    script = "i=0; while [ $i -lt %d ]; do /bin/true; i=$((i+1)); done" % n

    def one(guarded):
        wall, cpu, _ = timed(R, ["/bin/sh", "-c", script], guarded, what="sh", extra=extra)
        return wall, cpu, wall

    s = interleaved(R, rounds, one, log, "process start" + note)
    ratio = median(s["guard"]) / median(s["bare"])
    return {"id": rid, "label": "sh starting /bin/true %d times%s (per-process cost)" % (n, note),
            "bare_s": median(s["bare"]), "guard_s": median(s["guard"]), "ratio": ratio,
            "cpu_ratio": median(s["guard_cpu"]) / median(s["bare_cpu"]),
            "per_process_us": (median(s["guard"]) - median(s["bare"])) / n * 1e6,
            "target": None, "pass": True, "samples": s}


def run_xproc(R, rounds, counts, log):
    """The scan a truncating call makes when no write lease is possible (another process holds
    the file open): its cost against the number of processes on the machine, in scope all (every
    /proc/PID/maps) and guarded (the index). N idle processes of this user are added."""
    rows = []
    for n in counts:
        idle = [subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 env=clean_env()) for _ in range(n)]
        try:
            procs = sum(1 for d in os.listdir("/proc") if d.isdigit())
            row = {"added": n, "processes": procs}
            # "all": the default, a walk's answer reused for 250 ms by later cuts of the file;
            # "all_each": MMAPGUARD_SCAN_REUSE_MS=0, every shrinking call walks /proc
            for scope, env in (("all", {}), ("all_each", {"MMAPGUARD_SCAN_REUSE_MS": "0"}),
                               ("guarded", {})):
                g, b = [], []
                env = dict(env, MMAPGUARD_SCOPE=scope.split("_")[0], MMAPGUARD_SCAN_MS="60000")
                for _ in range(rounds):
                    d = R.run_mgbench("ftrunc_shared_zero", "guard", extra_env=env)
                    m = results_by_mode(d)
                    g.append(m["self"]["cpu_ns"])
                    b.append(m["bare"]["cpu_ns"])
                # half the calls shrink (and scan), half grow: per shrinking call
                row[scope] = {"guard_ns": median(g), "bare_ns": median(b),
                              "scan_us": (median(g) - median(b)) * 2 / 1000.0}
            rows.append(row)
            log("  xproc scan with %d processes done" % procs)
        finally:
            for p in idle:
                p.stdin.close()
                p.wait()
    return rows


def write_packs(gitdir, n):
    """n packs of one blob each, written directly (pack format v2, index v2): a repository that
    fetched often and was never repacked, made in a second instead of n git processes."""
    d = os.path.join(gitdir, "objects", "pack")
    os.makedirs(d, exist_ok=True)
    for i in range(n):
        data = (b"blob %d\n" % i) * 3
        sha = hashlib.sha1(b"blob %d\0" % len(data) + data).digest()
        size = len(data)       # object header: type 3 (blob), size 4 bits then 7-bit groups
        hdr = bytearray([(3 << 4) | (size & 15) | (0x80 if size > 15 else 0)])
        size >>= 4
        while size:
            hdr.append((size & 0x7f) | (0x80 if size > 0x7f else 0))
            size >>= 7
        obj = bytes(hdr) + zlib.compress(data)
        body = b"PACK" + struct.pack(">II", 2, 1) + obj
        pack_sum = hashlib.sha1(body).digest()
        fanout = b"".join(struct.pack(">I", 1 if k >= sha[0] else 0) for k in range(256))
        idx = (b"\xfftOc" + struct.pack(">I", 2) + fanout + sha
               + struct.pack(">II", zlib.crc32(obj) & 0xffffffff, 12) + pack_sum)
        idx += hashlib.sha1(idx).digest()
        name = os.path.join(d, "pack-" + pack_sum.hex())
        with open(name + ".pack", "wb") as f:
            f.write(body + pack_sum)
        with open(name + ".idx", "wb") as f:
            f.write(idx)


def macro_git(R, rounds, cfg, log):
    """git cat-file --batch-all-objects --batch-check in a repository of N packs. git maps every
    pack's index and a window of every pack it reads, and keeps them all mapped until it exits:
    2N live file mappings made by a real program (a mirror that fetches often with gc.auto=0)."""
    n = cfg["git_packs"]
    d = os.path.join(R.scratch, "gitpacks")
    subprocess.run(["git", "init", "-q", d], env=clean_env(), check=True, capture_output=True)
    write_packs(os.path.join(d, ".git"), n)
    argv = ["git", "-C", d, "cat-file", "--batch-all-objects", "--batch-check"]
    outputs = set()

    def one(guarded):
        wall, cpu, out = timed(R, argv, guarded, what="git cat-file")
        outputs.add(out)
        if out.count("\n") != n:
            raise BenchError("git cat-file listed %d objects, not %d" % (out.count("\n"), n))
        return wall, cpu, cpu

    s = interleaved(R, rounds, one, log, "git")
    if len(outputs) != 1:
        R.failures.append("git cat-file output differs between runs")
    ratio = median(s["guard_cpu"]) / median(s["bare_cpu"])
    return {"id": "git", "label": "git cat-file --batch-check, %d packs (%d live maps)" % (n, 2 * n),
            "bare_s": median(s["bare"]), "guard_s": median(s["guard"]),
            "ratio": median(s["guard"]) / median(s["bare"]), "cpu_ratio": ratio,
            "target": None, "pass": True, "samples": s}


def run_macro(R, rounds, cfg, log):
    rows = [macro_seed(R, rounds, cfg, log)]
    if shutil.which("git"):
        rows.append(macro_git(R, rounds, cfg, log))
    else:
        R.notes.append("git not installed: git macro skipped")
    # sqlite3
    if shutil.which("sqlite3"):
        d = os.path.join(R.scratch, "sqlite")
        os.makedirs(d)
        script = os.path.join(d, "load.sql")
        sqlite_script(script, cfg["sqlite_tx"], cfg["sqlite_rows"])
        db = os.path.join(d, "bench.db")
        s = {"bare": [], "guard": [], "bare_cpu": [], "guard_cpu": []}
        outputs = set()
        size = 0
        for rnd in range(rounds):
            for mode in (["bare", "guard"] if rnd % 2 == 0 else ["guard", "bare"]):
                for p in glob.glob(db + "*"):
                    os.unlink(p)
                wall, cpu, out = timed(R, ["sqlite3", "-batch", db], mode == "guard",
                                       stdin_path=script, what="sqlite3")
                size = os.path.getsize(db)
                s[mode].append(wall)
                s[mode + "_cpu"].append(cpu)
                outputs.add(out.strip().splitlines()[-1])
            log("  sqlite round %d/%d done" % (rnd + 1, rounds))
        for p in glob.glob(db + "*"):
            os.unlink(p)
        if len(outputs) != 1:
            R.failures.append("sqlite3 results differ between runs: %r" % sorted(outputs))
        ratio = median(s["guard"]) / median(s["bare"])
        rows.append({"id": "sqlite", "label": "sqlite3 CLI, mmap_size=256M, %d MB DB, %d tx"
                     % (size // 2**20, cfg["sqlite_tx"]),
                     "bare_s": median(s["bare"]), "guard_s": median(s["guard"]), "ratio": ratio,
                     "cpu_ratio": median(s["guard_cpu"]) / median(s["bare_cpu"]),
                     "target": MACRO_TARGET, "pass": ratio <= MACRO_TARGET, "samples": s})
    else:
        R.notes.append("sqlite3 not installed: sqlite macro skipped")
    # gcc + make
    if shutil.which("gcc") and shutil.which("make"):
        d = os.path.join(R.scratch, "gccproj")
        make_gcc_project(d, cfg["gcc_files"])
        s = {"bare": [], "guard": [], "bare_cpu": [], "guard_cpu": []}
        outputs = set()
        for rnd in range(rounds):
            for mode in (["bare", "guard"] if rnd % 2 == 0 else ["guard", "bare"]):
                subprocess.run(["make", "-s", "clean"], cwd=d, env=clean_env(), check=True,
                               capture_output=True)
                wall, cpu, _ = timed(R, ["make", "-s", "-j1"], mode == "guard", cwd=d,
                                     what="make/gcc")
                s[mode].append(wall)
                s[mode + "_cpu"].append(cpu)
                outputs.add(subprocess.run([os.path.join(d, "prog")], capture_output=True,
                                           text=True, check=True).stdout.strip())
            log("  gcc round %d/%d done" % (rnd + 1, rounds))
        if len(outputs) != 1:
            R.failures.append("the built program's output differs between builds: %r"
                              % sorted(outputs))
        ratio = median(s["guard"]) / median(s["bare"])
        rows.append({"id": "gcc", "label": "make -j1: gcc -O2 -g, %d C files + link"
                     % (cfg["gcc_files"] + 1),
                     "bare_s": median(s["bare"]), "guard_s": median(s["guard"]), "ratio": ratio,
                     "cpu_ratio": median(s["guard_cpu"]) / median(s["bare_cpu"]),
                     "target": MACRO_TARGET, "pass": ratio <= MACRO_TARGET, "samples": s})
    else:
        R.notes.append("gcc or make not installed: build macro skipped")
    if os.path.exists("/bin/true"):
        rows.append(macro_spawn(R, rounds, cfg, log))
        rows.append(macro_spawn(R, rounds, cfg, log, {"MMAPGUARD_SCOPE": "process"}, "spawn_proc",
                                ", MMAPGUARD_SCOPE=process"))
    return rows


# ---- report --------------------------------------------------------------------------------------

def machine_info(R):
    def cmd_out(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    def fs_type(path):
        best, typ = "", "?"
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                mnt = parts[1]
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                    best, typ = mnt, parts[2]
        return typ

    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    # The sources the library was built from: the build directory's CMake cache knows.
    src = SRC
    try:
        with open(os.path.join(R.build, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_HOME_DIRECTORY:"):
                    src = line.split("=", 1)[1].strip()
    except OSError:
        pass
    return {
        "kernel": platform.release(), "cpus": os.cpu_count(), "loadavg": load,
        "max_map_count": read_max_map_count(),
        "scratch": R.scratch, "scratch_fs": fs_type(os.path.realpath(R.scratch)),
        "lib": R.lib, "mgbench": R.mgbench,
        "source_dir": src,
        "source_commit": cmd_out(["git", "-C", src, "rev-parse", "--short", "HEAD"]) or "unknown",
        "source_dirty": bool(cmd_out(["git", "-C", src, "status", "--porcelain", "--", "shim"])),
        "strace": (cmd_out(["strace", "-V"]) or "").split("\n")[0] or None,
        "sqlite3": (cmd_out(["sqlite3", "--version"]) or "").split(" ")[0] or None,
        "gcc": (cmd_out(["gcc", "-dumpfullversion"]) or None),
    }


def read_max_map_count():
    try:
        with open("/proc/sys/vm/max_map_count") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 65530


def print_report(res, out=sys.stdout):
    p = lambda s="": print(s, file=out)
    cfg = res["config"]
    m = res["machine"]
    p()
    p("mmapguard benchmark (%s): %d rounds, batches of %s, %s cores, kernel %s, loadavg %s -> %s"
      % (cfg["mode"], cfg["rounds"], "%d ops" % 20 if cfg["mode"] == "smoke"
         else "%g ms x %d" % (cfg["batch_ms"], cfg["batches"]),
         m["cpus"], m["kernel"], " ".join(m["loadavg"]), " ".join(res["loadavg_end"])))
    p("scratch files on %s (%s); guard %s (source %s, commit %s%s)"
      % (m["scratch_fs"], os.path.dirname(m["scratch"]), m["lib"], m["source_dir"],
         m["source_commit"], ", shim/ has uncommitted changes" if m["source_dirty"] else ""))
    p("ratio = guard/bare, both in the guarded process, batches interleaved (median over rounds of"
      " each process's ratio); proc = guard / bare process (no preload). ns = median per op.")
    p()
    hdr = "%-50s %8s %8s %7s %7s %7s  %s" % ("per call (thread CPU time)", "bare ns", "guard ns",
                                              "ratio", "proc", "target", "")
    p(hdr)
    p("-" * len(hdr))
    for r in res["micro"]:
        tgt = "<=%.2f" % r["target"] if r["target"] else "-"
        p("%-50s %8s %8s %7s %7s %7s  %s" % (
            r["label"], fmt_ns(r["bare_ns"]), fmt_ns(r["guard_ns"]), fmt_ratio(r["ratio"]),
            fmt_ratio(r["ratio_proc"]), tgt,
            verdict(r["pass"]) if r["pass"] is not None else ""))
    p()
    if res.get("scale"):
        ns = sorted({pt["live"] for row in res["scale"] for pt in row["points"]})
        p("scaling: guard ns per op (guard/bare) with N live one-page file mappings;"
          " target: guard at max N <= %.1fx guard at 10" % SCALE_TARGET)
        for note in res.get("scale_notes", []):
            p("  note: " + note)
        for layout in ("merged", "distinct"):
            rows = [r for r in res["scale"] if r["layout"] == layout]
            if not rows:
                continue
            pts = rows[0]["points"]
            vmas = ", ".join("%d->%s" % (pt["live"], pt.get("vmas", "?")) for pt in pts)
            p("  layout %s (N -> VMAs in the process: %s)" % (layout, vmas))
            hdr = "  %-44s" % "" + "".join("%17s" % ("N=%d" % pt["live"]) for pt in pts) + \
                "   growth(bare)  "
            p(hdr)
            for r in rows:
                cells = "".join("%17s" % ("%s (%s)" % (fmt_ns(pt["guard_ns"]), "%.2f" % pt["ratio"]))
                                for pt in r["points"])
                p("  %-44s%s   %6.2fx (%.2fx) %s" % (r["label"], cells, r["guard_growth"],
                                                     r["bare_growth"], verdict(r["pass"])))
        p()
    if res.get("live"):
        p("live mappings vs bare: N one-page windows of one file mapped (N VMAs), then unmapped;"
          " ns per window (mmap+munmap, thread CPU), creation stacks on")
        hdr = "  %-10s %14s %9s %9s %7s %7s %7s" % ("N", "max_map_count", "bare ns", "guard ns",
                                                    "ratio", "proc", "target")
        p(hdr)
        for r in res["live"]:
            p("  %-10d %14d %9s %9s %7s %7s %7s  %s" % (
                r["live"], r["max_map_count"], fmt_ns(r["bare_ns"]), fmt_ns(r["guard_ns"]),
                fmt_ratio(r["ratio"]), fmt_ratio(r["ratio_proc"]), "<=%.2f" % r["target"],
                verdict(r["pass"])))
        p()
    if res.get("threads"):
        p("threads: ns per iteration of open+mmap+munmap+close+anon mmap+munmap, whole group;"
          " wall (throughput), process CPU time, voluntary context switches per iteration")
        hdr = "  %-7s %9s %10s %7s %7s  %9s %9s %7s  %9s %9s" % (
            "threads", "bare wall", "guard wall", "ratio", "proc", "bare cpu", "guard cpu",
            "ratio", "bare csw", "guard csw")
        p(hdr)
        for r in res["threads"]:
            p("  %-7d %9s %10s %7s %7s  %9s %9s %7s  %9.3f %9.3f" % (
                r["threads"], fmt_ns(r["bare_ns"]), fmt_ns(r["guard_ns"]), fmt_ratio(r["ratio"]),
                fmt_ratio(r["ratio_proc"]), fmt_ns(r["bare_cpu_ns"]), fmt_ns(r["guard_cpu_ns"]),
                fmt_ratio(r["cpu_ratio"]), r["bare_csw_per_iter"], r["guard_csw_per_iter"]))
        p()
    if res.get("xproc"):
        p("scan of other processes (no write lease possible: another process holds the file"
          " open), per shrinking ftruncate, us; bound MMAPGUARD_SCAN_MS (default 100 ms)")
        p("  %-12s %12s %16s %14s" % ("processes", "scope all", "all, each walks",
                                        "scope guarded"))
        for r in res["xproc"]:
            p("  %-12d %12.1f %16.1f %14.1f" % (r["processes"], r["all"]["scan_us"],
                                               r["all_each"]["scan_us"], r["guarded"]["scan_us"]))
        p()
    if res.get("macro"):
        p("macro: whole-command wall time, median of %d runs each, interleaved; ratio = guard/bare"
          " wall time (seed race: bare/guard reader sweeps per second)" % cfg["rounds"])
        hdr = "  %-50s %8s %8s %7s %7s %7s" % ("", "bare s", "guard s", "ratio", "cpu", "target")
        p(hdr)
        for r in res["macro"]:
            p("  %-50s %8.2f %8.2f %7.3f %7.3f %7s  %s" % (
                r["label"], r["bare_s"], r["guard_s"], r["ratio"], r["cpu_ratio"],
                "<=%.2f" % r["target"] if r["target"] else "-",
                verdict(r["pass"]) if r["target"] else ""))
            if r.get("per_process_us") is not None:
                p("  %-50s %.0f us more per process" % ("", r["per_process_us"]))
        p()
    if res.get("strace_note"):
        p("peer: " + res["strace_note"])
    if any(r["strace_over_guard"] for r in res["micro"]):
        p("peer: strace %s (wall ns per op); target: strace/guard >= %.0fx"
          % (" ".join(res["strace_args"][:-2]), STRACE_TARGET))
        hdr = "  %-50s %10s %10s %9s" % ("", "guard ns", "strace ns", "strace/guard")
        p(hdr)
        for r in res["micro"]:
            if r["strace_over_guard"]:
                p("  %-50s %10s %10s %8.1fx  %s" % (
                    r["label"], fmt_ns(r["guard_wall_ns"]), fmt_ns(r["strace_wall_ns"]),
                    r["strace_over_guard"], verdict(r["strace_pass"])))
        p()
    for r in res.get("leases", []):
        if "skipped" in r:
            p("%s: skipped (%s)" % (r["name"], r["skipped"]))
        else:
            p("%s, %d samples: +%.0f us median, +%.0f us p99 (with %.0f/%.0f us, without %.0f/%.0f us)"
              % (r["name"], r["samples"], r["added_us"]["median"], r["added_us"]["p99"],
                 r["with_us"]["median"], r["with_us"]["p99"], r["without_us"]["median"],
                 r["without_us"]["p99"]))
        p()
    if res["guard_events"]:
        p("guard log records during the run: " + ", ".join(
            "%s x%d" % (k, v) for k, v in sorted(res["guard_events"].items())))
    for n in res["notes"]:
        p("note: " + n)
    for f in res["failures"]:
        p("FAILURE: " + f)
    s = res["summary"]
    times = ", ".join("%s %.0f s" % kv for kv in res["section_s"].items())
    if cfg["mode"] == "smoke":
        p("smoke run: everything ran; the counts are too small for the times to mean anything, "
          "so no verdicts (%.0f s: %s)" % (res["elapsed_s"], times))
        return
    p("targets: %d PASS, %d MISS%s" % (
        s["pass"], s["miss"], (" (" + ", ".join(s["missed"]) + ")") if s["missed"] else ""))
    p("total time %.0f s (%s)" % (res["elapsed_s"], times))


def summarize(res):
    passed, missed = 0, []
    for r in res["micro"]:
        if r["pass"] is not None:
            passed += r["pass"]
            if not r["pass"]:
                missed.append(r["id"])
        if r["strace_pass"] is not None:
            passed += r["strace_pass"]
            if not r["strace_pass"]:
                missed.append("strace:" + r["id"])
    for r in res.get("scale", []):
        passed += r["pass"]
        if not r["pass"]:
            missed.append("scale:%s:%s" % (r["layout"], r["op"]))
    for r in res.get("live", []):
        passed += r["pass"]
        if not r["pass"]:
            missed.append("live:%d" % r["live"])
    for r in res.get("macro", []):
        if not r["target"]:
            continue
        passed += r["pass"]
        if not r["pass"]:
            missed.append("macro:" + r["id"])
    return {"pass": passed, "miss": len(missed), "missed": missed}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(SRC, "build"),
                    help="CMake build directory holding libmmapguard.so (default: build)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="under a minute: 3 rounds, small macro")
    g.add_argument("--smoke", action="store_true",
                   help="a few seconds: tiny counts, checks only that everything runs")
    ap.add_argument("--json", default=os.path.join(HERE, "results.json"),
                    help="where to write the results (default bench/results.json)")
    ap.add_argument("--rounds", type=int, help="rounds (default 7, quick 3, smoke 1)")
    ap.add_argument("--batch-ms", type=float, help="ms per timed batch (default 20, quick 5)")
    ap.add_argument("--batches", type=int, help="timed batches per mode per process (default 9)")
    ap.add_argument("--dir", default=None, help="parent of the scratch directory (default $TMPDIR"
                    " or /tmp; its filesystem matters for ftruncate)")
    ap.add_argument("--skip", default="", help="comma list of sections to skip: "
                    "micro,scale,xproc,live,threads,macro,leases,strace")
    args = ap.parse_args()
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    global SMOKE
    SMOKE = args.smoke
    defaults = {
        "full": dict(rounds=7, batch_ms=20, batches=9, warmup_ms=30, strace_rounds=3,
                     scale_sizes=[10, 1000, 10000, 100000], thread_counts=[1, 2, 4, 8],
                     xproc_added=[0, 100, 400],
                     live_sizes=[1000, 10000, 30000, 100000], live_batches=5,
                     macro=dict(sqlite_tx=200, sqlite_rows=1000, gcc_files=24, seed_rounds=50,
                                spawn_n=500, git_packs=5000)),
        "quick": dict(rounds=3, batch_ms=5, batches=5, warmup_ms=10, strace_rounds=1,
                      scale_sizes=[10, 100000], thread_counts=[1, 2, 4, 8],
                      xproc_added=[0, 200],
                      live_sizes=[1000, 30000], live_batches=3,
                      macro=dict(sqlite_tx=16, sqlite_rows=1000, gcc_files=6, seed_rounds=10,
                                spawn_n=100, git_packs=2000)),
        "smoke": dict(rounds=1, batch_ms=1, batches=2, warmup_ms=1, strace_rounds=1,
                      scale_sizes=[10, 1000], thread_counts=[1, 2], xproc_added=[0, 5],
                      live_sizes=[1000], live_batches=2,
                      macro=dict(sqlite_tx=2, sqlite_rows=100, gcc_files=2, seed_rounds=2,
                                spawn_n=5, git_packs=20)),
    }[mode]
    args.rounds = args.rounds or defaults["rounds"]
    args.batch_ms = args.batch_ms or defaults["batch_ms"]
    args.batches = args.batches or defaults["batches"]
    args.warmup_ms = defaults["warmup_ms"]
    skip = set(filter(None, args.skip.split(",")))
    t_start = time.monotonic()
    log = lambda s: print(s, file=sys.stderr, flush=True)
    try:
        R = Runner(args)
    except BenchError as e:
        print("mgbench: %s" % e, file=sys.stderr)
        return 2
    res = {"config": {"mode": mode, "rounds": args.rounds, "batch_ms": args.batch_ms,
                      "batches": args.batches, "warmup_ms": args.warmup_ms, "depth": 8,
                      "skip": sorted(skip)},
           "micro": [], "scale": [], "xproc": [], "threads": [], "macro": [], "section_s": {}}
    section_t = [time.monotonic()]

    def section_done(name):
        now = time.monotonic()
        res["section_s"][name] = round(now - section_t[0], 1)
        section_t[0] = now

    try:
        res["machine"] = machine_info(R)
        R.strace_ok = "strace" not in skip and R.check_strace()
        res["strace_note"] = R.strace_note if "strace" not in skip else "skipped (--skip)"
        res["strace_args"] = R.strace_args
        if "micro" not in skip:
            log("micro benchmarks...")
            res["micro"] = run_micro(R, args.rounds, min(args.rounds, defaults["strace_rounds"]), log)
            section_done("micro+strace")
        if "scale" not in skip:
            mmc = read_max_map_count()
            cap = max(1000, (mmc - 1500) // 1000 * 1000)
            want = defaults["scale_sizes"]
            distinct = sorted({min(n, cap) for n in want})
            res["scale_notes"] = [
                "merged: N one-page MAP_FIXED mappings of one file at contiguous addresses and "
                "offsets; the kernel merges them into one VMA, the guard keeps one window per call",
                "distinct: neighbours alternate between two files, so every mapping is its own VMA"]
            if max(want) > cap:
                res["scale_notes"].append(
                    "%d distinct VMAs do not fit under vm.max_map_count=%d: the distinct layout "
                    "stops at %d" % (max(want), mmc, cap))
            log("scaling benchmarks...")
            res["scale"] = run_scale(R, args.rounds, [("merged", want), ("distinct", distinct)], log)
            section_done("scale")
        if "xproc" not in skip:
            log("cross-process scan...")
            res["xproc"] = run_xproc(R, args.rounds, defaults["xproc_added"], log)
            section_done("xproc")
        if "live" not in skip:
            log("live mappings vs bare...")
            res["live"] = run_live(R, args.rounds, defaults["live_sizes"], defaults["live_batches"],
                                   log)
            section_done("live")
        if "threads" not in skip:
            log("thread benchmarks...")
            res["threads"] = run_threads(R, args.rounds, defaults["thread_counts"], log)
            section_done("threads")
        if "macro" not in skip:
            log("macro benchmarks...")
            res["macro"] = run_macro(R, args.rounds, defaults["macro"], log)
            section_done("macro")
        if "leases" not in skip:
            log("lease benchmarks...")
            res["leases"] = run_leases(R, {"full": 100, "quick": 30, "smoke": 3}[mode], log)
            section_done("leases")
    except (BenchError, subprocess.SubprocessError, OSError) as e:
        print("mgbench: %s" % e, file=sys.stderr)
        shutil.rmtree(R.scratch, ignore_errors=True)
        return 1
    except BaseException:
        shutil.rmtree(R.scratch, ignore_errors=True)
        raise
    with open("/proc/loadavg") as f:
        res["loadavg_end"] = f.read().split()[:3]
    res["guard_events"] = R.guard_events
    res["notes"] = R.notes
    res["failures"] = R.failures
    res["elapsed_s"] = time.monotonic() - t_start
    res["summary"] = summarize(res)
    res["command"] = " ".join([os.path.basename(sys.executable)] + sys.argv)
    shutil.rmtree(R.scratch, ignore_errors=True)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1, sort_keys=True)
    print_report(res)
    if args.json:
        print("results written to %s" % args.json)
    return 1 if R.failures else 0


if __name__ == "__main__":
    sys.exit(main())
