"""Host bus of the attention block: 32-bit word-addressed access to its memories."""

from __future__ import annotations

from amaranth import Cat, Const, Elaboratable, Module, Mux, Signal
from amaranth.hdl import Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ivita.firmware.memory_map import BUS_BITS, REGION_ORDER, MemoryMap

from ._blockutil import pinned
from .timing import Timing

__all__ = ["BlockBus"]


class BlockBus(wiring.Component):
    """Decodes ``addr`` against the :func:`~ivita.firmware.memory_map.memory_map` regions.

    Write (``w_en`` in cycle ``t``): every write's data is staged (at the end of ``t + 1``) in
    the 32-bit slot given by the address's low bits of a register per sub-word count (no
    region decode; the host writes a word's sub-words one after the other, the last one
    last); a write to a word's last sub-word is
    decoded in ``t`` and registered: ``{region}_we`` with ``{region}_waddr`` and
    ``{region}_wdata`` (the word's staged sub-words and ``w_data`` on top) are driven in cycle
    ``t + 1`` (the word lands at the end of ``t + 1``; the memories'
    write enables start at a flip-flop). A read in cycle ``t + 1`` of that word returns the new
    value (forwarded), so to the host a write behaves as landing at the end of ``t``. ``w_en``
    must not be high in the cycle of the block's ``start`` (the write would land when the
    program already owns the memories; the host interface never does this).
    Read (``r_en``): drives ``{region}_raddr`` (address bits, no decode: each region is aligned
    to its size) and ``{region}_re`` of *every* region in the same cycle; ``r_data`` is the
    addressed sub-word of the addressed region's ``{region}_rdata`` in the next cycle (1-cycle
    read latency) and holds until the next read. Addresses outside every region read 0 and
    ignore writes. ``split``: ``{region: word}`` for a region held in two memories (its words
    below ``word`` read from ``{region}_rdata``, the rest from ``{region}_rdata1``; A-mem's two
    banks). ``r_data`` is an AND-OR of every memory sub-word with a one-hot select registered
    at the read (no address or multiplexer select after the memories but those flip-flops);
    the deepest region (the memory Yosys maps to block RAM first) comes last, in a submodule
    of its own (:class:`_ReadOut`), one LUT before ``r_data``.
    """

    def __init__(self, mmap: MemoryMap, split: dict[str, int] | None = None) -> None:
        self._mmap = mmap
        self._split = dict(split or {})
        ports: dict = {"addr": In(mmap.addr_bits), "w_data": In(BUS_BITS), "w_en": In(1),
                       "r_en": In(1), "r_data": Out(BUS_BITS)}
        for name in REGION_ORDER:
            r = mmap[name]
            ports.update({f"{name}_waddr": Out(range(r.depth)), f"{name}_we": Out(1),
                          f"{name}_wdata": Out(r.word_bits), f"{name}_raddr": Out(range(r.depth)),
                          f"{name}_re": Out(1), f"{name}_rdata": In(r.word_bits)})
            if name in self._split:
                ports[f"{name}_rdata1"] = In(r.word_bits)
        super().__init__(ports)

    def timing(self, n: int | None = None) -> Timing:
        """A read: ``r_data`` 1 cycle after ``r_en``; one bus access per cycle (``n`` is
        ignored)."""
        return Timing(latency=1, latency_from="first", interval=1, per="beat")

    def elaborate(self, platform: object) -> Module:
        m, mmap = Module(), self._mmap
        # the registered write: its address and data (the region's enable is registered below)
        addr_q = Signal.like(self.addr, name="w_addr_q", reset_less=True)
        data_q = Signal(BUS_BITS, name="w_data_q", reset_less=True)
        m.d.sync += [addr_q.eq(self.addr), data_q.eq(self.w_data)]
        staging = self._staging(m, data_q)
        fwd_any, fwd_top, fwd_mask, staged = (Value.cast(0),) * 4
        hits = []
        for name in REGION_ORDER:
            r = mmap[name]
            assert r.base % r.size == 0, f"region {name} at {r.base} is not aligned to {r.size}"
            sw = r.sub_words
            sbits = (sw - 1).bit_length()
            hit = (self.addr >= r.base) & (self.addr < r.base + r.depth * sw)
            sub = self.addr[:sbits] if sbits else Const(0, 1)
            we_q = Signal(name=f"{name}_we_q")
            m.d.sync += we_q.eq(self.w_en & hit & (sub == sw - 1))
            wide = Cat(staging[sw], data_q) if sw > 1 else data_q
            m.d.comb += [getattr(self, f"{name}_waddr").eq(addr_q[sbits:]),
                         getattr(self, f"{name}_raddr").eq(self.addr[sbits:]),
                         getattr(self, f"{name}_wdata").eq(wide),
                         getattr(self, f"{name}_we").eq(we_q),
                         getattr(self, f"{name}_re").eq(self.r_en)]
            hits.append((hit, sub))
            # a read of the word landing now (the memory reads the old value): its sub-word is
            # the write's data if it is the last, else the slot it was staged in; cut to the
            # word by a mask applied at the output
            fwd_any = fwd_any | (we_q & (self.addr[sbits:] == addr_q[sbits:]))
            fwd_top = fwd_top | (we_q & (sub == sw - 1))
            if sw > 1:
                slots = Cat(staging[sw], Const(0, BUS_BITS)).word_select(sub, BUS_BITS)
                staged = staged | Mux(we_q, slots, 0)
            for k in range(sw):
                bits = min(max(r.word_bits - BUS_BITS * k, 0), BUS_BITS)
                fwd_mask = fwd_mask | Mux(we_q & (sub == k), (1 << bits) - 1, 0)
        fwd_q, top_q = Signal(name="r_fwd_q"), Signal(name="r_fwd_top", reset_less=True)
        fwd_staged = Signal(BUS_BITS, name="r_fwd_staged", reset_less=True)
        fwd_data = Signal(BUS_BITS, name="r_fwd_data", reset_less=True)
        mask_q = Signal(BUS_BITS, name="r_fwd_mask", reset_less=True)
        with m.If(self.r_en):        # the compares feed flip-flops, not the data's enables
            m.d.sync += [fwd_q.eq(fwd_any), top_q.eq(fwd_top), fwd_staged.eq(staged),
                         fwd_data.eq(data_q), mask_q.eq(fwd_mask)]
        self._read_out(m, hits, fwd_q, Mux(top_q, fwd_data, fwd_staged) & mask_q)
        return m

    def _staging(self, m: Module, data_q: Signal) -> dict[int, Signal]:
        """The staged sub-words, one register per sub-word count ``s`` of the regions (its
        slots ``0 .. s - 2``): every write is staged (from the registered write, one cycle
        later: before the last sub-word's commit reads it) in slot ``addr % s`` of every
        such register, no region decode; the slot enables are flip-flops."""
        staging: dict[int, Signal] = {}
        for sw in sorted({self._mmap[n].sub_words for n in REGION_ORDER} - {1}):
            sbits = (sw - 1).bit_length()
            staging[sw] = reg = Signal(BUS_BITS * (sw - 1), name=f"staging{sw}", reset_less=True)
            for k in range(sw - 1):
                we = Signal(name=f"stage{sw}_we{k}")
                m.d.sync += we.eq(self.w_en & (self.addr[:sbits] == k))
                with m.If(we):
                    m.d.sync += reg.word_select(k, BUS_BITS).eq(data_q)
        return staging

    def _read_out(self, m: Module, hits: list, fwd_q: Signal, fwd_word: Signal) -> None:
        """``r_data``: the forwarded word if the read was forwarded, else an AND-OR of every
        memory sub-word (and bank) with its select, a flip-flop loaded at the read (one-hot:
        the region, bank and sub-word read); the deepest region's terms and the forwarding
        last, in :class:`_ReadOut`."""
        mmap = self._mmap
        late = max(REGION_ORDER, key=lambda n: mmap[n].depth)
        early_terms, late_terms = [], []
        for name, (hit, sub) in zip(REGION_ORDER, hits):
            r = mmap[name]
            sources = [(getattr(self, f"{name}_rdata"), hit)]
            if name in self._split:
                hi = self.addr >= r.base + self._split[name] * r.sub_words
                sources = [(sources[0][0], hit & ~hi), (getattr(self, f"{name}_rdata1"), hit & hi)]
            for b, (data, bhit) in enumerate(sources):
                for k in range(r.sub_words):
                    sel = Signal(name=f"r_sel_{name}{b}_{k}")
                    with m.If(self.r_en):
                        m.d.sync += sel.eq(bhit & (sub == k))
                    term = (sel, _sub_word(data, r.sub_words, k))
                    if name == late:
                        late_terms.append(term)
                    else:
                        early_terms.append(term)
        # the other terms: AND-ORs of three (one LUT6 each, modules of their own), their OR
        # in two halves (one LUT each), the halves into _ReadOut's LUT
        groups = [pinned(m, f"rd_or{n}", _and_or, *(x for t in early_terms[i:i + 3] for x in t))
                  for n, i in enumerate(range(0, len(early_terms), 3))]
        half = (len(groups) + 1) // 2
        m.submodules.read_out = out = _ReadOut(len(late_terms))
        m.d.comb += [out.early[0].eq(_or(groups[:half])), out.early[1].eq(_or(groups[half:])),
                     out.fwd.eq(fwd_q), out.fwd_word.eq(fwd_word), self.r_data.eq(out.r_data)]
        for n, (sel, word) in enumerate(late_terms):
            m.d.comb += [out.take[n].eq(sel), out.data[n].eq(word)]


