"""Every intercepted truncating entry point, in log mode, block mode and with MMAPGUARD_ERRNO.

mg_entry maps a 5-page file (map_file(), main thread "mg-mapper") and makes one call (do_<call>(),
thread "mg-cutter"). The fortified builds call the *64 and __open*_2 names from the same source.
"""
import errno
import os
import unittest

import mgtest
from pcommon import (FORTIFY, FORTIFY32, PAGE, PLAIN, PreloadTest, nm_undefined, pages_beyond,
                     round_up)

FSIZE = 5 * PAGE

# id, binary, source call, options, intercepted name, flags text (None: no key), kind, size after
CASES = []


def case(cid, binary, call, opts, name, flags, kind, size_after):
    CASES.append(dict(id=cid, binary=binary, call=call, opts=opts, name=name, flags=flags,
                      kind=kind, size_after=size_after))


for b, suffix in ((PLAIN, ""), (FORTIFY, "_fortify")):
    lfs = b == FORTIFY
    case("ftruncate" + suffix, b, "ftruncate", {}, "ftruncate64" if lfs else "ftruncate", None,
         "fd", PAGE)
    case("truncate" + suffix, b, "truncate", {}, "truncate64" if lfs else "truncate", None,
         "path", PAGE)
    case("creat" + suffix, b, "creat", {}, "creat64" if lfs else "creat",
         "O_WRONLY|O_CREAT|O_TRUNC", "open", 0)
    for mode in ("w", "w+"):
        m = mode.replace("+", "plus")
        case("fopen_%s%s" % (m, suffix), b, "fopen", {"fmode": mode},
             "fopen64" if lfs else "fopen", mode, "stream", 0)
        case("freopen_%s%s" % (m, suffix), b, "freopen", {"fmode": mode},
             "freopen64" if lfs else "freopen", mode, "freopen", 0)
        case("freopen_null_%s%s" % (m, suffix), b, "freopen", {"fmode": mode, "null": 1},
             "freopen64" if lfs else "freopen", mode, "freopen", 0)
    case("shm_open" + suffix, b, "shm_open", {"flags": "rdwr|trunc"}, "shm_open",
         "O_RDWR|O_TRUNC", "shm", 0)
    case("memfd_ftruncate" + suffix, b, "memfd", {}, "ftruncate64" if lfs else "ftruncate", None,
         "memfd", PAGE)
    case("fallocate" + suffix, b, "fallocate", {}, "fallocate64" if lfs else "fallocate",
         "FALLOC_FL_COLLAPSE_RANGE", "fallocate", FSIZE - 2 * PAGE)

case("ftruncate64", PLAIN, "ftruncate64", {}, "ftruncate64", None, "fd", PAGE)
case("ftruncate_to_zero", PLAIN, "ftruncate", {"size": 0}, "ftruncate", None, "fd", 0)
case("ftruncate_mid_page", PLAIN, "ftruncate", {"size": 2 * PAGE + 123}, "ftruncate", None, "fd",
     2 * PAGE + 123)
case("truncate64", PLAIN, "truncate64", {}, "truncate64", None, "path", PAGE)
case("creat64", PLAIN, "creat64", {}, "creat64", "O_WRONLY|O_CREAT|O_TRUNC", "open", 0)
for mode in ("w", "w+"):
    m = mode.replace("+", "plus")
    case("fopen64_" + m, PLAIN, "fopen64", {"fmode": mode}, "fopen64", mode, "stream", 0)
    case("freopen64_" + m, PLAIN, "freopen64", {"fmode": mode}, "freopen64", mode, "freopen", 0)
    case("freopen64_null_" + m, PLAIN, "freopen64", {"fmode": mode, "null": 1}, "freopen64", mode,
         "freopen", 0)
case("fallocate64", PLAIN, "fallocate64", {}, "fallocate64", "FALLOC_FL_COLLAPSE_RANGE",
     "fallocate", FSIZE - 2 * PAGE)
case("fallocate_offset", PLAIN, "fallocate", {"coff": 3 * PAGE, "clen": PAGE}, "fallocate",
     "FALLOC_FL_COLLAPSE_RANGE", "fallocate", FSIZE - PAGE)

# The open family with O_TRUNC, including O_RDONLY|O_TRUNC (Linux truncates then too).
for call in ("open", "open64", "openat", "openat64"):
    for fl, text in (("wronly|trunc", "O_WRONLY|O_TRUNC"), ("rdwr|trunc", "O_RDWR|O_TRUNC"),
                     ("rdonly|trunc", "O_RDONLY|O_TRUNC")):
        case("%s_%s" % (call, fl.split("|")[0]), PLAIN, call, {"flags": fl}, call, text, "open", 0)
