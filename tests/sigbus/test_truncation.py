"""SIGBUS records for the ways a mapped file loses its pages: another process, a raw syscall, a
guarded call of this process (linked as "truncation"), a mapping made longer than the file, an I/O
error, a renamed or unlinked file; and the text format."""
import errno
import os
import re
import unittest

import sbcommon as sb
from sbcommon import PAGE


class ChildProcessTruncates(sb.SigbusTest):
    """Another process cuts the file: truncation is null, the note says so."""

    def child_exec(self, preload, size):
        # the guarded child scans the other processes: no time bound on a loaded machine
        r = self.run_prog("child_exec", "preload=%d" % preload, "size=%d" % size,
                          env={"MMAPGUARD_SCAN_MS": "60000", "MMAPGUARD_SCOPE": "all"})
        self.assertKilledBySigbus(r)
        child = self.one(r, "child")
        self.assertIs(child["preload"], bool(preload))
        mapped, fault = self.one(r, "mapped"), self.one(r, "fault")
        real = os.stat(mapped["path"]).st_size
        self.assertEqual(real, size, "the child's truncate -s did not take")
        self.assertEqual(fault["fault_offset"], 2 * PAGE + 3 * PAGE + 5)
        if preload:
            # The guarded child sees the parent's mapping (scope all): it reports the parent as
            # its victim, and the parent's SIGBUS record names the child in cut_by.
            (trunc,) = r.events("truncate")
            (rec,) = r.events("sigbus")
            self.assertEqual(len(r.records), 2, r.describe())
            self.assertEqual([v["pid"] for v in trunc["victims"]], [rec["pid"]], r.describe())
            self.assertEqual(trunc["mappings"], [], r.describe())
            self.assertEqual(rec["cut_by"]["pid"], trunc["pid"], r.describe())
            self.assertEqual(rec["cut_by"]["size_after"], size, r.describe())
        else:
            (rec,) = self.only_sigbus(r)  # an unguarded child reports nothing
        self.check_record(r, rec, fault=fault, mapped=mapped, file_size=real,
                          verdict="truncated", truncation=None)
        self.assertNotIn("after_fault", [s["step"] for s in r.steps],
                         "the access beyond EOF returned")

    def test_bare_truncate_to_zero(self):
        self.child_exec(preload=0, size=0)

    def test_guarded_child_truncates(self):
        # The child runs under the guard too; it has no mapping, but another process has.
        self.child_exec(preload=1, size=1000)

    def test_bare_truncate_to_partial_page(self):
        # The fault is two pages beyond the page holding the new EOF.
        self.child_exec(preload=0, size=3 * PAGE + 1)

    def test_forked_child_with_inherited_guard(self):
        # A fork()ed child inherits the mapping and the guard: it reports its own ftruncate,
        # but its history is not the parent's.
        r = self.run_prog("child_fork", "size=0")
        self.assertKilledBySigbus(r)
        child, mapped, fault = self.one(r, "child"), self.one(r, "mapped"), self.one(r, "fault")
        self.assertEqual(child["ret"], 0)
        trunc = r.events("truncate")
        self.assertEqual(len(trunc), 1, r.describe())
        self.assertEqual(trunc[0]["pid"], child["pid"], r.describe())
        self.assertEqual((trunc[0]["size_before"], trunc[0]["size_after"]), (8 * PAGE, 0))
        self.assertEqual(len(r.records), 2, r.describe())
        (rec,) = r.events("sigbus")
        self.assertNotEqual(rec["pid"], child["pid"])
        self.check_record(r, rec, fault=fault, mapped=mapped, file_size=0,
                          verdict="truncated", truncation=None)


class InvisibleTruncation(sb.SigbusTest):
    def test_raw_syscall_ftruncate(self):
        size = 3 * PAGE + 1
        r = self.run_prog("raw", "size=%d" % size)
        self.assertKilledBySigbus(r)
        mapped, fault = self.one(r, "mapped"), self.one(r, "fault")
        self.assertEqual(os.stat(mapped["path"]).st_size, size)
        (rec,) = self.only_sigbus(r)
        self.check_record(r, rec, fault=fault, mapped=mapped, file_size=size,
                          verdict="truncated", truncation=None)
        self.assertEqual(rec["mappings"][0]["pages_beyond_eof"], 2)

    def test_private_writable_mapping(self):
        r = self.run_prog("raw", "prot=rw", "type=private", "reader=write")
        self.assertKilledBySigbus(r)
        mapped, fault = self.one(r, "mapped"), self.one(r, "fault")
        (rec,) = self.only_sigbus(r)
        self.check_record(r, rec, fault=fault, mapped=mapped, file_size=0, verdict="truncated",
                          reader="write_mapped_byte", prot="PROT_READ|PROT_WRITE", shared=False)

    def test_frame0_when_the_load_is_the_first_instruction(self):
        # load_first_byte's very first instruction faults: frame 0 is the faulting instruction
        # itself (not a return address), so it must be symbolized as it is, not as ip - 1.
        r = self.run_prog("raw", "reader=load_first")
        self.assertKilledBySigbus(r)
        (rec,) = self.only_sigbus(r)
        self.assertFrame0(rec["backtrace"], "load_first_byte", "faulting stack", r)


