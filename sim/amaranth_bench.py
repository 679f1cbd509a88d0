"""The ``amaranth`` simulator path: the same loop, agents and scoreboard on ``amaranth.sim``.

Port names and payload offsets come from the same sidecar description
(:func:`ivita.sim.emit.describe`, without generating Verilog), so the vectors, the packing and
the checks are byte-for-byte those of the cocotb benches. One testbench process samples the
settled signals, awaits ``ctx.tick()`` and drives the next cycle.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from amaranth.hdl import Value, ValueCastable
from amaranth.sim import Simulator

from .bench import Stimulus, TB
from .emit import describe
from .payload import to_signed
from .sidecar import Sidecar

__all__ = ["AmaranthIO", "run_amaranth", "component_ports"]


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


def run_amaranth(tb: TB, component: Any, stim: Stimulus, *, seed: int, stall_in: float = 0.0,
                 stall_out: float = 0.0, max_cycles: int | None = None,
                 vcd: Path | None = None, heartbeat: Any = None) -> dict[str, Any]:
    """Simulate ``component`` with ``amaranth.sim``; return the loop's result dict.

    ``heartbeat``: called with the loop once per cycle (an :class:`ivita.sim.progress.Heartbeat`).
    """
    sidecar = Sidecar(describe(component, tb.module_name, config=tb.config, n=tb.timing_n()))
    loop = tb.make_loop(sidecar, stim, seed=seed, stall_in=stall_in, stall_out=stall_out,
                        max_cycles=max_cycles)
    ports = component_ports(component)
    result: dict[str, Any] = {}

    async def bench(ctx: Any) -> None:
        io = AmaranthIO(ctx, ports)
        await ctx.tick()
        loop.start(io)
        while not loop.done:
            loop.sample(io)
            await ctx.tick()
            loop.drive(io)
            if heartbeat is not None:
                heartbeat(loop)
        if heartbeat is not None:
            heartbeat.close(loop)
        result.update(loop.finish(io))

    sim = Simulator(component)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    cm = sim.write_vcd(str(vcd)) if vcd is not None else contextlib.nullcontext()
    with cm:
        sim.run()
    result["simulator"] = "amaranth"
    return result
