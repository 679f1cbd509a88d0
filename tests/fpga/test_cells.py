"""fpga/cells.py: classification of xc7 primitives and the CellCounts arithmetic."""

from ivita.fpga.cells import CellCounts, classify_cells


def test_classify_cells_groups_primitives():
    got = classify_cells({"LUT2": 3, "LUT6": 4, "FDRE": 5, "FDCE": 1, "CARRY4": 2, "SRL16E": 1,
                          "RAM64M": 2, "RAM32X1D": 1, "BUFG": 1, "DSP48E1": 2, "RAMB18E1": 3,
                          "RAMB36E1": 1, "MUXF7": 4, "MUXF8": 1})
    assert (got.lut2, got.lut6, got.lut) == (3, 4, 7)
    assert (got.ff, got.carry4, got.srl, got.dsp48e1) == (6, 2, 1, 2)
    assert got.lutram == 2 * 4 + 2            # RAM64M: 4 LUT sites, RAM32X1D: 2
    assert (got.ramb18, got.ramb36, got.bram36) == (3, 1, 2.5)
    assert (got.muxf7, got.muxf8) == (4, 1)
    assert got.other == {"BUFG": 1}
    assert got.lut_sites == 7 + 1 + 10


def test_add_scale_and_round_trip():
    a = CellCounts(lut2=1, ff=3, other={"X": 1})
    b = CellCounts(lut2=2, lut_unsized=5, dsp48e1=1, other={"X": 2, "Y": 1})
    s = a + b
    assert (s.lut2, s.lut_unsized, s.lut, s.ff, s.dsp48e1) == (3, 5, 8, 3, 1)
    assert s.other == {"X": 3, "Y": 1}
    assert a.scaled(4).ff == 12 and a.scaled(4).other == {"X": 4}
    d = s.as_dict()
    assert d["lut"] == 8 and d["lut_sites"] == 8
    assert CellCounts.from_dict(d) == s
