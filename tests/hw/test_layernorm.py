"""IntLayerNorm (hw/layernorm.py) against ivita.model.int_layernorm, bit for bit
(docs/numerics.md §7)."""

import random
import re

import numpy as np
import pytest

from ivita.hw.layernorm import IntLayerNorm
from ivita.sim.rows import row_beats, row_mismatch
from ivita.sim.unit_run import run_stream
from ivita.model import LayerNormConfig, int_layernorm

SEED = 0x1A7


def _rand_row(rng, bits, C):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    mode = rng.random()
    if mode < 0.1:
        return [rng.randint(lo, hi)] * C                       # zero variance
    if mode < 0.2:
        return [rng.choice([lo, hi]) for _ in range(C)]        # extreme variance
    if mode < 0.3:
        base = rng.randint(lo, hi)                             # tiny variance
        return [min(hi, max(lo, base + rng.randint(-1, 1))) for _ in range(C)]
    return [rng.randint(lo, hi) for _ in range(C)]


def _run(cfg, rows, *, seed, good=None, banks=3, **kw):
    dut = IntLayerNorm(cfg, banks=banks)
    good = good or [True] * len(rows)
    want = [int_layernorm(np.array(r)) for r, ok in zip(rows, good) if ok]
    res = run_stream(dut, row_beats(rows), n_out=sum(len(w) for w in want), seed=seed,
                     watch={"error": dut.error, "flags": dut.error_flags.as_value()}, **kw)
    msg = row_mismatch(res.outputs, want)
    assert msg is None, f"seed={seed} {cfg} banks={banks}: {msg}"
    return dut, res


@pytest.mark.parametrize("in_bits,C", [
    (2, 5), (3, 8), (4, 3), (5, 16), (6, 7), (7, 12), (8, 64), (12, 24), (16, 64), (16, 1),
    (16, 13),
])
def test_random_rows_with_stalls(in_bits, C):
    seed = SEED + 1000 * in_bits + C
    rng = random.Random(seed)
    cfg = LayerNormConfig(in_bits=in_bits, channels=C)
    rows = [_rand_row(rng, in_bits, C) for _ in range(max(4, 160 // C))]
    _, res = _run(cfg, rows, seed=seed, p_valid=rng.uniform(0.5, 1), p_ready=rng.uniform(0.5, 1))
    assert res.final["error"] == 0


def test_corner_rows():
    """Zero variance, the most negative value everywhere, maximal variance, negative sums that
    round (the floor fix-up of the mean), and var below 4 (std = 1)."""
    cfg = LayerNormConfig(in_bits=16, channels=6)
    lo, hi = -32768, 32767
    rows = [[lo] * 6, [hi] * 6, [0] * 6, [lo, hi] * 3, [lo] * 5 + [hi], [-1, -1, -1, -2, -2, -2],
            [-3, -2, -2, -2, -2, -2], [1, 0, 0, 0, 0, 0], [-1, 0, 0, 0, 0, 0], [5, 5, 5, 5, 5, 6]]
    _, res = _run(cfg, rows, seed=SEED, p_ready=0.6)
    assert res.final == {"error": 0, "flags": 0}


def test_vit_width_row():
    cfg = LayerNormConfig(in_bits=16, channels=192)
    rng = random.Random(SEED)
    _run(cfg, [_rand_row(rng, 16, 192) for _ in range(3)], seed=SEED, p_ready=0.8)


@pytest.mark.parametrize("banks", [1, 2, 3])
@pytest.mark.parametrize("C", [1, 5, 8])
def test_cycle_model_matches_simulation(banks, C):
    cfg = LayerNormConfig(in_bits=6, channels=C)
    rng = random.Random(SEED + C)
    rows = [_rand_row(rng, 6, C) for _ in range(5)]
    dut, res = _run(cfg, rows, seed=0, banks=banks)
    got = [(res.in_cycles[r * C], res.in_cycles[r * C + C - 1], res.out_cycles[r * C],
            res.out_cycles[r * C + C - 1]) for r in range(5)]
    assert got == dut.schedule(5)
    assert got[0][2] - got[0][1] == dut.timing().latency


def test_errors_discard_the_bad_row_only():
    cfg = LayerNormConfig(in_bits=8, channels=4)
    rng = random.Random(SEED)
    rows, good = [], []
    for length, ok in [(4, True), (5, False), (4, True), (3, False), (1, False), (4, True),
                       (11, False), (2, False), (4, True), (4, True)]:
        rows.append(_rand_row(rng, 8, length))
        good.append(ok)
    _, res = _run(cfg, rows, seed=SEED, good=good, p_valid=0.7, p_ready=0.6)
    assert res.final == {"error": 1, "flags": 0b11}


@pytest.mark.parametrize("length,flag", [(5, 0b01), (3, 0b10)])
def test_each_error_sets_only_its_flag(length, flag):
    cfg = LayerNormConfig(in_bits=8, channels=4)
    _, res = _run(cfg, [[1] * length, [1, 2, 3, 4]], seed=1, good=[False, True])
    assert res.final == {"error": 1, "flags": flag}


@pytest.mark.parametrize("args,kwargs,exc,msg", [
    ((LayerNormConfig(),), {"banks": 0}, ValueError, "banks=0 is out of range; it must be at least 1"),
    ((None,), {}, TypeError, "config must be a LayerNormConfig, not NoneType (None)"),
])
def test_bad_parameters(args, kwargs, exc, msg):
    with pytest.raises(exc, match=f"^{re.escape(msg)}$"):
        IntLayerNorm(*args, **kwargs)


@pytest.mark.parametrize("kwargs,msg", [
    ({"channels": 0}, "channels=0 is out of range; it must be at least 1"),
    ({"in_bits": 17}, "in_bits=17 is out of range; it must be at most 16"),
])
def test_config_errors_are_pinned(kwargs, msg):
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        LayerNormConfig(**kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("in_bits", [2, 4, 8, 12, 16])
@pytest.mark.parametrize("C", [3, 64, 192])
def test_random_matrix_slow(in_bits, C):
    seed = SEED + in_bits * 7 + C
    rng = random.Random(seed)
    cfg = LayerNormConfig(in_bits=in_bits, channels=C)
    _run(cfg, [_rand_row(rng, in_bits, C) for _ in range(max(20, 4000 // C))], seed=seed,
         p_valid=0.9, p_ready=0.8)
