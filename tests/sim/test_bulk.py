"""ivita.sim.bulk: bulk bit-exact checks pass on every unit, can fail, stall, and time out.

Icarus runs the small counts (its builds take well under a second). Verilator runs the
design's Yosys-rewritten view (ivita.sim.bulk_view) with the C++ file I/O of bulk_main.cpp:
it must agree with Icarus cycle for cycle, be bit-exact on the array, and still fail on a
corrupted expected value, a wrong design and a malformed input file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from amaranth import Module

from ivita.cli import main
from ivita.sim import bulk_units
from ivita.sim.bulk import bulk_check, bulk_check_tb, make_tb, score
from ivita.sim.sidecar import Sidecar

from toy_bench import ToyAdder, ToyConfig, ToyTB

SMALL = {
    "array": ({"bits": 4, "rows": 2, "cols": 3, "k": 5}, 12),
    "requant": ({"bits": 4, "lanes": 3}, 40),
    "softmax": ({"bits": 4, "max_tokens": 8}, 12),
    "gelu": ({"bits": 4, "tokens": 4}, 12),
    "layernorm": ({"bits": 4, "channels": 4}, 10),
}


@pytest.fixture
def icarus(need_simulator: Any, build_root: Path) -> Path:
    need_simulator("icarus")
    return build_root


@pytest.mark.icarus
@pytest.mark.parametrize("unit", list(SMALL))
def test_every_unit_passes_with_stalls(unit: str, icarus: Path) -> None:
    cfg, n = SMALL[unit]
    r = bulk_check(unit, n_vectors=n, seed=5, simulator="icarus", stall_in=0.3, stall_out=0.3,
                   build_root=icarus, **cfg)
    assert r.passed, r.summary_text()
    assert r.mismatches == 0 and r.first_mismatch is None and r.errors == []
    assert r.vectors >= n and r.elements_checked > 0 and r.cycles > 0
    # the seeded pattern really held the input back and really back-pressured the output
    assert r.stalls["in_idle_cycles"] > 0 and r.stalls["out_stall_cycles"] > 0, r.stalls
    assert r.cycles_per_s > 0 and r.wall_s > 0 and r.simulator == "icarus"


@pytest.mark.icarus
def test_no_stalls_without_a_pattern_and_stalls_cost_cycles(icarus: Path) -> None:
    cfg, n = SMALL["requant"]
    free = bulk_check("requant", n_vectors=n, seed=2, simulator="icarus", stall_in=0.0,
                      stall_out=0.0, build_root=icarus, **cfg)
    held = bulk_check("requant", n_vectors=n, seed=2, simulator="icarus", stall_in=0.5,
                      stall_out=0.5, build_root=icarus, **cfg)
    assert free.passed and held.passed
    assert free.stalls["in_idle_cycles"] == 0 and free.stalls["out_stall_cycles"] == 0
    assert held.cycles > free.cycles + n // 2, (free.cycles, held.cycles)


@pytest.mark.icarus
def test_corrupted_expected_value_is_a_mismatch_with_its_index(icarus: Path) -> None:
    r = bulk_check("requant", n_vectors=40, seed=7, simulator="icarus", build_root=icarus,
                   corrupt_expected=True, bits=4, lanes=3)
    assert not r.passed and r.mismatches == 1
    fm = r.first_mismatch
    assert fm is not None and fm["chunk"] == 0 and fm["field"] == "q"
    assert fm["got"] != fm["expected"] and abs(fm["got"] - fm["expected"]) == 1
    assert fm["vector"] == fm["beat"]           # requant: one vector per beat
    assert f"vector {fm['vector']}" in fm["message"] and "seed 7" in fm["message"]


@pytest.mark.icarus
def test_corrupted_output_file_is_a_mismatch_with_its_index(icarus: Path, tmp_path: Path
                                                            ) -> None:
    tb = make_tb("requant", bits=4, lanes=3, tiles=5)
    r = bulk_check_tb(tb, seed=3, simulator="icarus", build_root=icarus, work_dir=tmp_path)
    assert r.passed, r.summary_text()
    sidecar = Sidecar.load(tmp_path / "design" / f"{tb.module_name}.json")
    status = dict(line.split(" ", 1) for line in (tmp_path / "status.txt").read_text()
                  .splitlines())
    out = (tmp_path / "out.hex").read_bytes()
    stim = tb.stimulus(3)
    assert score(tb, stim, sidecar, out, status).mismatches == 0
    lines = [ln for ln in out.split(b"\n") if ln and not ln.startswith(b"//")]
    bad = bytearray(lines[6])
    bad[-1] = ord("0") if bad[-1] != ord("0") else ord("1")   # lane 0's low bits of beat 6
    lines[6] = bytes(bad)
    res = score(tb, stim, sidecar, b"\n".join(lines) + b"\n", status)
    assert res.mismatches >= 1 and res.first_mismatch is not None
    assert res.first_mismatch["beat"] == 6 and res.first_mismatch["vector"] == 6
    # a missing beat is reported too
    res = score(tb, stim, sidecar, b"\n".join(lines[:-1]) + b"\n", status)
    assert res.mismatches > 0 and any("received 19 of 20" in e for e in res.errors)


def _assert_wrong_design_caught(simulator: str, build_root: Path) -> None:
    """The toy with a real hardware bug (lane 0 off by one on the most negative a) fails the
    bulk comparison on ``simulator``, and the first mismatch names the lane and the error."""
    tb = ToyTB(config=ToyConfig(width=3, lanes=2, bug=True), beats=60)
    r = bulk_check_tb(tb, seed=1, simulator=simulator, build_root=build_root, stall_in=0.2,
                      stall_out=0.2)
    assert not r.passed and r.mismatches > 0
    fm = r.first_mismatch
    assert fm is not None and fm["field"] == "s" and fm["index"] == [0]
    assert fm["got"] == fm["expected"] + 1


@pytest.mark.icarus
def test_a_wrong_design_fails(icarus: Path) -> None:
    """The comparison catches a real hardware bug (lane 0 off by one on the most negative a)."""
    _assert_wrong_design_caught("icarus", icarus)
    ok = bulk_check_tb(ToyTB(config=ToyConfig(width=3, lanes=2), beats=60), seed=1,
                       simulator="icarus", build_root=icarus, stall_in=0.2, stall_out=0.2)
    assert ok.passed, ok.summary_text()


class NeverOutputs(ToyAdder):
    """Accepts every input beat and never offers an output beat."""

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.d.comb += self.i_stream.ready.eq(1)
        m.d.sync += self.o_stream.payload.last.eq(self.i_stream.payload.last)
        return m


@dataclass(frozen=True, kw_only=True)
class HangTB(ToyTB):
    def build_component(self) -> NeverOutputs:
        return NeverOutputs(self.config)


@pytest.mark.icarus
def test_a_hang_ends_at_the_cycle_limit(icarus: Path) -> None:
    tb = HangTB(config=ToyConfig(width=3, lanes=2), beats=20)
    r = bulk_check_tb(tb, seed=1, simulator="icarus", build_root=icarus, max_cycles=300)
    assert not r.passed and r.cycles == 300
    assert any("timeout: the run reached its cycle limit of 300 cycles with 0 of 20 output "
               "beats received and 20 input beats accepted" in e for e in r.errors), r.errors
    # the default budget comes from the beat counts; the run ends by itself as well
    r = bulk_check_tb(tb, seed=1, simulator="icarus", build_root=icarus)
    assert not r.passed and any("cycle limit" in e for e in r.errors) and r.cycles < 2000


@pytest.mark.icarus
def test_chunks_have_their_own_seeds(icarus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk_units, "MAX_CHUNK_BEATS", 48)
    r = bulk_check("requant", n_vectors=150, seed=4, simulator="icarus", build_root=icarus,
                   bits=3, lanes=2)                 # 4 vectors per tile, 12 tiles per chunk
    assert r.passed and r.chunks == 4 and r.vectors == 152, r.summary_text()
    assert r.options["tiles"] == 38 and r.options["rows"] == 4


def test_make_tb_and_argument_errors() -> None:
    tb = make_tb("array", bits=3, rows=2, cols=2, k=4, corners=False)
    assert tb.config.a_bits == 3 and tb.k == 4 and tb.corners is False
    with pytest.raises(ValueError, match="array has no option 'widht'; options: .*bits"):
        make_tb("array", widht=3)
    with pytest.raises(ValueError, match="--bits 1: must be in 2..16"):
        make_tb("array", bits=1)
    with pytest.raises(ValueError, match="n_vectors=0 is out of range"):
        bulk_check("requant", n_vectors=0, seed=1)
    with pytest.raises(ValueError, match="simulator='amaranth' is not one of verilator, icarus"):
        bulk_check("requant", n_vectors=1, seed=1, simulator="amaranth")
    with pytest.raises(ValueError, match=r"stall_out=1.0 is out of range; it must be in \[0, 1\)"):
        bulk_check("requant", n_vectors=1, seed=1, stall_out=1.0)
    with pytest.raises(ValueError, match="m/n products are not supported"):
        bulk_check("array", n_vectors=1, seed=1, m=4, n=4)


@pytest.mark.icarus
def test_cli_bulk(icarus: Path, capsys: pytest.CaptureFixture[str],
                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVITA_SIM_BUILD", str(icarus))
    argv = ["sim", "requant", "--bulk", "30", "--simulator", "icarus", "--bits", "4",
            "--lanes", "3", "--stall", "0.2", "--json"]
    assert main(argv) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["passed"] and d["vectors"] == 32 and d["mismatches"] == 0 and d["cycles"] > 0
    assert main([*argv, "--corrupt-expected"]) == 1
    assert json.loads(capsys.readouterr().out)["mismatches"] == 1
    with pytest.raises(SystemExit) as e:
        main(["sim", "requant", "--bulk", "3", "--simulator", "amaranth"])
    assert e.value.code == 2
    assert "--bulk runs on verilator or icarus" in capsys.readouterr().err
    assert d["pe_view"] == {"form": "exact"}          # Icarus runs the design as emitted
    with pytest.raises(SystemExit) as e:
        main(["sim", "requant", "--exact-pe", "--bits", "4"])
    assert e.value.code == 2
    assert "--exact-pe only applies to --bulk" in capsys.readouterr().err


@pytest.mark.verilator
@pytest.mark.icarus
def test_verilator_agrees_with_icarus_cycle_for_cycle(need_simulator: Any,
                                                      build_root: Path) -> None:
    need_simulator("verilator")
    need_simulator("icarus")
    cfg, n = SMALL["requant"]
    runs = [bulk_check("requant", n_vectors=n, seed=9, simulator=sim, build_root=build_root,
                       **cfg) for sim in ("verilator", "icarus")]
    for r in runs:
        assert r.passed, r.summary_text()
    assert runs[0].cycles == runs[1].cycles and runs[0].stalls == runs[1].stalls
    assert runs[0].simulator == "verilator" and runs[0].cycles_per_cpu_s


def _need_formal_tools() -> None:
    """The word-level PE view needs the proof's tools: under CI a missing one fails."""
    import os

    from ivita.sim.formal import sby_available

    missing = sby_available()
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide the formal tools: {missing} is missing")
        pytest.skip(f"formal tool {missing} missing: the bulk view keeps the Booth PEs")


