"""ivita.sweep.point: option parsing, the config hash, the default point set."""

from __future__ import annotations

import pytest

from ivita.sweep.point import (SweepPoint, config_hash, default_points, parse_pairs,
                               parse_shapes, parse_widths)


def test_parse_widths():
    assert parse_widths("2-8") == (2, 3, 4, 5, 6, 7, 8)
    assert parse_widths("8,2-3,3") == (2, 3, 8)
    with pytest.raises(ValueError, match=r"--widths 1: widths must be in 2\.\.16"):
        parse_widths("1-4")
    with pytest.raises(ValueError, match="empty range"):
        parse_widths("5-4")
    with pytest.raises(ValueError, match="not an integer"):
        parse_widths("x")


def test_parse_pairs_and_shapes():
    assert parse_pairs("8x4,4X8") == ((8, 4), (4, 8))
    assert parse_pairs("none") == ()
    with pytest.raises(ValueError, match="ABITSxWBITS"):
        parse_pairs("84")
    assert parse_shapes("4x4,2x8") == ((4, 4), (2, 8))
    with pytest.raises(ValueError, match=r"--shapes 33x1: rows and columns must be in 1\.\.32"):
        parse_shapes("33x1")


def test_default_points():
    pts = default_points(stages=("check",))
    labels = [p.label for p in pts]
    assert labels[0] == "dequant-first a8w8 4x4"          # baseline first (longest synthesis)
    assert [p.a_bits for p in pts if not p.baseline and p.a_bits == p.w_bits] == list(range(2, 9))
    assert {(p.a_bits, p.w_bits) for p in pts if p.a_bits != p.w_bits} == {(8, 4), (4, 8),
                                                                           (6, 4)}
    assert len(pts) == 11


def test_point_validation():
    with pytest.raises(ValueError, match=r"a_bits=1 is out of range; it must be in 2\.\.16"):
        SweepPoint(a_bits=1, w_bits=4)
    with pytest.raises(ValueError, match="rows=0"):
        SweepPoint(a_bits=4, w_bits=4, rows=0)


def test_config_hash_changes_with_every_field():
    p = SweepPoint(a_bits=4, w_bits=4, stages=("synth",), options={"k": 197})
    v = {"synth": "v1 yosys"}
    h = config_hash(p, v)
    assert h == config_hash(SweepPoint.from_dict(p.as_dict()), dict(v))     # stable
    variants = [SweepPoint(a_bits=5, w_bits=4, stages=("synth",), options={"k": 197}),
                SweepPoint(a_bits=4, w_bits=4, rows=2, stages=("synth",), options={"k": 197}),
                SweepPoint(a_bits=4, w_bits=4, freq_hz=50e6, stages=("synth",),
                           options={"k": 197}),
                SweepPoint(a_bits=4, w_bits=4, stages=("synth",), options={"k": 64}),
                SweepPoint(a_bits=4, w_bits=4, baseline=True, stages=("synth",),
                           options={"k": 197})]
    assert len({h, *(config_hash(q, v) for q in variants)}) == 1 + len(variants)
    assert config_hash(p, {"synth": "v2 yosys"}) != h          # a new stage version recomputes


def test_sources_digest_changes_with_any_source_edit(tmp_path):
    """A point's hash covers the design's source: editing a gateware file (or adding one)
    changes the digest, so a rerun recomputes instead of reusing the old design's results."""
    from ivita.sweep.stages import sources_digest
    hw = tmp_path / "hw"
    hw.mkdir()
    (hw / "pe.py").write_text("LATENCY = 1\n")
    (hw / "notes.txt").write_text("not a source\n")
    first = sources_digest((str(hw),))
    assert sources_digest((str(hw),)) == first
    (hw / "notes.txt").write_text("edited, still not a source\n")
    assert sources_digest((str(hw),)) == first
    (hw / "pe.py").write_text("LATENCY = 2\n")
    second = sources_digest((str(hw),))
    assert second != first
    (hw / "tb.v").write_text("module tb; endmodule\n")
    assert sources_digest((str(hw),)) != second


def test_stage_versions_carry_the_design_digest():
    from ivita.sweep.stages import _design_digest, stage_versions
    versions = stage_versions(("check", "synth"))
    assert all(v.endswith(f"src:{_design_digest()}") for v in versions.values())
    assert len(_design_digest()) == 16
