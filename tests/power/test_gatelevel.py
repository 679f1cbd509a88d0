"""Gate-level run of a 2x2 4-bit array (Icarus): outputs == model, activity attributed to PEs,
the SAIF file and the report built from it."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ivita.power.estimate import GateLevelMismatch, report_from_run
from ivita.power.gatesim import pack_beats, unpack_outputs
from ivita.power.model import load_model
from ivita.power.saif import saif_escape, saif_text

pytestmark = [pytest.mark.yosys, pytest.mark.icarus]


def test_outputs_equal_model_and_window(run2x2):
    # activity_run raises GateLevelMismatch unless every tile == A @ B; it checked them all
    assert run2x2.tiles_checked >= 8
    w0, w1 = run2x2.window
    assert w0 == 2 + 2 + 2 + 2 and w1 > w0 + 100
    assert run2x2.macs == 4 * (w1 - w0)
    paths = [p for p, _ in run2x2.netlist.instances()]
    # the PEs and one enable flip-flop copy per PE (its power counts as the array's control)
    assert [p for p in paths if not p.startswith("en_")] == ["", "pe_r0_c0", "pe_r0_c1",
                                                             "pe_r1_c0", "pe_r1_c1"]
    assert sorted(p for p in paths if p.startswith("en_")) == [
        "en_r0_c0", "en_r0_c1", "en_r1_c0", "en_r1_c1"]
    # every driven bit of every instance has activity (names shared by netlist and VCD)
    for path, mod in run2x2.netlist.instances():
        for c in mod.cells:
            for b in c.outs:
                if not isinstance(b, str):
                    assert (path, b) in run2x2.activity, (path, c.name)
    # the PEs' operand registers toggle: real data moves through every PE
    pe_rates = [a.rate for (p, _), a in run2x2.activity.items() if p.startswith("pe_")]
    assert max(pe_rates) > 0.1 and all(0 <= r <= 2 for r in pe_rates)
    # the clock toggles twice per cycle, in every instance
    for path, mod in run2x2.netlist.instances():
        assert run2x2.activity[(path, mod.nets["clk"][0])].rate == 2.0


def test_pack_unpack_roundtrip():
    a = [np.array([[1, -2], [-8, 7]])]
    b = [np.array([[3, -1], [0, 5]])]
    words = pack_beats(a, b, 4, 4)
    # beat 0: a = (1, -8), b = (3, -1), last 0; beat 1: a = (-2, 7), b = (0, 5), last 1
    assert words[0] == 0x1 | (0x8 << 4) | (0x3 << 8) | (0xF << 12)
    assert words[1] == 0xE | (0x7 << 4) | (0x0 << 8) | (0x5 << 12) | (1 << 16)
    out = unpack_outputs([(5 & 0x3F) | ((-3 & 0x3F) << 6), 7 | (1 << 6)], 2, 2, 6)
    assert out.tolist() == [[[5, -3], [7, 1]]]


def test_report_from_run(run2x2):
    m = load_model()
    rep = report_from_run(run2x2, m, freq_hz=100e6, part="xc7s50-1", data="attention",
                          baseline=False, a_bits=4, w_bits=4)
    assert rep.per_pe_mw.shape == (2, 2) and (rep.per_pe_mw > 0).all()
    assert rep.unknown_bits == 0
    assert rep.dynamic_mw == pytest.approx(sum(rep.units_mw.values()))
    assert rep.units_mw["PEs"] == pytest.approx(rep.per_pe_mw.sum())
    assert rep.static_mw == 0.0 and rep.total_mw == rep.dynamic_mw
    # energy per MAC = dynamic power x window time / MACs
    t = rep.cycles / 100e6
    assert rep.energy_per_mac_pj == pytest.approx(rep.dynamic_mw * 1e-3 * t / rep.macs * 1e12)
    # linear in f: twice the clock, twice the power (same activity per cycle)
    rep2 = report_from_run(run2x2, m, freq_hz=200e6, part="xc7s50-1", data="attention",
                           baseline=False, a_bits=4, w_bits=4)
    assert rep2.dynamic_mw == pytest.approx(2 * rep.dynamic_mw)
    d = rep.as_dict()
    assert d["estimate"] is True and d["model"] == m.name
    assert np.array(d["per_pe_mw"]).shape == (2, 2)


def test_saif(run2x2):
    text = saif_text(run2x2, design="array", date="Wed Dec  2 00:00:00 2026")
    assert text.startswith('(SAIFILE\n(SAIFVERSION "2.0")\n(DIRECTION "backward")')
    # balanced parentheses (escaped ones are part of identifiers)
    depth = 0
    for ch in re.sub(r"\\.", "", text):
        depth += (ch == "(") - (ch == ")")
        assert depth >= 0
    assert depth == 0
    cycles = run2x2.window[1] - run2x2.window[0]
    assert f"(DURATION {cycles * 10})" in text
    # instance tree: array > pe_r{r}_c{c}, as in the Vivado build of the same unit
    insts = re.findall(r"\(INSTANCE (\S+)", text)
    assert [i for i in insts if not i.startswith("en_")] == ["array", "pe_r0_c0", "pe_r0_c1",
                                                             "pe_r1_c0", "pe_r1_c1"]
    # every net line: T0 + T1 = DURATION, TC = the counted toggles
    nets = re.findall(r"\((\S+) \(T0 (\d+)\) \(T1 (\d+)\) \(TX 0\) \(TC (\d+)\)\)", text)
    assert len(nets) == len(run2x2.names)
    assert all(int(t0) + int(t1) == cycles * 10 for _, t0, t1, _ in nets)
    total_tc = sum(int(tc) for *_, tc in nets)
    assert total_tc == round(sum(a.rate * cycles for a in run2x2.activity.values()))
    assert saif_escape("a_in$22[3]") == "a_in\\$22\\[3\\]"


def test_mismatch_is_an_error():
    assert issubclass(GateLevelMismatch, AssertionError)
