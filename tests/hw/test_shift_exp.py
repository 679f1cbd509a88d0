"""ShiftExp (hw/shift_exp.py) against ivita.model.shift_exp, bit for bit (docs/numerics.md §4)."""

import random

import pytest

from ivita.hw.shift_exp import ShiftExp
from ivita.sim.unit_run import StreamTimeout, run_stream
from ivita.model import shift_exp

SEED = 0x5E1F


def _vectors(rng, z_bits, x0_bits, count):
    zmin, bmax = -(1 << (z_bits - 1)), (1 << x0_bits) - 1
    corners = [(0, -1), (zmin, -1), (0, -bmax), (zmin, -bmax), (-1, -1), (-1, -bmax)]
    vecs = [{"z": z, "x0": x0} for z, x0 in corners]
    for _ in range(count):
        vecs.append({"z": rng.randint(zmin, 0), "x0": -rng.randint(1, bmax)})
    return vecs


def _check(dut, vecs, n, seed, **kw):
    res = run_stream(dut, vecs, n_out=len(vecs), out_fields=("e",), seed=seed, **kw)
    got = [o["e"] for o in res.outputs]
    want = [shift_exp(v["z"], v["x0"], n) for v in vecs]
    assert len(got) == len(want), f"seed={seed}: {len(got)} outputs for {len(want)} inputs"
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"seed={seed}: element {i} {vecs[i]} n={n}: got {g}, expected {w}"
    return res


@pytest.mark.parametrize("z_bits,x0_bits,n", [
    (9, 16, 15),    # Shiftmax defaults: z = x - max of 8-bit x
    (3, 2, 15),     # 2-bit inputs, |x0| tiny
    (5, 4, 5),
    (9, 16, 0),     # n = 0: the clamp makes every z the last bucket
    (9, 16, 1),
    (17, 31, 31),   # widest configuration: 62-bit output
    (1, 1, 2),
])
def test_random_with_stalls(z_bits, x0_bits, n):
    seed = SEED + 1000 * z_bits + 10 * x0_bits + n
    rng = random.Random(seed)
    dut = ShiftExp(z_bits=z_bits, x0_bits=x0_bits, n=n)
    _check(dut, _vectors(rng, z_bits, x0_bits, 250), n, seed, p_valid=0.7, p_ready=0.6)


@pytest.mark.parametrize("n", [0, 1, 3, 7, 8])
def test_exhaustive_small(n):
    """Every z in [-32, 0] against every |x0| in 1..7."""
    dut = ShiftExp(z_bits=6, x0_bits=3, n=n)
    vecs = [{"z": z, "x0": x0} for z in range(-32, 1) for x0 in range(-7, 0)]
    _check(dut, vecs, n, seed=n)


def test_latency_and_throughput():
    dut = ShiftExp(z_bits=9, x0_bits=16, n=15)
    assert dut.timing().latency == 9
    vecs = _vectors(random.Random(SEED), 9, 16, 20)
    res = _check(dut, vecs, 15, seed=SEED)
    assert res.in_cycles == list(range(len(vecs)))             # one element per cycle
    lat = dut.timing().latency
    assert [o - i for i, o in zip(res.in_cycles, res.out_cycles)] == [lat] * len(vecs)


def test_tag_passes_through():
    dut = ShiftExp(z_bits=4, x0_bits=4, n=3, tag_shape=5)
    vecs = [{"z": -(k % 8), "x0": -3, "tag": k} for k in range(20)]
    res = run_stream(dut, vecs, n_out=20, out_fields=("e", "tag"), seed=1, p_ready=0.5)
    assert [o["tag"] for o in res.outputs] == list(range(20))


@pytest.mark.parametrize("kwargs,exc,msg", [
    (dict(z_bits=0, x0_bits=16, n=15), ValueError, "z_bits=0 is out of range; it must be at least 1"),
    (dict(z_bits=9, x0_bits=32, n=15), ValueError, "x0_bits=32 is out of range; it must be at most 31"),
    (dict(z_bits=9, x0_bits=16, n=32), ValueError, "n=32 is out of range; it must be at most 31"),
    (dict(z_bits=9, x0_bits=16, n=True), TypeError, "n must be an integer, not bool (True)"),
    (dict(z_bits=9, x0_bits=16, n=15, tag_shape="x"), TypeError, "tag_shape must be a shape-like object, not 'x'"),
])
def test_bad_parameters(kwargs, exc, msg):
    with pytest.raises(exc, match=f"^{__import__('re').escape(msg)}$"):
        ShiftExp(**kwargs)


def test_harness_catches_wrong_values_and_hangs():
    """The checks above can fail: a wrong n is caught, and a stuck sink times out."""
    dut = ShiftExp(z_bits=6, x0_bits=3, n=4)
    vecs = [{"z": z, "x0": -5} for z in range(-20, 1)]
    with pytest.raises(AssertionError, match="element"):
        _check(dut, vecs, 5, seed=1)
    with pytest.raises(StreamTimeout, match="no progress"):
        run_stream(dut, vecs, n_out=len(vecs) + 1, out_fields=("e",), max_cycles=200)
