"""The one form in which every ``ivita.hw`` component states its timing.

Every component has a method ``timing(n: int | None = None) -> Timing``. ``n`` is the length
of the work item the numbers depend on -- a row's element count for the row units
(:class:`~ivita.hw.softmax.Shiftmax`, :class:`~ivita.hw.layernorm.IntLayerNorm`), a tile's
``K`` for :class:`~ivita.hw.array.SystolicArray`, the words a host-link request writes -- and
is ignored by components whose timing does not depend on it. The numbers hold with the input
offered back to back, ``o_stream`` always ready and, for the row units, a free row buffer; the
cycle-exact models behind them are checked against simulation by ``tests/hw/test_timing.py``
and ``tests/hw/test_timing_hostif.py`` (every component) and, through the JSON sidecar, by the
benches (``tests/sim``).

Input and output "beats" are stream transfers, except at the few ports that are not streams:
a byte on a serial line (:class:`~ivita.hw.uart.UARTRx` ``rx``, :class:`~ivita.hw.uart.UARTTx`
``tx``) counts from the first cycle of its start bit on the line; a strobe
(:class:`~ivita.hw.crc16.CRC16` ``en``) from the cycle it is high; an input stream that a
component holds until it has finished with it (:class:`~ivita.hw.hostif_exec.Executor`
``i_frame``, taken with the last response word) from the first cycle it is offered; a
one-cycle ``start`` strobe (the attention block and its units that read their operands from
memory) from its cycle; a memory write (``w_en``), a bus read (``r_data``), a dispatch
(``go``) or the block's ``done`` from the cycle it is high.

Normative model: none (a cycle count, not a value).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from ivita.model.checks import check_int

__all__ = ["Timing", "LATENCY_FROM", "PER"]

#: which input beat ``latency`` counts from: the first accepted beat of the item (element-wise
#: and vector units), or the beat carrying ``last`` (units that need a whole row or tile before
#: they can answer: the systolic array, Shiftmax, I-LayerNorm).
LATENCY_FROM = ("first", "last")

#: what ``interval`` counts cycles per.
PER = ("element", "vector", "beat", "division", "root", "row", "tile", "byte", "frame",
       "instruction")


@dataclass(frozen=True)
class Timing:
    """Latency and steady-state interval of a component.

    latency : int
        Cycles from the transfer of the input beat named by ``latency_from`` (cycle ``t``) to
        the first output of that item being valid (cycle ``t + latency``). On a serial line
        (UART) a beat is a byte and its cycle is the first cycle of its start bit on the line
        (see the module docstring for the other non-stream ports).
    latency_from : "first" | "last"
        ``"first"``: the item's first (or only) input beat; ``"last"``: its beat with ``last``
        (for a host-link frame: its last byte).
    interval : int | float
        Steady-state cycles per item (the initiation interval): 1 for a fully pipelined
        element-wise unit. A float only where the steady state repeats over several items
        (a row unit with fewer row buffers than stages: the average).
    per : str
        What one item is (``PER``): ``"element"``, ``"vector"``, ``"beat"``, ``"division"``,
        ``"root"``, ``"row"``, ``"tile"``, ``"byte"``, ``"frame"`` (a host-link request
        with its response) or ``"instruction"`` (of the attention block's program).
    """

    latency: int
    latency_from: Literal["first", "last"]
    interval: int | float
    per: str

    def __post_init__(self) -> None:
        check_int(self.latency, "latency", 0)
        if self.latency_from not in LATENCY_FROM:
            raise ValueError(f"latency_from={self.latency_from!r} is not one of "
                             f"{', '.join(LATENCY_FROM)}")
        if isinstance(self.interval, bool) or not isinstance(self.interval, (int, float)) \
                or not self.interval >= 1:
            raise ValueError(f"interval={self.interval!r} is out of range; it must be a number "
                             f"of cycles, at least 1")
        if self.per not in PER:
            raise ValueError(f"per={self.per!r} is not one of {', '.join(PER)}")

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (the sidecar's ``timing``)."""
        return asdict(self)
