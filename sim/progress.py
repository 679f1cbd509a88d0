"""Progress of a bench run: the run's size up front, a heartbeat from the loop, a reporter.

One mechanism for all three simulators. The process that runs the bench loop (the cocotb
simulator process for Icarus/Verilator, the parent itself for ``amaranth.sim``) calls a
:class:`Heartbeat` once per cycle; about every half second (checked every
:attr:`Heartbeat.CHECK_CYCLES` cycles, so the per-cycle cost is one integer compare) it writes
``{cycle, beats_in, beats_out, pid, ...}`` atomically to ``heartbeat.json`` in the run
directory. In the parent a :class:`Progress` reporter thread polls that file and prints the
current phase, cycle, beats and speed on stderr: one line redrawn in place on a terminal, a
new line every :attr:`Progress.PLAIN_INTERVAL_S` seconds otherwise. Before the simulation
starts the reporter prints the run's :class:`RunSize` (beats, an estimated cycle count, the
vector memory).

Standard library only (no cocotb, no Amaranth).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

__all__ = ["RunSize", "Heartbeat", "read_heartbeat", "Progress", "HEARTBEAT_FILE"]

HEARTBEAT_FILE = "heartbeat.json"


@dataclass(frozen=True)
class RunSize:
    """How big a run is, known before it starts.

    ``beats_in``/``beats_out`` and ``vector_bytes`` (the int64 stimulus and expected arrays)
    are exact; ``cycles`` is an estimate from the model named in ``cycles_model``.
    """

    beats_in: int
    beats_out: int
    elements_out: int
    cycles: int
    cycles_model: str
    vector_bytes: int

    def text(self) -> str:
        return (f"run size: {self.beats_in:,} input beats, {self.beats_out:,} output beats "
                f"({self.elements_out:,} elements checked); about {self.cycles:,} cycles "
                f"(estimate: {self.cycles_model}); vectors {self.vector_bytes / 1e6:,.1f} MB "
                f"(int64 stimulus and expected values)")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Heartbeat:
    """Called once per cycle by a bench loop; writes the loop's progress to ``path``.

    ``loop`` is an :class:`ivita.sim.loop.BenchLoop` (``cycle``, ``drivers[i].index``,
    ``monitors[s].raws``, ``phase`` are read). Writes at most every ``every_s`` seconds and
    once more from :meth:`close`.
    """

    CHECK_CYCLES = 256

    def __init__(self, path: str | Path | None, every_s: float = 0.5) -> None:
        self.path = Path(path) if path else None
        self.every_s = every_s
        # without a path the check never fires
        self.next_cycle = self.CHECK_CYCLES if self.path else sys.maxsize
        self._last = 0.0
        self._t0 = time.monotonic()

    def __call__(self, loop: Any) -> None:
        if loop.cycle < self.next_cycle:
            return
        self.next_cycle = loop.cycle + self.CHECK_CYCLES
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self.write(loop)

    def write(self, loop: Any) -> None:
        if self.path is None:
            return
        obj = {"cycle": int(loop.cycle), "phase": str(loop.phase),
               "beats_in": int(sum(d.index for d in loop.drivers)),
               "beats_out": int(sum(len(m.raws) for m in loop.monitors.values())),
               "pid": os.getpid(), "elapsed_s": time.monotonic() - self._t0}
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            tmp.write_text(json.dumps(obj))
            os.replace(tmp, self.path)
        except OSError:     # the run directory vanished (interrupted): nothing to report to
            pass

    def close(self, loop: Any) -> None:
        self.write(loop)


def read_heartbeat(path: str | Path) -> dict[str, Any] | None:
    """The last heartbeat written to ``path``, or ``None``."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


class Progress:
    """Progress of one run on ``stream`` (stderr): phases, the run size, the loop's heartbeat.

    ``live``: redraw one line in place (a terminal); otherwise print a new line every
    :attr:`PLAIN_INTERVAL_S` seconds. Nothing is printed before :meth:`start`; :meth:`stop`
    clears a live line so that what follows starts on a clean line.
    """

    LIVE_INTERVAL_S = 0.5
    PLAIN_INTERVAL_S = 5.0

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None,
                 prog: str = "ivita sim", interval_s: float | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if live is None:
            try:
                live = bool(self.stream.isatty())
            except (AttributeError, ValueError):
                live = False
        self.live = live
        self.prog = prog
        self.interval_s = interval_s if interval_s is not None else (
            self.LIVE_INTERVAL_S if live else self.PLAIN_INTERVAL_S)
        self.phase_text = "starting"
        self.run_size: RunSize | None = None
        self.heartbeat_path: Path | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()
        self._drawn = False

    # -- what run_bench reports ---------------------------------------------------------------

    def start(self, heartbeat_path: str | Path | None = None) -> None:
        self.heartbeat_path = Path(heartbeat_path) if heartbeat_path else None
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="ivita-progress", daemon=True)
        self._thread.start()

    def phase(self, text: str) -> None:
        self.phase_text = text

    def size(self, size: RunSize) -> None:
        self.run_size = size
        self._write(f"{self.prog}: {size.text()}", permanent=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._thread = None
        with self._lock:
            if self._drawn:
                self.stream.write("\r\033[K")
                self.stream.flush()
                self._drawn = False

    # -- rendering ------------------------------------------------------------------------------

    def line(self) -> str:
        """The current progress line (phase, elapsed time, cycles, beats, speed)."""
        parts = [f"{self.prog}: {self.phase_text}, {time.monotonic() - self._t0:.0f} s"]
        hb = read_heartbeat(self.heartbeat_path) if self.heartbeat_path else None
        if hb:
            s = self.run_size
            cyc = f"cycle {hb['cycle']:,}" + (f" of about {s.cycles:,}" if s else "")
            beats = f"beats in {hb['beats_in']:,}" + (f"/{s.beats_in:,}" if s else "") + \
                    f", out {hb['beats_out']:,}" + (f"/{s.beats_out:,}" if s else "")
            parts += [cyc, beats]
            if s and s.beats_in + s.beats_out:
                pct = 100.0 * (hb["beats_in"] + hb["beats_out"]) / (s.beats_in + s.beats_out)
                parts.append(f"{pct:.0f}%")
            if hb.get("elapsed_s"):
                parts.append(f"{hb['cycle'] / hb['elapsed_s']:,.0f} cycles/s")
        return ", ".join(parts)

    def _write(self, text: str, *, permanent: bool) -> None:
        with self._lock:
            try:
                if self.live:
                    if not permanent:    # a wrapped line could not be redrawn in place
                        text = text[:max(20, shutil.get_terminal_size((120, 24)).columns - 1)]
                    self.stream.write("\r\033[K" + text + ("\n" if permanent else ""))
                    self._drawn = not permanent
                else:
                    self.stream.write(text + "\n")
                self.stream.flush()
            except (OSError, ValueError):     # stderr closed: progress is best effort
                pass

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._write(self.line(), permanent=False)
