"""The predict branch's EMR step (PySpark): the titles to classify -> prepared titles, quarantine, report.

    spark-submit --py-files steps.zip etl_main.py --dataset titles --input <prefix> --output <dir> [--execution-date D]

Reads every `*.csv` and `*.parquet` under --input (any number, any size; `_`/`.` entries skipped).
A file needs a `title` column; `id` is optional; other columns are ignored (names match
case-insensitively). CSV files are read as UTF-8 with quoted fields that may hold line breaks;
files with different headers are read in groups, one per header. Each row is checked and
normalized by `text.checked_title`, the function training uses, and a row without an id gets
`prepared.generated_id`. Writes prepared.py's layout, the same that PreprocessPredict writes:
    OUTPUT/titles/      every row (prepared.COLUMNS), range-partitioned in input order
                        (source_file, source_row): part-00000 holds the first rows
    OUTPUT/quarantine/  the rejected rows with their reason
    OUTPUT/report.json  input rows = valid rows + rejected rows, by reason

Spark-native: rows are numbered within their file from per-partition counts (no collect, no
single partition), and only counts and file names reach the driver.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, StringType, StructField, StructType

from pipeline_steps import prepared
from pipeline_steps.contract import execution_date
from pipeline_steps.errors import AccountingError, InputError, error_line
from pipeline_steps.spark_files import HadoopFiles, join_uri, spark_session
from pipeline_steps.text import TITLE_REASONS, checked_title

REASONS = TITLE_REASONS
INPUT_SUFFIXES = (".csv", ".parquet")
# Rows per output part: small enough that BatchPredict's instances share the parts evenly.
ROWS_PER_PART = 250000
REPORT_FILE = "report.json"
PROGRAM = "titles-etl"  # how the job names itself in its messages

_CHECKED = StructType(
    [
        StructField(prepared.ID, StringType(), False),
        StructField(prepared.ID_GENERATED, BooleanType(), False),
        StructField(prepared.TITLE_NORMALIZED, StringType(), True),
        StructField(prepared.REJECTION_REASON, StringType(), True),
    ]
)


def check_row(identifier, title, source_file, source_row) -> tuple:
    """_CHECKED's fields for one row: its id (given or generated) and checked_title's verdict."""
    given = identifier if identifier is None or isinstance(identifier, str) else str(identifier)
    row_id, generated = prepared.row_id(given, source_file, source_row)
    reason, normalized = checked_title(title)
    return row_id, generated, normalized, reason


def column_names(header: Sequence[str], name: str) -> tuple[str, str | None]:
    """(the title column, the id column or None) of a header, matched case-insensitively."""
    folded = [column.lstrip("\ufeff").strip().lower() for column in header]
    if "title" not in folded:
        raise InputError(f"input file {name} has no 'title' column; columns found: {list(header)}")
    return header[folded.index("title")], header[folded.index("id")] if "id" in folded else None


def source_file_column(root_path: str) -> Column:
    """The path of each row's input file relative to the input prefix `root_path` (a decoded URI path)."""
    # input_file_name() is a URL-encoded URI; a `+` stays literal in it, so keep url_decode off it.
    decoded = F.expr("url_decode(regexp_replace(input_file_name(), '\\\\+', '%2B'))")
    path = F.regexp_extract(decoded, r"^[A-Za-z][A-Za-z0-9+.-]*:(//[^/]*)?(/.*)$", 2)
    return path.substr(len(root_path.rstrip("/")) + 2, 1 << 30)


def number_rows(frame: DataFrame) -> DataFrame:
    """`frame` (read straight from its files) with source_row: 1-based position within source_file.

    Within a Spark partition, monotonically_increasing_id counts rows in read order, and a file's
    splits go to partitions in file order; so a row's number is the rows of its file in earlier
    partitions plus its place in its own partition. Only the per-(file, partition) counts are
    aggregated; the rows themselves never leave their partitions.
    """
    indexed = (
        frame.withColumn("_partition", F.spark_partition_id())
        .withColumn("_position", F.monotonically_increasing_id())
        .persist()  # one evaluation of the position columns for both uses below
    )
    chunks = indexed.groupBy(prepared.SOURCE_FILE, "_partition").agg(
        F.min("_position").alias("_chunk_start"), F.count(F.lit(1)).alias("_chunk_rows")
    )
    in_file = Window.partitionBy(prepared.SOURCE_FILE).orderBy("_chunk_start")
    chunks = chunks.withColumn("_chunk_offset", F.sum("_chunk_rows").over(in_file) - F.col("_chunk_rows"))
    numbered = indexed.join(F.broadcast(chunks), [prepared.SOURCE_FILE, "_partition"])
    row = F.col("_chunk_offset") + F.col("_position") - F.col("_chunk_start") + F.lit(1)
    return numbered.withColumn(prepared.SOURCE_ROW, row.cast("long")).drop(
        "_partition", "_position", "_chunk_start", "_chunk_rows", "_chunk_offset"
    )


