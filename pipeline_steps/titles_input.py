"""The predict input contract: which files of the input are read, the header rules, rows with the wrong
number of fields, the Parquet column types, and what each row becomes.

Both predict engines (preprocess_predict.py, and titles_etl.py on EMR) read their input through these
functions, and the local run checks a predict input's names, header and first bytes with them before
anything runs; docs/pipeline.md ("The predict input") says the same in words:

- **Files.** Every file under the input prefix whose name ends in `.csv` or `.parquet` (any case), at
  any depth, is read; other files are not input. A path with a part that starts with `_` or `.` is
  refused (file_name_problems): Spark and Hadoop keep their bookkeeping there and never read such
  files, so one engine would read them and the other not. So are names that are not UTF-8, and two
  files whose paths differ only in suffix (`a.csv`, `a.parquet`: their prepared parts would collide).
- **CSV** is read in csv_dialect.py's dialect (RFC 4180, UTF-8). Its first record is the header.
- **Header.** Column names compare without case and without surrounding spaces. Exactly one column
  must be `title`; at most one may be `id`; other columns are ignored. A header with two `title` (or
  two `id`) columns, such as `title` and `Title `, is refused: which one is meant is a guess.
- **Field count.** A record with more or fewer fields than the header is kept as a rejected row,
  `wrong_field_count`, with the whole record as its title (written back as CSV) and the field at the
  id column's position, if it has one, as its id. Blank lines are not rows.
- **Parquet columns.** `title` must be a text (STRING) column; `id` text or integer (8 to 64 bits, or
  unsigned up to 32). Any other type (booleans, floating point, binary, dates, lists, structs) is
  refused: turned into text, it would be classified as a title or mistaken for an id.
- **Rows.** Each row is numbered within its file from 1 (the header is row 0), keeps its id or gets
  prepared.generated_id, and is checked by text.checked_title (prepared_columns).

Container code (Python 3.9; no pyarrow, no Spark, so that EMR's Python workers can run it).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple, Optional

from pipeline_steps import csv_dialect, prepared
from pipeline_steps.contract import WRONG_FIELD_COUNT
from pipeline_steps.errors import InputError
from pipeline_steps.text import TITLE_REASONS, checked_title

INPUT_SUFFIXES = (".csv", ".parquet")
# How much of each CSV file is read to check its encoding and header before any file's rows are read.
START_BYTES = 1 << 16
TITLE_COLUMN = "title"
ID_COLUMN = "id"
# Every reason a predict input row can be rejected for, in the reports' order.
REASONS = (WRONG_FIELD_COUNT, *TITLE_REASONS)

# What a Parquet column's type is, as either engine sees it (each maps its own types to these).
TEXT = "text"
INTEGER = "integer"
BOOLEAN = "boolean"
FLOATING_POINT = "floating-point"
BINARY = "binary"
DATE_OR_TIME = "date or time"
DECIMAL = "decimal"
LIST_OR_MAP = "list or map"
STRUCT = "struct"
NULL = "null"
_ALLOWED_KINDS = {TITLE_COLUMN: (TEXT,), ID_COLUMN: (TEXT, INTEGER)}
# How much of a header a message shows.
_SHOWN_COLUMNS = 12
_SHOWN_CHARACTERS = 80


class RowBatch(NamedTuple):
    """Data rows of an input file, as read, column by column: id and title fields, and a problem of
    each row's shape (WRONG_FIELD_COUNT, or None when checked_title decides)."""

    ids: list
    titles: list
    problems: list

    @classmethod
    def of(cls, ids: list, titles: list) -> RowBatch:
        """Rows without a shape problem (Parquet's)."""
        return cls(ids, titles, [None] * len(titles))


def is_input_file(relative_path: str) -> bool:
    return relative_path.lower().endswith(INPUT_SUFFIXES)


def file_name_problems(relative_paths: Iterable[str]) -> list[str]:
    """What is wrong with the names of the input files (paths relative to the input prefix), one line each."""
    problems = []
    paths = [path for path in relative_paths if is_input_file(path)]
    for path in paths:
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            problems.append(f"{ascii(path)[1:-1]}: the name is not valid UTF-8; rename it")
            continue
        hidden = [part for part in path.split("/") if part.startswith(("_", "."))]
        if hidden:
            problems.append(
                f"{path}: {hidden[0]!r} starts with '{hidden[0][0]}', which marks Spark's and Hadoop's bookkeeping "
                "(Spark never reads such files); rename it"
            )
    stems = sorted((prepared.stem(path), path) for path in paths)
    for (earlier, first), (later, second) in zip(stems, stems[1:]):
        if earlier == later:
            problems.append(
                f"{first} and {second} differ only in suffix (their prepared parts would collide); rename one"
            )
    return problems


def check_file_names(relative_paths: Iterable[str]) -> None:
    """InputError naming every input file the contract refuses by its name."""
    problems = file_name_problems(relative_paths)
    if problems:
        raise InputError(f"input file names refused: {'; '.join(problems)}")


def no_input_files(found: Sequence[str]) -> InputError:
    return InputError(
        f"no CSV or Parquet files (*.csv, *.parquet) in the input; found: {list(found[:10]) or 'nothing'}"
    )


def no_data_rows(names: Sequence[str]) -> InputError:
    return InputError(f"no titles to classify: {list(names)} have a header but no data rows")


def empty_file(name: str) -> InputError:
    return InputError(f"input file {name} is empty")


