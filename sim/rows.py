"""Row-oriented beats and checks for the row units (Shiftmax, ShiftGELU, I-LayerNorm).

:func:`row_beats` turns rows of values into element beats ``{"x", "last", ...}`` for
:func:`ivita.sim.unit_run.run_stream`; :func:`row_mismatch` compares the collected outputs with
the model's rows, ``==`` on values and ``last`` flags, nothing missing or extra.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["row_beats", "row_mismatch"]


def row_beats(rows: Sequence[Sequence[int]], **ports: Sequence[int] | int) -> list[dict[str, int]]:
    """Beats ``{"x", "last", **ports}`` for rows; a port given as a list has one value per row."""
    beats = []
    for r, row in enumerate(rows):
        extra = {k: (v[r] if isinstance(v, Sequence) else v) for k, v in ports.items()}
        for c, x in enumerate(row):
            beats.append({"x": int(x), "last": int(c == len(row) - 1), **extra})
    return beats


def row_mismatch(outputs: Sequence[dict[str, int]], expected: Sequence[Sequence[int]],
                 *, field: str = "y") -> str | None:
    """``None`` when ``outputs`` are exactly the rows ``expected`` (values and ``last`` flags,
    nothing missing or extra); else a message naming the first mismatching element."""
    k = 0
    for r, row in enumerate(expected):
        for c, e in enumerate(row):
            if k >= len(outputs):
                return f"output ended after {k} elements; row {r} element {c} missing"
            got = outputs[k]
            want_last = int(c == len(row) - 1)
            if got[field] != int(e) or got["last"] != want_last:
                return (f"row {r} element {c} (output #{k}): got {field}={got[field]} "
                        f"last={got['last']}, expected {field}={int(e)} last={want_last}")
            k += 1
    if k != len(outputs):
        return f"{len(outputs) - k} extra output(s) after the last expected row: {outputs[k]}"
    return None