@pytest.mark.verilator
@pytest.mark.icarus
@pytest.mark.formal
def test_word_level_pes_on_verilator_agree_with_booth_on_icarus(need_simulator: Any,
                                                                build_root: Path,
                                                                tmp_path: Path) -> None:
    """The array with stalls: Verilator on the view with word-level PEs (proven), Verilator on
    the exact Booth PEs (``exact_pe``) and Icarus on the unmodified Verilog write the same
    out.hex values and status.txt (cycle counts, first/last output cycles, stalls) byte for
    byte."""
    need_simulator("verilator")
    need_simulator("icarus")
    _need_formal_tools()
    cfg, n = SMALL["array"]
    runs, files = {}, {}
    for name, sim, exact in (("word", "verilator", False), ("exact", "verilator", True),
                             ("icarus", "icarus", False)):
        work = tmp_path / name
        runs[name] = bulk_check("array", n_vectors=n, seed=8, simulator=sim, stall_in=0.3,
                                stall_out=0.3, build_root=build_root, work_dir=work,
                                exact_pe=exact, **cfg)
        assert runs[name].passed, runs[name].summary_text()
        values = [ln for ln in (work / "out.hex").read_bytes().split(b"\n")
                  if ln and not ln.startswith(b"//")]      # Icarus adds address comments
        files[name] = (values, (work / "status.txt").read_bytes())
    assert runs["word"].pe_view["form"] == "word-level"
    assert runs["word"].pe_view["substituted"] == cfg["rows"] * cfg["cols"]
    assert [p["status"] for p in runs["word"].pe_view["proofs"]] == ["PASS"]
    assert runs["exact"].pe_view == {"form": "exact"} == runs["icarus"].pe_view
    assert files["word"] == files["exact"] == files["icarus"]
    assert runs["word"].stalls["in_idle_cycles"] > 0 and runs["word"].stalls[
        "out_stall_cycles"] > 0


