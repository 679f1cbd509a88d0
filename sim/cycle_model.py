# amaranth: UnusedElaboratable=no
"""Cycle model of a whole block program on :class:`~ivita.hw.attention.AttentionBlock`
(no simulation: the units are only instantiated for their timing attributes).

:func:`predict_cycles` replays the controller (``ivita.hw.block_controller``: a dispatch
decision at best every ``DECIDE_INTERVAL`` = 9 cycles -- fetch 2, checks 6, decide 1 -- taken
when the unit may start: every other unit idle, or a MATMUL and a SOFTMAX whose A-mem writes
go to different banks; the registered ``go`` one cycle later (``GO_DELAY``); ``SYNC``/``HALT``
wait for every unit) over the occupancy of each instruction's unit, from its dispatch
(``go``) to the cycle the controller sees it free again:

- ``MATMUL``: :meth:`AttentionBlock.matmul_cycles <ivita.hw.attention.AttentionBlock.
  matmul_cycles>` ``+ 1`` (``row_blocks*col_blocks*k + 2*rows + 21``, ``+ cols`` in
  ``TRANSPOSE``), exact when ``k >= rows + cols`` and a lower bound otherwise.
- ``SOFTMAX``: the :class:`~ivita.hw.row_serializer.RowSerializer`'s latency, the
  :class:`~ivita.hw.softmax.Shiftmax` row schedule (its bank ring: ``a_lead``, ``b_cycles``,
  ``c_lead``, ``banks``) up to the last output, the :class:`~ivita.hw.lane_writer.LaneWriter`'s latency,
  then 2 (``finished``, the busy bit).
- ``LAYERNORM``/``GELU``: the same with :class:`~ivita.hw.layernorm.IntLayerNorm` (or the
  element-wise :class:`~ivita.hw.gelu.ShiftGELU`), then :class:`~ivita.hw.row_affine.RowAffine`
  and the per-beat :class:`~ivita.hw.requant.Requantizer` latencies; the affine stage's
  stalls inside a row (:meth:`RowAffine.bubbles <ivita.hw.row_affine.RowAffine.bubbles>`)
  stretch the LayerNorm's output stage (``ring_rows``; those after a row hide in its
  ``c_lead``); GELU rows stream back to back at the affine stage's pace
  (``RowAffine.timing(length).interval`` per row).

Every latency is read from the units' own ``timing()``/cycle-model attributes, so a unit that
gains a pipeline stage moves the prediction with it. Accuracy: the predicted ``cycles`` (the
block's own counter) and every dispatch cycle equal the Amaranth simulation exactly for the
programs of ``compile_attention`` when every MATMUL has ``k >= rows + cols``
(``CycleEstimate.exact``), and for the MLP programs of ``compile_mlp`` with a pipelined
ShiftGELU; otherwise they are a lower bound (within 2 % on the tested 8 tokens x dim 8
layer, scores ``k = 4``). Checked by
``tests/sim/test_cycle_model.py``. The compute bound is
:func:`ivita.firmware.cycle_model.compute_bound`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amaranth import signed

from ivita.firmware.cycle_model import compute_bound
from ivita.firmware.isa import MODES, OP_NAMES, Op
from ivita.firmware.program_check import may_overlap
from ivita.hw.attention import AttentionBlock
from ivita.hw.block_controller import DECIDE_INTERVAL, GO_DELAY, UNITS
from ivita.hw.gelu import ShiftGELU
from ivita.hw.lane_writer import LaneWriter
from ivita.hw.layernorm import IntLayerNorm
from ivita.hw.requant import Requantizer
from ivita.hw.row_affine import RowAffine, gelu_requant_config, ln_requant_config
from ivita.hw.row_serializer import RowSerializer
from ivita.hw.softmax import Shiftmax
from ivita.model.block_config import BlockConfig
from ivita.model.config import GeluConfig, LayerNormConfig, SoftmaxConfig

__all__ = ["InstrCycles", "CycleEstimate", "predict_cycles", "unit_cycles", "ring_rows"]

BUSY_CLEAR = 2     # LaneWriter's last write -> finished -> the controller sees the unit free


@dataclass(frozen=True)
class InstrCycles:
    """One instruction: ``dispatch`` (its ``go`` cycle, when ``pc`` moves on; for SYNC the
    cycle ``pc`` moves on, one after it passed CHECK; for HALT the end), ``free`` (the cycle its unit is seen free; = ``dispatch`` for SYNC), ``stall``
    (cycles it waited in CHECK for a unit)."""

    pc: int
    op: str
    dispatch: int
    free: int
    stall: int

    @property
    def busy(self) -> int:
        return self.free - self.dispatch


@dataclass(frozen=True)
class CycleEstimate:
    """``cycles``: the block's ``cycles`` counter at the end (``start`` is cycle 0);
    ``bound``: :func:`~ivita.firmware.cycle_model.compute_bound`; ``exact``: every MATMUL has
    ``k >= rows + cols`` and a GELU, if any, runs on a pipelined ShiftGELU (else ``cycles`` is
    a lower bound)."""

    cycles: int
    bound: int
    exact: bool
    instructions: tuple[InstrCycles, ...]

    @property
    def ratio(self) -> float:
        return self.cycles / self.bound if self.bound else float("inf")

    def busy_by_op(self) -> dict[str, int]:
        """Total unit occupancy per opcode name (overlapping instructions both count)."""
        out: dict[str, int] = {}
        for i in self.instructions:
            out[i.op] = out.get(i.op, 0) + i.busy
        return out


def ring_rows(lengths: list[int], *, banks: int, b_cycles: Any, c_lead: int,
              c_stall: int = 0, a_lead: int = 0) -> int:
    """Last output cycle of a bank-ring row unit (:func:`ivita.hw.bank_ring.ring_schedule`,
    input offered back to back from cycle 0, its stage A taking the first beat in cycle
    ``a_lead``: 1 behind Shiftmax's input skid buffer) whose output stage is stalled
    ``c_stall`` cycles inside every row; ``c_stall = 0`` is exactly
    ``ring_schedule(...)[-1][3]``."""
    a1, b1, c1 = a_lead - 1, -1, -1
    c_ends: list[int] = []
    for r, n in enumerate(lengths):
        a0 = max(a1 + 1, c_ends[r - banks] + 1 if r >= banks else 0)
        a1 = a0 + n - 1
        b0 = max(a1 + 1, b1 + 1)
        b1 = b0 + b_cycles(n) - 1
        c0 = max(b1 + 1, c1 + 1)
        c1 = c0 + c_lead + n - 1 + c_stall
        c_ends.append(c1)
    return c1


def unit_cycles(op: int, f: dict[str, int], cfg: BlockConfig) -> int:
    """Cycles from the dispatch of instruction ``(op, f)`` until the controller sees its unit
    free (see the module docstring)."""
    ser = RowSerializer(lanes=cfg.cols, lane_bits=cfg.resid_bits).timing().latency
    lw = LaneWriter(lanes=cfg.rows, lane_bits=cfg.pe_a_bits,
                    in_shape=signed(cfg.a_bits)).timing().latency
    if op == Op.MATMUL:
        mode = {v: k for k, v in MODES.items()}[f["mode"]]
        return AttentionBlock(cfg).matmul_cycles(f["row_blocks"], f["col_blocks"], f["k"],
                                                 mode) + 1
    if op == Op.SOFTMAX:
        sm = Shiftmax(SoftmaxConfig(in_bits=cfg.attn_bits, n=cfg.n, out_bits=cfg.prob_bits,
                                    max_tokens=cfg.max_tokens))
        last = ring_rows([f["length"]] * f["rows"], banks=sm.banks, b_cycles=sm.b_cycles,
                         c_lead=sm.c_lead, a_lead=sm.a_lead)
        return ser + last + lw + BUSY_CLEAR
    if op == Op.LAYERNORM:
        ln = IntLayerNorm(LayerNormConfig(in_bits=cfg.resid_bits, channels=cfg.max_dim))
        n, aff = f["channels"], RowAffine(cfg)
        inside, after = aff.bubbles(n)
        if after > ln.c_lead:
            raise NotImplementedError(f"RowAffine's {after} bubbles after a row exceed the "
                                      f"LayerNorm's c_lead={ln.c_lead}")
        last = ring_rows([n] * f["tokens"], banks=ln.banks, b_cycles=lambda _n: ln.b_cycles,
                         c_lead=ln.c_lead, c_stall=inside)
        tail = (aff.timing().latency
                + Requantizer(ln_requant_config(cfg), per_beat=True).timing().latency)
        return ser + last + tail + lw + BUSY_CLEAR
    if op == Op.GELU:
        ge = ShiftGELU(GeluConfig(in_bits=cfg.gelu_bits, n=cfg.n, sig_bits=cfg.sig_bits))
        t, n = ge.timing(), f["length"]
        aff = RowAffine(cfg, in_bits=cfg.gelu_out_bits, rq=gelu_requant_config(cfg))
        # an element-wise unit: the rows stream back to back, so the affine stage's bubbles
        # (RowAffine.bubbles; those after the last row cost nothing) set the pace
        per_row = max(n * t.interval, aff.timing(n).interval)
        tail = (t.latency + aff.timing().latency
                + Requantizer(gelu_requant_config(cfg), per_beat=True).timing().latency)
        return ser + f["rows"] * per_row - 1 - aff.bubbles(n)[1] + tail + lw + BUSY_CLEAR
    raise ValueError(f"opcode {op} ({OP_NAMES.get(op, '?')}) does not occupy a unit")


def _gelu_interval(cfg: BlockConfig) -> int | float:
    return ShiftGELU(GeluConfig(in_bits=cfg.gelu_bits, n=cfg.n, sig_bits=cfg.sig_bits)
                     ).timing().interval


def _may_start(op: int, f: dict[str, int], free: dict[int, int],
               last: dict[int, tuple[int, dict[str, int]]], cfg: BlockConfig) -> int:
    """Earliest cycle the controller's ``can`` allows ``(op, f)`` given each unit's ``free``
    cycle and the instruction each unit ran last (``last``; no dispatch happens while it
    waits, so units only become free): every other unit idle, except a SOFTMAX beside a
    MATMUL whose A-mem writes go to the other bank (:func:`~ivita.firmware.program_check.
    may_overlap`)."""
    others = [u for u in free if u != UNITS[op]]
    other = {Op.MATMUL: Op.SOFTMAX, Op.SOFTMAX: Op.MATMUL}.get(op)
    if other is not None and UNITS[other] in last \
            and may_overlap(cfg, op, f, *last[UNITS[other]]):
        others = [u for u in others if u != UNITS[other]]
    return max([free[UNITS[op]]] + [free[u] for u in others])


def predict_cycles(program: Any, cfg: BlockConfig | None = None) -> CycleEstimate:
    """The :class:`CycleEstimate` of a compiled block (``.program``, ``.config``) or of a
    program list ``[(op, fields), ...]`` with its ``cfg``, run from ``start`` (cycle 0) to
    ``HALT``. A program must end in ``HALT``; errors the hardware would raise are not modelled
    (check the program with :func:`ivita.firmware.program_check.check_program`)."""
    if hasattr(program, "program") and hasattr(program, "config"):
        program, cfg = list(program.program), program.config
    if cfg is None:
        raise TypeError("a program list needs its BlockConfig: predict_cycles(program, cfg)")
    program = list(program)
    free = {u: 0 for u in set(UNITS.values())}
    last: dict[int, tuple[int, dict[str, int]]] = {}
    check = DECIDE_INTERVAL        # the first CHECK (start is cycle 0)
    out: list[InstrCycles] = []
    exact = (all(f["k"] >= cfg.rows + cfg.cols for op, f in program if op == Op.MATMUL)
             and (not any(op == Op.GELU for op, _ in program) or _gelu_interval(cfg) == 1))
    for pc, (op, f) in enumerate(program):
        name = OP_NAMES.get(op, str(op))
        if op in (Op.SYNC, Op.HALT):
            t = max([check + (1 if op == Op.HALT else 0)] + list(free.values()))
            if op == Op.HALT:
                out.append(InstrCycles(pc, name, t, t, t - check))
                return CycleEstimate(t, compute_bound(program, cfg), exact, tuple(out))
            # SYNC passes CHECK at t; pc moves on a cycle later, as after a go
            out.append(InstrCycles(pc, name, t + GO_DELAY, t + GO_DELAY, t - check))
            check = t + DECIDE_INTERVAL
            continue
        if op not in UNITS:
            raise ValueError(f"instruction {pc}: opcode {op} is not one the block runs")
        d = max(check, _may_start(op, f, free, last, cfg))     # the decision in CHECK
        t = d + GO_DELAY                                       # its go
        free[UNITS[op]] = t + unit_cycles(op, f, cfg)
        last[UNITS[op]] = (op, f)
        out.append(InstrCycles(pc, name, t, free[UNITS[op]], d - check))
        check = d + DECIDE_INTERVAL
    raise ValueError(f"the program has no HALT (it has {len(program)} instructions)")
