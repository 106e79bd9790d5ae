"""The predict branch's EMR step (PySpark): the titles to classify -> prepared titles, quarantine, report.

    spark-submit --py-files steps.zip etl_main.py --dataset titles --input <prefix> --output <dir> [--execution-date D]

Reads the input as titles_input.py's contract says (which files, the CSV dialect, the header, rows with
the wrong number of fields, Parquet column types), any number and size of files, and gives the same rows
as PreprocessPredict. Writes prepared.py's layout, the same that PreprocessPredict writes:
    OUTPUT/titles/      every row (prepared.COLUMNS), range-partitioned in input order
                        (source_file, source_row): part-00000 holds the first rows
    OUTPUT/quarantine/  the rejected rows with their reason
    OUTPUT/report.json  input rows = valid rows + rejected rows, by reason

Before any Spark job, the driver checks every file's name, and the first bytes (encoding, header) of
every CSV file and the schema of every Parquet file, in input order.

CSV files are not read by Spark's CSV reader: its parser (univocity) differs from RFC 4180 as Python's
csv module reads it (a backslash escapes a quote and can swallow the rows after it; `maxColumns` caps a
row at 20,480 fields; a stray quote is handled its own way), so the same file would give other rows
than PreprocessPredict. Spark's text source reads each file's bytes, line by line at LF (`lineSep`),
numbered in file order; the lines are brought together per file (a shuffle by file, sorted within its
partition, so memory stays bounded), and each file is parsed as a stream in the Python workers by the
same functions as PreprocessPredict (titles_input.csv_row_batches). A file the contract refuses yields one row
that carries its error, and the driver raises the first in input order. Parquet files are read by Spark,
grouped by their title and id columns; their rows are numbered within their file from per-partition
counts (no collect, no single partition). Only counts, errors and file names reach the driver.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from typing import Any, Optional

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipeline_steps import csv_dialect, prepared, titles_input
from pipeline_steps.contract import execution_date
from pipeline_steps.errors import AccountingError, InputError
from pipeline_steps.spark_files import HadoopFiles, join_uri, run_job
from pipeline_steps.titles_input import INTEGER, TEXT, RowBatch

REASONS = titles_input.REASONS
# Rows per output part: small enough that BatchPredict's instances share the parts evenly.
ROWS_PER_PART = 250000
REPORT_FILE = "report.json"
PROGRAM = "titles-etl"  # how the job names itself in its messages
ERROR = "_error"  # a refused file's InputError message, on the one row that carries it
# CSV partitions per core, at most one per file: a file is parsed in one task, as a stream.
FILE_PARTITIONS_PER_CORE = 4

_CHECKED = T.StructType(
    [
        T.StructField(prepared.ID, T.StringType(), False),
        T.StructField(prepared.ID_GENERATED, T.BooleanType(), False),
        T.StructField(prepared.TITLE_NORMALIZED, T.StringType(), True),
        T.StructField(prepared.REJECTION_REASON, T.StringType(), True),
    ]
)
PREPARED_SCHEMA = T.StructType(
    [
        T.StructField(prepared.SOURCE_FILE, T.StringType(), False),
        T.StructField(prepared.SOURCE_ROW, T.LongType(), False),
        T.StructField(prepared.ID, T.StringType(), False),
        T.StructField(prepared.ID_GENERATED, T.BooleanType(), False),
        T.StructField(prepared.TITLE, T.StringType(), True),
        T.StructField(prepared.TITLE_NORMALIZED, T.StringType(), True),
        T.StructField(prepared.REJECTION_REASON, T.StringType(), True),
        T.StructField(ERROR, T.StringType(), True),
    ]
)


def check_row(identifier, title, source_file, source_row) -> tuple:
    """_CHECKED's fields for one Parquet row: its id (given or generated) and checked_title's verdict."""
    checked = titles_input.prepared_columns(source_file, source_row, RowBatch.of([identifier], [title]))
    return tuple(column[0] for column in checked)


def prepared_csv_rows(lines: Iterable[tuple[str, Any]]) -> Iterator[tuple]:
    """PREPARED_SCHEMA rows of the CSV files whose (source_file, line bytes without the LF) come in file
    and line order: titles_input.csv_row_batches of each file, or one row carrying the file's InputError."""
    for source_file, file_lines in itertools.groupby(lines, key=itemgetter(0)):
        text = csv_dialect.text_lines(bytes(line) + b"\n" for _, line in file_lines)
        first_row = 1
        try:
            for batch in titles_input.csv_row_batches(text, source_file, prepared.BATCH_ROWS):
                ids, generated, normalized, reasons = titles_input.prepared_columns(source_file, first_row, batch)
                rows = range(first_row, first_row + len(ids))
                yield from zip(
                    itertools.repeat(source_file),
                    rows,
                    ids,
                    generated,
                    batch.titles,
                    normalized,
                    reasons,
                    itertools.repeat(None),
                )
                first_row += len(ids)
        except InputError as error:
            yield (source_file, 0, "", False, None, None, None, str(error))


