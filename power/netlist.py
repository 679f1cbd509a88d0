"""The Yosys xc7-mapped netlist of a unit, hierarchy kept, as Verilog plus a cell graph.

:func:`mapped_netlist` runs the same ``synth_xilinx -family xc7 -noiopad -noclkbuf [-nodsp]``
as :func:`ivita.fpga.synth.synthesize` (no ``-flatten``: every ``pe_r{r}_c{c}`` stays its own
module), then ``rename -enumerate`` so that every internal net has a plain name that the
Verilog netlist, the simulator's VCD and the SAIF file all share, and writes:

- ``netlist.v`` (``write_verilog -noattr``): Xilinx primitives, simulated with Yosys's own
  ``share/xilinx/cells_sim.v`` (:mod:`ivita.power.gatesim`);
- a compact cell graph (from ``write_json``): per module its ports, nets (name -> bit ids),
  cells (type, output bits, input bits) and submodule instances. :mod:`ivita.power.model`
  reads driver types and fanouts from it.

Cached by a hash of the RTLIL, the options, the Yosys version and :data:`NETLIST_VERSION`
under ``$IVITA_CACHE/synth`` (the cache of ``ivita synth``), as ``<key>.netlist.v`` and
``<key>.cells.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivita.fpga.synth import _run_yosys, cache_dir, yosys_version

__all__ = ["MappedNetlist", "Module", "Cell", "mapped_netlist", "NETLIST_VERSION",
           "netlist_from_json"]

#: bump when the script or the cached format changes
NETLIST_VERSION = 1


@dataclass(frozen=True)
class Cell:
    """One primitive: ``outs``/``ins`` are bit ids (ints) or constants (``"0"``/``"1"``)."""

    name: str
    type: str
    outs: tuple[Any, ...]
    ins: tuple[Any, ...]


@dataclass(frozen=True)
class Module:
    """One module of the mapped design."""

    name: str
    ports: dict[str, tuple[str, tuple[Any, ...]]]       # name -> (direction, bits)
    nets: dict[str, tuple[Any, ...]]                    # public net name -> bits (LSB first)
    cells: tuple[Cell, ...]
    subs: tuple[tuple[str, str, dict[str, tuple[Any, ...]]], ...]   # (instance, module, conns)


@dataclass(frozen=True)
class MappedNetlist:
    """The Verilog text path, the top module and every module of the design."""

    top: str
    verilog: Path
    modules: dict[str, Module]
    source: str
    wall_s: float
    cached: bool

    def instances(self) -> list[tuple[str, Module]]:
        """``(path, module)`` of every instance, top first (path ``""``), depth first, in
        natural order (``pe_r0_c2`` before ``pe_r0_c10``)."""
        out: list[tuple[str, Module]] = []

        def walk(path: str, mod: Module) -> None:
            out.append((path, mod))
            for inst, sub, _ in sorted(mod.subs, key=lambda s: _natural(s[0])):
                walk(f"{path}.{inst}" if path else inst, self.modules[sub])

        walk("", self.modules[self.top])
        return out

    def cell_counts(self) -> dict[str, int]:
        """Primitive counts of the whole design by type (instances expanded)."""
        acc: dict[str, int] = {}
        for _, mod in self.instances():
            for c in mod.cells:
                acc[c.type] = acc.get(c.type, 0) + 1
        return acc


def _natural(s: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def netlist_from_json(doc: dict[str, Any], top: str) -> dict[str, Module]:
    """The compact modules of a Yosys ``write_json`` document (the design's modules only:
    those reachable from ``top``). Cell port directions come from the JSON's
    ``port_directions``; a primitive without them is an error."""
    raw = {k.lstrip("\\"): v for k, v in doc["modules"].items()}
    if top not in raw:
        raise ValueError(f"top module {top!r} not in the netlist: {sorted(raw)[:10]} ...")
    out: dict[str, Module] = {}
    todo = [top]
    while todo:
        name = todo.pop()
        if name in out:
            continue
        m = raw[name]
        ports = {p: (d["direction"], tuple(d["bits"])) for p, d in m.get("ports", {}).items()}
        nets = {n: tuple(d["bits"]) for n, d in m.get("netnames", {}).items()
                if not d.get("hide_name", 0)}
        cells: list[Cell] = []
        subs: list[tuple[str, str, dict[str, tuple[Any, ...]]]] = []
        for cname, c in m.get("cells", {}).items():
            ctype = c["type"].lstrip("\\")
            conns = {p: tuple(b) for p, b in c.get("connections", {}).items()}
            if ctype in raw and not _is_primitive(raw[ctype]):
                subs.append((cname, ctype, conns))
                todo.append(ctype)
                continue
            dirs = c.get("port_directions")
            if not dirs:
                raise ValueError(f"cell {cname} ({ctype}) in {name} has no port directions")
            outs = tuple(b for p, bits in conns.items() if dirs.get(p) == "output" for b in bits)
            ins = tuple(b for p, bits in conns.items() if dirs.get(p) != "output" for b in bits)
            cells.append(Cell(cname, ctype, outs, ins))
        out[name] = Module(name, ports, nets, tuple(cells), tuple(subs))
    return out


def _is_primitive(mod: dict[str, Any]) -> bool:
    attrs = mod.get("attributes", {})
    return any(k in attrs for k in ("blackbox", "whitebox", "abc9_box", "lib_whitebox"))


def mapped_netlist(component: Any, top: str, *, nodsp: bool = False, cache: bool = True,
                   progress: Callable[[str], None] | None = None,
                   timeout: float = 3600) -> MappedNetlist:
    """Synthesize ``component`` (top module ``top``) for xc7, hierarchy kept, and return its
    mapped netlist (Verilog path in the cache, cell graph). With ``cache=False`` the Verilog
    is a private temporary file that the caller deletes (``netlist.verilog.unlink()``). Raises
    :class:`~ivita.fpga.synth.SynthError` when Yosys fails."""
    from amaranth.back import rtlil

    if not isinstance(top, str) or not top.isidentifier():
        raise ValueError(f"top={top!r} must be a plain identifier")
    text = rtlil.convert(component, name=top)
    version = yosys_version()
    options = {"nodsp": bool(nodsp), "netlist": NETLIST_VERSION}
    key = hashlib.sha256(json.dumps([text, options, version, top], sort_keys=True)
                         .encode()).hexdigest()[:32]
    d = cache_dir()
    vpath, cpath = d / f"{key}.netlist.v", d / f"{key}.cells.json"
    source = (f"{version}: synth_xilinx -family xc7 -noiopad -noclkbuf"
              f"{' -nodsp' if nodsp else ''}; rename -enumerate; write_verilog -noattr "
              f"(hierarchy kept)")
    if cache and vpath.is_file() and cpath.is_file():
        try:
            mods = _load_cells(json.loads(cpath.read_text()))
            return MappedNetlist(top, vpath, mods, source, 0.0, True)
        except (ValueError, KeyError, TypeError):
            pass
    if progress:
        progress(f"synthesizing {top} with {version} (synth_xilinx -family xc7"
                 f"{' -nodsp' if nodsp else ''}, hierarchy kept) ...")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ivita-netlist-") as tmp:
        Path(tmp, "design.il").write_text(text)
        script = (f"read_rtlil design.il; synth_xilinx -family xc7 -top {top} -noiopad "
                  f"-noclkbuf{' -nodsp' if nodsp else ''}; rename -enumerate -pattern n%_; "
                  f"opt_clean; write_verilog -noattr netlist.v; write_json netlist.json")
        _run_yosys(script, tmp, timeout, progress, top)
        verilog = Path(tmp, "netlist.v").read_text()
        mods = netlist_from_json(json.loads(Path(tmp, "netlist.json").read_text()), top)
    wall = round(time.monotonic() - t0, 1)
    if progress:
        progress(f"  {top}: mapped netlist in {wall:.1f} s")
    if not cache:
        # an uncached run still needs a file for the simulator: a private temp copy
        fd, name = tempfile.mkstemp(prefix="ivita-netlist-", suffix=".v")
        os.close(fd)
        Path(name).write_text(verilog)
        return MappedNetlist(top, Path(name), mods, source, wall, False)
    d.mkdir(parents=True, exist_ok=True)
    for path, body in ((vpath, verilog), (cpath, json.dumps(_dump_cells(mods)))):
        tmp_path = path.with_suffix(f".{os.getpid()}.tmp")
        tmp_path.write_text(body)
        os.replace(tmp_path, path)
    return MappedNetlist(top, vpath, mods, source, wall, False)


def _dump_cells(mods: dict[str, Module]) -> dict[str, Any]:
    return {name: {"ports": {p: [d, list(b)] for p, (d, b) in m.ports.items()},
                   "nets": {n: list(b) for n, b in m.nets.items()},
                   "cells": [[c.name, c.type, list(c.outs), list(c.ins)] for c in m.cells],
                   "subs": [[i, s, {p: list(b) for p, b in conns.items()}]
                            for i, s, conns in m.subs]}
            for name, m in mods.items()}


def _load_cells(d: dict[str, Any]) -> dict[str, Module]:
    return {name: Module(name, {p: (v[0], tuple(v[1])) for p, v in m["ports"].items()},
                         {n: tuple(b) for n, b in m["nets"].items()},
                         tuple(Cell(c[0], c[1], tuple(c[2]), tuple(c[3])) for c in m["cells"]),
                         tuple((i, s, {p: tuple(b) for p, b in conns.items()})
                               for i, s, conns in m["subs"]))
            for name, m in d.items()}