@pytest.mark.verilator
def test_an_unproven_pe_width_keeps_the_booth_form(need_simulator: Any, build_root: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """If the proof does not pass (here: said to fail), Verilator simulates the Booth PEs and
    the result says why; the check itself still runs and passes."""
    import ivita.sim.pe_equiv as pe_equiv

    need_simulator("verilator")

    def refuted(a_bits: int, b_bits: int, acc_bits: int, **kw: Any) -> pe_equiv.PEProof:
        return pe_equiv.PEProof(a_bits, b_bits, acc_bits, False, "FAIL", "k", 0.0, False,
                                "SymbiYosys says FAIL (test)")

    monkeypatch.setattr(pe_equiv, "prove_pe_equivalent", refuted)
    cfg, n = SMALL["array"]
    said: list[str] = []
    r = bulk_check("array", n_vectors=n, seed=6, simulator="verilator", stall_in=0.3,
                   stall_out=0.3, build_root=build_root, on_progress=said.append, **cfg)
    assert r.passed, r.summary_text()
    assert r.pe_view["form"] == "exact" and r.pe_view["kept"] == cfg["rows"] * cfg["cols"]
    msg = ("PE a_bits=4, b_bits=4, acc_bits=10: the word-level form is not proven equal to "
           "Booth (SymbiYosys says FAIL (test)); Verilator simulates the exact Booth form")
    assert r.pe_view["messages"] == [msg] and msg in said
    assert f"note: {msg}" in r.summary_text()


@pytest.mark.slow
@pytest.mark.verilator
@pytest.mark.timeout(1800)
def test_full_width_8x8_array_one_chunk(need_simulator: Any, build_root: Path) -> None:
    """16 384 tiles of the 8x8 8-bit array (one full chunk, the reliability matrix's build)."""
    need_simulator("verilator")
    r = bulk_check("array", n_vectors=16_384, seed=11, simulator="verilator",
                   build_root=build_root, bits=8, rows=8, cols=8, k=16)
    assert r.passed, r.summary_text()
    assert r.vectors == 16_384 and r.chunks == 1 and r.elements_checked == 16_384 * 64 * 9 // 8
    assert r.stalls["in_idle_cycles"] > 0 and r.stalls["out_stall_cycles"] > 0


@pytest.mark.verilator
def test_verilator_array_is_bit_exact_and_can_fail(need_simulator: Any,
                                                   build_root: Path) -> None:
    """The array through Verilator's view of it (Yosys-rewritten, ivita.sim.bulk_view) and
    the C++ file I/O of bulk_main.cpp: bit-exact with stalls, and a corrupted expected value is
    still a mismatch at its index."""
    need_simulator("verilator")
    cfg, n = SMALL["array"]
    r = bulk_check("array", n_vectors=n, seed=6, simulator="verilator", stall_in=0.3,
                   stall_out=0.3, build_root=build_root, **cfg)
    assert r.passed, r.summary_text()
    assert r.elements_checked == n * cfg["rows"] * (cfg["cols"] + 1)   # + each row's last
    assert r.stalls["in_idle_cycles"] > 0 and r.stalls["out_stall_cycles"] > 0
    bad = bulk_check("array", n_vectors=n, seed=6, simulator="verilator", stall_in=0.3,
                     stall_out=0.3, build_root=build_root, corrupt_expected=True, **cfg)
    assert not bad.passed and bad.mismatches == 1 and bad.first_mismatch is not None
    assert bad.cycles == r.cycles


@pytest.mark.verilator
def test_verilator_catches_a_wrong_design(need_simulator: Any, build_root: Path) -> None:
    need_simulator("verilator")
    _assert_wrong_design_caught("verilator", build_root)


@pytest.mark.verilator
def test_verilator_names_a_malformed_input_line(need_simulator: Any, build_root: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """bulk_main.cpp parses in.hex itself: a line wider than the payload is an error naming
    the file, the line, its digits and the limit."""
    import ivita.sim.bulk_build as bulk_build

    need_simulator("verilator")
    real = bulk_build.run

    def widen_first_line(b: Any, run_dir: Path, plusargs: dict[str, int], **kw: Any) -> Any:
        (run_dir / "in.hex").write_bytes(b"1" + (run_dir / "in.hex").read_bytes())
        return real(b, run_dir, plusargs, **kw)

    monkeypatch.setattr(bulk_build, "run", widen_first_line)
    cfg, n = SMALL["requant"]
    with pytest.raises(RuntimeError, match=r"in\.hex: line 1 has \d+ hex digits; a \d+-bit "
                                           r"value has at most \d+"):
        bulk_check("requant", n_vectors=n, seed=9, simulator="verilator",
                   build_root=build_root, **cfg)
