"""The step modules run on Python 3.9 (SageMaker scikit-learn 1.2-1 image, EMR 7): vermin proves it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from workflow.definition.bundles import step_module_files


def test_step_modules_need_no_python_newer_than_3_9():
    files = [str(p) for p in step_module_files()]
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("vermin")),
            "--target=3.9-",
            "--violations",
            "--eval-annotations",
            "--no-tips",
            *files,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
