"""The ``amaranth`` simulator backend: the same loop, agents and scoreboard on ``amaranth.sim``.

Port names and payload offsets come from the same sidecar description
(:func:`ivita.sim.emit.describe`, without generating Verilog), so the vectors, the packing and
the checks are byte-for-byte those of the cocotb benches. One testbench process
(:func:`simulate`) runs the :class:`~ivita.sim.loop.BenchLoop`: per cycle it samples the settled
signals, awaits ``ctx.tick()`` and drives the next cycle.

On top of the loop's stream-rule checks, this backend checks the interface promise that an input
stream's ``ready`` never depends on its ``valid`` (:class:`ReadyCheck`): every cycle, with the
inputs of the cycle driven, it reads ``ready`` once with ``valid`` flipped and once as driven
(a testbench's ``ctx.get`` sees settled combinational values) and reports any difference
naming the stream and the cycle. It costs one extra settle per cycle.

Used by :func:`ivita.sim.bench.run_bench` (``--simulator amaranth``, through
:func:`run_amaranth`) and by the unit tests and benchmarks (through
:func:`ivita.sim.unit_run.run_lanes`). This module does not import :mod:`ivita.sim.bench`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from amaranth.hdl import Value, ValueCastable
from amaranth.sim import Simulator

from .emit import describe
from .loop import BenchLoop, PortIO, StreamDriver
from .payload import to_signed
from .sidecar import Sidecar

__all__ = ["AmaranthIO", "ReadyCheck", "component_ports", "simulate", "run_amaranth"]


def component_ports(component: Any) -> dict[str, Value]:
    """Verilog-style port name (``i_stream__payload``) -> the Amaranth value."""
    ports: dict[str, Value] = {}
    for path, _member, value in component.signature.flatten(component):
        if isinstance(value, ValueCastable):
            value = value.as_value()
        if isinstance(value, Value):
            ports["__".join(map(str, path))] = value
    return ports


class AmaranthIO:
    """``get``/``set`` of raw (unsigned) port values through an Amaranth testbench context."""

    def __init__(self, ctx: Any, ports: dict[str, Value]):
        self.ctx = ctx
        self.ports = ports
        self._shape = {n: (len(v), v.shape().signed) for n, v in ports.items()}

    def get(self, port: str) -> int:
        width, _ = self._shape[port]
        return self.ctx.get(self.ports[port]) & ((1 << width) - 1)

    def set(self, port: str, value: int) -> None:
        width, signed = self._shape[port]
        self.ctx.set(self.ports[port], to_signed(value, width) if signed else value)


class ReadyCheck:
    """Checks that no input stream's ``ready`` depends on its ``valid``, cycle by cycle.

    :meth:`probe` (before the loop samples the cycle) flips each driven ``valid``, reads
    ``ready`` and restores ``valid``; :meth:`compare` (after the sample) reads ``ready`` as
    driven and records an error for a difference. ``checked`` counts the cycles checked.
    """

    MAX_ERRORS = 5

    def __init__(self, drivers: Sequence[StreamDriver]):
        self.drivers = list(drivers)
        self.errors: list[str] = []
        self.violations = 0
        self.checked = 0

    def probe(self, io: PortIO) -> list[int]:
        flipped = []
        for d in self.drivers:
            v = d.valid
            io.set(d.info.valid, 1 - v)
            flipped.append(io.get(d.info.ready))
            io.set(d.info.valid, v)
        return flipped

    def compare(self, io: PortIO, flipped: Sequence[int], cycle: int) -> None:
        self.checked += 1
        for d, r_flip in zip(self.drivers, flipped):
            r = io.get(d.info.ready)
            if r != r_flip:
                self.violations += 1
                if len(self.errors) < self.MAX_ERRORS:
                    v = d.valid
                    by_valid = {v: r, 1 - v: r_flip}
                    self.errors.append(
                        f"{d.info.name}.ready depends on {d.info.name}.valid in cycle {cycle}: "
                        f"ready={by_valid[0]} with valid=0, ready={by_valid[1]} with valid=1 "
                        f"(the interface promises ready never depends on valid)")


def simulate(component: Any, loop: BenchLoop, *, check_ready: bool = True,
             setup: Mapping[str, int] | None = None,
             at_end: Callable[[Any], None] | None = None,
             vcd: str | Path | None = None,
             stop_on_error: bool = False,
             heartbeat: Any = None) -> tuple[dict[str, Any], ReadyCheck | None]:
    """Run ``loop`` on ``component`` in ``amaranth.sim``; return ``(loop.finish(), check)``.

    ``setup``: ``{port: value}`` set once before the first cycle. ``check_ready``: run
    :class:`ReadyCheck` every cycle; its errors are appended to the result's ``errors`` (and
    clear ``passed``). ``at_end(ctx)`` is called after the last cycle (e.g. to read signals
    that are not ports). ``vcd``: write a waveform. ``stop_on_error``: end the run at the
    first stream-rule or ready/valid violation instead of running to the end or the timeout.
    ``heartbeat``: called with the loop once per cycle and closed at the end (an
    :class:`ivita.sim.progress.Heartbeat`).
    """
    ports = component_ports(component)
    result: dict[str, Any] = {}
    check = ReadyCheck(loop.drivers) if check_ready and loop.drivers else None

    async def bench(ctx: Any) -> None:
        io = AmaranthIO(ctx, ports)
        for port, value in (setup or {}).items():
            io.set(port, int(value))
        await ctx.tick()
        loop.start(io)
        while not loop.done:
            if check is not None:
                flipped = check.probe(io)
                loop.sample(io)
                check.compare(io, flipped, loop.cycle)
            else:
                loop.sample(io)
            if stop_on_error and ((check is not None and check.errors) or
                                  any(m.errors for m in loop.monitors.values())):
                break
            await ctx.tick()
            loop.drive(io)
            if heartbeat is not None:
                heartbeat(loop)
        if heartbeat is not None:
            heartbeat.close(loop)
        result.update(loop.finish(io))
        if at_end is not None:
            at_end(ctx)

    sim = Simulator(component)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    cm = sim.write_vcd(str(vcd)) if vcd is not None else contextlib.nullcontext()
    with cm:
        sim.run()
    if check is not None:
        result["ready_checked_cycles"] = check.checked
        if check.errors:
            more = check.violations - len(check.errors)
            result["errors"] = [*result["errors"], *check.errors,
                                *([f"... and {more} more ready/valid dependences"]
                                  if more > 0 else [])]
            result["passed"] = False
    return result, check


def run_amaranth(tb: Any, component: Any, stim: Any, *, seed: int, stall_in: float = 0.0,
                 stall_out: float = 0.0, max_cycles: int | None = None,
                 vcd: Path | None = None, check_ready: bool = True,
                 heartbeat: Any = None) -> dict[str, Any]:
    """Simulate a unit bench (a :class:`ivita.sim.bench.TB` and its ``Stimulus``) with
    ``amaranth.sim``; return the loop's result dict (``passed``, ``errors``, ...)."""
    sidecar = Sidecar(describe(component, tb.module_name, config=tb.config, n=tb.timing_n()))
    loop = tb.make_loop(sidecar, stim, seed=seed, stall_in=stall_in, stall_out=stall_out,
                        max_cycles=max_cycles)
    result, _ = simulate(component, loop, check_ready=check_ready, vcd=vcd, heartbeat=heartbeat)
    result["simulator"] = "amaranth"
    return result
