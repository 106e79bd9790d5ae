"""One set of step errors for every step, printed one way, importable without Spark or pyarrow (issue 23, item 5)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline_steps import errors


def test_every_step_raises_the_same_input_error() -> None:
    from pipeline_steps import dataio, etl, preprocess_predict, spark_files, titles_etl

    for module in (dataio, etl, preprocess_predict, spark_files, titles_etl):
        assert module.InputError is errors.InputError
    assert issubclass(errors.InputError, errors.StepError)


def test_the_errors_module_loads_neither_spark_nor_pyarrow() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, pipeline_steps.errors; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "pyspark" not in loaded and "pyarrow" not in loaded


def test_an_error_is_one_line_naming_the_program() -> None:
    error = errors.InputError("input file a\nb.csv has no 'title' column")
    assert errors.error_line("titles-etl", error) == "titles-etl: error: input file a\\nb.csv has no 'title' column"


def test_each_emr_job_parses_its_own_options(capsys: pytest.CaptureFixture[str]) -> None:
    """etl_main.py only picks the job; an option of the other job is refused by the chosen one."""
    from pipeline_steps import etl_main

    with pytest.raises(SystemExit):
        etl_main.main(["--input", "s3://b/onet/", "--output", "s3://b/o/", "--execution-date", "2026-01-01"])
    assert "etl: error: unrecognized arguments: --execution-date 2026-01-01" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        etl_main.main(
            [
                "--dataset",
                "titles",
                "--input",
                "s3://b/t/",
                "--output",
                "s3://b/o/",
                "--max-titles-without-known-word",
                "0.1",
            ]
        )
    assert "titles-etl: error: unrecognized arguments: --max-titles-without-known-word" in capsys.readouterr().err
