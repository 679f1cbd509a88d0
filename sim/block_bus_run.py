"""Run an :class:`~ivita.hw.attention.AttentionBlock` in the Amaranth simulator through its
host bus: load memory images word by word, start, wait, read regions back (tests, benches)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from amaranth.sim import Simulator

from ivita.hw.attention import AttentionBlock

from .bus_plan import assemble, bus_reads, bus_writes

__all__ = ["BlockRun", "BlockTimeout", "run_block"]


class BlockTimeout(AssertionError):
    """The program did not finish (``busy`` still high) within ``max_cycles``."""


@dataclass
class BlockRun:
    done: int
    error: int
    error_code: int
    cycles: int                                   # the block's own cycle counter
    wall: int = 0                                 # cycles from start until busy fell
    pc_cycles: list[int] = field(default_factory=list)   # cycle each pc value was first seen
    reads: dict[str, dict[int, int]] = field(default_factory=dict)   # region -> word -> value
    watched: dict[str, int] = field(default_factory=dict)  # name -> cycles it was nonzero


def run_block(dut: AttentionBlock, images: Mapping[str, Mapping[int, int]],
              reads: Mapping[str, Iterable[int]] = (), *, max_cycles: int = 200_000,
              vcd: str | None = None,
              watch: Callable[[AttentionBlock], Mapping[str, Any]] | None = None) -> BlockRun:
    """Write ``images`` (``{region: {word: value}}``) through the bus, pulse ``start``, wait
    for ``busy`` to fall (``BlockTimeout`` after ``max_cycles``), then read ``reads``
    (``{region: words}``) through the bus (1-cycle read latency). The bus transfers are those
    of :mod:`ivita.sim.bus_plan`, shared with the cocotb bench (:mod:`ivita.sim.cocotb_block`).
    ``watch(dut)`` (called once the design is elaborated) names Amaranth values; ``watched``
    counts the cycles of the run (``busy`` high) each of them was nonzero."""
    mmap = dut.memory_map
    res = BlockRun(0, 0, 0, 0)

    writes = bus_writes(mmap, images)
    reads = dict(reads)
    plan = bus_reads(mmap, reads)

    async def bench(ctx):
        for addr, value in writes:
            ctx.set(dut.addr, addr)
            ctx.set(dut.w_data, value)
            ctx.set(dut.w_en, 1)
            await ctx.tick()
        ctx.set(dut.w_en, 0)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        n, pc = 0, -1
        res.watched = {name: 0 for name in probes}
        while ctx.get(dut.busy):
            if ctx.get(dut.pc) != pc:
                pc = ctx.get(dut.pc)
                res.pc_cycles.append(n)
            for name, value in probes.items():
                res.watched[name] += bool(ctx.get(value))
            await ctx.tick()
            n += 1
            if n > max_cycles:
                raise BlockTimeout(f"busy after {max_cycles} cycles")
        res.wall = n
        res.done, res.error = ctx.get(dut.done), ctx.get(dut.error)
        res.error_code, res.cycles = ctx.get(dut.error_code), ctx.get(dut.cycles)
        values = []
        for _name, _word, addr in plan:
            ctx.set(dut.addr, addr)
            ctx.set(dut.r_en, 1)
            await ctx.tick()
            ctx.set(dut.r_en, 0)
            values.append(ctx.get(dut.r_data))
        res.reads = {name: {} for name in reads}
        for name, words in assemble(mmap, plan, values).items():
            res.reads[name].update(words)

    sim = Simulator(dut)
    probes = dict(watch(dut)) if watch else {}
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
    return res
