"""Shared fixtures of the FPGA-flow tests: one synthesis cache per session (so a design
synthesized by one test is reused by the next), cleaned up by pytest."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def synth_cache(tmp_path_factory: pytest.TempPathFactory):
    """``$IVITA_CACHE`` pointing at a session-private folder while a test runs."""
    path = tmp_path_factory.mktemp("ivita-cache")
    old = os.environ.get("IVITA_CACHE")
    os.environ["IVITA_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("IVITA_CACHE", None)
    else:
        os.environ["IVITA_CACHE"] = old
