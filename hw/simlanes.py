"""Run vector-payload stream components in the Amaranth simulator (tests and benchmarks).

Used by the benches of the array, the requantizer and the dequant-first converter, whose
payloads are ``data.StructLayout`` structures holding ``data.ArrayLayout`` lanes. Payloads are
packed to and unpacked from raw bits in Python (:func:`encode` / :func:`decode`), which is
faster than setting views field by field and gives plain ``dict``/``list``/``int`` values.

:func:`run_lanes` drives ``dut.i_stream`` with seeded random valid gaps and ``dut.o_stream``
with seeded random ready deassertion from one async testbench (deterministic for a seed),
records the cycle of every transfer, and runs ``tail`` cycles past the last expected output
so that a unit that emits too much is caught. A unit that hangs raises :class:`LaneTimeout`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from amaranth.hdl import Shape
from amaranth.lib import data
from amaranth.sim import Simulator

__all__ = ["encode", "decode", "LaneRun", "LaneTimeout", "run_lanes"]


def encode(layout: Any, value: Any) -> int:
    """Pack ``value`` (dict for a struct, sequence for an array, int otherwise) to raw bits."""
    if isinstance(layout, data.StructLayout):
        bits = 0
        for name, fld in layout:
            if Shape.cast(fld.shape).width == 0 and name not in value:
                continue                      # a zero-width field carries nothing
            bits |= encode(fld.shape, value[name]) << fld.offset
        return bits
    if isinstance(layout, data.ArrayLayout):
        width = Shape.cast(layout.elem_shape).width
        if len(value) != layout.length:
            raise ValueError(f"expected {layout.length} lanes, got {len(value)}")
        bits = 0
        for i, v in enumerate(value):
            bits |= encode(layout.elem_shape, v) << (i * width)
        return bits
    shape = Shape.cast(layout)
    v = int(value)
    lo, hi = ((-(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1) if shape.signed
              else (0, (1 << shape.width) - 1))
    if not lo <= v <= hi:
        raise ValueError(f"value {v} does not fit {shape!r}")
    return v & ((1 << shape.width) - 1)


def decode(layout: Any, bits: int) -> Any:
    """Unpack raw bits to ``dict`` (struct) / ``list`` (array) / ``int`` (sign-extended)."""
    if isinstance(layout, data.StructLayout):
        out = {}
        for name, fld in layout:
            width = Shape.cast(fld.shape).width
            out[name] = decode(fld.shape, (bits >> fld.offset) & ((1 << width) - 1))
        return out
    if isinstance(layout, data.ArrayLayout):
        width = Shape.cast(layout.elem_shape).width
        mask = (1 << width) - 1
        return [decode(layout.elem_shape, (bits >> (i * width)) & mask)
                for i in range(layout.length)]
    shape = Shape.cast(layout)
    if shape.signed and shape.width and bits >> (shape.width - 1):
        return bits - (1 << shape.width)
    return bits


class LaneTimeout(AssertionError):
    """The unit did not accept all inputs or produce all outputs within ``max_cycles``."""


@dataclass
class LaneRun:
    outputs: list[Any]                  # decoded o_stream payloads, in transfer order
    in_cycles: list[int]                # cycle of each input transfer
    out_cycles: list[int]               # cycle of each output transfer
    cycles: int                         # cycles simulated
    final: dict[str, int] = field(default_factory=dict)   # ``watch`` values at the end


def run_lanes(dut: Any, beats: Sequence[Any], *, n_out: int, seed: int = 0,
              p_valid: float = 1.0, p_ready: float = 1.0,
              writes: Mapping[int, Sequence[Mapping[str, int]]] | None = None,
              side: Sequence[Mapping[str, int]] | None = None,
              setup: Mapping[str, int] | None = None,
              watch: Mapping[str, Any] | None = None, tail: int = 8,
              max_cycles: int | None = None, vcd: str | None = None) -> LaneRun:
    """Push ``beats`` (payload values) through ``dut`` and collect ``n_out`` output payloads.

    ``p_valid``: probability per cycle that the next beat is presented once the previous one
    is gone; ``p_ready``: probability per cycle that ``o_stream.ready`` is high.
    ``writes``: ``{beat_index: [{port: value, ...}, ...]}``: before beat ``beat_index`` is
    presented (and after the previous beat was accepted), each dict is applied for one cycle
    (with the input idle) and the ports are then returned to 0 -- e.g. table writes.
    ``side``: one ``{port: value}`` per beat, set on those DUT ports while that beat is
    presented (e.g. a runtime ``x0`` travelling with the element).
    ``setup``: ``{port: value}`` set once before the first cycle.
    ``watch``: ``{name: signal}`` read at the end into ``LaneRun.final``.
    """
    rng = random.Random(seed)
    i_s, o_s = dut.i_stream, dut.o_stream
    i_layout = i_s.payload.shape()
    o_layout = o_s.payload.shape()
    i_raw, o_raw = i_s.payload.as_value(), o_s.payload.as_value()
    packed = [encode(i_layout, b) for b in beats]
    writes = {k: list(v) for k, v in (writes or {}).items()}
    if side is not None and len(side) != len(beats):
        raise ValueError(f"side has {len(side)} entries for {len(beats)} beats")
    if max_cycles is None:
        slow = max(1.0 / max(p_valid, 0.05), 1.0 / max(p_ready, 0.05))
        max_cycles = int(500 + 20 * slow * (len(beats) + n_out + sum(map(len, writes.values()))))
    res = LaneRun([], [], [], 0)

    async def bench(ctx):
        for port, value in (setup or {}).items():
            ctx.set(getattr(dut, port), value)
        cycle, nxt, presenting, idle_after = 0, 0, False, None
        pending = list(writes.get(0, ()))
        while True:
            write = None
            if not presenting and pending:
                write = pending.pop(0)
                for port, value in write.items():
                    ctx.set(getattr(dut, port), value)
            elif not presenting and nxt < len(packed) and rng.random() < p_valid:
                ctx.set(i_raw, packed[nxt])
                for port, value in (side[nxt] if side is not None else {}).items():
                    ctx.set(getattr(dut, port), value)
                ctx.set(i_s.valid, 1)
                presenting = True
            ready = rng.random() < p_ready
            ctx.set(o_s.ready, ready)
            _, _, i_ready, o_valid, o_bits = await ctx.tick().sample(i_s.ready, o_s.valid, o_raw)
            if write is not None:
                for port in write:
                    ctx.set(getattr(dut, port), 0)
            if presenting and i_ready:
                res.in_cycles.append(cycle)
                nxt += 1
                presenting = False
                ctx.set(i_s.valid, 0)
                pending = list(writes.get(nxt, ()))
            if ready and o_valid:
                res.outputs.append(decode(o_layout, o_bits))
                res.out_cycles.append(cycle)
            cycle += 1
            if (idle_after is None and nxt == len(packed) and not pending
                    and len(res.outputs) >= n_out):
                idle_after = cycle + tail
            if idle_after is not None and cycle >= idle_after:
                break
            if cycle >= max_cycles:
                raise LaneTimeout(
                    f"no progress after {cycle} cycles: {nxt}/{len(packed)} beats accepted, "
                    f"{len(res.outputs)}/{n_out} outputs (seed={seed})")
        res.cycles = cycle
        for name, sig in (watch or {}).items():
            res.final[name] = int(ctx.get(sig))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return res
