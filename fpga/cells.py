"""Resource counts of an xc7 netlist or a Vivado utilization report: :class:`CellCounts`.

One typed record for both sources. Yosys gives primitive cells (``LUT1`` .. ``LUT6``, ``FDRE``,
``CARRY4``, ``DSP48E1``, ...); :func:`classify_cells` turns its ``{cell_type: count}`` into a
:class:`CellCounts`. Vivado gives LUTs only as a total (``lut_unsized``) and LUTs used as
memory or shift registers in LUT sites; both sources count LUTRAM in LUT sites.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CellCounts", "classify_cells", "LUTRAM_SITES", "FF_CELLS", "SRL_CELLS"]

FF_CELLS = ("FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE")
SRL_CELLS = ("SRL16E", "SRLC16E", "SRLC32E")
#: LUT-as-memory primitives -> LUT sites each one occupies (UG474, distributed RAM)
LUTRAM_SITES: dict[str, int] = {
    "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4,
    "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM256X1D": 8,
    "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8,
}


@dataclass(frozen=True)
class CellCounts:
    """Resources of one module, instance or design.

    ``lut1`` .. ``lut6``: logic LUTs by input count (Yosys); ``lut_unsized``: logic LUTs known
    only as a total (Vivado). ``srl``: LUTs used as shift registers; ``lutram``: LUT sites used
    as distributed RAM. ``ramb18``/``ramb36``: block RAM primitives. ``other``: every other
    primitive by type (e.g. ``BUFG``), never a submodule.
    """

    lut1: int = 0
    lut2: int = 0
    lut3: int = 0
    lut4: int = 0
    lut5: int = 0
    lut6: int = 0
    lut_unsized: int = 0
    ff: int = 0
    carry4: int = 0
    muxf7: int = 0
    muxf8: int = 0
    srl: int = 0
    lutram: int = 0
    dsp48e1: int = 0
    ramb18: int = 0
    ramb36: int = 0
    other: dict[str, int] = field(default_factory=dict)

    @property
    def lut(self) -> int:
        """Logic LUTs (all sizes)."""
        return (self.lut1 + self.lut2 + self.lut3 + self.lut4 + self.lut5 + self.lut6
                + self.lut_unsized)

    @property
    def lut_sites(self) -> int:
        """LUT sites of the device used: logic LUTs + SRLs + LUTRAM (what a part's LUT
        count limits)."""
        return self.lut + self.srl + self.lutram

    @property
    def bram36(self) -> float:
        """Block RAM in RAMB36 tiles (a RAMB18 is half a tile)."""
        return self.ramb36 + self.ramb18 / 2

    def __add__(self, other: CellCounts) -> CellCounts:
        if not isinstance(other, CellCounts):
            return NotImplemented
        kw: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "other":
                merged = dict(self.other)
                for k, v in other.other.items():
                    merged[k] = merged.get(k, 0) + v
                kw["other"] = merged
            else:
                kw[f.name] = getattr(self, f.name) + getattr(other, f.name)
        return CellCounts(**kw)

    def scaled(self, n: int) -> CellCounts:
        """``n`` copies."""
        kw: dict[str, Any] = {f.name: getattr(self, f.name) * n
                              for f in dataclasses.fields(self) if f.name != "other"}
        return CellCounts(**kw, other={k: v * n for k, v in self.other.items()})

    def as_dict(self) -> dict[str, Any]:
        """Every field plus the derived ``lut``, ``lut_sites``, ``bram36``."""
        d = dataclasses.asdict(self)
        d.update(lut=self.lut, lut_sites=self.lut_sites, bram36=self.bram36)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CellCounts:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: (dict(v) if k == "other" else int(v))
                      for k, v in d.items() if k in names})


def classify_cells(cells: dict[str, int]) -> CellCounts:
    """``{xc7 primitive: count}`` -> :class:`CellCounts` (submodule instances must already be
    removed; unknown primitives go to ``other``)."""
    kw: dict[str, int] = {}
    other: dict[str, int] = {}
    simple = {"CARRY4": "carry4", "MUXF7": "muxf7", "MUXF8": "muxf8", "DSP48E1": "dsp48e1",
              "RAMB18E1": "ramb18", "RAMB36E1": "ramb36"}
    for cell, n in cells.items():
        n = int(n)
        if len(cell) == 4 and cell.startswith("LUT") and cell[3] in "123456":
            key = f"lut{cell[3]}"
        elif cell in FF_CELLS:
            key = "ff"
        elif cell in SRL_CELLS:
            key = "srl"
        elif cell in LUTRAM_SITES:
            kw["lutram"] = kw.get("lutram", 0) + n * LUTRAM_SITES[cell]
            continue
        elif cell in simple:
            key = simple[cell]
        else:
            other[cell] = other.get(cell, 0) + n
            continue
        kw[key] = kw.get(key, 0) + n
    return CellCounts(**kw, other=other)
