"""What one "vector" is for each unit in bulk checks, and how a unit's bench is split in chunks.

A *vector* is one call of the unit's normative model function:

| unit | vector | bench option set per chunk | input beats per vector |
|---|---|---|---|
| array | one tile ``A_t[rows x k] @ B_t[k x cols]`` (:func:`ivita.model.linear_acc`) | ``tiles`` | ``k`` |
| requant | one lane vector ``acc[lanes]`` (:func:`ivita.model.requantize`) | ``tiles`` (of ``rows`` vectors) | 1 |
| softmax | one row (:func:`ivita.model.shiftmax`) | ``rows`` | up to ``max_tokens`` |
| gelu | one row of ``tokens`` elements sharing ``x0`` (:func:`ivita.model.shift_gelu`) | ``rows`` | ``tokens`` |
| layernorm | one row of ``channels`` (:func:`ivita.model.int_layernorm`) | ``rows`` | ``channels`` |

Requantizer vectors come in whole tiles, so a requested count is rounded up to a multiple of
``rows``. Pure Python.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .bench import TB

__all__ = ["UnitPlan", "PLANS", "plan_of", "MAX_CHUNK_BEATS"]

#: input beats per simulator run (chunk): bounds the memory files and the bench's memories
MAX_CHUNK_BEATS = 1 << 18


@dataclass(frozen=True)
class UnitPlan:
    """How bulk checks count and split the vectors of one unit."""

    count_field: str                            # the TB option set per chunk
    count_limit: int                            # the TB's largest value of that option
    vectors_per_count: Callable[[TB], int]      # vectors in one unit of count_field
    beats_per_vector: Callable[[TB], int]       # largest number of input beats of a vector
    vector_of: Callable[[TB, Mapping[str, int]], int]   # chunk-local vector of coordinates
    check: Callable[[TB], None] = lambda tb: None

    def counts(self, tb: TB, n_vectors: int) -> list[int]:
        """``count_field`` values of the chunks that together hold ``n_vectors`` (rounded up)."""
        per = self.vectors_per_count(tb)
        total = -(-n_vectors // per)
        step = max(1, min(self.count_limit, MAX_CHUNK_BEATS // (per * self.beats_per_vector(tb))))
        return [min(step, total - i) for i in range(0, total, step)]

    def chunk_tb(self, tb: TB, count: int) -> TB:
        return dataclasses.replace(tb, **{self.count_field: count})


def _array_check(tb: Any) -> None:
    if tb.m is not None:
        raise ValueError("bulk checks of the array run independent tiles; m/n products are not "
                         "supported (leave m and n unset)")


def _softmax_len(tb: Any) -> int:
    return tb.tokens if tb.tokens is not None else tb.config.max_tokens + 4   # bad rows: T + 4


PLANS: dict[str, UnitPlan] = {
    "array": UnitPlan("tiles", 1 << 16, lambda tb: 1, lambda tb: tb.k,
                      lambda tb, c: c["tile"], _array_check),
    "requant": UnitPlan("tiles", 1 << 16, lambda tb: tb.rows, lambda tb: 1,
                        lambda tb, c: c["tile"] * tb.rows + c["row"]),
    "softmax": UnitPlan("rows", 1 << 20, lambda tb: 1, _softmax_len, lambda tb, c: c["row"]),
    "gelu": UnitPlan("rows", 1 << 20, lambda tb: 1, lambda tb: tb.tokens,
                     lambda tb, c: c["row"]),
    "layernorm": UnitPlan("rows", 1 << 20, lambda tb: 1, lambda tb: tb.config.channels + 3,
                          lambda tb, c: c["row"]),
}


def plan_of(tb: TB) -> UnitPlan:
    """The plan of ``tb``'s unit; ``KeyError`` naming the supported units otherwise."""
    try:
        plan = PLANS[tb.unit]
    except KeyError:
        raise KeyError(f"bulk checks support the units {', '.join(PLANS)}, not "
                       f"{tb.unit!r}") from None
    plan.check(tb)
    return plan
