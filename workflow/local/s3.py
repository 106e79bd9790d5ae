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

    def keys(self, uri: str) -> list[str]:
        """The objects `uri` names, sorted, relative to it: one object's name, or every key below a prefix."""
        source = self.path(uri)
        if source.is_file():
            return [source.name]
        if not source.is_dir():
            raise FileNotFoundError(f"{uri}: no such object or prefix (local folder {source})")
        return sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file())

    def download(self, uri: str, destination: Path, keys: list[str] | None = None) -> int:
        """Copy what `uri` names into `destination` as a processing/training job input; return the file count.

        A URI naming one object lands as `destination/<object name>`; a prefix lands with the
        paths below it, as SageMaker's S3Prefix data type does. `keys` (from keys()) copies only
        those objects, as a ShardedByS3Key input gives an instance its share; an empty share is
        an empty folder.
        """
        source = self.path(uri)
        destination.mkdir(parents=True, exist_ok=True)
        chosen = self.keys(uri) if keys is None else keys
        if keys is None and not chosen:
            raise FileNotFoundError(f"{uri}: the prefix is empty (local folder {source})")
        for key in chosen:
            target = destination / key
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source if source.is_file() else source / key, target)
        return len(chosen)

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
