"""The threaded preload programs under ThreadSanitizer: libmmapguard_tsan.so (the whole shim built
with -fsanitize=thread, without libunwind) preloaded after TSan's runtime. Each run must pass its
own checks and leave no TSan report (reports go to files, also from forked children).

Left out, each for a reason of TSan's own:
- mg_conc sigaction-spin: TSan defers asynchronous signals and runs the program's handler when
  the thread next leaves one of its interceptors, here the pthread_mutex_trylock with which the
  guard takes the SIGBUS-action lock while it has blocked every signal (raw rt_sigprocmask): the
  handler then asks for SIGBUS's disposition on top of that writer and waits for the lock its own
  thread holds, where the kernel would never have delivered the signal.
- mg_conc sigaction-mix: TSan's own sigaction interceptor answers the program from its table of
  the program's handlers, copied without a lock while another thread's install writes it: the
  mix the test looks for then happens in TSan (the guard's copy is written under its lock).
- mg_conc fork-blocked-log _Fork: TSan does not intercept _Fork, so in the child it still counts
  the parent's other threads as running, and the child handler's resets of the locks another
  thread held look like races with that thread (with fork(), which TSan knows, they do not).
- mg_conc small-altstack and stack-use: they measure stack use, which TSan's instrumentation and
  signal trampolines change (concurrency_stack checks them without TSan).
- mg_mapcalls uffd-server grow: with TSan's runtime alone, without the guard, that program never
  ends either.
TSan's handlers for deadly signals are off (handle_segv=0 ...): installing them at start-up calls
sigaction, which is the guard's instrumented wrapper, before TSan has set up its first thread (a
SIGSEGV in TSan's runtime in every process; that was the crash of mg_conc fork-api).
"""
import glob
import os
import unittest

from mgtest import GuardTest, run, test_prog

PRELOAD = os.environ.get("MG_TSAN_PRELOAD", "")


def userfaultfd_usable():
    try:
        with open("/proc/sys/vm/unprivileged_userfaultfd") as f:
            return f.read().strip() == "1" or os.geteuid() == 0
    except OSError:
        return False


class TsanTest(GuardTest):
    def setUp(self):
        super().setUp()
        if not PRELOAD or not all(os.path.exists(p) for p in PRELOAD.split()):
            self.fail("MG_TSAN_PRELOAD does not name TSan's runtime and libmmapguard_tsan.so: %r"
                      % PRELOAD)
        self.conc = test_prog("mg_conc")
        self.mapcalls = test_prog("mg_mapcalls")
        self.stress = test_prog("mg_stress")
        self.reports = os.path.join(self.tmp, "tsan")

    def tsan(self, argv, mode="block", env=None, **kw):
        e = {"LD_PRELOAD": PRELOAD,
             "TSAN_OPTIONS": "halt_on_error=1:exitcode=66:log_path=%s:handle_segv=0:"
                             "handle_sigbus=0:handle_abort=0:handle_sigill=0:handle_sigfpe=0"
                             % self.reports}
        e.update(env or {})
        r = run(argv, mode=mode, env=e, **kw)
        found = ""
        for path in sorted(glob.glob(self.reports + "*")):
            with open(path, errors="replace") as f:
                found += f.read()
        self.assertEqual(found, "", "ThreadSanitizer reported:\n" + found)
        self.assertEqual(r.returncode, 0, r.describe())
        return r

    def test_fork_while_a_thread_uses_the_api(self):
        r = self.tsan([self.conc, "fork-api", self.tmp, "50"])
        self.assertIn("forks 50 ok 50", r.stdout.splitlines(), r.describe())

    def test_fork_and_clone_while_a_report_blocks_on_its_log(self):
        for how in ("fork", "clone"):
            with self.subTest(how=how):
                r = self.tsan([self.conc, "fork-blocked-log", self.tmp, how], mode="log",
                              env={"MMAPGUARD_LOG": ""})
                self.assertIn("%s child: exit 0" % how, r.stdout.splitlines(), r.describe())

    def test_fork_and_Fork_in_the_callback(self):
        for how in ("fork", "_Fork"):
            with self.subTest(how=how):
                r = self.tsan([self.conc, "callback-fork", self.tmp, how], per_process=True)
                self.assertIn("child: first refused 1, second refused 1, reports 2",
                              r.stdout.splitlines(), r.describe())

    def test_callback_unmaps_the_endangered_mapping(self):
        r = self.tsan([self.conc, "callback-unmap", self.tmp])
        self.assertIn("first refused 1, mapped after 0, second 0", r.stdout.splitlines(),
                      r.describe())

    def test_records_on_a_shared_pipe(self):
        for mode in ("pipe-writers", "pipe-nonblock"):
            with self.subTest(mode=mode):
                self.tsan([self.conc, mode, self.tmp], mode="log", env={"MMAPGUARD_LOG": ""})

    def test_mapping_into_a_range_being_unmapped(self):
        for how in ("fixed", "mremap"):
            with self.subTest(how=how):
                r = self.tsan([self.mapcalls, "into-unmap", self.tmp, how])
                self.assertIn("kernel 1 guard 1", r.stdout.splitlines(), r.describe())

    def test_userfaultfd_servers(self):
        if not userfaultfd_usable():
            self.skipTest("userfaultfd needs root or vm.unprivileged_userfaultfd=1")
        for how in ("fixed", "munmap", "mremap"):
            for extra in ([], ["fork"]):
                with self.subTest(how=how, extra=extra):
                    r = self.tsan([self.mapcalls, "uffd-server", self.tmp, how] + extra)
                    self.assertIn("main returned", r.stdout.splitlines(), r.describe())

    def test_threads_mapping_remapping_and_cutting(self):
        # the cross-process scan is left out: under TSan each cut's walk of /proc takes seconds
        self.tsan([self.stress, self.tmp, "4", "200", "2"], mode="log",
                  env={"MMAPGUARD_SCOPE": "process"})

    def test_signals_interrupting_threads_inside_the_guard(self):
        r = self.tsan([test_prog("mg_signal"), "churn", self.tmp, "4", "300", "10000"], mode="log",
                      env={"MMAPGUARD_SCOPE": "process"})
        self.assertEqual(r.stdout.splitlines()[1:], ["usr1>0 1 alrm>0 1"], r.describe())

    def test_threads_cancelled_inside_the_guard(self):
        r = self.tsan([test_prog("hard_cancel"), self.tmp], mode="log",
                      env={"MMAPGUARD_SCOPE": "process"})
        self.assertIn("DONE", r.stdout, r.describe())


if __name__ == "__main__":
    unittest.main()
