"""Operand sequencer of the attention block: streams A-mem and B-mem words into the array."""

from __future__ import annotations

from amaranth import Module, Mux, Signal, unsigned
from amaranth.hdl import Value
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ivita.model.block_config import BlockConfig
from ivita.model.checks import check_int

from ._blockutil import wrap_counter
from .array import array_input_layout
from .timing import Timing

__all__ = ["TileSequencer", "SEQ_LATENCY"]

#: Cycles from ``start`` to the first beat: the parameters are loaded into the address
#: registers the cycle after ``start``, the first read the cycle after, its data the next.
SEQ_LATENCY = 3


class TileSequencer(wiring.Component):
    """For every output tile ``(rb, cb)`` (``cb`` outer, ``rb`` inner) and ``k = 0..K-1``:
    one array beat ``a = A-mem[a_base + rb*a_stride + k]``, ``b = B-mem[b_base + cb*b_stride +
    k]``, ``last`` on ``k = K-1`` (the memory words are already in the array's lane layout).

    ``start`` (one cycle) begins a run of ``row_blocks * col_blocks * k`` beats; the
    parameters are read from the cycle after ``start`` (the block latches the instruction on
    ``start``) and must stay stable until ``busy`` falls. The addresses are registers stepped
    by one adder each (``+ 1``, ``+ a_stride`` at a new row block, ``+ b_stride`` at a new
    column block), so no multiplier sits before the memories. Both read ports have a latency
    of one cycle; their read registers are the head of a two-entry skid buffer (a
    ``spare`` register takes their beat when a new read would overwrite it in a stall),
    so ``rd_en`` is ``running & ~full``, kept as a register of its own, as is ``busy``
    (``o_stream.ready`` does not reach the memories' enables). Throughput: one beat per cycle while ``o_stream.ready``; the
    first beat is valid :data:`SEQ_LATENCY` = 3 cycles after ``start``. Back-pressure:
    ``o_stream`` stalls the sequencer, nothing is lost.
    """

    def __init__(self, cfg: BlockConfig, addr_bits: int = 16) -> None:
        self._cfg = cfg
        A = unsigned(addr_bits)
        super().__init__({
            "start": In(1), "busy": Out(1),
            "a_base": In(A), "a_stride": In(A), "b_base": In(A), "b_stride": In(A),
            "row_blocks": In(8), "col_blocks": In(8), "k": In(16),
            "a_addr": Out(A), "b_addr": Out(A), "rd_en": Out(1),
            "a_data": In(cfg.rows * cfg.pe_a_bits), "b_data": In(cfg.cols * cfg.pe_b_bits),
            "o_stream": Out(stream.Signature(array_input_layout(cfg.array_config))),
        })

    def timing(self, n: int | None = None) -> Timing:
        """Tiles of ``K = n`` beats (default ``k_max``): the first beat :data:`SEQ_LATENCY`
        = 3 cycles after ``start`` (the input "beat"), then one tile per ``K`` cycles."""
        k = self._cfg.k_max if n is None else check_int(n, "n", 1, self._cfg.k_max)
        return Timing(latency=SEQ_LATENCY, latency_from="first", interval=k, per="tile")

    def elaborate(self, platform: object) -> Module:
        m = Module()
        o = self.o_stream
        # flags (with reset; start enters through D, not as a second reset); each has its
        # next value as a signal, so that busy and the read enable are registers too
        load, running = Signal(name="seq_load"), Signal(name="seq_running")
        full, mv = Signal(name="seq_full"), Signal(name="seq_mv")
        issue, busy = Signal(name="seq_issue"), Signal(name="seq_busy")
        run_n, full_n, mv_n = Signal(name="run_n"), Signal(name="full_n"), Signal(name="mv_n")
        issue_n = Signal(name="issue_n")
        # a reset-less copy of issue steps the counters and addresses (not merged with it)
        step = Signal(name="seq_step", reset_less=True)
        # a reset-less copy of full selects the data (the flag then has a small fanout)
        full_d = Signal(name="seq_full_d", reset_less=True)
        m.d.sync += [step.eq(issue_n), full_d.eq(full_n)]
        k_last, rb_last, cb_last = self._counters(m, load, step)
        # read-ahead skid: the memory read registers are the head, ``spare`` holds the beat
        # they held when a read overwrote them while the array stalled; the read enable
        # ``issue`` = ``running & ~full`` is a register (the array's ready does not reach the
        # memories)
        last_m, spare_last = Signal(reset_less=True), Signal(reset_less=True)
        spare_a = Signal.like(self.a_data, reset_less=True)
        spare_b = Signal.like(self.b_data, reset_less=True)
        keep = Signal()
        # the beat's last flag is a register of its own (the array's ready depends on it)
        o_last = Signal(name="seq_o_last")
        m.d.comb += [
            keep.eq(issue & mv & ~o.ready),
            # (issue = running & ~full: at the last beat running falls)
            run_n.eq(~self.start & (load | (running & ~(~full & k_last & rb_last & cb_last)))),
            full_n.eq(~self.start & Mux(full, ~o.ready, keep)),
            mv_n.eq(~self.start & Mux(full, mv, issue | (mv & ~o.ready))),
            self.rd_en.eq(issue),
            o.valid.eq(full | mv),
            o.payload.a.as_value().eq(Mux(full_d, spare_a, self.a_data)),
            o.payload.b.as_value().eq(Mux(full_d, spare_b, self.b_data)),
            o.payload.last.eq(o_last),
            self.busy.eq(busy),
        ]
        m.d.comb += issue_n.eq(run_n & ~full_n)
        m.d.sync += [load.eq(self.start), running.eq(run_n), full.eq(full_n), mv.eq(mv_n),
                     issue.eq(issue_n),
                     busy.eq(self.start | run_n | full_n | mv_n)]
        # o_last: the next beat's last, by the cases of o.ready (it then sits one LUT before
        # the register; without start: a start finds the sequencer idle, o.valid low)
        lm_n, rdy_hi, rdy_lo = Signal(), Signal(), Signal()
        m.d.comb += [lm_n.eq(Mux(issue, k_last, last_m)),
                     rdy_hi.eq(Mux(full, last_m, lm_n)),
                     rdy_lo.eq(Mux(full, spare_last, Mux(issue & mv, last_m, lm_n)))]
        m.d.sync += o_last.eq(Mux(o.ready, rdy_hi, rdy_lo))
        # the spare copies the read registers while it is free (it is read only once full)
        with m.If(~full_d):
            m.d.sync += [spare_a.eq(self.a_data), spare_b.eq(self.b_data)]
        with m.If(~full):
            m.d.sync += spare_last.eq(last_m)
        with m.If(issue):
            m.d.sync += last_m.eq(k_last)
        self._addresses(m, load, step, k_last, rb_last)
        return m

    def _counters(self, m: Module, load: Value, issue: Value) -> tuple[Value, Value, Value]:
        """``k``, ``rb``, ``cb`` as wrapping counters with registered last flags (loaded with
        the parameters the cycle after ``start``)."""
        _, k_last = wrap_counter(m, self.k, load, issue, width=16, name="seq_k")
        _, rb_last = wrap_counter(m, self.row_blocks, load, issue & k_last, width=8,
                                  name="seq_rb")
        _, cb_last = wrap_counter(m, self.col_blocks, load, issue & k_last & rb_last, width=8,
                                  name="seq_cb")
        return k_last, rb_last, cb_last

    def _addresses(self, m: Module, load: Value, issue: Value, k_last: Value,
                   rb_last: Value) -> None:
        """The read addresses: reset-less registers loaded the cycle after ``start`` and
        stepped by one adder each (``+ 1``, ``+ a_stride`` at a new row block, ``+ b_stride``
        at a new column block)."""
        a_row = Signal.like(self.a_addr, name="a_row", reset_less=True)     # row / col bases
        b_col = Signal.like(self.b_addr, name="b_col", reset_less=True)
        a_addr = Signal.like(self.a_addr, name="seq_a_addr", reset_less=True)
        b_addr = Signal.like(self.b_addr, name="seq_b_addr", reset_less=True)
        m.d.comb += [self.a_addr.eq(a_addr), self.b_addr.eq(b_addr)]
        with m.If(load):                           # the parameters are valid from here
            m.d.sync += [a_addr.eq(self.a_base), a_row.eq(self.a_base),
                         b_addr.eq(self.b_base), b_col.eq(self.b_base)]
        with m.Elif(issue):
            m.d.sync += [a_addr.eq(a_addr + 1), b_addr.eq(b_addr + 1)]
            with m.If(k_last):
                m.d.sync += [a_addr.eq(a_row + self.a_stride), a_row.eq(a_row + self.a_stride),
                             b_addr.eq(b_col)]
                with m.If(rb_last):
                    m.d.sync += [a_addr.eq(self.a_base), a_row.eq(self.a_base),
                                 b_addr.eq(b_col + self.b_stride),
                                 b_col.eq(b_col + self.b_stride)]
