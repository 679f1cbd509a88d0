"""Argument checking shared by the reference model, the hardware generators and the benches.

Public (``ivita.model.checks``): :func:`check_int` and :func:`check_bool` give every parameter
error of ivita the same wording (``name=value is out of range; it must be at most hi``), so
``ivita.hw`` and ``ivita.sim`` import them from here rather than writing their own. Numpy and
the standard library only.

Every public model function accepts Python ints or numpy integer arrays and returns the same
kind: a Python ``int`` for scalar input, an ``np.int64`` array otherwise. Floats on the integer
path are a ``TypeError``: the model never silently rounds.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

__all__ = ["as_int", "as_index", "check_bool", "check_int", "finish", "max_abs_bits",
           "freeze_int_fields", "check_dyadic_fields", "check_code_fields"]

INT64_BITS = 63  # magnitude bits of a signed int64


def as_int(v: Any, name: str) -> tuple[np.ndarray, bool]:
    """Return ``(array_int64, was_scalar)``; reject non-integer input with a TypeError."""
    if isinstance(v, bool) or isinstance(v, np.bool_):
        raise TypeError(f"{name} must be an integer or an integer array, not bool")
    if isinstance(v, numbers.Integral):
        if not -(1 << 63) <= int(v) < (1 << 63):
            raise ValueError(f"{name}={int(v)} does not fit int64")
        return np.asarray(int(v), dtype=np.int64), True
    arr = np.asarray(v)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be an integer or an integer array, got dtype {arr.dtype}")
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) >= (1 << 63):
        raise ValueError(f"{name} has values >= 2^63 that do not fit int64")
    return arr.astype(np.int64), False


def check_int(v: Any, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """Check that ``v`` is a Python/numpy integer scalar within ``[lo, hi]``; return it as int."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an integer, not {type(v).__name__} ({v!r})")
    v = int(v)
    if lo is not None and v < lo:
        raise ValueError(f"{name}={v} is out of range; it must be at least {lo}")
    if hi is not None and v > hi:
        raise ValueError(f"{name}={v} is out of range; it must be at most {hi}")
    return v


def check_bool(v: Any, name: str) -> bool:
    """Check that ``v`` is a bool (not merely truthy); return it."""
    if not isinstance(v, bool):
        raise TypeError(f"{name} must be a bool, not {type(v).__name__} ({v!r})")
    return v


def as_index(v: Any, name: str, lo: int, hi: int) -> tuple[np.ndarray, bool]:
    """An integer (array) whose every element lies in ``[lo, hi]`` (shift amounts, widths)."""
    arr, scalar = as_int(v, name)
    if arr.size:
        vmin, vmax = int(arr.min()), int(arr.max())
        if vmin < lo:
            raise ValueError(f"{name}={vmin} is out of range; it must be at least {lo}")
        if vmax > hi:
            raise ValueError(f"{name}={vmax} is out of range; it must be at most {hi}")
    return arr, scalar


def max_abs_bits(arr: np.ndarray) -> int:
    """Bit length of the largest magnitude in ``arr`` (0 for an empty or all-zero array)."""
    if arr.size == 0:
        return 0
    lo, hi = int(arr.min()), int(arr.max())
    return max(abs(lo), abs(hi)).bit_length()


def finish(result: np.ndarray, scalar: bool) -> Any:
    """Return a Python int for scalar calls, an int64 array otherwise."""
    if scalar:
        return int(result)
    return result.astype(np.int64, copy=False)


# -- integer parameter sets (AttentionParams, MlpParams, ...) ---------------------------------

def freeze_int_fields(obj: Any, shapes: Mapping[str, tuple[int, ...]],
                      ints: Iterable[str]) -> None:
    """Validate and freeze the integer fields of a frozen dataclass of parameters.

    Each field in ``shapes`` becomes a read-only int64 copy and must have exactly that shape
    (``ValueError: w1 has shape (3, 4); expected (4, 3)``); each field in ``ints`` becomes a
    Python ``int`` (``TypeError`` for a bool or a non-integer)."""
    for name, shape in shapes.items():
        arr, scalar = as_int(getattr(obj, name), name)
        if scalar or arr.shape != tuple(shape):
            raise ValueError(f"{name} has shape {arr.shape}; expected {tuple(shape)}")
        arr = arr.copy()
        arr.setflags(write=False)
        object.__setattr__(obj, name, arr)
    for name in ints:
        v = getattr(obj, name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must be an int, not {type(v).__name__} ({v!r})")
        object.__setattr__(obj, name, int(v))


def check_dyadic_fields(obj: Any, mults: Iterable[str], shifts: Iterable[str],
                        mult_bits: int) -> None:
    """Dyadic constants of a parameter set: every multiplier ``b`` in ``mults`` fits an
    unsigned ``mult_bits`` multiplier, every shift ``c`` in ``shifts`` lies in 0..63
    (docs/numerics.md §2)."""
    for names, ok, what in ((mults, lambda lo, hi: lo >= 0 and hi < 1 << mult_bits,
                             f"does not fit an unsigned mult_bits={mult_bits} multiplier"),
                            (shifts, lambda lo, hi: lo >= 0 and hi <= 63,
                             "is out of range; shifts lie in 0..63")):
        for name in names:
            v = np.asarray(getattr(obj, name))
            if v.size and not ok(int(v.min()), int(v.max())):
                bad = int(v.min()) if int(v.min()) < 0 else int(v.max())
                raise ValueError(f"{name}={bad} {what}")


def check_code_fields(obj: Any, names: Iterable[str], bits: int, label: str) -> None:
    """Integer codes of a parameter set lie in the signed ``bits`` range: arrays
    (``wq has codes outside the w_bits=4 range [-8, 7]``) and scalar zero points
    (``h_zero=9 is outside the a_bits=4 code range [-8, 7]``); ``label`` names the width."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    for name in names:
        v = getattr(obj, name)
        if isinstance(v, np.ndarray):
            if v.size and (int(v.min()) < lo or int(v.max()) > hi):
                raise ValueError(f"{name} has codes outside the {label}={bits} range "
                                 f"[{lo}, {hi}]")
        elif not lo <= v <= hi:
            raise ValueError(f"{name}={v} is outside the {label}={bits} code range "
                             f"[{lo}, {hi}]")
