"""MMAPGUARD_REOPEN: opening a mapped file (without O_TRUNC) is event "reopen".

write: any open for writing is reported and refused in block mode (no descriptor leaked); O_RDONLY
is not reported. any: every open is reported, only writable ones refused. trunc (the default):
no reopen events at all.
"""
import errno
import os
import unittest

from pcommon import FORTIFY, FORTIFY32, PAGE, PLAIN, PreloadTest

FSIZE = 5 * PAGE

# id, binary, call, options, intercepted name, flags text, writable
WRITABLE = [
    ("open_wronly", PLAIN, "open", {"flags": "wronly"}, "open", "O_WRONLY"),
    ("open_rdwr", PLAIN, "open", {"flags": "rdwr"}, "open", "O_RDWR"),
    ("open_append", PLAIN, "open", {"flags": "wronly|append"}, "open", "O_WRONLY|O_APPEND"),
    ("open64_rdwr", PLAIN, "open64", {"flags": "rdwr"}, "open64", "O_RDWR"),
    ("openat_wronly", PLAIN, "openat", {"flags": "wronly"}, "openat", "O_WRONLY"),
    ("openat64_rdwr", PLAIN, "openat64", {"flags": "rdwr"}, "openat64", "O_RDWR"),
    ("fortify_open_wronly", FORTIFY, "open", {"flags": "wronly"}, "__open64_2", "O_WRONLY"),
    ("fortify_openat_rdwr", FORTIFY, "openat", {"flags": "rdwr"}, "__openat64_2", "O_RDWR"),
    ("fortify32_open_rdwr", FORTIFY32, "open", {"flags": "rdwr"}, "__open_2", "O_RDWR"),
    ("fortify32_openat_wronly", FORTIFY32, "openat", {"flags": "wronly"}, "__openat_2",
     "O_WRONLY"),
    ("fopen_rplus", PLAIN, "fopen", {"fmode": "r+"}, "fopen", "r+"),
    ("fopen_a", PLAIN, "fopen", {"fmode": "a"}, "fopen", "a"),
    ("fopen_aplus", PLAIN, "fopen", {"fmode": "a+"}, "fopen", "a+"),
    ("fopen64_rplus", PLAIN, "fopen64", {"fmode": "r+"}, "fopen64", "r+"),
    ("fortify_fopen_a", FORTIFY, "fopen", {"fmode": "a"}, "fopen64", "a"),
    ("freopen_rplus", PLAIN, "freopen", {"fmode": "r+"}, "freopen", "r+"),
    ("shm_open_rdwr", PLAIN, "shm_open", {"flags": "rdwr"}, "shm_open", "O_RDWR"),
]
READ_ONLY = [
    ("open_rdonly", PLAIN, "open", {"flags": "rdonly"}, "open", "O_RDONLY"),
    ("openat64_rdonly", PLAIN, "openat64", {"flags": "rdonly"}, "openat64", "O_RDONLY"),
    ("fortify_open_rdonly", FORTIFY, "open", {"flags": "rdonly"}, "__open64_2", "O_RDONLY"),
    ("fopen_r", PLAIN, "fopen", {"fmode": "r"}, "fopen", "r"),
    ("shm_open_rdonly", PLAIN, "shm_open", {"flags": "rdonly"}, "shm_open", "O_RDONLY"),
]


