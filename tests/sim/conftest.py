"""Shared fixtures of the bench tests.

- This folder is put on ``sys.path`` so ``toy_bench`` (a design of our own used to test the
  infrastructure) imports as a top-level module, also in the cocotb process (``TOY_PATH``).
- ``build_root``: the simulator build cache (``$IVITA_SIM_BUILD`` or ``~/.cache/ivita/sim``),
  shared across tests and runs so a design is built once per simulator.
- ``need_simulator(name)``: skips with the reason when a simulator is missing locally; under
  CI (``$CI`` set) a missing simulator is a failure, never a skip.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TOY_PATH = [str(HERE)]
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session")
def build_root() -> Path:
    from ivita.sim.runner import default_build_root
    return default_build_root()


@pytest.fixture
def need_simulator() -> Callable[[str], None]:
    from ivita.sim.runner import SimulatorMissing, check_simulator

    def need(name: str) -> None:
        if name == "amaranth":
            return
        try:
            check_simulator(name)
        except SimulatorMissing as e:
            if os.environ.get("CI"):
                pytest.fail(f"CI must provide {name}: {e}")
            pytest.skip(str(e))
    return need