def prepare(rows: DataFrame) -> DataFrame:
    """prepared.COLUMNS of rows holding source_file, source_row, id and title."""
    checked = F.udf(check_row, _CHECKED)(
        F.col(prepared.ID), F.col(prepared.TITLE), F.col(prepared.SOURCE_FILE), F.col(prepared.SOURCE_ROW)
    )
    return rows.withColumn("_checked", checked).select(
        prepared.SOURCE_FILE,
        prepared.SOURCE_ROW,
        F.col(f"_checked.{prepared.ID}").alias(prepared.ID),
        F.col(f"_checked.{prepared.ID_GENERATED}").alias(prepared.ID_GENERATED),
        prepared.TITLE,
        F.col(f"_checked.{prepared.TITLE_NORMALIZED}").alias(prepared.TITLE_NORMALIZED),
        F.col(f"_checked.{prepared.REJECTION_REASON}").alias(prepared.REJECTION_REASON),
    )


def build_report(files: Sequence[str], counts: dict[Any, int]) -> dict[str, Any]:
    """report.json's content from the row counts by reason (None: valid)."""
    rejected = {reason: counts.get(reason, 0) for reason in REASONS}
    unknown = sorted(str(r) for r in counts if r is not None and r not in rejected)
    if unknown:
        raise AccountingError(f"rows rejected for reasons this step does not know: {unknown}")
    rows_in = sum(counts.values())
    valid = counts.get(None, 0)
    if rows_in != valid + sum(rejected.values()):
        raise AccountingError(f"rows_in {rows_in} != valid {valid} + rejected {sum(rejected.values())}")
    return {
        "input_files": list(files),
        "input_rows": rows_in,
        "valid_rows": valid,
        "rejected_rows": rows_in - valid,
        "rejections_by_reason": rejected,
    }


def input_order() -> list[Column]:
    """prepared.ordered_files' order, then the row: file paths compared without their suffix."""
    stem = F.regexp_replace(F.col(prepared.SOURCE_FILE), r"\.[^./]*$", "")
    return [stem, F.col(prepared.SOURCE_FILE), F.col(prepared.SOURCE_ROW)]


