"""What both EMR jobs (etl.py's O*NET ETL and titles_etl.py's titles to classify) share: their errors and
the Hadoop FileSystem they read and write through, so that the same code reads s3:// on EMR and local
paths in tests."""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession

READ_BUFFER_BYTES = 1 << 20


class InputError(ValueError):
    """The input cannot be processed at all; the message names the directory, file, row or column."""


class AccountingError(RuntimeError):
    """Rows in differ from rows out plus rows rejected: a bug in the job, never an input problem."""


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
