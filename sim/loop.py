"""Simulator-independent stream agents and the per-cycle bench loop.

Pure Python: nothing here imports cocotb or Amaranth. A simulator backend
(:mod:`ivita.sim.cocotb_bench` for Icarus/Verilator, :mod:`ivita.sim.amaranth_bench` for
``amaranth.sim``) owns the clock and calls, once per clock cycle::

    loop.sample(io)   # with settled signal values of the current cycle (cocotb: ReadOnly)
    <clock edge>      # transfers with valid & ready in the sampled cycle happen here
    loop.drive(io)    # choose the inputs of the next cycle

``io`` is any object with ``get(port) -> int`` (raw unsigned bits; raises :class:`XValue` for
X/Z) and ``set(port, int)``. Port names are the Verilog port names from the sidecar.

Stream rules (``amaranth.lib.stream``) are honoured: a driver never drops ``valid`` or changes
the payload of a beat until it was accepted; idle cycles are inserted only between beats.
Randomness comes from a seeded ``random.Random`` per agent, so a run is reproducible from its
seed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from .scoreboard import Scoreboard
from .sidecar import Sidecar, StreamInfo

__all__ = ["PortIO", "XValue", "StreamDriver", "StreamMonitor", "PortSequence", "BenchLoop",
           "agent_rng"]


class XValue(ValueError):
    """A sampled port held X or Z bits."""

    def __init__(self, port: str, text: str):
        super().__init__(f"{port} is {text}")
        self.port, self.text = port, text


class PortIO(Protocol):
    def get(self, port: str) -> int: ...

    def set(self, port: str, value: int) -> None: ...


def agent_rng(seed: int, salt: int) -> random.Random:
    """An independent, reproducible RNG for one agent of a run."""
    return random.Random(seed * 1_000_003 + salt)


def _check_prob(p: float, name: str) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= float(p) < 1.0:
        raise ValueError(f"{name}={p!r} is out of range; it must be in [0, 1)")
    return float(p)


class StreamDriver:
    """Feeds raw payloads into a stream the design consumes, with random idle cycles.

    ``idle`` is the probability that a cycle between two beats is left idle (``valid = 0``).
    ``writes``: ``{k: [{port: value}, ...]}``: before beat ``k`` is presented (after beat
    ``k - 1`` was accepted; ``k = len(beats)`` means after the last beat), each dict is written
    for one cycle with ``valid`` low, and the ports return to 0 afterwards (e.g. table writes
    between tiles). ``side``: one ``{port: value}`` per beat, set on those ports while that beat
    is presented (a runtime parameter travelling with the element). ``accept_cycles`` records
    the cycle of every accepted beat.
    """

    def __init__(self, info: StreamInfo, beats: Sequence[int], *, idle: float = 0.0,
                 rng: random.Random | None = None,
                 writes: Mapping[int, Sequence[Mapping[str, int]]] | None = None,
                 side: Sequence[Mapping[str, int]] | None = None):
        self.info = info
        self.beats = list(beats)
        self.idle = _check_prob(idle, "idle")
        self.rng = rng or random.Random(0)
        self.writes = {int(k): [dict(w) for w in v] for k, v in (writes or {}).items()}
        bad = [k for k in self.writes if not 0 <= k <= len(self.beats)]
        if bad:
            raise ValueError(f"writes before beats {bad}: there are {len(self.beats)} beats "
                             f"(keys must be in 0..{len(self.beats)})")
        if side is not None and len(side) != len(self.beats):
            raise ValueError(f"side has {len(side)} entries for {len(self.beats)} beats")
        self.side = list(side) if side is not None else None
        self.index = 0               # next beat to present
        self.presenting = False      # valid is high with beats[index]
        self._accept = False         # sampled valid & ready in the current cycle
        self._valid = -1             # last value written to valid (-1: never written)
        self._pending = list(self.writes.get(0, ()))    # writes still to do before the beat
        self._written: tuple[str, ...] = ()              # ports of the write of this cycle
        self.accept_cycles: list[int] = []
        self.first_accept: int | None = None
        self.last_accept: int | None = None
        self.first_last_accept: int | None = None   # first accepted beat with `last` set
        last = info.codec.node.get("fields", {}).get("last")
        self._last_bit: int | None = last["offset"] if last and last["shape"]["width"] == 1 \
            else None

    @property
    def done(self) -> bool:
        return self.index >= len(self.beats) and not self._pending and not self._written

    @property
    def valid(self) -> int:
        """The value ``valid`` is driven to in this cycle."""
        return max(self._valid, 0)

    def sample(self, io: PortIO, cycle: int) -> None:
        self._accept = self.presenting and bool(io.get(self.info.ready))
        if self._accept:
            self.accept_cycles.append(cycle)
            if self.first_accept is None:
                self.first_accept = cycle
            self.last_accept = cycle
            if (self.first_last_accept is None and self._last_bit is not None
                    and (self.beats[self.index] >> self._last_bit) & 1):
                self.first_last_accept = cycle

    def drive(self, io: PortIO, cycle: int) -> None:
        if self._accept:
            self._accept = False
            self.presenting = False
            self.index += 1
            if self.writes:
                self._pending = list(self.writes.get(self.index, ()))
        if not self.presenting:
            if self._written:
                for p in self._written:
                    io.set(p, 0)
                self._written = ()
            if self._pending:
                w = self._pending.pop(0)
                for p, v in w.items():
                    io.set(p, int(v))
                self._written = tuple(w)
            elif self.index < len(self.beats) and not (self.idle and
                                                       self.rng.random() < self.idle):
                io.set(self.info.payload, self.beats[self.index])
                if self.side is not None:
                    for p, v in self.side[self.index].items():
                        io.set(p, int(v))
                self.presenting = True
        want = 1 if self.presenting else 0
        if want != self._valid:
            io.set(self.info.valid, want)
            self._valid = want


class StreamMonitor:
    """Collects the beats of a stream the design produces, with random back-pressure.

    ``stall`` is the probability that ``ready`` is low in a cycle. Once ``expected`` beats have
    arrived ``ready`` stays high, so any extra beat is seen. It also checks the stream rules
    on the design's side: a beat offered while ``ready`` is low must stay valid and unchanged
    until taken, and ``valid`` must never be X/Z. ``cycles`` records the cycle of every
    transfer; ``stall_cycles`` counts the cycles with ``valid & ~ready`` (back-pressure that
    actually held a beat).
    """

    def __init__(self, info: StreamInfo, *, expected: int, stall: float = 0.0,
                 rng: random.Random | None = None):
        self.info = info
        self.expected = expected
        self.stall = _check_prob(stall, "stall")
        self.rng = rng or random.Random(1)
        self.raws: list[int] = []
        self.xz: list[int] = []       # beat indices whose payload had X/Z
        self.errors: list[str] = []   # stream-rule violations, X on valid
        self._held: int | None = None  # payload offered without ready in the last cycle
        self.cycles: list[int] = []
        self.stall_cycles = 0
        self.cycles_first: int | None = None
        self.cycles_last: int | None = None
        self._ready = -1

    @property
    def done(self) -> bool:
        return len(self.raws) >= self.expected

    def sample(self, io: PortIO, cycle: int) -> None:
        try:
            valid = io.get(self.info.valid)
        except XValue as e:
            self._error(f"{self.info.valid} is {e.text} in cycle {cycle}")
            return
        held = self._held
        self._held = None
        if held is not None and not valid:
            self._error(f"{self.info.name}: valid dropped in cycle {cycle} before the beat "
                        f"offered in cycle {cycle - 1} was accepted (stream rule)")
        if not valid:
            return
        try:
            raw: int | None = io.get(self.info.payload)
        except XValue:
            raw = None
        if held is not None and held != -1 and raw != held:
            self._error(f"{self.info.name}: payload changed in cycle {cycle} while valid was "
                        f"held without ready (stream rule)")
        if self._ready != 1:
            self.stall_cycles += 1
            self._held = raw if raw is not None else -1
            return
        if raw is None:
            self.xz.append(len(self.raws))
            raw = 0
        self.raws.append(raw)
        self.cycles.append(cycle)
        if self.cycles_first is None:
            self.cycles_first = cycle
        self.cycles_last = cycle

    def _error(self, msg: str) -> None:
        if len(self.errors) < 10:
            self.errors.append(msg)

    def drive(self, io: PortIO, cycle: int) -> None:
        want = 0 if (self.stall and not self.done and self.rng.random() < self.stall) else 1
        if want != self._ready:
            io.set(self.info.ready, want)
            self._ready = want


class PortSequence:
    """Writes a list of per-cycle port assignments (e.g. table programming), then idles.

    ``steps`` is a list of ``{port: value}``; after the last step every port that appeared in
    any step is set to 0.
    """

    def __init__(self, steps: Sequence[Mapping[str, int]]):
        self.steps = [dict(s) for s in steps]
        self.ports = sorted({p for s in self.steps for p in s})
        self.index = 0

    @property
    def done(self) -> bool:
        return self.index > len(self.steps)

    def sample(self, io: PortIO, cycle: int) -> None:
        pass

    def drive(self, io: PortIO, cycle: int) -> None:
        if self.index < len(self.steps):
            for p, v in self.steps[self.index].items():
                io.set(p, int(v))
        elif self.index == len(self.steps):
            for p in self.ports:
                io.set(p, 0)
        self.index += 1


class BenchLoop:
    """One bench run: set-up writes, then stream drivers and monitors, then a quiet tail.

    Phases: ``setup`` (a :class:`PortSequence`, one write per cycle) -> ``gap`` idle cycles ->
    ``stream`` (drivers and monitors until every expected beat arrived) -> ``tail`` cycles with
    ``ready`` high to catch extra beats -> done. ``max_cycles`` bounds the whole run; running
    out of cycles is reported as a timeout with the beats received so far.

    ``expected`` (stream -> group -> array) is scored with a :class:`Scoreboard` in
    :meth:`finish`; ``counts`` (stream -> number of beats) adds monitors whose beats are only
    collected (``monitors[s].raws``) for the caller to check. ``writes`` and ``side`` (per input
    stream) are passed to the :class:`StreamDriver`; ``gap`` is the number of idle cycles
    between the set-up writes and the streams.
    """

    GAP = 2

    def __init__(self, sidecar: Sidecar, *, inputs: Mapping[str, Sequence[int]],
                 expected: Mapping[str, Mapping[str, np.ndarray]],
                 setup: Sequence[Mapping[str, int]] = (), seed: int = 0,
                 stall_in: float = 0.0, stall_out: float = 0.0, max_cycles: int | None = None,
                 tail: int | None = None,
                 describe: Any = None, end_values: Mapping[str, int] | None = None,
                 counts: Mapping[str, int] | None = None,
                 writes: Mapping[str, Mapping[int, Sequence[Mapping[str, int]]]] | None = None,
                 side: Mapping[str, Sequence[Mapping[str, int]]] | None = None,
                 gap: int = GAP):
        self.sidecar = sidecar
        self.seed = seed
        self.setup = PortSequence(setup)
        self.gap = gap
        self.drivers = [StreamDriver(sidecar.stream(s), beats, idle=stall_in,
                                     rng=agent_rng(seed, 1 + i), writes=(writes or {}).get(s),
                                     side=(side or {}).get(s))
                        for i, (s, beats) in enumerate(inputs.items())]
        self.expected = expected
        self.monitors: dict[str, StreamMonitor] = {}
        wanted = {s: int(next(iter(np.shape(v)[0] for v in groups.values()), 0))
                  for s, groups in expected.items()}
        wanted.update(counts or {})
        for i, (s, n) in enumerate(wanted.items()):
            self.monitors[s] = StreamMonitor(sidecar.stream(s), expected=n, stall=stall_out,
                                             rng=agent_rng(seed, 101 + i))
        self.describe = describe
        self.end_values = dict(end_values or {})
        n_beats = sum(len(b) for b in inputs.values()) + sum(
            m.expected for m in self.monitors.values()) + sum(
            len(w) for d in self.drivers for w in d.writes.values())
        slack = 1.0 / max(1e-3, (1.0 - stall_in) * (1.0 - stall_out))
        lat = sidecar.latency or 0
        self.max_cycles = max_cycles if max_cycles is not None else int(
            200 + len(self.setup.steps) + 4 * lat + 4 * n_beats * slack)
        self.tail = tail if tail is not None else 16 + 2 * lat
        self.phase = "setup"
        self.cycle = 0
        self._tail_left = self.tail
        self.timeout = False
        self._t0: float | None = None
        self._t1: float | None = None
        self.stream_start: int | None = None

    # -- the per-cycle hooks --------------------------------------------------------------------

    def _agents(self) -> list[Any]:
        if self.phase == "setup":
            return [self.setup]
        if self.phase == "gap":
            return []
        return [*self.drivers, *self.monitors.values()]

    def start(self, io: PortIO) -> None:
        """Drive the first cycle (after reset)."""
        self._t0 = time.perf_counter()
        for d in self.drivers:
            io.set(d.info.valid, 0)
        for m in self.monitors.values():
            io.set(m.info.ready, 0)
        self.drive_phase(io)

    def sample(self, io: PortIO) -> None:
        for a in self._agents():
            a.sample(io, self.cycle)

    def drive(self, io: PortIO) -> None:
        self.cycle += 1
        self.drive_phase(io)

    def drive_phase(self, io: PortIO) -> None:
        if self.phase == "setup" and self.setup.done:
            self.phase, self._gap_left = "gap", self.gap
        if self.phase == "gap":
            if self._gap_left == 0:
                self.phase = "stream"
                self.stream_start = self.cycle
            else:
                self._gap_left -= 1
        if self.phase == "stream" and all(d.done for d in self.drivers) and all(
                m.done for m in self.monitors.values()):
            self.phase = "tail"
        if self.phase == "tail":
            if self._tail_left == 0:
                self.phase = "done"
                self._t1 = time.perf_counter()
                return
            self._tail_left -= 1
        if self.cycle >= self.max_cycles:
            self.timeout = True
            self.phase = "done"
            self._t1 = time.perf_counter()
            return
        for a in self._agents():
            a.drive(io, self.cycle)

    @property
    def done(self) -> bool:
        return self.phase == "done"

    # -- the verdict ----------------------------------------------------------------------------

    def finish(self, io: PortIO | None = None) -> dict[str, Any]:
        """Score the run; read the end-of-run status ports from ``io``; return the result."""
        boards: list[Scoreboard] = []
        for s, groups in self.expected.items():
            mon = self.monitors[s]
            received = mon.info.codec.unpack_beats(mon.raws)
            received = {g: received[g] for g in groups}
            kw = {"describe": self.describe} if self.describe else {}
            sb = Scoreboard(s, groups, seed=self.seed, **kw)
            sb.check(received, mon.xz)
            boards.append(sb)
        errors: list[str] = []
        if self.timeout:
            got = ", ".join(f"{s} {len(m.raws)}/{m.expected}" for s, m in self.monitors.items())
            sent = ", ".join(f"{d.info.name} {d.index}/{len(d.beats)}" for d in self.drivers)
            errors.append(f"timeout after {self.cycle} cycles: beats received {got}; beats "
                          f"accepted {sent}")
        end_values: dict[str, int | str] = {}
        if io is not None:
            for member, want in self.end_values.items():
                port = self.sidecar.port_of(member)
                try:
                    v: int | str = io.get(port)
                except XValue as e:
                    v = e.text
                end_values[member] = v
                if v != want:
                    errors.append(f"{member} is {v} at the end of the run, expected {want}")
        for m in self.monitors.values():
            errors.extend(m.errors)
        for sb in boards:
            errors.extend(sb.errors)
        first = next((sb.first for sb in boards if sb.first), None)
        firsts_in = [d.first_accept for d in self.drivers if d.first_accept is not None]
        lasts_in = [d.last_accept for d in self.drivers if d.last_accept is not None]
        firsts_out = [m.cycles_first for m in self.monitors.values() if m.cycles_first is not None]
        lasts_out = [m.cycles_last for m in self.monitors.values() if m.cycles_last is not None]
        first_in = min(firsts_in) if firsts_in else None
        # The measured latency counts from the same input beat as the declared one.
        if self.sidecar.latency_from == "last":
            refs = [d.first_last_accept for d in self.drivers if d.first_last_accept is not None]
        else:
            refs = firsts_in
        lat_ref = min(refs) if refs else None
        wall = (self._t1 or time.perf_counter()) - (self._t0 or time.perf_counter())
        passed = not errors and all(sb.passed for sb in boards)
        return {
            "passed": passed,
            "seed": self.seed,
            "cycles": self.cycle,
            "stream_cycles": (max(lasts_out) - first_in + 1) if first_in is not None and lasts_out
            else None,
            "first_in_cycle": first_in,
            "last_in_cycle": max(lasts_in) if lasts_in else None,
            "first_out_cycle": min(firsts_out) if firsts_out else None,
            "last_out_cycle": max(lasts_out) if lasts_out else None,
            "latency_measured": (min(firsts_out) - lat_ref) if lat_ref is not None and firsts_out
            else None,
            "latency": self.sidecar.latency,
            "latency_from": self.sidecar.latency_from,
            "beats_in": sum(d.index for d in self.drivers),
            "beats_out": sum(len(m.raws) for m in self.monitors.values()),
            "beats_expected": sum(m.expected for m in self.monitors.values()),
            "stall_cycles": {s: m.stall_cycles for s, m in self.monitors.items()},
            "elements_checked": sum(sb.checked for sb in boards),
            "mismatches": sum(sb.mismatches for sb in boards),
            "first_mismatch": first.as_dict() if first else None,
            "errors": errors,
            "timeout": self.timeout,
            "end_values": end_values,
            "wall_s": wall,
            "cycles_per_s": self.cycle / wall if wall > 0 else None,
        }
