"""`s3://bucket/key` mapped to `<root>/bucket/key`, with S3's prefix semantics for job inputs."""

from __future__ import annotations

import shutil
from pathlib import Path


class LocalS3:
    def __init__(self, root: Path):
        self.root = root.resolve()

    def path(self, uri: str) -> Path:
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            raise ValueError(f"not an s3:// URI: {uri!r}")
        bucket, _, key = uri[len("s3://") :].partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {uri!r}")
        return self.root / bucket / key

    def uri(self, path: Path) -> str:
        relative = path.resolve().relative_to(self.root)
        return "s3://" + relative.as_posix()

    def download(self, uri: str, destination: Path) -> int:
        """Copy what `uri` names into `destination` as a processing/training job input; return the file count.

        A URI naming one object lands as `destination/<object name>`; a prefix lands with the
        paths below it, as SageMaker's S3Prefix data type does.
        """
        source = self.path(uri)
        destination.mkdir(parents=True, exist_ok=True)
        if source.is_file():
            shutil.copy2(source, destination / source.name)
            return 1
        if not source.is_dir():
            raise FileNotFoundError(f"{uri}: no such object or prefix (local folder {source})")
        files = [p for p in sorted(source.rglob("*")) if p.is_file()]
        if not files:
            raise FileNotFoundError(f"{uri}: the prefix is empty (local folder {source})")
        for file in files:
            target = destination / file.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target)
        return len(files)

    def upload_dir(self, source: Path, uri: str) -> int:
        """Copy a job's output folder to `uri`, overwriting objects with the same keys; return the file count."""
        target = self.path(uri)
        count = 0
        for file in sorted(source.rglob("*")):
            if file.is_file():
                destination = target / file.relative_to(source)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, destination)
                count += 1
        return count

    def put_file(self, source: Path, uri: str) -> None:
        target = self.path(uri)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
