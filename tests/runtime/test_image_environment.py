"""`.venv-image` is the scikit-learn image's environment: Python 3.9 and exactly requirements-image.txt's pins."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+)")
# What a venv brings along by itself, not a package of the image.
VENV_TOOLS = {"pip"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_versions() -> dict[str, str]:
    lines = (ROOT / "requirements-image.txt").read_text(encoding="utf-8").splitlines()
    return {canonical(m.group(1)): m.group(2) for m in map(PIN.match, lines) if m}


def installed_versions(image_python: Path) -> dict[str, str]:
    script = "import json; from importlib import metadata; print(json.dumps({d.metadata['Name']: d.version for d in metadata.distributions()}))"
    completed = subprocess.run([str(image_python), "-I", "-c", script], capture_output=True, text=True, check=True)
    return {canonical(name): version for name, version in json.loads(completed.stdout).items()}


def test_the_image_environment_runs_python_3_9(image_python: Path) -> None:
    completed = subprocess.run(
        [str(image_python), "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "(3, 9)"


def test_the_image_environment_holds_exactly_the_pinned_versions(image_python: Path) -> None:
    installed = installed_versions(image_python)
    pinned = pinned_versions()
    assert {
        "scikit-learn": "1.2.1",
        "sagemaker-training": "4.8.0",
        "sagemaker-containers": "2.8.6.post2",
    }.items() <= pinned.items()
    assert {name: installed.get(name) for name in pinned} == pinned
    assert set(installed) - set(pinned) - VENV_TOOLS == set(), "installed but not pinned in requirements-image.txt"
