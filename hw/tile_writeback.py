"""Write-back of requantized tiles into the block's memories (ROW, TRANSPOSE, RESIDUAL)."""

from __future__ import annotations

from types import SimpleNamespace

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.hdl import Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.firmware.isa import MODES
from ivita.model.block_config import BlockConfig

from ._blockutil import saturation_flags, wrap_counter
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


def _bits(n: int) -> int:
    """Bits of a counter ``0 .. n-1``."""
    return max(n - 1, 1).bit_length()


def _chain_reg(stage: int, shape: object, *, name: str) -> Signal:
    """A register of the delay chains (row, address): every third stage keeps the reset, so
    no run of three reset-less registers is left for Yosys to map to an SRL (whose slow
    output would lead the write's bank select), while most of them leave the reset's net."""
    return Signal(shape, name=name, reset_less=stage % 3 != 0)


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
    drain cycle). The row enters unsaturated (the tile buffer holds it so); the
    ``sat_bits`` saturation's flags (:func:`~ivita.hw._blockutil.saturation_flags`) are
    registered in stage 2 (stage 1 for the product's copy) and applied the stage after.
    ``finished`` and ``w_hi`` (``w_addr >= cfg.a_split``: the A-mem bank of the word) are
    registers. A row may come from the cycle after ``start``. The saturation bounds, ``row_blocks - 1``, ``col_blocks - 1`` and
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
            "w_en": Out(1), "w_addr": Out(A), "w_hi": Out(1), "w_data": Out(data.ArrayLayout(signed(ob),
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
        input (an accepted row or a drained column, not yet saturated) and its address."""
        cfg = self._cfg
        rows, cols, ob = cfg.rows, cfg.cols, cfg.out_bits
        i = self.i_stream
        draining, tiles_done = Signal(name="draining"), Signal(name="tiles_done")
        tbuf = [[_data_reg(signed(ob), name=f"tbuf_{a}_{b}") for b in range(cols)]
                for a in range(rows)]
        # saturation bounds of sat_bits, registered (sat_bits holds during an instruction)
        sat_hi = _data_reg(signed(ob + 1), name="sat_hi")
        sat_lo = _data_reg(signed(ob + 1), name="sat_lo")
        # hi = 2^(sat_bits-1) - 1, lo = -2^(sat_bits-1), bit by bit (one compare each)
        m.d.sync += [sat_hi[j].eq(self.sat_bits > j + 1) for j in range(ob)]
        m.d.sync += [sat_lo[j].eq(self.sat_bits <= j + 1) for j in range(ob + 1)]
        accept = Signal()
        m.d.comb += [i.ready.eq(~draining), accept.eq(i.valid & ~draining)]
        # the parameters hold from the cycle after start: the counters of row_blocks and
        # col_blocks load then (start_q; a row of that cycle counts); mode is registered
        # (row_mode); draining only in TRANSPOSE, so a row mode's accept is i.valid
        start_q, row_mode = _data_reg(name="start_q"), _data_reg(name="row_mode")
        m.d.sync += [start_q.eq(self.start), row_mode.eq(self.mode != TRANSPOSE)]
        r, last_r = wrap_counter(m, rows, self.start, accept, width=_bits(rows), name="wb_r")
        j, last_j = wrap_counter(m, cols, self.start, draining, width=_bits(cols), name="wb_j")
        row_step = Signal()
        m.d.comb += row_step.eq(i.valid & row_mode)
        # a tile ends with its last row (ROW/RESIDUAL) or its last drained column
        tile_end = Signal()
        m.d.comb += tile_end.eq((row_step & last_r) | (draining & last_j))
        _, last_rb = wrap_counter(m, self.row_blocks, start_q, tile_end, width=8, name="wb_rb")
        _, last_cb = wrap_counter(m, self.col_blocks, start_q, tile_end & last_rb, width=8,
                                  name="wb_cb")
        # the flags keep their reset; start clears them through D (not a second reset)
        dr_next, td_next = Signal(), Signal()
        m.d.comb += [
            dr_next.eq(((draining & ~last_j) | (accept & last_r & ~row_mode)) & ~self.start),
            td_next.eq((tiles_done | (tile_end & last_rb & last_cb)) & ~self.start),
        ]
        # a reset-less copy of draining steers the data (a cell of another kind: not merged)
        drain_sel = _data_reg(name="drain_sel")
        m.d.sync += [draining.eq(dr_next), tiles_done.eq(td_next), drain_sel.eq(dr_next)]
        # the tile buffer takes row r of every tile (read only by the drain that follows)
        for a in range(rows):
            with m.If(accept & (r == a)):
                m.d.sync += [tbuf[a][n].eq(i.payload.q[n]) for n in range(cols)]
        # stage 1 input: either an accepted row (ROW/RESIDUAL) or a drained column
        v0 = Signal()
        lanes0 = [Signal(signed(ob), name=f"l0_{n}") for n in range(cols)]
        m.d.comb += v0.eq(row_step | draining)
        col_sel = [Array(tbuf[a]) for a in range(rows)]
        for n in range(cols):
            m.d.comb += lanes0[n].eq(Mux(drain_sel, col_sel[n][j], i.payload.q[n]))
        addr0 = self._addresses(m, self.start, draining, row_step, last_r, last_j, last_rb)
        return SimpleNamespace(sat_hi=sat_hi, sat_lo=sat_lo, lanes0=lanes0, v0=v0,
                               addr0=addr0, dr_next=dr_next, td_next=td_next,
                               v1_next=v0 & ~self.start, q=i.payload.q)

    def _addresses(self, m: Module, clear: Value, draining: Value, row_step: Value,
                   last_r: Value, last_j: Value, last_rb: Value) -> Value:
        """The word address of stage 1: ``dst_base`` plus an offset register stepped by one
        adder per row, column or tile (no multiplier). The offsets are reset-less, cleared by
        ``clear`` (``start``): ra = (rb*rows + r)*s_row + cb*s_col (ROW/RESIDUAL), coff = cb*s_col;
        ta = (cb*cols + j)*s_row + rb*s_col (a drained column), tstart = ta at j = 0,
        cbase = cb*cols*s_row."""
        A = len(self.w_addr)
        ra, coff, ta, tstart, cbase, s_row_cols = (
            _data_reg(A, name=x) for x in ("ra", "coff", "ta", "tstart", "cbase", "s_row_cols"))
        m.d.sync += s_row_cols.eq(self.s_row * self._cfg.cols)
        addr0 = Signal.like(self.w_addr)
        m.d.comb += [addr0.eq(self.dst_base + Mux(draining, ta, ra)), self.x_addr.eq(addr0)]
        # ra and coff matter only in a row mode, ta, tstart and cbase only in TRANSPOSE (mode
        # holds for the instruction): each steps on its mode's events alone
        with m.If(clear):
            m.d.sync += [ra.eq(0), coff.eq(0), ta.eq(0), tstart.eq(0), cbase.eq(0)]
        with m.Else():
            with m.If(row_step):
                m.d.sync += ra.eq(Mux(last_r & last_rb, coff + self.s_col, ra + self.s_row))
                with m.If(last_r & last_rb):
                    m.d.sync += coff.eq(coff + self.s_col)
            with m.If(draining):
                with m.If(~last_j):
                    m.d.sync += ta.eq(ta + self.s_row)
                with m.Elif(last_rb):
                    m.d.sync += [cbase.eq(cbase + s_row_cols), tstart.eq(cbase + s_row_cols),
                                 ta.eq(cbase + s_row_cols)]
                with m.Else():
                    m.d.sync += [tstart.eq(tstart + self.s_col), ta.eq(tstart + self.s_col)]
        return addr0

    def _saturate(self, m: Module, pre: Value, val: Value, hi: Value, lo: Value,
                  name: str) -> Value:
        """``val`` (the register of ``pre``) saturated by the bounds ``hi``/``lo``: the flags
        of :func:`saturation_flags` are registered from ``pre`` beside ``val``, then one
        multiplexer."""
        ob = self._cfg.out_bits
        gt, lt = _data_reg(name=f"{name}_gt"), _data_reg(name=f"{name}_lt")
        m.d.sync += [x.eq(e) for x, e in zip((gt, lt), saturation_flags(pre, hi, lo, ob))]
        return Mux(gt, hi[:ob], Mux(lt, lo[:ob], val))

    def _stages(self, m: Module, f: SimpleNamespace) -> None:
        """Stages 1..9 behind :meth:`_tiles`; drives ``w_en``, ``w_addr``, ``w_data`` and
        ``finished``."""
        cfg = self._cfg
        cols, ob, mb = cfg.cols, cfg.out_bits, cfg.mult_bits
        sat_hi, sat_lo, lanes0 = f.sat_hi, f.sat_lo, f.lanes0
        # stages 1..9: x read (and saturation), x register, products (M, P), shifts, rounded
        # terms, sum, compares, the registered write
        L = WB_LATENCY
        pb = ob + mb + 1
        v = [Signal(name=f"v{s}") for s in range(1, L + 1)]
        ad = [_chain_reg(s, len(self.w_addr), name=f"addr{s}") for s in range(1, L + 1)]
        m.d.sync += [v[0].eq(f.v1_next), ad[0].eq(f.addr0)]
        m.d.sync += [v[s].eq(v[s - 1]) for s in range(1, L)]
        m.d.sync += [ad[s].eq(ad[s - 1]) for s in range(1, L)]
        resid = _data_reg(name="resid_mode")
        m.d.sync += resid.eq(self.mode == RESIDUAL)
        for n in range(cols):
            k = self.res_const[n]
            # y[s-1]: stage s; the row enters unsaturated (stage 1), stage 2 registers its
            # saturation flags, y3 is saturated to sat_bits
            y = [_chain_reg(s, signed(ob), name=f"y{s}_{n}") for s in range(1, L)]
            m.d.sync += [y[0].eq(lanes0[n]), y[1].eq(y[0]),
                         y[2].eq(self._saturate(m, y[0], y[1], sat_hi, sat_lo, f"y{n}"))]
            m.d.sync += [y[s].eq(y[s - 1]) for s in range(3, L - 1)]
            # the product's own copy of the row (stages 1, 2): straight from the input,
            # without the drain multiplexer (only RESIDUAL, a row mode, uses the product);
            # saturated at stage 2 with the flags of stage 1
            yd = [_data_reg(signed(ob), name=f"yd{s}_{n}") for s in range(1, 3)]
            m.d.sync += [yd[0].eq(f.q[n]),
                         yd[1].eq(self._saturate(m, f.q[n], yd[0], sat_hi, sat_lo, f"yd{n}"))]
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
        # finished is a register: its value of the next cycle from the next-state signals
        fin, hi = Signal(name="wb_finished"), _data_reg(name="w_hi")
        m.d.sync += [fin.eq(f.td_next & ~f.dr_next & ~f.v1_next & ~Cat(*v[:L - 1]).any()),
                     hi.eq(ad[L - 2] >= cfg.a_split)]
        m.d.comb += [self.w_en.eq(v[L - 1]), self.w_addr.eq(ad[L - 1]), self.w_hi.eq(hi),
                     self.finished.eq(fin)]
