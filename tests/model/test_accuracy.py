"""model/accuracy.py (error statistics) and the ``ivita accuracy --block`` command
(ivita/commands/accuracy.py), driven through its own ``register`` on a bare parser so the test
does not depend on the other subcommands."""

from __future__ import annotations

import argparse
import json
import math
import re
from typing import Any

import numpy as np
import pytest

from ivita.commands import accuracy as cmd
from ivita.model import ErrorStats, error_stats


def test_error_stats_exact_values() -> None:
    ref = np.array([3.0, 4.0])
    e = error_stats(np.array([3.0, 5.0]), ref)
    assert e.rel_l2 == pytest.approx(1.0 / 5.0)
    assert e.max_abs == 1.0
    assert e.cosine == pytest.approx((9 + 20) / (5 * math.sqrt(34)))
    assert e.ref_rms == pytest.approx(math.sqrt(12.5))
    assert error_stats(ref, ref) == ErrorStats(rel_l2=0.0, max_abs=0.0, cosine=1.0,
                                               ref_rms=e.ref_rms)
    assert error_stats(np.zeros(2), np.zeros(2)).cosine == 1.0
    with pytest.raises(ValueError, match=re.escape(
            "approx and ref must be non-empty and of equal size, got 2 and 3")):
        error_stats(np.zeros(2), np.zeros(3))


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="ivita")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd.register(sub)
    args = parser.parse_args(["accuracy", *argv])
    rc = args.func(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_parse_bits() -> None:
    assert cmd.parse_bits("2-4,8") == (2, 3, 4, 8)
    assert cmd.parse_bits("8, 2,2") == (2, 8)
    for bad, msg in (("1", "width 1 is out of range; it must be in 2..16"),
                     ("x", "not a width or range: 'x'"), ("5-3", "empty width range '5-3'"),
                     ("", "no widths given")):
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(msg)):
            cmd.parse_bits(bad)


