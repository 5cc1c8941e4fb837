"""Record fields say exactly what happened: pages_beyond_eof counts the pages this call newly cut,
pages_beyond_eof_total all pages of the window beyond the new end of file."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edgelib  # noqa: E402


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


if __name__ == "__main__":
    unittest.main()
