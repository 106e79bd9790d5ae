"""ETL step (PySpark on EMR): O*NET occupations and alternate titles -> validated, de-duplicated job titles.

    spark-submit --py-files steps.zip etl_main.py [--dataset onet] --input <dir with the O*NET tables> --output <dir>

The train branch's EMR job (etl_main.py starts it; the predict branch's is titles_etl.py).

`--input` holds `Occupation Data` and `Alternate Titles`, each as .xlsx or .txt (tab-delimited UTF-8),
the two formats O*NET publishes. Every data row of both files becomes one candidate title and ends in
exactly one of `titles/` (accepted) or `quarantine/` (rejected, with a reason); `occupations/` keeps the
accepted occupations with their descriptions, and `report.json` holds the counts and the data-quality
shares of the accepted titles (data_quality.py). A share over its maximum (`--max-titles-without-known-word`,
`--max-titles-in-several-major-groups`) fails the step before anything is written.

The files are parsed on the driver (a workbook cannot be split) and read and written through the Hadoop
FileSystem Spark uses, so the same code reads s3:// on EMR and local paths in tests.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import openpyxl
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, StringType, StructField, StructType

from pipeline_steps import data_quality
from pipeline_steps.contract import WRONG_FIELD_COUNT
from pipeline_steps.errors import AccountingError, InputError
from pipeline_steps.etl_tables import (
    ALTERNATE_TITLE_SOURCE,
    OCCUPATION_COLUMNS,
    OCCUPATION_TITLE_SOURCE,
    OCCUPATIONS_DATASET,
    TITLE_COLUMNS,
    TITLES_DATASET,
)
from pipeline_steps.soc import MAJOR_GROUPS, MALFORMED_CODE, UNKNOWN_MAJOR_GROUP, code_problem, major_group
from pipeline_steps.spark_files import HadoopFiles, join_uri, run_job
from pipeline_steps.text import TITLE_REASONS, normalize_title, title_problem

OCCUPATION_TABLE = "Occupation Data"
ALTERNATE_TABLE = "Alternate Titles"
FILE_FORMATS = ("xlsx", "txt")

CODE_COLUMN = "O*NET-SOC Code"
OCCUPATION_TITLE_COLUMN = "Title"
DESCRIPTION_COLUMN = "Description"
ALTERNATE_TITLE_COLUMN = "Alternate Title"
SHORT_TITLE_COLUMN = "Short Title"
# Which sources list an alternate title, as comma-separated two-digit codes ("02,04,06"): O*NET's data
# dictionary names ten, from 01 Associations to 10 Employer Job Postings
# (https://www.onetcenter.org/dictionary/20.3/text/alternate_titles.html). Their number is the title's
# evidence for its occupation (train.py weighs rows by it; known_titles.py answers from it).
SOURCES_COLUMN = "Source(s)"
# Only the columns the step uses: the 27.0 text release has no `Title` in Alternate Titles.
REQUIRED_COLUMNS = {
    OCCUPATION_TABLE: (CODE_COLUMN, OCCUPATION_TITLE_COLUMN, DESCRIPTION_COLUMN),
    ALTERNATE_TABLE: (CODE_COLUMN, ALTERNATE_TITLE_COLUMN, SHORT_TITLE_COLUMN, SOURCES_COLUMN),
}
NO_SHORT_TITLE = "n/a"
REPORT_FILE = "report.json"
PROGRAM = "etl"  # how the job names itself in its messages
# The first bytes of a zip archive, which an .xlsx workbook is.
ZIP_MAGIC = b"PK\x03\x04"

# Rejection reasons of this step, besides contract.py's WRONG_FIELD_COUNT, the code reasons of soc.py and
# the title reasons of text.py.
DUPLICATE_OCCUPATION_CODE = "duplicate_occupation_code"
UNKNOWN_OCCUPATION = "unknown_occupation"
DUPLICATE_TITLE = "duplicate_title"
# In the order they are checked: a row is quarantined with the first that applies.
REJECTION_REASONS = (
    WRONG_FIELD_COUNT,
    MALFORMED_CODE,
    UNKNOWN_MAJOR_GROUP,
    *TITLE_REASONS,
    DUPLICATE_OCCUPATION_CODE,
    UNKNOWN_OCCUPATION,
    DUPLICATE_TITLE,
)


# --- Parsing: file bytes -> rows, on the driver -------------------------------------------------


@dataclass(frozen=True)
class SourceRow:
    """One data row of an input file, its cells keyed by column name."""

    number: int  # 1-based line or spreadsheet row; the header is row 1
    values: dict[str, str | None]
    fits_header: bool  # False when the row has fields the header does not (or, in .txt, too few)


@dataclass(frozen=True)
class SourceTable:
    """The data rows of one input file, blank rows left out."""

    file_name: str
    file_format: str
    rows: tuple[SourceRow, ...]
    blank_rows: int


def table_file_name(table: str, file_format: str) -> str:
    return f"{table}.{file_format}"


def locate_tables(directory_uri: str, file_names: Iterable[str]) -> dict[str, str]:
    """The file name of each table in the directory listing; InputError unless exactly one format is there."""
    present = set(file_names)
    located = {}
    for table in (OCCUPATION_TABLE, ALTERNATE_TABLE):
        candidates = [table_file_name(table, fmt) for fmt in FILE_FORMATS]
        found = [name for name in candidates if name in present]
        if not found:
            raise InputError(
                f"{directory_uri}: no {' or '.join(repr(name) for name in candidates)} "
                f"(files there: {sorted(present) or 'none'})"
            )
        if len(found) > 1:
            raise InputError(f"{directory_uri}: both {' and '.join(repr(name) for name in found)}; keep only one")
        located[table] = found[0]
    return located


def parse_table(table: str, file_name: str, data: bytes) -> SourceTable:
    """The data rows of one O*NET file; InputError names the file when it is unreadable, empty or lacks columns."""
    file_format = file_name.rsplit(".", 1)[-1]
    if file_format == "txt" and data.startswith(ZIP_MAGIC):
        raise InputError(
            f"{file_name}: a zip archive (an .xlsx workbook?), not tab-delimited text; name a workbook .xlsx"
        )
    lines = _xlsx_lines(file_name, data) if file_format == "xlsx" else _txt_lines(data)
    if not lines:
        raise InputError(f"{file_name}: empty file, no header row")
    header = [(cell or "").strip() for cell in lines[0]]
    _check_columns(file_name, header, REQUIRED_COLUMNS[table])

    rows = []
    blank_rows = 0
    for number, cells in enumerate(lines[1:], start=2):
        if all(cell is None or not cell.strip() for cell in cells):
            blank_rows += 1
            continue
        if file_format == "txt":
            fits_header = len(cells) == len(header)
        else:  # a workbook leaves trailing empty cells out, so only extra non-empty cells count
            fits_header = all(cell is None or not cell.strip() for cell in cells[len(header) :])
        rows.append(SourceRow(number, dict(zip(header, cells)), fits_header))
    if not rows:
        raise InputError(f"{file_name}: no data rows below the header")
    return SourceTable(file_name, file_format, tuple(rows), blank_rows)


def _txt_lines(data: bytes) -> list[list[str | None]]:
    # A byte that is not UTF-8 becomes U+FFFD, which title_problem() rejects as one row instead of failing the file.
    text = data.decode("utf-8", errors="replace").lstrip("\ufeff")
    # Not splitlines(): it also splits on form feeds and other control characters inside a field.
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r").split("\t") for line in lines]


def _xlsx_lines(file_name: str, data: bytes) -> list[list[str | None]]:
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheet = workbook.worksheets[0]
            # The stored dimension can be stale; trusting it would silently cut rows off.
            sheet.reset_dimensions()
            return [[_cell_text(value) for value in row] for row in sheet.iter_rows(values_only=True)]
        finally:
            workbook.close()
    # A damaged workbook surfaces as zip, XML, key, index or value errors alike, from opening or from
    # reading rows lazily; each one means the file is not a readable workbook.
    except Exception as error:
        raise InputError(f"{file_name}: not a readable .xlsx workbook ({type(error).__name__}: {error})") from error


def _cell_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _check_columns(file_name: str, header: list[str], required: Sequence[str]) -> None:
    missing = [column for column in required if column not in header]
    if missing:
        raise InputError(f"{file_name}: missing column(s) {missing}; the header has {_shown(header)}")
    repeated = [column for column in required if header.count(column) > 1]
    if repeated:
        raise InputError(f"{file_name}: column(s) {repeated} appear more than once in the header {_shown(header)}")


def _shown(header: list[str]) -> str:
    """A header as a message shows it: at most 12 cells of at most 80 characters, control characters escaped."""
    cells = [ascii(cell[:80])[1:-1] if not cell.isprintable() else cell[:80] for cell in header[:12]]
    return str(cells) + (f" and {len(header) - 12} more" if len(header) > 12 else "")


# --- Per-row checks: SourceRow -> Candidate, pure -----------------------------------------------


class Candidate(NamedTuple):
    """One input row as a candidate title, checked on its own; field order is CANDIDATE_SCHEMA's."""

    source: str
    source_file: str
    source_row: int
    raw_onet_soc_code: str | None
    raw_title: str | None
    onet_soc_code: str | None
    title: str | None
    title_normalized: str | None
    short_title: str | None
    sources: str | None  # the distinct source codes of an alternate title, sorted, comma-separated
    description: str | None
    description_normalized: str | None  # for the data-quality check's vocabulary
    major_group: str | None
    row_problem: str | None


