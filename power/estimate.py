"""``estimate_power``: per-PE power of the systolic array from gate-level activity (an estimate).

Steps (each timed in :attr:`PowerReport.timings`): synthesize the array (``ivita synth``'s
flow, hierarchy kept, cached: :mod:`ivita.power.netlist`), build the operand stream
(:mod:`ivita.power.stimulus`), simulate the mapped netlist with Yosys's cell models
(:mod:`ivita.power.gatesim`, Verilator; the build is cached per netlist), check every output
tile against ``A @ B`` in int64 (the netlist simulation is itself verified: a mismatch raises
:class:`GateLevelMismatch`), count toggles per net bit over the steady-state window
(:mod:`ivita.power.vcd`) and apply the power model (:mod:`ivita.power.model`).

Window: from ``rows + cols + 2`` cycles after reset (the pipeline has filled: every PE is
multiplying) to the cycle the last input beat is accepted.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ivita.model import ArrayConfig

from .gatesim import RESET_CYCLES, pack_beats, run_gatesim, unpack_outputs
from .model import BitActivity, PowerModel, instance_features, load_model
from .netlist import MappedNetlist, mapped_netlist
from .stimulus import operand_stream
from .vcd import count_activity

__all__ = ["estimate_power", "PowerReport", "GateLevelMismatch", "activity_run",
           "ActivityRun", "PE_TOP"]

PE_TOP = "array"
CLOCK_NS = 10


class GateLevelMismatch(AssertionError):
    """The gate-level outputs differ from the model."""


@dataclass
class ActivityRun:
    """One simulated run: the netlist, the per-bit activity, the window and the timings."""

    netlist: MappedNetlist
    config: ArrayConfig
    activity: dict[tuple[str, Any], BitActivity]
    names: dict[tuple[str, Any], tuple[str, int]]       # (path, bit) -> (net name, index)
    window: tuple[int, int]
    macs: int
    label: str
    simulator: str
    timings: dict[str, float]
    tiles_checked: int
    cpu: dict[str, float] = field(default_factory=dict)


@dataclass
class PowerReport:
    """Per-PE power **estimate** of one run. ``per_pe_mw``/``toggle_rate``: ``rows x cols``
    (toggle rate = mean toggles per cycle over the PE's driven bits); ``total_mw`` =
    ``dynamic_mw + static_mw`` (``static_mw`` is 0 unless the model states a static power);
    ``energy_per_mac_pj`` = dynamic energy of the whole array per MAC in the window;
    ``model``: the model version or calibration name used."""

    per_pe_mw: np.ndarray
    toggle_rate: np.ndarray
    total_mw: float
    dynamic_mw: float
    static_mw: float
    energy_per_mac_pj: float
    macs: int
    cycles: int
    model: str
    rows: int = 0
    cols: int = 0
    a_bits: int = 0
    w_bits: int = 0
    freq_hz: float = 100e6
    baseline: bool = False
    data: str = ""
    data_label: str = ""
    part: str = ""
    units_mw: dict[str, float] = field(default_factory=dict)
    static_prob: np.ndarray | None = None
    timings: dict[str, float] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)
    simulator: str = ""
    tiles_checked: int = 0
    unknown_bits: int = 0
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"estimate": True, "model": self.model, "rows": self.rows, "cols": self.cols,
                "a_bits": self.a_bits, "w_bits": self.w_bits, "freq_hz": self.freq_hz,
                "baseline": "dequant-first" if self.baseline else None, "data": self.data,
                "data_label": self.data_label, "part": self.part,
                "per_pe_mw": self.per_pe_mw.round(6).tolist(),
                "toggle_rate": self.toggle_rate.round(6).tolist(),
                "static_prob": (self.static_prob.round(6).tolist()
                                if self.static_prob is not None else None),
                "units_mw": {k: round(v, 6) for k, v in self.units_mw.items()},
                "total_mw": round(self.total_mw, 6), "dynamic_mw": round(self.dynamic_mw, 6),
                "static_mw": round(self.static_mw, 6),
                "energy_per_mac_pj": round(self.energy_per_mac_pj, 6), "macs": self.macs,
                "cycles": self.cycles, "simulator": self.simulator,
                "tiles_checked": self.tiles_checked, "unknown_bits": self.unknown_bits,
                "netlist": self.source, "timings_s": {k: round(v, 2)
                                                      for k, v in self.timings.items()},
                "cpu_s": {k: round(v, 2) for k, v in self.cpu_s.items()}}


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the machine may be shared, so
    wall time alone does not show where the time goes)."""
    import resource

    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


def _progress(progress: Callable[[str], None] | None, msg: str) -> None:
    if progress:
        progress(msg)


def activity_run(*, rows: int, cols: int, a_bits: int, w_bits: int, data: str = "attention",
                 baseline: bool = False, seed: int = 0, simulator: str = "verilator",
                 max_beats: int = 512, workdir: Path | None = None, keep_vcd: bool = False,
                 progress: Callable[[str], None] | None = None) -> ActivityRun:
    """Synthesize, simulate and verify; return the per-bit activity over the window."""
    from ivita.fpga.units import UnitOptions, build_unit

    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}
    t0, c0 = time.monotonic(), _cpu()
    opts = UnitOptions(rows=rows, cols=cols, a_bits=a_bits, b_bits=w_bits)
    if baseline:
        # the 16-bit dequant-first PE array (docs/numerics.md §3), same shape and k_max
        from ivita.hw.array import SystolicArray
        cfg = ArrayConfig(rows=rows, cols=cols, a_bits=a_bits, b_bits=w_bits,
                          k_max=opts.k_max, dequant_first=True)
        comp = SystolicArray(cfg)
    else:
        comp, cfg = build_unit("array", opts)
    nl = mapped_netlist(comp, PE_TOP, progress=progress)
    timings["synthesis"] = time.monotonic() - t0
    cpu["synthesis"] = _cpu() - c0
    t1 = time.monotonic()
    stream = operand_stream(data, rows, cols, a_bits, w_bits, seed=seed, baseline=baseline,
                            max_beats=max_beats)
    words = pack_beats([t.a for t in stream.tiles], [t.b for t in stream.tiles],
                       cfg.pe_a_bits, cfg.pe_b_bits)
    timings["stimulus"] = time.monotonic() - t1
    in_w = rows * cfg.pe_a_bits + cols * cfg.pe_b_bits + 1
    out_w = cols * cfg.acc_bits + 1
    own_tmp = None
    if workdir is None:
        own_tmp = tempfile.TemporaryDirectory(prefix="ivita-power-")
        workdir = Path(own_tmp.name)
    try:
        c1 = _cpu()
        res = run_gatesim(nl.verilog, top=PE_TOP, words=words, in_width=in_w, out_width=out_w,
                          rows=rows, cols=cols, workdir=workdir, simulator=simulator,
                          progress=progress)
        timings["simulator build"] = res.build_s
        timings["simulation"] = res.run_s
        cpu["simulator build + simulation"] = _cpu() - c1
        got = unpack_outputs([p for _, p in res.outputs], rows, cols, cfg.acc_bits)
        exp = np.stack([t.a @ t.b for t in stream.tiles])
        if got.shape != exp.shape or not np.array_equal(got, exp) or res.k_overflow:
            bad = (f"{got.shape[0]} tiles out, {exp.shape[0]} expected" if got.shape != exp.shape
                   else f"first mismatch at tile {int(np.argwhere(got != exp)[0][0])}"
                   if not np.array_equal(got, exp) else "k_overflow set")
            raise GateLevelMismatch(f"gate-level netlist output != model A @ B: {bad}")
        _progress(progress, f"gate-level outputs == model on {exp.shape[0]} tiles")
        t2, c2 = time.monotonic(), _cpu()
        w0 = RESET_CYCLES + rows + cols + 2
        w1 = res.last_input_cycle
        if w1 - w0 < 8:
            raise ValueError(f"the stream is too short for a steady-state window "
                             f"({w1 - w0} cycles); raise max_beats")
        keep = {p for p, _ in nl.instances()}
        acts = count_activity(res.vcd, scope=("tb", "dut"), keep=keep,
                              t0_ns=w0 * CLOCK_NS + CLOCK_NS / 2,
                              t1_ns=w1 * CLOCK_NS + CLOCK_NS / 2)
        activity, names = _bit_activity(nl, acts, w1 - w0)
        timings["toggle counting"] = time.monotonic() - t2
        cpu["toggle counting"] = _cpu() - c2
        if keep_vcd is False and res.vcd is not None and own_tmp is None:
            res.vcd.unlink(missing_ok=True)
    finally:
        if own_tmp is not None:
            own_tmp.cleanup()
    macs = rows * cols * (w1 - w0)
    return ActivityRun(nl, cfg, activity, names, (w0, w1), macs, stream.label, simulator,
                       timings, exp.shape[0], cpu)


