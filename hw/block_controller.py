"""Controller of the attention block: fetch, check, dispatch with overlap, status, cycles."""

from __future__ import annotations

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ivita.firmware.isa import ERRORS, INSTR_BITS, OPCODE_BITS, Op
from ivita.firmware.memory_map import MemoryMap
from ivita.model.block_config import BlockConfig

from .block_decode import CHECK_LATENCY, Checked, check_pipeline
from .timing import Timing

__all__ = ["BlockController", "UNITS", "DECIDE_INTERVAL", "GO_DELAY"]

#: Unit index of each executing opcode (bit of ``go``, ``unit_busy``, ``finished``).
UNITS = {Op.MATMUL: 0, Op.LAYERNORM: 1, Op.SOFTMAX: 2, Op.GELU: 3}
MM, LN, SM, GE = 0, 1, 2, 3
#: Cycles from one dispatch decision (the CHECK state; ``start`` counts as the decision of
#: cycle 0) to the next one at best: FETCH, LOAD, :data:`~ivita.hw.block_decode.CHECK_LATENCY`
#: cycles of checks, CHECK.
DECIDE_INTERVAL = 3 + CHECK_LATENCY
#: ``go`` is registered: it comes one cycle after the decision.
GO_DELAY = 1


class BlockController(wiring.Component):
    """Runs the program from address 0 after ``start`` (ignored while ``busy``).

    Per instruction: fetch (2 cycles: address, then the word into ``instr``), check
    (:func:`~ivita.hw.block_decode.check_pipeline`: :data:`~ivita.hw.block_decode.
    CHECK_LATENCY` cycles, every result registered), then the dispatch decision in the CHECK
    state: a one-cycle ``go[unit]`` the next cycle (``go`` is a register; the unit latches
    ``instr`` in that cycle, which still holds the instruction) as soon as the unit is idle
    and the instruction may overlap everything still running, then the next fetch (in the
    ``go`` cycle). The only overlap allowed is a MATMUL and a SOFTMAX (either one running,
    the other dispatched) whose A-mem writes go to different banks (``Checked.banks``, as
    :func:`ivita.firmware.program_check.a_write_banks`: A-mem is two memories split at
    ``cfg.a_split``, one write port each; a MATMUL into B-, S- or R-mem writes none), so
    their memory ports are disjoint; every other instruction waits until all units are
    idle. The banks of the running MATMUL and SOFTMAX are registered at their dispatch.
    ``SYNC`` waits until all units are idle; ``HALT`` waits, then sets ``done`` and clears
    ``busy``. Data hazards between overlapping instructions are the program's business (the
    compiler puts a ``SYNC`` where one reads what the other writes: before a SOFTMAX that
    reads the scores of a running MATMUL, before a P.V that reads the P of a running
    SOFTMAX; :func:`ivita.firmware.program_check.check_program` rejects a program without
    it).

    Errors stop the program: a failed check (its :data:`~ivita.firmware.isa.ERRORS` code) or
    a program counter past ``prog_depth`` (``PC``) after the running units finish; a unit's
    ``unit_error`` (``UNIT``) one cycle after it rises (registered; memories may then hold
    partial results; ``start`` forgets which units were running, and the block resets its
    datapath units on ``start``).
    ``error``/``error_code`` stay until the next ``start``; ``cycles`` counts the cycles from
    ``start`` while ``busy``; ``unit_busy`` shows which units run.
    ``go_next`` is the value ``go`` takes at the next clock edge (the block latches the
    instruction on it). ``prog_en`` is ``busy``: the fetch reads the program memory
    in every cycle of a run and ``instr`` takes the word read in the FETCH cycle, in LOAD.
    """

    def __init__(self, cfg: BlockConfig, mmap: MemoryMap) -> None:
        self._cfg, self._mmap = cfg, mmap
        super().__init__({
            "start": In(1), "busy": Out(1), "done": Out(1), "error": Out(1),
            "error_code": Out(4), "cycles": Out(32), "pc": Out(16),
            "prog_addr": Out(unsigned(16)), "prog_en": Out(1), "prog_data": In(INSTR_BITS),
            "instr": Out(INSTR_BITS), "op": Out(OPCODE_BITS),
            "go": Out(4), "go_next": Out(4), "unit_busy": Out(4), "finished": In(4),
            "finish_hold": In(4),
            "unit_error": In(1),
        })

    def timing(self, n: int | None = None) -> Timing:
        """The first ``go`` ``DECIDE_INTERVAL + GO_DELAY`` = 10 cycles after ``start``
        (fetch 2, check :data:`~ivita.hw.block_decode.CHECK_LATENCY` = 6, decide 1, the
        registered ``go`` 1); then one instruction per ``DECIDE_INTERVAL`` = 9 cycles while
        the units it waits for are free (``n`` is ignored). How long a unit stays busy is the
        unit's business (:meth:`AttentionBlock.timing
        <ivita.hw.attention.AttentionBlock.timing>`)."""
        return Timing(latency=DECIDE_INTERVAL + GO_DELAY, latency_from="first",
                      interval=DECIDE_INTERVAL, per="instruction")

    def elaborate(self, platform: object) -> Module:
        m = Module()
        # the fetched instruction: no reset (checked and dispatched only after a LOAD)
        instr = Signal(INSTR_BITS, name="instr_q", reset_less=True)
        m.d.comb += [self.instr.eq(instr), self.op.eq(instr[:OPCODE_BITS])]
        chk = check_pipeline(m, instr, self._cfg, self._mmap)
        self._count_and_track(m)
        free = self._may_dispatch(m, chk)
        self._sequence(m, chk, free, instr)
        return m

    def _count_and_track(self, m: Module) -> None:
        """``cycles`` while ``busy``; ``unit_busy[u]`` from ``go[u]`` until ``finished[u]``
        while ``finish_hold[u]`` is low (the block holds the MATMUL's while its sequencer is
        busy: both inputs come into the one LUT before the flip-flop)."""
        with m.If(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)
        with m.Elif(self.start):
            m.d.sync += self.cycles.eq(0)
        for u in range(4):          # (as a sum of terms: the late finished in one LUT)
            done = self.finished[u] & ~self.finish_hold[u]
            m.d.sync += self.unit_busy[u].eq(self.go[u] | (self.unit_busy[u] & ~done))

    def _may_dispatch(self, m: Module, chk: Checked) -> Signal:
        """``free``: the checked instruction may start now -- its unit is idle and either every
        unit is, or this is the allowed overlap (a MATMUL beside a SOFTMAX, or the reverse,
        writing different A-mem banks; the running one's banks were registered at its
        dispatch). ``free = (unit_busy & blocked) == 0``, where ``blocked`` (the units whose
        running blocks the instruction: all four but the other overlap unit when the banks do
        not clash) is registered as the checks finish (the running one's banks do not change
        then: the last ``go`` was at least ``CHECK_LATENCY`` cycles before), so ``free`` is
        one LUT level of registers."""
        mm_banks = Signal(2, reset_less=True)
        sm_banks = Signal(2, reset_less=True)
        with m.If(self.go[MM]):
            m.d.sync += mm_banks.eq(chk.banks)
        with m.If(self.go[SM]):
            m.d.sync += sm_banks.eq(chk.banks)
        u = chk.unit_early
        blocked = Signal(4, name="blocked", reset_less=True)
        allow = Signal(4)                       # the one running unit it may overlap
        m.d.comb += [allow[SM].eq(u[MM] & ((chk.banks_early & sm_banks) == 0)),
                     allow[MM].eq(u[SM] & ((chk.banks_early & mm_banks) == 0))]
        m.d.sync += blocked.eq(~allow)
        free = Signal(name="free")
        m.d.comb += free.eq((self.unit_busy & blocked) == 0)
        return free

    def _sequence(self, m: Module, chk: Checked, free: Signal, instr: Signal) -> None:
        """The fetch / check / dispatch FSM, errors and the end of the program."""
        ub = self.unit_busy
        idle = ub == 0
        pending = Signal(4, reset_less=True)
        wait = Signal(range(CHECK_LATENCY), reset_less=True)
        # the address fetched (it steps in LOAD); ``pc`` follows it in FETCH, i.e. it moves on
        # to the next instruction in the cycle of the previous one's ``go``
        fetch_pc = Signal(16, reset_less=True)
        m.d.comb += [self.prog_addr.eq(fetch_pc), self.prog_en.eq(self.busy)]
        # fetch_pc >= prog_depth, a register beside fetch_pc (no compare before prog_en)
        past_end = Signal(name="fetch_past_end", reset_less=True)
        in_check = Signal()            # the FSM is in CHECK (a register: go is a short function)
        # a unit's error, registered (it stops the program one cycle later: a register ahead
        # of the FSM, busy and the memory-port multiplexers); a start clears it with the
        # units' sticky flags
        unit_error = Signal()
        m.d.sync += unit_error.eq(self.unit_error & ~(self.start & ~self.busy))
        # the checked instruction dispatches (a unit) or moves on (SYNC) once ``free``: ok and
        # one of them, registered with the checks
        moves = chk.moves
        advance = Signal()             # CHECK -> FETCH now
        m.d.comb += [advance.eq(in_check & moves & free & ~unit_error),
                     self.go_next.eq(Mux(advance, chk.unit, 0))]
        m.d.sync += self.go.eq(self.go_next)

        def stop(c: object) -> None:
            m.d.sync += [self.error.eq(1), self.error_code.eq(c), self.busy.eq(0)]

        # the program stops on a unit's error (the FSM's states past IDLE imply busy, so they
        # test unit_error alone: busy's large fanout stays off their logic)
        abort = Signal()
        m.d.comb += abort.eq(self.busy & unit_error)
        launch = Signal()              # start while idle (the FSM is in IDLE iff not busy)
        m.d.comb += launch.eq(self.start & ~self.busy)
        with m.If(launch):
            m.d.sync += [self.busy.eq(1), self.done.eq(0), self.error.eq(0),
                         self.error_code.eq(0), self.pc.eq(0), fetch_pc.eq(0), ub.eq(0),
                         past_end.eq(0)]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(launch):
                    m.next = "FETCH"
            with m.State("FETCH"):
                m.d.sync += self.pc.eq(fetch_pc)
                with m.If(unit_error):
                    m.next = "IDLE"
                with m.Elif(past_end):
                    m.d.sync += pending.eq(ERRORS["PC"])
                    m.next = "DRAIN"
                with m.Else():
                    m.next = "LOAD"
            with m.State("LOAD"):
                m.d.sync += [instr.eq(self.prog_data), wait.eq(CHECK_LATENCY - 1),
                             fetch_pc.eq(fetch_pc + 1),
                             past_end.eq(fetch_pc >= self._cfg.prog_depth - 1)]
                m.next = "WAIT"
                with m.If(unit_error):
                    m.next = "IDLE"
            with m.State("WAIT"):
                m.d.sync += wait.eq(wait - 1)
                with m.If(unit_error):
                    m.next = "IDLE"
                with m.Elif(wait == 0):
                    m.d.sync += in_check.eq(1)
                    m.next = "CHECK"
            with m.State("CHECK"):
                m.d.sync += in_check.eq(0)
                with m.If(unit_error):
                    m.next = "IDLE"
                with m.Elif(~chk.ok):
                    m.d.sync += pending.eq(chk.code)
                    m.next = "DRAIN"
                with m.Elif(chk.halt):
                    m.next = "FINISH"
                with m.Elif(advance):
                    m.next = "FETCH"
                with m.Else():
                    m.d.sync += in_check.eq(1)
            with m.State("DRAIN"):
                with m.If(unit_error):
                    m.next = "IDLE"
                with m.Elif(idle):
                    stop(pending)
                    m.next = "IDLE"
            with m.State("FINISH"):
                with m.If(unit_error):
                    m.next = "IDLE"
                with m.Elif(idle):
                    m.d.sync += [self.done.eq(1), self.busy.eq(0)]
                    m.next = "IDLE"
        with m.If(abort):
            stop(ERRORS["UNIT"])