_REQUIRED_CANDIDATE_FIELDS = ("source", "source_file", "source_row")
CANDIDATE_SCHEMA = StructType(
    [
        StructField(
            name,
            IntegerType() if name == "source_row" else StringType(),
            nullable=name not in _REQUIRED_CANDIDATE_FIELDS,
        )
        for name in Candidate._fields
    ]
)


def row_problem(code: str | None, title: str | None, fits_header: bool) -> str | None:
    """Why a row is unusable on its own (before it is compared with other rows), or None."""
    if not fits_header:
        return WRONG_FIELD_COUNT
    return code_problem(code) or title_problem(title)


def to_candidates(table: SourceTable, source: str) -> list[Candidate]:
    """The table's rows as candidates: occupation rows titled by `Title`, alternate rows by `Alternate Title`."""
    is_occupation = source == OCCUPATION_TITLE_SOURCE
    title_column = OCCUPATION_TITLE_COLUMN if is_occupation else ALTERNATE_TITLE_COLUMN
    candidates = []
    for row in table.rows:
        raw_code = row.values.get(CODE_COLUMN)
        raw_title = row.values.get(title_column)
        code = _stripped(raw_code)
        title = _stripped(raw_title)
        description = _stripped(row.values.get(DESCRIPTION_COLUMN)) if is_occupation else None
        problem = row_problem(code, title, row.fits_header)
        usable = problem is None
        candidates.append(
            Candidate(
                source=source,
                source_file=table.file_name,
                source_row=row.number,
                raw_onet_soc_code=raw_code,
                raw_title=raw_title,
                onet_soc_code=code,
                title=title,
                title_normalized=normalize_title(title) if usable and title else None,
                short_title=None if is_occupation else _short_title(row.values.get(SHORT_TITLE_COLUMN)),
                sources=None if is_occupation else _sources(row.values.get(SOURCES_COLUMN)),
                description=description,
                description_normalized=normalize_title(description) if description else None,
                major_group=major_group(code) if usable and code else None,
                row_problem=problem,
            )
        )
    return candidates