def _bit_activity(nl: MappedNetlist, acts: list, cycles: int
                  ) -> tuple[dict[tuple[str, Any], BitActivity], dict[tuple[str, Any],
                                                                      tuple[str, int]]]:
    by_name = {(a.scope, a.name): a for a in acts}
    out: dict[tuple[str, Any], BitActivity] = {}
    names: dict[tuple[str, Any], tuple[str, int]] = {}
    for path, mod in nl.instances():
        for name, bits in mod.nets.items():
            a = by_name.get((path, name))
            if a is None:
                continue
            for i, b in enumerate(bits):
                if isinstance(b, str) or (path, b) in out or i >= a.width:
                    continue
                out[(path, b)] = BitActivity(a.toggles[i] / cycles, a.high[i])
                names[(path, b)] = (name, i)
    return out, names


def _pe_grid(paths: list[str], values: np.ndarray, rows: int, cols: int) -> np.ndarray:
    from ivita.fpga.synth import PE_RE

    g = np.zeros((rows, cols))
    for p, v in zip(paths, values):
        m = PE_RE.search(p)
        if m:
            g[int(m[1]), int(m[2])] = v
    return g


def report_from_run(run: ActivityRun, model: PowerModel, *, freq_hz: float, part: str,
                    data: str, baseline: bool, a_bits: int, w_bits: int) -> PowerReport:
    """Apply ``model`` to the activity of ``run``."""
    t0 = time.monotonic()
    cfg = run.config
    paths, feats, unknown = instance_features(run.netlist, run.activity, freq_hz=freq_hz,
                                              vccint_v=model.vccint_v)
    watts = feats @ model.vector()
    per_pe = _pe_grid(paths, watts * 1e3, cfg.rows, cfg.cols)
    # toggle rate and static probability per PE: mean over the bits its own cells drive
    tr = np.zeros((cfg.rows, cfg.cols))
    sp = np.zeros((cfg.rows, cfg.cols))
    from ivita.fpga.synth import PE_RE
    for path, mod in run.netlist.instances():
        m = PE_RE.search(path)
        if not m:
            continue
        rates = [run.activity[(path, b)] for c in mod.cells for b in c.outs
                 if not isinstance(b, str) and (path, b) in run.activity]
        if rates:
            tr[int(m[1]), int(m[2])] = float(np.mean([r.rate for r in rates]))
            sp[int(m[1]), int(m[2])] = float(np.mean([r.prob for r in rates]))
    pe_total = float(per_pe.sum())
    dyn_mw = float(watts.sum() * 1e3)
    units = {"PEs": pe_total, "array (skew, drain, control)": dyn_mw - pe_total}
    static_mw = (model.static_w or 0.0) * 1e3
    cycles = run.window[1] - run.window[0]
    energy = dyn_mw * 1e-3 * cycles / freq_hz / run.macs * 1e12
    timings = dict(run.timings)
    timings["power model"] = time.monotonic() - t0
    return PowerReport(per_pe_mw=per_pe, toggle_rate=tr, total_mw=dyn_mw + static_mw,
                       dynamic_mw=dyn_mw, static_mw=static_mw, energy_per_mac_pj=energy,
                       macs=run.macs, cycles=cycles, model=model.name, rows=cfg.rows,
                       cols=cfg.cols, a_bits=a_bits, w_bits=w_bits, freq_hz=freq_hz,
                       baseline=baseline, data=data, data_label=run.label, part=part,
                       units_mw=units, static_prob=sp, timings=timings, cpu_s=dict(run.cpu),
                       simulator=run.simulator, tiles_checked=run.tiles_checked,
                       unknown_bits=unknown, source=run.netlist.source)


