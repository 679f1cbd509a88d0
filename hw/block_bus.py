"""Host bus of the attention block: 32-bit word-addressed access to its memories."""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.hdl import Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ivita.firmware.memory_map import BUS_BITS, REGION_ORDER, MemoryMap

from .timing import Timing

__all__ = ["BlockBus"]


class BlockBus(wiring.Component):
    """Decodes ``addr`` against the :func:`~ivita.firmware.memory_map.memory_map` regions.

    Write (``w_en`` in cycle ``t``): sub-words below the last are staged in one shared register
    (at the end of ``t``); a write to a word's last sub-word is decoded in ``t`` and registered:
    ``{region}_we`` with ``{region}_waddr`` and ``{region}_wdata`` (the staged bits and
    ``w_data`` on top) are driven in cycle ``t + 1`` (the word lands at the end of ``t + 1``;
    the memories' write enables start at a flip-flop). A read in cycle ``t + 1`` of that word
    returns the new value (forwarded), so to the host a write behaves as landing at the end of
    ``t``. ``w_en`` must not be high in the cycle of the block's ``start`` (the write would
    land when the program already owns the memories; the host interface never does this).
    Read (``r_en``): drives ``{region}_raddr`` (address bits, no decode: each region is aligned
    to its size) and ``{region}_re`` of *every* region in the same cycle; ``r_data`` is the
    addressed sub-word of the addressed region's ``{region}_rdata`` in the next cycle (1-cycle
    read latency) and holds until the next read. Addresses outside every region read 0 and
    ignore writes.
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
        # the registered write: its address and data (the region's enable is registered below)
        addr_q = Signal.like(self.addr, name="w_addr_q")
        data_q = Signal(BUS_BITS, name="w_data_q")
        m.d.sync += [addr_q.eq(self.addr), data_q.eq(self.w_data)]
        # forwarding: the last read hit the word being written in its cycle (the memory read
        # the old value); fwd_data is the word written then
        fwd_q = Signal(name="r_fwd_q")
        fwd_data = Signal(BUS_BITS * max_sub, name="r_fwd_data")
        fwd_any, written = Value.cast(0), Value.cast(0)   # written: the word landing now
        mem_data = Signal(BUS_BITS, name="r_mem_data")
        with m.If(self.r_en):
            m.d.sync += sel.eq(len(REGION_ORDER))
        for idx, name in enumerate(REGION_ORDER):
            r = mmap[name]
            assert r.base % r.size == 0, f"region {name} at {r.base} is not aligned to {r.size}"
            sw = r.sub_words
            sbits = (sw - 1).bit_length()
            off = self.addr - r.base
            hit = (self.addr >= r.base) & (self.addr < r.base + r.depth * sw)
            sub = off[:sbits] if sbits else 0
            we_q = Signal(name=f"{name}_we_q")
            m.d.sync += we_q.eq(self.w_en & hit & (sub == sw - 1))
            wide = Cat(staging[:BUS_BITS * (sw - 1)], data_q) if sw > 1 else data_q
            m.d.comb += [getattr(self, f"{name}_waddr").eq(addr_q[sbits:]),
                         getattr(self, f"{name}_raddr").eq(self.addr[sbits:]),
                         getattr(self, f"{name}_wdata").eq(wide),
                         getattr(self, f"{name}_we").eq(we_q),
                         getattr(self, f"{name}_re").eq(self.r_en)]
            with m.If(self.w_en & hit & (sub != sw - 1)):
                m.d.sync += staging.word_select(sub, BUS_BITS).eq(self.w_data)
            with m.If(self.r_en & hit):
                m.d.sync += [sel.eq(idx), sub_q.eq(sub)]
            same = we_q & (self.addr[sbits:] == addr_q[sbits:])
            fwd_any = fwd_any | same
            written = written | Mux(we_q, wide[:r.word_bits], 0)
            with m.If(sel == idx):
                rd = getattr(self, f"{name}_rdata")
                pad = BUS_BITS * sw - r.word_bits
                padded = Cat(rd, Signal(pad)) if pad else rd
                index = sub_q[:sbits] if sbits else 0
                m.d.comb += mem_data.eq(padded.word_select(index, BUS_BITS))
        with m.If(self.r_en):        # the compare feeds one flip-flop, not the data's enables
            m.d.sync += [fwd_q.eq(fwd_any), fwd_data.eq(written)]
        fwd_word = fwd_data.word_select(sub_q[:(max_sub - 1).bit_length()], BUS_BITS) \
            if max_sub > 1 else fwd_data
        m.d.comb += self.r_data.eq(Mux(fwd_q, fwd_word, mem_data))
        return m
