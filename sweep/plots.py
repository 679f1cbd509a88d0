"""PNG plots of a sweep (matplotlib, Agg back end).

:func:`make_plots` writes, from the points' rows (:meth:`ivita.sweep.db.ResultsDB.points`):

- ``pe_power.png``: per-PE power vs width (equal a/w widths; the baseline as a line) -- only
  when the power stage gave numbers;
- ``lut_per_pe.png``: LUTs per PE vs width (equal widths as a line, mixed pairs as points, the
  dequant-first baseline as a dashed line);
- ``pareto.png``: energy per MAC vs accuracy with the Pareto front (lower energy, higher
  accuracy); without power numbers the cost axis is LUTs per PE and the title says so;
- ``int_vs_dequant.png``: integerized points vs the dequant-first baseline (LUTs per PE, and
  per-PE power when known).

Returns ``{name: path}`` of the plots written and ``{name: reason}`` of those left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["make_plots", "pareto_front", "PLOTS"]

PLOTS = ("pareto", "lut_per_pe", "pe_power", "int_vs_dequant")


def pareto_front(pts: list[tuple[float, float]]) -> list[int]:
    """Indices of the points ``(cost, accuracy)`` that no other point beats (lower or equal
    cost and higher or equal accuracy, one strictly), sorted by cost."""
    idx = []
    for i, (c, a) in enumerate(pts):
        if not any((c2 <= c and a2 >= a) and (c2 < c or a2 > a) for c2, a2 in pts):
            idx.append(i)
    return sorted(idx, key=lambda i: (pts[i][0], -pts[i][1]))


def _plt() -> Any:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def _by_shape(rows: list[dict[str, Any]]) -> dict[tuple[int, int], list[dict[str, Any]]]:
    out: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault((r["rows"], r["cols"]), []).append(r)
    return out


def _vs_width(rows: list[dict[str, Any]], col: str, ylabel: str, title: str,
              path: Path) -> Path | None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    drawn = False
    for (r, c), grp in sorted(_by_shape(rows).items()):
        eq = sorted((p["a_bits"], p[col]) for p in grp
                    if not p["baseline"] and p["a_bits"] == p["w_bits"] and p[col] is not None)
        if eq:
            line = ax.plot([e[0] for e in eq], [e[1] for e in eq], "o-",
                           label=f"{r}x{c} integer, a = w")[0]
            drawn = True
            mixed = [p for p in grp if not p["baseline"] and p["a_bits"] != p["w_bits"]
                     and p[col] is not None]
            for p in mixed:
                ax.plot([(p["a_bits"] + p["w_bits"]) / 2], [p[col]], "s",
                        color=line.get_color(), mfc="none")
                ax.annotate(f"a{p['a_bits']}w{p['w_bits']}", ((p["a_bits"] + p["w_bits"]) / 2,
                            p[col]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        for p in grp:
            if p["baseline"] and p[col] is not None:
                ax.axhline(p[col], ls="--", color="gray")
                ax.annotate(f"dequant-first {r}x{c} (16-bit PEs)", (2, p[col]), fontsize=7,
                            xytext=(0, 3), textcoords="offset points")
                drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("operand width (bits; mixed pairs at the mean of a and w)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _pareto(rows: list[dict[str, Any]], path: Path) -> tuple[Path | None, str]:
    pts = [r for r in rows if r["accuracy"] is not None and not r["baseline"]]
    energy = [r for r in pts if r["energy_per_mac_pj"] is not None]
    if energy:
        pts, col, xl = energy, "energy_per_mac_pj", "energy per MAC (pJ, estimate: ivita.power model)"
        title = "energy per MAC vs accuracy (Pareto front)"
    else:
        pts = [r for r in pts if r["lut_per_pe"] is not None]
        col, xl = "lut_per_pe", "LUTs per PE (Yosys synthesis)"
        title = "cost vs accuracy (power unavailable: cost = LUTs per PE)"
    if not pts:
        return None, "no point has both an accuracy and a cost"
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    xy = [(float(r[col]), float(r["accuracy"])) for r in pts]
    ax.plot([x for x, _ in xy], [y for _, y in xy], "o", color="tab:blue", alpha=0.7)
    for r, (x, y) in zip(pts, xy):
        ax.annotate(f"a{r['a_bits']}w{r['w_bits']} {r['rows']}x{r['cols']}", (x, y), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    front = pareto_front(xy)
    ax.plot([xy[i][0] for i in front], [xy[i][1] for i in front], "-", color="tab:red",
            label="Pareto front")
    kinds = {r["accuracy_kind"] for r in pts if r.get("accuracy_kind")}
    ax.set_xlabel(xl)
    ax.set_ylabel(", ".join(sorted(kinds)) or "accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path), ""


def _int_vs_dequant(rows: list[dict[str, Any]], path: Path) -> tuple[Path | None, str]:
    base = [r for r in rows if r["baseline"] and r["lut_per_pe"] is not None]
    if not base:
        return None, "no dequant-first baseline point with synthesis results"
    plt = _plt()
    metrics = [("lut_per_pe", "LUTs per PE")]
    if any(r["pe_mw"] is not None for r in rows):
        metrics.append(("pe_mw", "power per PE (mW)"))
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.4 * len(metrics), 4.2), squeeze=False)
    for ax, (col, label) in zip(axes[0], metrics):
        for b in base:
            grp = [r for r in rows if (r["rows"], r["cols"]) == (b["rows"], b["cols"])
                   and not r["baseline"] and r["a_bits"] == r["w_bits"] and r[col] is not None]
            grp.sort(key=lambda r: r["a_bits"])
            names = [f"int a{r['a_bits']}w{r['w_bits']}" for r in grp] + \
                    [f"dequant-first a{b['a_bits']}w{b['w_bits']}"]
            vals = [r[col] for r in grp] + [b[col] if b[col] is not None else 0.0]
            colors = ["tab:blue"] * len(grp) + ["tab:gray"]
            ax.bar(names, vals, color=colors)
            ax.set_title(f"{label}, {b['rows']}x{b['cols']} array: integerized vs dequant-first")
            ax.tick_params(axis="x", labelrotation=60, labelsize=7)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    return _save(fig, path), ""


def make_plots(rows: list[dict[str, Any]], out_dir: str | Path
               ) -> tuple[dict[str, Path], dict[str, str]]:
    """Write the plots for ``rows`` into ``out_dir``; ``(written, left out with reason)``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ok = [r for r in rows if r["status"] == "ok"]
    written: dict[str, Path] = {}
    missing: dict[str, str] = {}
    p, why = _pareto(ok, out / "pareto.png")
    (written.__setitem__("pareto", p) if p else missing.__setitem__("pareto", why))
    p2 = _vs_width(ok, "lut_per_pe", "LUTs per PE (Yosys synth_xilinx, mean over PEs)",
                   "LUTs per PE vs operand width", out / "lut_per_pe.png")
    if p2:
        written["lut_per_pe"] = p2
    else:
        missing["lut_per_pe"] = "no point with synthesis results"
    p3 = _vs_width(ok, "pe_mw", "power per PE (mW, estimate: ivita.power model)",
                   "per-PE power vs operand width", out / "pe_power.png")
    if p3:
        written["pe_power"] = p3
    else:
        missing["pe_power"] = "no point with power results (the power stage was unavailable " \
                              "or not run)"
    p4, why = _int_vs_dequant(ok, out / "int_vs_dequant.png")
    (written.__setitem__("int_vs_dequant", p4) if p4 else missing.__setitem__("int_vs_dequant",
                                                                              why))
    return written, missing
