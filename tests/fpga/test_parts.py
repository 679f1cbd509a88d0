"""fpga/parts.py: part names, boards and the fit in percent."""

import re

import pytest

from ivita.fpga.cells import CellCounts
from ivita.fpga.parts import BOARDS, PARTS, fit, parse_part


@pytest.mark.parametrize("text, name, speed, full", [
    ("xc7s50-1", "xc7s50", "-1", "xc7s50csga324-1"),
    ("XC7S25", "xc7s25", "-1", "xc7s25csga324-1"),
    ("xc7s25csga225-1", "xc7s25", "-1", "xc7s25csga225-1"),
    ("xc7s50-2", "xc7s50", "-2", "xc7s50csga324-2"),
    ("xc7s50-1L", "xc7s50", "-1L", "xc7s50csga324-1L"),
])
def test_parse_part(text, name, speed, full):
    p = parse_part(text)
    assert (p.part.name, p.speed, p.full_name) == (name, speed, full)


@pytest.mark.parametrize("text", ["xc7a35t-1", "xc7s50-3", "spartan", "xc7s50foo-1"])
def test_parse_part_rejects(text):
    with pytest.raises(ValueError, match=re.escape(f"part {text!r} is not a known Spartan-7")):
        parse_part(text)


def test_boards_name_known_parts():
    for board, full in BOARDS.items():
        assert parse_part(full).full_name == full, board


def test_part_resources_from_the_issue():
    s50, s25 = PARTS["xc7s50"], PARTS["xc7s25"]
    assert (s50.lut, s50.ff, s50.dsp, s50.ramb36) == (32_600, 65_200, 120, 75)
    assert (s25.lut, s25.ff, s25.dsp, s25.ramb36) == (14_600, 29_200, 80, 45)


def test_fit_percent_and_message():
    f = fit(CellCounts(lut6=16_300, srl=0, ff=6_520, dsp48e1=60, ramb18=15), PARTS["xc7s50"])
    assert (f.lut_pct, f.ff_pct, f.dsp_pct, f.bram36_pct) == (50.0, 10.0, 50.0, 10.0)
    assert f.fits
    assert f.message() == "fits xc7s50: LUT 50.0 %, FF 10.0 %, DSP48E1 50.0 %, RAMB36 10.0 %"


def test_does_not_fit_says_what_and_by_how_much():
    f = fit(CellCounts(lut4=14_000, lutram=1_000, ff=100, dsp48e1=81), PARTS["xc7s25"])
    assert not f.fits
    assert f.message().startswith(
        "does NOT fit xc7s25 (LUT 15000 of 14600 (102.7 %); DSP48E1 81 of 80 (101.2 %)): "
        "LUT 102.7 %, FF 0.3 %, DSP48E1 101.2 %, RAMB36 0.0 %")
