"""Divider, Reciprocal and RecipDiv (hw/divider.py) against Python ``divmod`` and
ivita.model.recip_div, bit for bit (docs/numerics.md §4.1)."""

import random
import re

import pytest

from ivita.hw.divider import Divider, Reciprocal, RecipDiv
from ivita.sim.unit_run import run_stream
from ivita.model import bit_length, recip_div

SEED = 0xD1F


def _interesting(rng, bits, count):
    """Random values below 2^bits plus 1, powers of two and all-ones patterns."""
    top = (1 << bits) - 1
    vals = [1, top, 1 << (bits - 1), max(1, (1 << (bits - 1)) - 1), min(top, (1 << (bits - 1)) + 1)]
    vals += [1 << rng.randrange(bits) for _ in range(count // 8)]
    vals += [rng.randint(1, top) for _ in range(count - len(vals))]
    return vals


@pytest.mark.parametrize("pipelined", [False, True])
@pytest.mark.parametrize("dividend_bits,divisor_bits", [(12, 5), (1, 1), (24, 24), (40, 7)])
def test_divider_random(pipelined, dividend_bits, divisor_bits):
    seed = SEED + dividend_bits * 100 + divisor_bits + 7 * pipelined
    rng = random.Random(seed)
    dut = Divider(dividend_bits=dividend_bits, divisor_bits=divisor_bits, pipelined=pipelined)
    vecs = [{"dividend": rng.choice([0, rng.randrange(1 << dividend_bits), (1 << dividend_bits) - 1]),
             "divisor": d} for d in _interesting(rng, divisor_bits, 120)]
    res = run_stream(dut, vecs, n_out=len(vecs), out_fields=("quotient", "remainder"), seed=seed,
                     p_valid=0.7, p_ready=0.6)
    assert len(res.outputs) == len(vecs), f"seed={seed}"
    for i, (o, v) in enumerate(zip(res.outputs, vecs)):
        want = divmod(v["dividend"], v["divisor"])
        assert (o["quotient"], o["remainder"]) == want, f"seed={seed}: #{i} {v}: got {o}, expected {want}"


@pytest.mark.parametrize("pipelined", [False, True])
def test_divider_constant_dividend_and_short_quotient(pipelined):
    """(2^31-1) // std as in I-LayerNorm; and a 4-bit quotient under its precondition."""
    rng = random.Random(SEED)
    g = Divider(dividend_bits=31, divisor_bits=20, dividend=(1 << 31) - 1, pipelined=pipelined)
    vecs = [{"divisor": d} for d in _interesting(rng, 20, 60)]
    res = run_stream(g, vecs, n_out=len(vecs), out_fields=("quotient",), seed=3, p_ready=0.5)
    assert [o["quotient"] for o in res.outputs] == [((1 << 31) - 1) // v["divisor"] for v in vecs]
    short = Divider(dividend_bits=16, divisor_bits=12, quotient_bits=4, pipelined=pipelined)
    vecs = []
    for d in _interesting(rng, 12, 60):
        vecs.append({"dividend": rng.randrange(d << 4), "divisor": d})     # quotient < 16
    res = run_stream(short, vecs, n_out=len(vecs), out_fields=("quotient", "remainder"), seed=4)
    assert [(o["quotient"], o["remainder"]) for o in res.outputs] == \
        [divmod(v["dividend"], v["divisor"]) for v in vecs]


def _const_dividend_cases():
    """(dividend_bits, constant, quotient_bits): 1000 (also in a wider field), zero, random
    constants (a fixed seed) and patterns whose bits differ from their neighbours. The short
    quotient with a constant is :func:`test_divider_constant_dividend_short_quotient`."""
    rng = random.Random(SEED + 1000)
    cases = [(10, 1000, None), (16, 1000, None), (12, 0b101101001011, None), (9, 0b100000001, None),
             (13, 0, None), (14, 0b10101010101010, None)]
    for bits in (7, 11, 17, 23):
        cases.append((bits, rng.randrange(1 << (bits - 1), 1 << bits), None))
    cases.append((20, rng.randrange(1 << 19, 1 << 20), None))
    return cases


def _const_divisors(rng, divisor_bits, dividend):
    """Every divisor 1..min(2^divisor_bits - 1, 64), the dividend's own neighbours (remainder 0,
    quotient 1), and random values."""
    top = (1 << divisor_bits) - 1
    ds = list(range(1, min(top, 64) + 1))
    ds += [d for d in (dividend - 1, dividend, dividend + 1, dividend // 2, dividend // 3 + 1)
           if 1 <= d <= top]
    ds += [rng.randint(1, top) for _ in range(24)]
    return ds


@pytest.mark.parametrize("pipelined", [False, True])
@pytest.mark.parametrize("dividend_bits,dividend,quotient_bits", _const_dividend_cases())
def test_divider_constant_dividend_quotient_and_remainder(pipelined, dividend_bits, dividend,
                                                          quotient_bits):
    """A constant dividend other than all ones: every quotient bit position of the constant
    is exercised (divisor 1 returns the constant itself, 2 and 3 every other bit), and the
    remainder is checked too (a wrong constant bit index gave 1000 // 1 = 1012)."""
    seed = SEED + dividend + dividend_bits + 5 * pipelined
    rng = random.Random(seed)
    divisor_bits = min(dividend_bits, 12)
    dut = Divider(dividend_bits=dividend_bits, divisor_bits=divisor_bits, dividend=dividend,
                  quotient_bits=quotient_bits, pipelined=pipelined)
    vecs = [{"divisor": d} for d in _const_divisors(rng, divisor_bits, dividend)]
    res = run_stream(dut, vecs, n_out=len(vecs), out_fields=("quotient", "remainder"), seed=seed,
                     p_valid=0.7, p_ready=0.6)
    assert len(res.outputs) == len(vecs), f"seed={seed}"
    got = [(o["quotient"], o["remainder"]) for o in res.outputs]
    want = [divmod(dividend, v["divisor"]) for v in vecs]
    bad = [(v["divisor"], g, w) for v, g, w in zip(vecs, got, want) if g != w]
    assert not bad, f"seed={seed} dividend={dividend}: (divisor, got, expected) {bad[:4]}"


def test_divider_constant_dividend_short_quotient():
    """Constant dividend with quotient_bits < dividend_bits (its high bits start the
    remainder): the caller's precondition ``dividend >> quotient_bits < divisor`` holds."""
    dividend, qb = 1000, 4                         # 1000 >> 4 = 62: divisors 63..1000
    for pipelined in (False, True):
        dut = Divider(dividend_bits=10, divisor_bits=10, dividend=dividend, quotient_bits=qb,
                      pipelined=pipelined)
        vecs = [{"divisor": d} for d in list(range(63, 80)) + [125, 333, 999, 1000, 1001, 1023]]
        res = run_stream(dut, vecs, n_out=len(vecs), out_fields=("quotient", "remainder"),
                         seed=11, p_ready=0.5)
        assert [(o["quotient"], o["remainder"]) for o in res.outputs] == \
            [divmod(dividend, v["divisor"]) for v in vecs]


@pytest.mark.parametrize("pipelined", [False, True])
def test_divider_timing(pipelined):
    dut = Divider(dividend_bits=10, divisor_bits=4, pipelined=pipelined)
    vecs = [{"dividend": 1000 - k, "divisor": k % 15 + 1} for k in range(12)]
    res = run_stream(dut, vecs, n_out=len(vecs), out_fields=("quotient",))
    t = dut.timing()
    assert [o - i for i, o in zip(res.in_cycles, res.out_cycles)] == [t.latency] * len(vecs)
    assert [b - a for a, b in zip(res.in_cycles, res.in_cycles[1:])] == [t.interval] * 11
    assert t.latency == (11 if pipelined else 10) and t.interval == (1 if pipelined else 10)


@pytest.mark.parametrize("pipelined", [False, True])
def test_divider_zero_divisor_does_not_hang(pipelined):
    """A zero divisor: one result per division in both modes, all-ones quotient sequential
    (the docstring's promise; pipelined the quotient is unspecified)."""
    dut = Divider(dividend_bits=6, divisor_bits=3, pipelined=pipelined)
    vecs = [{"dividend": v, "divisor": 0 if k % 2 else 5} for k, v in enumerate(range(0, 64, 5))]
    res = run_stream(dut, vecs, n_out=len(vecs), out_fields=("quotient",), seed=2, p_ready=0.6)
    assert len(res.outputs) == len(vecs)
    for o, v in zip(res.outputs, vecs):
        if v["divisor"]:
            assert o["quotient"] == v["dividend"] // 5
        elif not pipelined:
            assert o["quotient"] == 63


@pytest.mark.parametrize("pipelined", [False, True])
@pytest.mark.parametrize("s_bits,out_bits", [(39, 8), (5, 2), (1, 4), (16, 16), (33, 12)])
def test_reciprocal_f_and_L(pipelined, s_bits, out_bits):
    seed = SEED + s_bits * 50 + out_bits + pipelined
    rng = random.Random(seed)
    dut = Reciprocal(s_bits=s_bits, out_bits=out_bits, pipelined=pipelined)
    vecs = [{"s": s} for s in _interesting(rng, s_bits, 80)]
    res = run_stream(dut, vecs, n_out=len(vecs), out_fields=("f", "L"), seed=seed, p_valid=0.8,
                     p_ready=0.7)
    for i, (o, v) in enumerate(zip(res.outputs, vecs)):
        L = bit_length(v["s"])
        want = {"f": (1 << (L + out_bits + 1)) // v["s"], "L": L}
        assert o == want, f"seed={seed}: #{i} s={v['s']}: got {o}, expected {want}"


@pytest.mark.parametrize("pipelined", [False, True])
def test_reciprocal_every_s(pipelined):
    """Every s of 9 bits: the leading one and the mask below it from -rev(s), r = 2^L - s from
    the bits of -s below it, and the power-of-two flag from a borrow, for each position."""
    dut = Reciprocal(s_bits=9, out_bits=5, pipelined=pipelined)
    vecs = [{"s": s} for s in range(1, 512)]
    res = run_stream(dut, vecs, n_out=len(vecs), out_fields=("f", "L"), seed=5, p_ready=0.8)
    got = [(o["f"], o["L"]) for o in res.outputs]
    want = [((1 << (bit_length(s) + 6)) // s, bit_length(s)) for s in range(1, 512)]
    bad = [(s, g, w) for s, g, w in zip(range(1, 512), got, want) if g != w]
    assert not bad, f"(s, got, expected) {bad[:4]}"


@pytest.mark.parametrize("pipelined", [False, True])
@pytest.mark.parametrize("s_bits,out_bits", [(39, 8), (32, 8), (5, 2), (1, 4), (20, 16), (3, 3)])
def test_recip_div_matches_model(pipelined, s_bits, out_bits):
    seed = SEED + s_bits * 30 + out_bits + pipelined
    rng = random.Random(seed)
    dut = RecipDiv(num_bits=s_bits, s_bits=s_bits, out_bits=out_bits, pipelined=pipelined)
    vecs = []
    for s in _interesting(rng, s_bits, 90):
        for num in (0, s, rng.randint(0, s), s // 2, (s + 1) // 2):
            vecs.append({"num": num, "s": s})
    vecs = vecs[::2] if not pipelined else vecs     # the sequential divider is 1/(out_bits+3)
    res = run_stream(dut, vecs, n_out=len(vecs), out_fields=("y",), seed=seed, p_valid=0.8,
                     p_ready=0.7)
    want = recip_div([v["num"] for v in vecs], [v["s"] for v in vecs], out_bits)
    assert len(res.outputs) == len(vecs)
    for i, (o, v) in enumerate(zip(res.outputs, vecs)):
        assert o["y"] == want[i], f"seed={seed}: #{i} {v}: got {o['y']}, expected {want[i]}"


def test_recip_div_timing():
    dut = RecipDiv(num_bits=8, s_bits=8, out_bits=8, pipelined=True)
    vecs = [{"num": k, "s": 255} for k in range(16)]
    res = run_stream(dut, vecs, n_out=16, out_fields=("y",))
    assert dut.timing().latency == 17                    # out_bits + 9 pipelined
    assert [o - i for i, o in zip(res.in_cycles, res.out_cycles)] == [17] * 16
    assert res.in_cycles == list(range(16))


@pytest.mark.parametrize("cls,kwargs,exc,msg", [
    (Divider, dict(dividend_bits=0, divisor_bits=4), ValueError,
     "dividend_bits=0 is out of range; it must be at least 1"),
    (Divider, dict(dividend_bits=8, divisor_bits=4, quotient_bits=9), ValueError,
     "quotient_bits=9 is out of range; it must be at most 8"),
    (Divider, dict(dividend_bits=8, divisor_bits=4, dividend=256), ValueError,
     "dividend=256 is out of range; it must be at most 255"),
    (Divider, dict(dividend_bits=8, divisor_bits=4, pipelined=1), TypeError,
     "pipelined must be a bool, not int (1)"),
    (Reciprocal, dict(s_bits=63, out_bits=8), ValueError,
     "s_bits=63 is out of range; it must be at most 62"),
    (RecipDiv, dict(num_bits=8, s_bits=50, out_bits=16), ValueError,
     "s_bits=50 and out_bits=16 need a 68-bit product; at most 64"),
])
def test_bad_parameters(cls, kwargs, exc, msg):
    with pytest.raises(exc, match=f"^{re.escape(msg)}$"):
        cls(**kwargs)
