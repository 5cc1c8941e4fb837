"""The program's own SIGBUS handling under the guard: handlers installed before the guard loaded
(preinit_array, a preloaded library's constructor) or after it (sigaction, signal), before or after
the mapping; what sigaction() shows the program; siglongjmp, repair-and-retry, SA_RESETHAND,
SIG_IGN; signals that are not faults in tracked mappings; MMAPGUARD_SIGBUS=0 and MODE=off.
Every behaviour is also compared with the same run without the guard."""
import os
import tempfile
import unittest

import mgtest
import sbcommon as sb


def handler_steps(r):
    """The handler steps without the values that change from run to run."""
    return [{k: v for k, v in s.items() if k not in ("tid", "si_addr")}
            for s in r.steps if s.get("step") == "handler"]


class Handlers(sb.SigbusTest):
    def bare(self, scenario, *opts, env=None):
        d = tempfile.mkdtemp(prefix="bare-", dir=self.tmp)
        return self.run_prog(scenario, *opts, preload=False, env=env, workdir=d)

    def guarded(self, scenario, *opts, env=None, **kw):
        d = tempfile.mkdtemp(prefix="guarded-", dir=self.tmp)
        return self.run_prog(scenario, *opts, env=env, workdir=d, **kw)

    def same_as_bare(self, g, b):
        """Exit status and the handler's view are those of the run without the guard."""
        self.assertEqual(g.returncode, b.returncode,
                         "exit status differs from the run without the guard:\nGUARD:\n%s\nBARE:\n%s"
                         % (g.describe(), b.describe()))
        self.assertEqual(handler_steps(g), handler_steps(b),
                         "the handler saw something else:\nGUARD:\n%s\nBARE:\n%s"
                         % (g.describe(), b.describe()))
        self.assertEqual([s["step"] for s in g.steps], [s["step"] for s in b.steps],
                         "the program took another path:\nGUARD:\n%s\nBARE:\n%s"
                         % (g.describe(), b.describe()))

    def check_reported(self, r, count=1, file_size=0):
        recs = self.only_sigbus(r, count)
        faults = self.steps(r, "fault")
        mapped = self.one(r, "mapped")
        for rec, fault in zip(recs, faults):
            self.check_record(r, rec, fault=fault, mapped=mapped, file_size=file_size,
                              verdict="truncated")
        return recs

    def check_query(self, r, siginfo, kernel_own=False, resethand=False):
        q = self.one(r, "query")
        self.assertEqual(q["rc"], 0, r.describe())
        self.assertIs(q["own"], True, "sigaction(SIGBUS, NULL, &old) must return the program's "
                      "own handler:\n" + r.describe())
        self.assertIs(q["siginfo"], siginfo, "SA_SIGINFO as installed:\n" + r.describe())
        self.assertIs(q["resethand"], resethand, r.describe())
        self.assertIs(q["kernel_own"], kernel_own, "the kernel's handler:\n" + r.describe())
        return q

    def check_handler_called(self, r, who="program", si_code=sb.BUS_ADRERR, info=True):
        (h,) = self.steps(r, "handler")
        self.assertEqual(h["who"], who, r.describe())
        self.assertEqual(h["sig"], sb.SIGBUS)
        if info:
            self.assertEqual(h["si_code"], si_code, r.describe())
        if info and who == "program":
            self.assertEqual(int(h["si_addr"], 16), int(self.one(r, "fault")["fault_addr"], 16),
                             "the handler got another si_addr:\n" + r.describe())
        return h

    # ---- installed after the guard's constructor -----------------------------------------

    def exit_handler(self, install, when):
        g = self.guarded("handler", "install=" + install, "when=" + when)
        b = self.bare("handler", "install=" + install, "when=" + when)
        self.assertExit(g, 3)
        self.same_as_bare(g, b)
        self.check_reported(g)   # the record was written before the handler _exit()ed
        q = self.check_query(g, siginfo=install == "sigaction")
        self.assertIs(q["install_old_default"], True,
                      "the first install should see SIG_DFL as the old action:\n" + g.describe())
        self.assertIs(self.one(b, "query")["kernel_own"], True)
        self.check_handler_called(g, info=install == "sigaction")

    def test_sigaction_siginfo_before_mapping(self):
        self.exit_handler("sigaction", "before")

    def test_sigaction_siginfo_after_mapping(self):
        self.exit_handler("sigaction", "after")

    def test_signal_before_mapping(self):
        self.exit_handler("signal", "before")

    def test_signal_after_mapping(self):
        self.exit_handler("signal", "after")

    # ---- installed before the guard's constructor ----------------------------------------

    def test_preinit_array_handler(self):
        env = {"MG_SIGBUS_PREINIT": "1"}
        g = self.guarded("handler", "install=preinit", env=env)
        b = self.bare("handler", "install=preinit", env=env)
        self.assertExit(g, 3)
        self.same_as_bare(g, b)
        q = self.check_query(g, siginfo=True)
        self.assertIs(q["preinit_ran"], True, g.describe())
        self.assertIs(q["preinit_kernel_default"], True,
                      "the guard's handler was already installed at preinit:\n" + g.describe())
        self.check_reported(g)
        self.check_handler_called(g)

    def preload_handler(self, order):
        pre = sb.pre_lib()
        libs = [mgtest.LIB, pre] if order == "guard-first" else [pre, mgtest.LIB]
        env = {"MG_SIGBUS_PRE": "1", "LD_PRELOAD": " ".join(libs)}
        g = self.guarded("handler", "install=preload", env=env)
        b = self.bare("handler", "install=preload", env={"MG_SIGBUS_PRE": "1", "LD_PRELOAD": pre})
        self.assertExit(g, 4)
        self.same_as_bare(g, b)
        ctor = self.one(g, "pre_ctor")
        self.assertEqual(ctor["rc"], 0)
        self.assertIs(ctor["old_was_default"], True, g.describe())
        self.check_query(g, siginfo=True)
        self.check_reported(g)
        self.check_handler_called(g, who="preload")
        return ctor

    def test_preloaded_library_constructor_before_guard(self):
        # The constructor of the library listed after the guard runs first.
        ctor = self.preload_handler("guard-first")
        self.assertIs(ctor["kernel_was_default"], True,
                      "the test wants the library's constructor to run before the guard's")

    def test_preloaded_library_constructor_after_guard(self):
        ctor = self.preload_handler("library-first")
        self.assertIs(ctor["kernel_was_default"], False)

    # ---- what the handler does -----------------------------------------------------------

    def test_siglongjmp_and_continue(self):
        for install in ("sigaction", "signal"):
            with self.subTest(install=install):
                g = self.guarded("handler", "install=" + install, "action=longjmp")
                b = self.bare("handler", "install=" + install, "action=longjmp")
                self.assertExit(g, 0)
                self.same_as_bare(g, b)
                done = self.one(g, "done")
                self.assertEqual(done["rounds"], 2, g.describe())
                self.assertIs(done["sigbus_blocked"], False, g.describe())
                recs = self.check_reported(g, count=2)
                self.assertEqual([x["fault_offset"] for x in recs],
                                 [f["fault_offset"] for f in self.steps(g, "fault")])

    def test_handler_repairs_and_returns(self):
        # The handler maps an anonymous page over the lost one and returns: the access is retried.
        g = self.guarded("handler", "action=remap")
        b = self.bare("handler", "action=remap")
        self.assertExit(g, 0)
        self.same_as_bare(g, b)
        self.assertEqual(self.one(g, "after_fault")["value"], 0)
        self.check_reported(g)

    def test_sa_resethand_then_default(self):
        # The handler returns without repairing: the retried access meets SIG_DFL and kills.
        g = self.guarded("handler", "action=resethand")
        b = self.bare("handler", "action=resethand")
        self.assertKilledBySigbus(g)
        self.same_as_bare(g, b)
        self.check_query(g, siginfo=True, resethand=True)
        recs = g.events("sigbus")
        self.assertGreaterEqual(len(recs), 1, g.describe())
        self.assertEqual(len(g.records), len(recs), g.describe())
        fault = self.one(g, "fault")
        for rec in recs:            # each fault of the same access may be reported
            self.check_record(g, rec, fault=fault, mapped=self.one(g, "mapped"), file_size=0)

    def test_reset_and_reraise(self):
        # The crash-reporter idiom: signal(SIGBUS, SIG_DFL); raise(SIGBUS); return.
        for install in ("sigaction", "signal"):
            with self.subTest(install=install):
                g = self.guarded("handler", "install=" + install, "action=reraise")
                b = self.bare("handler", "install=" + install, "action=reraise")
                self.assertKilledBySigbus(g)
                self.same_as_bare(g, b)
                recs = g.events("sigbus")
                self.assertGreaterEqual(len(recs), 1, g.describe())
                self.assertEqual(len(g.records), len(recs), g.describe())
                self.check_record(g, recs[0], fault=self.one(g, "fault"),
                                  mapped=self.one(g, "mapped"), file_size=0)

    def test_sigset_handler_seen_as_installed(self):
        # sigset() reaches the kernel through glibc's internal __sigaction, past the guard's
        # sigaction(). The program must still see what it would see without the guard: SIG_DFL
        # as the previous disposition, then its own handler from sigaction(SIGBUS, NULL, &old);
        # its handler runs.
        g = self.guarded("handler", "install=sigset")
        b = self.bare("handler", "install=sigset")
        self.assertExit(g, 3)
        qg, qb = self.one(g, "query"), self.one(b, "query")
        self.assertIs(qb["install_old_default"], True)
        self.assertIs(qb["own"], True)
        self.assertIs(qg["install_old_default"], True,
                      "sigset() returned a handler the program never installed (the guard's):\n"
                      + g.describe())
        self.assertIs(qg["own"], True, "sigaction(SIGBUS, NULL, &old) after sigset() does not "
                      "return the program's handler:\n" + g.describe())
        self.same_as_bare(g, b)

    def test_sig_ign_fault_is_fatal(self):
        # While the program ignores SIGBUS the kernel holds SIG_IGN (so that it survives execve,
        # below): a fault then kills the process exactly as without the guard, unreported.
        for install in ("sigaction", "signal"):
            with self.subTest(install=install):
                g = self.guarded("handler", "install=" + install, "action=ign")
                b = self.bare("handler", "install=" + install, "action=ign")
                self.assertKilledBySigbus(g)
                self.same_as_bare(g, b)
                self.assertEqual(g.events("sigbus"), [], g.describe())

    def test_sig_ign_survives_execve(self):
        # SIG_IGN is kept across execve (handlers are reset): a child that raise()s SIGBUS lives
        # on. The guard's handler sits in the kernel in place of the program's SIG_IGN.
        for install in ("sigaction", "signal"):
            for child_preload in (0, 1):
                with self.subTest(install=install, child_preload=child_preload):
                    opts = ("install=" + install, "action=ign", "preload=%d" % child_preload)
                    b = self.bare("exec_ign", *opts)
                    bs = self.one(b, "child_status")
                    self.assertEqual((bs["exited"], bs["code"]), (True, 0), b.describe())
                    g = self.guarded("exec_ign", *opts)
                    self.assertExit(g, 0)
                    gs = self.one(g, "child_status")
                    self.assertEqual((gs["exited"], gs["code"]), (True, 0),
                                     "the exec()ed child should inherit SIG_IGN for SIGBUS and "
                                     "survive raise(SIGBUS):\n" + g.describe())
                    self.assertNoReports(g)

    def test_no_handler(self):
        g = self.guarded("handler", "install=none")
        b = self.bare("handler", "install=none")
        self.assertKilledBySigbus(g)
        self.same_as_bare(g, b)
        q = self.one(g, "query")
        self.assertIs(q["is_default"], True, "the program should see SIG_DFL:\n" + g.describe())
        self.assertIs(q["kernel_default"], False, "the guard's handler should be installed")
        self.check_reported(g)

    # ---- the guard's reporter turned off -------------------------------------------------

    def test_sigbus_reporter_disabled(self):
        for env, mode in (({"MMAPGUARD_SIGBUS": "0"}, "log"), (None, "off")):
            with self.subTest(env=env, mode=mode):
                g = self.guarded("handler", env=env, mode=mode)
                self.assertExit(g, 3)
                self.assertNoReports(g)
                q = self.one(g, "query")
                self.assertIs(q["own"], True)
                self.assertIs(q["kernel_own"], True,
                              "with the reporter off the kernel should hold the program's handler")
                self.check_handler_called(g)
                r = self.guarded("raw", env=env, mode=mode)
                self.assertKilledBySigbus(r)
                self.assertNoReports(r)


