"""ruff's rules and its formatter (pyproject.toml) hold across the project, including the Python 3.9 target of the
step modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_ruff_finds_nothing():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("ruff")), "check", "--no-cache", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_changes_nothing():
    """One formatter setting for every file: `ruff format` (pyproject.toml's [tool.ruff]) leaves the tree as it is.
    Run `.venv/bin/ruff format .` to apply it."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("ruff")), "format", "--check", "--no-cache", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