# The fortify entries: non-constant flags without a mode argument.
for b, call, name in ((FORTIFY, "open", "__open64_2"), (FORTIFY, "open64", "__open64_2"),
                      (FORTIFY, "openat", "__openat64_2"), (FORTIFY, "openat64", "__openat64_2"),
                      (FORTIFY32, "open", "__open_2"), (FORTIFY32, "open64", "__open64_2"),
                      (FORTIFY32, "openat", "__openat_2"), (FORTIFY32, "openat64", "__openat64_2")):
    tag = "fortify" if b == FORTIFY else "fortify32"
    for fl, text in (("wronly|trunc", "O_WRONLY|O_TRUNC"), ("rdonly|trunc", "O_RDONLY|O_TRUNC")):
        case("%s_%s_%s" % (tag, call, fl.split("|")[0]), b, call, {"flags": fl}, name, text,
             "open", 0)
# A window at an offset, private, read-only, with a length that is not a page multiple.
case("ftruncate_private_window", PLAIN, "ftruncate",
     {"moff": PAGE, "mlen": 2 * PAGE + 10, "prot": "r", "type": "private"}, "ftruncate", None,
     "fd", PAGE)
case("truncate_prot_none_window", PLAIN, "truncate",
     {"moff": 2 * PAGE, "prot": "none", "size": 3 * PAGE - 1},
     "truncate", None, "path", 3 * PAGE - 1)

_collapse_support = {}


class EntryPoints(PreloadTest):

    def require_collapse(self, binary):
        """FALLOC_FL_COLLAPSE_RANGE needs ext4/xfs: ask the filesystem with a bare run."""
        if binary not in _collapse_support:
            r, out = self.call("fallocate", preload=False, binary=binary, nomap=1)
            _collapse_support[binary] = out
            self.fresh_dir()
        out = _collapse_support[binary]
        if out["ret"] != 0 and out["errno"] in (errno.EOPNOTSUPP, errno.ENOTSUP):
            self.skipTest("the filesystem of %s answers EOPNOTSUPP to FALLOC_FL_COLLAPSE_RANGE "
                          "(needs ext4 or xfs; set TMPDIR)" % os.path.dirname(self.tmp))
        self.assertEqual(out["ret"], 0, "bare fallocate(COLLAPSE_RANGE) failed: %r" % out)

    def expected_path(self, c, out):
        if c["kind"] == "memfd":
            self.assertEqual(out["fd_link"], "/memfd:mg-memfd (deleted)")
            return out["fd_link"]
        if c["kind"] == "shm":
            self.assertEqual(out["path"], "/dev/shm/mg-entry-%d" % out["pid"])
            return out["path"]
        return os.path.join(os.path.realpath(self.tmp), "data")

    def run_case(self, c, mode, env=None):
        if c["kind"] == "fallocate":
            self.require_collapse(c["binary"])
        r, out = self.call(c["call"], mode=mode, binary=c["binary"], env=env, **c["opts"])
        path = self.expected_path(c, out)
        if c["kind"] not in ("memfd", "shm"):
            st = os.stat(path)
            self.assertEqual((out["dev"], out["ino"]), (st.st_dev, st.st_ino))
        self.assertEqual(out["size_before"], FSIZE, "setup: %r" % out)
        rec = self.one_record(r, "truncate")
        self.check_common(rec, r, out, c["name"], path)
        if c["flags"] is None:
            self.assertNotIn("flags", rec, "ftruncate/truncate records have no flags")
        else:
            self.assertEqual(rec.get("flags"), c["flags"], "flags:\n" + r.describe())
        self.assertEqual(rec["size_before"], FSIZE, "size_before")
        self.assertEqual(rec["size_after"], c["size_after"], "size_after")
        frame = "do_ftruncate" if c["kind"] == "memfd" else "do_" + c["call"]
        self.check_frame0(rec["backtrace"], frame, self.prog(c["binary"]),
                          "truncating call", r)
        moff = c["opts"].get("moff", 0)
        mlen = c["opts"].get("mlen", FSIZE - moff)
        prot = {"rw": "PROT_READ|PROT_WRITE", "r": "PROT_READ", "none": "PROT_NONE"}[
            c["opts"].get("prot", "rw")]
        self.assertEqual(rec["mappings_total"], 1, "mappings_total")
        self.assertEqual(len(rec["mappings"]), 1, "mappings:\n" + r.describe())
        self.check_mapping(rec["mappings"][0], r, addr=int(out["addr"], 16), length=round_up(mlen),
                           offset=moff, prot=prot, shared=c["opts"].get("type") != "private",
                           beyond=pages_beyond(moff, mlen, c["size_after"]), path=path,
                           tid=out["map_tid"], thread_name="mg-mapper",
                           module=self.prog(c["binary"]))
        self.assertNotEqual(out["map_tid"], out["call_tid"])
        return r, out, rec

    def check_log(self, c):
        r, out, rec = self.run_case(c, "log")
        self.assertEqual(rec["action"], "logged")
        self.assertNotIn("errno", rec, "a logged record has no errno")
        self.assertNotIn("errno_name", rec)
        if c["kind"] in ("open", "shm"):
            self.assertGreaterEqual(out["ret"], 0, "the call must proceed: %r" % out)
        else:
            self.assertEqual(out["ret"], 0, "the call must proceed: %r" % out)
        self.assertEqual(out["size"], c["size_after"], "the file was not truncated: %r" % out)

    def check_block(self, c, env=None, err=errno.ETXTBSY, err_name="ETXTBSY"):
        r, out, rec = self.run_case(c, "block", env=env)
        self.assertEqual(rec["action"], "blocked")
        self.assertEqual(rec.get("errno"), err, "errno in the record")
        self.assertEqual(rec.get("errno_name"), err_name, "errno_name in the record")
        self.assertEqual((out["ret"], out["errno"]), (-1, err),
                         "blocked call must fail with %s: %r" % (err_name, out))
        self.assertEqual(out["size"], FSIZE, "a blocked call changed the size: %r" % out)
        if c["kind"] in ("open", "shm", "stream"):
            self.assertEqual(out["fd_after"], out["fd_before"], "descriptor leaked: %r" % out)
        elif c["kind"] == "freopen":
            # freopen's failure closes the stream, as the real one does.
            self.assertLessEqual(out["fd_after"], out["fd_before"], "descriptor leaked: %r" % out)