def _stripped(value: str | None) -> str | None:
    return None if value is None else value.strip()


def _short_title(value: str | None) -> str | None:
    short = _stripped(value)
    return None if not short or short.casefold() == NO_SHORT_TITLE else short


def _sources(value: str | None) -> str | None:
    """The distinct source codes of a `Source(s)` cell ("04,06"; a workbook may hold 8 for "08"), sorted;
    None when it names none. What is not a number is not a source."""
    codes = {f"{int(code):02d}" for code in (value or "").split(",") if code.strip().isdigit()}
    return ",".join(sorted(codes)) or None


# --- Checks across rows: DataFrame transforms ---------------------------------------------------


def candidates_frame(spark: SparkSession, occupations: SourceTable, alternates: SourceTable) -> DataFrame:
    rows = to_candidates(occupations, OCCUPATION_TITLE_SOURCE) + to_candidates(alternates, ALTERNATE_TITLE_SOURCE)
    return spark.createDataFrame(rows, CANDIDATE_SCHEMA)


def validate(candidates: DataFrame) -> DataFrame:
    """One row per candidate with `reason` (null when accepted) and `occupation_title` added.

    After the per-row problems: an occupation row repeating an earlier occupation's code, an alternate
    title whose code is not an accepted occupation, and a (normalized title, code) already accepted.
    """
    occupations = _reject_repeated_occupation_codes(
        candidates.filter(F.col("source") == OCCUPATION_TITLE_SOURCE).withColumnRenamed("row_problem", "reason")
    ).withColumn("occupation_title", F.col("title"))
    known_occupations = occupations.filter(F.col("reason").isNull()).select("onet_soc_code", "occupation_title")
    # known_occupations has one row per code, so the join keeps one row per alternate title.
    alternates = (
        candidates.filter(F.col("source") == ALTERNATE_TITLE_SOURCE)
        .withColumnRenamed("row_problem", "reason")
        .join(known_occupations, on="onet_soc_code", how="left")
        .withColumn("reason", _first_reason(F.col("occupation_title").isNull(), UNKNOWN_OCCUPATION))
    )
    return _with_source_counts(_reject_duplicate_titles(occupations.unionByName(alternates)))


