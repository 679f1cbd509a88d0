"""fpga/timing.py: the longest register-to-register path of a netlist under the delay model."""

import math

import pytest

from ivita.fpga.timing import SPARTAN7_1, estimate_timing

M = SPARTAN7_1


def _cell(type_, dirs, conns, params=None):
    return {"type": type_, "port_directions": dirs, "connections": conns,
            "parameters": params or {}}


def _ff(d, q, ce=None):
    conns = {"C": [1], "D": [d], "Q": [q], "R": ["0"], "CE": [ce if ce else "1"]}
    return _cell("FDRE", {"C": "input", "D": "input", "Q": "output", "R": "input",
                          "CE": "input"}, conns)


def _lut(ins, out, n=2):
    dirs = {f"I{i}": "input" for i in range(len(ins))} | {"O": "output"}
    conns = {f"I{i}": [b] for i, b in enumerate(ins)} | {"O": [out]}
    return _cell(f"LUT{n}", dirs, conns)


def _carry(ci, s, co, o):
    dirs = {"CI": "input", "CYINIT": "input", "DI": "input", "S": "input", "CO": "output",
            "O": "output"}
    return _cell("CARRY4", dirs, {"CI": [ci], "CYINIT": ["0"], "DI": ["0"] * 4,
                                  "S": [s, "0", "0", "0"], "CO": ["x", "x", "x", co],
                                  "O": ["x", "x", "x", o]})


def _netlist(cells, ports=None):
    return {"modules": {"top": {"ports": ports or {"clk": {"direction": "input", "bits": [1]}},
                                "cells": cells}}}


def net(fanout=1):
    return M["net"] + M["net_per_log2_fanout"] * math.log2(fanout)


def test_lut_lut_carry_carry_path():
    # ff0 -> lut(a) -> lut(b) -> carry0.S ; carry0.CO3 -> carry1.CI ; carry1.O3 -> ff1.D
    cells = {"ff0": _ff(2, 10), "la": _lut([10], 11), "lb": _lut([11], 12),
             "c0": _carry("0", 12, 13, 20), "c1": _carry(13, "0", 21, 14),
             "ff1": _ff(14, 30), "short": _ff(10, 31)}
    t = estimate_timing(_netlist(cells), "top")
    want = (M["ff_clk_to_q"] + net(2) + M["lut"] + net(1) + M["lut"] + 0.0  # LUT next to CARRY4
            + M["carry_entry"] + 0.0 + M["carry_ci_o"] + net(1) + M["ff_setup_d"])
    assert t.period_ns == pytest.approx(want, abs=1e-3)
    assert (t.lut_levels, t.carry4, t.muxf, t.dsp_stages) == (2, 2, 0, 0)
    assert [s.type for s in t.path] == ["LUT2", "LUT2", "CARRY4", "CARRY4"]
    assert t.start == "ff0 (FDRE)" and t.end == "ff1 (FDRE.D)"
    assert t.fmax_mhz == pytest.approx(1000 / want, abs=0.1)
    assert t.kind == "estimate" and "estimate" in t.summary()


def test_register_ends_and_starts_paths():
    """A path stops at a flip-flop: two short segments are not added up (plain ltp would)."""
    cells = {"ff0": _ff(2, 10), "la": _lut([10], 11), "ff1": _ff(11, 12),
             "lb": _lut([12], 13), "ff2": _ff(13, 14)}
    t = estimate_timing(_netlist(cells), "top")
    assert t.lut_levels == 1
    assert t.period_ns == pytest.approx(M["ff_clk_to_q"] + 2 * net() + M["lut"]
                                        + M["ff_setup_d"], abs=1e-3)


def test_registered_dsp_splits_the_path_and_clock_cap():
    dsp_dirs = {"A": "input", "P": "output", "CLK": "input"}
    cells = {"ff0": _ff(2, 10),
             "dsp": _cell("DSP48E1", dsp_dirs, {"A": [10], "P": [11], "CLK": [1]},
                          {"AREG": "0", "BREG": "0", "MREG": "1", "PREG": "0"}),
             "ff1": _ff(11, 12)}
    t = estimate_timing(_netlist(cells), "top")
    # launch: ff0 -> A -> M register (setup dsp_a_to_m); M -> P -> ff1
    a_to_m = M["ff_clk_to_q"] + net() + M["dsp_a_to_m"]
    m_to_ff = M["ff_clk_to_q"] + M["dsp_m_to_p"] + net() + M["ff_setup_d"]
    assert t.period_ns == pytest.approx(max(a_to_m, m_to_ff), abs=1e-3)
    cells = {"ff0": _ff(2, 10), "ff1": _ff(10, 11)}
    t = estimate_timing(_netlist(cells), "top")
    assert t.capped and t.fmax_mhz == M.fmax_cap_mhz.value


