"""The Vivado calibration: the group-scale least squares recovers known scales, the report's
hierarchy maps to netlist instances, and a calibration file round-trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ivita.fpga.vivado_reports import parse_power
from ivita.power.calibrate import GROUPS, calibrate_model, fit_scales, vivado_targets
from ivita.power.model import COEFFICIENTS, load_model

DATA = Path(__file__).resolve().parents[1] / "data" / "vivado"
PATHS = ["", "pe_r0_c0", "pe_r0_c1", "pe_r1_c0", "pe_r1_c1"]


def _synthetic(n: int, scales: dict[str, float], seed: int = 1):
    rng = np.random.default_rng(seed)
    f = rng.uniform(0, 1e-4, size=(n, len(COEFFICIENTS)))
    c0 = load_model().vector()
    c = c0.copy()
    for g, members in GROUPS.items():
        for k in members:
            c[COEFFICIENTS.index(k)] *= scales[g]
    return f, f @ c, c0


def test_fit_recovers_known_scales():
    want = {"logic": 1.7, "flip-flops": 0.6, "carry": 2.5, "blocks": 1.0, "routing": 0.8,
            "clock": 3.0}
    f, y, c0 = _synthetic(40, want)
    got = fit_scales(f, y, c0)
    for g in GROUPS:
        assert got[g] == pytest.approx(want[g], rel=1e-9)


def test_fit_non_negative_and_unfitted_groups():
    want = {"logic": 1.0, "flip-flops": 1.0, "carry": 1.0, "blocks": 1.0, "routing": 1.0,
            "clock": 1.0}
    f, y, c0 = _synthetic(30, want)
    f[:, COEFFICIENTS.index("DSP48E1")] = 0
    f[:, COEFFICIENTS.index("BRAM")] = 0
    got = fit_scales(f, y, c0)
    assert got["blocks"] is None                       # nothing to fit it to
    # targets far below what the routing term alone gives force some scale to the bound 0
    got = fit_scales(f, y * 0.0 + 1e-12, c0)
    assert all(v is None or v >= 0 for v in got.values())
    with pytest.raises(ValueError, match=r"features must be \(n, 15\)"):
        fit_scales(f[:, :3], y, c0)


@pytest.mark.parametrize("version", ["2018.3", "2025.1"])
def test_targets_from_sample_reports(version):
    rep = parse_power((DATA / version / "power_hier.rpt").read_text())
    tg = vivado_targets(rep, PATHS, "array")
    assert set(tg) == set(PATHS)
    top = next(e.watts for e in rep.hierarchy if e.name.strip() == "array")
    kids = sum(tg[p] for p in PATHS[1:])
    assert tg[""] == pytest.approx(max(0.0, top - kids))
    with pytest.raises(ValueError, match="no top instance 'other'"):
        vivado_targets(rep, PATHS, "other")


def test_calibrate_model_saves_a_usable_file(tmp_path):
    """Features made to reproduce the 2025.1 sample exactly with known scales: the fit finds
    them, names its sources, takes the report's static power, and the saved file loads."""
    text = (DATA / "2025.1" / "power_hier.rpt").read_text()
    rep = parse_power(text)
    tg = vivado_targets(rep, PATHS, "array")
    base = load_model()
    c0 = base.vector()
    # one feature column per instance group: routing for the PEs, logic for the top
    f = np.zeros((len(PATHS), len(COEFFICIENTS)))
    for i, p in enumerate(PATHS):
        col = "net" if p else "LUT6"
        f[i, COEFFICIENTS.index(col)] = tg[p] / (2.0 * c0[COEFFICIENTS.index(col)])
    cal = calibrate_model(base, PATHS, f, [("power_hier.rpt", text)], top="array")
    assert cal.scales["routing"] == pytest.approx(2.0)
    assert cal.scales["logic"] == pytest.approx(2.0)
    assert cal.rms_residual_w == pytest.approx(0.0, abs=1e-12)
    m = cal.model
    assert m.static_w == rep.static_w and "Device Static" in m.static_source
    assert m.coefficients_pf["net"] == pytest.approx(2 * base.coefficients_pf["net"])
    assert "power_hier.rpt" in m.sources["net"] and m.name.startswith("calibration of")
    dest = tmp_path / "calibration.json"
    m.save(dest)
    again = load_model(dest)
    assert again.name == m.name and again.coefficients_pf == m.coefficients_pf
    assert again.static_w == m.static_w


def test_model_file_checks(tmp_path):
    base = load_model()
    assert all(base.sources[k] for k in COEFFICIENTS)
    assert base.static_w is None and "not modelled" in base.static_source
    d = base.as_dict()
    d["coefficients_pf"]["LUT3"]["source"] = ""
    p = tmp_path / "m.json"
    import json
    p.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="coefficient LUT3 names no source"):
        load_model(p)
    d["coefficients_pf"]["LUT3"] = {"value": -1, "source": "x"}
    p.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="coefficient LUT3=-1 must be a number >= 0"):
        load_model(p)
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_model(tmp_path / "nope.json")
