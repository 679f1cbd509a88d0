"""Shared fixtures of the power tests: one private synthesis/simulator cache per session and
one gate-level run of a 2x2 4-bit array (Icarus), reused by the SAIF, model and CLI tests."""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.fixture(scope="session")
def power_cache(tmp_path_factory: pytest.TempPathFactory):
    """``$IVITA_CACHE`` pointing at a session-private folder while the tests run."""
    path = tmp_path_factory.mktemp("ivita-power-cache")
    old = os.environ.get("IVITA_CACHE")
    os.environ["IVITA_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("IVITA_CACHE", None)
    else:
        os.environ["IVITA_CACHE"] = old


@pytest.fixture(scope="session")
def run2x2(power_cache, tmp_path_factory: pytest.TempPathFactory):
    """Activity of a 2x2 4-bit array on attention data (Icarus, 96 beats per matmul kind)."""
    if not shutil.which("iverilog"):
        pytest.skip("iverilog is not installed")
    from ivita.power.estimate import activity_run

    work = tmp_path_factory.mktemp("run2x2")
    return activity_run(rows=2, cols=2, a_bits=4, w_bits=4, simulator="icarus", max_beats=96,
                        workdir=work)
