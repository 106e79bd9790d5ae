"""Deterministic archives of the step code: the same source gives the same bytes on every synth.

CDK hashes file assets by content, so stable bytes mean a stable asset key, a stable pipeline
definition and no spurious diff or re-upload on `cdk deploy`.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import io
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

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
# The ETL's pure-Python packages that EMR's Python lacks (reading .xlsx), pinned in requirements.txt. They
# reach EMR in spark-submit's --py-files beside the step code, installed from this environment: EMR nodes
# need no bootstrap action, no pip and no access to PyPI.
ETL_DEPENDENCIES = ("openpyxl", "et-xmlfile")


@dataclass(frozen=True)
class StepBundles:
    """Files to publish as assets, one per S3 object the pipeline definition names."""

    steps_archive: Path
    etl_script: Path
    training_source: Path
    etl_dependencies: Path


def step_module_files() -> list[Path]:
    """The step modules that ship, sorted: every module of the `pipeline_steps` package, which holds
    only what the containers run."""
    return sorted(path for path in STEPS_PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def _archive_members() -> list[tuple[str, bytes]]:
    return [
        (f"{PACKAGE_NAME}/{path.relative_to(STEPS_PACKAGE).as_posix()}", path.read_bytes())
        for path in step_module_files()
    ]


def _write_if_changed(path: Path, data: bytes) -> Path:
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)
    return path


def _zip_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_FIXED_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def steps_zip_bytes() -> bytes:
    return _zip_bytes([("__main__.py", _ZIP_MAIN.encode()), *_archive_members()])


def _distribution_members(name: str) -> list[tuple[str, bytes]]:
    """A distribution's Python modules and its metadata and licence files, as installed here."""
    distribution = importlib.metadata.distribution(name)
    members = []
    for file in distribution.files or []:
        path = PurePosixPath(file.as_posix())
        in_metadata = path.parts[0].endswith(".dist-info")
        if "__pycache__" in path.parts or (in_metadata and path.name in ("RECORD", "INSTALLER", "REQUESTED")):
            continue
        if path.suffix == ".py" or in_metadata:
            members.append((path.as_posix(), Path(distribution.locate_file(file)).read_bytes()))
    return sorted(members)


def etl_dependencies_zip_bytes() -> bytes:
    """The ETL's dependencies as one zip for --py-files: each package at the zip's root, with its licence."""
    return _zip_bytes([member for name in ETL_DEPENDENCIES for member in _distribution_members(name)])


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
        etl_script=STEPS_PACKAGE / "etl_main.py",
        training_source=_write_if_changed(out_dir / "sourcedir.tar.gz", training_tar_bytes()),
        etl_dependencies=_write_if_changed(out_dir / "etl-dependencies.zip", etl_dependencies_zip_bytes()),
    )
