"""Deterministic archives of the step code: the same source gives the same bytes on every synth.

CDK hashes file assets by content, so stable bytes mean a stable asset key, a stable pipeline
definition and no spurious diff or re-upload on `cdk deploy`.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pipeline_steps

STEPS_PACKAGE = Path(pipeline_steps.__file__).resolve().parent
PACKAGE_NAME = STEPS_PACKAGE.name

# Zip epoch: the earliest timestamp a zip entry can carry.
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)

# `python3 steps.zip <step> ...` runs the package's __main__ (the step dispatcher).
_ZIP_MAIN = 'import runpy\nrunpy.run_module("pipeline_steps", run_name="__main__", alter_sys=True)\n'
# The SageMaker training toolkit runs `python train.py <hyperparameters>` from the extracted source dir.
_TRAINING_LAUNCHER = "from pipeline_steps.train import main\n\nmain()\n"
TRAINING_ENTRY_POINT = "train.py"


@dataclass(frozen=True)
class StepBundles:
    """Files to publish as assets, one per S3 object the pipeline definition names."""

    steps_archive: Path
    etl_script: Path
    training_source: Path
    emr_bootstrap: Path


def step_module_files() -> list[Path]:
    """The step modules that ship, sorted: every module of the `pipeline_steps` package, which holds
    only what the containers run."""
    return sorted(path for path in STEPS_PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def _archive_members() -> list[tuple[str, bytes]]:
    return [(f"{PACKAGE_NAME}/{path.relative_to(STEPS_PACKAGE).as_posix()}", path.read_bytes()) for path in step_module_files()]


def _write_if_changed(path: Path, data: bytes) -> Path:
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)
    return path


def steps_zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in [("__main__.py", _ZIP_MAIN.encode()), *_archive_members()]:
            info = zipfile.ZipInfo(name, date_time=_FIXED_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def training_tar_bytes() -> bytes:
    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in [(TRAINING_ENTRY_POINT, _TRAINING_LAUNCHER.encode()), *_archive_members()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0
            archive.addfile(info, io.BytesIO(data))
    gz_buffer = io.BytesIO()
    with gzip.GzipFile(filename="", fileobj=gz_buffer, mode="wb", mtime=0) as gz:
        gz.write(tar_buffer.getvalue())
    return gz_buffer.getvalue()


def build_step_bundles(out_dir: Path) -> StepBundles:
    """Write the archives into `out_dir` (created if needed) and name every file to publish."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return StepBundles(
        steps_archive=_write_if_changed(out_dir / "steps.zip", steps_zip_bytes()),
        etl_script=STEPS_PACKAGE / "etl.py",
        training_source=_write_if_changed(out_dir / "sourcedir.tar.gz", training_tar_bytes()),
        emr_bootstrap=STEPS_PACKAGE / "emr_bootstrap.sh",
    )
