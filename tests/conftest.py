"""Session-wide checks of the test suite.

Nothing may be left in the temporary directory by a test. The session runs with a private
temporary directory (``ivita-tests-*`` under the system one): ``TMPDIR`` and
``tempfile.tempdir`` point to it, so everything the tests and their subprocesses (simulators,
the CLI) create with ``tempfile`` lands there. At the end of the session any entry still in it
fails the run (exit status 1) and is listed; the private directory is then removed, so even a
failing run leaves nothing behind. pytest's own ``tmp_path`` folders stay where pytest keeps
them (``PYTEST_DEBUG_TEMPROOT`` is set to the system temporary directory), outside the check.
With ``pytest -n`` the workers inherit the controller's private directory and the controller
checks it once all workers are done.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_STATE: dict[str, str | None] = {}


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")        # a pytest-xdist worker


def pytest_configure(config: pytest.Config) -> None:
    if _is_worker(config):
        return
    system_tmp = tempfile.gettempdir()
    os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", system_tmp)
    private = tempfile.mkdtemp(prefix="ivita-tests-", dir=system_tmp)
    _STATE.update(private=private, old_env=os.environ.get("TMPDIR"),
                  old_tempdir=tempfile.tempdir)
    os.environ["TMPDIR"] = private
    tempfile.tempdir = private


def leftovers(folder: str | Path) -> list[str]:
    """Entries left in ``folder``, sorted."""
    try:
        return sorted(os.listdir(folder))
    except FileNotFoundError:
        return []


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    private = _STATE.get("private")
    if not private:
        return
    left = leftovers(private)
    old_env = _STATE.get("old_env")
    if old_env is None:
        os.environ.pop("TMPDIR", None)
    else:
        os.environ["TMPDIR"] = old_env
    tempfile.tempdir = _STATE.get("old_tempdir")
    shutil.rmtree(private, ignore_errors=True)
    _STATE["private"] = None
    if left:
        shown = ", ".join(left[:20]) + (f" and {len(left) - 20} more" if len(left) > 20 else "")
        msg = (f"the tests left {len(left)} entries in the temporary directory "
               f"({private}, now removed): {shown}")
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "temporary files left behind", red=True)
            reporter.write_line(msg)
        else:
            print(msg)
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
