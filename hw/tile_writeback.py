"""Write-back of requantized tiles into the block's memories (ROW, TRANSPOSE, RESIDUAL)."""

from __future__ import annotations

from types import SimpleNamespace

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.firmware.isa import MODES
from ivita.model.block_config import BlockConfig

from ._blockutil import clamp_to
from .requant import requant_output_layout
from .tile_epilogue import const_lane_layout, matmul_requant_config
from .timing import Timing

__all__ = ["TileWriteBack", "WB_LATENCY"]

ROW, TRANSPOSE, RESIDUAL = MODES["ROW"], MODES["TRANSPOSE"], MODES["RESIDUAL"]

#: Cycles from a row accepted (or drained) to its ``w_en``: the x read, its register, the
#: two DSP48 stages of the products (M, P), the rounding shifts, the rounded terms, their
#: sum, the saturation compares, the registered output.
WB_LATENCY = 9



def _data_reg(shape: object = 1, *, name: str) -> Signal:
    """A data register without reset (the valid bits and counters carry the reset; the reset
    then fans out to few flip-flops)."""
    return Signal(shape, name=name, reset_less=True)


class TileWriteBack(wiring.Component):
    """Writes the requantizer's output rows (tile order ``cb`` outer, ``rb`` inner) to memory.

    Every lane is first saturated to the runtime ``sat_bits`` (``saturate(q, sat_bits)``; the
    requantizer saturates to the widest code, so this equals ``requantize(.., sat_bits)``).

    - ``ROW``: tile row ``r`` -> word ``dst_base + (rb*rows + r)*s_row + cb*s_col``.
    - ``TRANSPOSE``: the tile is collected in a ``rows x cols`` register buffer, then column
      ``j`` (``rows`` lanes) -> word ``dst_base + (cb*cols + j)*s_row + rb*s_col``;
      ``i_stream.ready`` is low during the ``cols`` drain cycles.
    - ``RESIDUAL``: as ``ROW``, but lane value ``y`` becomes ``residual_add(x, rx_b, rx_c, y,
      ry_b, ry_c, sat_bits)`` (:func:`ivita.model.residual_add`) with ``x`` read from the
      destination word (R-mem, ``x_addr``/``x_data``, one-cycle read) and the pairs from
      ``res_const`` (``(b, c)`` and ``(b2, c2)`` of each lane).

    Pipeline (:data:`WB_LATENCY` = 9 stages, one carry chain or DSP stage each): accept ->
    x read -> x register -> products (M, P) -> shifts -> rounded terms -> sum -> saturation
    compares -> registered write (``w_en`` 9 cycles after the row is accepted, or after its
    drain cycle). The saturation bounds, ``row_blocks - 1``, ``col_blocks - 1`` and
    ``cols * s_row`` are registered from the parameters (held from the cycle after ``start``
    for the whole instruction); the word address is ``dst_base`` plus an offset register
    stepped by one adder per row, column or tile (no multiplier before the memory). ``finished``: every tile of
    ``row_blocks x col_blocks`` written. Throughput: one row per cycle (``ROW``, ``RESIDUAL``),
    ``rows`` rows per ``rows + cols`` cycles (``TRANSPOSE``).
    """

    def __init__(self, cfg: BlockConfig, addr_bits: int = 16) -> None:
        self._cfg = cfg
        rq = matmul_requant_config(cfg)
        A = unsigned(addr_bits)
        ob = cfg.out_bits
        super().__init__({
            "start": In(1), "finished": Out(1),
            "mode": In(2), "row_blocks": In(8), "col_blocks": In(8), "dst_base": In(A),
            "s_row": In(A), "s_col": In(A), "sat_bits": In(6),
            "res_const": In(data.ArrayLayout(const_lane_layout(cfg), cfg.cols)),
            "i_stream": In(stream.Signature(requant_output_layout(rq))),
            "x_addr": Out(A), "x_data": In(data.ArrayLayout(signed(cfg.resid_bits), cfg.cols)),
            "w_en": Out(1), "w_addr": Out(A), "w_data": Out(data.ArrayLayout(signed(ob),
                                                                            cfg.cols)),
        })

    def timing(self, n: int | None = None) -> Timing:
        """``ROW``/``RESIDUAL``: the word write (``w_en``) :data:`WB_LATENCY` = 9 cycles after
        the row is accepted,
        one row per cycle (``TRANSPOSE``: ``rows`` rows per ``rows + cols`` cycles, covered by
        :meth:`ivita.hw.attention.AttentionBlock.matmul_cycles`). ``n`` is ignored."""
        return Timing(latency=WB_LATENCY, latency_from="first", interval=1, per="vector")

    def elaborate(self, platform: object) -> Module:
        m = Module()
        front = self._tiles(m)
        self._stages(m, front)
        return m

    def _tiles(self, m: Module) -> SimpleNamespace:
        """The saturation bounds, the tile buffer and the tile/row/column stepping: stage 1's
        input (an accepted row or a drained column) and its address."""
        cfg = self._cfg
        rows, cols, ob = cfg.rows, cfg.cols, cfg.out_bits
        i = self.i_stream
        r, j = Signal(range(max(rows, 2))), Signal(range(max(cols, 2)))
        rb, cb = Signal(8), Signal(8)
        draining, tiles_done = Signal(), Signal()
        tbuf = [[_data_reg(signed(ob), name=f"tbuf_{a}_{b}") for b in range(cols)]
                for a in range(rows)]
        # saturation bounds of sat_bits, registered (sat_bits holds during an instruction)
        sat_hi = _data_reg(signed(ob + 1), name="sat_hi")
        sat_lo = _data_reg(signed(ob + 1), name="sat_lo")
        # hi = 2^(sat_bits-1) - 1, lo = -2^(sat_bits-1), bit by bit (one compare each)
        m.d.sync += [sat_hi[j].eq(self.sat_bits > j + 1) for j in range(ob)]
        m.d.sync += [sat_lo[j].eq(self.sat_bits <= j + 1) for j in range(ob + 1)]
        ys = [clamp_to(m, i.payload.q[n], sat_hi, sat_lo, ob, f"y{n}") for n in range(cols)]
        accept = Signal()
        m.d.comb += [i.ready.eq(~draining), accept.eq(i.valid & ~draining)]

        # stage 1 input: either an accepted row (ROW/RESIDUAL) or a drained column
        v0 = Signal()
        addr0 = Signal.like(self.w_addr)
        lanes0 = [Signal(signed(ob), name=f"l0_{n}") for n in range(cols)]
        row_mode = self.mode != TRANSPOSE
        # the address offsets from dst_base, registers stepped by one adder each (no
        # multiplier): ra = (rb*rows + r)*s_row + cb*s_col (ROW/RESIDUAL), coff = cb*s_col;
        # ta = (cb*cols + j)*s_row + rb*s_col (a drained column), tstart = ta at j = 0,
        # cbase = cb*cols*s_row
        A = len(self.w_addr)
        ra, coff, ta, tstart, cbase, s_row_cols = (
            Signal(A, name=x) for x in ("ra", "coff", "ta", "tstart", "cbase", "s_row_cols"))
        m.d.sync += s_row_cols.eq(self.s_row * cols)
        m.d.comb += [
            v0.eq((accept & row_mode) | draining),
            addr0.eq(self.dst_base + Mux(draining, ta, ra)),
            self.x_addr.eq(addr0),
        ]
        col_sel = [Array(tbuf[a]) for a in range(rows)]
        for n in range(cols):
            m.d.comb += lanes0[n].eq(Mux(draining, col_sel[n][j], ys[n]))

        rb_end, cb_end = Signal(8), Signal(8)             # row_blocks - 1, col_blocks - 1
        m.d.sync += [rb_end.eq(self.row_blocks - 1), cb_end.eq(self.col_blocks - 1)]

        def next_tile() -> None:
            m.d.sync += [rb.eq(rb + 1), tstart.eq(tstart + self.s_col),
                         ta.eq(tstart + self.s_col)]
            with m.If(rb == rb_end):
                m.d.sync += [rb.eq(0), cb.eq(cb + 1), coff.eq(coff + self.s_col),
                             ra.eq(coff + self.s_col), cbase.eq(cbase + s_row_cols),
                             tstart.eq(cbase + s_row_cols), ta.eq(cbase + s_row_cols)]
                with m.If(cb == cb_end):
                    m.d.sync += tiles_done.eq(1)

        with m.If(self.start):
            m.d.sync += [r.eq(0), j.eq(0), rb.eq(0), cb.eq(0), draining.eq(0),
                         tiles_done.eq(0), ra.eq(0), coff.eq(0), ta.eq(0), tstart.eq(0),
                         cbase.eq(0)]
        with m.Elif(draining):
            m.d.sync += [j.eq(j + 1), ta.eq(ta + self.s_row)]
            with m.If(j == cols - 1):
                m.d.sync += [j.eq(0), draining.eq(0)]
                next_tile()
        with m.Elif(accept):
            for a in range(rows):
                with m.If(r == a):
                    m.d.sync += [tbuf[a][n].eq(ys[n]) for n in range(cols)]
            m.d.sync += r.eq(r + 1)
            with m.If(row_mode):
                m.d.sync += ra.eq(ra + self.s_row)
            with m.If(r == rows - 1):
                m.d.sync += r.eq(0)
                with m.If(row_mode):
                    next_tile()
                with m.Else():
                    m.d.sync += draining.eq(1)
        return SimpleNamespace(sat_hi=sat_hi, sat_lo=sat_lo, ys=ys, lanes0=lanes0, v0=v0,
                               addr0=addr0, draining=draining, tiles_done=tiles_done)

    def _stages(self, m: Module, f: SimpleNamespace) -> None:
        """Stages 1..9 behind :meth:`_tiles`; drives ``w_en``, ``w_addr``, ``w_data`` and
        ``finished``."""
        cfg = self._cfg
        cols, ob, mb = cfg.cols, cfg.out_bits, cfg.mult_bits
        sat_hi, sat_lo, ys, lanes0 = f.sat_hi, f.sat_lo, f.ys, f.lanes0
        # stages 1..9: x read, x register, products (M, P), shifts, rounded terms, sum,
        # compares, the registered write
        L = WB_LATENCY
        pb = ob + mb + 1
        v = [Signal(name=f"v{s}") for s in range(1, L + 1)]
        ad = [Signal.like(self.w_addr, name=f"addr{s}") for s in range(1, L + 1)]
        m.d.sync += [v[0].eq(f.v0 & ~self.start), ad[0].eq(f.addr0)]
        m.d.sync += [v[s].eq(v[s - 1]) for s in range(1, L)]
        m.d.sync += [ad[s].eq(ad[s - 1]) for s in range(1, L)]
        resid = Signal(name="resid_mode")
        m.d.sync += resid.eq(self.mode == RESIDUAL)
        for n in range(cols):
            k = self.res_const[n]
            # (y and the addresses keep their reset: reset-less, Yosys maps the chains to SRLs,
            # whose slow output then leads the write's bank select)
            y = [Signal(signed(ob), name=f"y{s}_{n}") for s in range(1, L)]   # y[s-1]: stage s
            m.d.sync += [y[0].eq(lanes0[n])] + [y[s].eq(y[s - 1]) for s in range(1, L - 1)]
            # the product's own copy of the row (stages 1, 2): straight from the saturation,
            # without the drain multiplexer (only RESIDUAL, a row mode, uses the product)
            yd = [_data_reg(signed(ob), name=f"yd{s}_{n}") for s in range(1, 3)]
            m.d.sync += [yd[0].eq(ys[n]), yd[1].eq(yd[0])]
            xq = _data_reg(signed(cfg.resid_bits), name=f"xq{n}")            # stage 2
            mx, my = _data_reg(signed(pb), name=f"mx{n}"), _data_reg(signed(pb), name=f"my{n}")
            px, py = _data_reg(signed(pb), name=f"px{n}"), _data_reg(signed(pb), name=f"py{n}")
            tx, ty = (_data_reg(signed(pb + 1), name=f"{x}{n}") for x in ("tx", "ty"))
            rx, ry = (_data_reg(signed(pb + 1), name=f"{x}{n}") for x in ("rx", "ry"))
            sm = _data_reg(signed(pb + 2), name=f"s{n}")
            gt, lt = _data_reg(name=f"gt{n}"), _data_reg(name=f"lt{n}")
            sq = _data_reg(signed(ob), name=f"sq{n}")
            out = _data_reg(signed(ob), name=f"w{n}")
            m.d.sync += [
                xq.eq(self.x_data[n]),                                       # 2
                mx.eq(xq * k.b), my.eq(yd[1] * k.b2),                        # 3 (M)
                px.eq(mx), py.eq(my),                                        # 4 (P)
                tx.eq(Cat(Const(0, 1), px).as_signed() >> k.c),              # 5
                ty.eq(Cat(Const(0, 1), py).as_signed() >> k.c2),
                rx.eq((tx + 1) >> 1), ry.eq((ty + 1) >> 1),                  # 6
                sm.eq(rx + ry),                                              # 7
                gt.eq(sm > sat_hi), lt.eq(sm < sat_lo), sq.eq(sm[:ob]),      # 8
                out.eq(Mux(resid, Mux(gt, sat_hi, Mux(lt, sat_lo, sq)), y[L - 2])),   # 9
            ]
            m.d.comb += self.w_data[n].eq(out)
        m.d.comb += [self.w_en.eq(v[L - 1]), self.w_addr.eq(ad[L - 1]),
                     self.finished.eq(f.tiles_done & ~Cat(*v).any() & ~f.draining)]
