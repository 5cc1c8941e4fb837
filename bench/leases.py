"""The delay a read lease adds to another process (MMAPGUARD_LEASES=watch), for bench/run.py.

A guarded reader maps a file; this process, unguarded, opens that file for writing (O_WRONLY, no
O_TRUNC: the lease breaks, nothing is cut) and times the open. With leases the open waits inside
the kernel until the reader's handler has named this process and released the lease; without
leases nothing waits. Samples of the two alternate: an open that breaks the lease, then one with no
lease held; then the reader maps the file anew to take a new lease.
"""
import os
import subprocess
import time


def _victim(R, path, leases):
    env = R.env(True, {"MMAPGUARD_LEASES": leases, "MMAPGUARD_LOG": os.devnull})
    prog = os.path.join(R.build, "tests", "bin", "lease_victim")
    p = subprocess.Popen([prog, path], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    if not p.stdout.readline().startswith("ready"):
        raise OSError("lease_victim did not start")
    return p


def _open_us(path):
    t = time.perf_counter_ns()
    fd = os.open(path, os.O_WRONLY)
    dt = time.perf_counter_ns() - t
    os.close(fd)
    return dt / 1000.0


def _pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def run_leases(R, samples, log):
    """Two rows: breaks back to back, and breaks a quiet tenth of a second apart."""
    return [_run(R, samples, 0.0, log), _run(R, max(3, samples // 4), 0.1, log)]


def _run(R, samples, gap_s, log):
    """The breaker's open() with a lease held (watch) and without, median and p99 (us).

    gap_s > 0 pauses between breaks: the first read of /proc/locks after a quiet period waits for
    an RCU grace period in the kernel, which back-to-back breaks share.
    """
    prog = os.path.join(R.build, "tests", "bin", "lease_victim")
    if not os.path.exists(prog):
        how = "breaks %.1f s apart" % gap_s if gap_s else "back to back"
        return {"name": "lease break delay (%s)" % how,
                "skipped": "lease_victim was not built (a build without BUILD_TESTING)"}
    path = os.path.join(R.scratch, "leased.bin")
    with open(path, "wb") as f:
        f.write(b"x" * 65536)
    leased = _victim(R, path, "watch")
    with_lease, without = [], []
    try:
        for _ in range(samples):
            if gap_s:
                time.sleep(gap_s)
            with_lease.append(_open_us(path))        # breaks the lease
            without.append(_open_us(path))           # none held until the next remap
            leased.stdin.write("remap\n")
            leased.stdin.flush()
            if not leased.stdout.readline().startswith("ready"):
                raise OSError("lease_victim stopped")
    finally:
        leased.stdin.close()
        leased.wait()
    row = {"name": "lease break delay (breaker's open O_WRONLY, watch), %s"
                   % ("breaks %.1f s apart" % gap_s if gap_s else "back to back"), "samples": samples,
           "with_us": {"median": _pct(with_lease, 0.5), "p99": _pct(with_lease, 0.99)},
           "without_us": {"median": _pct(without, 0.5), "p99": _pct(without, 0.99)}}
    row["added_us"] = {"median": row["with_us"]["median"] - row["without_us"]["median"],
                       "p99": row["with_us"]["p99"] - row["without_us"]["p99"]}
    log("  %s: +%.0f us median, +%.0f us p99" % (row["name"], row["added_us"]["median"],
                                                  row["added_us"]["p99"]))
    return row
