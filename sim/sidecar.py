"""Reading the JSON sidecar written next to each generated Verilog file.

Pure Python: a bench learns everything about the design (ports, payload field offsets, timing,
configuration, provenance) from this file, never from the Amaranth objects. Schema
(``"schema": 1``)::

    {
      "schema": 1,
      "name": "array_r4c4",                 # Verilog module name
      "component": "ivita.hw.array.SystolicArray",
      "config": {...} | null,                # config.as_dict()
      "timing": {"latency": 5, "latency_from": "first" | "last",   # ivita.hw.timing.Timing
                 "interval": 16, "per": "tile", "n": 16} | null,     # n: the run's row/K
      "clock": "clk" | null, "reset": "rst" | null,
      "ports": {"i_stream__payload": {"direction": "input", "width": 129}, ...},
      "streams": {"i_stream": {"direction": "in",          # the component is the sink
                                "valid": "i_stream__valid", "ready": "i_stream__ready",
                                "payload": "i_stream__payload",
                                "layout": <payload node, see ivita.sim.payload>}, ...},
      "signals": {"k_overflow": {"port": "k_overflow", "direction": "output", "width": 1,
                                 "layout": <node>}, ...},   # non-stream members
      "provenance": {"ivita": "0.1.0", "amaranth": "0.5.10", "git": "abc123-dirty", ...}
    }
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .payload import PayloadCodec, check_node

__all__ = ["SCHEMA", "Sidecar", "StreamInfo"]

SCHEMA = 1


@dataclass(frozen=True)
class StreamInfo:
    """One ``lib.stream`` member of the component as seen at the Verilog ports."""

    name: str
    direction: str          # "in": the component consumes it (we drive valid/payload)
    valid: str
    ready: str
    payload: str
    codec: PayloadCodec


class Sidecar:
    """A parsed, validated sidecar. Construct with :meth:`load` or from a ``dict``."""

    def __init__(self, data: Mapping[str, Any], path: Path | None = None):
        if data.get("schema") != SCHEMA:
            raise ValueError(f"sidecar {path or ''}: schema {data.get('schema')!r} is not "
                             f"{SCHEMA}")
        self.data = dict(data)
        self.path = path
        self.name: str = data["name"]
        self.ports: dict[str, dict[str, Any]] = dict(data["ports"])
        self.streams: dict[str, StreamInfo] = {}
        for sname, s in data.get("streams", {}).items():
            for role in ("valid", "ready", "payload"):
                if s[role] not in self.ports:
                    raise ValueError(f"sidecar: stream {sname} {role} port {s[role]!r} is not a "
                                     f"port of {self.name}")
            check_node(s["layout"], f"{sname}.payload")
            width = self.ports[s["payload"]]["width"]
            if s["layout"]["width"] != width:
                raise ValueError(f"sidecar: {sname} payload layout is {s['layout']['width']} "
                                 f"bits but port {s['payload']} is {width}")
            self.streams[sname] = StreamInfo(sname, s["direction"], s["valid"], s["ready"],
                                             s["payload"], PayloadCodec(s["layout"]))
        self.signals: dict[str, dict[str, Any]] = dict(data.get("signals", {}))

    @classmethod
    def load(cls, path: str | Path) -> "Sidecar":
        path = Path(path)
        return cls(json.loads(path.read_text()), path)

    @property
    def config(self) -> dict[str, Any] | None:
        return self.data.get("config")

    @property
    def timing(self) -> dict[str, Any] | None:
        """The component's declared timing for this run (see :mod:`ivita.hw.timing`)."""
        return self.data.get("timing")

    @property
    def latency(self) -> int | None:
        """Declared latency in cycles (``timing.latency``), ``None`` when undeclared."""
        t = self.timing
        return None if t is None else t["latency"]

    @property
    def latency_from(self) -> str:
        """``"first"`` or ``"last"``: which input beat the declared latency counts from."""
        t = self.timing
        return "first" if t is None else t["latency_from"]

    @property
    def interval(self) -> int | float | None:
        """Declared steady-state cycles per item (``timing.interval``, per ``timing.per``)."""
        t = self.timing
        return None if t is None else t["interval"]

    @property
    def clock(self) -> str | None:
        return self.data.get("clock")

    @property
    def reset(self) -> str | None:
        return self.data.get("reset")

    def stream(self, name: str) -> StreamInfo:
        try:
            return self.streams[name]
        except KeyError:
            raise KeyError(f"{self.name} has no stream {name!r}; it has "
                           f"{', '.join(self.streams) or 'none'}") from None

    def port_of(self, member: str) -> str:
        """Verilog port of a non-stream signature member (e.g. ``table_we``)."""
        if member in self.signals:
            return self.signals[member]["port"]
        if member in self.ports:
            return member
        raise KeyError(f"{self.name} has no port or member {member!r}")

    def inputs(self) -> list[str]:
        """Input ports other than clock and reset."""
        return [p for p, d in self.ports.items()
                if d["direction"] == "input" and p not in (self.clock, self.reset)]
