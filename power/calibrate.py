"""Fit the power model to Vivado's ``report_power -hierarchical`` numbers (least squares).

The model is linear in its coefficients: instance ``i`` draws ``P_i = sum_k C[k] F[i, k]``
(:func:`ivita.power.model.instance_features`). With the activity of the same run that was
given to Vivado (the SAIF file of ``ivita power``), every instance Vivado reports gives one
equation ``P_i = W_i``. The coefficients are fitted in groups, one non-negative scale per
group applied to the current values (:data:`GROUPS`: the ``pe_r{r}_c{c}`` of one array are
nearly identical, so 15 free coefficients would not be identifiable, five scales are):
``C[k] = s[g(k)] * C0[k]``. A group whose features are all zero keeps its scale 1 and is
reported as not fitted. Static power becomes the reports' mean ``Device Static (W)``.

Rows: each instance of the report's ``By Hierarchy`` table whose path is an instance of the
netlist (the top by its own name, children by their names below it); the top's row minus its
children's rows is the top's own logic.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ivita.fpga.vivado_reports import PowerReport as VivadoPower
from ivita.fpga.vivado_reports import parse_power

from .model import COEFFICIENTS, PowerModel

__all__ = ["GROUPS", "Calibration", "fit_scales", "vivado_targets", "calibrate_model",
           "read_reports"]

#: coefficient groups fitted with one scale each
GROUPS: dict[str, tuple[str, ...]] = {
    "logic": ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "MUXF7", "MUXF8"),
    "flip-flops": ("FF",),
    "carry": ("CARRY4",),
    "blocks": ("DSP48E1", "BRAM"),
    "routing": ("net", "fanout"),
    "clock": ("clock_per_ff",),
}


@dataclass(frozen=True)
class Calibration:
    model: PowerModel
    scales: dict[str, float | None]        # None: not fitted (no activity in that group)
    rows: int
    rms_residual_w: float
    max_rel_error: float


def fit_scales(features: np.ndarray, targets_w: np.ndarray, coeffs: np.ndarray
               ) -> dict[str, float | None]:
    """Non-negative least squares of ``targets = features @ (coeffs * s[group])`` over the
    group scales ``s`` (an active-set loop: a negative scale is fixed at 0 and the rest refit).
    """
    f = np.asarray(features, dtype=np.float64)
    y = np.asarray(targets_w, dtype=np.float64)
    if f.ndim != 2 or f.shape[1] != len(COEFFICIENTS) or y.shape != (f.shape[0],):
        raise ValueError(f"features must be (n, {len(COEFFICIENTS)}) and targets (n,); got "
                         f"{f.shape} and {y.shape}")
    idx = {k: i for i, k in enumerate(COEFFICIENTS)}
    cols, names = [], []
    for g, members in GROUPS.items():
        col = sum(f[:, idx[k]] * coeffs[idx[k]] for k in members)
        if np.any(col > 0):
            cols.append(col)
            names.append(g)
    out: dict[str, float | None] = {g: None for g in GROUPS}
    if not cols:
        return out
    a = np.stack(cols, axis=1)
    active = list(range(len(names)))
    while True:
        sol, *_ = np.linalg.lstsq(a[:, active], y, rcond=None)
        neg = [active[i] for i, v in enumerate(sol) if v < 0]
        if not neg:
            break
        active = [i for i in active if i not in neg]
        if not active:
            sol = np.array([])
            break
    for g in names:
        out[g] = 0.0
    for i, v in zip(active, sol):
        out[names[i]] = float(v)
    return out


def vivado_targets(report: VivadoPower, paths: list[str], top: str
                   ) -> dict[str, float]:
    """``{instance path: watts}`` of the netlist instances the report lists (see the module
    docstring); the top's value is its own logic (its row minus its depth-1 children)."""
    rows = report.hierarchy
    if not rows:
        raise ValueError("the report has no 'By Hierarchy' table (report_power -hierarchical "
                         "-hierarchical_depth N)")
    base = min(e.depth for e in rows)
    stack: list[str] = []
    found: dict[str, float] = {}
    children_sum = 0.0
    top_w = None
    for e in rows:
        d = e.depth - base
        name = e.name.strip()
        stack[d:] = [name]
        if d == 0:
            if name == top:
                top_w = e.watts
            continue
        if stack[0] != top:
            continue
        path = ".".join(stack[1:])
        if path in paths:
            found[path] = e.watts
            if d == 1:
                children_sum += e.watts
    if top_w is None:
        raise ValueError(f"the report's hierarchy has no top instance {top!r} "
                         f"(rows: {', '.join(e.name.strip() for e in rows[:5])} ...)")
    found[""] = max(0.0, top_w - children_sum)
    return found


def calibrate_model(base: PowerModel, paths: list[str], features: np.ndarray,
                    reports: list[tuple[str, str]], *, top: str) -> Calibration:
    """Fit ``base`` to the reports (``(name, text)`` pairs) for one run's features."""
    if not reports:
        raise ValueError("no Vivado report to calibrate with")
    xs, ys, statics = [], [], []
    for name, text in reports:
        rep = parse_power(text)
        tg = vivado_targets(rep, paths, top)
        for i, p in enumerate(paths):
            if p in tg:
                xs.append(features[i])
                ys.append(tg[p])
        if rep.static_w is not None:
            statics.append(rep.static_w)
    if len(ys) < 2:
        raise ValueError(f"only {len(ys)} report rows match the netlist's instances; "
                         f"need at least 2")
    f, y = np.array(xs), np.array(ys)
    c0 = base.vector()
    scales = fit_scales(f, y, c0)
    coeffs = dict(base.coefficients_pf)
    sources = dict(base.sources)
    names = ", ".join(n for n, _ in reports)
    for g, members in GROUPS.items():
        s = scales[g]
        for k in members:
            if s is not None:
                coeffs[k] = base.coefficients_pf[k] * s
                sources[k] = (f"fit: {s:.4g} x ({base.name}) value, least squares over "
                              f"{len(y)} instances of Vivado report_power -hierarchical "
                              f"[{names}]")
    pred = f @ np.array([coeffs[k] for k in COEFFICIENTS])
    rms = float(np.sqrt(np.mean((pred - y) ** 2)))
    rel = float(np.max(np.abs(pred - y) / np.maximum(np.abs(y), 1e-9)))
    date = datetime.date.today().isoformat()
    static = float(np.mean(statics)) if statics else base.static_w
    model = PowerModel(name=f"calibration of {base.name} to [{names}] ({date})",
                       vccint_v=base.vccint_v, coefficients_pf=coeffs, sources=sources,
                       static_w=static,
                       static_source=(f"Device Static (W) of [{names}]" if statics
                                      else base.static_source),
                       extra={"calibration": {"reports": [n for n, _ in reports],
                                              "instances": len(y), "scales": scales,
                                              "rms_residual_w": rms,
                                              "max_rel_error": rel}})
    return Calibration(model, scales, len(y), rms, rel)


def read_reports(files: list[str | Path]) -> list[tuple[str, str]]:
    """``(file name, text)`` of each report; a missing file is a FileNotFoundError naming it."""
    out = []
    for fname in files:
        p = Path(fname)
        if not p.is_file():
            raise FileNotFoundError(f"Vivado report {str(p)!r} does not exist")
        out.append((p.name, p.read_text(errors="replace")))
    return out

