"""Run a stream component in the Amaranth simulator from Python beats (unit tests, benchmarks).

:func:`run_lanes` is the front end of the one simulation harness for code that has beats as
Python values rather than a unit bench (:class:`ivita.sim.bench.TB`): the hardware unit tests
(``tests/hw``) and the benchmarks. It describes the component with the sidecar description
(:func:`ivita.sim.emit.describe`, no Verilog written), packs the beats with the sidecar's
:class:`~ivita.sim.payload.PayloadCodec`, and runs the :class:`~ivita.sim.loop.BenchLoop`
agents on ``amaranth.sim`` (:func:`ivita.sim.amaranth_bench.simulate`):

- ``StreamDriver`` on ``dut.i_stream``: seeded random idle cycles (``p_valid``), per-beat
  side ports, writes between beats;
- ``StreamMonitor`` on ``dut.o_stream``: seeded random back-pressure (``p_ready``), the stream
  rules (a beat offered without ``ready`` must stay valid and unchanged), ``ready`` high for a
  ``tail`` of cycles after the last expected beat so extra beats are seen;
- :class:`~ivita.sim.amaranth_bench.ReadyCheck`: ``i_stream.ready`` never depends on
  ``i_stream.valid``.

A stream-rule or ready/valid violation raises :class:`StreamRuleError`; a unit that hangs
raises :class:`StreamTimeout`. The values themselves are returned for the caller to compare
with the model (``==``). :func:`run_stream` is the same run with side ports taken from the beat
dicts and only some output fields kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .amaranth_bench import simulate
from .emit import describe
from .loop import BenchLoop
from .payload import PayloadCodec
from .sidecar import Sidecar

__all__ = ["LaneRun", "StreamRun", "StreamTimeout", "StreamRuleError", "LaneTimeout",
           "run_lanes", "run_stream", "default_max_cycles"]


class StreamTimeout(AssertionError):
    """The unit did not accept all inputs or produce all outputs within ``max_cycles``."""


#: The earlier name of :class:`StreamTimeout`.
LaneTimeout = StreamTimeout


class StreamRuleError(AssertionError):
    """The unit broke the stream rules (a held beat dropped or changed) or its
    ``i_stream.ready`` depends on ``i_stream.valid``."""


@dataclass
class LaneRun:
    """What :func:`run_lanes` / :func:`run_stream` return."""

    outputs: list[Any]                  # decoded o_stream payloads, in transfer order
    in_cycles: list[int]                # cycle of each input transfer (0: the first stream cycle)
    out_cycles: list[int]               # cycle of each output transfer
    cycles: int                         # cycles simulated from the first stream cycle
    final: dict[str, int] = field(default_factory=dict)   # ``watch`` values at the end
    stall_cycles: int = 0               # cycles with o_stream.valid & ~o_stream.ready
    ready_checks: int = 0               # cycles in which ready was checked against valid


#: :func:`run_stream` returns the same record (outputs restricted to ``out_fields``).
StreamRun = LaneRun


def default_max_cycles(n_in: int, n_out: int, n_writes: int, p_valid: float,
                       p_ready: float) -> int:
    """The cycle budget of a run: generous enough for the sequential (one element per ~40
    cycles) units under stalls, small enough that a hang fails quickly."""
    slow = max(1.0, 1.0 / max(p_valid, 0.05), 1.0 / max(p_ready, 0.05))
    return int(500 + 50 * slow * (n_in + n_out + n_writes))


def _flatten(beat: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in beat.items():
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in flat.items():
        *path, leaf = k.split(".")
        d = out
        for p in path:
            d = d.setdefault(p, {})
        d[leaf] = v
    return out


class _Beats:
    """Python beats (``dict`` for a struct payload, nested for nested structs, lists for
    arrays; a plain value for a non-struct payload) <-> raw payload integers, by the codec."""

    def __init__(self, codec: PayloadCodec):
        self.codec = codec
        self.struct = codec.node["kind"] == "struct"
        self.nested = any("." in g for g in codec.groups)
        # zero-width scalar fields carry nothing and may be left out of a beat
        self.zero = {g for g, grp in codec.groups.items() if grp.width == 0 and not grp.dims}

    def pack(self, beats: Sequence[Any]) -> list[int]:
        if not beats:
            return []
        if not self.struct:
            beats = [{"value": b} for b in beats]
        elif self.nested:
            beats = [_flatten(b) for b in beats]
        cols: dict[str, list[Any]] = {g: [] for g in self.codec.groups}
        for i, b in enumerate(beats):
            extra = set(b) - set(cols)
            missing = set(cols) - set(b) - set(self.zero)
            if extra or missing:
                raise ValueError(f"beat {i}: fields {sorted(b)} do not match the payload fields "
                                 f"{sorted(cols)}")
            for g, col in cols.items():
                col.append(b.get(g, 0))
        import numpy as np
        arrays = {}
        for g, col in cols.items():
            arr = np.asarray(col)
            if arr.dtype.kind not in "iu":     # values beyond int64 stay Python ints
                arr = np.asarray(col, dtype=object)
            arrays[g] = arr
        return self.codec.pack_beats(arrays)

    def unpack(self, raws: Sequence[int]) -> list[Any]:
        groups = self.codec.unpack_beats(raws)
        lists = {g: a.tolist() for g, a in groups.items()}
        out = [{g: lists[g][i] for g in lists} for i in range(len(raws))]
        if not self.struct:
            return [o["value"] for o in out]
        return [_nest(o) for o in out] if self.nested else out


def run_lanes(dut: Any, beats: Sequence[Any], *, n_out: int, seed: int = 0,
              p_valid: float = 1.0, p_ready: float = 1.0,
              writes: Mapping[int, Sequence[Mapping[str, int]]] | None = None,
              side: Sequence[Mapping[str, int]] | None = None,
              setup: Mapping[str, int] | None = None,
              watch: Mapping[str, Any] | None = None, tail: int = 8,
              max_cycles: int | None = None, vcd: str | Path | None = None,
              check_ready: bool = True) -> LaneRun:
    """Push ``beats`` (payload values) through ``dut`` and collect ``n_out`` output payloads.

    ``p_valid``: probability per cycle that the next beat is presented once the previous one
    is gone; ``p_ready``: probability per cycle that ``o_stream.ready`` is high (until ``n_out``
    beats arrived; then it stays high for ``tail`` more cycles, which catches extra beats).
    ``writes``: ``{beat_index: [{port: value, ...}, ...]}``: before beat ``beat_index`` is
    presented (and after the previous beat was accepted), each dict is applied for one cycle
    (with the input idle) and the ports are then returned to 0 -- e.g. table writes.
    ``side``: one ``{port: value}`` per beat, set on those DUT ports while that beat is
    presented (e.g. a runtime ``x0`` travelling with the element).
    ``setup``: ``{port: value}`` set once before the first cycle.
    ``watch``: ``{name: signal}`` read at the end into ``LaneRun.final``.
    ``check_ready``: check every cycle that ``i_stream.ready`` does not depend on
    ``i_stream.valid``.

    Cycles count from the first cycle of the stream (after nothing: beat 0 or the first write
    is presented in cycle 0). Raises :class:`StreamRuleError` when the unit breaks the stream
    rules or the ready/valid promise, :class:`StreamTimeout` when it hangs (``max_cycles``
    cycles; default :func:`default_max_cycles`).
    """
    for name, p in (("p_valid", p_valid), ("p_ready", p_ready)):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 < p <= 1.0:
            raise ValueError(f"{name}={p!r} is out of range; it must be in (0, 1]")
    sidecar = Sidecar(describe(dut, type(dut).__name__))
    i_info, o_info = sidecar.stream("i_stream"), sidecar.stream("o_stream")
    packed = _Beats(i_info.codec).pack(beats)
    writes = {int(k): list(v) for k, v in (writes or {}).items()}
    n_writes = sum(map(len, writes.values()))
    if max_cycles is None:
        max_cycles = default_max_cycles(len(packed), n_out, n_writes, p_valid, p_ready)
    loop = BenchLoop(sidecar, inputs={"i_stream": packed}, expected={},
                     counts={"o_stream": n_out}, seed=seed, stall_in=1.0 - p_valid,
                     stall_out=1.0 - p_ready, max_cycles=max_cycles, tail=tail,
                     writes={"i_stream": writes},
                     side={"i_stream": list(side)} if side is not None else None, gap=0)
    final: dict[str, int] = {}

    def read_watch(ctx: Any) -> None:
        for name, sig in (watch or {}).items():
            final[name] = int(ctx.get(sig))

    result, check = simulate(dut, loop, check_ready=check_ready, setup=setup,
                             at_end=read_watch, vcd=vcd, stop_on_error=True)
    drv, mon = loop.drivers[0], loop.monitors["o_stream"]
    start = loop.stream_start or 0
    rule_errors = [*mon.errors, *(check.errors if check is not None else [])]
    if rule_errors:
        raise StreamRuleError(f"{type(dut).__name__} (seed={seed}): " + "; ".join(rule_errors))
    if result["timeout"]:
        raise StreamTimeout(
            f"no progress after {loop.cycle} cycles: {drv.index}/{len(packed)} beats "
            f"accepted, {len(mon.raws)}/{n_out} outputs (seed={seed})")
    if result["errors"]:        # nothing else is expected here; never pass silently
        raise AssertionError(f"{type(dut).__name__} (seed={seed}): " + "; ".join(result["errors"]))
    return LaneRun(outputs=_Beats(o_info.codec).unpack(mon.raws),
                   in_cycles=[c - start for c in drv.accept_cycles],
                   out_cycles=[c - start for c in mon.cycles],
                   cycles=loop.cycle - start, final=final, stall_cycles=mon.stall_cycles,
                   ready_checks=result.get("ready_checked_cycles", 0))


def run_stream(dut: Any, beats: Sequence[dict[str, int]], *, n_out: int,
               out_fields: Iterable[str] = ("y", "last"), ports: Iterable[str] = (),
               seed: int = 0, p_valid: float = 1.0, p_ready: float = 1.0,
               watch: Mapping[str, Any] | None = None, tail: int = 8,
               max_cycles: int | None = None, setup: Mapping[str, int] | None = None,
               vcd: str | Path | None = None, check_ready: bool = True) -> LaneRun:
    """:func:`run_lanes` for element streams: ``beats`` are dicts of payload fields plus values
    for the DUT ports named in ``ports`` (set while that beat is presented, e.g. a runtime
    ``x0``); each output keeps only ``out_fields``. Same checks and exceptions."""
    ports = tuple(ports)
    out_fields = tuple(out_fields)
    run = run_lanes(dut, [{k: v for k, v in b.items() if k not in ports} for b in beats],
                    n_out=n_out, seed=seed, p_valid=p_valid, p_ready=p_ready,
                    side=[{p: b[p] for p in ports} for b in beats] if ports else None,
                    setup=setup, watch=watch, tail=tail, max_cycles=max_cycles, vcd=vcd,
                    check_ready=check_ready)
    run.outputs = [{f: o[f] for f in out_fields} for o in run.outputs]
    return run
