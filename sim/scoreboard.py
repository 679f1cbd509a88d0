"""Compare what a design produced with what the reference model says, with ``==``.

Pure Python (numpy). The scoreboard gets the expected beats of one output stream
(``group -> array (beats, *dims)``, computed with :mod:`ivita.model`), the received beats
(unpacked with the sidecar codec), and a ``describe`` callback of the unit's bench that turns
``(beat, group, index)`` into named coordinates such as ``{"tile": 1, "row": 2, "col": 3}``.
It never uses a tolerance. It reports the number of mismatching elements and the *first* one
(in beat order), with its coordinates and the seed that reproduces it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Mismatch", "Scoreboard", "format_coords"]

Describe = Callable[[int, str, tuple[int, ...]], Mapping[str, int]]


def format_coords(coords: Mapping[str, Any]) -> str:
    """``{"tile": 1, "row": 2}`` -> ``"tile 1, row 2"``."""
    return ", ".join(f"{k} {v}" for k, v in coords.items())


@dataclass(frozen=True)
class Mismatch:
    """One element that differs from the model."""

    stream: str
    beat: int
    group: str
    index: tuple[int, ...]
    coords: dict[str, int]
    expected: int | None
    got: int | str | None     # a string for X/Z, None for a missing beat
    seed: int | None

    def message(self) -> str:
        where = format_coords(self.coords) or f"beat {self.beat}"
        idx = "".join(f"[{i}]" for i in self.index)
        return (f"{self.stream}.{self.group}{idx} at {where} (beat {self.beat}): "
                f"expected {self.expected}, got {self.got} (seed {self.seed})")

    def as_dict(self) -> dict[str, Any]:
        return {"stream": self.stream, "beat": self.beat, "field": self.group,
                "index": list(self.index), "coords": dict(self.coords),
                "expected": self.expected, "got": self.got, "seed": self.seed,
                "message": self.message()}


def _default_describe(beat: int, group: str, index: tuple[int, ...]) -> dict[str, int]:
    return {"beat": beat, **{f"i{d}": i for d, i in enumerate(index)}}


@dataclass
class Scoreboard:
    """Checks received beats of one stream against the model's expected beats."""

    stream: str
    expected: Mapping[str, np.ndarray]
    describe: Describe = _default_describe
    seed: int | None = None
    checked: int = 0                       # elements compared
    mismatches: int = 0                    # elements that differ (incl. X and missing)
    first: Mismatch | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def expected_beats(self) -> int:
        return int(next(iter(np.shape(v)[0] for v in self.expected.values()), 0))

    def check(self, received: Mapping[str, np.ndarray], xz: Sequence[int] = ()) -> bool:
        """Compare all received beats (``group -> array``); ``xz``: beats whose payload had X/Z.

        Missing beats count as mismatches (``got`` is ``None``); extra beats are an error.
        Returns ``True`` when every element matched and the beat counts agree.
        """
        n_exp = self.expected_beats
        n_got = int(next(iter(np.shape(v)[0] for v in received.values()), 0))
        n = min(n_exp, n_got)
        xz_set = set(xz)
        candidates: list[Mismatch] = []
        for group, exp in self.expected.items():
            exp = np.asarray(exp)
            if group not in received:
                raise KeyError(f"received beats have no field {group!r}")
            got = np.asarray(received[group])
            if got.shape[1:] != exp.shape[1:]:
                raise ValueError(f"{self.stream}.{group}: received element shape "
                                 f"{got.shape[1:]} but the model has {exp.shape[1:]}")
            per_beat = int(np.prod(exp.shape[1:], dtype=np.int64))
            self.checked += n * per_beat
            diff = got[:n] != exp[:n]
            if xz_set:
                for b in xz_set:
                    if b < n:
                        diff[b] = True
            bad = np.argwhere(diff)
            self.mismatches += len(bad)
            if len(bad):
                b, *idx = (int(v) for v in bad[0])
                g: int | str = "X/Z" if b in xz_set else int(got[(b, *idx)])
                candidates.append(self._mismatch(b, group, tuple(idx), int(exp[(b, *idx)]), g))
            if n_got < n_exp:
                self.mismatches += (n_exp - n_got) * per_beat
                idx0 = tuple(0 for _ in exp.shape[1:])
                candidates.append(self._mismatch(n_got, group, idx0, int(exp[(n_got, *idx0)]),
                                                 None))
        if candidates:
            first = min(candidates, key=lambda m: m.beat)
            if self.first is None:
                self.first = first
        if n_got < n_exp:
            self.errors.append(f"{self.stream}: received {n_got} of {n_exp} expected beats")
        elif n_got > n_exp:
            self.errors.append(f"{self.stream}: {n_got - n_exp} unexpected extra beats after the "
                               f"{n_exp} expected")
        return self.passed

    def _mismatch(self, beat: int, group: str, index: tuple[int, ...], exp: int,
                  got: int | str | None) -> Mismatch:
        coords = dict(self.describe(beat, group, index))
        return Mismatch(self.stream, beat, group, index, coords, exp, got, self.seed)

    @property
    def passed(self) -> bool:
        return self.mismatches == 0 and not self.errors

    def summary(self) -> dict[str, Any]:
        return {"stream": self.stream, "passed": self.passed, "elements_checked": self.checked,
                "mismatches": self.mismatches,
                "first_mismatch": self.first.as_dict() if self.first else None,
                "errors": list(self.errors)}
