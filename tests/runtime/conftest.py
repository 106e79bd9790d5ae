"""Session fixtures of the runtime tests: the image environment and the definition's jobs run in it."""

from __future__ import annotations

from pathlib import Path

import pytest
from image_jobs import ImageJobs, run_image_jobs

from workflow.local.executors import IMAGE_PYTHON


@pytest.fixture(scope="session")
def image_python() -> Path:
    if not IMAGE_PYTHON.is_file():
        pytest.fail(f"{IMAGE_PYTHON} is missing: `make setup` makes the image environment")
    return IMAGE_PYTHON


@pytest.fixture(scope="session")
def image_jobs(synth, image_python: Path, tmp_path_factory: pytest.TempPathFactory) -> ImageJobs:
    return run_image_jobs(synth, image_python, tmp_path_factory.mktemp("image-jobs"))
