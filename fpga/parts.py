"""Spartan-7 parts and boards, and the fit of a design's resources against a part."""

from __future__ import annotations

from dataclasses import dataclass

from .cells import CellCounts

__all__ = ["Part", "PARTS", "BOARDS", "DEFAULT_PART", "parse_part", "Fit", "fit"]


@dataclass(frozen=True)
class Part:
    """A Spartan-7 device: resource totals (DS180, Spartan-7 family overview, table 1)."""

    name: str            # e.g. "xc7s50"
    lut: int
    ff: int
    dsp: int
    ramb36: int
    package: str         # the package the default full part name uses


PARTS: dict[str, Part] = {
    "xc7s25": Part("xc7s25", lut=14_600, ff=29_200, dsp=80, ramb36=45, package="csga324"),
    "xc7s50": Part("xc7s50", lut=32_600, ff=65_200, dsp=120, ramb36=75, package="csga324"),
}

#: amaranth-boards Spartan-7 boards -> full part name
BOARDS: dict[str, str] = {
    "arty-s7-50": "xc7s50csga324-1",
    "arty-s7-25": "xc7s25csga324-1",
    "cmod-s7": "xc7s25csga225-1",
}

DEFAULT_PART = "xc7s50-1"
SPEED_GRADES = ("-1", "-2", "-1L")


@dataclass(frozen=True)
class PartChoice:
    """A parsed ``--part``: the device, its speed grade and the full Vivado part name."""

    part: Part
    speed: str           # "-1", "-2" or "-1L"
    full_name: str       # e.g. "xc7s50csga324-1"


def parse_part(text: str) -> PartChoice:
    """``"xc7s50-1"``, ``"xc7s25"`` or a full name like ``"xc7s25csga225-1"`` -> PartChoice.

    Raises ValueError naming the known devices and speed grades."""
    t = text.strip().lower()
    for name, part in PARTS.items():
        if not t.startswith(name):
            continue
        rest = t[len(name):]
        speed = "-1"
        for sg in sorted(SPEED_GRADES, key=len, reverse=True):
            if rest.lower().endswith(sg.lower()):
                speed, rest = sg, rest[: -len(sg)]
                break
        package = rest or part.package
        if not package.isalnum() or (rest and not rest.startswith(("csga", "ftgb", "cpga"))):
            break
        return PartChoice(part, speed, f"{name}{package}{speed}")
    raise ValueError(f"part {text!r} is not a known Spartan-7 part; use one of "
                     f"{', '.join(p + '-1' for p in PARTS)} (speed grade -1, -2 or -1L, "
                     f"optionally with a package: xc7s50csga324-1)")


@dataclass(frozen=True)
class Fit:
    """Used / available per resource and the percentage; ``fits`` when every one is <= 100 %."""

    part: str
    lut: int
    ff: int
    dsp: int
    bram36: float
    lut_pct: float
    ff_pct: float
    dsp_pct: float
    bram36_pct: float

    @property
    def fits(self) -> bool:
        return max(self.lut_pct, self.ff_pct, self.dsp_pct, self.bram36_pct) <= 100.0

    def message(self) -> str:
        """One line: ``fits xc7s50: LUT 12.3 %, ...`` or what does not fit and by how much."""
        over = [f"{k} {used:g} of {avail:g} ({pct:.1f} %)"
                for k, used, avail, pct in self._rows() if pct > 100.0]
        head = (f"fits {self.part}" if self.fits
                else f"does NOT fit {self.part} (" + "; ".join(over) + ")")
        return head + ": " + ", ".join(f"{k} {pct:.1f} %" for k, _, _, pct in self._rows())

    def _rows(self) -> list[tuple[str, float, float, float]]:
        p = PARTS[self.part]
        return [("LUT", self.lut, p.lut, self.lut_pct), ("FF", self.ff, p.ff, self.ff_pct),
                ("DSP48E1", self.dsp, p.dsp, self.dsp_pct),
                ("RAMB36", self.bram36, p.ramb36, self.bram36_pct)]


def fit(counts: CellCounts, part: Part) -> Fit:
    """Resources of ``counts`` against ``part`` (LUT sites incl. SRL/LUTRAM; RAMB18 = half)."""
    def pct(used: float, avail: int) -> float:
        return round(100.0 * used / avail, 2)
    return Fit(part=part.name, lut=counts.lut_sites, ff=counts.ff, dsp=counts.dsp48e1,
               bram36=counts.bram36, lut_pct=pct(counts.lut_sites, part.lut),
               ff_pct=pct(counts.ff, part.ff), dsp_pct=pct(counts.dsp48e1, part.dsp),
               bram36_pct=pct(counts.bram36, part.ramb36))
