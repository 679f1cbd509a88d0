"""ISqrt (hw/isqrt.py) against ivita.model.isqrt, bit for bit (docs/numerics.md §7)."""

import random
import re

import pytest

from ivita.hw.isqrt import ISqrt
from ivita.sim.unit_run import run_stream
from ivita.model import isqrt

SEED = 0x5071


def _values(rng, bits, count):
    top = (1 << bits) - 1
    vals = {0, 1, top, 1 << (bits - 1)}
    for _ in range(count):
        r = rng.randint(0, isqrt(top))
        vals.update(v for v in (r * r, r * r - 1, r * r + 1, rng.randint(0, top)) if 0 <= v <= top)
    return sorted(vals)


@pytest.mark.parametrize("bits", [1, 2, 3, 8, 17, 39, 62])
def test_random_squares_and_neighbours(bits):
    seed = SEED + bits
    rng = random.Random(seed)
    dut = ISqrt(in_bits=bits)
    vals = _values(rng, bits, 40)
    rng.shuffle(vals)
    res = run_stream(dut, [{"v": v} for v in vals], n_out=len(vals), out_fields=("root",),
                     seed=seed, p_valid=0.7, p_ready=0.6)
    assert len(res.outputs) == len(vals), f"seed={seed}"
    for i, (o, v) in enumerate(zip(res.outputs, vals)):
        want = isqrt(v)
        assert o["root"] == want, f"seed={seed}: isqrt({v}): got {o['root']}, expected {want}"


def test_exhaustive_10_bits():
    dut = ISqrt(in_bits=10)
    res = run_stream(dut, [{"v": v} for v in range(1024)], n_out=1024, out_fields=("root",))
    assert [o["root"] for o in res.outputs] == [isqrt(v) for v in range(1024)]


def test_timing():
    dut = ISqrt(in_bits=39)
    assert dut.root_bits == 20 and dut.timing().latency == dut.timing().interval == 20
    res = run_stream(dut, [{"v": v} for v in range(5)], n_out=5, out_fields=("root",))
    assert [o - i for i, o in zip(res.in_cycles, res.out_cycles)] == [20] * 5
    assert [b - a for a, b in zip(res.in_cycles, res.in_cycles[1:])] == [20] * 4


@pytest.mark.parametrize("kwargs,exc,msg", [
    (dict(in_bits=0), ValueError, "in_bits=0 is out of range; it must be at least 1"),
    (dict(in_bits=65), ValueError, "in_bits=65 is out of range; it must be at most 64"),
    (dict(in_bits=8.0), TypeError, "in_bits must be an integer, not float (8.0)"),
])
def test_bad_parameters(kwargs, exc, msg):
    with pytest.raises(exc, match=f"^{re.escape(msg)}$"):
        ISqrt(**kwargs)
