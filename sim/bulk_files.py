"""Vectorised ``$readmemh`` files for the bulk bench: payloads <-> hex lines, stall patterns.

Pure numpy (no Amaranth, no cocotb). The bit layout is the sidecar's, through the groups and
leaves of a :class:`ivita.sim.payload.PayloadCodec`; these functions are its vectorised
counterparts for millions of beats (``PayloadCodec.pack_beats`` loops in Python per element):

- :func:`pack_hex` -- ``group -> array (beats, *dims)`` to one hex line per beat (the packed
  payload, most significant digit first, ``ceil(width / 4)`` digits);
- :func:`unpack_hex` -- hex lines (as ``$writememh`` writes them) back to
  ``group -> int64 array``, plus the beats whose line held ``x``/``z`` digits (Icarus);
- :func:`pattern_hex` -- a seeded 0/1 pattern, one bit per line.

Elements up to 62 bits wide are supported (every payload of the units is).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .payload import PayloadCodec

__all__ = ["pack_hex", "unpack_hex", "pattern_hex", "hex_digits"]

_DIGITS = b"0123456789abcdef"
# byte -> its two hex characters as one little-endian uint16 (first character in the low byte)
_PAIR = np.array([_DIGITS[b >> 4] | _DIGITS[b & 15] << 8 for b in range(256)], dtype=np.uint16)
# two characters (little-endian uint16) -> byte value, or 0x100 when either is not a hex digit
_NIB = {c: i for i, c in enumerate(_DIGITS)} | {c: 10 + i for i, c in enumerate(b"ABCDEF")}
_UNPAIR = np.full(1 << 16, 0x100, dtype=np.uint16)
for _hi, _vh in _NIB.items():
    for _lo, _vl in _NIB.items():
        _UNPAIR[_hi | _lo << 8] = _vh << 4 | _vl
if np.little_endian is False:  # pragma: no cover - the uint16 views assume little-endian
    raise ImportError("ivita.sim.bulk_files needs a little-endian machine")


def hex_digits(width: int) -> int:
    """Hex digits of one ``width``-bit payload line (at least 1)."""
    return max(1, (width + 3) // 4)


def _check_widths(codec: PayloadCodec) -> None:
    wide = [f"{g.name} ({g.width} bits)" for g in codec.groups.values() if g.width > 62]
    if wide:
        raise ValueError(f"bulk files support elements of at most 62 bits; {', '.join(wide)} "
                         f"are wider")


def pack_hex(codec: PayloadCodec, beats: Mapping[str, np.ndarray]) -> bytes:
    """One lower-case hex line per beat of ``beats`` (``group -> array (beats, *dims)``).

    Same checks as :meth:`PayloadCodec.pack_beats` (every group given, shapes, value ranges);
    the lines equal ``format(raw, "0{digits}x")`` of its raw integers.
    """
    _check_widths(codec)
    if set(beats) != set(codec.groups):
        raise ValueError(f"beat fields {sorted(beats)} do not match the payload groups "
                         f"{sorted(codec.groups)}")
    n = codec.beat_count(beats)
    n_words = max(1, (codec.width + 63) // 64)
    words = np.zeros((n_words + 1, n), dtype=np.uint64)     # word-major: contiguous rows
    for name, g in codec.groups.items():
        arr = np.asarray(beats[name])
        if arr.shape[1:] != g.dims:
            raise ValueError(f"{name}: element shape {arr.shape[1:]} does not match {g.dims}")
        lo, hi = g.value_range()
        if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
            raise ValueError(f"{name}: values [{int(arr.min())}, {int(arr.max())}] are out "
                             f"of range [{lo}, {hi}] for {g.width} "
                             f"{'signed' if g.signed else 'unsigned'} bits")
        flat = np.ascontiguousarray(arr.reshape(n, -1).T, dtype=np.int64).view(np.uint64)
        for i, leaf in enumerate(g.leaves):
            v = flat[i] & np.uint64((1 << leaf.width) - 1)
            w, sh = divmod(leaf.offset, 64)
            words[w] |= v << np.uint64(sh)
            if sh and sh + leaf.width > 64:
                words[w + 1] |= v >> np.uint64(64 - sh)
    digits = hex_digits(codec.width)
    big = np.ascontiguousarray(words[n_words - 1::-1].T).astype(">u8")  # (n, words), MSW first
    chars = _PAIR[big.view(np.uint8)].view(np.uint8)               # (n, 16 * n_words)
    out = np.empty((n, digits + 1), dtype=np.uint8)
    out[:, :digits] = chars[:, chars.shape[1] - digits:]
    out[:, digits] = ord("\n")
    return out.tobytes()


def _lines(data: bytes) -> list[bytes]:
    """Value lines of a ``$writememh`` file (comments and blank lines dropped)."""
    out = []
    for line in data.split(b"\n"):
        line = line.split(b"//", 1)[0].strip()
        if not line:
            continue
        if line.startswith(b"@"):
            raise ValueError(f"address records ({line[:20]!r}) are not supported: the bench "
                             f"writes consecutive entries from address 0")
        out.append(line.replace(b"_", b""))
    return out


def _fixed_lines(data: bytes, digits: int) -> np.ndarray | None:
    """``(lines, digits)`` characters if ``data`` is exactly lines of ``digits`` characters."""
    if len(data) % (digits + 1):
        return None
    arr = np.frombuffer(data, dtype=np.uint8).reshape(-1, digits + 1)
    if not (arr[:, digits] == ord("\n")).all() or np.isin(arr[:, :digits],
                                                        np.frombuffer(b"\n/@ _\t\r", np.uint8)).any():
        return None                                 # comments, addresses, separators
    return arr[:, :digits]


def unpack_hex(codec: PayloadCodec, data: bytes) -> tuple[dict[str, np.ndarray], list[int]]:
    """Decode hex lines into ``group -> int64 array (beats, *dims)``; also the X/Z beats.

    A line with ``x``/``z`` digits (4-state simulators) decodes as 0 and its index is listed,
    so the scoreboard counts it as a mismatch. Lines may be shorter than the payload (leading
    zeros omitted); a line wider than the payload is an error.
    """
    _check_widths(codec)
    digits = hex_digits(codec.width)
    chars = _fixed_lines(data, digits)
    if chars is None:                               # comments, short lines: the slow path
        lines = _lines(data)
        longest = max((len(s) for s in lines), default=0)
        if longest > digits:
            raise ValueError(f"an output line has {longest} hex digits; a {codec.width}-bit "
                             f"payload has at most {digits}")
        lines = [s.rjust(digits, b"0") for s in lines]
        chars = np.frombuffer(b"".join(lines), dtype=np.uint8).reshape(len(lines), digits)
    n = chars.shape[0]
    n_words = max(1, (digits + 15) // 16)
    padded = np.full((n, 16 * n_words), ord("0"), dtype=np.uint8)
    padded[:, 16 * n_words - digits:] = chars
    vals = _UNPAIR[padded.view(np.uint16)]                          # (n, 8 * n_words)
    bad = vals > 255
    xz = [int(i) for i in np.flatnonzero(bad.any(axis=1))]
    big = np.ascontiguousarray(vals.astype(np.uint8)).view(">u8")   # (n, n_words), MSW first
    words = np.zeros((n_words + 1, n), dtype=np.uint64)
    words[:n_words] = big.astype(np.uint64).T[::-1]
    out: dict[str, np.ndarray] = {}
    for name, g in codec.groups.items():
        arr = np.empty((len(g.leaves), n), dtype=np.int64)
        for i, leaf in enumerate(g.leaves):
            w, sh = divmod(leaf.offset, 64)
            v = words[w] >> np.uint64(sh)
            if sh and sh + leaf.width > 64:
                v = v | (words[w + 1] << np.uint64(64 - sh))
            v = (v & np.uint64((1 << leaf.width) - 1)).view(np.int64)
            if leaf.signed and leaf.width:
                v = np.where(v >= (1 << (leaf.width - 1)), v - (1 << leaf.width), v)
            arr[i] = v
        out[name] = np.ascontiguousarray(arr.T).reshape((n, *g.dims))
    return out, xz


def pattern_hex(rng: np.random.Generator, length: int, probability: float) -> tuple[bytes, int]:
    """``length`` lines of ``0``/``1`` with P(1) = ``probability``; also the number of ones."""
    if not 0.0 <= probability < 1.0:
        raise ValueError(f"probability={probability!r} is out of range; it must be in [0, 1)")
    bits = rng.random(length) < probability
    out = np.full((length, 2), ord("\n"), dtype=np.uint8)
    out[:, 0] = np.where(bits, ord("1"), ord("0"))
    return out.tobytes(), int(bits.sum())