def spark_kind(data_type: T.DataType) -> str:
    """titles_input's name for what a Parquet column read as this Spark type holds."""
    if isinstance(data_type, T.StringType):
        return TEXT
    if isinstance(data_type, (T.ByteType, T.ShortType, T.IntegerType, T.LongType)):
        return INTEGER
    for kinds, kind in _KINDS:
        if isinstance(data_type, kinds):
            return kind
    return data_type.simpleString()


_KINDS = (
    (T.BooleanType, titles_input.BOOLEAN),
    ((T.FloatType, T.DoubleType), titles_input.FLOATING_POINT),
    (T.BinaryType, titles_input.BINARY),
    ((T.DateType, T.TimestampType, T.TimestampNTZType, T.DayTimeIntervalType), titles_input.DATE_OR_TIME),
    (T.DecimalType, titles_input.DECIMAL),
    ((T.ArrayType, T.MapType), titles_input.LIST_OR_MAP),
    (T.StructType, titles_input.STRUCT),
    (T.NullType, titles_input.NULL),
)


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
    """prepared.COLUMNS of Parquet rows holding source_file, source_row, id and title."""
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
    """The files under the input prefix, through the Hadoop FileSystem (EMRFS on EMR, the disk in tests)."""

    def __init__(self, spark: SparkSession, input_uri: str) -> None:
        jvm = spark._jvm
        root = jvm.org.apache.hadoop.fs.Path(input_uri)
        self._filesystem = root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        self._jvm = jvm
        if not self._filesystem.exists(root) or not self._filesystem.getFileStatus(root).isDirectory():
            raise InputError(f"{input_uri}: not a directory (prefix)")
        self.root = self._filesystem.makeQualified(root)
        self.root_path = self.root.toUri().getPath()

    def files(self) -> list[tuple[str, str, int]]:
        """(full path, path relative to the root, size in bytes) of every file under the root, in input order."""
        listed = self._filesystem.listFiles(self.root, True)
        found = []
        prefix = self.root.toString().rstrip("/") + "/"
        while listed.hasNext():
            status = listed.next()
            full = status.getPath().toString()
            found.append((full, full[len(prefix) :] if full.startswith(prefix) else full, status.getLen()))
        return sorted(found, key=lambda item: (prepared.stem(item[1]), item[1]))

    def first_bytes(self, full: str, size: int) -> bytes:
        stream = self._filesystem.open(self._jvm.org.apache.hadoop.fs.Path(full))
        try:
            return bytes(stream.readNBytes(size))
        finally:
            stream.close()


def checked_inputs(spark: SparkSession, listing: InputListing) -> list[tuple[str, str, Optional[T.StructType]]]:
    """(full path, relative path, the Parquet file's title and id fields or None for CSV) of each input file.

    InputError, before any Spark job reads rows, for the first file in input order that the contract
    refuses by its name, its first bytes (CSV) or its column types (Parquet).
    """
    listed = listing.files()
    inputs = [(full, relative, size) for full, relative, size in listed if titles_input.is_input_file(relative)]
    if not inputs:
        raise titles_input.no_input_files([relative for _, relative, _ in listed])
    titles_input.check_file_names(relative for _, relative, _ in inputs)
    checked = []
    for full, relative, size in inputs:
        if relative.lower().endswith(".csv"):
            start = titles_input.START_BYTES
            titles_input.check_csv_start(listing.first_bytes(full, start), relative, size <= start)
            checked.append((full, relative, None))
            continue
        try:
            fields = parquet_fields(spark, full)
        except Exception as error:  # Spark's AnalysisException, or the Parquet reader's from the JVM (Py4JJavaError)
            java = getattr(error, "java_exception", None)
            detail = (str(java.getMessage()) if java is not None else str(error)).strip() or type(error).__name__
            raise InputError(
                f"input file {relative} is not a readable Parquet file: {detail.splitlines()[0]}"
            ) from error
        title_at, id_at = titles_input.check_parquet_columns(
            relative, [(field.name, spark_kind(field.dataType)) for field in fields]
        )
        columns = [fields[title_at]] + ([fields[id_at]] if id_at is not None else [])
        checked.append((full, relative, T.StructType(columns)))
    return checked


def parquet_fields(spark: SparkSession, full: str) -> list[T.StructField]:
    """A Parquet file's columns as written: read case-sensitively, so that `title` and `TITLE` are two
    columns for titles_input's header rule to refuse, not an error of Spark's own."""
    previous = spark.conf.get("spark.sql.caseSensitive")
    spark.conf.set("spark.sql.caseSensitive", "true")
    try:
        return spark.read.parquet(full).schema.fields
    finally:
        spark.conf.set("spark.sql.caseSensitive", previous)


