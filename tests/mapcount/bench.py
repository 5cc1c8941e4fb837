#!/usr/bin/env python3
"""Timing of the map-count guard (not a test: CTest does not run it).

  python3 tests/mapcount/bench.py [BUILD_DIR] [RUNS]

Interleaves RUNS (default 5) bare and guarded runs of each command and prints the medians of the
CPU time (user + system, from wait4: robust when other work shares the machine) and of the
wall-clock time, and the ratios. The guard logs to a file in a temporary directory.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
lib = os.path.join(build, "libmmapguard.so")
seed = os.path.join(build, "demo", "mapcount", "seed_mapcount")
wall = os.path.join(build, "tests", "bin", "mc_wall")
commands = [
    ("seed (a) munmap", [seed, "munmap"]),
    ("seed (b) free", [seed, "free"]),
    ("1e6 anon mmap+munmap pairs", [wall, "pairs", "1000000"]),
    ("1e6 file mmap+munmap pairs", [wall, "pairs", "1000000", "file"]),
]


def once(argv, guarded, logdir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMAPGUARD_") and k != "LD_PRELOAD"}
    if guarded:
        env.update(LD_PRELOAD=lib, MMAPGUARD_LOG=os.path.join(logdir, "log.%p"))
    t = time.perf_counter()
    p = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit("%s exited with %d" % (argv, p.returncode))
    return ru.ru_utime + ru.ru_stime, wall


with tempfile.TemporaryDirectory() as logdir:
    for name, argv in commands:
        if not os.path.exists(argv[0]):
            print("%-28s skipped: %s not built" % (name, argv[0]))
            continue
        bare, guard = [], []
        for _ in range(runs):
            bare.append(once(argv, False, logdir))
            guard.append(once(argv, True, logdir))
        bc, gc = statistics.median(x[0] for x in bare), statistics.median(x[0] for x in guard)
        bw, gw = statistics.median(x[1] for x in bare), statistics.median(x[1] for x in guard)
        print("%-28s cpu: bare %.3f s guarded %.3f s ratio %.2f | wall: bare %.3f s guarded %.3f s "
              "ratio %.2f" % (name, bc, gc, gc / bc, bw, gw, gw / bw))
        print("    cpu runs: bare %s; guarded %s" % (" ".join("%.3f" % x[0] for x in bare),
                                                    " ".join("%.3f" % x[0] for x in guard)))
