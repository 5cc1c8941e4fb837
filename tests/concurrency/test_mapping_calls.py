"""munmap, mremap and MAP_FIXED run their system calls without the registry lock, in order.

A thread of the program can hold a mapping call up inside the kernel: a userfaultfd server the call
waits for (its unmap or move event must be read, or the pages a locked mremap adds must be filled).
When that server itself maps and unmaps a file, a registry lock held across the call would never
be released (bare, the program runs). And a call that maps over a range another thread is
unmapping must reach the registry in the order the kernel ran them. The programs force each
interleaving with a seccomp listener or a userfaultfd and catch a hang with a watchdog alarm.
"""
import os
import unittest

from mgtest import GuardTest, run, test_prog


def userfaultfd_usable():
    try:
        with open("/proc/sys/vm/unprivileged_userfaultfd") as f:
            unprivileged = f.read().strip() == "1"
    except OSError:
        return False
    return unprivileged or os.geteuid() == 0


class MappingCallTest(GuardTest):
    def setUp(self):
        super().setUp()
        self.prog = test_prog("mg_mapcalls")

    def into_unmap(self, how):
        r = run([self.prog, "into-unmap", self.tmp, how], mode="block", timeout=120)
        if r.returncode == 77:
            self.skipTest(r.stdout.strip())
        # the guard says B's file is mapped exactly when the kernel has it mapped, and B's call
        # waited for A's munmap (so the kernel has it mapped)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertIn("kernel 1 guard 1", r.stdout.splitlines(), r.describe())
        self.assertIn("b before a 0", r.stdout.splitlines(), r.describe())
        self.assertNoReports(r)

    def test_map_fixed_into_a_range_being_unmapped(self):
        self.into_unmap("fixed")

    def test_mremap_fixed_into_a_range_being_unmapped(self):
        self.into_unmap("mremap")

    def served(self, how, event):
        if not userfaultfd_usable():
            self.skipTest("userfaultfd needs root or vm.unprivileged_userfaultfd=1")
        r = run([self.prog, "uffd-server", self.tmp, how], mode="block", timeout=120)
        self.assertEqual(r.returncode, 0, r.describe())
        self.assertEqual(r.stdout.splitlines(), ["main returned", "event " + event], r.describe())
        self.assertNoReports(r)

    def test_map_fixed_waiting_for_its_unmap_event(self):
        self.served("fixed", "unmap")

    def test_munmap_of_part_of_a_window_waiting_for_its_unmap_event(self):
        self.served("munmap", "unmap")

    def test_mremap_waiting_for_its_remap_event(self):
        self.served("mremap", "remap")

    def test_locked_mremap_whose_new_pages_the_server_fills(self):
        self.served("grow", "pagefault")

    def test_server_forks_while_the_call_waits_for_it(self):
        # fork's prepare handler takes the registry lock: never held across these calls
        if not userfaultfd_usable():
            self.skipTest("userfaultfd needs root or vm.unprivileged_userfaultfd=1")
        for how, event in (("fixed", "unmap"), ("munmap", "unmap"), ("mremap", "remap"),
                           ("grow", "pagefault")):
            with self.subTest(how=how):
                r = run([self.prog, "uffd-server", self.tmp, how, "fork"], mode="block",
                        timeout=120)
                self.assertEqual(r.returncode, 0, r.describe())
                self.assertEqual(r.stdout.splitlines(), ["main returned", "event " + event],
                                 r.describe())

    def test_the_same_runs_bare(self):
        if not userfaultfd_usable():
            self.skipTest("userfaultfd needs root or vm.unprivileged_userfaultfd=1")
        for how, event in (("fixed", "unmap"), ("munmap", "unmap"), ("mremap", "remap"),
                           ("grow", "pagefault")):
            r = run([self.prog, "uffd-server", self.tmp, how], preload=False, timeout=120)
            self.assertEqual(r.stdout.splitlines(), ["main returned", "event " + event], r.describe())


if __name__ == "__main__":
    unittest.main()
