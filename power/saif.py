"""SAIF (IEEE 1801 Annex I, "backward" SAIF 2.0) of one run's activity.

One ``INSTANCE`` per instance of the mapped design, nested as in the hierarchy: the top is
named after the unit (``array``, the top of the ``ivita build`` Vivado project of the same
unit) and holds ``pe_r{r}_c{c}``, so that ``read_saif -strip_path <tb path> file.saif`` (or
``read_saif`` of this file as written, whose top already is the design's top) annotates the
same nets. Every net bit gets ``T0``/``T1`` (time at 0/1), ``TX`` 0 and ``TC`` (toggle
count) over the window; ``DURATION`` is the window length in ``TIMESCALE`` units (1 ns).
Bus bits are written ``name\\[i\\]`` (SAIF escapes brackets in identifiers).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from typing import Any

from .estimate import CLOCK_NS, ActivityRun

__all__ = ["saif_text", "saif_escape"]


def saif_escape(name: str) -> str:
    """A net or instance name as a SAIF identifier (``[``, ``]``, ``$``, ``.``, ``/`` escaped)."""
    return re.sub(r"([\[\]$./\\:()])", r"\\\1", name)


def saif_text(run: ActivityRun, *, design: str = "array", date: str | None = None) -> str:
    """The SAIF file of ``run`` (see the module docstring)."""
    cycles = run.window[1] - run.window[0]
    duration = cycles * CLOCK_NS
    date = date or datetime.datetime.now(datetime.timezone.utc).strftime("%a %b %d %H:%M:%S %Y")
    mods = dict(run.netlist.instances())
    by_inst: dict[str, list[tuple[str, int, int, Any]]] = {}
    for (path, _bit), (name, i) in run.names.items():
        width = len(mods[path].nets[name])
        by_inst.setdefault(path, []).append((name, i, width, run.activity[(path, _bit)]))
    out = ["(SAIFILE", '(SAIFVERSION "2.0")', '(DIRECTION "backward")',
           f'(DESIGN "{design}")', f'(DATE "{date}")', '(VENDOR "ivita")',
           '(PROGRAM_NAME "ivita power")', '(VERSION "1")', "(DIVIDER / )",
           "(TIMESCALE 1 ns)", f"(DURATION {duration})"]
    paths = [p for p, _ in run.netlist.instances()]
    out.extend(_instance("", run.netlist.top, paths, by_inst, duration, cycles, 0))
    out.append(")")
    return "\n".join(out) + "\n"


def _instance(path: str, name: str, paths: list[str], by_inst: dict, duration: int,
              cycles: int, depth: int) -> Iterable[str]:
    ind = "  " * (depth + 1)
    yield f"{ind}(INSTANCE {saif_escape(name)}"
    nets = sorted(by_inst.get(path, []), key=lambda t: (t[0], t[1]))
    if nets:
        yield f"{ind}  (NET"
        for net, i, width, act in nets:
            ident = saif_escape(net) + (f"\\[{i}\\]" if width > 1 else "")
            t1 = int(round(act.prob * duration))
            tc = int(round(act.rate * cycles))
            yield f"{ind}    ({ident} (T0 {duration - t1}) (T1 {t1}) (TX 0) (TC {tc}))"
        yield f"{ind}  )"
    prefix = f"{path}." if path else ""
    for child in paths:
        if child.startswith(prefix) and child != path and "." not in child[len(prefix):]:
            yield from _instance(child, child[len(prefix):], paths, by_inst, duration, cycles,
                                 depth + 1)
    yield f"{ind})"
