"""The precision of the rule, on each side of every boundary, counting records in log mode.

A scenario is a list of `mg_entry script` steps (file, map, munmap, mremap, MAP_FIXED overlay,
probe). A probe is one ftruncate(fd, S) made by do_ftruncate(), after which the program grows the
file back (growing is never reported). Within one run every probe size of a file is unique, so
each record is attributed to its probe by size_after; the number of records is checked too.
"""
import errno
import unittest

from pcommon import PAGE, PreloadTest, endangered, pages_beyond, round_up

P = PAGE


def W(mid, pg=0, length=None, offset=0, beyond=None, prot="PROT_READ|PROT_WRITE", shared=True):
    """An expected window: map id, page offset from the id's current base, fields."""
    return dict(id=mid, pg=pg, length=length, offset=offset, beyond=beyond, prot=prot,
                shared=shared)


class Scenario:
    PROTS = {"rw": "PROT_READ|PROT_WRITE", "r": "PROT_READ", "none": "PROT_NONE"}

    def __init__(self):
        self.steps = []
        self.expect = []           # one entry per step: None, or a probe expectation
        self.probed = set()

    def _add(self, tokens, expect=None):
        self.steps.extend(str(t) for t in tokens)
        self.expect.append(expect)
        return self

    def file(self, name, size):
        return self._add(["file", name, size])

    def map(self, mid, name, off, length, prot="rw", kind="shared"):
        return self._add(["map", mid, name, off, length, prot, kind])

    def munmap(self, mid, pgoff, npages):
        return self._add(["munmap", mid, pgoff, npages])

    def unmapall(self, mid):
        return self._add(["unmapall", mid])

    def mremap(self, mid, newlen, how):
        return self._add(["mremap", mid, newlen, how])

    def mremap_part(self, mid, pgoff, npages, newid, newlen):
        return self._add(["mremap_part", mid, pgoff, npages, newid, newlen])

    def dup(self, mid, newid, newlen):
        return self._add(["dup", mid, newid, newlen])

    def overlay(self, mid, pgoff, npages):
        return self._add(["overlay", mid, pgoff, npages])

    def probe(self, name, size, windows=None, total=None):
        """windows None: no report. Otherwise the endangered windows (any order)."""
        assert (name, size) not in self.probed, "probe sizes must be unique within a run"
        self.probed.add((name, size))
        return self._add(["probe", name, size], dict(windows=windows, total=total))


