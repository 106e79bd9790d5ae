"""What both EMR jobs (etl.py's O*NET ETL and titles_etl.py's titles to classify) share: their Spark
session and the Hadoop FileSystem they read and write through, so that the same code reads s3:// on EMR
and local paths in tests. (Their errors are errors.py's, which the processing steps raise too.)"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from pyspark.sql import SparkSession

from pipeline_steps.errors import InputError, error_line

READ_BUFFER_BYTES = 1 << 20
# Both jobs shuffle only small data (O*NET's 56,000 rows; the titles job's per-file counts, while its
# output partitions are set explicitly): with Spark's default of 200, task overhead costs more than the work.
SHUFFLE_PARTITIONS = 4


def spark_session(app_name: str) -> SparkSession:
    return (
        SparkSession.builder.appName(app_name)
        .config("spark.sql.shuffle.partitions", str(SHUFFLE_PARTITIONS))
        .getOrCreate()
    )


def run_job(program: str, app_name: str, job: Callable[[SparkSession], dict], summary: Callable[[dict], str]) -> int:
    """An EMR job's main: its session, the job, its summary line; an InputError is one line and exit code 1."""
    try:
        report = job(spark_session(app_name))
    except InputError as error:
        print(error_line(program, error), file=sys.stderr)
        return 1
    print(summary(report))
    return 0


class HadoopFiles:
    """The Hadoop FileSystem of the Spark session: EMRFS for s3:// on EMR, the local disk in tests."""

    def __init__(self, spark: SparkSession) -> None:
        self._jvm = spark._jvm
        self._configuration = spark.sparkContext._jsc.hadoopConfiguration()

    def _path_and_filesystem(self, uri: str) -> tuple[Any, Any]:  # py4j proxies of Path and FileSystem
        path = self._jvm.org.apache.hadoop.fs.Path(uri)
        return path, path.getFileSystem(self._configuration)

    def list_file_names(self, directory_uri: str) -> list[str]:
        path, filesystem = self._path_and_filesystem(directory_uri)
        if not filesystem.exists(path) or not filesystem.getFileStatus(path).isDirectory():
            raise InputError(f"{directory_uri}: not a directory")
        return [status.getPath().getName() for status in filesystem.listStatus(path) if status.isFile()]

    def read_bytes(self, uri: str) -> bytes:
        path, filesystem = self._path_and_filesystem(uri)
        stream = filesystem.open(path)
        try:
            buffer = self._jvm.java.io.ByteArrayOutputStream()
            self._jvm.org.apache.hadoop.io.IOUtils.copyBytes(stream, buffer, READ_BUFFER_BYTES, False)
            return bytes(buffer.toByteArray())
        finally:
            stream.close()

    def delete(self, uri: str) -> None:
        path, filesystem = self._path_and_filesystem(uri)
        filesystem.delete(path, False)

    def write_text(self, uri: str, text: str) -> None:
        path, filesystem = self._path_and_filesystem(uri)
        stream = filesystem.create(path, True)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()


def join_uri(directory_uri: str, name: str) -> str:
    return f"{directory_uri.rstrip('/')}/{name}"
