"""The session check of tests/conftest.py fails a run that leaves files in the temp directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")


def _run(tmp_path: Path, body: str, *extra: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_it.py").write_text(body)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "no:randomly", "--rootdir", str(tmp_path), "-c", os.devnull, *extra,
                           str(tmp_path / "test_it.py")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)


@pytest.mark.parametrize("extra", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_leaking_test_fails_the_run_and_is_cleaned_up(tmp_path: Path,
                                                        extra: tuple[str, ...]) -> None:
    proc = _run(tmp_path, "import tempfile\n"
                          "def test_leak():\n"
                          "    tempfile.mkdtemp(prefix='ivita-sim-leak-')\n"
                          "    open(tempfile.mktemp(prefix='stray-'), 'w').close()\n"
                          "def test_other():\n"
                          "    pass\n", *extra)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "2 passed" in proc.stdout
    assert "left 2 entries in the temporary directory" in proc.stdout
    assert "ivita-sim-leak-" in proc.stdout and "stray-" in proc.stdout
    # the private folder itself was removed
    private = proc.stdout.split("temporary directory (")[1].split(",")[0]
    assert not Path(private).exists()


def test_a_clean_run_passes(tmp_path: Path) -> None:
    proc = _run(tmp_path, "import tempfile\n"
                          "def test_clean(tmp_path):\n"
                          "    with tempfile.TemporaryDirectory(prefix='ivita-'):\n"
                          "        pass\n"
                          "    (tmp_path / 'x').write_text('pytest keeps tmp_path elsewhere')\n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "temporary files left behind" not in proc.stdout


def test_this_session_runs_in_a_private_temp_dir() -> None:
    assert Path(tempfile.gettempdir()).name.startswith("ivita-tests-")
    assert os.environ["TMPDIR"] == tempfile.gettempdir()


@pytest.mark.parametrize("n", [1])
def test_tmp_path_is_outside_the_checked_folder(tmp_path: Path, n: int) -> None:
    assert not str(tmp_path).startswith(tempfile.gettempdir())