def _first_reason(rejected: Column, reason: str) -> Column:
    """`reason` for rows not yet rejected that meet `rejected`; rows already rejected keep their reason."""
    return F.when(F.col("reason").isNull() & rejected, F.lit(reason)).otherwise(F.col("reason"))


def _reject_repeated_occupation_codes(occupations: DataFrame) -> DataFrame:
    # Partitioning by reason too: a row rejected for its title must not take the code from a valid later row.
    by_code = Window.partitionBy("onet_soc_code", "reason").orderBy("source_row")
    return occupations.withColumn("reason", _first_reason(F.row_number().over(by_code) > 1, DUPLICATE_OCCUPATION_CODE))


def _reject_duplicate_titles(candidates: DataFrame) -> DataFrame:
    # Only accepted rows compete (reason is in the partition), so a duplicate is never dropped in
    # favour of a row that is itself rejected. Occupation titles come first, then alternates in file order.
    by_title_and_code = Window.partitionBy("title_normalized", "onet_soc_code", "reason").orderBy(
        _input_order(), "source_row"
    )
    return candidates.withColumn("reason", _first_reason(F.row_number().over(by_title_and_code) > 1, DUPLICATE_TITLE))


def _with_source_counts(validated: DataFrame) -> DataFrame:
    """`source_count` of each accepted row: the distinct sources of every row that lists its (normalized
    title, code), its rejected duplicates included ("Chief Executive Officer (CEO)" from 02,04 and
    "chief executive officer (ceo)" from 08 are one title from three sources); null for rejected rows.
    An occupation's own title has none unless Alternate Titles lists it too."""
    same_title = Window.partitionBy("title_normalized", "onet_soc_code")
    listed = F.col("reason").isNull() | (F.col("reason") == DUPLICATE_TITLE)
    sources = F.collect_list(F.when(listed, F.col("sources"))).over(same_title)
    count = F.size(F.array_distinct(F.flatten(F.transform(sources, lambda codes: F.split(codes, ",")))))
    return validated.withColumn("source_count", F.when(F.col("reason").isNull(), count).cast(IntegerType()))


def _input_order() -> Column:
    return F.when(F.col("source") == OCCUPATION_TITLE_SOURCE, 0).otherwise(1)


def accepted_titles(validated: DataFrame) -> DataFrame:
    return _single_file_in_input_order(validated.filter(F.col("reason").isNull())).select(*TITLE_COLUMNS)


def accepted_occupations(validated: DataFrame) -> DataFrame:
    occupations = validated.filter(F.col("reason").isNull() & (F.col("source") == OCCUPATION_TITLE_SOURCE))
    return _single_file_in_input_order(occupations).select(*OCCUPATION_COLUMNS)


def quarantined_rows(validated: DataFrame) -> DataFrame:
    rejected = _single_file_in_input_order(validated.filter(F.col("reason").isNotNull()))
    return rejected.select(
        "source_file",
        "source_row",
        "reason",
        F.col("raw_onet_soc_code").alias("onet_soc_code"),
        F.col("raw_title").alias("title"),
    )


def _single_file_in_input_order(frame: DataFrame) -> DataFrame:
    # One partition sorted in input order: byte-identical reruns, and the data is a few MB at most.
    return frame.repartition(1).sortWithinPartitions(_input_order(), "source_row")


# --- Accounting ---------------------------------------------------------------------------------


def count_rows(validated: DataFrame) -> dict[tuple[str | None, str | None], int]:
    """Row counts by (reason, major_group); reason None is the accepted rows."""
    counts = validated.groupBy("reason", "major_group").count().collect()
    return {(row["reason"], row["major_group"]): row["count"] for row in counts}


def build_report(
    input_uri: str,
    tables: Sequence[SourceTable],
    counts: dict[tuple[str | None, str | None], int],
) -> dict[str, Any]:
    """report.json's content; AccountingError unless every row read is either out or rejected."""
    rows_in = sum(len(table.rows) for table in tables)
    rejected_by_reason = dict.fromkeys(REJECTION_REASONS, 0)
    out_by_major_group = dict.fromkeys(sorted(MAJOR_GROUPS), 0)
    for (reason, group), count in counts.items():
        if reason is None:
            out_by_major_group[group] = out_by_major_group.get(group, 0) + count
        else:
            rejected_by_reason[reason] = rejected_by_reason.get(reason, 0) + count
    rows_out = sum(out_by_major_group.values())
    rows_rejected = sum(rejected_by_reason.values())
    if rows_in != rows_out + rows_rejected:
        raise AccountingError(f"rows_in {rows_in} != rows_out {rows_out} + rows_rejected {rows_rejected}")
    return {
        "input": input_uri,
        "files": {
            table.file_name: {"format": table.file_format, "rows_in": len(table.rows), "blank_rows": table.blank_rows}
            for table in tables
        },
        "rows_in": rows_in,
        "rows_out": rows_out,
        "rows_rejected": rows_rejected,
        "rejected_by_reason": rejected_by_reason,
        "rows_out_by_major_group": out_by_major_group,
    }