class GuardedTruncationLinked(sb.SigbusTest):
    """ftruncate/truncate logged and let through (log mode): the sigbus record names it."""

    def linked(self, call):
        r = self.run_prog("threads", "call=" + call)
        self.assertKilledBySigbus(r)
        cuts = self.steps(r, "cut")
        self.assertEqual([c["thread"] for c in cuts], ["mg-cut-early", "mg-cutter", "mg-cut-other"])
        early, cutter, other = cuts
        mapped = self.one(r, "mapped")
        fault = self.one(r, "fault")
        self.assertEqual(os.stat(mapped["path"]).st_size, cutter["size_after"])

        trunc = r.events("truncate")
        self.assertEqual([(t["call"], t["tid"], t["size_before"], t["size_after"]) for t in trunc],
                         [(call, early["tid"], early["size_before"], early["size_after"]),
                          (call, cutter["tid"], cutter["size_before"], cutter["size_after"]),
                          ("ftruncate", other["tid"], other["size_before"], 0)],
                         "the three cuts should each be logged:\n" + r.describe())
        self.assertTrue(all(t["action"] == "logged" for t in trunc))
        sig = r.events("sigbus")
        self.assertEqual(len(sig), 1, r.describe())
        self.assertEqual(len(r.records), 4, r.describe())
        rec = sig[0]
        self.assertNotEqual(cutter["tid"], fault["tid"], "the test wants two threads")
        self.check_record(r, rec, fault=fault, mapped=mapped, file_size=cutter["size_after"],
                          verdict="truncated", thread_name="mg-reader", mapping_thread="mg-main",
                          truncation={"call": call, "tid": cutter["tid"],
                                      "thread_name": "mg-cutter",
                                      "size_before": cutter["size_before"],
                                      "size_after": cutter["size_after"]})
        t = rec["truncation"]
        # the cut's stack is the one the truncate record showed, symbolized the same way
        self.assertEqual(t["backtrace"], trunc[1]["backtrace"],
                         "truncation.backtrace differs from the truncate record's:\n" + r.describe())
        self.assertFrame0(t["backtrace"], "cut_file", "truncation stack", r)
        self.assertIn("this process", rec["note"])

    def test_ftruncate_from_another_thread(self):
        self.linked("ftruncate")

    def test_truncate_by_path_from_another_thread(self):
        self.linked("truncate")

    def test_refused_cut_is_not_blamed(self):
        # block mode refuses ftruncate (reported, not done); a raw syscall then cuts the file.
        r = self.run_prog("raw", "guarded_first=1", mode="block")
        self.assertKilledBySigbus(r)
        g = self.one(r, "guarded_cut")
        self.assertEqual((g["ret"], g["errno"]), (-1, errno.ETXTBSY), r.describe())
        trunc = r.events("truncate")
        self.assertEqual([t["action"] for t in trunc], ["blocked"], r.describe())
        (rec,) = r.events("sigbus")
        self.assertEqual(len(r.records), 2, r.describe())
        self.check_record(r, rec, fault=self.one(r, "fault"), mapped=self.one(r, "mapped"),
                          file_size=0, verdict="truncated", truncation=None)

    def test_logged_cut_then_raw_cut(self):
        # log mode: the guarded ftruncate went through and is the last one the guard knows of.
        r = self.run_prog("raw", "guarded_first=1", "size=100")
        self.assertKilledBySigbus(r)
        self.assertEqual(self.one(r, "guarded_cut")["ret"], 0)
        (trunc,) = r.events("truncate")
        (rec,) = r.events("sigbus")
        self.check_record(r, rec, fault=self.one(r, "fault"), mapped=self.one(r, "mapped"),
                          file_size=100, verdict="truncated",
                          truncation={"call": "ftruncate", "tid": trunc["tid"],
                                      "thread_name": "mg_sigbus", "size_before": 8 * PAGE,
                                      "size_after": 100})


