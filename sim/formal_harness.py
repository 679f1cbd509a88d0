"""Formal harnesses: the PE and the requantizer against docs/numerics.md (docs/verification.md, level 5).

Each harness is a component whose input ports are free inputs of the proof (the solver
chooses them every cycle, including the reset), wraps the device under test and states the
spec as plain Amaranth expressions of the numerics.md formulas, in widths wide enough never to
wrap:

- :class:`PEHarness`: the PE's ``acc`` equals the running sum of the products of its valid
  inputs since the last ``last`` beat but the most recent one (still in the PE's product
  register), its ``result`` equals the full sum of the last tile two enabled cycles after its
  ``last`` beat, and the operands/``valid``/``last`` come out one enabled cycle later -- for
  all inputs, including ``en`` stalls, with tiles of at most ``k_max`` beats (an assumption).
- :class:`RequantHarness`: every output of the requantizer equals
  ``saturate(round_shift(acc * b, c), out_bits)`` computed when its input was accepted, with
  the ``(b, c)`` the table held then (writes are free too), in order, with no output without
  an input, under any valid/ready pattern; ``table_error`` is set exactly by writes with
  ``c > max_shift``. ``spec="truncate"`` replaces round-half-up by a plain shift: a wrong spec
  the proof must reject.

Prove them with :func:`ivita.sim.formal.run_sby`.
"""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal, signed, unsigned
from amaranth.hdl import Assert, Assume
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from ivita.model.checks import check_int
from ivita.model.config import RequantConfig
from ivita.model.requant import required_acc_bits

from ivita.hw.pe import ProcessingElement
from ivita.hw._dyadic import DYADIC_LATENCY
from ivita.hw.requant import Requantizer

__all__ = ["PEHarness", "RequantHarness"]