def test_every_coefficient_has_a_source():
    for name, c in M.coefs.items():
        assert c.value > 0 and len(c.source) > 20, name
    assert "DS189" in M.fmax_cap_mhz.source


def test_docs_table_matches_the_model():
    """docs/fpga.md publishes every coefficient with its source: it must be this model."""
    import re
    from pathlib import Path
    doc = (Path(__file__).resolve().parents[2] / "docs" / "fpga.md").read_text()
    rows = dict((m[1], (float(m[2]), m[3])) for m in
                re.finditer(r"^\| `(\w+)` \| ([\d.]+) \| (.+) \|$", doc, re.M))
    assert rows == {k: (c.value, c.source) for k, c in M.coefs.items()}
    assert f"Clock limit: {M.fmax_cap_mhz.value:g} MHz" in doc


def test_start_and_end_named_by_their_nets():
    cells = {"ff0": _ff(2, 10), "la": _lut([10], 11), "ff1": _ff(11, 12)}
    nl = _netlist(cells)
    nl["modules"]["top"]["netnames"] = {"$auto$x": {"bits": [10]}, "pe_r0_c0.acc": {"bits": [9, 10]},
                                        "out": {"bits": [12]}}
    t = estimate_timing(nl, "top")
    assert (t.start, t.end) == ("pe_r0_c0.acc[1] (FDRE)", "out (FDRE.D)")


def test_dsp_cascade_is_not_a_multiply():
    """B -> BCOUT -> BCIN of the next DSP48E1 is a dedicated pass-through, not A -> P."""
    dirs = {"B": "input", "BCIN": "input", "BCOUT": "output", "P": "output", "CLK": "input"}
    comb = {"AREG": "0", "BREG": "0", "MREG": "0", "PREG": "0"}
    cells = {"ff0": _ff(2, 10),
             "d1": _cell("DSP48E1", dirs, {"B": [10], "BCOUT": [11], "P": [12], "CLK": [1]},
                         comb),
             "d2": _cell("DSP48E1", dirs, {"BCIN": [11], "P": [13], "CLK": [1]},
                         comb | {"MREG": "1"}),
             "ff1": _ff(12, 14), "ff2": _ff(13, 15)}
    t = estimate_timing(_netlist(cells), "top")
    via_cascade = M["ff_clk_to_q"] + net() + M["dsp_cascade"] + M["dsp_a_to_m"]
    via_p = M["ff_clk_to_q"] + net() + M["dsp_a_to_p"] + net() + M["ff_setup_d"]
    assert t.period_ns == pytest.approx(max(via_cascade, via_p), abs=1e-3)
    assert t.dsp_stages == 1


def test_near_paths_one_per_start_and_end_module_slowest_first():
    """``near`` lists the next-slowest endpoints below the critical one, one per (start
    register, end module), each with its own delay and depth; it survives the JSON cache."""
    from ivita.fpga.timing import TimingEstimate
    cells = {"ff0": _ff(2, 10),
             "l1": _lut([10], 11), "l2": _lut([11], 12), "l3": _lut([12], 13),
             "a.x": _ff(13, 20),                      # 3 LUT: the critical path
             "l4": _lut([10], 14), "l5": _lut([14], 15),
             "a.y": _ff(15, 21),                      # 2 LUT, same start and module: grouped
             "b.z": _ff(15, 22),                      # 2 LUT, another module: listed
             "c.w": _ff(10, 23)}                      # 0 LUT: listed last
    nl = _netlist(cells)
    nl["modules"]["top"]["netnames"] = {"a.x": {"bits": [20]}, "a.y": {"bits": [21]},
                                        "b.z": {"bits": [22]}, "c.w": {"bits": [23]},
                                        "r": {"bits": [10]}}
    t = estimate_timing(nl, "top")
    assert t.lut_levels == 3 and t.end == "a.x (FDRE.D)"
    assert [n.end for n in t.near] == ["b.z (FDRE.D)", "c.w (FDRE.D)"]
    assert [n.lut_levels for n in t.near] == [2, 0]
    assert t.period_ns > t.near[0].period_ns > t.near[1].period_ns
    assert all(n.start == "r (FDRE)" for n in t.near)
    assert TimingEstimate.from_dict(t.as_dict()) == t
