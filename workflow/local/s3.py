"""`s3://bucket/key` mapped to `<root>/bucket/key`, with S3's prefix semantics for job inputs.

No URI maps outside the root (pipeline_steps.registry.local_s3_path refuses `..`, empty segments and
symbolic links out), and every object written here is written whole or not at all (replaced_atomically),
as S3 makes an object visible only once it is complete.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from pipeline_steps.registry import local_s3_path

# A write that fails for want of space or of the right to grow a file (what, and what to do): said in one
# line, never a traceback.
_FREE_SPACE = "free some space there or write elsewhere"
NO_SPACE_ERRNOS = {
    errno.ENOSPC: ("no space left on device", _FREE_SPACE),
    errno.EDQUOT: ("disk quota exceeded", _FREE_SPACE),
    errno.EFBIG: ("the file would be larger than this process may write", "raise the limit (ulimit -f)"),
}


class NoSpace(Exception):
    """A file could not be written for want of space; a file written through replaced_atomically is as it was."""

    def __init__(self, target: Path, error: OSError):
        self.target = target
        what, fix = NO_SPACE_ERRNOS[error.errno]
        super().__init__(f"cannot write {target}: {what} ({errno.errorcode[error.errno]}): {fix}")


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def replaced_atomically(target: Path) -> Iterator[BinaryIO]:
    """A binary file that becomes `target` only when the block ends without an error.

    It is written as a temporary file beside `target` and renamed over it, so `target` is always whole:
    the old one or the new one, never a part, whatever stops the write (a signal, a full disk). The
    temporary file goes on any error; a full disk raises NoSpace.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = target.stat().st_mode & 0o7777 if target.exists() else _new_file_mode()
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(error, OSError) and error.errno in NO_SPACE_ERRNOS:
            raise NoSpace(target, error) from None
        raise


def copy_atomically(source: Path, target: Path) -> None:
    with source.open("rb") as reader, replaced_atomically(target) as writer:
        shutil.copyfileobj(reader, writer)


class LocalS3:
    def __init__(self, root: Path):
        self.root = root.resolve()

    def path(self, uri: str) -> Path:
        """Where `uri` lies under the root; ValueError for a URI that is not s3:// or would lead outside."""
        return local_s3_path(self.root, uri)

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
                copy_atomically(file, target / file.relative_to(source))
                count += 1
        return count

    def put_file(self, source: Path, uri: str) -> None:
        copy_atomically(source, self.path(uri))
