"""The sweep's progress bar: a line per point off a terminal, redrawn in place on one."""

from __future__ import annotations

import io

from ivita.sweep.progress import SweepProgress


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines():
    s = io.StringIO()
    p = SweepProgress(4, s)
    p.done("a2w2 2x2", "ok", 3.0)
    p.done("a3w3 2x2", "failed", 1.0)
    lines = s.getvalue().splitlines()
    assert lines[0].startswith("ivita sweep: [######..................] 1/4 points, 0:0")
    assert lines[0].endswith("-- a2w2 2x2: ok in 3 s")
    assert "2/4 points, 1 failed" in lines[1]


def test_tty_redraws_in_place():
    s = _Tty()
    p = SweepProgress(2, s)
    p.done("x", "ok")
    p.done("y", "ok")
    out = s.getvalue()
    assert out.count("\r\x1b[2K") == 2 and out.endswith("\n") and out.count("\n") == 1
    assert "[########################] 2/2 points" in out