class MappingLongerThanFile(sb.SigbusTest):
    def longer(self, *opts):
        r = self.run_prog("longer", *opts)
        self.assertKilledBySigbus(r)
        mapped, fault = self.one(r, "mapped"), self.one(r, "fault")
        self.assertEqual(fault["fault_offset"], 3 * PAGE + 7)
        (rec,) = self.only_sigbus(r)
        # Beyond EOF, but it already was when the mapping was made: not called a truncation,
        # and no in-process truncation is blamed.
        self.check_record(r, rec, fault=fault, mapped=mapped, file_size=100,
                          verdict="beyond_eof_at_map", truncation=None)
        self.assertEqual(rec["size_at_map"], 100)
        self.assertEqual(rec["mappings"][0]["pages_beyond_eof"], 3)
        return r

    def test_mapped_longer_from_the_start(self):
        self.longer()

    def test_earlier_harmless_shrink_is_not_blamed(self):
        # The file was shrunk by this process while only its first page was mapped: nothing was
        # endangered, nothing reported, so nothing may be blamed.
        r = self.longer("preshrink=1")
        self.assertEqual(self.one(r, "preshrink")["ret"], 0)


class IoError(sb.SigbusTest):
    """A hole of a sparse file on a full tmpfs: the kernel cannot allocate the page."""

    def io_error(self, reader, func):
        r = self.run_prog("io_error", "reader=" + reader)
        self.assertKilledBySigbus(r)
        mapped, fault = self.one(r, "mapped"), self.one(r, "fault")
        self.assertEqual(fault["file_size"], 64 * PAGE)
        self.assertEqual(fault["fault_offset"], 9 * PAGE + 5)
        (rec,) = self.only_sigbus(r)
        self.check_record(r, rec, fault=fault, mapped=mapped, file_size=64 * PAGE,
                          verdict="io_error", reader=func, prot="PROT_READ|PROT_WRITE",
                          truncation=None)
        self.assertEqual(rec["mappings"][0]["pages_beyond_eof"], 0)

    def test_write_into_hole(self):
        self.io_error("write", "write_mapped_byte")

    def test_read_of_hole(self):
        self.io_error("read", "read_mapped_byte")


class FileStatus(sb.SigbusTest):
    def test_renamed(self):
        # /proc/self/maps follows a rename: the record names the file by its new name, which
        # still leads to it ("present").
        r = self.run_prog("rename")
        self.assertKilledBySigbus(r)
        mapped, fault, ren = self.one(r, "mapped"), self.one(r, "fault"), self.one(r, "renamed")
        (rec,) = self.only_sigbus(r)
        self.check_record(r, rec, fault=fault, mapped=mapped, path=ren["to"],
                          file_status="present", file_size=0, verdict="truncated")

    def test_name_leads_to_another_file(self):
        # A tmpfs mounted over the directory: the name maps gives now leads elsewhere.
        for replace in (0, 1):
            with self.subTest(replace=replace):
                d = os.path.join(self.tmp, "r%d" % replace)
                os.mkdir(d)
                r = self.run_prog("overmount", "replace=%d" % replace, workdir=d)
                self.assertKilledBySigbus(r)
                mapped, fault = self.one(r, "mapped"), self.one(r, "fault")
                om = self.one(r, "overmounted")
                self.assertIs(om["path_exists"], bool(replace))
                (rec,) = self.only_sigbus(r)
                self.check_record(r, rec, fault=fault, mapped=mapped, file_status="renamed",
                                  file_size=0, verdict="truncated")

    def unlinked(self, *opts):
        r = self.run_prog("unlink", *opts)
        self.assertKilledBySigbus(r)
        mapped, fault, st = self.one(r, "mapped"), self.one(r, "fault"), self.one(r, "unlinked")
        (rec,) = self.only_sigbus(r)
        return r, mapped, fault, st, rec

    def test_unlinked_fd_kept(self):
        # The size comes from /proc/self/map_files or from the descriptor still open.
        r, mapped, fault, st, rec = self.unlinked("keepfd=1")
        self.check_record(r, rec, fault=fault, mapped=mapped, path=mapped["path"] + " (deleted)",
                          file_status="unlinked", file_size=0, verdict="truncated")

    def test_unlinked_fd_kept_without_capabilities(self):
        # No /proc/self/map_files (needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE): the open
        # descriptor gives the size.
        r, mapped, fault, st, rec = self.unlinked("keepfd=1", "dropcaps=1")
        self.assertIs(st["map_files_ok"], False)
        self.check_record(r, rec, fault=fault, mapped=mapped, path=mapped["path"] + " (deleted)",
                          file_status="unlinked", file_size=0, verdict="truncated")

    def test_unlinked_no_fd(self):
        # Privileged: map_files still reaches the file; otherwise its size is unknown.
        r, mapped, fault, st, rec = self.unlinked("keepfd=0")
        size = 0 if st["map_files_ok"] else None
        self.check_record(r, rec, fault=fault, mapped=mapped, path=mapped["path"] + " (deleted)",
                          file_status="unlinked", file_size=size)

    def test_unlinked_no_fd_without_capabilities(self):
        r, mapped, fault, st, rec = self.unlinked("keepfd=0", "dropcaps=1")
        self.assertIs(st["map_files_ok"], False)
        self.check_record(r, rec, fault=fault, mapped=mapped, path=mapped["path"] + " (deleted)",
                          file_status="unlinked", file_size=None, verdict="unknown")