class NotAFaultInATrackedMapping(sb.SigbusTest):
    """No record; the signal goes where it would have gone without the guard."""

    def test_sent_signal_kills(self):
        for how in ("raise", "kill", "sigqueue"):
            with self.subTest(how=how):
                d = tempfile.mkdtemp(dir=self.tmp)
                r = self.run_prog("raise", "how=" + how, workdir=d)
                self.assertKilledBySigbus(r)
                self.assertNoReports(r)
                self.assertEqual(self.steps(r, "survived"), [], r.describe())

    def test_sent_signal_reaches_handler(self):
        codes = {"raise": -6, "kill": 0, "sigqueue": -1}    # SI_TKILL, SI_USER, SI_QUEUE
        for how, code in codes.items():
            with self.subTest(how=how):
                d = tempfile.mkdtemp(dir=self.tmp)
                r = self.run_prog("raise", "how=" + how, "handler=1", workdir=d)
                self.assertExit(r, 3)
                self.assertNoReports(r)
                (h,) = self.steps(r, "handler")
                self.assertEqual(h["si_code"], code, r.describe())

    def test_untracked_mapping_fault(self):
        r = self.run_prog("untracked")
        self.assertKilledBySigbus(r)
        self.assertNoReports(r)

    def test_untracked_mapping_fault_reaches_handler(self):
        r = self.run_prog("untracked", "handler=1")
        self.assertExit(r, 3)
        self.assertNoReports(r)
        (h,) = self.steps(r, "handler")
        self.assertEqual(h["si_code"], sb.BUS_ADRERR)
        self.assertEqual(int(h["si_addr"], 16), int(self.one(r, "fault")["fault_addr"], 16))


if __name__ == "__main__":
    unittest.main()