def column_positions(header: Sequence[str], name: str) -> tuple[int, Optional[int]]:
    """(position of the title column, position of the id column or None) under the header rules."""
    folded = [column.strip().lower() for column in header]
    positions = {}
    for column in (TITLE_COLUMN, ID_COLUMN):
        found = [position for position, cell in enumerate(folded) if cell == column]
        if len(found) > 1:
            named = ", ".join(f"{header[position]!r} (column {position + 1})" for position in found)
            raise InputError(
                f"input file {name} has {len(found)} {column!r} columns: {named}; names compare without case and "
                "surrounding spaces, so which one is meant is unclear: rename or remove the others"
            )
        positions[column] = found[0] if found else None
    if positions[TITLE_COLUMN] is None:
        raise InputError(f"input file {name} has no 'title' column; columns found: {_shown(header)}")
    return positions[TITLE_COLUMN], positions[ID_COLUMN]


def _shown(header: Sequence[str]) -> str:
    cells = [cell[:_SHOWN_CHARACTERS] for cell in header[:_SHOWN_COLUMNS]]
    more = len(header) - _SHOWN_COLUMNS
    return repr(cells) + (f" and {more} more" if more > 0 else "")


def _header(reader: Iterator[list[str]], name: str) -> tuple[int, Optional[int], int]:
    """(title position, id position or None, field count) of the header, the reader's first record."""
    header = next(reader, None)
    if header is None or not any(cell.strip() for cell in header):
        if all(not any(cell.strip() for cell in record) for record in reader):
            raise empty_file(name)
        header = header or []
    title_at, id_at = column_positions(header, name)
    return title_at, id_at, len(header)


def _csv_error(name: str, reader, error: csv.Error) -> InputError:
    return InputError(f"input file {name} is not valid CSV (line {reader.line_num}): {error}")


def csv_row_batches(lines: Iterable[str], name: str, batch_rows: int) -> Iterator[RowBatch]:
    """The data rows of one CSV file given as its text lines (csv_dialect.file_lines or text_lines), in
    order, at most `batch_rows` at a time; InputError names the file (and line) when it is refused.
    (The file's first bytes are check_csv_start's, which both engines call first.)"""
    reader = csv_dialect.reader(lines)
    ids: list = []
    titles: list = []
    problems: list = []
    try:
        title_at, id_at, width = _header(reader, name)
        for record in reader:
            if not record:  # a blank line: no row at all
                continue
            if len(record) == width:
                ids.append(record[id_at] if id_at is not None else None)
                titles.append(record[title_at])
                problems.append(None)
            else:
                ids.append(record[id_at] if id_at is not None and id_at < len(record) else None)
                titles.append(csv_dialect.record_text(record))
                problems.append(WRONG_FIELD_COUNT)
            if len(titles) == batch_rows:
                yield RowBatch(ids, titles, problems)
                ids, titles, problems = [], [], []
    except csv.Error as error:
        raise _csv_error(name, reader, error) from error
    if titles:
        yield RowBatch(ids, titles, problems)


def check_csv_start(first_bytes: bytes, name: str, whole_file: bool) -> None:
    """A CSV file's first bytes checked before any row is read: the encoding, and the header as
    csv_row_batches reads it. Without the whole file, a header that the bytes may cut off is not judged."""
    if not first_bytes:
        raise empty_file(name)
    problem = csv_dialect.encoding_problem(first_bytes)
    if problem:
        raise InputError(f"input file {name} {problem}")
    lines = first_bytes.split(b"\n")
    if whole_file:
        lines = [line + b"\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    else:
        lines = [line + b"\n" for line in lines[:-1]]  # the last may be cut off
    reader = csv_dialect.reader(csv_dialect.text_lines(lines))
    try:
        if whole_file:
            _header(reader, name)
            return
        header = next(reader, None)
    except csv.Error as error:
        if whole_file:
            raise _csv_error(name, reader, error) from error
        return  # a quoted header may go on beyond these bytes
    if header is not None and any(cell.strip() for cell in header):
        column_positions(header, name)


def parquet_column_problem(name: str, column: str, role: str, kind: str) -> Optional[str]:
    """Why a Parquet file's `role` column (TITLE_COLUMN or ID_COLUMN) of type `kind` is refused, or None."""
    allowed = _ALLOWED_KINDS[role]
    if kind in allowed:
        return None
    return (
        f"input file {name}: column {column!r} holds {kind} values; the {role} column must hold {' or '.join(allowed)}"
    )


def check_parquet_columns(name: str, columns: Sequence[tuple[str, str]]) -> tuple[int, Optional[int]]:
    """(title position, id position or None) of a Parquet file's (column name, kind) list, or InputError."""
    title_at, id_at = column_positions([column for column, _ in columns], name)
    for role, position in ((TITLE_COLUMN, title_at), (ID_COLUMN, id_at)):
        if position is not None:
            problem = parquet_column_problem(name, columns[position][0], role, columns[position][1])
            if problem:
                raise InputError(problem)
    return title_at, id_at


def prepared_columns(source_file: str, first_row: int, batch: RowBatch) -> tuple[list, list, list, list]:
    """(ids, id_generated, title_normalized, rejection_reason) of a batch whose first row is data row
    `first_row` of `source_file`: the row's id or prepared.generated_id, and its shape problem or
    checked_title's verdict."""
    ids, generated, normalized, reasons = [], [], [], []
    row_id = prepared.row_id
    for row, (given, title, problem) in enumerate(zip(*batch), start=first_row):
        identifier, is_generated = row_id(given, source_file, row)
        reason, clean = (problem, None) if problem else checked_title(title)
        ids.append(identifier)
        generated.append(is_generated)
        normalized.append(clean)
        reasons.append(reason)
    return ids, generated, normalized, reasons
