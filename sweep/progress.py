"""A progress bar on stderr for a sweep: ``[####....] 5/11 points, 2 failed, 3:12``.

Redrawn in place on a terminal; one line per finished point otherwise. Standard library only.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["SweepProgress"]


class SweepProgress:
    """``total`` points; :meth:`done` after each point (``reused`` ones count at once)."""

    WIDTH = 24

    def __init__(self, total: int, stream: TextIO | None = None, *, prog: str = "ivita sweep"
                 ) -> None:
        self.total, self.n, self.failed = total, 0, 0
        self.stream = stream if stream is not None else sys.stderr
        self.prog = prog
        self.t0 = time.monotonic()
        try:
            self.tty = bool(self.stream.isatty())
        except (AttributeError, ValueError):
            self.tty = False

    def line(self, last: str = "") -> str:
        filled = self.WIDTH * self.n // max(1, self.total)
        el = int(time.monotonic() - self.t0)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        fail = f", {self.failed} failed" if self.failed else ""
        return (f"{self.prog}: [{bar}] {self.n}/{self.total} points{fail}, "
                f"{el // 60}:{el % 60:02d}" + (f" -- {last}" if last else ""))

    def start(self, text: str) -> None:
        print(f"{self.prog}: {text}", file=self.stream, flush=True)

    def done(self, label: str, status: str, wall_s: float | None = None) -> None:
        self.n += 1
        self.failed += status == "failed"
        when = f" in {wall_s:.0f} s" if wall_s is not None else ""
        text = self.line(f"{label}: {status}{when}")
        if self.tty:
            print("\r\x1b[2K" + text, end="" if self.n < self.total else "\n",
                  file=self.stream, flush=True)
        else:
            print(text, file=self.stream, flush=True)
