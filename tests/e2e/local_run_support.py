"""The command users run for the local pipeline, as the end-to-end tests start it (in a subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_ONET = ROOT / "tests" / "fixtures" / "onet"


def local_run_command(work_dir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "workflow.local", "--env", "develop", "--work-dir", str(work_dir), *args]


def local_run(*args: str, work_dir: Path, timeout: float | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        local_run_command(work_dir, *args), cwd=ROOT, capture_output=True, text=True, check=False, timeout=timeout
    )
