"""Record fields say exactly what happened: pages_beyond_eof counts the pages this call newly cut,
pages_beyond_eof_total all pages of the window beyond the new end of file; paths are whole (up to
PATH_MAX) and exact (a newline is a newline); a file's status comes from its identity, never from
the shape of its name; module paths and symbols are not cut short."""
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edgelib  # noqa: E402
import mgtest  # noqa: E402

LONG_NAME = ("cut_the_file_from_a_function_whose_name_is_much_longer_than_one_hundred_and_thirty_"
             "characters_as_generated_cxx_template_names_often_are_in_real_programs_that_map_files_"
             "and_truncate_them_later")


class RecordFieldsTest(edgelib.EdgeTest):

    def test_pages_newly_cut(self):
        r = self.edge("partial-cut", "log")
        recs = r.events("truncate")
        self.assertEqual(len(recs), 1, r.describe())
        m = recs[0]["mappings"][0]
        self.assertEqual((m["pages_beyond_eof"], m["pages_beyond_eof_total"]), (2, 12), m)

    def test_pages_newly_cut_text(self):
        d = self.edge("partial-cut", "log", env={"MMAPGUARD_LOG_FORMAT": "text", "MMAPGUARD_LOG": ""})
        self.assertIn("2 page(s) of it lie beyond the new end of file (12 in all", d.stderr, d.describe())

    def deep_dir(self, total):
        """A directory whose absolute path is about `total` bytes long."""
        d = self.tmp
        while len(d) < total - 250:
            d = os.path.join(d, "d" * min(200, total - 250 - len(d)) or "d")
            os.mkdir(d)
        return d

    def paths_run(self, case, path, prog=None):
        prog = prog or mgtest.test_prog("edge_paths")
        r = mgtest.run([prog, case, path], mode="log", timeout=60)
        self.assertEqual(r.returncode, -7, r.describe())        # SIGBUS, as bare
        cuts, faults = r.events("truncate"), r.events("sigbus")
        self.assertEqual((len(cuts), len(faults)), (1, 1), r.describe())
        return r, cuts[0], faults[0]

    def check_present(self, path):
        r, cut, fault = self.paths_run("present", path)
        self.assertEqual(cut["path"], path)
        self.assertEqual(cut["mappings"][0]["path"], path)
        self.assertEqual(fault["path"], path)
        self.assertEqual(fault["file_status"], "present", fault)

    def test_long_path(self):
        self.check_present(os.path.join(self.deep_dir(3800), "mapped"))

    def test_newline_in_path(self):
        self.check_present(os.path.join(self.tmp, "a\nb"))

    def test_backslash_012_in_path(self):
        self.check_present(os.path.join(self.tmp, "a\\012b"))

    def test_name_that_looks_deleted(self):
        self.check_present(os.path.join(self.tmp, "x (deleted)"))

    def test_unlinked(self):
        path = os.path.join(self.tmp, "gone")
        r, cut, fault = self.paths_run("unlinked", path)
        self.assertEqual(fault["file_status"], "unlinked", fault)

    def test_long_module_and_symbol(self):
        d = self.deep_dir(600)
        prog = os.path.join(d, "edge_paths")
        shutil.copy(mgtest.test_prog("edge_paths"), prog)
        r, cut, fault = self.paths_run("present", os.path.join(self.tmp, "m"), prog)
        frame = cut["backtrace"][0]
        self.assertEqual(frame["module"], prog, frame)
        self.assertTrue((frame["symbol"] or "").startswith(LONG_NAME + "+0x"), frame)


if __name__ == "__main__":
    unittest.main()
