#!/usr/bin/env python3
"""Write synthetic mmapguard JSON Lines logs: genlog.py OUT NRECORDS [--seed N].

Shaped like the guard's records (see docs): backtraces of 8-14 frames, one or two endangered
mappings with creation stacks, 40 processes, 25 call sites over 8 files, some records blocked,
some "sigbus" events. Prints the expected totals as JSON on stdout, so a test can compare.
"""
import json
import random
import sys


def frame(rng, module, off):
    return {"ip": "0x%x" % (0x555500000000 + off), "module": module,
            "module_offset": "0x%x" % off, "symbol": "fn_%x+0x%x" % (off >> 4, off & 15)}


def stack(rng, seed, depth):
    r = random.Random(seed)
    mods = ["/usr/bin/app", "/usr/lib/x86_64-linux-gnu/libapp.so.1", "/lib/x86_64-linux-gnu/libc.so.6"]
    return [frame(r, mods[r.randrange(3)], r.randrange(0x1000, 0x90000)) for _ in range(depth)]


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    sites = [(i % 8, i, rng.choice(["ftruncate", "truncate", "open", "fopen"]), 8 + i % 7)
             for i in range(25)]
    expect = {"records": 0, "violations": 0, "blocked": 0, "sigbus": 0, "sites": {}, "pids": set()}
    with open(out, "w") as f:
        for k in range(n):
            pid = 1000 + rng.randrange(40)
            expect["pids"].add(pid)
            t = "2026-11-25T10:%02d:%02d.%06dZ" % (k // 600000 % 60, k // 10000 % 60, k % 1000000)
            if k % 50 == 49:
                rec = {"event": "sigbus", "pid": pid, "tid": pid, "thread_name": "app", "time": t,
                       "fault": {"addr": "0x7f0000001000", "path": "/data/file%d" % (k % 3)},
                       "backtrace": stack(rng, 999, 10)}
                expect["sigbus"] += 1
            else:
                fi, si, call, depth = sites[rng.randrange(len(sites))]
                blocked = rng.random() < 0.2
                maps = [{"addr": "0x7f00000%02x000" % j, "length": 16384, "offset": 4096 * j,
                         "prot": "PROT_READ", "shared": True, "pages_beyond_eof": 4,
                         "path": "/data/file%d" % fi, "tid": pid, "thread_name": "app", "time": t,
                         "backtrace": stack(rng, 1000 + si * 2 + j, 9)} for j in range(1 + si % 2)]
                rec = {"event": "truncate", "action": "blocked" if blocked else "logged", "call": call,
                       "path": "/data/file%d" % fi, "dev": 65024, "ino": 100 + fi,
                       "size_before": 16384, "size_after": 0, "pid": pid, "tid": pid,
                       "thread_name": "app", "time": t}
                if blocked:
                    rec["errno"] = 26
                    rec["errno_name"] = "ETXTBSY"
                rec.update({"page_size": 4096, "backtrace": stack(rng, si, depth), "mappings": maps,
                            "mappings_total": len(maps)})
                expect["violations"] += 1
                expect["blocked"] += blocked
                expect["sites"][si] = expect["sites"].get(si, 0) + 1
            expect["records"] += 1
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
    expect["pids"] = len(expect["pids"])
    expect["sites"] = sorted(expect["sites"].values(), reverse=True)
    json.dump(expect, sys.stdout)
    print()


if __name__ == "__main__":
    main()
