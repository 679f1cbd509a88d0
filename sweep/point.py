"""One point of a sweep (:class:`SweepPoint`), its config hash, and the default point set.

A point is one hardware configuration: an ``rows x cols`` array with ``a_bits`` activation and
``w_bits`` weight codes (or the dequant-first baseline, whose PEs multiply 16-bit fixed point),
on a Spartan-7 ``part`` at a reference clock ``freq_hz``, evaluated by a list of stages.
:func:`config_hash` is what makes a sweep resumable: a point whose hash is already in the
database with status ``ok`` is not recomputed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["SweepPoint", "config_hash", "default_points", "parse_widths", "parse_pairs",
           "parse_shapes", "DEFAULT_SHAPE", "DEFAULT_WIDTHS", "DEFAULT_MIXED", "BASELINE_BITS",
           "WIDTH_RANGE"]

#: operand widths a point may have (ArrayConfig's code range is 2..16)
WIDTH_RANGE = (2, 16)
#: the default array: 4x4, because synthesis of an 8x8 array takes 70-300 s per point here
#: (docs/sweep.md: the choice and the measured profile)
DEFAULT_SHAPE = (4, 4)
DEFAULT_WIDTHS = (2, 3, 4, 5, 6, 7, 8)
#: (a_bits, w_bits) mixed pairs of the default sweep
DEFAULT_MIXED = ((8, 4), (4, 8), (6, 4))
#: codes of the dequant-first baseline (its PEs multiply 16-bit fixed point)
BASELINE_BITS = 8


@dataclass(frozen=True, kw_only=True)
class SweepPoint:
    """One configuration; ``stages`` in the order they run; ``options`` are stage options
    (check vectors, seed, attention shape) that change results and so enter the hash."""

    a_bits: int
    w_bits: int
    rows: int = DEFAULT_SHAPE[0]
    cols: int = DEFAULT_SHAPE[1]
    baseline: bool = False
    part: str = "xc7s50-1"
    freq_hz: float = 100e6
    stages: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        lo, hi = WIDTH_RANGE
        for name in ("a_bits", "w_bits"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ValueError(f"{name}={v!r} is out of range; it must be in {lo}..{hi}")
        for name in ("rows", "cols"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 32:
                raise ValueError(f"{name}={v!r} is out of range; it must be in 1..32")
        if not self.freq_hz > 0:
            raise ValueError(f"freq_hz={self.freq_hz!r} must be positive")
        object.__setattr__(self, "stages", tuple(self.stages))

    @property
    def label(self) -> str:
        """``a4w4 4x4``, ``a8w4 4x4`` or ``dequant-first a8w8 4x4``."""
        head = "dequant-first " if self.baseline else ""
        return f"{head}a{self.a_bits}w{self.w_bits} {self.rows}x{self.cols}"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stages"] = list(self.stages)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepPoint:
        d = dict(d)
        d["stages"] = tuple(d.get("stages", ()))
        return cls(**d)


def config_hash(point: SweepPoint, versions: dict[str, Any]) -> str:
    """SHA-256 (first 24 hex digits) of the point's full config and ``versions`` (the stage
    implementation versions and which plug-ins are installed): same hash, same results."""
    text = json.dumps({"point": point.as_dict(), "versions": versions}, sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _parse_int(text: str, flag: str) -> int:
    lo, hi = WIDTH_RANGE
    try:
        v = int(text, 10)
    except ValueError:
        raise ValueError(f"{flag} {text!r}: not an integer; widths must be in {lo}..{hi}") \
            from None
    if not lo <= v <= hi:
        raise ValueError(f"{flag} {v}: widths must be in {lo}..{hi}")
    return v


def parse_widths(text: str, flag: str = "--widths") -> tuple[int, ...]:
    """``"2-8"``, ``"4,8"`` or ``"2-4,8"`` -> sorted unique widths (ValueError naming ``flag``)."""
    out: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "-" in part:
            a, _, b = part.partition("-")
            lo, hi = _parse_int(a, flag), _parse_int(b, flag)
            if lo > hi:
                raise ValueError(f"{flag} {part}: empty range (first > last)")
            out.update(range(lo, hi + 1))
        else:
            out.add(_parse_int(part, flag))
    if not out:
        raise ValueError(f"{flag} {text!r}: no widths given")
    return tuple(sorted(out))


def parse_pairs(text: str, flag: str = "--mixed") -> tuple[tuple[int, int], ...]:
    """``"8x4,4x8"`` (activation x weight bits) -> pairs; ``""`` or ``"none"`` -> none."""
    if text.strip().lower() in ("", "none"):
        return ()
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        a, sep, w = part.lower().partition("x")
        if not sep:
            raise ValueError(f"{flag} {part!r}: must be ABITSxWBITS, e.g. 8x4")
        out.append((_parse_int(a, flag), _parse_int(w, flag)))
    return tuple(dict.fromkeys(out))


def parse_shapes(text: str, flag: str = "--shapes") -> tuple[tuple[int, int], ...]:
    """``"4x4,8x8"`` -> ``((4, 4), (8, 8))``; rows and columns in 1..32."""
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        r, sep, c = part.lower().partition("x")
        try:
            rows, cols = int(r, 10), int(c, 10)
        except ValueError:
            raise ValueError(f"{flag} {part!r}: must be ROWSxCOLS, e.g. 4x4") from None
        if not sep or not (1 <= rows <= 32 and 1 <= cols <= 32):
            raise ValueError(f"{flag} {part}: rows and columns must be in 1..32")
        out.append((rows, cols))
    if not out:
        raise ValueError(f"{flag} {text!r}: no shapes given")
    return tuple(dict.fromkeys(out))


def default_points(*, widths: tuple[int, ...] = DEFAULT_WIDTHS,
                   mixed: tuple[tuple[int, int], ...] = DEFAULT_MIXED,
                   shapes: tuple[tuple[int, int], ...] = (DEFAULT_SHAPE,),
                   baseline: bool = True, part: str = "xc7s50-1", freq_hz: float = 100e6,
                   stages: tuple[str, ...] = (), options: dict[str, Any] | None = None
                   ) -> list[SweepPoint]:
    """Equal widths, the mixed pairs, and the dequant-first baseline, for every shape."""
    pairs = list(dict.fromkeys([(w, w) for w in widths] + list(mixed)))
    pts = []
    for rows, cols in shapes:
        common = dict(rows=rows, cols=cols, part=part, freq_hz=freq_hz, stages=stages,
                      options=dict(options or {}))
        if baseline:   # first: the longest synthesis starts first
            pts.append(SweepPoint(a_bits=BASELINE_BITS, w_bits=BASELINE_BITS, baseline=True,
                                  **common))
        pts += [SweepPoint(a_bits=a, w_bits=w, **common) for a, w in pairs]
    return pts
