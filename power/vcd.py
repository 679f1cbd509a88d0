"""Toggle counts and static probabilities per net bit from a VCD, over a window of cycles.

:func:`count_activity` reads the ``$var`` declarations below ``scope`` (the bench's ``tb.dut``)
in the scopes ``keep`` names (instance paths such as ``""`` for the top and ``"pe_r0_c0"``;
the scopes of primitive cells inside them are skipped), then every value change. A bit toggles
when its value changes between ``0`` and ``1`` (changes to or from ``x``/``z`` are not counted);
only changes at times in ``[t0, t1)`` count. ``high`` is the time the bit spent at ``1``
inside the window as a fraction of it (its static probability). Zero-delay simulation:
no glitches are seen (docs/power.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["VarActivity", "count_activity", "timescale_ps"]

_UNITS = {"s": 10**12, "ms": 10**9, "us": 10**6, "ns": 10**3, "ps": 1, "fs": 10**-3}


@dataclass
class VarActivity:
    """One VCD variable: ``toggles[i]`` (count) and ``high[i]`` (fraction of the window at 1)
    for bit ``lsb + i`` (LSB first)."""

    scope: str
    name: str
    width: int
    lsb: int
    toggles: list[int]
    high: list[float]


def timescale_ps(text: str) -> float:
    """``"1ps"``, ``"1 ns"``, ``"10ns"`` -> picoseconds."""
    t = text.replace(" ", "").strip()
    num = "".join(ch for ch in t if ch.isdigit())
    unit = t[len(num):]
    if unit not in _UNITS or not num:
        raise ValueError(f"VCD timescale {text!r} is not understood")
    return int(num) * _UNITS[unit]


def _clean(name: str) -> str:
    return name[1:] if name.startswith("\\") else name


def count_activity(path: Path, *, scope: tuple[str, ...], keep: set[str], t0_ns: float,
                   t1_ns: float) -> list[VarActivity]:
    """Activity of every variable in the kept scopes (see the module docstring)."""
    if t1_ns <= t0_ns:
        raise ValueError(f"empty window [{t0_ns}, {t1_ns}) ns")
    by_code: dict[str, list[VarActivity]] = {}
    stack: list[str] = []
    ps = 1.0
    with open(path, "r", encoding="ascii", errors="replace") as f:
        for line in f:
            s = line.strip()
            if s.startswith("$timescale"):
                rest = s[len("$timescale"):].replace("$end", "").strip() or \
                    next(f).strip()
                ps = timescale_ps(rest)
            elif s.startswith("$scope"):
                stack.append(s.split()[2])
            elif s.startswith("$upscope"):
                stack.pop()
            elif s.startswith("$var"):
                parts = s.split()
                width, code, name = int(parts[2]), parts[3], _clean(parts[4])
                if tuple(stack[:len(scope)]) != scope:
                    continue
                inst = ".".join(stack[len(scope):])
                if inst not in keep:
                    continue
                lsb = 0
                if len(parts) > 5 and parts[5].startswith("["):
                    rng = parts[5].strip("[]").split(":")
                    lsb = min(int(rng[0]), int(rng[-1]))
                by_code.setdefault(code, []).append(
                    VarActivity(inst, name, width, lsb, [0] * width, [0] * width))
            elif s.startswith("$enddefinitions"):
                break
        lo = int(round(t0_ns * 1000 / ps))
        hi = int(round(t1_ns * 1000 / ps))
        _changes(f, by_code, lo, hi)
    out: list[VarActivity] = []
    for acts in by_code.values():
        for a in acts:
            a.high = [h / (hi - lo) for h in a.high]
        out.extend(acts)
    return out


def _changes(f, by_code: dict[str, list[VarActivity]], lo: int, hi: int) -> None:
    """Value changes: toggles in ``[lo, hi)``, time at 1 clipped to the window."""
    value: dict[str, int] = {c: -1 for c in by_code}      # -1: unknown (x) so far
    since: dict[str, int] = {c: lo for c in by_code}
    t = 0
    for line in f:
        ch = line[0]
        if ch == "#":
            t = int(line[1:])
            if t >= hi:
                break
            continue
        if ch == "b" or ch == "B":
            bits, code = line[1:].split()
            if code not in value:
                continue
            new = -1 if ("x" in bits or "z" in bits) else int(bits, 2)
        elif ch in "01xzXZ":
            code = line[1:].strip()
            if code not in value:
                continue
            new = int(ch) if ch in "01" else -1
        else:
            continue
        old = value[code]
        if new == old:
            continue
        acts = by_code[code]
        if old >= 0 and t >= lo:
            dt = t - max(since[code], lo)
            diff = old ^ new if new >= 0 else 0
            for act in acts:
                tog, high = act.toggles, act.high
                v, i = old, 0
                while v:
                    if v & 1:
                        high[i] += dt
                    v >>= 1
                    i += 1
                d, i = diff, 0
                while d:
                    if d & 1:
                        tog[i] += 1
                    d >>= 1
                    i += 1
        value[code] = new
        since[code] = t
    for code, old in value.items():
        if old > 0:
            dt = hi - max(since[code], lo)
            for act in by_code[code]:
                v, i = old, 0
                while v:
                    if v & 1:
                        act.high[i] += dt
                    v >>= 1
                    i += 1
