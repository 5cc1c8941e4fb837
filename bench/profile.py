#!/usr/bin/env python3
"""Where the guard's time goes, per call: stable counts on a noisy machine.

    python3 bench/profile.py --build build [WORKLOAD ...]

For each mgbench workload (default: the per-call ones), with a fixed number of ops:
* user-space instructions per op (valgrind --tool=callgrind, collection limited to the timed batch
  functions), guarded and bare, and the guard's functions by inclusive instructions per op;
* system calls per op, guarded and bare (strace -f -c), and the extra ones the guard makes.
Kernel work is invisible to callgrind: on this kind of machine one extra system call (fstat ~350 ns)
costs as much as a few thousand instructions, so read both halves.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
DEFAULT = ["open_close", "mmap_file", "mmap_anon", "mmap_anon_empty", "ftrunc_unmapped",
           "ftrunc_unmapped_empty", "ftrunc_grow", "fopen_fclose"]


def env_for(lib, guarded, extra, logdir):
    e = dict(os.environ)
    e.pop("LD_PRELOAD", None)
    for k in list(e):
        if k.startswith("MMAPGUARD_"):
            del e[k]
    if guarded:
        e["LD_PRELOAD"] = lib
        e["MMAPGUARD_LOG"] = os.path.join(logdir, "guard.%p.log")
        e.update(extra)
    return e


def callgrind(mgbench, lib, workload, args, guarded, extra, tmp):
    out = os.path.join(tmp, "cg.%s.%d" % (workload, guarded))
    # valgrind passes the environment (with LD_PRELOAD) to the client; its own preloads are added.
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
            "--toggle-collect=batch_*", mgbench, workload] + args
    r = subprocess.run(argv, env=env_for(lib, guarded, extra, tmp), capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("callgrind failed: %s\n%s" % (" ".join(argv), r.stderr[-2000:]))
    ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", out],
                         capture_output=True, text=True).stdout
    total, funcs = 0, []
    for line in ann.splitlines():
        m = re.match(r"\s*([\d,]+) \([\s\d.]+%\)\s+(.*)$", line)
        if not m:
            continue
        n = int(m.group(1).replace(",", ""))
        name = m.group(2)
        if name == "PROGRAM TOTALS":
            total = n
        else:
            funcs.append((n, name))
    return total, funcs


def syscalls(mgbench, lib, workload, args, guarded, extra, tmp):
    out = os.path.join(tmp, "sc.%s.%d" % (workload, guarded))
    argv = ["strace", "-f", "-c", "-o", out, mgbench, workload] + args
    subprocess.run(argv, env=env_for(lib, guarded, extra, tmp), check=True, capture_output=True)
    counts = {}
    for line in open(out):
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
            counts[parts[-1]] = int(parts[3])
    return counts


def short(name):
    # "/path/shim/registry.c:mg_reg_insert_locked [/path/libmmapguard.so]" -> "mg_reg_insert_locked"
    name = re.sub(r"\s*\[.*\]$", "", name)
    return name.split(":")[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--iters", type=int, default=10000)
    ap.add_argument("--top", type=int, default=14)
    ap.add_argument("--env", action="append", default=[],
                    help="extra guard environment, e.g. MMAPGUARD_CREATION_STACKS=0")
    ap.add_argument("workloads", nargs="*", default=DEFAULT)
    a = ap.parse_args()
    for tool in ("valgrind", "callgrind_annotate", "strace"):
        if not shutil.which(tool):
            sys.exit("%s is needed (apt-get install -y valgrind strace)" % tool)
    build = os.path.abspath(a.build)
    lib = os.path.join(build, "libmmapguard.so")
    mgbench = os.path.join(build, "bench", "mgbench")
    if not os.path.exists(mgbench):
        sys.exit("%s missing: run bench/run.py once (it builds it) or build the mgbench target"
                 % mgbench)
    extra = dict(kv.split("=", 1) for kv in a.env)
    tmp = tempfile.mkdtemp(prefix="mgprof-")
    try:
        for w in a.workloads:
            args = ["--iters", str(a.iters), "--batches", "1", "--dir", tmp]
            tg, funcs = callgrind(mgbench, lib, w, args, True, extra, tmp)
            tb, _ = callgrind(mgbench, lib, w, args, False, extra, tmp)
            sg = syscalls(mgbench, lib, w, args, True, extra, tmp)
            sb = syscalls(mgbench, lib, w, args, False, extra, tmp)
            n = a.iters
            print("== %s%s: user-space instructions per op: guard %.0f, bare %.0f (+%.0f)"
                  % (w, " " + " ".join(a.env) if a.env else "", tg / n, tb / n, (tg - tb) / n))
            extra_sc = {k: (sg.get(k, 0) - sb.get(k, 0)) / n for k in set(sg) | set(sb)}
            extra_sc = {k: v for k, v in extra_sc.items() if abs(v) >= 0.01}
            print("   extra system calls per op: %s" % (", ".join(
                "%s %+.2f" % kv for kv in sorted(extra_sc.items(), key=lambda kv: -abs(kv[1])))
                or "none"))
            shown = 0
            print("   guard functions, inclusive instructions per op:")
            for cnt, name in funcs:
                if "libmmapguard" not in name and "libunwind" not in name and "shim/" not in name:
                    continue
                print("     %8.0f  %s" % (cnt / n, short(name)))
                shown += 1
                if shown >= a.top:
                    break
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
