"""Host bus of the attention block: 32-bit word-addressed access to its memories."""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.hdl import Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ivita.firmware.memory_map import BUS_BITS, REGION_ORDER, MemoryMap

from .timing import Timing

__all__ = ["BlockBus"]


class BlockBus(wiring.Component):
    """Decodes ``addr`` against the :func:`~ivita.firmware.memory_map.memory_map` regions.

    Write (``w_en`` in cycle ``t``): every write's data is staged (at the end of ``t``) in one
    shared register, in the 32-bit slot given by the address's low bits (no region decode: a
    word's sub-words are aligned, so they fill consecutive slots; the host writes a word's
    sub-words one after the other, the last one last); a write to a word's last sub-word is
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
    ignore writes. The region of the read is registered one-hot; the deepest region (the
    memory Yosys maps to block RAM first) is multiplexed last, in a submodule of its own
    (:class:`_ReadOut`), one LUT after its read data.
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
        sub_bits = (max_sub - 1).bit_length()
        staging = Signal(max(BUS_BITS * (max_sub - 1), 1), reset_less=True)
        # the registered write: its address and data (the region's enable is registered below)
        addr_q = Signal.like(self.addr, name="w_addr_q", reset_less=True)
        data_q = Signal(BUS_BITS, name="w_data_q", reset_less=True)
        m.d.sync += [addr_q.eq(self.addr), data_q.eq(self.w_data)]
        if max_sub > 1:
            with m.If(self.w_en):
                m.d.sync += staging.word_select(self.addr[:sub_bits], BUS_BITS).eq(self.w_data)
        # the read: its region (one-hot), sub-word index and whether it hits the word landing
        # now (the memory reads the old value): then r_data is the word written, rebuilt from
        # copies of the staging register and the write's data taken with the read
        hit_q = Signal(len(REGION_ORDER), name="r_hit_q")
        sub_q = Signal(max(sub_bits, 1), name="r_sub_q", reset_less=True)
        fwd_q = Signal(name="r_fwd_q")
        fwd_stage = Signal.like(staging, name="r_fwd_stage", reset_less=True)
        fwd_dq = Signal(BUS_BITS, name="r_fwd_dq", reset_less=True)
        fwd_any = Value.cast(0)
        hits = []
        for name in REGION_ORDER:
            r = mmap[name]
            assert r.base % r.size == 0, f"region {name} at {r.base} is not aligned to {r.size}"
            sw = r.sub_words
            sbits = (sw - 1).bit_length()
            hit = (self.addr >= r.base) & (self.addr < r.base + r.depth * sw)
            sub = self.addr[:sbits] if sbits else 0
            we_q = Signal(name=f"{name}_we_q")
            m.d.sync += we_q.eq(self.w_en & hit & (sub == sw - 1))
            wide = Cat(_staged(staging, sw, addr_q, sub_bits), data_q) if sw > 1 else data_q
            m.d.comb += [getattr(self, f"{name}_waddr").eq(addr_q[sbits:]),
                         getattr(self, f"{name}_raddr").eq(self.addr[sbits:]),
                         getattr(self, f"{name}_wdata").eq(wide),
                         getattr(self, f"{name}_we").eq(we_q),
                         getattr(self, f"{name}_re").eq(self.r_en)]
            hits.append(hit)
            fwd_any = fwd_any | (we_q & (self.addr[sbits:] == addr_q[sbits:]))
        with m.If(self.r_en):        # the compares feed flip-flops, not the data's enables
            m.d.sync += [hit_q.eq(Cat(*hits)), sub_q.eq(self.addr[:sub_bits] if sub_bits else 0),
                         fwd_q.eq(fwd_any), fwd_stage.eq(staging), fwd_dq.eq(data_q)]
        self._read_out(m, hit_q, sub_q, fwd_q, fwd_stage, fwd_dq)
        return m

    def _read_out(self, m: Module, hit_q: Signal, sub_q: Signal, fwd_q: Signal,
                  fwd_stage: Signal, fwd_dq: Signal) -> None:
        """``r_data``: the addressed sub-word of the region read (or of the word forwarded),
        the deepest region's memory data last (:class:`_ReadOut`)."""
        mmap = self._mmap
        late = max(range(len(REGION_ORDER)), key=lambda i: mmap[REGION_ORDER[i]].depth)
        early = Value.cast(0)
        slots = len(fwd_stage) // BUS_BITS + 1
        staged = Cat(fwd_stage, Const(0, BUS_BITS)).word_select(sub_q, BUS_BITS) \
            if slots > 1 else Const(0, BUS_BITS)
        for idx, name in enumerate(REGION_ORDER):
            r = mmap[name]
            sw = r.sub_words
            sbits = (sw - 1).bit_length()
            index = sub_q[:sbits] if sbits else 0
            # the forwarded sub-word: the write's data if it is the last, else the slot it
            # was staged in (the read's own address bits)
            top = _sub_word(fwd_dq[:r.word_bits - BUS_BITS * (sw - 1)], 1, 0)
            fwd = Mux(index == sw - 1, top, staged) if sw > 1 else top
            early = early | Mux(hit_q[idx] & fwd_q, fwd, 0)
            if idx != late:
                early = early | Mux(hit_q[idx] & ~fwd_q,
                                    _sub_word(getattr(self, f"{name}_rdata"), sw, index), 0)
        lr = mmap[REGION_ORDER[late]]
        lbits = (lr.sub_words - 1).bit_length()
        m.submodules.read_out = out = _ReadOut(lr.word_bits, lr.sub_words)
        m.d.comb += [out.early.eq(early), out.take.eq(hit_q[late] & ~fwd_q),
                     out.data.eq(getattr(self, f"{REGION_ORDER[late]}_rdata")),
                     out.index.eq(sub_q[:lbits] if lbits else 0), self.r_data.eq(out.r_data)]


def _staged(staging: Value, sw: int, addr: Value, sub_bits: int) -> Value:
    """The staged sub-words ``0 .. sw - 2`` of the word at ``addr`` (its slots in ``staging``,
    ``sw`` of them from slot ``addr[sbits:sub_bits] * sw``; the last slot is never staged)."""
    sbits = (sw - 1).bit_length()
    slots = len(staging) // BUS_BITS + 1
    full = Cat(staging, Const(0, BUS_BITS))
    block = full.word_select(addr[sbits:sub_bits], BUS_BITS * sw) if slots > sw else full
    return block[:BUS_BITS * (sw - 1)]


def _sub_word(word: Value, sub_words: int, index: Value | int) -> Value:
    """Sub-word ``index`` of ``word`` (zero-padded to ``sub_words`` bus words)."""
    pad = BUS_BITS * sub_words - len(word)
    padded = Cat(word, Const(0, pad)) if pad else word
    return padded.word_select(index, BUS_BITS) if sub_words > 1 else padded


class _ReadOut(wiring.Component):
    """``r_data = take ? sub-word index of data : early``: the last multiplexer of the bus read,
    a module of its own so that the LUT mapping keeps the late ``data`` (a block RAM's output
    without register) one LUT before ``r_data``."""

    def __init__(self, word_bits: int, sub_words: int) -> None:
        self._sub = sub_words
        super().__init__({"early": In(BUS_BITS), "take": In(1), "data": In(word_bits),
                          "index": In(max((sub_words - 1).bit_length(), 1)),
                          "r_data": Out(BUS_BITS)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        sbits = (self._sub - 1).bit_length()
        word = _sub_word(self.data, self._sub, self.index[:sbits] if sbits else 0)
        m.d.comb += self.r_data.eq(Mux(self.take, word, self.early))
        return m
