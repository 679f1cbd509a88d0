"""The one ``json.dumps`` fallback of ivita.sim (results, parameter files, ``--json``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ivita.sim import bench, runner
from ivita.sim.jsonio import json_default


def test_numpy_values_and_paths() -> None:
    obj = {"i": np.int64(-3), "u": np.uint8(7), "f": np.float32(0.5), "b": np.bool_(True),
           "a": np.arange(3).reshape(1, 3), "p": Path("/x/y")}
    assert json.loads(json.dumps(obj, default=json_default)) == {
        "i": -3, "u": 7, "f": 0.5, "b": True, "a": [[0, 1, 2]], "p": "/x/y"}


def test_other_objects_are_an_error() -> None:
    with pytest.raises(TypeError, match="^set is not JSON serialisable$"):
        json_default({1})

    class HasToList:
        def tolist(self) -> list:
            return []
    with pytest.raises(TypeError, match="^HasToList is not JSON serialisable$"):
        json_default(HasToList())


def test_bench_and_runner_use_the_same_function() -> None:
    assert bench.json_default is json_default
    assert runner.json_default is json_default
