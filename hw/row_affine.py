"""Per-channel affine stage of the block's row units: ``x + bias[ch]`` with ``(b, c)[ch]``
(after LayerNorm: ``n + ln_beta``; after ShiftGELU: ``g + u_off``)."""

from __future__ import annotations

from amaranth import Array, Elaboratable, Module, Mux, Signal, signed, unsigned
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
    buffer (:func:`~ivita.hw._skid.output_skid`); ``i_stream.ready`` is a flip-flop (loaded
    with its next value). The constants of the word in use are held in a register while the
    next word is prefetched, and those of the next element's lane in another (no lane
    multiplexer in front of the bias adder), so a row streams without a bubble; a row that
    spans more than one word reloads word 0 after its last element (2 bubble cycles,
    :meth:`bubbles`). ``i_stream.ready`` never depends on ``i_stream.valid``.
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
        # control and constant registers: every one is written on ``start`` before it is used
        # (the block's reset reaches the output valid alone), so none needs a reset
        w = Signal(16, name="w", reset_less=True)
        lane = Signal(range(max(cols, 2)), name="lane", reset_less=True)
        cur = Signal.like(self.c_data, name="cur", reset_less=True)  # constants of word w
        # constants of the lane the next element takes (cur[lane], kept in a register: no
        # multiplexer in front of the bias adder)
        k = Signal(const_lane_layout(self._cfg), name="aff_k", reset_less=True)
        cur_ok = Signal(name="cur_ok", reset_less=True)
        # pre: the port's data belong to c_addr, i.e. c_addr did not move at the last edge (w
        # and cur_ok kept) and no start came (const_base is held from the cycle after start)
        pre = Signal(name="cst_pre", reset_less=True)
        # lane == cols - 1, kept as a register beside lane
        boundary = Signal(name="boundary", init=int(cols == 1), reset_less=True)
        # i_stream.ready as a flip-flop, loaded with its next value: no LUT between it and the
        # enables of the unit in front
        rdy = Signal(name="aff_ready", reset_less=True)
        # while cur holds word w, the port reads word w + 1 (the next word of the row)
        m.d.comb += self.c_addr.eq(self.const_base + w + cur_ok)
        nxt = Signal.like(o.payload, name="aff_nxt")
        m.d.comb += [nxt.last.eq(i.payload.last), nxt.acc[0].eq(i.payload.y + k.bias),
                     nxt.b[0].eq(k.b), nxt.c[0].eq(k.c)]
        m.submodules.ctl = ctl = _AffineControl(cols)
        w_zero = Signal(init=1, name="w_zero", reset_less=True)     # w == 0, beside w
        m.d.comb += [ctl.start.eq(self.start), ctl.valid.eq(i.valid), ctl.rdy.eq(rdy),
                     ctl.last.eq(i.payload.last), ctl.cur_ok.eq(cur_ok), ctl.pre.eq(pre),
                     ctl.boundary.eq(boundary), ctl.lane.eq(lane), ctl.w_zero.eq(w_zero),
                     ctl.o_valid.eq(o.valid), ctl.o_ready.eq(o.ready),
                     i.ready.eq(rdy)]
        # the output is the head of a skid buffer: its enable is a register, so no path runs
        # from the requantizer's ready through here
        # (nothing is offered or held at start: the unit's previous run has ended, or a reset
        # cleared the output valid)
        en, _ = output_skid(m, o, nxt, ctl.accept, name="aff_skid")
        m.d.comb += ctl.full.eq(~en)
        m.d.sync += [cur_ok.eq(ctl.cur_ok_n), boundary.eq(ctl.boundary_n), pre.eq(ctl.pre_n),
                     rdy.eq(ctl.rdy_n)]
        with m.If(ctl.w_clr):
            m.d.sync += w_zero.eq(1)
        with m.Elif(ctl.steps):
            m.d.sync += w_zero.eq(0)
        self._step(m, w, lane, cur, k, cur_ok, boundary, ctl)
        return m

    def _step(self, m: Module, w: Signal, lane: Signal, cur: Signal, k: Signal, cur_ok: Signal,
              boundary: Signal, ctl: _AffineControl) -> None:
        """Word, lane and constants: ``k`` follows ``cur[lane]`` one cycle ahead."""
        # cur and k are not used while cur_ok is low (nor on start, which clears it), so
        # their enables need neither start nor pre
        with m.If(ctl.cur_en):
            m.d.sync += cur.eq(self.c_data)
        lanes = Array(cur[n] for n in range(self._cfg.cols))
        nxt_lane = (lane + 1)[:len(lane)]
        with m.If(ctl.k_en):
            # (the selects without accept: the data paths start from registers only)
            last = self.i_stream.payload.last
            m.d.sync += k.eq(Mux(~cur_ok | boundary & ~last, self.c_data[0],
                                 Mux(last, cur[0], lanes[nxt_lane])))
        with m.If(ctl.w_clr):               # the next row starts at word 0 (kept if w == 0)
            m.d.sync += w.eq(0)
        with m.Elif(ctl.steps):
            m.d.sync += w.eq(w + 1)
        with m.If(ctl.lane_clr):
            m.d.sync += lane.eq(0)
        with m.Elif(ctl.accept):
            m.d.sync += lane.eq(nxt_lane)


class _AffineControl(Elaboratable):
    """:class:`RowAffine`'s control, combinational from its registers: the enables and the
    next values of ``cur_ok``, ``boundary``, ``pre`` and ``i_stream.ready`` (a module of its
    own, so that LUT mapping gives these short paths their minimum depth instead of trading
    depth for area against the bias adder, the module's longest path)."""

    def __init__(self, cols: int) -> None:
        self._cols = cols
        for name in ("start", "valid", "rdy", "last", "cur_ok", "pre", "boundary", "w_zero",
                     "full", "o_valid", "o_ready", "accept", "ends", "steps", "cur_en",
                     "k_en", "w_clr", "lane_clr", "cur_ok_n", "boundary_n", "pre_n", "rdy_n"):
            setattr(self, name, Signal(name=name))
        self.lane = Signal(range(max(cols, 2)))

    def elaborate(self, platform: object) -> Module:
        m, cols = Module(), self._cols
        load = ~self.cur_ok & self.pre   # word w's constants are at the port (accept is low)
        accept, start = self.accept, self.start
        ends, steps = self.ends, self.steps
        moved_n = start | load | ends & ~self.w_zero | steps   # c_addr moves at this edge
        # output_skid's en_next (~full in the next cycle) for the element offered now
        en_n = ~Mux(self.full, ~self.o_ready, accept & self.o_valid & ~self.o_ready)
        m.d.comb += [
            accept.eq(self.valid & self.rdy),
            ends.eq(accept & self.last),
            steps.eq(accept & ~self.last & self.boundary),
            # cur and k are not used while cur_ok is low (nor on start, which clears it), so
            # their enables need neither start nor pre
            self.cur_en.eq(~self.cur_ok | steps),
            self.k_en.eq(~self.cur_ok | accept),
            self.w_clr.eq(start | ends),
            self.lane_clr.eq(start | ends | steps),
            self.cur_ok_n.eq(~start & Mux(self.cur_ok, ~ends | self.w_zero, self.pre)),
            self.boundary_n.eq(Mux(start | ends | steps, cols == 1,
                                   Mux(accept, self.lane == cols - 2 if cols > 1 else 0,
                                       self.boundary))),
            self.pre_n.eq(~start & ~moved_n),
            self.rdy_n.eq(self.cur_ok_n & (~self.boundary_n | self.pre_n) & en_n),
        ]
        return m
