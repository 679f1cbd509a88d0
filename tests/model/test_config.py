"""model/config.py: validation (pinned messages), derived widths and the dict round trip."""

from __future__ import annotations

import json
import re

import pytest

from ivita.model import (
    ArrayConfig, AttentionConfig, GeluConfig, LayerNormConfig, RequantConfig, SoftmaxConfig,
    required_acc_bits,
)

ALL = [ArrayConfig, RequantConfig, SoftmaxConfig, GeluConfig, LayerNormConfig, AttentionConfig]


def test_array_acc_bits_message_from_design() -> None:
    with pytest.raises(ValueError, match=re.escape(
            "acc_bits=16 is too narrow for a_bits=8, b_bits=8 and k=64; at least 22 bits are "
            "needed")):
        ArrayConfig(a_bits=8, b_bits=8, k_max=64, acc_bits=16)


@pytest.mark.parametrize(("kwargs", "exc", "msg"), [
    ({"rows": 0}, ValueError, "rows=0 is out of range; it must be at least 1"),
    ({"cols": 33}, ValueError, "cols=33 is out of range; it must be at most 32"),
    ({"a_bits": 1}, ValueError, "a_bits=1 is out of range; it must be at least 2"),
    ({"b_bits": 17}, ValueError, "b_bits=17 is out of range; it must be at most 16"),
    ({"k_max": 0}, ValueError, "k_max=0 is out of range; it must be at least 1"),
    ({"acc_bits": 49}, ValueError, "acc_bits=49 is out of range; it must be at most 48"),
    ({"dequant_first": 1}, TypeError, "dequant_first must be a bool, not int (1)"),
    ({"rows": 2.0}, TypeError, "rows must be an integer, not float (2.0)"),
    ({"dequant_first": True, "acc_bits": 39}, ValueError,
     "acc_bits=39 is too narrow for a_bits=16, b_bits=16 and k=256; at least 40 bits are "
     "needed"),
])
def test_array_config_rejects(kwargs, exc, msg) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc, match=re.escape(msg)):
        ArrayConfig(**kwargs)


def test_array_config_derives_exact_acc_bits() -> None:
    assert ArrayConfig().acc_bits == required_acc_bits(8, 8, 256) == 24
    c = ArrayConfig(a_bits=3, b_bits=5, k_max=100)
    assert c.acc_bits == required_acc_bits(3, 5, 100)
    d = ArrayConfig(dequant_first=True)
    assert (d.pe_a_bits, d.pe_b_bits, d.acc_bits) == (16, 16, 40)
    assert ArrayConfig(rows=3, cols=5).macs == 15


@pytest.mark.parametrize(("cls", "kwargs", "exc", "msg"), [
    (RequantConfig, {"acc_bits": 48, "mult_bits": 16}, ValueError,
     "acc_bits=48 plus mult_bits=16 is 64; the product must fit 62 bits"),
    (RequantConfig, {"max_shift": 64}, ValueError,
     "max_shift=64 is out of range; it must be at most 63"),
    (RequantConfig, {"lanes": 0}, ValueError, "lanes=0 is out of range; it must be at least 1"),
    (RequantConfig, {"out_bits": 33}, ValueError,
     "out_bits=33 is out of range; it must be at most 32"),
    (SoftmaxConfig, {"in_bits": 1}, ValueError,
     "in_bits=1 is out of range; it must be at least 2"),
    (SoftmaxConfig, {"n": 32}, ValueError, "n=32 is out of range; it must be at most 31"),
    (SoftmaxConfig, {"x0_bits": 31, "n": 31}, ValueError,
     "x0_bits=31, n=31, max_tokens=256 and out_bits=8 need 80 bits for the reciprocal "
     "product; at most 63 fit"),
    (GeluConfig, {"x0_bits": 31, "n": 31}, ValueError,
     "x0_bits=31, n=31 and sig_bits=8 need 73 bits for the reciprocal product; "
     "at most 63 fit"),
    (GeluConfig, {"sig_bits": 1}, ValueError,
     "sig_bits=1 is out of range; it must be at least 2"),
    (LayerNormConfig, {"channels": 0}, ValueError,
     "channels=0 is out of range; it must be at least 1"),
    (LayerNormConfig, {"in_bits": 31}, ValueError,
     "in_bits=31 is out of range; it must be at most 16"),
    (AttentionConfig, {"dim": 10, "heads": 4}, ValueError, "dim=10 is not a multiple of heads=4"),
    (AttentionConfig, {"a_bits": 1}, ValueError,
     "a_bits=1 is out of range; it must be at least 2"),
    (AttentionConfig, {"resid_bits": 17}, ValueError,
     "resid_bits=17 is out of range; it must be at most 16"),
    (AttentionConfig, {"act_calibration": "max"}, ValueError,
     "act_calibration='max' is not one of minmax, percentile, mse"),
    (AttentionConfig, {"w_calibration": "percentile"}, ValueError,
     "w_calibration='percentile' is not one of minmax, mse"),
    (AttentionConfig, {"act_calibration": 1}, TypeError,
     "act_calibration must be a str, not int (1)"),
    (AttentionConfig, {"percentile": 50}, ValueError,
     "percentile=50 is out of range; it must be in (50, 100]"),
    (AttentionConfig, {"percentile": "99"}, TypeError,
     "percentile must be a real number, not str ('99')"),
    (AttentionConfig, {"asymmetric": 0}, TypeError, "asymmetric must be a bool, not int (0)"),
    (AttentionConfig, {"n": 31, "tokens": 4096}, ValueError,
     "x0_bits=16, n=31, max_tokens=4096 and out_bits=8 need 69 bits for the reciprocal "
     "product; at most 63 fit"),
    (AttentionConfig, {"mult_bits": 22}, ValueError,
     "mult_bits=22 is too wide for the layernorm requantizer: its accumulator needs 41 bits "
     "and acc_bits + mult_bits must be at most 62"),
])
def test_configs_reject(cls, kwargs, exc, msg) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc, match=re.escape(msg)):
        cls(**kwargs)


