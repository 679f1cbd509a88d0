"""Packing of matrices into the block's memory words and back (pure numpy).

- A-layout: word ``base + rb*stride + k`` holds lanes ``i`` = ``M[rb*rows + i, k]``.
- B-layout: word ``base + cb*stride + k`` holds lanes ``j`` = ``M[k, cb*cols + j]``.
- row layout (S-mem, R-mem): word ``base + t*stride + cb`` holds lanes ``j`` =
  ``M[t, cb*cols + j]``.

Entries past the matrix are 0 when packing and ignored when unpacking.
"""

from __future__ import annotations

import numpy as np

from .memory_map import pack_lanes, unpack_lanes

__all__ = ["pack_a", "pack_b", "pack_rows", "unpack_a", "unpack_b", "unpack_rows"]


def _blocks(n: int, lanes: int) -> int:
    return -(-n // lanes)


def _padded(mat: np.ndarray, axis: int, lanes: int) -> np.ndarray:
    n = mat.shape[axis]
    pad = [(0, 0), (0, 0)]
    pad[axis] = (0, _blocks(n, lanes) * lanes - n)
    return np.pad(np.asarray(mat, dtype=np.int64), pad)


def pack_a(mat: np.ndarray, lanes: int, lane_bits: int, base: int, stride: int
           ) -> dict[int, int]:
    m = _padded(mat, 0, lanes)
    return {base + rb * stride + k: pack_lanes(list(m[rb * lanes:(rb + 1) * lanes, k]),
                                               lane_bits)
            for rb in range(m.shape[0] // lanes) for k in range(m.shape[1])}


def pack_b(mat: np.ndarray, lanes: int, lane_bits: int, base: int, stride: int
           ) -> dict[int, int]:
    m = _padded(mat, 1, lanes)
    return {base + cb * stride + k: pack_lanes(list(m[k, cb * lanes:(cb + 1) * lanes]),
                                               lane_bits)
            for cb in range(m.shape[1] // lanes) for k in range(m.shape[0])}


def pack_rows(mat: np.ndarray, lanes: int, lane_bits: int, base: int, stride: int
              ) -> dict[int, int]:
    m = _padded(mat, 1, lanes)
    return {base + t * stride + cb: pack_lanes(list(m[t, cb * lanes:(cb + 1) * lanes]),
                                               lane_bits)
            for t in range(m.shape[0]) for cb in range(m.shape[1] // lanes)}


def unpack_a(words: dict[int, int], shape: tuple[int, int], lanes: int, lane_bits: int,
             base: int, stride: int, signed: bool = True) -> np.ndarray:
    out = np.zeros(shape, dtype=np.int64)
    for t in range(shape[0]):
        for k in range(shape[1]):
            w = words[base + (t // lanes) * stride + k]
            out[t, k] = unpack_lanes(w, lanes, lane_bits, signed)[t % lanes]
    return out


def unpack_b(words: dict[int, int], shape: tuple[int, int], lanes: int, lane_bits: int,
             base: int, stride: int) -> np.ndarray:
    out = np.zeros(shape, dtype=np.int64)
    for k in range(shape[0]):
        for n in range(shape[1]):
            out[k, n] = unpack_lanes(words[base + (n // lanes) * stride + k], lanes,
                                     lane_bits)[n % lanes]
    return out


def unpack_rows(words: dict[int, int], shape: tuple[int, int], lanes: int, lane_bits: int,
                base: int, stride: int) -> np.ndarray:
    out = np.zeros(shape, dtype=np.int64)
    for t in range(shape[0]):
        for n in range(shape[1]):
            out[t, n] = unpack_lanes(words[base + t * stride + n // lanes], lanes,
                                     lane_bits)[n % lanes]
    return out
