"""Slow power runs (``pytest -m slow``): Verilator and Icarus see the same activity, the
dequant-first baseline, and the 8x8 4-bit run of docs/power.md."""

from __future__ import annotations

import numpy as np
import pytest

from ivita.power import estimate_power

pytestmark = [pytest.mark.slow, pytest.mark.yosys, pytest.mark.verilator, pytest.mark.icarus]


def test_verilator_and_icarus_agree(power_cache):
    v = estimate_power(rows=2, cols=2, a_bits=4, w_bits=4, simulator="verilator")
    i = estimate_power(rows=2, cols=2, a_bits=4, w_bits=4, simulator="icarus")
    assert v.unknown_bits == 0 and i.unknown_bits == 0
    assert np.array_equal(v.per_pe_mw, i.per_pe_mw) and v.dynamic_mw == i.dynamic_mw
    assert np.array_equal(v.toggle_rate, i.toggle_rate)


def test_baseline_draws_more_than_4_bit(power_cache):
    base = estimate_power(rows=2, cols=2, a_bits=4, w_bits=4, baseline=True,
                          simulator="icarus")
    ints = estimate_power(rows=2, cols=2, a_bits=4, w_bits=4, simulator="icarus")
    assert base.baseline and base.tiles_checked > 0
    assert base.per_pe_mw.mean() > 2 * ints.per_pe_mw.mean()


def test_8x8_4bit(power_cache):
    r = estimate_power(rows=8, cols=8, a_bits=4, w_bits=4)
    assert r.per_pe_mw.shape == (8, 8) and (r.per_pe_mw > 0).all()
    assert r.unknown_bits == 0 and r.tiles_checked > 0