class Precision(PreloadTest):

    def play(self, sc, mode="log"):
        r, outs = self.script(*sc.steps, mode=mode)
        self.assertEqual(len(outs), len(sc.expect),
                         "one output line per step expected:\n" + r.describe())
        base, ino = {}, {}
        reported = 0
        for out, exp in zip(outs, sc.expect):
            step = out["step"]
            if step == "file":
                ino[out["name"]] = out["ino"]
            elif step in ("map", "mremap", "mremap_part", "dup"):
                base[out["id"]] = int(out["addr"], 16)
            if step != "probe":
                continue
            S, before = out["size_after"], out["size_before"]
            mine = [x for x in r.records
                    if x.get("ino") == out["ino"] and x.get("size_after") == S
                    and x.get("size_before") == before]
            what = "ftruncate(%s, %d) from %d" % (out["name"], S, before)
            if exp["windows"] is None:
                self.assertEqual(mine, [], "%s must not be reported:\n%s" % (what, r.describe()))
                self.assertEqual((out["ret"], out["errno"]), (0, 0), what)
                self.assertEqual(out["size"], S, what)
                continue
            reported += 1
            self.assertEqual(len(mine), 1, "%s must be reported once:\n%s" % (what, r.describe()))
            rec = mine[0]
            self.assertEqual(rec["event"], "truncate")
            self.assertEqual(rec["call"], "ftruncate")
            self.assertEqual(rec["pid"], out["pid"])
            self.assertEqual(rec["tid"], out["tid"])
            self.assertEqual(rec["thread_name"], "mg-script")
            self.check_frame0(rec["backtrace"], "do_ftruncate", self.prog(), what, r)
            wins = sorted(exp["windows"], key=lambda w: base[w["id"]] + w["pg"] * P)
            total = exp["total"] if exp["total"] is not None else len(wins)
            self.assertEqual(rec["mappings_total"], total,
                             "%s: mappings_total\n%s" % (what, r.describe()))
            self.assertEqual(len(rec["mappings"]), min(total, 8),
                             "%s: number of mappings listed\n%s" % (what, r.describe()))
            addrs = [int(m["addr"], 16) for m in rec["mappings"]]
            self.assertEqual(addrs, sorted(addrs), "%s: mappings not in address order" % what)
            for m, w in zip(rec["mappings"], wins[:8]):
                self.check_mapping(m, r, addr=base[w["id"]] + w["pg"] * P, length=w["length"],
                                   offset=w["offset"], prot=w["prot"], shared=w["shared"],
                                   beyond=w["beyond"], thread_name="mg-script", tid=out["tid"],
                                   sizes=(before, S))
            if mode == "log":
                self.assertEqual(rec["action"], "logged")
                self.assertEqual((out["ret"], out["errno"]), (0, 0), what)
                self.assertEqual(out["size"], S, "%s: file not truncated" % what)
            else:
                self.assertEqual(rec["action"], "blocked")
                self.assertEqual((out["ret"], out["errno"]), (-1, errno.ETXTBSY), what)
                self.assertEqual(out["size"], before, "%s: blocked call changed the size" % what)
        self.assertEqual(len(r.records), reported,
                         "records not accounted for by any probe:\n" + r.describe())
        return r, outs

    # ---- one window, boundaries ----------------------------------------------------------------

    def boundaries_at_zero(self):
        sc = Scenario().file("data", 8 * P).map(0, "data", 0, 8 * P)
        sc.probe("data", 8 * P)                                   # off+len exactly
        sc.probe("data", 7 * P + 1)                               # off+len-page+1: EOF page kept
        sc.probe("data", 7 * P, [W(0, length=8 * P, beyond=1)])   # off+len-page
        sc.probe("data", 7 * P - 1, [W(0, length=8 * P, beyond=1)])
        sc.probe("data", 6 * P + 1, [W(0, length=8 * P, beyond=1)])
        sc.probe("data", 6 * P, [W(0, length=8 * P, beyond=2)])
        sc.probe("data", 1, [W(0, length=8 * P, beyond=7)])
        sc.probe("data", 0, [W(0, length=8 * P, beyond=8)])
        sc.probe("data", 12 * P)                                  # growing
        return sc

    def test_window_at_offset_zero(self):
        self.play(self.boundaries_at_zero())

    def test_window_at_offset_zero_block(self):
        self.play(self.boundaries_at_zero(), mode="block")

    def test_window_at_nonzero_offset(self):
        sc = Scenario().file("data", 10 * P).map(0, "data", 3 * P, 4 * P)   # file bytes [3P, 7P)
        w = lambda b: [W(0, length=4 * P, offset=3 * P, beyond=b)]
        sc.probe("data", 9 * P)
        sc.probe("data", 7 * P + 1)
        sc.probe("data", 7 * P)
        sc.probe("data", 6 * P + 1)
        sc.probe("data", 6 * P, w(1))
        sc.probe("data", 5 * P + 1, w(1))
        sc.probe("data", 5 * P, w(2))
        sc.probe("data", 3 * P + 1, w(3))
        sc.probe("data", 3 * P, w(4))
        sc.probe("data", 3 * P - 1, w(4))
        sc.probe("data", 1, w(4))
        sc.probe("data", 0, w(4))
        sc.probe("data", 11 * P)
        self.play(sc)

    def test_window_at_nonzero_offset_block(self):
        sc = Scenario().file("data", 10 * P).map(0, "data", 3 * P, 4 * P)
        sc.probe("data", 6 * P + 1)
        sc.probe("data", 6 * P, [W(0, length=4 * P, offset=3 * P, beyond=1)])
        sc.probe("data", 2 * P, [W(0, length=4 * P, offset=3 * P, beyond=4)])
        self.play(sc, mode="block")

    def test_length_not_a_page_multiple(self):
        sc = Scenario().file("data", 10 * P).map(0, "data", P, 2 * P + 100)  # window [P, 4P)
        w = lambda b: [W(0, length=3 * P, offset=P, beyond=b)]
        sc.probe("data", 4 * P)
        sc.probe("data", 3 * P + 101)
        sc.probe("data", 3 * P + 1)
        sc.probe("data", 3 * P, w(1))
        sc.probe("data", P, w(3))
        self.play(sc)

    def test_unmapped_file(self):
        sc = Scenario().file("data", 8 * P).file("other", 8 * P).map(0, "data", 0, 8 * P)
        sc.probe("other", 0)
        sc.probe("other", P + 3)
        sc.probe("data", 0, [W(0, length=8 * P, beyond=8)])
        self.play(sc)

    def test_no_mapping_at_all(self):
        sc = Scenario().file("data", 8 * P)
        sc.probe("data", 0)
        self.play(sc)

    # ---- mappings beyond the end of the file -------------------------------------------------------

    def test_mapping_longer_than_file(self):
        sc = Scenario().file("data", 2 * P + 2048).map(0, "data", 0, 5 * P)
        w = lambda b: [W(0, length=5 * P, beyond=b)]
        sc.probe("data", 2 * P + 2047)      # same last page
        sc.probe("data", 2 * P + 1)
        sc.probe("data", 2 * P, w(3))       # the last backed page goes
        sc.probe("data", P + 1, w(3))
        sc.probe("data", P, w(4))
        sc.probe("data", 0, w(5))
        sc.probe("data", 4 * P)
        self.play(sc)

    def test_window_wholly_beyond_eof(self):
        sc = Scenario().file("data", 2 * P)
        sc.map(0, "data", 4 * P, 2 * P)     # only ever unbacked pages
        sc.map(1, "data", 0, 2 * P)
        sc.probe("data", P + 1)
        sc.probe("data", P, [W(1, length=2 * P, beyond=1)])
        sc.probe("data", 0, [W(1, length=2 * P, beyond=2)])
        self.play(sc)

    def test_window_beyond_eof_alone(self):
        sc = Scenario().file("data", 2 * P).map(0, "data", 4 * P, 2 * P)
        sc.probe("data", P)
        sc.probe("data", 0)
        self.play(sc)

    def test_window_straddling_eof(self):
        sc = Scenario().file("data", 3 * P).map(0, "data", 2 * P, 4 * P)     # [2P, 6P), 1 backed
        sc.probe("data", 2 * P + 1)
        sc.probe("data", 2 * P, [W(0, length=4 * P, offset=2 * P, beyond=4)])
        self.play(sc)

    # ---- kinds of mappings -------------------------------------------------------------------------

    def test_map_private(self):
        sc = Scenario().file("data", 4 * P).map(0, "data", 0, 4 * P, "rw", "private")
        sc.probe("data", 3 * P + 1)
        sc.probe("data", 2 * P, [W(0, length=4 * P, beyond=2, shared=False)])
        self.play(sc)

    def test_map_private_read_only(self):
        sc = Scenario().file("data", 4 * P).map(0, "data", P, 3 * P, "r", "private")
        sc.probe("data", 3 * P, [W(0, length=3 * P, offset=P, beyond=1, shared=False,
                                   prot="PROT_READ")])
        self.play(sc)

    def test_prot_none(self):
        sc = Scenario().file("data", 4 * P).map(0, "data", 0, 4 * P, "none", "shared")
        sc.probe("data", 3 * P + 1)
        sc.probe("data", P, [W(0, length=4 * P, beyond=3, prot="PROT_NONE")])
        self.play(sc)

    def test_several_windows_address_order(self):
        sc = Scenario().file("data", 8 * P)
        sc.map(0, "data", 0, 2 * P)
        sc.map(1, "data", 4 * P, 4 * P, "r", "shared")
        sc.map(2, "data", 2 * P, 4 * P, "rw", "private")
        w1 = lambda b: W(1, length=4 * P, offset=4 * P, beyond=b, prot="PROT_READ")
        w2 = lambda b: W(2, length=4 * P, offset=2 * P, beyond=b, shared=False)
        sc.probe("data", 7 * P, [w1(1)])
        sc.probe("data", 6 * P, [w1(2)])
        sc.probe("data", 5 * P, [w1(3), w2(1)])
        sc.probe("data", 2 * P, [w1(4), w2(4)])
        sc.probe("data", P, [W(0, length=2 * P, beyond=1), w1(4), w2(4)])
        self.play(sc)

    def test_more_than_eight_windows(self):
        sc = Scenario().file("data", 10 * P)
        for i in range(10):
            sc.map(i, "data", i * P, P)
        sc.probe("data", 5 * P, [W(i, length=P, offset=i * P, beyond=1) for i in range(5, 10)])
        sc.probe("data", 0, [W(i, length=P, offset=i * P, beyond=1) for i in range(10)], total=10)
        self.play(sc)

    # ---- the registry follows munmap / mremap / MAP_FIXED ------------------------------------------

    def test_munmap_tail(self):
        sc = Scenario().file("data", 8 * P).map(0, "data", 0, 8 * P)
        sc.probe("data", 6 * P, [W(0, length=8 * P, beyond=2)])
        sc.munmap(0, 5, 3)                                  # [5P, 8P) gone
        sc.probe("data", 5 * P + 7)                         # only removed pages
        sc.probe("data", 5 * P)
        sc.probe("data", 4 * P + 1)
        sc.probe("data", 4 * P, [W(0, length=5 * P, beyond=1)])
        sc.probe("data", 0, [W(0, length=5 * P, beyond=5)])
        self.play(sc)

    def test_munmap_head(self):
        sc = Scenario().file("data", 8 * P).map(0, "data", 0, 8 * P)
        sc.munmap(0, 0, 2)                                  # [0, 2P) gone
        w = lambda b: [W(0, pg=2, length=6 * P, offset=2 * P, beyond=b)]
        sc.probe("data", 7 * P + 1)
        sc.probe("data", 7 * P, w(1))
        sc.probe("data", 2 * P, w(6))
        sc.probe("data", 0, w(6))
        self.play(sc)

    def test_munmap_hole(self):
        sc = Scenario().file("data", 8 * P).map(0, "data", 0, 8 * P)
        sc.munmap(0, 3, 2)                                  # [3P, 5P) gone
        tail = lambda b: W(0, pg=5, length=3 * P, offset=5 * P, beyond=b)
        head = lambda b: W(0, pg=0, length=3 * P, offset=0, beyond=b)
        sc.probe("data", 7 * P + 1)
        sc.probe("data", 7 * P, [tail(1)])
        sc.probe("data", 5 * P, [tail(3)])
        sc.probe("data", 4 * P, [tail(3)])
        sc.probe("data", 3 * P, [tail(3)])
        sc.probe("data", 2 * P, [head(1), tail(3)])
        sc.probe("data", 0, [head(3), tail(3)])
        self.play(sc)

    def test_munmap_hole_only_removed_pages_cut(self):
        """File of 5 pages, window of 8: after the hole [3P, 5P) only unmapped pages were backed."""
        sc = Scenario().file("data", 5 * P).map(0, "data", 0, 8 * P)
        sc.probe("data", 3 * P + 5, [W(0, length=8 * P, beyond=4)])
        sc.munmap(0, 3, 2)
        sc.probe("data", 3 * P)
        sc.probe("data", 2 * P + 1)
        sc.probe("data", 2 * P, [W(0, length=3 * P, beyond=1)])
        self.play(sc)

    def test_mremap_shrink(self):
        sc = Scenario().file("data", 8 * P).map(0, "data", 0, 8 * P)
        sc.probe("data", 6 * P, [W(0, length=8 * P, beyond=2)])
        sc.mremap(0, 5 * P, "inplace")
        sc.probe("data", 5 * P)
        sc.probe("data", 5 * P + 1)
        sc.probe("data", 4 * P + 1)
        sc.probe("data", 4 * P, [W(0, length=5 * P, beyond=1)])
        self.play(sc)

    def test_mremap_grow(self):
        sc = Scenario().file("data", 8 * P).map(0, "data", 0, 4 * P)
        sc.probe("data", 5 * P)
        sc.probe("data", 4 * P + 1)
        sc.mremap(0, 8 * P, "maymove")
        sc.probe("data", 7 * P + 1)
        sc.probe("data", 6 * P, [W(0, length=8 * P, beyond=2)])
        sc.probe("data", 3 * P, [W(0, length=8 * P, beyond=5)])
        self.play(sc)

    def test_mremap_move_fixed(self):
        sc = Scenario().file("data", 8 * P).map(0, "data", 2 * P, 4 * P)    # [2P, 6P)
        sc.probe("data", 5 * P, [W(0, length=4 * P, offset=2 * P, beyond=1)])
        sc.mremap(0, 4 * P, "fixed")
        sc.probe("data", 4 * P, [W(0, length=4 * P, offset=2 * P, beyond=2)])
        sc.probe("data", 6 * P + 9)
        self.play(sc)

    def test_mremap_move_fixed_shrink(self):
        sc = Scenario().file("data", 8 * P).map(0, "data", 2 * P, 4 * P)
        sc.mremap(0, 2 * P, "fixed")                        # [2P, 4P) at the new address
        sc.probe("data", 4 * P)
        sc.probe("data", 3 * P + 1)
        sc.probe("data", 3 * P, [W(0, length=2 * P, offset=2 * P, beyond=1)])
        self.play(sc)

    def test_mremap_move_fixed_grow(self):
        sc = Scenario().file("data", 8 * P).map(0, "data", P, 2 * P)        # [P, 3P)
        sc.probe("data", 4 * P)
        sc.mremap(0, 5 * P, "fixed")                        # [P, 6P) at the new address
        sc.probe("data", 5 * P, [W(0, length=5 * P, offset=P, beyond=1)])
        self.play(sc)

    def test_mremap_part_of_a_window(self):
        sc = Scenario().file("data", 8 * P).map(0, "data", 0, 8 * P)
        sc.mremap_part(0, 5, 3, 1, 3 * P)                   # [5P, 8P) moves away, as id 1
        moved = lambda b: W(1, length=3 * P, offset=5 * P, beyond=b)
        sc.probe("data", 6 * P, [moved(2)])
        sc.probe("data", 5 * P, [moved(3)])
        sc.probe("data", 4 * P, [W(0, length=5 * P, beyond=1), moved(3)])
        sc.unmapall(1)
        sc.probe("data", 4 * P + 1)
        sc.probe("data", 3 * P, [W(0, length=5 * P, beyond=2)])
        self.play(sc)

    def test_mremap_duplicate_zero_old_size(self):
        """mremap(old, 0, len, MREMAP_MAYMOVE) maps the same shared pages a second time."""
        sc = Scenario().file("data", 8 * P).map(0, "data", 2 * P, 4 * P)   # [2P, 6P)
        sc.dup(0, 1, 2 * P)                                 # [2P, 4P) again, elsewhere
        sc.probe("data", 5 * P, [W(0, length=4 * P, offset=2 * P, beyond=1)])
        sc.probe("data", 3 * P, [W(0, length=4 * P, offset=2 * P, beyond=3),
                                 W(1, length=2 * P, offset=2 * P, beyond=1)])
        sc.unmapall(0)
        sc.probe("data", 4 * P)
        sc.probe("data", 2 * P, [W(1, length=2 * P, offset=2 * P, beyond=2)])
        self.play(sc)

    def test_map_fixed_overlay_tail(self):
        sc = Scenario().file("data", 8 * P).map(0, "data", 0, 8 * P)
        sc.overlay(0, 5, 3)
        sc.probe("data", 6 * P)
        sc.probe("data", 5 * P)
        sc.probe("data", 4 * P, [W(0, length=5 * P, beyond=1)])
        self.play(sc)

    def test_map_fixed_overlay_middle(self):
        sc = Scenario().file("data", 8 * P).map(0, "data", 0, 8 * P)
        sc.overlay(0, 3, 2)
        tail = lambda b: W(0, pg=5, length=3 * P, offset=5 * P, beyond=b)
        sc.probe("data", 6 * P, [tail(2)])
        sc.probe("data", 3 * P, [tail(3)])
        sc.probe("data", 2 * P, [W(0, length=3 * P, beyond=1), tail(3)])
        self.play(sc)

    def test_map_fixed_overlay_head(self):
        sc = Scenario().file("data", 8 * P).map(0, "data", 0, 8 * P)
        sc.overlay(0, 0, 2)
        sc.probe("data", 7 * P + 1)
        sc.probe("data", 7 * P, [W(0, pg=2, length=6 * P, offset=2 * P, beyond=1)])
        self.play(sc)

    def test_munmap_everything(self):
        sc = Scenario().file("data", 8 * P)
        sc.map(0, "data", 0, 8 * P)
        sc.map(1, "data", 0, 4 * P, "rw", "private")
        sc.probe("data", 3 * P, [W(0, length=8 * P, beyond=5),
                                 W(1, length=4 * P, beyond=1, shared=False)])
        sc.unmapall(0)
        sc.probe("data", 2 * P, [W(1, length=4 * P, beyond=2, shared=False)])
        sc.probe("data", 5 * P)
        sc.unmapall(1)
        sc.probe("data", P)
        sc.probe("data", 0)
        self.play(sc)

    # ---- a sweep against an independent page-by-page oracle ------------------------------------

    CONFIGS = [
        ("whole file", 8 * P, [(0, 8 * P, "shared")]),
        ("offset window", 10 * P, [(3 * P, 4 * P, "shared")]),
        ("unaligned length", 10 * P + 100, [(2 * P, 2 * P + 1, "private")]),
        ("longer than file", 3 * P + 10, [(0, 6 * P, "shared")]),
        ("three windows", 4 * P + 1, [(0, 2 * P, "shared"), (2 * P, 2 * P, "private"),
                                      (6 * P, 2 * P, "shared")]),
    ]

    def test_sweep_against_oracle(self):
        for name, fsize, wins in self.CONFIGS:
            with self.subTest(config=name):
                self.fresh_dir()
                sc = Scenario().file("data", fsize)
                for i, (off, length, kind) in enumerate(wins):
                    sc.map(i, "data", off, length, "rw", kind)
                sizes = {0, 1, fsize - 1, fsize + 1, 2 * fsize}
                for k in range(0, round_up(fsize) // P + 1):
                    sizes |= {k * P - 1, k * P, k * P + 1}
                for off, length, _ in wins:
                    end = off + round_up(length)
                    sizes |= {off - 1, off, off + 1, end - P, end - P + 1, end - 1, end, end + 1}
                for s in sorted(x for x in sizes if 0 <= x != fsize):
                    exp = [W(i, length=round_up(l), offset=o, beyond=pages_beyond(o, l, s),
                             shared=k == "shared")
                           for i, (o, l, k) in enumerate(wins) if endangered(o, l, fsize, s)]
                    sc.probe("data", s, exp or None)
                self.play(sc)


if __name__ == "__main__":
    unittest.main()
