"""Read the titles to classify, validate and normalize each one, streaming in bounded batches.

    python -m pipeline_steps preprocess-predict --input DIR --output DIR [--resource-config PATH]

The prediction branch's processing engine (no EMR). Its Spark twin is titles_etl.py on EMR; both
write the layout of prepared.py.

The input is read as titles_input.py's contract says (which files, the CSV dialect, the header,
rows with the wrong number of fields, Parquet column types), the same as on EMR; input order is the
order of the files' paths without the suffix.
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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Optional

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline_steps import csv_dialect, prepared, titles_input
from pipeline_steps.contract import execution_date
from pipeline_steps.dataio import RESOURCE_CONFIG, add_counts, count_by, processing_hosts, write_json
from pipeline_steps.errors import InputError
from pipeline_steps.titles_input import INTEGER, TEXT, RowBatch

REASONS = titles_input.REASONS
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


def csv_batches(path: Path, name: str, batch_rows: int = prepared.BATCH_ROWS) -> Iterator[RowBatch]:
    """The data rows of one CSV file (titles_input.csv_row_batches), in order, at most `batch_rows` at a time."""
    with path.open("rb") as handle:
        yield from titles_input.csv_row_batches(csv_dialect.file_lines(handle), name, batch_rows)


def arrow_kind(data_type: pa.DataType) -> str:
    """titles_input's name for what a Parquet column of this Arrow type holds."""
    if pa.types.is_dictionary(data_type):
        data_type = data_type.value_type
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type):
        return TEXT
    if pa.types.is_signed_integer(data_type) or data_type in (pa.uint8(), pa.uint16(), pa.uint32()):
        return INTEGER
    for is_kind, kind in _KINDS:
        if is_kind(data_type):
            return kind
    return str(data_type)


_KINDS = (
    (pa.types.is_boolean, titles_input.BOOLEAN),
    (pa.types.is_floating, titles_input.FLOATING_POINT),
    (
        lambda t: pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t),
        titles_input.BINARY,
    ),
    (pa.types.is_temporal, titles_input.DATE_OR_TIME),
    (pa.types.is_decimal, titles_input.DECIMAL),
    (
        lambda t: (
            pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_map(t)
        ),
        titles_input.LIST_OR_MAP,
    ),
    (pa.types.is_struct, titles_input.STRUCT),
    (pa.types.is_null, titles_input.NULL),
)


def _as_text(values: list) -> list[Optional[str]]:
    return [value if value is None or isinstance(value, str) else str(value) for value in values]


def _parquet_file(path: Path, name: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(str(path))
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise InputError(f"input file {name} is not a readable Parquet file: {error}") from error


def parquet_columns(source: pq.ParquetFile, name: str) -> list[str]:
    """The names of a Parquet file's title column and, if it has one, id column, as the contract allows."""
    schema = source.schema_arrow
    title_at, id_at = titles_input.check_parquet_columns(name, [(f.name, arrow_kind(f.type)) for f in schema])
    return [schema.names[title_at]] + ([schema.names[id_at]] if id_at is not None else [])


def parquet_batches(path: Path, name: str, batch_rows: int = prepared.BATCH_ROWS) -> Iterator[RowBatch]:
    """The rows of one Parquet file, in order, at most `batch_rows` at a time."""
    with _parquet_file(path, name) as source:
        columns = parquet_columns(source, name)
        for batch in source.iter_batches(batch_size=batch_rows, columns=columns):
            titles = _as_text(batch.column(0).to_pylist())
            ids = _as_text(batch.column(1).to_pylist()) if len(columns) > 1 else [None] * len(titles)
            yield RowBatch.of(ids, titles)


def prepare_batch(source_file: str, first_row: int, batch: RowBatch) -> pa.Table:
    """prepared.COLUMNS of a batch of rows whose first is data row `first_row` of `source_file`."""
    ids, generated, normalized, reasons = titles_input.prepared_columns(source_file, first_row, batch)
    rows = len(ids)
    columns = {
        prepared.SOURCE_FILE: [source_file] * rows,
        prepared.SOURCE_ROW: list(range(first_row, first_row + rows)),
        prepared.ID: ids,
        prepared.ID_GENERATED: generated,
        prepared.TITLE: batch.titles,
        prepared.TITLE_NORMALIZED: normalized,
        prepared.REJECTION_REASON: reasons,
    }
    return pa.table(columns, schema=SCHEMA)


def input_files(input_dir: Path) -> list[Path]:
    """The input files in input order; InputError when the contract refuses one by its name."""
    if not input_dir.is_dir():
        raise InputError(f"input directory {input_dir} does not exist or is not a directory")
    files = prepared.ordered_files(input_dir, titles_input.INPUT_SUFFIXES)
    titles_input.check_file_names(path.relative_to(input_dir).as_posix() for path in files)
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


def check_file_start(path: Path, name: str) -> None:
    """InputError (naming the file `name`) when the contract refuses the file by its first bytes (CSV:
    encoding, header) or its column types (Parquet); the local run checks the user's files with it too."""
    if path.suffix.lower() == ".parquet":
        with _parquet_file(path, name) as source:
            parquet_columns(source, name)
        return
    with path.open("rb") as handle:
        start = handle.read(titles_input.START_BYTES)
        whole = not handle.read(1)
    titles_input.check_csv_start(start, name, whole)


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
        for batch in batches(path, source_file, batch_rows):
            table = prepare_batch(source_file, next_row, batch)
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
        raise titles_input.no_input_files(
            sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        )
    for path in files:  # every file's start before any file's rows, as the EMR engine checks them
        check_file_start(path, path.relative_to(root).as_posix())
    counts: dict = {}
    for path in files:
        counts = add_counts(counts, prepare_file(path, root, output, batch_rows))
    names = [path.relative_to(root).as_posix() for path in files]
    if files and not counts and len(hosts) == 1:
        raise titles_input.no_data_rows(names)
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
