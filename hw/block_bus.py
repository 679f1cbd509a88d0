"""Host bus of the attention block: 32-bit word-addressed access to its memories."""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ivita.firmware.memory_map import BUS_BITS, REGION_ORDER, MemoryMap

from .timing import Timing

__all__ = ["BlockBus"]


class BlockBus(wiring.Component):
    """Decodes ``addr`` against the :func:`~ivita.firmware.memory_map.memory_map` regions.

    Write (``w_en``): sub-words below the last are staged in one shared register; a write to a
    word's last sub-word drives ``{region}_we`` with the staged bits and ``w_data`` on top
    (``{region}_waddr``, ``{region}_wdata``) in the same cycle. Read (``r_en``): drives
    ``{region}_raddr``/``{region}_re`` in the same cycle; ``r_data`` is the addressed
    sub-word of ``{region}_rdata`` in the next cycle (1-cycle read latency) and holds until
    the next read. Addresses outside every region read 0 and ignore writes.
    """

    def __init__(self, mmap: MemoryMap) -> None:
        self._mmap = mmap
        ports: dict = {"addr": In(mmap.addr_bits), "w_data": In(BUS_BITS), "w_en": In(1),
                       "r_en": In(1), "r_data": Out(BUS_BITS)}
        for name in REGION_ORDER:
            r = mmap[name]
            ports.update({f"{name}_waddr": Out(range(r.depth)), f"{name}_we": Out(1),
                          f"{name}_wdata": Out(r.word_bits), f"{name}_raddr": Out(range(r.depth)),
                          f"{name}_re": Out(1), f"{name}_rdata": In(r.word_bits)})
        super().__init__(ports)

    def timing(self, n: int | None = None) -> Timing:
        """A read: ``r_data`` 1 cycle after ``r_en``; one bus access per cycle (``n`` is
        ignored)."""
        return Timing(latency=1, latency_from="first", interval=1, per="beat")

    def elaborate(self, platform: object) -> Module:
        m, mmap = Module(), self._mmap
        max_sub = max(mmap[n].sub_words for n in REGION_ORDER)
        staging = Signal(max(BUS_BITS * (max_sub - 1), 1))
        sel = Signal(range(len(REGION_ORDER) + 1))      # region of the last read (+1: none)
        sub_q = Signal(range(max_sub + 1))
        with m.If(self.r_en):
            m.d.sync += sel.eq(len(REGION_ORDER))
        for idx, name in enumerate(REGION_ORDER):
            r = mmap[name]
            sw = r.sub_words
            sbits = (sw - 1).bit_length()
            off = self.addr - r.base
            hit = (self.addr >= r.base) & (self.addr < r.base + r.depth * sw)
            word = off[sbits:] if sbits else off
            sub = off[:sbits] if sbits else 0
            wide = Cat(staging[:BUS_BITS * (sw - 1)], self.w_data) if sw > 1 else self.w_data
            m.d.comb += [getattr(self, f"{name}_waddr").eq(word),
                         getattr(self, f"{name}_raddr").eq(word),
                         getattr(self, f"{name}_wdata").eq(wide),
                         getattr(self, f"{name}_we").eq(self.w_en & hit & (sub == sw - 1)),
                         getattr(self, f"{name}_re").eq(self.r_en & hit)]
            with m.If(self.w_en & hit & (sub != sw - 1)):
                m.d.sync += staging.word_select(sub, BUS_BITS).eq(self.w_data)
            with m.If(self.r_en & hit):
                m.d.sync += [sel.eq(idx), sub_q.eq(sub)]
            with m.If(sel == idx):
                rd = getattr(self, f"{name}_rdata")
                pad = BUS_BITS * sw - r.word_bits
                padded = Cat(rd, Signal(pad)) if pad else rd
                index = sub_q[:sbits] if sbits else 0
                m.d.comb += self.r_data.eq(padded.word_select(index, BUS_BITS))
        return m
