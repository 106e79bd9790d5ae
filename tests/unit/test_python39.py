"""scripts/python39.sh: how `make setup` finds the scikit-learn image's Python 3.9 (PATH, pyenv, uv), or says how to get one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "scripts" / "python39.sh"


def find(path_dirs: list[Path], home: Path) -> subprocess.CompletedProcess:
    env = {
        "PATH": ":".join([*map(str, path_dirs), "/usr/bin", "/bin"]),
        "HOME": str(home),
        "PYENV_ROOT": str(home / "no-pyenv"),
    }
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def python39() -> str:
    completed = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, "this machine needs a Python 3.9 for .venv-image: " + completed.stderr
    return completed.stdout.strip()


def executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


def test_a_python3_9_on_path_that_is_not_3_9_is_refused_with_a_hint(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable(bin_dir / "python3.9", f'#!/bin/sh\nexec {sys.executable} "$@"\n')  # a shim that runs another Python
    completed = find([bin_dir], tmp_path)
    assert completed.returncode == 1 and completed.stdout == ""
    assert "uv python install 3.9" in completed.stderr


def test_uvs_python_is_found_when_nothing_else_is(tmp_path: Path, python39: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable(bin_dir / "uv", f'#!/bin/sh\n[ "$*" = "python find 3.9" ] && echo {python39}\n')
    completed = find([bin_dir], tmp_path)
    assert (completed.returncode, completed.stdout.strip()) == (0, python39)
