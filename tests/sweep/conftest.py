"""Fixtures of the sweep tests: a synthesis cache private to the session."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def shared_synth_cache(tmp_path_factory):
    """One synthesis cache for the session's end-to-end sweeps (the same 2x2 designs)."""
    path = tmp_path_factory.mktemp("sweep-cache")
    old = os.environ.get("IVITA_CACHE")
    os.environ["IVITA_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("IVITA_CACHE", None)
    else:
        os.environ["IVITA_CACHE"] = old