def output_parts(rows: int) -> int:
    return max(1, -(-rows // ROWS_PER_PART))


# --- I/O shell ----------------------------------------------------------------------------------


class InputListing:
    """The input files under a prefix, through the Hadoop FileSystem (EMRFS on EMR, the disk in tests)."""

    def __init__(self, spark: SparkSession, input_uri: str) -> None:
        jvm = spark._jvm
        root = jvm.org.apache.hadoop.fs.Path(input_uri)
        self._filesystem = root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        self._jvm = jvm
        if not self._filesystem.exists(root) or not self._filesystem.getFileStatus(root).isDirectory():
            raise InputError(f"{input_uri}: not a directory (prefix)")
        self.root = self._filesystem.makeQualified(root)
        self.root_path = self.root.toUri().getPath()

    def files(self) -> list[tuple[str, str]]:
        """(full path, path relative to the root) of each input file, in input order."""
        listed = self._filesystem.listFiles(self.root, True)
        found = []
        prefix = self.root.toString().rstrip("/") + "/"
        while listed.hasNext():
            full = listed.next().getPath().toString()
            relative = full[len(prefix) :] if full.startswith(prefix) else full
            hidden = any(part.startswith(("_", ".")) for part in relative.split("/"))
            if not hidden and relative.lower().endswith(INPUT_SUFFIXES):
                found.append((full, relative))
        return sorted(found, key=lambda item: (item[1][: item[1].rfind(".")], item[1]))

    def header(self, full: str) -> list[str]:
        """The first line of a CSV file, parsed as CSV (one read, whatever the file's size)."""
        stream = self._filesystem.open(self._jvm.org.apache.hadoop.fs.Path(full))
        try:
            reader = self._jvm.java.io.BufferedReader(self._jvm.java.io.InputStreamReader(stream, "UTF-8"))
            line = reader.readLine() or ""
        finally:
            stream.close()
        return next(csv.reader([line.lstrip("\ufeff")]), [])


def read_csv_files(spark: SparkSession, listing: InputListing, files: Iterable[tuple[str, str]]) -> list[DataFrame]:
    """One DataFrame (id, title, source_file) per distinct header among the CSV files."""
    by_header: dict[tuple[str, ...], list[str]] = {}
    for full, relative in files:
        header = listing.header(full)
        if not any(cell.strip() for cell in header):
            raise InputError(f"input file {relative} is empty or has an empty first line (the header)")
        column_names(header, relative)
        by_header.setdefault(tuple(header), []).append(full)
    frames = []
    for header, paths in by_header.items():
        frame = (
            spark.read.option("header", "true")
            .option("multiLine", "true")  # a quoted title may hold a line break
            .option("enforceSchema", "false")  # every file's header is checked against the group's
            .option("mode", "PERMISSIVE")
            .option("encoding", "UTF-8")
            .schema(StructType([StructField(name, StringType(), True) for name in _unique(header)]))
            .csv(paths)
        )
        frames.append(_titles_and_ids(frame, list(_unique(header)), paths[0], listing.root_path))
    return frames


def _unique(header: Sequence[str]) -> list[str]:
    """Spark needs distinct column names; a repeated or empty name gets its position appended."""
    seen: set[str] = set()
    names = []
    for position, name in enumerate(header):
        clean = name.lstrip("\ufeff") or f"_c{position}"
        if clean in seen:
            clean = f"{clean}_{position}"
        seen.add(clean)
        names.append(clean)
    return names


def _titles_and_ids(frame: DataFrame, columns: Sequence[str], name: str, root_path: str) -> DataFrame:
    title, identifier = column_names(columns, name)
    return frame.select(
        (F.col(f"`{identifier}`").cast("string") if identifier else F.lit(None).cast("string")).alias(prepared.ID),
        F.col(f"`{title}`").cast("string").alias(prepared.TITLE),
        source_file_column(root_path).alias(prepared.SOURCE_FILE),
    )


def read_parquet_files(spark: SparkSession, listing: InputListing, files: Sequence[tuple[str, str]]) -> DataFrame:
    frame = spark.read.option("mergeSchema", "true").parquet(*[full for full, _ in files])
    return _titles_and_ids(frame, frame.columns, files[0][1], listing.root_path)


def run(spark: SparkSession, input_uri: str, output_uri: str) -> dict[str, Any]:
    """Reads, checks and writes one execution's titles; returns the report it wrote."""
    listing = InputListing(spark, input_uri)
    files = listing.files()
    if not files:
        raise InputError(f"{input_uri}: no CSV or Parquet files (*.csv, *.parquet)")
    csv_files = [f for f in files if f[1].lower().endswith(".csv")]
    parquet_files = [f for f in files if f[1].lower().endswith(".parquet")]
    frames = read_csv_files(spark, listing, csv_files) if csv_files else []
    if parquet_files:
        frames.append(read_parquet_files(spark, listing, parquet_files))
    rows = frames[0]
    for frame in frames[1:]:
        rows = rows.unionByName(frame)
    checked = prepare(number_rows(rows)).persist()
    report_uri = join_uri(output_uri, REPORT_FILE)
    hadoop = HadoopFiles(spark)
    # A report.json means the datasets beside it are complete: a re-run first removes the old one.
    hadoop.delete(report_uri)
    try:
        counts = {
            row[prepared.REJECTION_REASON]: row["count"]
            for row in checked.groupBy(prepared.REJECTION_REASON).count().collect()
        }
        report = build_report([relative for _, relative in files], counts)
        if report["input_rows"] == 0:
            raise InputError(f"{input_uri}: no titles to classify: the files have a header but no data rows")
        order = input_order()
        checked.repartitionByRange(output_parts(report["input_rows"]), *order).sortWithinPartitions(*order).write.mode(
            "overwrite"
        ).parquet(join_uri(output_uri, prepared.TITLES_DIR))
        rejected = checked.filter(F.col(prepared.REJECTION_REASON).isNotNull()).select(*prepared.QUARANTINE_COLUMNS)
        rejected.repartitionByRange(output_parts(report["rejected_rows"]), *order).sortWithinPartitions(
            *order
        ).write.mode("overwrite").parquet(join_uri(output_uri, prepared.QUARANTINE_DIR))
    finally:
        checked.unpersist()
    hadoop.write_text(report_uri, json.dumps(report, indent=2) + "\n")
    return report


def summary_line(report: dict[str, Any]) -> str:
    rejected = ", ".join(f"{reason}={n}" for reason, n in report["rejections_by_reason"].items() if n)
    return (
        f"titles: {report['input_rows']} rows in from {len(report['input_files'])} file(s), "
        f"{report['valid_rows']} valid, {report['rejected_rows']} rejected ({rejected or 'none'})"
    )


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.splitlines()[0])
    parser.add_argument(
        "--input", required=True, help="prefix (s3:// or local) of the CSV and Parquet files to classify"
    )
    parser.add_argument("--output", required=True, help="directory to write titles/, quarantine/ and report.json")
    parser.add_argument("--app-name", default="jobclf-titles-etl", help="Spark application name")
    parser.add_argument(
        "--execution-date", default="", help="the predictions' date partition, checked before Spark starts"
    )
    arguments = parser.parse_args(argv)
    try:
        execution_date(arguments.execution_date)
    except ValueError as error:
        parser.error(str(error))
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    spark = spark_session(arguments.app_name)
    try:
        report = run(spark, arguments.input, arguments.output)
    except InputError as error:
        print(error_line(PROGRAM, error), file=sys.stderr)
        return 1
    print(summary_line(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
