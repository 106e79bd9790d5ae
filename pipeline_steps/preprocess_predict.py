"""Read the titles to classify, validate and normalize each one, streaming in bounded batches.

    python -m pipeline_steps preprocess-predict --input DIR --output DIR [--resource-config PATH]

The prediction branch's processing engine (no EMR). Its Spark twin is titles_etl.py on EMR; both
write the layout of prepared.py.

Every `*.csv` and `*.parquet` under --input is an input file; input order is the order of their
paths without the suffix. A file needs a `title` column; `id` is optional and other columns are
ignored (names match case-insensitively). CSV bytes are decoded as UTF-8 with errors="replace"
(a BOM is tolerated): a bad byte makes that row an `undecodable_title` rejection, not a crash.
For each input file `<stem>.<csv|parquet>` it writes, in the file's row order:
    OUTPUT/titles/<stem>.parquet      every row: prepared.COLUMNS (rejection_reason null when the
                                      title can be classified; a row without an id gets a generated one)
    OUTPUT/quarantine/<stem>.parquet  the rejected rows, when there are any
and OUTPUT/report-<host>.json with the counts (input rows = valid + rejected).

Memory stays bounded whatever the input size: rows are read, checked and written BATCH_ROWS at a
time. With several instances SageMaker gives each a share of the input files (ShardedByS3Key);
an instance whose share is empty writes only its report.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Optional

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline_steps import prepared
from pipeline_steps.contract import execution_date
from pipeline_steps.dataio import RESOURCE_CONFIG, add_counts, count_by, processing_hosts, write_json
from pipeline_steps.errors import InputError
from pipeline_steps.text import TITLE_REASONS, checked_title

REASONS = TITLE_REASONS
SCHEMA = pa.schema(
    [
        (prepared.SOURCE_FILE, pa.string()),
        (prepared.SOURCE_ROW, pa.int64()),
        (prepared.ID, pa.string()),
        (prepared.ID_GENERATED, pa.bool_()),
        (prepared.TITLE, pa.string()),
        (prepared.TITLE_NORMALIZED, pa.string()),
        (prepared.REJECTION_REASON, pa.string()),
    ]
)
INPUT_SUFFIXES = (".csv", ".parquet")
# A whole line of a damaged file can land in one field; never let csv's 128 KiB default stop us.
_FIELD_SIZE_LIMIT = 64 * 1024 * 1024

IdsAndTitles = tuple[list[Optional[str]], list[Optional[str]]]


@contextlib.contextmanager
def _large_csv_fields() -> Iterator[None]:
    previous_limit = csv.field_size_limit()
    csv.field_size_limit(max(previous_limit, _FIELD_SIZE_LIMIT))
    try:
        yield
    finally:
        csv.field_size_limit(previous_limit)


def _column_positions(header: Sequence[str], name: str) -> tuple[int, Optional[int]]:
    """(position of `title`, position of `id` or None) in a header; InputError without a title."""
    names = [column.strip().lower() for column in header]
    if "title" not in names:
        raise InputError(f"input file {name} has no 'title' column; columns found: {list(header)}")
    return names.index("title"), names.index("id") if "id" in names else None


def csv_batches(path: Path, name: str, batch_rows: int = prepared.BATCH_ROWS) -> Iterator[IdsAndTitles]:
    """(ids, titles) of each data row of one CSV file, in order, at most `batch_rows` at a time."""
    with path.open("rb") as raw:
        if raw.read(2) in (b"\xff\xfe", b"\xfe\xff"):
            raise InputError(f"input file {name} is UTF-16 encoded; save it as UTF-8")
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as handle, _large_csv_fields():
        # Python 3.9's csv module refuses NUL characters: they become U+FFFD, an undecodable title.
        lines = (line.replace("\x00", "\ufffd") for line in handle)
        # strict: an unbalanced quote is an error naming the line, not the rest of the file merged into one title.
        reader = csv.reader(lines, strict=True)
        try:
            header = next(reader, None)
            if header is None or not any(cell.strip() for cell in header):
                if all(not any(cell.strip() for cell in record) for record in reader):
                    raise InputError(f"input file {name} is empty")
                header = header or []
            title_at, id_at = _column_positions(header, name)
            ids: list[Optional[str]] = []
            titles: list[Optional[str]] = []
            for record in reader:
                if not record:  # a blank line: no row at all, as in any CSV reader
                    continue
                titles.append(record[title_at] if title_at < len(record) else None)
                ids.append(record[id_at] if id_at is not None and id_at < len(record) else None)
                if len(titles) == batch_rows:
                    yield ids, titles
                    ids, titles = [], []
        except csv.Error as error:
            raise InputError(f"input file {name} is not valid CSV (line {reader.line_num}): {error}") from error
        if titles:
            yield ids, titles


def _as_text(values: list) -> list[Optional[str]]:
    return [value if value is None or isinstance(value, str) else str(value) for value in values]


def parquet_batches(path: Path, name: str, batch_rows: int = prepared.BATCH_ROWS) -> Iterator[IdsAndTitles]:
    """(ids, titles) of each row of one Parquet file, in order, at most `batch_rows` at a time."""
    try:
        source = pq.ParquetFile(str(path))
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise InputError(f"cannot read Parquet file {name}: {error}") from error
    with source:
        header = source.schema_arrow.names
        title_at, id_at = _column_positions(header, name)
        columns = [header[title_at]] + ([header[id_at]] if id_at is not None else [])
        for batch in source.iter_batches(batch_size=batch_rows, columns=columns):
            titles = _as_text(batch.column(0).to_pylist())
            ids = _as_text(batch.column(1).to_pylist()) if id_at is not None else [None] * len(titles)
            yield ids, titles


def prepare_batch(source_file: str, first_row: int, ids: Sequence[Optional[str]], titles: Sequence[Optional[str]]):
    """prepared.COLUMNS of a batch of rows whose first is data row `first_row` of `source_file`."""
    columns: dict[str, list] = {name: [] for name in prepared.COLUMNS}
    for offset, (given, title) in enumerate(zip(ids, titles)):
        row = first_row + offset
        identifier, generated = prepared.row_id(given, source_file, row)
        reason, normalized = checked_title(title)
        columns[prepared.SOURCE_FILE].append(source_file)
        columns[prepared.SOURCE_ROW].append(row)
        columns[prepared.ID].append(identifier)
        columns[prepared.ID_GENERATED].append(generated)
        columns[prepared.TITLE].append(title)
        columns[prepared.TITLE_NORMALIZED].append(normalized)
        columns[prepared.REJECTION_REASON].append(reason)
    return pa.table(columns, schema=SCHEMA)


def input_files(input_dir: Path) -> list[Path]:
    """The input files in input order; InputError when two share a stem (they would share a part)."""
    if not input_dir.is_dir():
        raise InputError(f"input directory {input_dir} does not exist or is not a directory")
    files = prepared.ordered_files(input_dir, INPUT_SUFFIXES)
    stems = [prepared.relative_stem(path, input_dir) for path in files]
    for earlier, later in zip(stems, stems[1:]):
        if earlier == later:
            raise InputError(f"input files {earlier}.* under {input_dir} differ only in suffix; rename one of them")
    return files


class _PartWriter:
    """A Parquet file written one batch (one row group) at a time, created at the first batch."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path, self.schema = path, schema
        self._writer: Optional[pq.ParquetWriter] = None

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(str(self.path), self.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def prepare_file(path: Path, input_dir: Path, output_dir: Path, batch_rows: int) -> dict[str, int]:
    """Stream one input file into its titles/ and quarantine/ parts; {reason or "valid": rows}."""
    source_file = path.relative_to(input_dir).as_posix()
    stem = prepared.relative_stem(path, input_dir)
    batches = parquet_batches if path.suffix.lower() == ".parquet" else csv_batches
    titles = _PartWriter(output_dir / prepared.TITLES_DIR / f"{stem}.parquet", SCHEMA)
    quarantine_schema = pa.schema([SCHEMA.field(name) for name in prepared.QUARANTINE_COLUMNS])
    quarantine = _PartWriter(output_dir / prepared.QUARANTINE_DIR / f"{stem}.parquet", quarantine_schema)
    counts: dict = {}
    next_row = 1
    try:
        for ids, batch_titles in batches(path, str(path), batch_rows):
            table = prepare_batch(source_file, next_row, ids, batch_titles)
            next_row += table.num_rows
            titles.write(table)
            reasons = table.column(prepared.REJECTION_REASON)
            quarantine.write(table.filter(reasons.is_valid()).select(list(prepared.QUARANTINE_COLUMNS)))
            counts = add_counts(counts, count_by(reason or "valid" for reason in reasons.to_pylist()))
    finally:
        titles.close()
        quarantine.close()
    return counts


def report(files: Sequence[str], host: str, counts: dict[str, int]) -> dict:
    rejected = {reason: counts.get(reason, 0) for reason in REASONS}
    rejected_rows = sum(rejected.values())
    valid_rows = counts.get("valid", 0)
    return {
        "host": host,
        "input_files": list(files),
        "input_rows": valid_rows + rejected_rows,
        "valid_rows": valid_rows,
        "rejected_rows": rejected_rows,
        "rejections_by_reason": rejected,
    }


def run(input_dir, output_dir, resource_config=RESOURCE_CONFIG, batch_rows: int = prepared.BATCH_ROWS) -> dict:
    host, hosts = processing_hosts(resource_config)
    root, output = Path(input_dir), Path(output_dir)
    files = input_files(root)
    if not files and len(hosts) == 1:  # with several instances, an empty share is SageMaker's doing
        found = sorted(p.name for p in root.iterdir())[:10]
        raise InputError(f"no CSV or Parquet files (*.csv, *.parquet) under {root}; found: {found or 'nothing'}")
    counts: dict = {}
    for path in files:
        counts = add_counts(counts, prepare_file(path, root, output, batch_rows))
    names = [path.relative_to(root).as_posix() for path in files]
    if files and not counts and len(hosts) == 1:
        raise InputError(f"no titles to classify under {root}: {names} have a header but no data rows")
    summary = report(names, host, counts)
    write_json(summary, output / f"report-{host}.json")
    return summary


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="preprocess-predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", default="/opt/ml/processing/input", help="directory of CSV or Parquet files")
    parser.add_argument("--output", default="/opt/ml/processing/output")
    parser.add_argument("--resource-config", default=RESOURCE_CONFIG, help="SageMaker's host list of this job")
    parser.add_argument(
        "--execution-date", default="", help="the predictions' date partition, checked here before any input is read"
    )
    args = parser.parse_args(argv)
    try:
        execution_date(args.execution_date)
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    summary = run(args.input, args.output, args.resource_config)
    print(
        f"{summary['input_rows']} rows from {len(summary['input_files'])} file(s) on {summary['host']}: "
        f"{summary['valid_rows']} valid, {summary['rejected_rows']} rejected {summary['rejections_by_reason']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
