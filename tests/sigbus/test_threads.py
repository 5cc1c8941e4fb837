"""SIGBUS in multi-threaded programs: the registry is read without its lock while other threads
churn mmap/munmap/mremap of their own files; and a fault in a thread with a small stack that never
mapped a file (the guard gave it no alternate signal stack)."""
import os
import unittest

import sbcommon as sb

RUNS = 12


class Churn(sb.SigbusTest):
    def test_fault_while_other_threads_churn(self):
        for i in range(RUNS):
            with self.subTest(run=i):
                r = self.run_prog("churn", "threads=3", workdir=self.fresh("churn%d" % i))
                self.assertKilledBySigbus(r)
                self.assertValidLog(r)
                (rec,) = self.only_sigbus(r)
                self.check_record(r, rec, fault=self.one(r, "fault"), mapped=self.one(r, "mapped"),
                                  file_size=0, verdict="truncated", thread_name="mg-faulter",
                                  mapping_thread="mg-main", registry=("exact", "uncertain"))

    def fresh(self, name):
        d = os.path.join(self.tmp, name)
        os.mkdir(d)
        return d


class SmallStack(sb.SigbusTest):
    """Threads with small stacks are common (64 KiB and less); the fault must end as it would
    without the guard (SIGBUS, not SIGSEGV from an overflowing handler), with its record."""

    def small(self, size):
        d = os.path.join(self.tmp, "g%d" % size)
        os.mkdir(d)
        b = os.path.join(self.tmp, "b%d" % size)
        os.mkdir(b)
        bare = self.run_prog("smallstack", "stack=%d" % size, preload=False, workdir=b)
        self.assertKilledBySigbus(bare)
        r = self.run_prog("smallstack", "stack=%d" % size, workdir=d)
        self.assertKilledBySigbus(r)
        (rec,) = self.only_sigbus(r)
        self.check_record(r, rec, fault=self.one(r, "fault"), mapped=self.one(r, "mapped"),
                          file_size=0, verdict="truncated", thread_name="mg-small",
                          mapping_thread="mg-main")

    def test_64k_stack(self):
        self.small(64 << 10)

    def test_32k_stack(self):
        self.small(32 << 10)

    def test_16k_stack(self):
        self.small(16 << 10)


if __name__ == "__main__":
    unittest.main()
