"""Identity is the file (st_dev, st_ino), never the fd or the path.

The mapped file is reached through a second descriptor, a hard link, a symlink, a fresh open of
the path, a path relative to a chdir()ed working directory and openat() with a directory fd; the
report's path is absolute and names what the call named. A path re-pointed to another file is not
the mapped file any more.
"""
import errno
import os
import unittest

from pcommon import FORTIFY, PAGE, PLAIN, PreloadTest, round_up

FSIZE = 5 * PAGE


class Identity(PreloadTest):

    def setUp(self):
        super().setUp()
        self.dir = os.path.realpath(self.tmp)
        self.data = os.path.join(self.dir, "data")

    def reported(self, call, name, path, size_after, binary=PLAIN, mode="log", frame=None,
                 **opts):
        """Run one call; check the one record names the mapped inode and the expected path."""
        r, out = self.call(call, mode=mode, binary=binary, **opts)
        st = os.stat(self.data)
        self.assertEqual((out["dev"], out["ino"]), (st.st_dev, st.st_ino),
                         "the program's fstat and os.stat disagree")
        rec = self.one_record(r, "truncate")
        self.check_common(rec, r, out, name, path)
        self.assertEqual((rec["dev"], rec["ino"]), (st.st_dev, st.st_ino),
                         "the record must name the mapped inode")
        self.assertEqual(rec["size_before"], FSIZE)
        self.assertEqual(rec["size_after"], size_after)
        self.check_frame0(rec["backtrace"], frame or "do_" + call, self.prog(binary), "call", r)
        self.assertEqual(rec["mappings_total"], 1)
        self.check_mapping(rec["mappings"][0], r, addr=int(out["addr"], 16), length=FSIZE,
                           offset=0, beyond=(FSIZE - round_up(size_after)) // PAGE,
                           tid=out["map_tid"], thread_name="mg-mapper")
        if mode == "log":
            self.assertEqual(rec["action"], "logged")
            self.assertGreaterEqual(out["ret"], 0, "call failed: %r" % out)
            self.assertEqual(out["size"], size_after, "the file was not truncated: %r" % out)
        else:
            self.assertEqual(rec["action"], "blocked")
            self.assertEqual((out["ret"], out["errno"]), (-1, errno.ETXTBSY), repr(out))
            self.assertEqual(out["size"], FSIZE, "a blocked call changed the size")
        return rec

    # ---- a second descriptor -----------------------------------------------------------------

    def test_second_fd_log(self):
        self.reported("ftruncate", "ftruncate", self.data, PAGE, via="fd2")

    def test_second_fd_block(self):
        self.reported("ftruncate", "ftruncate", self.data, PAGE, mode="block", via="fd2")

    def test_second_fd_ftruncate64_to_zero(self):
        """ftruncate64 through a descriptor opened after the mapping, to zero."""
        self.reported("ftruncate64", "ftruncate64", self.data, 0, via="fd2", size=0)

    # ---- a hard link ---------------------------------------------------------------------------

    def test_hard_link_truncate(self):
        link = self.data + ".hardlink"
        rec = self.reported("truncate", "truncate", link, PAGE, via="hardlink")
        self.assertEqual(os.stat(link).st_ino, rec["ino"])

    def test_hard_link_truncate_block(self):
        self.reported("truncate", "truncate", self.data + ".hardlink", PAGE, mode="block",
                      via="hardlink")

    def test_hard_link_open_trunc(self):
        self.reported("open", "open", self.data + ".hardlink", 0, via="hardlink")

    def test_hard_link_fopen_w(self):
        self.reported("fopen", "fopen", self.data + ".hardlink", 0, via="hardlink")

    def test_hard_link_openat_dirfd(self):
        self.reported("openat", "openat", self.data + ".hardlink", 0, via="hardlink")

    # ---- a symlink ---------------------------------------------------------------------------

    def test_symlink_truncate(self):
        link = self.data + ".symlink"
        rec = self.reported("truncate", "truncate", link, PAGE, via="symlink")
        self.assertNotEqual(os.lstat(link).st_ino, rec["ino"], "the link's own inode was named")

    def test_symlink_truncate_block(self):
        self.reported("truncate", "truncate", self.data + ".symlink", PAGE, mode="block",
                      via="symlink")

    def test_symlink_open_trunc(self):
        self.reported("open64", "open64", self.data + ".symlink", 0, via="symlink",
                      flags="rdwr|trunc")

    def test_symlink_creat(self):
        self.reported("creat", "creat", self.data + ".symlink", 0, via="symlink")

    def test_symlink_fopen_wplus_block(self):
        self.reported("fopen", "fopen", self.data + ".symlink", 0, mode="block", via="symlink",
                      fmode="w+")

    # ---- a fresh open of the same path ----------------------------------------------------------

    def test_fresh_open_after_mapping_fd_closed(self):
        # via=fd2 closes the descriptor the mapping was made from before the call.
        self.reported("open", "open", self.data, 0, via="fd2")

    def test_fresh_fopen(self):
        self.reported("fopen64", "fopen64", self.data, 0, via="fd2")

    # ---- relative paths --------------------------------------------------------------------------

    def test_relative_truncate_after_chdir(self):
        self.reported("truncate", "truncate", self.data, PAGE, via="chdir")

    def test_relative_truncate64_after_chdir_block(self):
        self.reported("truncate64", "truncate64", self.data, PAGE, mode="block", via="chdir")

    def test_relative_open_after_chdir(self):
        self.reported("open", "open", self.data, 0, via="chdir")

    def test_relative_openat_fdcwd(self):
        self.reported("openat", "openat", self.data, 0, via="chdir")

    def test_relative_creat64_after_chdir(self):
        self.reported("creat64", "creat64", self.data, 0, via="chdir")

    def test_relative_fopen_after_chdir(self):
        self.reported("fopen", "fopen", self.data, 0, via="chdir")

    def test_relative_freopen_after_chdir(self):
        self.reported("freopen", "freopen", self.data, 0, via="chdir")

    def test_relative_fortify_open_after_chdir(self):
        self.reported("open", "__open64_2", self.data, 0, binary=FORTIFY, via="chdir")

    # ---- openat with a directory descriptor -----------------------------------------------------

    def test_openat_dirfd(self):
        self.reported("openat", "openat", self.data, 0)

    def test_openat64_dirfd_block(self):
        self.reported("openat64", "openat64", self.data, 0, mode="block")

    def test_fortify_openat_dirfd(self):
        self.reported("openat", "__openat64_2", self.data, 0, binary=FORTIFY, flags="rdonly|trunc")

    # ---- the path now names another file ---------------------------------------------------------

    def test_path_replaced_is_another_file(self):
        """truncate(path) after rename() put a new file there: the mapped inode is untouched."""
        r, out = self.call("truncate", via="replaced")
        self.assertNoReports(r)
        self.assertEqual(out["ret"], 0, repr(out))
        self.assertEqual(out["size"], PAGE, "the new file was not truncated: %r" % out)
        self.assertNotEqual(os.stat(self.data).st_ino, out["ino"])

    def test_old_inode_through_its_fd_after_replace(self):
        """The mapped, now unlinked inode is still reached through the descriptor."""
        r, out = self.call("ftruncate", via="replaced")
        rec = self.one_record(r, "truncate")
        self.assertEqual((rec["dev"], rec["ino"]), (out["dev"], out["ino"]))
        self.assertNotEqual(os.stat(self.data).st_ino, rec["ino"])
        self.assertEqual(rec["path"], self.data + " (deleted)",
                         "fd-based path is the /proc/self/fd link:\n" + r.describe())
        self.assertEqual(rec["mappings"][0]["path"], self.data + " (deleted)")
        self.assertEqual(out["ret"], 0)


if __name__ == "__main__":
    unittest.main()