@pytest.mark.parametrize("x0", [0, 1])
def test_check_x0_rejects_non_negative(x0: int) -> None:
    for cfg in (SoftmaxConfig(), GeluConfig()):
        with pytest.raises(ValueError, match=re.escape(
                f"x0={x0} must be negative (x0 = floor(-1/S) <= -1)")):
            cfg.check_x0(x0)


def test_check_x0_width() -> None:
    assert SoftmaxConfig().check_x0(-(1 << 16) + 1) == -(1 << 16) + 1
    with pytest.raises(ValueError, match=re.escape(
            "x0=-65536 is out of range; |x0| must be below 2^16")):
        SoftmaxConfig().check_x0(-(1 << 16))


def test_derived_widths() -> None:
    s = SoftmaxConfig(x0_bits=16, n=15, max_tokens=256)
    assert (s.exp_bits, s.sum_bits) == (31, 39)
    assert SoftmaxConfig(max_tokens=1).sum_bits == 31
    assert GeluConfig(in_bits=8, sig_bits=8).out_bits == 15
    ln = LayerNormConfig(in_bits=16, channels=64)
    assert (ln.sum_bits, ln.var_bits, ln.out_bits) == (23, 39, 31)
    assert RequantConfig(acc_bits=24, mult_bits=16).max_shift == 40
    assert RequantConfig(acc_bits=24, mult_bits=16).shift_bits == 6
    a = AttentionConfig(dim=64, heads=4)
    assert a.head_dim == 16
    assert a.softmax == SoftmaxConfig(in_bits=8, n=15, out_bits=8, max_tokens=16)
    assert a.acc_widths() == {"layernorm": 41, "qkv": 33, "scores": 20, "pv": 20, "out": 33,
                              "residual": 16}


def test_requant_config_check_entry() -> None:
    r = RequantConfig(mult_bits=16)
    r.check_entry((1 << 16) - 1, 40)
    with pytest.raises(ValueError, match=re.escape("b=65536 is out of range; it must be at most "
                                                   "65535")):
        r.check_entry(1 << 16, 0)


@pytest.mark.parametrize("cls", ALL)
def test_dict_round_trip_through_json(cls) -> None:  # type: ignore[no-untyped-def]
    c = cls()
    d = json.loads(json.dumps(c.as_dict()))
    assert d["type"] == cls.__name__
    assert cls.from_dict(d) == c


def test_from_dict_rejects_other_type() -> None:
    with pytest.raises(ValueError, match=re.escape(
            "config type 'ArrayConfig' does not match AttentionConfig")):
        AttentionConfig.from_dict({"type": "ArrayConfig"})


@pytest.mark.parametrize("cls", ALL)
def test_configs_are_frozen(cls) -> None:  # type: ignore[no-untyped-def]
    import dataclasses
    c = cls()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.n = 3  # type: ignore[misc]
