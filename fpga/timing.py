"""Timing *estimate* without place and route: the longest register-to-register path of a
flattened Yosys xc7 netlist under a documented delay model for Spartan-7 speed grade -1.

Yosys' own ``sta`` has no arcs for ``FDRE``/``CARRY4`` and plain ``ltp`` walks through
flip-flops and DSP48E1s, so :func:`estimate_timing` walks the netlist itself: paths start at a
register output (``FD*`` ``Q``, a registered DSP48E1/RAMB output, an input port) and end at a
register input (``D``, ``CE``, ``R``/``S``, a registered DSP/RAMB input, an output port);
LUTs, MUXF7/8, CARRY4 and unregistered DSP48E1 stages are combinational. The path delay is
``clock-to-out + sum(cell delays) + sum(net delays) + setup``; ``fmax = 1 / delay``, capped at
the global clock buffer's limit. Every coefficient of :data:`SPARTAN7_1` says where it comes
from; most are *assumptions* (values typical of Vivado timing reports for 7-series -1 parts,
not checked against the switching tables of the Spartan-7 data sheet DS189, which was not
available offline). Routing is the largest uncertainty: expect Vivado to differ by +-30 % or
more. The result is always an estimate.

Ports are assumed to be registered outside the unit (out-of-context view).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DelayModel", "SPARTAN7_1", "TimingEstimate", "PathStep", "NearPath",
           "estimate_timing"]


@dataclass(frozen=True)
class Coef:
    value: float       # ns
    source: str


@dataclass(frozen=True)
class DelayModel:
    """Delay coefficients in ns, each with its source."""

    name: str
    coefs: dict[str, Coef]
    fmax_cap_mhz: Coef

    def __getitem__(self, key: str) -> float:
        return self.coefs[key].value

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name,
                "coefficients": {k: {"ns": c.value, "source": c.source}
                                 for k, c in self.coefs.items()},
                "fmax_cap_mhz": {"mhz": self.fmax_cap_mhz.value,
                                 "source": self.fmax_cap_mhz.source}}


_A = ("assumption: a value typical of Vivado timing reports for 7-series speed grade -1 "
      "(Artix-7/Spartan-7 share the CLB); not checked against DS189's switching tables")
SPARTAN7_1 = DelayModel(
    name="spartan7-1 logic-depth model v1 (estimate)",
    coefs={
        "ff_clk_to_q": Coef(0.46, _A),
        "ff_setup_d": Coef(0.06, _A),
        "ff_setup_ce": Coef(0.20, _A),
        "ff_setup_sr": Coef(0.52, _A + " (synchronous set/reset pin)"),
        "lut": Coef(0.12, _A + " (any LUT input to O6)"),
        "muxf": Coef(0.26, _A + " (MUXF7/MUXF8 input to O)"),
        "carry_entry": Coef(0.50, _A + " (CARRY4 S/DI/CYINIT to a CO/O output)"),
        "carry_ci": Coef(0.11, _A + " (CARRY4 CI to CO3, per chained CARRY4)"),
        "carry_ci_o": Coef(0.20, _A + " (CARRY4 CI to a sum output O)"),
        "net": Coef(0.45, "assumption: one general-routing hop after placement, fanout 1-2"),
        "net_per_log2_fanout": Coef(0.10, "assumption: extra routing per doubling of fanout"),
        "dsp_a_to_p": Coef(3.85, _A + " (DSP48E1 A/B to P, no internal register)"),
        "dsp_c_to_p": Coef(1.70, _A + " (DSP48E1 C to P, no internal register)"),
        "dsp_a_to_m": Coef(2.40, _A + " (DSP48E1 A/B to the M register setup)"),
        "dsp_m_to_p": Coef(1.60, _A + " (DSP48E1 M register to P, PREG = 0)"),
        "dsp_clk_to_p": Coef(0.43, _A + " (DSP48E1 P register clock to out)"),
        "dsp_setup_reg": Coef(0.30, _A + " (DSP48E1 A/B/C register setup)"),
        "dsp_cascade": Coef(0.30, _A + " (DSP48E1 A/B to ACOUT/BCOUT, dedicated cascade)"),
        "dsp_c_to_preg": Coef(1.40, _A + " (DSP48E1 C to the P register setup)"),
        "bram_clk_to_do": Coef(2.45, _A + " (RAMB18/36 clock to DO, no output register)"),
        "bram_clk_to_do_reg": Coef(0.90, _A + " (RAMB18/36 clock to DO with DO_REG = 1)"),
        "bram_setup": Coef(0.60, _A + " (RAMB18/36 address/data/enable setup)"),
        "srl_clk_to_q": Coef(1.30, _A + " (SRL16E/SRLC32E clock to Q)"),
        "lutram_clk_to_o": Coef(1.00, _A + " (distributed RAM write clock to O)"),
        "lutram_setup": Coef(0.50, _A + " (distributed RAM D/WE setup)"),
    },
    fmax_cap_mhz=Coef(464.0, "'Operating Frequency Max 464 MHz' of XC7S50-1 in a distributor's "
                             "listing quoting DS189 v1.6 (the Spartan-7 data sheet); taken as "
                             "the global clock limit of speed grade -1 (assumption)"),
)


@dataclass(frozen=True)
class PathStep:
    """One cell on the critical path: instance name, cell type, arrival at its output (ns)."""

    cell: str
    type: str
    arrival_ns: float


@dataclass(frozen=True)
class NearPath:
    """One of the next-slowest endpoints (one per start register and end module, slowest
    first): its path's delay, start, end and the cells of each kind on it. An estimate."""

    period_ns: float
    start: str
    end: str
    lut_levels: int
    carry4: int

    def summary(self) -> str:
        return (f"{self.period_ns:.2f} ns ({1000.0 / self.period_ns:.0f} MHz), "
                f"{self.lut_levels} LUT + {self.carry4} CARRY4, {self.start} -> {self.end}")


