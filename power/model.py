"""The power model: dynamic power of every driver from its toggle rate, an effective capacitance
per driver cell type and fanout, the clock frequency and VCCINT (docs/power.md).

For a data bit driven by a cell of class ``k`` (:func:`cell_class`) with fanout ``n`` and
toggle rate ``tr`` (toggles per clock cycle)::

    P = 1/2 * V^2 * f * tr * (C[k] + C["net"] + n * C["fanout"])

and every flip-flop adds its clock pin ``V^2 * f * C["clock_per_ff"]`` (two edges a cycle).
The power of an instance is the sum over the drivers inside its own module (a bit that
leaves the module is charged to the instance that drives it). Linear in the coefficients:
:func:`instance_features` returns, per instance, the factor of each coefficient, so that
``P_i = sum_k C[k] * F[i, k]`` (C in pF, F in W/pF): estimation and the Vivado calibration
(:mod:`ivita.power.calibrate`) share it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .netlist import MappedNetlist

__all__ = ["PowerModel", "load_model", "cell_class", "COEFFICIENTS", "instance_features",
           "BitActivity"]

#: coefficient names, in the order of the feature columns
COEFFICIENTS = ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "FF", "CARRY4", "MUXF7",
                "MUXF8", "DSP48E1", "BRAM", "net", "fanout", "clock_per_ff")

_FF = ("FDRE", "FDSE", "FDCE", "FDPE", "FDRE_1", "FDSE_1", "FDCE_1", "FDPE_1", "LDCE", "LDPE")


def cell_class(cell_type: str) -> str | None:
    """The coefficient class of a Xilinx primitive (``None``: not modelled, e.g. buffers)."""
    t = cell_type
    if t in ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6"):
        return t
    if t == "INV":
        return "LUT1"
    if t in _FF:
        return "FF"
    if t in ("CARRY4", "MUXF7", "MUXF8", "DSP48E1"):
        return t
    if t.startswith("RAMB18") or t.startswith("RAMB36"):
        return "BRAM"
    return None


@dataclass(frozen=True)
class PowerModel:
    """Coefficients (pF), VCCINT, optional static power, and the name printed with figures."""

    name: str
    vccint_v: float
    coefficients_pf: dict[str, float]
    sources: dict[str, str]
    static_w: float | None = None
    static_source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def vector(self) -> np.ndarray:
        return np.array([self.coefficients_pf[k] for k in COEFFICIENTS], dtype=np.float64)

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.name,
                "vccint_v": {"value": self.vccint_v, "source": self.sources.get("vccint_v", "")},
                "coefficients_pf": {k: {"value": self.coefficients_pf[k],
                                        "source": self.sources.get(k, "")}
                                    for k in COEFFICIENTS},
                "static_w": {"value": self.static_w, "source": self.static_source},
                **self.extra}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.as_dict(), indent=2) + "\n")


def _from_dict(d: dict[str, Any], where: str) -> PowerModel:
    try:
        coeffs = d["coefficients_pf"]
        missing = [k for k in COEFFICIENTS if k not in coeffs]
        if missing:
            raise ValueError(f"{where}: coefficients {', '.join(missing)} are missing")
        values, sources = {}, {}
        for k in COEFFICIENTS:
            v, src = coeffs[k]["value"], coeffs[k].get("source", "")
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
                raise ValueError(f"{where}: coefficient {k}={v!r} must be a number >= 0")
            if not src:
                raise ValueError(f"{where}: coefficient {k} names no source (every coefficient "
                                 f"must name its source or say 'assumption')")
            values[k], sources[k] = float(v), src
        sources["vccint_v"] = d["vccint_v"].get("source", "")
        st = d.get("static_w") or {}
        extra = {k: v for k, v in d.items()
                 if k not in ("version", "vccint_v", "coefficients_pf", "static_w")}
        return PowerModel(str(d["version"]), float(d["vccint_v"]["value"]), values, sources,
                          None if st.get("value") is None else float(st["value"]),
                          st.get("source", ""), extra)
    except (KeyError, TypeError) as e:
        raise ValueError(f"{where}: not a power model file ({e!r})") from None


def load_model(path: str | Path | None = None) -> PowerModel:
    """The shipped defaults (``coefficients.json``) or a saved model/calibration file."""
    if path is None:
        text = resources.files("ivita.power").joinpath("coefficients.json").read_text()
        return _from_dict(json.loads(text), "coefficients.json")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"power model file {str(p)!r} does not exist")
    try:
        d = json.loads(p.read_text())
    except ValueError as e:
        raise ValueError(f"{p}: not JSON ({e})") from None
    return _from_dict(d, str(p))


@dataclass(frozen=True)
class BitActivity:
    """Toggle rate (toggles per cycle) and static probability of one net bit."""

    rate: float
    prob: float


def instance_features(netlist: MappedNetlist, activity: dict[tuple[str, Any], BitActivity],
                      *, freq_hz: float, vccint_v: float) -> tuple[list[str], np.ndarray, int]:
    """``(paths, F, unknown)``: per instance path the feature row (W per pF of each
    coefficient, see the module docstring); ``unknown`` counts driven bits without activity
    (they are taken as not toggling). ``activity`` maps ``(instance path, bit id)``."""
    idx = {k: i for i, k in enumerate(COEFFICIENTS)}
    half = 0.5 * vccint_v ** 2 * freq_hz * 1e-12
    paths: list[str] = []
    rows: list[np.ndarray] = []
    unknown = 0
    for path, mod in netlist.instances():
        f = np.zeros(len(COEFFICIENTS))
        fanout: dict[Any, int] = {}
        for c in mod.cells:
            for b in c.ins:
                fanout[b] = fanout.get(b, 0) + 1
        for _, _, conns in mod.subs:
            for bits in conns.values():
                for b in bits:
                    fanout[b] = fanout.get(b, 0) + 1
        for d, bits in mod.ports.values():
            if d != "input":
                for b in bits:
                    fanout[b] = fanout.get(b, 0) + 1
        for c in mod.cells:
            k = cell_class(c.type)
            if k is None:
                continue
            if k == "FF":
                f[idx["clock_per_ff"]] += 2 * half
            for b in c.outs:
                if isinstance(b, str):
                    continue
                act = activity.get((path, b))
                if act is None:
                    unknown += 1
                    continue
                w = half * act.rate
                f[idx[k]] += w
                f[idx["net"]] += w
                f[idx["fanout"]] += w * fanout.get(b, 0)
        paths.append(path)
        rows.append(f)
    return paths, np.array(rows), unknown