def estimate_power(*, rows: int, cols: int, a_bits: int, w_bits: int, freq_hz: float = 100e6,
                   data: str = "attention", baseline: bool = False, part: str = "xc7s50-1",
                   seed: int = 0, progress: Callable[[str], None] | None = None,
                   model: PowerModel | str | Path | None = None,
                   simulator: str = "verilator", max_beats: int = 512) -> PowerReport:
    """Per-PE power **estimate** of a ``rows x cols`` array at ``a_bits x w_bits`` (see the
    module docstring). ``baseline``: the 16-bit dequant-first array on the same data.
    ``model``: a :class:`PowerModel` or a model/calibration file (default: the shipped
    uncalibrated coefficients). ``simulator``: ``"verilator"`` or ``"icarus"`` (tiny arrays).
    ``max_beats``: input beats per matmul kind. ``progress(msg)``: progress lines. Raises
    ValueError for a bad option (the message names the value and its limit) and
    :class:`GateLevelMismatch` when the netlist simulation disagrees with the model."""
    from ivita.fpga.parts import parse_part
    from ivita.model.checks import check_int

    rows = check_int(rows, "rows", 1, 32)
    cols = check_int(cols, "cols", 1, 32)
    a_bits = check_int(a_bits, "a_bits", 2, 16)
    w_bits = check_int(w_bits, "w_bits", 2, 16)
    if isinstance(freq_hz, bool) or not isinstance(freq_hz, (int, float)) or \
            not 1e6 <= float(freq_hz) <= 1e9:
        raise ValueError(f"freq_hz={freq_hz!r} is out of range; it must be in [1e6, 1e9]")
    if data not in ("attention", "random"):
        raise ValueError(f"data={data!r} is not one of attention, random")
    parse_part(part)
    pm = model if isinstance(model, PowerModel) else load_model(model)
    run = activity_run(rows=rows, cols=cols, a_bits=a_bits, w_bits=w_bits, data=data,
                       baseline=baseline, seed=seed, simulator=simulator, progress=progress,
                       max_beats=check_int(max_beats, "max_beats", 16, 21845))
    return report_from_run(run, pm, freq_hz=float(freq_hz), part=part, data=data,
                           baseline=baseline, a_bits=a_bits, w_bits=w_bits)