def _and_or(*pairs: Value) -> Value:
    """``pairs`` = select, word, select, word ...: the OR of the selected words."""
    return _or([Mux(pairs[i], pairs[i + 1], 0) for i in range(0, len(pairs), 2)])


def _or(values: list) -> Value:
    out = Const(0, BUS_BITS)
    for v in values:
        out = out | v
    return out


def _sub_word(word: Value, sub_words: int, index: Value | int) -> Value:
    """Sub-word ``index`` of ``word`` (zero-padded to ``sub_words`` bus words)."""
    pad = BUS_BITS * sub_words - len(word)
    padded = Cat(word, Const(0, pad)) if pad else word
    return padded.word_select(index, BUS_BITS) if sub_words > 1 else padded


class _ReadOut(Elaboratable):
    """``r_data = fwd ? fwd_word : early[0] | early[1] | (data[n] for each n with take[n])``:
    the last stage of the bus read, a module of its own so that the LUT mapping keeps the
    late ``data`` (a block RAM's output without register) one LUT before ``r_data``."""

    def __init__(self, n: int) -> None:
        self.early = Signal(data.ArrayLayout(BUS_BITS, 2))
        self.fwd_word = Signal(BUS_BITS)
        self.take, self.fwd = Signal(n), Signal()
        self.data = Signal(data.ArrayLayout(BUS_BITS, n))
        self.r_data = Signal(BUS_BITS)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        out = self.early[0] | self.early[1]
        for n in range(len(self.take)):
            out = out | Mux(self.take[n], self.data[n], 0)
        m.d.comb += self.r_data.eq(Mux(self.fwd, self.fwd_word, out))
        return m