def read_csv_files(spark: SparkSession, listing: InputListing, paths: Sequence[str]) -> DataFrame:
    """PREPARED_SCHEMA rows of the CSV files (see the module's docstring)."""
    lines = (
        spark.read.option("lineSep", "\n")
        .text(list(paths))
        .select(
            source_file_column(listing.root_path).alias(prepared.SOURCE_FILE),
            F.col("value").cast("binary").alias("_line"),
            F.monotonically_increasing_id().alias("_position"),  # file order within each file (number_rows says why)
        )
    )
    # Each file's lines in one partition, in order; a partition may hold several files, one after the other.
    partitions = min(len(paths), FILE_PARTITIONS_PER_CORE * spark.sparkContext.defaultParallelism)
    by_file = lines.repartition(partitions, prepared.SOURCE_FILE).sortWithinPartitions(
        prepared.SOURCE_FILE, "_position"
    )
    parsed = by_file.rdd.mapPartitions(lambda rows: prepared_csv_rows((row[0], row[1]) for row in rows))
    return spark.createDataFrame(parsed, PREPARED_SCHEMA)


def read_parquet_files(
    spark: SparkSession, listing: InputListing, files: Sequence[tuple[str, T.StructType]]
) -> DataFrame:
    """prepared.COLUMNS and ERROR (null) of the Parquet files' rows, each file read with its checked columns."""
    groups: dict[str, tuple[T.StructType, list[str]]] = {}
    for full, columns in files:
        groups.setdefault(columns.json(), (columns, []))[1].append(full)
    frames = []
    for columns, paths in groups.values():
        frame = spark.read.schema(columns).parquet(*paths)
        title, identifier = columns.fields[0].name, columns.fields[1].name if len(columns.fields) > 1 else None
        frames.append(
            frame.select(
                (F.col(f"`{identifier}`").cast("string") if identifier else F.lit(None).cast("string")).alias(
                    prepared.ID
                ),
                F.col(f"`{title}`").alias(prepared.TITLE),
                source_file_column(listing.root_path).alias(prepared.SOURCE_FILE),
            )
        )
    rows = frames[0]
    for frame in frames[1:]:
        rows = rows.unionByName(frame)
    return prepare(number_rows(rows)).withColumn(ERROR, F.lit(None).cast("string"))


def first_error(errors: Sequence[tuple[str, str]], order: Sequence[str]) -> Optional[InputError]:
    """The InputError of the refused file that comes first in input order, None when none was refused."""
    if not errors:
        return None
    position = {relative: number for number, relative in enumerate(order)}
    return InputError(min(errors, key=lambda error: position.get(error[0], len(order)))[1])


def run(spark: SparkSession, input_uri: str, output_uri: str) -> dict[str, Any]:
    """Reads, checks and writes one execution's titles; returns the report it wrote."""
    listing = InputListing(spark, input_uri)
    inputs = checked_inputs(spark, listing)
    order = [relative for _, relative, _ in inputs]
    frames = []
    csv_paths = [full for full, _, columns in inputs if columns is None]
    if csv_paths:
        frames.append(read_csv_files(spark, listing, csv_paths))
    parquet_files = [(full, columns) for full, _, columns in inputs if columns is not None]
    if parquet_files:
        frames.append(read_parquet_files(spark, listing, parquet_files))
    rows = frames[0]
    for frame in frames[1:]:
        rows = rows.unionByName(frame)
    checked = rows.persist()
    report_uri = join_uri(output_uri, REPORT_FILE)
    hadoop = HadoopFiles(spark)
    # A report.json means the datasets beside it are complete: a re-run first removes the old one.
    hadoop.delete(report_uri)
    try:
        errors = [
            (row[0], row[1])
            for row in checked.filter(F.col(ERROR).isNotNull()).select(prepared.SOURCE_FILE, ERROR).collect()
        ]
        refused = first_error(errors, order)
        if refused is not None:
            raise refused
        counts = {
            row[prepared.REJECTION_REASON]: row["count"]
            for row in checked.groupBy(prepared.REJECTION_REASON).count().collect()
        }
        report = build_report(order, counts)
        if report["input_rows"] == 0:
            raise titles_input.no_data_rows(order)
        rows_out = checked.drop(ERROR)
        by_input_order = input_order()
        rows_out.repartitionByRange(output_parts(report["input_rows"]), *by_input_order).sortWithinPartitions(
            *by_input_order
        ).write.mode("overwrite").parquet(join_uri(output_uri, prepared.TITLES_DIR))
        rejected = rows_out.filter(F.col(prepared.REJECTION_REASON).isNotNull()).select(*prepared.QUARANTINE_COLUMNS)
        rejected.repartitionByRange(output_parts(report["rejected_rows"]), *by_input_order).sortWithinPartitions(
            *by_input_order
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
    return run_job(
        PROGRAM, arguments.app_name, lambda spark: run(spark, arguments.input, arguments.output), summary_line
    )


if __name__ == "__main__":
    sys.exit(main())
