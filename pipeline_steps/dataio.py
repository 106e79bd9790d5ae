"""Small file helpers the steps share: read a directory of Parquet parts, write Parquet and JSON.

Runs in the SageMaker scikit-learn image (pandas 1.1): Parquet goes through pyarrow, and the
pandas API used here is the part that has been stable since pandas 1.0.
(Named `dataio`, not `io`, so that it can never shadow the standard library's `io` when the step
files sit at the root of a SageMaker code directory.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Optional, Union

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline_steps.errors import InputError
from pipeline_steps.etl_tables import MAJOR_GROUP, TITLE_NORMALIZED

PathLike = Union[str, "os.PathLike[str]"]


def _hidden(path: Path, root: Path) -> bool:
    """Spark and Hadoop bookkeeping: `_SUCCESS`, `_temporary/`, `.part-0.crc` and the like."""
    return any(part.startswith(("_", ".")) for part in path.relative_to(root).parts)


def parquet_files(directory: PathLike) -> list[Path]:
    """The `*.parquet` files under `directory` (recursively, sorted), skipping `_`/`.` entries."""
    root = Path(directory)
    if not root.is_dir():
        raise InputError(f"input directory {root} does not exist or is not a directory")
    files = sorted(p for p in root.rglob("*.parquet") if p.is_file() and not _hidden(p, root))
    if not files:
        found = sorted(p.name for p in root.iterdir())[:10]
        raise InputError(f"no Parquet files (*.parquet) under {root}; found: {found or 'nothing'}")
    return files


def read_parquet_table(directory: PathLike, required_columns: Sequence[str] = ()) -> pa.Table:
    """All Parquet parts under `directory` as one table; InputError names what is missing."""
    files = parquet_files(directory)
    tables = []
    for path in files:
        try:
            tables.append(pq.read_table(str(path)))
        except Exception as error:  # pyarrow raises several types for a damaged file
            raise InputError(f"cannot read Parquet file {path}: {error}") from error
    table = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
    missing = [c for c in required_columns if c not in table.column_names]
    if missing:
        raise InputError(f"Parquet data under {directory} lacks column(s) {missing}; it has {table.column_names}")
    if table.num_rows == 0:
        raise InputError(f"Parquet data under {directory} holds no rows")
    return table


def read_parquet_dir(directory: PathLike, required_columns: Sequence[str] = ()):
    """Like read_parquet_table, as a pandas DataFrame."""
    return read_parquet_table(directory, required_columns).to_pandas()


def labeled_rows(table: pa.Table, where: PathLike, extra_columns: Sequence[str] = ()) -> list[tuple]:
    """(title_normalized, major_group, *extra_columns) of each row with a title and a major group.

    InputError names `where` when no row has both.
    """
    columns = [table.column(name).to_pylist() for name in (TITLE_NORMALIZED, MAJOR_GROUP, *extra_columns)]
    kept = [(title, str(group), *rest) for title, group, *rest in zip(*columns) if title and title.strip() and group]
    if not kept:
        raise InputError(f"no rows with a title_normalized and a major_group under {where}")
    return kept


def read_labeled_titles(directory) -> tuple[list[str], list[str]]:
    """(title_normalized, major_group) lists of a split directory, skipping rows without a title."""
    kept = labeled_rows(read_parquet_table(directory, (TITLE_NORMALIZED, MAJOR_GROUP)), directory)
    return [title for title, _ in kept], [group for _, group in kept]


def write_parquet(frame, path: PathLike, schema: Optional[pa.Schema] = None) -> Path:
    """Write a DataFrame (or a pyarrow Table) to one Parquet file, creating its directory."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    table = table.replace_schema_metadata(None)  # no pandas index metadata: any reader, any version
    pq.write_table(table, str(target))
    return target


def write_json(obj, path: PathLike) -> Path:
    """Pretty, key-sorted JSON (UTF-8), creating the directory; written atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", "utf-8")
    os.replace(str(temporary), str(target))
    return target


def read_json(path: PathLike):
    return json.loads(Path(path).read_text("utf-8"))


def write_text(text: str, path: PathLike) -> Path:
    """Write UTF-8 text atomically, creating the directory."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(text, "utf-8")
    os.replace(str(temporary), str(target))
    return target


# Where SageMaker tells a processing job's instance who it is (the container convention).
RESOURCE_CONFIG = "/opt/ml/config/resourceconfig.json"


def processing_hosts(resource_config: PathLike = RESOURCE_CONFIG) -> tuple[str, list[str]]:
    """(this instance's host name, every host of the job), e.g. ("algo-2", ["algo-1", "algo-2"]).

    Outside a processing job (tests, a laptop) there is no such file: one host, "algo-1".
    """
    path = Path(resource_config)
    if not path.is_file():
        return "algo-1", ["algo-1"]
    config = read_json(path)
    return str(config["current_host"]), [str(host) for host in config["hosts"]]


def add_counts(total: dict, more: dict) -> dict:
    """`total` with the counts of `more` added, keys sorted (count_by's shape)."""
    merged = dict(total)
    for key, count in more.items():
        merged[key] = merged.get(key, 0) + count
    return {key: merged[key] for key in sorted(merged, key=str)}


def count_by(values: Iterable) -> dict:
    """{value: count}, keys sorted: the shape every report in the steps uses."""
    counts: dict = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return {key: counts[key] for key in sorted(counts, key=str)}