class Reopen(PreloadTest):

    def path_of(self, call, out):
        if call == "shm_open":
            self.assertEqual(out["path"], "/dev/shm/mg-entry-%d" % out["pid"])
            return out["path"]
        return os.path.join(os.path.realpath(self.tmp), "data")

    def check_reopen(self, case, policy, mode, action):
        cid, binary, call, opts, name, flags = case
        r, out = self.call(call, mode=mode, binary=binary, env={"MMAPGUARD_REOPEN": policy},
                           **opts)
        path = self.path_of(call, out)
        rec = self.one_record(r, "reopen")
        self.check_common(rec, r, out, name, path)
        self.assertEqual(rec["action"], action, "action:\n" + r.describe())
        self.assertEqual(rec.get("flags"), flags, "flags")
        self.assertNotIn("size_before", rec, "a reopen record has no sizes")
        self.assertNotIn("size_after", rec, "a reopen record has no sizes")
        self.check_frame0(rec["backtrace"], "do_" + call, self.prog(binary), "opening call", r)
        self.assertEqual(rec["mappings_total"], 1)
        self.check_mapping(rec["mappings"][0], r, addr=int(out["addr"], 16), length=FSIZE,
                           offset=0, path=path, tid=out["map_tid"], thread_name="mg-mapper",
                           module=self.prog(binary))
        self.assertEqual(out["size"], FSIZE, "a reopen changed the size")
        if action == "blocked":
            self.assertEqual(rec.get("errno"), errno.ETXTBSY)
            self.assertEqual(rec.get("errno_name"), "ETXTBSY")
            self.assertEqual((out["ret"], out["errno"]), (-1, errno.ETXTBSY), repr(out))
            if call.startswith("freopen"):
                self.assertLessEqual(out["fd_after"], out["fd_before"], "descriptor leaked")
            else:
                self.assertEqual(out["fd_after"], out["fd_before"],
                                 "the refused open leaked its descriptor: %r" % out)
        else:
            self.assertNotIn("errno", rec)
            self.assertGreaterEqual(out["ret"], 0, "the open must succeed: %r" % out)
        return rec

    def check_silent(self, case, policy, mode):
        cid, binary, call, opts, name, flags = case
        env = {"MMAPGUARD_REOPEN": policy} if policy else None
        r, out = self.call(call, mode=mode, binary=binary, env=env, **opts)
        self.assertNoReports(r)
        self.assertGreaterEqual(out["ret"], 0, "the open must succeed: %r" % out)
        self.assertEqual(out["size"], FSIZE)

    # ---- write ---------------------------------------------------------------------------------

    def test_write_policy_log_mode(self):
        for case in WRITABLE:
            with self.subTest(case=case[0]):
                self.fresh_dir()
                self.check_reopen(case, "write", "log", "logged")

    def test_write_policy_block_mode(self):
        for case in WRITABLE:
            with self.subTest(case=case[0]):
                self.fresh_dir()
                self.check_reopen(case, "write", "block", "blocked")

    def test_write_policy_read_only_not_reported(self):
        for case in READ_ONLY:
            for mode in ("log", "block"):
                with self.subTest(case=case[0], mode=mode):
                    self.fresh_dir()
                    self.check_silent(case, "write", mode)

    def test_write_policy_with_o_trunc_is_a_truncate_event(self):
        r, out = self.call("open", mode="block", env={"MMAPGUARD_REOPEN": "write"},
                           flags="wronly|trunc")
        rec = self.one_record(r, "truncate")
        self.assertEqual(rec["action"], "blocked")
        self.assertEqual(rec["flags"], "O_WRONLY|O_TRUNC")
        self.assertEqual((out["ret"], out["errno"], out["size"]), (-1, errno.ETXTBSY, FSIZE))

    def test_write_policy_unmapped_file(self):
        for case in WRITABLE[:3] + WRITABLE[10:12]:
            with self.subTest(case=case[0]):
                self.fresh_dir()
                cid, binary, call, opts, name, flags = case
                r, out = self.call(call, mode="block", binary=binary,
                                   env={"MMAPGUARD_REOPEN": "write"}, nomap=1, **opts)
                self.assertNoReports(r)
                self.assertGreaterEqual(out["ret"], 0, repr(out))

    # ---- any -----------------------------------------------------------------------------------

    def test_any_policy_read_only_logged_even_in_block_mode(self):
        for case in READ_ONLY:
            for mode in ("log", "block"):
                with self.subTest(case=case[0], mode=mode):
                    self.fresh_dir()
                    self.check_reopen(case, "any", mode, "logged")

    def test_any_policy_writable_blocked(self):
        for case in WRITABLE:
            with self.subTest(case=case[0]):
                self.fresh_dir()
                self.check_reopen(case, "any", "block", "blocked")

    def test_any_policy_writable_logged(self):
        for case in WRITABLE[:2] + WRITABLE[10:11]:
            with self.subTest(case=case[0]):
                self.fresh_dir()
                self.check_reopen(case, "any", "log", "logged")

    # ---- trunc (default) ---------------------------------------------------------------------

    def test_default_policy_no_reopen_events(self):
        for case in WRITABLE + READ_ONLY:
            for mode in ("log", "block"):
                with self.subTest(case=case[0], mode=mode):
                    self.fresh_dir()
                    self.check_silent(case, None, mode)

    def test_explicit_trunc_policy_no_reopen_events(self):
        for case in WRITABLE[:2] + WRITABLE[10:12] + READ_ONLY[:1]:
            with self.subTest(case=case[0]):
                self.fresh_dir()
                self.check_silent(case, "trunc", "block")


if __name__ == "__main__":
    unittest.main()
