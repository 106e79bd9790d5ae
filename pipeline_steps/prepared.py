"""The prepared-titles layout: what both predict-prep engines write and BatchPredict reads.

PreprocessPredict (a processing job that streams) and the EMR step's titles job (titles_etl.py,
Spark) write the same Parquet columns under `titles/`, the rejected rows again under
`quarantine/`, and their counts; BatchPredict reads `titles/`. This module imports neither pyarrow
nor Spark, so both sides (and EMR's Python, which has no pyarrow) share it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Optional

SOURCE_FILE = "source_file"  # the input file, relative to the input prefix
SOURCE_ROW = "source_row"  # 1-based data row in that file (the header is row 0)
ID = "id"
ID_GENERATED = "id_generated"  # true when the input row had no id and `id` is generated_id()
TITLE = "title"
TITLE_NORMALIZED = "title_normalized"
REJECTION_REASON = "rejection_reason"
COLUMNS = (SOURCE_FILE, SOURCE_ROW, ID, ID_GENERATED, TITLE, TITLE_NORMALIZED, REJECTION_REASON)

TITLES_DIR = "titles"
QUARANTINE_DIR = "quarantine"
QUARANTINE_COLUMNS = (SOURCE_FILE, SOURCE_ROW, ID, TITLE, REJECTION_REASON)

# Rows are read in batches of this many: what bounds the steps' memory, whatever the input size.
BATCH_ROWS = 20000


def generated_id(source_file: str, source_row: int) -> str:
    """The id of a row that has none: its file and row, which no other row of the input shares.

    `id_generated` marks such ids, so an input id that happens to read the same stays distinguishable.
    """
    return f"{source_file}#{source_row}"


def row_id(given: Optional[str], source_file: str, source_row: int) -> tuple[str, bool]:
    """(id, generated): the input's id when it has one, else generated_id()."""
    if given is not None and given.strip():
        return given, False
    return generated_id(source_file, source_row), True


def stem(relative_path: str) -> str:
    """A relative path without its suffix: `sub/b.csv` -> `sub/b`. A part derived from an input is named
    `<stem><its own suffix>`, so inputs, prepared parts and predictions sort alike."""
    name_start = relative_path.rfind("/") + 1
    dot = relative_path.rfind(".")
    return relative_path[:dot] if dot > name_start else relative_path


def relative_stem(path: Path, root: Path) -> str:
    """stem() of `path` relative to `root`."""
    return stem(path.relative_to(root).as_posix())


def ordered_files(root: Path, suffixes: Iterable[str]) -> list[Path]:
    """Every file under `root` with one of `suffixes` (case-insensitive), in input order: by relative_stem.
    (Spark's and Hadoop's bookkeeping, `_SUCCESS` and `.<part>.crc`, has other suffixes.)"""
    wanted = tuple(s.lower() for s in suffixes)
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in wanted]
    return sorted(files, key=lambda p: (relative_stem(p, root), p.suffix))