def checked_data_quality(input_uri: str, validated: DataFrame, max_shares: dict[str, float]) -> dict[str, Any]:
    """report.json's data_quality section; InputError naming every check whose share is over its maximum."""
    checks = data_quality.check_quality(validated.filter(F.col("reason").isNull()), max_shares)
    failed = [check.failure_message() for check in checks if check.failed]
    if failed:
        raise InputError(f"{input_uri}: {'; '.join(failed)}")
    return data_quality.report_section(checks)


def summary_line(report: dict[str, Any]) -> str:
    rejected = ", ".join(f"{reason}={n}" for reason, n in report["rejected_by_reason"].items() if n)
    return (
        f"etl: {report['rows_in']} rows in, {report['rows_out']} titles out, "
        f"{report['rows_rejected']} rejected ({rejected or 'none'}) from {report['input']}"
    )


# --- I/O shell ----------------------------------------------------------------------------------


def _read_table(files: HadoopFiles, directory_uri: str, table: str, file_name: str) -> SourceTable:
    try:
        return parse_table(table, file_name, files.read_bytes(join_uri(directory_uri, file_name)))
    except InputError as error:
        raise InputError(f"{directory_uri}: {error}") from error


def run(
    spark: SparkSession, input_uri: str, output_uri: str, max_shares: dict[str, float] | None = None
) -> dict[str, Any]:
    """Reads, validates and writes one execution's ETL output; returns the report it wrote.

    `max_shares` caps the data-quality shares (data_quality.DEFAULT_MAX_SHARES when None): over a
    maximum, InputError and nothing is written.
    """
    files = HadoopFiles(spark)
    located = locate_tables(input_uri, files.list_file_names(input_uri))
    occupations, alternates = (
        _read_table(files, input_uri, table, located[table]) for table in (OCCUPATION_TABLE, ALTERNATE_TABLE)
    )
    # Both cached: validate() scans the candidates three times, and every output scans `validated`;
    # recomputing the driver-built rows means pickling them through Python again each time.
    candidates = candidates_frame(spark, occupations, alternates).cache()
    validated = validate(candidates).cache()
    report_uri = join_uri(output_uri, REPORT_FILE)
    # A report.json means the datasets beside it are complete: a re-run first removes the old one.
    files.delete(report_uri)
    try:
        report = build_report(input_uri, (occupations, alternates), count_rows(validated))
        report["data_quality"] = checked_data_quality(
            input_uri, validated, max_shares or data_quality.DEFAULT_MAX_SHARES
        )
        for name, frame in (
            (TITLES_DATASET, accepted_titles(validated)),
            (OCCUPATIONS_DATASET, accepted_occupations(validated)),
            ("quarantine", quarantined_rows(validated)),
        ):
            frame.write.mode("overwrite").parquet(join_uri(output_uri, name))
    finally:
        validated.unpersist()
        candidates.unpersist()
    files.write_text(report_uri, json.dumps(report, indent=2) + "\n")
    return report


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="directory (s3:// or local) with the two O*NET tables")
    parser.add_argument(
        "--output", required=True, help="directory to write titles/, occupations/, quarantine/ and report.json"
    )
    parser.add_argument("--app-name", default="jobclf-etl", help="Spark application name")
    for check, default in data_quality.DEFAULT_MAX_SHARES.items():
        parser.add_argument(
            _max_share_option(check),
            type=_share,
            default=default,
            help=f"fail when the share of {check.replace('_', ' ')} is over this (0 to 1; default {default})",
        )
    return parser.parse_args(argv)


def _max_share_option(check: str) -> str:
    return "--max-" + check.replace("_", "-")


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share from 0 to 1")
    return value


def max_shares(arguments: argparse.Namespace) -> dict[str, float]:
    return {check: getattr(arguments, "max_" + check) for check in data_quality.DEFAULT_MAX_SHARES}


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    job = functools.partial(
        run, input_uri=arguments.input, output_uri=arguments.output, max_shares=max_shares(arguments)
    )
    return run_job(PROGRAM, arguments.app_name, job, summary_line)


if __name__ == "__main__":
    sys.exit(main())
