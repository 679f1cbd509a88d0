"""Per-channel affine stage of the block's row units: ``x + bias[ch]`` with ``(b, c)[ch]``
(after LayerNorm: ``n + ln_beta``; after ShiftGELU: ``g + u_off``)."""

from __future__ import annotations

from amaranth import Array, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.model.block_config import BlockConfig
from ivita.model.checks import check_int
from ivita.model.config import RequantConfig
from ivita.model.quant import LN_BETA_BITS

from ._skid import output_skid
from .tile_epilogue import const_lane_layout
from .timing import Timing

__all__ = ["RowAffine", "ln_requant_config", "gelu_requant_config"]


def ln_requant_config(cfg: BlockConfig) -> RequantConfig:
    """The one-lane requantizer after LayerNorm: 41-bit input (31-bit ``n`` + 40-bit beta)."""
    return RequantConfig(lanes=1, acc_bits=LN_BETA_BITS + 1, out_bits=cfg.a_bits,
                         mult_bits=cfg.mult_bits, max_shift=63)


def gelu_requant_config(cfg: BlockConfig) -> RequantConfig:
    """The one-lane requantizer after ShiftGELU: ``gelu_bits + sig_bits + 1`` bits in."""
    return RequantConfig(lanes=1, acc_bits=cfg.gelu_acc_bits, out_bits=cfg.a_bits,
                         mult_bits=cfg.mult_bits, max_shift=63)


class RowAffine(wiring.Component):
    """Element ``ch`` of each row (``ch`` counts from 0, back to 0 after ``last``) ->
    ``{acc: n + bias, b, c}`` from lane ``ch % cols`` of C-mem word ``const_base + ch // cols``
    (the model's ``requantize(n + ln_beta, ln_b, ln_c, a_bits)`` or ``requantize(g + u_off,
    u_b, u_c, a_bits)`` input; ``in_bits`` is the input width, ``rq`` the requantizer it
    feeds, default the LayerNorm one). One register stage, the head of a two-entry skid
    buffer (:func:`~ivita.hw._skid.output_skid`), so ``i_stream.ready`` is a function of
    registers only. The constants of the word in use
    are held in a register while the next word is prefetched, so a row streams without a
    bubble; a row that spans more than one word reloads word 0 after its last element (2
    bubble cycles, :meth:`bubbles`). ``i_stream.ready`` never depends on ``i_stream.valid``.
    """

    def __init__(self, cfg: BlockConfig, addr_bits: int = 16, *, in_bits: int = 31,
                 rq: RequantConfig | None = None) -> None:
        self._cfg = cfg
        rq = ln_requant_config(cfg) if rq is None else rq
        from .requant import requant_input_layout
        super().__init__({
            "start": In(1), "const_base": In(unsigned(addr_bits)),
            "c_addr": Out(unsigned(addr_bits)),
            "c_data": In(data.ArrayLayout(const_lane_layout(cfg), cfg.cols)),
            "i_stream": In(stream.Signature(data.StructLayout({"y": signed(in_bits),
                                                                "last": 1}))),
            "o_stream": Out(stream.Signature(requant_input_layout(rq, per_beat=True))),
        })

    def timing(self, n: int | None = None) -> Timing:
        """Rows of ``n`` elements (default ``max_dim``, a LayerNorm row): latency 1 from each
        element; a row takes ``n`` cycles, plus 2 (word 0 reloaded after its last element)
        when it spans more than one C-mem word (``n > cols``)."""
        n = self._cfg.max_dim if n is None else check_int(n, "n", 1, 65535)
        return Timing(latency=1, latency_from="first", interval=n + sum(self.bubbles(n)),
                      per="row")

    def bubbles(self, n: int) -> tuple[int, int]:
        """``(inside, after)``: the cycles a row of ``n`` elements offered back to back is held
        (``i_stream.ready`` low) between its first and last element, and after its last
        element before the next row's first may enter: ``(0, 2)`` if ``n > cols``, else
        ``(0, 0)``; with ``cols == 1`` every element is a word change, ``(n - 1, 3)``."""
        n, cols = check_int(n, "n", 1, 65535), self._cfg.cols
        if n <= cols:
            return (0, 0)
        return (n - 1, 3) if cols == 1 else (0, 2)

    def elaborate(self, platform: object) -> Module:
        m, cols = Module(), self._cfg.cols
        i, o = self.i_stream, self.o_stream
        w, lane = Signal(16), Signal(range(max(cols, 2)))
        cur = Signal.like(self.c_data, name="cur")      # constants of word w
        cur_ok = Signal()
        # while cur holds word w, the port reads word w + 1 (the next word of the row)
        m.d.comb += self.c_addr.eq(self.const_base + w + cur_ok)
        # the port's data belong to c_addr when c_addr did not move at the last edge (w and
        # cur_ok kept) and no start came (const_base is held from the cycle after start)
        moved, fresh = Signal(init=1, name="cst_moved"), Signal(name="cst_fresh")
        pre = Signal(name="cst_pre")
        m.d.sync += [moved.eq(0), fresh.eq(~self.start)]
        m.d.comb += pre.eq(fresh & ~moved)
        # lane == cols - 1, kept as a register beside lane (ready is then one LUT of flip-flops)
        boundary = Signal(name="boundary", init=int(cols == 1))
        k = Array(cur[n] for n in range(cols))[lane]
        nxt = Signal.like(o.payload, name="aff_nxt")
        m.d.comb += [nxt.last.eq(i.payload.last), nxt.acc[0].eq(i.payload.y + k.bias),
                     nxt.b[0].eq(k.b), nxt.c[0].eq(k.c)]
        accept = Signal()
        # the output is the head of a skid buffer: its enable is a register, so ready is a
        # function of registers only (no path from the requantizer's ready through here)
        en, _ = output_skid(m, o, nxt, accept & ~self.start, name="aff_skid")
        m.d.comb += [i.ready.eq(cur_ok & (~boundary | pre) & en),
                     accept.eq(i.valid & i.ready)]
        with m.If(self.start):
            m.d.sync += [w.eq(0), lane.eq(0), boundary.eq(cols == 1), o.valid.eq(0),
                         cur_ok.eq(0), moved.eq(1)]
        with m.Elif(~cur_ok):
            with m.If(pre):
                m.d.sync += [cur.eq(self.c_data), cur_ok.eq(1), moved.eq(1)]
        with m.Elif(accept):
            m.d.sync += [lane.eq(lane + 1), boundary.eq(lane + 1 == cols - 1)]
            with m.If(i.payload.last):        # the next row starts at word 0
                m.d.sync += [lane.eq(0), boundary.eq(cols == 1), w.eq(0), cur_ok.eq(w == 0),
                             moved.eq(w != 0)]
            with m.Elif(boundary):
                m.d.sync += [lane.eq(0), boundary.eq(cols == 1), w.eq(w + 1),
                             cur.eq(self.c_data), moved.eq(1)]
        return m
