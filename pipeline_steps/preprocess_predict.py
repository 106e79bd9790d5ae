"""Read the CSV files of titles to classify, validate and normalize each title.

    python -m pipeline_steps preprocess-predict --input DIR --output DIR

Every `*.csv` under --input (sorted by path) needs a `title` header column; `id` is optional and
other columns are ignored (header names match case-insensitively). Bytes are decoded as UTF-8 with
errors="replace" (a BOM is tolerated): a bad byte makes that row an `undecodable_title` rejection,
not a crash. Writes OUTPUT/titles.parquet, one row per input row in input order:
    row_number (0-based over all files), id (the input id; the row number as a string when the
    file has no id column or the cell is empty), title, title_normalized, rejection_reason (null
    when the title can be classified)
and OUTPUT/report.json with the counts per rejection reason.
"""

from __future__ import annotations

import argparse
import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import pyarrow as pa

from pipeline_steps.dataio import InputError, count_by, write_json, write_parquet
from pipeline_steps.text import (
    EMPTY_TITLE,
    NO_LETTERS,
    TITLE_TOO_LONG,
    UNDECODABLE_TITLE,
    normalize_title,
    title_problem,
)

REASONS = (EMPTY_TITLE, TITLE_TOO_LONG, UNDECODABLE_TITLE, NO_LETTERS)
SCHEMA = pa.schema(
    [
        ("row_number", pa.int64()),
        ("id", pa.string()),
        ("title", pa.string()),
        ("title_normalized", pa.string()),
        ("rejection_reason", pa.string()),
    ]
)
# A whole line of a damaged file can land in one field; never let csv's 128 KiB default stop us.
_FIELD_SIZE_LIMIT = 64 * 1024 * 1024


def decode(data: bytes, name: str) -> str:
    """UTF-8 text of a file: BOM dropped, bad bytes and NULs as U+FFFD; empty file is an error."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"input file {name} is UTF-16 encoded; save it as UTF-8")
    text = data.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise InputError(f"input file {name} is empty")
    return text.replace("\x00", "\ufffd")  # Python 3.9's csv module refuses NUL characters


def parse_titles(data: bytes, name: str) -> list[dict[str, Optional[str]]]:
    """[{"id": str or None, "title": str or None}] for each data row of one CSV file, in order."""
    text = decode(data, name)
    previous_limit = csv.field_size_limit()
    csv.field_size_limit(max(previous_limit, _FIELD_SIZE_LIMIT))
    try:
        # strict: an unbalanced quote is an error naming the line, not the rest of the file merged into one title.
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next(reader, [])
        names = [column.strip().lower() for column in header]
        if "title" not in names:
            raise InputError(f"input file {name} has no 'title' column; columns found: {header}")
        title_at = names.index("title")
        id_at = names.index("id") if "id" in names else None
        rows = []
        for record in reader:
            if not record:  # a blank line: no row at all, as in any CSV reader
                continue
            rows.append(
                {
                    "title": record[title_at] if title_at < len(record) else None,
                    "id": record[id_at] if id_at is not None and id_at < len(record) else None,
                }
            )
    except csv.Error as error:
        raise InputError(f"input file {name} is not valid CSV (line {reader.line_num}): {error}") from error
    finally:
        csv.field_size_limit(previous_limit)
    return rows


def build_rows(parsed: Sequence[dict[str, Optional[str]]]) -> dict[str, list]:
    """Column lists for titles.parquet from the parsed rows of all files, in order."""
    columns: dict[str, list] = {name: [] for name in SCHEMA.names}
    for number, row in enumerate(parsed):
        title = row["title"]
        reason = title_problem(title)
        columns["row_number"].append(number)
        columns["id"].append(row["id"] if row["id"] not in (None, "") else str(number))
        columns["title"].append(title)
        columns["title_normalized"].append(normalize_title(title) if title is not None else None)
        columns["rejection_reason"].append(reason)
    return columns


def report(columns: dict[str, list], files: Sequence[str]) -> dict:
    reasons = count_by(r for r in columns["rejection_reason"] if r is not None)
    rejected = sum(reasons.values())
    return {
        "input_files": list(files),
        "input_rows": len(columns["row_number"]),
        "valid_rows": len(columns["row_number"]) - rejected,
        "rejected_rows": rejected,
        "rejections_by_reason": {**{reason: 0 for reason in REASONS}, **reasons},
    }


def csv_files(directory) -> list[Path]:
    root = Path(directory)
    if not root.is_dir():
        raise InputError(f"input directory {root} does not exist or is not a directory")
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() == ".csv"
        and not any(x.startswith((".", "_")) for x in p.relative_to(root).parts)
    )
    if not files:
        found = sorted(p.name for p in root.iterdir())[:10]
        raise InputError(f"no CSV files (*.csv) under {root}; found: {found or 'nothing'}")
    return files


def run(input_dir, output_dir) -> dict:
    files = csv_files(input_dir)
    parsed: list[dict[str, Optional[str]]] = []
    for path in files:
        parsed.extend(parse_titles(path.read_bytes(), str(path)))
    if not parsed:
        names = [str(p.relative_to(input_dir)) for p in files]
        raise InputError(f"no titles to classify under {input_dir}: {names} have a header but no data rows")
    columns = build_rows(parsed)
    output = Path(output_dir)
    write_parquet(pa.table(columns, schema=SCHEMA), output / "titles.parquet")
    summary = report(columns, [str(p.relative_to(input_dir)) for p in files])
    write_json(summary, output / "report.json")
    return summary


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="preprocess-predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", default="/opt/ml/processing/input", help="directory of CSV files")
    parser.add_argument("--output", default="/opt/ml/processing/output")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    summary = run(args.input, args.output)
    print(
        f"{summary['input_rows']} rows from {len(summary['input_files'])} file(s): "
        f"{summary['valid_rows']} valid, {summary['rejected_rows']} rejected {summary['rejections_by_reason']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
