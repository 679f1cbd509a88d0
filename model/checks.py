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
from typing import Any

import numpy as np

__all__ = ["as_int", "as_index", "check_bool", "check_int", "finish", "max_abs_bits"]

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