@dataclass(frozen=True)
class TimingEstimate:
    """The estimated critical register-to-register path and the Fmax it implies.

    ``lut_levels``/``carry4``/``muxf``/``dsp_stages``: cells of each kind on that path.
    ``start``/``end``: the launching and capturing cell (or port). ``near``: the next
    slowest endpoints, one per start register and end module, slowest first (up to :data:`NEAR_PATHS`), to see what
    limits the design after the critical path. Always an *estimate*."""

    period_ns: float
    fmax_mhz: float
    capped: bool                 # fmax was limited by the clock buffer, not by logic
    lut_levels: int
    carry4: int
    muxf: int
    dsp_stages: int
    start: str
    end: str
    path: tuple[PathStep, ...] = field(default=())
    model: str = SPARTAN7_1.name
    kind: str = "estimate"
    near: tuple[NearPath, ...] = field(default=())

    @property
    def depth(self) -> int:
        return len(self.path)

    def summary(self) -> str:
        cap = f" (capped at the {SPARTAN7_1.fmax_cap_mhz.value:g} MHz clock limit)" \
            if self.capped else ""
        return (f"estimated Fmax {self.fmax_mhz:.0f} MHz{cap}: path {self.period_ns:.2f} ns, "
                f"{self.lut_levels} LUT + {self.carry4} CARRY4 + {self.muxf} MUXF + "
                f"{self.dsp_stages} DSP, {self.start} -> {self.end} "
                f"[estimate, model: {self.model}]")

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model, "period_ns": self.period_ns,
                "fmax_mhz": self.fmax_mhz, "capped": self.capped,
                "lut_levels": self.lut_levels, "carry4": self.carry4, "muxf": self.muxf,
                "dsp_stages": self.dsp_stages, "start": self.start, "end": self.end,
                "path": [[s.cell, s.type, s.arrival_ns] for s in self.path],
                "near": [[n.period_ns, n.start, n.end, n.lut_levels, n.carry4]
                         for n in self.near]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TimingEstimate:
        d = dict(d)
        path = tuple(PathStep(c, t, a) for c, t, a in d.pop("path", []))
        near = tuple(NearPath(*n) for n in d.pop("near", []))
        return cls(**d, path=path, near=near)


NEAR_PATHS = 50
"""How many next-slowest endpoints :func:`estimate_timing` lists beside the critical path."""


def _p(cell: dict[str, Any], name: str) -> int:
    v = cell.get("parameters", {}).get(name, "0")
    try:
        return int(str(v), 2) if set(str(v)) <= {"0", "1"} else int(v)
    except ValueError:
        return 0