class PEHarness(wiring.Component):
    """A :class:`ProcessingElement` against the running sum of products (free inputs).

    ``acc_bits`` defaults to ``required_acc_bits(a_bits, b_bits, k_max)``; pass a narrower one
    to watch the proof fail.
    """

    def __init__(self, *, a_bits: int = 3, b_bits: int = 3, k_max: int = 4,
                 acc_bits: int | None = None) -> None:
        self.a_bits = check_int(a_bits, "a_bits", 2, 16)
        self.b_bits = check_int(b_bits, "b_bits", 2, 16)
        self.k_max = check_int(k_max, "k_max", 1, 64)
        self.acc_bits = (required_acc_bits(a_bits, b_bits, k_max) if acc_bits is None
                         else check_int(acc_bits, "acc_bits", 2, 48))
        super().__init__({
            "en": In(1), "a_in": In(signed(a_bits)), "b_in": In(signed(b_bits)),
            "valid_in": In(1), "last_in": In(1),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.dut = dut = ProcessingElement(a_bits=self.a_bits, b_bits=self.b_bits,
                                                   acc_bits=self.acc_bits)
        m.d.comb += [dut.en.eq(self.en), dut.a_in.eq(self.a_in), dut.b_in.eq(self.b_in),
                     dut.valid_in.eq(self.valid_in), dut.last_in.eq(self.last_in)]

        wide = signed(self.a_bits + self.b_bits + self.k_max.bit_length() + 8)
        run_sum, tile_sum = Signal(wide), Signal(wide)      # spec: sum_k a[k] * b[k]
        prev_tile_sum = Signal(wide)                        # the tile before tile_sum's
        beats = Signal(range(self.k_max + 1))               # valid beats of the current tile
        exp_a, exp_b = Signal(signed(self.a_bits)), Signal(signed(self.b_bits))
        exp_valid, exp_last = Signal(), Signal()

        step = self.en & self.valid_in
        # Tiles have at most k_max beats: beat number k_max must carry `last`.
        m.d.comb += Assume(~(step & (beats == self.k_max - 1) & ~self.last_in))
        with m.If(self.en):
            m.d.sync += exp_valid.eq(self.valid_in)
        with m.If(step):
            m.d.sync += [exp_a.eq(self.a_in), exp_b.eq(self.b_in), exp_last.eq(self.last_in)]
            with m.If(self.last_in):
                m.d.sync += [tile_sum.eq(run_sum + self.a_in * self.b_in), run_sum.eq(0),
                             prev_tile_sum.eq(tile_sum), beats.eq(0)]
            with m.Else():
                m.d.sync += [run_sum.eq(run_sum + self.a_in * self.b_in), beats.eq(beats + 1)]

        # The PE adds a beat's product one enabled cycle after the beat (PE_LATENCY = 2): while
        # the most recent beat is still in its product register (exp_valid), acc lacks it, and
        # if it is a last beat, result still holds the tile before.
        pending = Mux(exp_valid, exp_a * exp_b, 0)
        in_flight_last = exp_valid & exp_last
        want_acc = Mux(in_flight_last, tile_sum, run_sum) - pending
        want_result = Mux(in_flight_last, prev_tile_sum, tile_sum)
        m.d.comb += [
            Assert(dut.acc == want_acc, "acc is not the running sum of products"),
            Assert(dut.result == want_result, "result is not the sum of the last tile"),
            Assert(dut.valid_out == exp_valid, "valid_out is not valid_in delayed"),
            Assert(~exp_valid | ((dut.a_out == exp_a) & (dut.b_out == exp_b) &
                                 (dut.last_out == exp_last)),
                   "operands were not passed on"),
        ]
        return m


class RequantHarness(wiring.Component):
    """A one-lane :class:`Requantizer` against ``saturate(round_shift(acc * b, c), out_bits)``.

    ``spec``: ``"round"`` (docs/numerics.md §0, round half up) or ``"truncate"`` (a deliberately
    wrong spec, ``(acc * b) >> c``).
    """

    #: the requantizer holds at most DYADIC_LATENCY - 1 stage registers + its output register
    #: + the skid's spare = DYADIC_LATENCY + 1 vectors; one slot more so ``count < QUEUE``
    QUEUE = DYADIC_LATENCY + 2

    def __init__(self, *, acc_bits: int = 8, mult_bits: int = 4, out_bits: int = 3,
                 spec: str = "round") -> None:
        self.config = RequantConfig(lanes=1, acc_bits=acc_bits, mult_bits=mult_bits,
                                    out_bits=out_bits)
        if spec not in ("round", "truncate"):
            raise ValueError(f"spec={spec!r} is not one of round, truncate")
        self.spec = spec
        cfg = self.config
        super().__init__({
            "i_valid": In(1), "i_acc": In(signed(cfg.acc_bits)), "i_last": In(1),
            "o_ready": In(1),
            "table_we": In(1), "table_b": In(unsigned(cfg.mult_bits)),
            "table_c": In(unsigned(cfg.shift_bits)),
        })

    def elaborate(self, platform: object) -> Module:
        cfg = self.config
        m = Module()
        m.submodules.dut = dut = Requantizer(cfg)
        m.d.comb += [
            dut.i_stream.valid.eq(self.i_valid), dut.i_stream.payload.acc[0].eq(self.i_acc),
            dut.i_stream.payload.last.eq(self.i_last), dut.o_stream.ready.eq(self.o_ready),
            dut.table_we.eq(self.table_we), dut.table_lane.eq(0),
            dut.table_b.eq(self.table_b), dut.table_c.eq(self.table_c),
        ]

        # Spec table and error flag.
        sb = Signal(unsigned(cfg.mult_bits))
        sc = Signal(unsigned(cfg.shift_bits))
        serr = Signal()
        with m.If(self.table_we):
            with m.If(self.table_c > cfg.max_shift):
                m.d.sync += serr.eq(1)
            with m.Else():
                m.d.sync += [sb.eq(self.table_b), sc.eq(self.table_c)]

        # Spec arithmetic (docs/numerics.md §0 and §2), in 64-bit signed values.
        wide = signed(64)
        prod = Signal(wide)
        m.d.comb += prod.eq(self.i_acc * sb)
        shifted = Signal(wide)
        if self.spec == "round":
            half = Signal(wide)             # 2^(c-1)
            m.d.comb += half.eq(Const(1, wide) << (sc - 1).as_unsigned()[:6])
            m.d.comb += shifted.eq(Mux(sc == 0, prod, (prod + half) >> sc))
        else:
            m.d.comb += shifted.eq(prod >> sc)
        lo, hi = -(1 << (cfg.out_bits - 1)), (1 << (cfg.out_bits - 1)) - 1
        expected = Signal(signed(cfg.out_bits))
        m.d.comb += expected.eq(Mux(shifted > hi, hi, Mux(shifted < lo, lo, shifted)))

        # In-order queue of expected outputs.
        n = self.QUEUE
        q_val = [Signal(signed(cfg.out_bits), name=f"exp_q{i}") for i in range(n)]
        q_last = [Signal(name=f"exp_last{i}") for i in range(n)]
        count = Signal(range(n + 1))
        push = self.i_valid & dut.i_stream.ready
        pop = dut.o_stream.valid & self.o_ready
        with m.If(pop):
            for i in range(n - 1):
                m.d.sync += [q_val[i].eq(q_val[i + 1]), q_last[i].eq(q_last[i + 1])]
        slot = Mux(pop, count - 1, count)
        with m.If(push):
            for i in range(n):
                with m.If(slot == i):
                    m.d.sync += [q_val[i].eq(expected), q_last[i].eq(self.i_last)]
        m.d.sync += count.eq(count + push - pop)

        m.d.comb += [
            Assert(count < n, "more vectors in flight than the pipeline holds"),
            Assert(~dut.o_stream.valid | (count != 0), "an output without an input"),
            Assert(~dut.o_stream.valid | (dut.o_stream.payload.q[0] == q_val[0]),
                   "q is not saturate(round_shift(acc * b, c), out_bits)"),
            Assert(~dut.o_stream.valid | (dut.o_stream.payload.last == q_last[0]),
                   "last did not pass through"),
            Assert(dut.table_error == serr, "table_error does not match c > max_shift writes"),
        ]
        return m