def test_block_table(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(["--block", "--bits", "4,8", "--tokens", "8", "--dim", "32"], capsys)
    assert rc == 0
    assert "ivita.model.block_accuracy" in out and "seed 0" in out
    rows = [ln.split() for ln in out.splitlines() if re.match(r"^\s+[0-9]+\s+[0-9.]+\s", ln)]
    assert [r[0] for r in rows] == ["4", "8"]
    assert all(len(r) == 7 for r in rows)
    assert float(rows[1][4]) < float(rows[0][4])     # 8-bit branch error below 4-bit


def test_block_json_is_one_object_and_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--block", "--bits", "3,6", "--tokens", "8", "--dim", "32", "--seed", "4", "--json"]
    rc, out, _ = _run(argv, capsys)
    assert rc == 0
    obj = json.loads(out)
    assert obj["command"] == "accuracy" and obj["mode"] == "block" and obj["seed"] == 4
    assert [r["bits"] for r in obj["results"]] == [3, 6]
    r = obj["results"][1]
    assert r["config"]["a_bits"] == r["config"]["w_bits"] == 6
    assert set(r["branch"]) == {"rel_l2", "max_abs", "cosine", "ref_rms"}
    assert _run(argv, capsys)[1] == out


def test_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = _run(["--block", "--method", "ptq"], capsys)
    assert rc == 2 and "--method applies to the model mode, not to --block" in err
    rc, _, err = _run(["--block", "--dim", "10"], capsys)
    assert rc == 2 and "ivita accuracy: error: --dim 10 is not a multiple of --heads 4" in err


@pytest.mark.parametrize("argv, message", [
    (["--bits", "17"], "--bits 17: width 17 is out of range; it must be in 2..16"),
    (["--bits", "2,x"], "--bits 2,x: not a width or range: 'x'"),
    (["--tokens", "0"], "--tokens 0: must be in 1..4096"),
    (["--heads", "65"], "--heads 65: must be in 1..64"),
    (["--attn-bits", "1"], "--attn-bits 1: must be in 2..16"),
    (["--calib-samples", "0"], "--calib-samples 0: must be in 1..100000"),
    (["--seed", "-1"], "--seed -1: must be in 0..4294967295"),
    (["--seed", "4294967296"], "--seed 4294967296: must be in 0..4294967295"),
])
def test_usage_errors_name_the_flag_and_its_range(argv: list[str], message: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        _run(["--block", *argv], capsys)
    assert exc.value.code == 2
    assert f"error: {message}" in capsys.readouterr().err


def test_help_shows_the_ranges(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _run(["--help"], capsys)
    text = " ".join(capsys.readouterr().out.split())
    for part in ("tokens per sequence; 1..4096 (default 16)", "random seed; 0..4294967295",
                 "each in 2..16"):
        assert part in text


@pytest.mark.parametrize("flag, shown", [("--progress", True), ("--no-progress", False)])
def test_model_mode_progress_goes_to_stderr_when_asked(
        flag: str, shown: bool, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(cmd, "vit_accuracy", lambda *a, **k: calls.append(a) or a)
    monkeypatch.setattr(cmd, "float_top1", lambda *a: 0)
    args = argparse.Namespace(model=None, method="minmax", prob_mode=("direct", "split"),
                              bits=(4, 8), progress=None if flag is None else flag == "--progress")
    _, res = cmd.run_model(args)
    err = capsys.readouterr().err
    assert len(calls) == len(res) == 4
    lines = [ln for ln in err.splitlines() if ln.startswith("ivita accuracy: [")]
    assert len(lines) == (4 if shown else 0)
    if shown:
        assert lines[0].startswith("ivita accuracy: [1/4] 8 bits, minmax, direct")
        assert lines[-1].startswith("ivita accuracy: [4/4] 4 bits, minmax, split")


def test_through_the_ivita_cli(capsys: pytest.CaptureFixture[str]) -> None:
    from ivita.cli import main
    assert main(["accuracy", "--block", "--bits", "8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["bits"] == 8


def test_model_mode_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    """Model mode (the default without --block): float vs integer top-1 of the tiny ViT."""
    rc, out, _ = _run(["--bits", "8", "--method", "minmax", "--prob-mode", "direct,split",
                       "--json"], capsys)
    obj = json.loads(out)
    assert rc == 0 and obj["mode"] == "model"
    res = {(r["method"], r["prob_mode"]): r for r in obj["results"]}
    assert sorted(res) == [("minmax", "direct"), ("minmax", "split")]
    assert all(r["total"] == 600 and r["float_correct"] == 584 for r in res.values())
    assert res[("minmax", "direct")]["top1"] >= 97.0
    # the human table of the same results
    results = [cmd.ViTAccuracy(**{k: r[k] for k in ("bits", "method", "prob_mode", "correct",
                                                    "float_correct", "total", "calib_kl")})
               for r in obj["results"]]
    args = argparse.Namespace(model=None)
    text = cmd.format_model_table(args, cmd.load_tiny_vit(), results)
    assert "ivita.model.vit_accuracy" in text and "float  : 97.33 % (584/600)" in text
    row = [ln for ln in text.splitlines() if re.match(r"^\s+8\s+[0-9.]+ \(", ln)]
    assert len(row) == 1
    top1 = res[("minmax", "split")]["top1"]
    assert f"{top1:.2f} ({top1 - 584 / 6:+6.2f})" in row[0]


def test_model_mode_errors(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    rc, _, err = _run(["--model", str(tmp_path / "none.npz"), "--bits", "8"], capsys)
    assert rc == 2 and f"--model {tmp_path / 'none.npz'}: checkpoint" in err
    from ivita.model import write_safetensors
    rng = np.random.default_rng(0)
    sd = {"patch_embed.proj.weight": rng.normal(size=(4, 3, 2, 2)),
          "patch_embed.proj.bias": np.zeros(4), "cls_token": np.zeros((1, 1, 4)),
          "pos_embed": np.zeros((1, 5, 4))}
    write_safetensors(tmp_path / "m.safetensors", sd)
    rc, _, err = _run(["--model", str(tmp_path / "m.safetensors"), "--heads", "2"], capsys)
    assert rc == 2 and "no key 'blocks.0.norm1.weight'" in err
    with pytest.raises(SystemExit):
        _run(["--prob-mode", "exact"], capsys)
    assert "unknown mode 'exact'; choose from direct, split, log2 or all" in \
        capsys.readouterr().err
