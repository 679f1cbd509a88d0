"""Parsers for Vivado's text reports, for every Vivado version from 2018.1 on.

- :func:`parse_utilization` -- ``report_utilization -hierarchical``: one row per instance,
  depth from the two-space indentation of the Instance column; a module's own logic is an
  extra row named ``(name)``; the DSP column is ``DSP48 Blocks`` (2018.x) or ``DSP Blocks``
  (later); columns are found by name, so added or reordered columns do not matter.
- :func:`parse_timing_summary` -- ``report_timing_summary``: WNS/TNS/WHS/THS and the clocks.
- :func:`parse_power` -- ``report_power`` (``-hierarchical_depth``): the summary and section
  ``By Hierarchy``; depth from indentation; ``<0.001`` reads as an upper bound.
- :func:`parse_header` -- tool version, command, design and device (``Device`` drops the
  ``xc`` prefix in old versions; it is normalised to ``xc...``).

:func:`unit_result_from_reports` turns a finished run's report folder into the same
:class:`~ivita.fpga.synth.UnitResult` that ``ivita synth`` produces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cells import CellCounts

__all__ = ["ReportHeader", "UtilRow", "TimingSummary", "ClockInfo", "PowerEntry",
           "PowerReport", "ReportError", "parse_header", "parse_utilization",
           "parse_timing_summary", "parse_power", "find_reports", "unit_result_from_reports"]


class ReportError(ValueError):
    """A report that does not have the expected structure (the message says what is missing)."""


@dataclass(frozen=True)
class ReportHeader:
    tool_version: str     # e.g. "2018.3"
    command: str
    design: str
    device: str           # normalised, e.g. "xc7s50csga324-1"


def parse_header(text: str) -> ReportHeader:
    fields: dict[str, str] = {}
    for line in text.splitlines()[:40]:
        m = re.match(r"\|\s*([A-Za-z ]+?)\s*:\s*(.*?)\s*$", line)
        if m:
            fields.setdefault(m[1].strip(), m[2])
    tool = fields.get("Tool Version", "")
    vm = re.search(r"v\.?(\d{4}\.\d+(?:\.\d+)?)", tool)
    device = fields.get("Device", "").strip().lower()
    if device and not device.startswith("xc"):
        device = "xc" + device
    return ReportHeader(tool_version=vm[1] if vm else "", command=fields.get("Command", ""),
                        design=fields.get("Design", ""), device=device)


def _cells(line: str) -> list[str]:
    """Raw cells of a ``| a | b |`` table line (indentation kept)."""
    parts = line.rstrip().split("|")
    return parts[1:-1] if line.rstrip().endswith("|") else parts[1:]


def _num(text: str) -> tuple[float, bool]:
    """``"0.123"`` -> (0.123, False); ``"<0.001"`` -> (0.001, True)."""
    t = text.strip()
    bound = t.startswith("<")
    t = t.lstrip("<").strip()
    try:
        return float(t), bound
    except ValueError:
        raise ReportError(f"not a number: {text.strip()!r}") from None


def _depth(raw: str) -> int:
    return max(len(raw) - len(raw.lstrip(" ")) - 1, 0) // 2


@dataclass(frozen=True)
class UtilRow:
    """One row of the hierarchical utilization: ``own_logic`` rows (name in parentheses) hold
    the logic of the parent module itself."""

    instance: str
    module: str
    depth: int
    counts: CellCounts
    own_logic: bool


_UTIL_COLS = {
    "total luts": "total", "logic luts": "lut_unsized", "lutrams": "lutram", "srls": "srl",
    "ffs": "ff", "ramb36": "ramb36", "ramb18": "ramb18", "dsp48 blocks": "dsp48e1",
    "dsp blocks": "dsp48e1", "dsps": "dsp48e1", "carry4": "carry4", "f7 muxes": "muxf7",
    "f8 muxes": "muxf8",
}


def parse_utilization(text: str) -> tuple[ReportHeader, list[UtilRow]]:
    """Rows of ``report_utilization -hierarchical`` in report order."""
    lines = text.splitlines()
    header_idx = None
    for i, line in enumerate(lines):
        if line.lstrip().startswith("|") and re.search(r"\|\s*Instance\s*\|", line):
            header_idx = i
            break
    if header_idx is None:
        raise ReportError("no 'Instance' table: not a report_utilization -hierarchical report")
    names = [c.strip().lower() for c in _cells(lines[header_idx])]
    if "total luts" not in names and "logic luts" not in names:
        raise ReportError(f"utilization table without a LUT column: {names}")
    rows: list[UtilRow] = []
    for line in lines[header_idx + 1:]:
        s = line.strip()
        if not s:
            if rows:
                break
            continue
        if s.startswith("+"):
            continue
        if not s.startswith("|"):
            break
        cells = _cells(line)
        if len(cells) < len(names):
            continue
        raw_inst = cells[0]
        inst = raw_inst.strip()
        module = cells[1].strip() if len(names) > 1 and names[1] == "module" else ""
        vals: dict[str, int] = {}
        for name, cell in zip(names, cells):
            key = _UTIL_COLS.get(name)
            if key:
                v, _ = _num(cell)
                vals[key] = vals.get(key, 0) + int(v)
        total = vals.pop("total", None)
        if "lut_unsized" not in vals and total is not None:
            vals["lut_unsized"] = total - vals.get("lutram", 0) - vals.get("srl", 0)
        rows.append(UtilRow(instance=inst, module=module, depth=_depth(raw_inst),
                            counts=CellCounts(**vals),
                            own_logic=inst.startswith("(") and inst.endswith(")")))
    if not rows:
        raise ReportError("the utilization table has no rows")
    return parse_header(text), rows


@dataclass(frozen=True)
class ClockInfo:
    name: str
    period_ns: float
    frequency_mhz: float


@dataclass(frozen=True)
class TimingSummary:
    """Design timing summary; ``fmax_mhz`` = 1000 / (period - WNS) of the first clock (what
    the design would reach on this placement, Vivado's own number)."""

    wns_ns: float | None
    tns_ns: float | None
    whs_ns: float | None
    ths_ns: float | None
    failing_endpoints: int | None
    clocks: tuple[ClockInfo, ...]
    tool_version: str = ""
    kind: str = "vivado"

    @property
    def met(self) -> bool:
        return (self.wns_ns is None or self.wns_ns >= 0) and \
            (self.whs_ns is None or self.whs_ns >= 0)

    @property
    def fmax_mhz(self) -> float | None:
        if not self.clocks or self.wns_ns is None:
            return None
        return round(1000.0 / (self.clocks[0].period_ns - self.wns_ns), 1)

    def summary(self) -> str:
        clk = self.clocks[0] if self.clocks else None
        target = f"{clk.frequency_mhz:g} MHz target" if clk else "no clock"
        return (f"Vivado {self.tool_version}: WNS {self.wns_ns} ns, WHS {self.whs_ns} ns "
                f"({target}; {'met' if self.met else 'NOT met'}) -> Fmax {self.fmax_mhz} MHz")

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "wns_ns": self.wns_ns, "tns_ns": self.tns_ns,
                "whs_ns": self.whs_ns, "ths_ns": self.ths_ns,
                "failing_endpoints": self.failing_endpoints, "met": self.met,
                "fmax_mhz": self.fmax_mhz, "tool_version": self.tool_version,
                "clocks": [[c.name, c.period_ns, c.frequency_mhz] for c in self.clocks]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TimingSummary:
        return cls(d["wns_ns"], d["tns_ns"], d["whs_ns"], d["ths_ns"], d["failing_endpoints"],
                   tuple(ClockInfo(*c) for c in d["clocks"]), d.get("tool_version", ""))


def parse_timing_summary(text: str) -> TimingSummary:
    lines = text.splitlines()
    values: dict[str, str] = {}
    for i, line in enumerate(lines):
        if "WNS(ns)" in line and "TNS(ns)" in line:
            heads = re.split(r"\s{2,}", line.strip())
            j = i + 1
            while j < len(lines) and (not lines[j].strip() or set(lines[j].strip()) <= {"-", " "}):
                j += 1
            vals = lines[j].split() if j < len(lines) else []
            if len(vals) < len(heads):
                raise ReportError("the Design Timing Summary has fewer values than columns")
            values = dict(zip(heads, vals))
            break
    if not values:
        raise ReportError("no 'Design Timing Summary' (WNS/TNS table) in the report")

    def f(key: str) -> float | None:
        v = values.get(key)
        if v is None or v.upper() in ("NA", "INF", "-INF"):
            return None
        return float(v)

    clocks: list[ClockInfo] = []
    in_clocks = False
    for line in lines:
        if re.match(r"\s*Clock\s+Waveform\(ns\)\s+Period\(ns\)\s+Frequency\(MHz\)", line):
            in_clocks = True
            continue
        if in_clocks:
            m = re.match(r"\s*(\S+)\s+\{[^}]*\}\s+([\d.]+)\s+([\d.]+)", line)
            if m:
                clocks.append(ClockInfo(m[1], float(m[2]), float(m[3])))
            elif clocks and not line.strip():
                break
    fe = values.get("TNS Failing Endpoints")
    return TimingSummary(wns_ns=f("WNS(ns)"), tns_ns=f("TNS(ns)"), whs_ns=f("WHS(ns)"),
                         ths_ns=f("THS(ns)"), failing_endpoints=int(fe) if fe and
                         fe.isdigit() else None, clocks=tuple(clocks),
                         tool_version=parse_header(text).tool_version)


@dataclass(frozen=True)
class PowerEntry:
    """One row of ``By Hierarchy``: ``watts`` is an upper bound when the report said
    ``<watts``."""

    name: str
    depth: int
    watts: float
    upper_bound: bool


@dataclass(frozen=True)
class PowerReport:
    total_w: float
    dynamic_w: float | None
    static_w: float | None
    confidence: str
    hierarchy: tuple[PowerEntry, ...]
    tool_version: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"total_w": self.total_w, "dynamic_w": self.dynamic_w,
                "static_w": self.static_w, "confidence": self.confidence,
                "tool_version": self.tool_version,
                "hierarchy": [[e.name, e.depth, e.watts, e.upper_bound]
                              for e in self.hierarchy]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PowerReport:
        return cls(d["total_w"], d["dynamic_w"], d["static_w"], d["confidence"],
                   tuple(PowerEntry(*e) for e in d["hierarchy"]), d.get("tool_version", ""))


def parse_power(text: str) -> PowerReport:
    lines = text.splitlines()
    summary: dict[str, str] = {}
    for line in lines:
        c = _cells(line) if line.strip().startswith("|") else []
        if len(c) >= 2:
            summary.setdefault(c[0].strip(), c[1].strip())
    if "Total On-Chip Power (W)" not in summary:
        raise ReportError("no 'Total On-Chip Power (W)' in the report: not a report_power output")

    def val(key: str) -> float | None:
        v = summary.get(key)
        if v is None:
            return None
        return _num(v.rstrip("*").strip())[0]

    entries: list[PowerEntry] = []
    start = None
    for i, line in enumerate(lines):
        if re.match(r"\s*\d+(\.\d+)*\s+By Hierarchy\s*$", line):
            start = i
    if start is not None:
        header = None
        for line in lines[start + 1:]:
            s = line.strip()
            if not s or s.startswith(("-", "+")):
                if entries and not s:
                    break
                continue
            if not s.startswith("|"):
                break
            c = _cells(line)
            if header is None:
                header = [x.strip() for x in c]
                continue
            w, bound = _num(c[1])
            entries.append(PowerEntry(c[0].strip(), _depth(c[0]), w, bound))
    return PowerReport(total_w=val("Total On-Chip Power (W)") or 0.0,
                       dynamic_w=val("Dynamic (W)"), static_w=val("Device Static (W)"),
                       confidence=summary.get("Confidence Level", ""),
                       hierarchy=tuple(entries), tool_version=parse_header(text).tool_version)


def find_reports(directory: str | Path) -> dict[str, Path]:
    """``{"utilization": path, "timing": path, "power": path}`` of the reports in
    ``directory``, recognised by their ``Command`` line (a non-hierarchical utilization
    report is skipped; of two hierarchical ones the later, post-route one wins)."""
    found: dict[str, Path] = {}
    for p in sorted(Path(directory).glob("*.rpt")) + sorted(Path(directory).glob("*.txt")):
        try:
            head = p.read_text(errors="replace")[:4000]
        except OSError:
            continue
        cmd = parse_header(head).command
        if "report_utilization" in cmd and "-hierarchical" in cmd:
            if "synth" not in p.name or "utilization" not in found:
                found["utilization"] = p
        elif "report_timing_summary" in cmd:
            found["timing"] = p
        elif "report_power" in cmd:
            found["power"] = p
    return found


def unit_result_from_reports(directory: str | Path, *, unit: str = "",
                              reports: dict[str, Path] | None = None) -> Any:
    """A finished Vivado run's reports -> :class:`~ivita.fpga.synth.UnitResult` (instances
    from the hierarchical utilization, Vivado's timing summary and power when present).
    ``reports``: the files to read (keys as :func:`find_reports`) instead of finding them."""
    from .synth import InstanceUtil, UnitResult

    reports = find_reports(directory) if reports is None else reports
    if "utilization" not in reports:
        raise ReportError(f"no report_utilization -hierarchical report (*.rpt) in {directory}")
    header, rows = parse_utilization(reports["utilization"].read_text(errors="replace"))
    top = rows[0].instance
    instances: list[InstanceUtil] = []
    stack: list[str] = []
    own_of: dict[str, CellCounts] = {}
    for row in rows:
        stack = stack[:row.depth]
        if row.own_logic:
            own_of["/".join(stack)] = row.counts
            continue
        stack.append(row.instance)
        path = "/".join(stack[1:]).replace("/", ".")
        instances.append(InstanceUtil(path=path, module=row.module, own=row.counts,
                                      total=row.counts))
    # a row's own logic: the "(module)" row when present, else its total minus its children
    fixed = []
    for inst in instances:
        key = "/".join([top] + (inst.path.split(".") if inst.path else []))
        own = own_of.get(key)
        fixed.append(InstanceUtil(inst.path, inst.module, own if own is not None else inst.own,
                                  inst.total))
    timing = parse_timing_summary(reports["timing"].read_text(errors="replace")) \
        if "timing" in reports else None
    power = parse_power(reports["power"].read_text(errors="replace")) \
        if "power" in reports else None
    return UnitResult(unit=unit or top, top=top, config={"device": header.device},
                      instances=tuple(fixed), total=rows[0].counts, timing=None, wall_s=0.0,
                      cached=False, source=f"Vivado {header.tool_version} reports in "
                                           f"{Path(directory)} ({header.device})",
                      vivado_timing=timing, power=power)
