"""No behaviour change: with live mappings but no violation, the program sees exactly what it sees
without the guard -- return values, errno (also errno left alone by successful calls), descriptor
numbers, file sizes.

`mg_entry errors DIR` maps a file twice, then makes failing calls (missing files, bad fds, bad
arguments) and calls that succeed without cutting a mapping, printing one JSON line for each.
Its whole stdout is compared between a bare run and preloaded runs.
"""
import errno
import json
import os
import unittest

import mgtest
from pcommon import PAGE, PLAIN, PreloadTest

EXPECTED_BARE = {
    "open missing": (-1, errno.ENOENT),
    "open missing trunc": (-1, errno.ENOENT),
    "open dir trunc": (-1, errno.EISDIR),
    "open data excl trunc": (-1, errno.EEXIST),
    "openat bad dirfd": (-1, errno.EBADF),
    "creat64 dir": (-1, errno.EISDIR),
    "fopen missing r": (-1, errno.ENOENT),
    "fopen bad mode": (-1, errno.EINVAL),
    "freopen nodir w": (-1, errno.ENOENT),
    "shm_open missing": (-1, errno.ENOENT),
    "ftruncate bad fd": (-1, errno.EBADF),
    "ftruncate closed fd": (-1, errno.EBADF),
    "ftruncate negative": (-1, errno.EINVAL),
    "truncate missing": (-1, errno.ENOENT),
    "truncate dir": (-1, errno.EISDIR),
    "fallocate collapse past eof": (-1, errno.EINVAL),
    "mmap bad fd": (-1, errno.EBADF),
    "mmap zero length": (-1, errno.EINVAL),
    "mmap unaligned offset": (-1, errno.EINVAL),
    "munmap unaligned": (-1, errno.EINVAL),
    "mremap unaligned": (-1, errno.EINVAL),
    "close bad": (-1, errno.EBADF),
    "ftruncate grow (errno kept)": (0, errno.EDOM),
    "ftruncate to window end (errno kept)": (0, errno.EDOM),
    "ftruncate into last page (errno kept)": (0, errno.EDOM),
    "truncate unmapped file (errno kept)": (0, errno.EDOM),
    "mmap (errno kept)": (0, errno.EDOM),
    "munmap (errno kept)": (0, errno.EDOM),
    "size of data": (7 * PAGE + 1, 0),
}


class NoChange(PreloadTest):

    def errors(self, preload=True, mode="log", env=None):
        self.fresh_dir()
        r = mgtest.run([self.prog(), "errors", self.tmp], mode=mode, env=env, preload=preload)
        self.assertEqual(r.returncode, 0, r.describe())
        if preload:
            self.assertNoReports(r)
        return r.stdout

    def test_bare_run_does_what_the_test_expects(self):
        got = {}
        for line in self.errors(preload=False).splitlines():
            rec = json.loads(line)
            got[rec["op"]] = (rec["ret"], rec["errno"])
        for op, want in EXPECTED_BARE.items():
            self.assertEqual(got.get(op), want, "bare run, %s" % op)

    def compare(self, bare, guarded, what, ignore_fd_numbers=False):
        b, g = bare.splitlines(), guarded.splitlines()
        if ignore_fd_numbers:
            b = [l for l in b if "fd number" not in l]
            g = [l for l in g if "fd number" not in l]
        self.assertEqual(g, b, "%s: output differs from the bare run" % what)

    def test_whole_stdout_identical_log_mode(self):
        self.compare(self.errors(preload=False), self.errors(mode="log"), "log mode")

    def test_whole_stdout_identical_block_mode(self):
        self.compare(self.errors(preload=False), self.errors(mode="block"), "block mode")

    def test_whole_stdout_identical_without_creation_stacks(self):
        self.compare(self.errors(preload=False),
                     self.errors(mode="block", env={"MMAPGUARD_CREATION_STACKS": "0"}),
                     "block mode, MMAPGUARD_CREATION_STACKS=0")

    def test_identical_apart_from_descriptor_numbers(self):
        bare = self.errors(preload=False)
        for mode in ("log", "block"):
            with self.subTest(mode=mode):
                self.compare(bare, self.errors(mode=mode), mode, ignore_fd_numbers=True)

    FIELDS = ("ret", "errno", "size_before", "size", "fd_before", "fd_after")

    def test_entry_calls_on_unmapped_files(self):
        """Every truncating entry point on a file without mappings: as bare."""
        calls = [("ftruncate", {}), ("ftruncate64", {}), ("truncate", {}), ("truncate64", {}),
                 ("open", {}), ("open64", {"flags": "rdonly|trunc"}), ("openat", {}),
                 ("openat64", {}), ("creat", {}), ("creat64", {}), ("fopen", {}),
                 ("fopen64", {"fmode": "w+"}), ("freopen", {}), ("freopen64", {"null": 1}),
                 ("shm_open", {"flags": "rdwr|trunc"}), ("memfd", {}), ("fallocate", {}),
                 ("fallocate64", {})]
        for call, opts in calls:
            for binary in ("mg_entry", "mg_entry_fortify"):
                with self.subTest(call=call, binary=binary):
                    self.fresh_dir()
                    _, bare = self.call(call, preload=False, binary=binary, nomap=1, **opts)
                    for mode in ("log", "block"):
                        self.fresh_dir()
                        r, out = self.call(call, mode=mode, binary=binary, nomap=1, **opts)
                        self.assertNoReports(r)
                        self.assertEqual({k: out[k] for k in self.FIELDS},
                                         {k: bare[k] for k in self.FIELDS},
                                         "%s %s differs from bare" % (call, mode))

    def test_calls_that_cannot_truncate_are_not_reported(self):
        """These fail in the kernel whatever the mappings: the guard must not change their errno."""
        cases = [("ftruncate", {"via": "rdonlyfd"}, errno.EINVAL),
                 ("ftruncate", {"via": "pathfd"}, errno.EBADF),
                 ("fallocate", {"coff": 100}, errno.EINVAL),
                 ("fallocate", {"via": "rdonlyfd"}, errno.EBADF)]
        for call, opts, err in cases:
            with self.subTest(call=call, opts=opts):
                self.fresh_dir()
                _, bare = self.call(call, preload=False, **opts)
                if bare["errno"] in (errno.EOPNOTSUPP, errno.ENOTSUP):
                    continue        # no COLLAPSE_RANGE on this filesystem
                self.assertEqual((bare["ret"], bare["errno"]), (-1, err), "bare: %r" % bare)
                self.fresh_dir()
                r, out = self.call(call, mode="block", **opts)
                self.assertEqual((out["ret"], out["errno"]), (-1, err),
                                 "a call that cannot truncate came back with another errno "
                                 "under the guard:\n" + r.describe())
                self.assertNoReports(r)


if __name__ == "__main__":
    unittest.main()
