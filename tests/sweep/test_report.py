"""Plots and reports: the Pareto front, the HTML page rendered by headless Chromium (not blank,
every image loads) and the Markdown page. The rows are made up here: these tests check the
rendering, not the numbers (test_cli.py runs a real sweep)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

from ivita.sweep.db import ResultsDB
from ivita.sweep.plots import pareto_front
from ivita.sweep.report import write_reports


def test_pareto_front():
    pts = [(10, 50), (20, 80), (15, 40), (30, 80), (40, 95), (20, 70)]
    # (15, 40) is beaten by (10, 50); (30, 80) by (20, 80); (20, 70) by (20, 80)
    assert pareto_front(pts) == [0, 1, 4]
    assert pareto_front([(1, 1), (1, 1)]) == [0, 1]          # equal points beat neither


def _result(lut_pe, fmax, acc=None, rel=None, status="ok", power=None):
    st = {"synth": {"status": "ok", "message": "", "values": {"lut_per_pe": lut_pe,
                                                             "lut_total": lut_pe * 16,
                                                             "lut_pct": 1.0}},
          "timing": {"status": "ok", "message": "", "values": {"fmax_mhz": fmax}},
          "power": ({"status": "ok", "message": "", "values": power} if power else
                    {"status": "unavailable", "message": "unavailable: ivita.power is not "
                                                         "installed", "values": {}})}
    if acc is not None:
        st["accuracy"] = {"status": "ok", "message": "",
                          "values": {"value": acc, "block_rel_l2": rel, "kind": "vit top-1 %"}}
    return {"status": status, "message": "" if status == "ok" else "synth: boom", "stages": st,
            "started_at": "2026-01-01T00:00:00+00:00", "finished_at": "2026-01-01T00:00:01+00:00",
            "wall_s": 1.0}


def _db(tmp_path, power=False):
    db = ResultsDB(tmp_path / "r.sqlite")
    prov = {"git": "abc", "tools": {"numpy": "x"}}
    rid = db.start_run(started_at="2026-01-01T00:00:00+00:00", prov=prov, config={})
    for i, (a, w, base) in enumerate([(2, 2, 0), (4, 4, 0), (8, 8, 0), (8, 4, 0), (8, 8, 1)]):
        p = {"label": f"{'dequant-first ' if base else ''}a{a}w{w} 4x4", "a_bits": a,
             "w_bits": w, "rows": 4, "cols": 4, "baseline": base, "part": "xc7s50-1",
             "freq_hz": 1e8}
        pw = {"pe_mw_mean": 0.1 * a, "energy_per_mac_pj": 0.5 * a} if power else None
        res = _result(10.0 * a * w / 4 * (4 if base else 1), 200 - 10 * a,
                      None if base else 60 + 4 * a, None if base else 0.5 / a, power=pw)
        db.put(run_id=rid, config_hash=f"h{i}", point=p, config={"point": p}, result=res,
               prov=prov)
    db.put(run_id=rid, config_hash="hf", point={**p, "label": "a3w3 4x4", "baseline": 0,
                                                "a_bits": 3, "w_bits": 3},
           config={}, result={**_result(1, 1), "status": "failed",
                              "message": "synth: synthesis failed: boom"}, prov=prov)
    db.finish_run(rid, finished_at="2026-01-01T00:01:00+00:00", status="done")
    rows, run = db.points(run_id=rid), db.runs()[0]
    db.close()
    return rows, run


def test_reports_without_power(tmp_path):
    rows, run = _db(tmp_path)
    paths = write_reports(rows, tmp_path / "out", run=run)
    assert set(paths) == {"html", "md", "pareto", "lut_per_pe", "int_vs_dequant"}
    md = paths["md"].read_text()
    assert "pe_power: not drawn: no point with power results" in md
    assert "- power: unavailable: ivita.power is not installed (6 points)" in md
    assert "| a3w3 4x4 | synth: synthesis failed: boom |" in md
    html = paths["html"].read_text()
    assert html.count("<img ") == 3 and html.count("src='data:image/png;base64,") == 3
    assert "ivita.power is not installed" in html and "<td>abc" not in html


def test_reports_with_power_draw_four_plots(tmp_path):
    rows, run = _db(tmp_path, power=True)
    paths = write_reports(rows, tmp_path / "out", run=run)
    assert {"pareto", "lut_per_pe", "pe_power", "int_vs_dequant"} <= set(paths)


def _chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (README set-up: apt-get install chromium)")
    return exe


def _run_chromium(exe, tmp_path, *args):
    """Chromium with its profile, HOME and TMPDIR in a short folder under /tmp (removed
    afterwards): its singleton socket path must stay under the 108-byte limit of a Unix
    socket, which pytest-xdist's tmp_path can exceed."""
    with tempfile.TemporaryDirectory(prefix="ivc", dir="/tmp") as short:
        env = {**os.environ, "HOME": short, "TMPDIR": short}
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", f"--user-data-dir={short}/p",
               "--virtual-time-budget=10000", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)


def test_html_renders_in_headless_chromium(tmp_path):
    exe = _chromium()
    rows, run = _db(tmp_path, power=True)
    paths = write_reports(rows, tmp_path / "out", run=run)
    page = paths["html"]
    n_img = page.read_text().count("<img ")
    assert n_img == 4
    # every image loads: a copy of the page reports img.complete && naturalWidth > 0
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace(
        "</body>", "<script>window.addEventListener('load', () => {const im = [...document"
                   ".images]; document.body.setAttribute('data-loaded', im.length + '/' + "
                   "im.filter(i => i.complete && i.naturalWidth > 0).length);});</script>"
                   "</body>"))
    dom = _run_chromium(exe, tmp_path, "--dump-dom", probe.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert f'data-loaded="{n_img}/{n_img}"' in dom.stdout
    # the screenshot of the page itself is not blank
    shot = tmp_path / "shot.png"
    res = _run_chromium(exe, tmp_path, f"--screenshot={shot}", "--window-size=1280,1600",
                        page.as_uri())
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    import matplotlib.image as mpimg
    import numpy as np
    px = mpimg.imread(str(shot))[..., :3]
    nonwhite = np.mean(np.any(px < 0.95, axis=-1))
    colours = len(np.unique((px * 255).astype(np.uint8).reshape(-1, 3), axis=0))
    assert nonwhite > 0.05 and colours > 50, (nonwhite, colours)


def test_broken_image_is_detected_by_the_probe(tmp_path):
    """The load check can fail: a page with a broken data URI reports 0 loaded images."""
    exe = _chromium()
    probe = tmp_path / "bad.html"
    probe.write_text("<html><body><img src='data:image/png;base64,AAAA'><script>window."
                     "addEventListener('load', () => {const im = [...document.images]; "
                     "document.body.setAttribute('data-loaded', im.length + '/' + im.filter("
                     "i => i.complete && i.naturalWidth > 0).length);});</script></body></html>")
    dom = _run_chromium(exe, tmp_path, "--dump-dom", probe.as_uri())
    assert 'data-loaded="1/0"' in dom.stdout