class ForkedChildFaults(sb.SigbusTest):
    def test_child_reports_with_its_own_pid(self):
        r = self.run_prog("child_faults")
        self.assertExit(r, 0)
        mapped, fault, cs = self.one(r, "mapped"), self.one(r, "fault"), self.one(r, "child_status")
        self.assertEqual((cs["signaled"], cs["sig"]), (True, sb.SIGBUS), r.describe())
        self.assertNotEqual(fault["pid"], mapped["pid"])
        (rec,) = self.only_sigbus(r)
        mapped = dict(mapped)
        self.check_record(r, rec, fault=fault, mapped=mapped, file_size=0, verdict="truncated")


class TextFormat(sb.SigbusTest):
    HEAD = re.compile(r"^mmapguard: SIGBUS \(BUS_ADRERR\) at (0x[0-9a-f]+) in a mapping of (.+)$")
    VERDICT = re.compile(r"^mmapguard:   verdict: (\w+): file offset (\d+), file size now (\d+) "
                         r"\(file (\w+), dev (\d+):(\d+) ino (\d+)\)$")

    def text(self, scenario):
        r = self.run_prog(scenario, fmt="text")
        self.assertKilledBySigbus(r)
        lines = r.logtext.splitlines()
        self.assertTrue(lines, "no text report:\n" + r.describe())
        for line in lines:
            self.assertTrue(line.startswith("mmapguard: "), "line %r:\n%s" % (line, r.describe()))
        starts = [i for i, l in enumerate(lines) if l.startswith("mmapguard: SIGBUS")]
        self.assertEqual(len(starts), 1, r.describe())
        block = lines[starts[0]:]
        m = self.HEAD.match(block[0])
        self.assertTrue(m, "first line %r" % block[0])
        mapped, fault = self.one(r, "mapped"), self.one(r, "fault")
        self.assertEqual(int(m.group(1), 16), int(fault["fault_addr"], 16))
        self.assertEqual(m.group(2), mapped["path"])
        v = self.VERDICT.match(block[1])
        self.assertTrue(v, "verdict line %r" % block[1])
        st = os.stat(mapped["path"])
        self.assertEqual(v.group(1), "truncated")
        self.assertEqual(int(v.group(2)), fault["fault_offset"])
        self.assertEqual(int(v.group(3)), st.st_size)
        self.assertEqual(v.group(4), "present")
        self.assertEqual((int(v.group(5)), int(v.group(6))),
                         (os.major(st.st_dev), os.minor(st.st_dev)))
        self.assertEqual(int(v.group(7)), st.st_ino)
        self.assertTrue(any("read_mapped_byte+" in l for l in block), r.logtext)
        self.assertTrue(any("map_file+" in l for l in block), r.logtext)
        return r, block

    def test_text_block_no_truncation(self):
        r, block = self.text("raw")
        self.assertTrue(any("another process" in l for l in block), r.logtext)

    def test_default_log_is_stderr(self):
        r = self.run_prog("raw", fmt="text", env={"MMAPGUARD_LOG": ""})
        self.assertKilledBySigbus(r)
        self.assertEqual(r.logtext, "")
        lines = [l for l in r.stderr.splitlines() if l.startswith("mmapguard: ")]
        self.assertTrue(lines and self.HEAD.match(lines[0]), "no SIGBUS block on stderr:\n"
                        + r.describe())
        self.assertTrue(self.VERDICT.match(lines[1]), r.describe())

    def test_text_block_linked_truncation(self):
        r, block = self.text("threads")
        cutter = [c for c in self.steps(r, "cut") if c["thread"] == "mg-cutter"][0]
        want = ("mmapguard:   this process cut the file earlier: ftruncate() %d -> %d bytes by "
                "thread %d \"mg-cutter\" at " % (cutter["size_before"], cutter["size_after"],
                                                 cutter["tid"]))
        self.assertTrue(any(l.startswith(want) for l in block), "no line %r in\n%s"
                        % (want, r.logtext))


if __name__ == "__main__":
    unittest.main()
