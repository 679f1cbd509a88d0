"""Run size, heartbeat and progress reporter (ivita.sim.progress) on every simulator."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ivita.model import ArrayConfig, RequantConfig
from ivita.sim.bench import run_bench, run_size
from ivita.sim.progress import HEARTBEAT_FILE, Progress, RunSize
from ivita.sim.tb_array import ArrayTB
from ivita.sim.tb_requant import RequantTB


def test_run_size_counts_beats_elements_and_bytes() -> None:
    tb = RequantTB(config=RequantConfig(lanes=3, acc_bits=20), rows=4, tiles=5)
    stim = tb.stimulus(1)
    size = run_size(tb, stim, stall_in=0.5, stall_out=0.0)
    assert (size.beats_in, size.beats_out) == (20, 20)
    assert size.elements_out == 20 * (3 + 1)                 # q lanes + last
    assert size.vector_bytes == 8 * (20 * (3 + 1) + 20 * (3 + 1))
    assert size.cycles == 3 + 2 * 20                          # table writes + beats / (1 - 0.5)
    assert "max(input beats, output beats) / ((1 - stall_in)(1 - stall_out))" in size.text()
    arr = ArrayTB(config=ArrayConfig(rows=3, cols=2, k_max=7), k=7, tiles=2)
    assert run_size(arr, arr.stimulus(1)).cycles == arr.ideal_cycles() == 14


@pytest.mark.parametrize("simulator", ["amaranth", pytest.param("icarus", marks=pytest.mark.icarus)])
def test_the_loop_writes_its_heartbeat(simulator: str, tmp_path: Path, build_root: Path,
                                       need_simulator: Callable[[str], None]) -> None:
    need_simulator(simulator)
    tb = ArrayTB(config=ArrayConfig(rows=2, cols=2, k_max=300), k=300, tiles=3)
    res = run_bench(tb, simulator=simulator, work_dir=tmp_path, build_root=build_root)
    assert res.passed
    hb = json.loads((tmp_path / HEARTBEAT_FILE).read_text())
    # the last heartbeat is written when the loop ends: it agrees with the result
    assert hb["cycle"] == res.result["cycles"] and hb["phase"] == "done"
    assert (hb["beats_in"], hb["beats_out"]) == (900, 6)


def _size() -> RunSize:
    return RunSize(beats_in=800, beats_out=200, elements_out=400, cycles=1000,
                   cycles_model="test", vector_bytes=2_000_000)


def test_progress_prints_size_then_heartbeat_lines(tmp_path: Path) -> None:
    out = io.StringIO()
    hb = tmp_path / HEARTBEAT_FILE
    hb.write_text(json.dumps({"cycle": 400, "phase": "stream", "beats_in": 400,
                              "beats_out": 100, "pid": 1, "elapsed_s": 2.0}))
    p = Progress(out, live=False, prog="ivita sim x", interval_s=0.05)
    p.start(hb)
    p.phase("simulating")
    p.size(_size())
    time.sleep(0.3)
    p.stop()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("ivita sim x: run size: 800 input beats, 200 output beats "
                               "(400 elements checked); about 1,000 cycles (estimate: test); "
                               "vectors 2.0 MB")
    assert any("simulating" in ln and "cycle 400 of about 1,000" in ln and
               "beats in 400/800, out 100/200" in ln and "50%" in ln and "200 cycles/s" in ln
               for ln in lines[1:]), lines
    assert "\r" not in out.getvalue()                         # plain lines when not a terminal


def test_live_progress_redraws_one_line_and_clears_it(tmp_path: Path) -> None:
    out = io.StringIO()
    p = Progress(out, live=True, interval_s=0.05)
    p.start(tmp_path / HEARTBEAT_FILE)           # no heartbeat yet: phase and time only
    p.phase("elaborating")
    time.sleep(0.3)
    p.stop()
    text = out.getvalue()
    assert text.count("\n") == 0 and "elaborating" in text
    assert text.endswith("\r\033[K")             # the next line starts clean


@pytest.mark.parametrize("unit, argv", [
    ("array", []), ("array", ["--rows", "3", "--cols", "5", "--k", "7", "--tiles", "6"]),
    ("array", ["--rows", "4", "--cols", "3", "--k", "5", "--m", "9", "--n", "7"]),
    ("requant", []), ("requant", ["--lanes", "5", "--rows", "3", "--tiles", "2"]),
    ("softmax", []), ("softmax", ["--bad-rows", "--rows", "12", "--max-tokens", "9"]),
    ("softmax", ["--tokens", "5", "--rows", "4"]),
    ("gelu", []), ("gelu", ["--rows", "3", "--tokens", "7", "--bad-x0"]),
    ("layernorm", []), ("layernorm", ["--bad-rows", "--rows", "16", "--channels", "5"]),
])
@pytest.mark.parametrize("stall", [0.0, 0.3])
def test_the_planned_size_equals_the_stimulus(unit: str, argv: list[str], stall: float) -> None:
    from ivita.commands.sim import unit_parser
    from ivita.sim.registry import get_tb

    cls = get_tb(unit)
    tb = cls.from_args(unit_parser(unit, cls).parse_args(argv))
    planned = tb.planned_size(stall_in=stall, stall_out=stall)
    assert planned is not None, f"{unit} announces its size only after generating vectors"
    assert planned == run_size(tb, tb.stimulus(3), stall_in=stall, stall_out=stall)


class _Recorder(Progress):
    """A Progress that records what run_bench tells it (and prints nothing)."""

    def __init__(self) -> None:
        super().__init__(io.StringIO(), live=False, interval_s=60.0)
        self.phases: list[str] = []
        self.sizes: list[RunSize] = []

    def phase(self, text: str) -> None:
        self.phases.append(text)

    def size(self, size: RunSize) -> None:
        self.sizes.append(size)


@pytest.mark.parametrize("simulator", ["amaranth", pytest.param("icarus", marks=pytest.mark.icarus)])
def test_run_bench_reports_its_phases_and_the_size_first(
        simulator: str, tmp_path: Path, build_root: Path,
        need_simulator: Callable[[str], None]) -> None:
    need_simulator(simulator)
    tb = RequantTB(config=RequantConfig(lanes=2, acc_bits=12, out_bits=4), rows=2, tiles=2)
    rec = _Recorder()
    res = run_bench(tb, simulator=simulator, work_dir=tmp_path, build_root=build_root,
                    progress=rec)
    assert res.passed
    assert rec.sizes == [tb.planned_size()]
    assert rec.phases[0] == "generating vectors"
    assert rec.phases[-1] == f"simulating on {simulator}"
    if simulator != "amaranth":
        assert rec.phases[-2] == f"building on {simulator}"


def test_progress_and_the_cli_conventions_need_only_the_standard_library() -> None:
    import subprocess
    import sys
    code = ("import sys\n"
            "for m in ('cocotb', 'amaranth', 'cocotb_tools', 'numpy'):\n"
            "    sys.modules[m] = None  # any import of them raises ImportError\n"
            "import ivita.sim.progress, ivita.commands._common\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