_CASCADE_IN = ("ACIN", "BCIN", "PCIN", "CARRYCASCIN", "MULTSIGNIN")


def _dsp_group(port: str) -> str:
    """DSP48E1 input groups: ``mult`` (A, B, D and their cascades), ``add`` (C, PCIN, carry
    in), ``ctrl`` (everything else: modes, enables, resets)."""
    if port in ("A", "B", "D", "ACIN", "BCIN"):
        return "mult"
    if port in ("C", "PCIN", "CARRYIN", "CARRYCASCIN"):
        return "add"
    return "ctrl"


def _name_rank(label: str) -> tuple[bool, int, int]:
    """Prefer user names (no ``$``), then the most specific hierarchical one, then short."""
    return ("$" in label, -label.count("."), len(label))


def _clean(name: str) -> str:
    return name.lstrip("\\")


def estimate_timing(netlist: dict[str, Any], top: str,
                    model: DelayModel = SPARTAN7_1) -> TimingEstimate | None:
    """Estimate the critical path of the *flattened* module ``top`` of a Yosys JSON netlist.

    Returns None when the design has no register-to-register or port path."""
    mod = None
    for name, m in netlist["modules"].items():
        if _clean(name) == top:
            mod = m
    if mod is None:
        raise ValueError(f"module {top!r} not in the netlist")
    cells: dict[str, dict[str, Any]] = mod.get("cells", {})

    # driver of every net bit, and its fanout
    driver: dict[int, tuple[str, str]] = {}
    fanout: dict[int, int] = defaultdict(int)
    for cname, c in cells.items():
        for port, bits in c.get("connections", {}).items():
            d = c.get("port_directions", {}).get(port, "input")
            for b in bits:
                if isinstance(b, int):
                    if d == "output":
                        driver[b] = (cname, port)
                    else:
                        fanout[b] += 1
    for pname, p in mod.get("ports", {}).items():
        for b in p["bits"]:
            if isinstance(b, int):
                if p["direction"] == "input":
                    driver[b] = (f"port:{_clean(pname)}", "")
                else:
                    fanout[b] += 1

    # a readable name per net bit (see _name_rank), with its index
    bit_name: dict[int, str] = {}
    for nname, info in mod.get("netnames", {}).items():
        bits = info.get("bits", [])
        for i, b in enumerate(bits):
            if not isinstance(b, int):
                continue
            label = _clean(nname) + (f"[{i}]" if len(bits) > 1 else "")
            old = bit_name.get(b)
            if old is None or _name_rank(label) < _name_rank(old):
                bit_name[b] = label

    def reg_name(cname: str) -> str:
        """A register cell by the net its output drives (``pe_r0_c0.acc[3]``)."""
        c = cells.get(cname, {})
        for port, bits in c.get("connections", {}).items():
            if c.get("port_directions", {}).get(port) == "output":
                for b in bits:
                    if isinstance(b, int) and b in bit_name:
                        return bit_name[b].replace("$flatten\\", "").replace("\\", "")
        return _clean(cname)

    def kind(c: dict[str, Any]) -> str:
        t = _clean(c["type"])
        if t.startswith("LUT"):
            return "lut"
        if t in ("MUXF7", "MUXF8"):
            return "muxf"
        if t == "CARRY4":
            return "carry"
        if t.startswith(("FD", "LD")):
            return "ff"
        if t == "DSP48E1":
            return "dsp"
        if t.startswith("RAMB"):
            return "bram"
        if t.startswith(("SRL",)):
            return "srl"
        if t.startswith("RAM"):
            return "lutram"
        return "lut"      # unknown combinational primitive: one LUT delay

    def net_delay(bit: int, sink_cell: dict[str, Any], sink_port: str) -> float:
        drv = driver.get(bit)
        if drv is None:
            return 0.0
        dc = cells.get(drv[0])
        sk = kind(sink_cell)
        if dc is not None:
            dk = kind(dc)
            if sk == "carry" and dk == "carry" and sink_port == "CI":
                return 0.0                                   # dedicated carry
            if sk == "dsp" and dk == "dsp" and sink_port in _CASCADE_IN:
                return 0.0                                   # dedicated DSP cascade
            if sk == "muxf" and dk in ("lut", "muxf"):
                return 0.0                                   # inside the slice
            if sk == "carry" and dk == "lut" and fanout[bit] == 1:
                return 0.0                                   # LUT next to its CARRY4
        return model["net"] + model["net_per_log2_fanout"] * math.log2(max(fanout[bit], 1))

    # Source arrival of a cell output that starts a path (None: combinational output)
    def start_arrival(c: dict[str, Any], port: str) -> float | None:
        k = kind(c)
        if k == "ff":
            return model["ff_clk_to_q"]
        if k == "bram":
            reg = _p(c, "DOA_REG") if port.endswith("A") or "A" in port[:3] else _p(c, "DOB_REG")
            return model["bram_clk_to_do_reg"] if reg else model["bram_clk_to_do"]
        if k == "srl":
            return model["srl_clk_to_q"]
        if k == "lutram":
            return model["lutram_clk_to_o"]
        if k == "dsp":
            ab_reg = _p(c, "AREG") or _p(c, "BREG")
            if port.startswith(("ACOUT", "BCOUT")):
                return model["ff_clk_to_q"] + model["dsp_cascade"] if ab_reg else None
            if _p(c, "PREG"):
                return model["dsp_clk_to_p"]
            if _p(c, "MREG"):
                return model["ff_clk_to_q"] + model["dsp_m_to_p"]
            if ab_reg:
                return model["ff_clk_to_q"] + model["dsp_a_to_p"]
            return None
        return None

    # Combinational arc delay through a cell from an input port (None: the input ends a path)
    def comb_delay(c: dict[str, Any], inport: str, outport: str) -> float | None:
        k = kind(c)
        if k == "lut":
            return model["lut"]
        if k == "muxf":
            return model["muxf"]
        if k == "carry":
            if inport == "CI":
                return model["carry_ci"] if outport.startswith("CO") else model["carry_ci_o"]
            return model["carry_entry"]
        if k == "dsp":
            group = _dsp_group(inport)
            ab_reg = _p(c, "AREG") or _p(c, "BREG")
            if outport.startswith(("ACOUT", "BCOUT")):
                return model["dsp_cascade"] if group == "mult" and not ab_reg else None
            if _p(c, "PREG") or _p(c, "MREG"):
                return None
            if group == "mult" and not ab_reg:
                return model["dsp_a_to_p"]
            if group == "add" and not _p(c, "CREG"):
                return model["dsp_c_to_p"]
            return None
        if k == "srl" and inport.startswith("A"):
            return model["lut"]
        if k == "lutram" and (inport.startswith(("A", "ADDR", "DPRA"))):
            return model["lut"]
        return None

    def end_setup(c: dict[str, Any], inport: str) -> float:
        k = kind(c)
        if k == "ff":
            if inport == "D":
                return model["ff_setup_d"]
            if inport == "CE":
                return model["ff_setup_ce"]
            return model["ff_setup_sr"] if inport in ("R", "S", "CLR", "PRE") else 0.0
        if k == "dsp":
            group = _dsp_group(inport)
            if group == "add" and not _p(c, "CREG"):
                return model["dsp_c_to_preg"]
            if group == "mult" and not (_p(c, "AREG") or _p(c, "BREG")):
                return model["dsp_a_to_m"] if _p(c, "MREG") else model["dsp_a_to_p"]
            return model["dsp_setup_reg"]
        if k == "bram":
            return model["bram_setup"]
        if k == "lutram":
            return model["lutram_setup"]
        return model["ff_setup_d"]

    # arrival of every net bit, computed on demand with an explicit stack
    arrival: dict[int, float] = {}
    pred: dict[int, tuple[str, int | None]] = {}
    CLOCKS = {"C", "CLK", "CLKARDCLK", "CLKBWRCLK", "WCLK", "CLKA", "CLKB"}

    def inputs_of(c: dict[str, Any]) -> list[tuple[str, int]]:
        return [(p, b) for p, bits in c.get("connections", {}).items()
                if c.get("port_directions", {}).get(p) == "input" and p not in CLOCKS
                for b in bits if isinstance(b, int)]

    def resolve(bit0: int) -> float:
        stack = [bit0]
        while stack:
            bit = stack[-1]
            if bit in arrival:
                stack.pop()
                continue
            drv = driver.get(bit)
            if drv is None:
                arrival[bit], pred[bit] = 0.0, ("", None)
                stack.pop()
                continue
            cname, port = drv
            if cname.startswith("port:"):
                arrival[bit], pred[bit] = model["ff_clk_to_q"], (cname, None)
                stack.pop()
                continue
            c = cells[cname]
            s = start_arrival(c, port)
            if s is not None:
                arrival[bit], pred[bit] = s, (cname, None)
                stack.pop()
                continue
            pending = [b for p, b in inputs_of(c)
                       if comb_delay(c, p, port) is not None and b not in arrival]
            if pending:
                stack.extend(pending)
                continue
            best, best_in = 0.0, None
            for p, b in inputs_of(c):
                d = comb_delay(c, p, port)
                if d is None:
                    continue
                t = arrival[b] + net_delay(b, c, p) + d
                if t > best:
                    best, best_in = t, b
            arrival[bit], pred[bit] = best, (cname, best_in)
            stack.pop()
        return arrival[bit0]

    ends: list[tuple[float, str, int]] = []       # (delay, endpoint label, net bit)
    for cname, c in cells.items():
        for p, b in inputs_of(c):
            k = kind(c)
            is_end = (k in ("ff", "bram") or
                      (k in ("dsp", "srl", "lutram") and comb_delay(c, p, "") is None))
            if not is_end or b not in driver:
                continue
            t = resolve(b) + net_delay(b, c, p) + end_setup(c, p)
            ends.append((t, f"{reg_name(cname)} ({_clean(c['type'])}.{p})", b))
    for pname, pinfo in mod.get("ports", {}).items():
        if pinfo["direction"] != "output":
            continue
        for b in pinfo["bits"]:
            if isinstance(b, int) and b in driver and not driver[b][0].startswith("port:"):
                t = resolve(b) + model["net"] + model["ff_setup_d"]
                ends.append((t, f"port:{_clean(pname)}", b))
    if not ends:
        return None
    ends.sort(key=lambda e: -e[0])

    def trace(end_bit: int) -> tuple[str, list[PathStep]]:
        """The launching cell and the logic cells of the slowest path into ``end_bit``."""
        steps: list[PathStep] = []
        bit: int | None = end_bit
        start = ""
        while bit is not None:
            cname, prev = pred[bit]
            if cname.startswith("port:") or not cname:
                start = cname or "constant"
                break
            c = cells[cname]
            steps.append(PathStep(_clean(cname), _clean(c["type"]), round(arrival[bit], 3)))
            if prev is None:
                start = f"{reg_name(cname)} ({_clean(c['type'])})"
                steps.pop()            # the launching register is not a logic level
                break
            bit = prev
        steps.reverse()
        return start, steps

    worst, worst_end, worst_bit = ends[0]
    start, steps = trace(worst_bit)

    def group(start: str, end: str) -> tuple[str, str]:
        """Paths of one start register into one module count once."""
        parts = end.split(" (")[0].split(".")
        module = []
        for part in parts[:-1]:
            if "$" in part:
                break
            module.append(part)
        return re.sub(r"\[\d+\]", "", start), ".".join(module)

    near: list[NearPath] = []
    seen = {group(start, worst_end)}
    for t, label, b in ends[1:]:
        n_start, n_steps = trace(b)
        if group(n_start, label) in seen:
            continue
        seen.add(group(n_start, label))
        n_types = [x.type for x in n_steps]
        near.append(NearPath(round(t, 3), n_start, label,
                             sum(x.startswith("LUT") for x in n_types),
                             n_types.count("CARRY4")))
        if len(near) == NEAR_PATHS:
            break
    types = [s.type for s in steps]
    period = round(worst, 3)
    raw_fmax = 1000.0 / period if period > 0 else float("inf")
    cap = model.fmax_cap_mhz.value
    return TimingEstimate(
        period_ns=period, fmax_mhz=round(min(raw_fmax, cap), 1), capped=raw_fmax > cap,
        lut_levels=sum(t.startswith("LUT") for t in types), carry4=types.count("CARRY4"),
        muxf=sum(t in ("MUXF7", "MUXF8") for t in types),
        dsp_stages=types.count("DSP48E1") + ("DSP48E1" in start),
        start=start, end=worst_end, path=tuple(steps), model=model.name, near=tuple(near))
