"""Controller of the attention block: fetch, check, dispatch, wait; status and cycle counter."""

from __future__ import annotations

from amaranth import Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ivita.firmware.isa import ERRORS, INSTR_BITS, OPCODE_BITS, Op
from ivita.firmware.memory_map import MemoryMap
from ivita.model.block_config import BlockConfig

from .block_decode import check_instruction

__all__ = ["BlockController"]


class BlockController(wiring.Component):
    """Runs the program from address 0 after ``start`` (ignored while ``busy``).

    Per instruction: fetch (2 cycles: address, then the word into ``instr``), check (1 cycle:
    :func:`~ivita.hw.block_decode.check_instruction`), then for MATMUL/LAYERNORM/SOFTMAX a
    one-cycle ``go`` (units read their fields from ``instr``, stable until the next fetch) and
    a wait for ``unit_finished`` (sampled from the cycle after ``go``). ``SYNC`` is a no-op
    (execution is sequential), ``HALT`` sets ``done`` and clears ``busy``.

    Errors stop the program (``busy`` falls, ``error`` and ``error_code`` stay until the next
    ``start``): a failed check (its :data:`~ivita.firmware.isa.ERRORS` code) before anything
    runs, ``unit_error`` while waiting (``UNIT``), or a program counter past ``prog_depth``
    (``PC``). After a ``UNIT`` error the datapath may hold a partial result. ``cycles`` counts
    the cycles from ``start`` while ``busy``.
    """

    def __init__(self, cfg: BlockConfig, mmap: MemoryMap) -> None:
        self._cfg, self._mmap = cfg, mmap
        super().__init__({
            "start": In(1), "busy": Out(1), "done": Out(1), "error": Out(1),
            "error_code": Out(4), "cycles": Out(32), "pc": Out(16),
            "prog_addr": Out(unsigned(16)), "prog_en": Out(1), "prog_data": In(INSTR_BITS),
            "instr": Out(INSTR_BITS), "go": Out(1), "op": Out(OPCODE_BITS),
            "unit_finished": In(1), "unit_error": In(1),
        })

    def elaborate(self, platform: object) -> Module:
        m = Module()
        code = check_instruction(m, self.instr, self._cfg, self._mmap)
        m.d.comb += [self.op.eq(self.instr[:OPCODE_BITS]), self.prog_addr.eq(self.pc)]
        with m.If(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)

        def fail(c: object) -> None:
            m.d.sync += [self.error.eq(1), self.error_code.eq(c), self.busy.eq(0)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [self.busy.eq(1), self.done.eq(0), self.error.eq(0),
                                 self.error_code.eq(0), self.cycles.eq(0), self.pc.eq(0)]
                    m.next = "FETCH"
            with m.State("FETCH"):
                with m.If(self.pc >= self._cfg.prog_depth):
                    fail(ERRORS["PC"])
                    m.next = "IDLE"
                with m.Else():
                    m.d.comb += self.prog_en.eq(1)
                    m.next = "LOAD"
            with m.State("LOAD"):
                m.d.sync += self.instr.eq(self.prog_data)
                m.next = "CHECK"
            with m.State("CHECK"):
                with m.If(code != 0):
                    fail(code)
                    m.next = "IDLE"
                with m.Elif(self.op == Op.HALT):
                    m.d.sync += [self.done.eq(1), self.busy.eq(0)]
                    m.next = "IDLE"
                with m.Elif(self.op == Op.SYNC):
                    m.d.sync += self.pc.eq(self.pc + 1)
                    m.next = "FETCH"
                with m.Else():
                    m.d.comb += self.go.eq(1)
                    m.next = "WAIT"
            with m.State("WAIT"):
                with m.If(self.unit_error):
                    fail(ERRORS["UNIT"])
                    m.next = "IDLE"
                with m.Elif(self.unit_finished):
                    m.d.sync += self.pc.eq(self.pc + 1)
                    m.next = "FETCH"
        return m
