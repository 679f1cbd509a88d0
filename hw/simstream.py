"""Drive a stream component in the Amaranth simulator (tests and benchmarks of ``ivita.hw``).

:func:`run_stream` (a thin wrapper over :func:`ivita.hw.simlanes.run_lanes`, the one cycle
loop of the hardware tests) presents a list of input beats on ``dut.i_stream`` with random
valid gaps,
takes ``dut.o_stream`` with random ready deassertion, records the cycle of every transfer, and
stops a fixed number of idle cycles after the expected number of outputs arrived (so a unit that
emits too much is caught), or raises :class:`StreamTimeout` when it hangs. One async testbench
does both sides, so a run is deterministic for a given seed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .simlanes import LaneTimeout, run_lanes

__all__ = ["StreamRun", "StreamTimeout", "run_stream", "row_beats", "row_mismatch"]


#: Raised when the unit hangs (the shared loop's timeout; kept under this name for the tests).
StreamTimeout = LaneTimeout


@dataclass
class StreamRun:
    outputs: list[dict[str, int]]          # one dict of ``out_fields`` per output transfer
    in_cycles: list[int]                   # cycle of each input transfer
    out_cycles: list[int]                  # cycle of each output transfer
    cycles: int                            # cycles simulated
    final: dict[str, int] = field(default_factory=dict)   # ``watch`` signals at the end


def run_stream(dut: Any, beats: Sequence[dict[str, int]], *, n_out: int,
               out_fields: Iterable[str] = ("y", "last"), ports: Iterable[str] = (),
               seed: int = 0, p_valid: float = 1.0, p_ready: float = 1.0,
               watch: dict[str, Any] | None = None, tail: int = 8, max_cycles: int | None = None,
               setup: dict[str, int] | None = None,
               vcd: str | None = None) -> StreamRun:
    """Run ``beats`` through ``dut`` and collect ``n_out`` outputs (plus any extra in ``tail``).

    ``beats``: each a dict of payload field values, plus values for the DUT ports named in
    ``ports`` (set while that beat is presented, e.g. a runtime ``x0``). ``setup``: port values
    set once before the first cycle. ``p_valid``/``p_ready``: per-cycle probabilities that the
    next beat is presented / that ``o_stream.ready`` is high. ``watch``: ``{name: value}`` of
    plain values (e.g. ``dut.error``, ``dut.error_flags.as_value()``) read at the end.
    The cycle loop is :func:`ivita.hw.simlanes.run_lanes`; this wrapper splits the side ports
    off the beats and keeps only ``out_fields`` of each output.
    """
    ports = tuple(ports)
    out_fields = tuple(out_fields)
    if max_cycles is None:
        max_cycles = 200 + 50 * (len(beats) + n_out) * max(1, round(1 / max(p_valid, 0.05)),
                                                             round(1 / max(p_ready, 0.05)))
    run = run_lanes(dut, [{k: v for k, v in b.items() if k not in ports} for b in beats],
                    n_out=n_out, seed=seed, p_valid=p_valid, p_ready=p_ready,
                    side=[{p: b[p] for p in ports} for b in beats] if ports else None,
                    setup=setup, watch=watch, tail=tail, max_cycles=max_cycles, vcd=vcd)
    outputs = [{f: int(o[f]) for f in out_fields} for o in run.outputs]
    return StreamRun(outputs, run.in_cycles, run.out_cycles, run.cycles, run.final)


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