def _make(c):
    def t_log(self):
        self.check_log(c)

    def t_block(self):
        self.check_block(c)

    def t_ebusy(self):
        self.check_block(c, env={"MMAPGUARD_ERRNO": "EBUSY"}, err=errno.EBUSY, err_name="EBUSY")

    return t_log, t_block, t_ebusy


for _c in CASES:
    _l, _b, _e = _make(_c)
    setattr(EntryPoints, "test_%s_log" % _c["id"], _l)
    setattr(EntryPoints, "test_%s_block" % _c["id"], _b)
    setattr(EntryPoints, "test_%s_block_ebusy" % _c["id"], _e)


class Imports(unittest.TestCase):
    """The three builds really import the names the entry tests claim to exercise."""

    PLAIN_NAMES = {"open", "open64", "openat", "openat64", "creat", "creat64", "fopen", "fopen64",
                   "freopen", "freopen64", "shm_open", "truncate", "truncate64", "ftruncate",
                   "ftruncate64", "fallocate", "fallocate64", "mmap", "munmap", "mremap"}
    NON_LFS = {"open", "openat", "creat", "fopen", "freopen", "truncate", "ftruncate", "fallocate",
               "mmap", "__open_2", "__openat_2"}

    def test_plain_build(self):
        names = nm_undefined(mgtest.test_prog(PLAIN))
        self.assertLessEqual(self.PLAIN_NAMES, names, "missing: %s" % (self.PLAIN_NAMES - names))
        self.assertFalse({n for n in names if n.startswith("__open")},
                         "the plain build must not call the fortify entries")

    def test_fortify_lfs_build(self):
        names = nm_undefined(mgtest.test_prog(FORTIFY))
        want = {"__open64_2", "__openat64_2", "creat64", "fopen64", "freopen64", "truncate64",
                "ftruncate64", "fallocate64", "mmap64", "shm_open"}
        self.assertLessEqual(want, names, "missing: %s" % (want - names))
        self.assertFalse(self.NON_LFS & names,
                         "the -D_FILE_OFFSET_BITS=64 build calls %s" % (self.NON_LFS & names))

    def test_fortify_build(self):
        names = nm_undefined(mgtest.test_prog(FORTIFY32))
        want = {"__open_2", "__open64_2", "__openat_2", "__openat64_2"}
        self.assertLessEqual(want, names, "missing: %s" % (want - names))


if __name__ == "__main__":
    unittest.main()
