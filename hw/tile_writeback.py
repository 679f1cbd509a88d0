"""Write-back of requantized tiles into the block's memories (ROW, TRANSPOSE, RESIDUAL)."""

from __future__ import annotations

from amaranth import Array, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.firmware.isa import MODES
from ivita.model.block_config import BlockConfig

from ._blockutil import clamp, round_shift_expr
from .requant import requant_output_layout
from .tile_epilogue import const_lane_layout, matmul_requant_config
from .timing import Timing

__all__ = ["TileWriteBack"]

ROW, TRANSPOSE, RESIDUAL = MODES["ROW"], MODES["TRANSPOSE"], MODES["RESIDUAL"]


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

    Pipeline: accept -> x read -> products -> rounded terms -> write (``w_en`` 3 cycles after
    the row is accepted, or after its drain cycle). ``finished``: every tile of
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
        """``ROW``/``RESIDUAL``: the word write (``w_en``) 3 cycles after the row is accepted,
        one row per cycle (``TRANSPOSE``: ``rows`` rows per ``rows + cols`` cycles, covered by
        :meth:`ivita.hw.attention.AttentionBlock.matmul_cycles`). ``n`` is ignored."""
        return Timing(latency=3, latency_from="first", interval=1, per="vector")

    def elaborate(self, platform: object) -> Module:
        cfg, m = self._cfg, Module()
        rows, cols, ob, mb = cfg.rows, cfg.cols, cfg.out_bits, cfg.mult_bits
        i = self.i_stream
        r, j = Signal(range(max(rows, 2))), Signal(range(max(cols, 2)))
        rb, cb = Signal(8), Signal(8)
        draining, tiles_done = Signal(), Signal()
        tbuf = [[Signal(signed(ob), name=f"tbuf_{a}_{b}") for b in range(cols)]
                for a in range(rows)]
        ys = [clamp(m, i.payload.q[n], self.sat_bits, ob, f"y{n}") for n in range(cols)]
        accept = Signal()
        m.d.comb += [i.ready.eq(~draining), accept.eq(i.valid & ~draining)]

        # stage 1 input: either an accepted row (ROW/RESIDUAL) or a drained column
        v0 = Signal()
        addr0 = Signal.like(self.w_addr)
        lanes0 = [Signal(signed(ob), name=f"l0_{n}") for n in range(cols)]
        row_mode = self.mode != TRANSPOSE
        line_row = rb * rows + r
        line_col = cb * cols + j
        m.d.comb += [
            v0.eq((accept & row_mode) | draining),
            addr0.eq(Mux(draining, self.dst_base + line_col * self.s_row + rb * self.s_col,
                         self.dst_base + line_row * self.s_row + cb * self.s_col)),
            self.x_addr.eq(addr0),
        ]
        col_sel = [Array(tbuf[a]) for a in range(rows)]
        for n in range(cols):
            m.d.comb += lanes0[n].eq(Mux(draining, col_sel[n][j], ys[n]))

        def next_tile() -> None:
            m.d.sync += rb.eq(rb + 1)
            with m.If(rb == self.row_blocks - 1):
                m.d.sync += [rb.eq(0), cb.eq(cb + 1)]
                with m.If(cb == self.col_blocks - 1):
                    m.d.sync += tiles_done.eq(1)

        with m.If(self.start):
            m.d.sync += [r.eq(0), j.eq(0), rb.eq(0), cb.eq(0), draining.eq(0),
                         tiles_done.eq(0)]
        with m.Elif(draining):
            m.d.sync += j.eq(j + 1)
            with m.If(j == cols - 1):
                m.d.sync += [j.eq(0), draining.eq(0)]
                next_tile()
        with m.Elif(accept):
            for a in range(rows):
                with m.If(r == a):
                    m.d.sync += [tbuf[a][n].eq(ys[n]) for n in range(cols)]
            m.d.sync += r.eq(r + 1)
            with m.If(r == rows - 1):
                m.d.sync += r.eq(0)
                with m.If(row_mode):
                    next_tile()
                with m.Else():
                    m.d.sync += draining.eq(1)

        # stages 1..3 (x read and residual arithmetic), then the write
        pb = ob + mb + 1
        v = [Signal(name=f"v{s}") for s in range(1, 4)]
        ad = [Signal.like(self.w_addr, name=f"addr{s}") for s in range(1, 4)]
        y1 = [Signal(signed(ob), name=f"y1_{n}") for n in range(cols)]
        y2 = [Signal(signed(ob), name=f"y2_{n}") for n in range(cols)]
        px = [Signal(signed(pb), name=f"px{n}") for n in range(cols)]
        py = [Signal(signed(pb), name=f"py{n}") for n in range(cols)]
        s3 = [Signal(signed(pb + 1), name=f"s3_{n}") for n in range(cols)]
        y3 = [Signal(signed(ob), name=f"y3_{n}") for n in range(cols)]
        m.d.sync += [v[0].eq(v0 & ~self.start), v[1].eq(v[0]), v[2].eq(v[1]),
                     ad[0].eq(addr0), ad[1].eq(ad[0]), ad[2].eq(ad[1])]
        for n in range(cols):
            k = self.res_const[n]
            m.d.sync += [y1[n].eq(lanes0[n]), y2[n].eq(y1[n]), y3[n].eq(y2[n]),
                         px[n].eq(self.x_data[n] * k.b), py[n].eq(y1[n] * k.b2),
                         s3[n].eq(round_shift_expr(px[n], k.c) + round_shift_expr(py[n], k.c2))]
            res = clamp(m, s3[n], self.sat_bits, ob, f"res{n}")
            m.d.comb += self.w_data[n].eq(Mux(self.mode == RESIDUAL, res, y3[n]))
        m.d.comb += [self.w_en.eq(v[2]), self.w_addr.eq(ad[2]),
                     self.finished.eq(tiles_done & ~v[0] & ~v[1] & ~v[2] & ~draining)]
        return m
