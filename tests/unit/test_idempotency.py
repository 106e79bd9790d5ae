"""Re-running overwrites deterministically: the ETL's output folder, and predict's date partition.

A SageMaker retry of a step, or a second execution for the same date, must leave exactly what one
run leaves: the same rows, no files from the earlier run. (Already tested elsewhere: a same-date
predict re-run with the same input gives byte-identical files, test_predict.py::
test_one_row_per_input_row_in_order; each execution writes under its own executions/<id>/ prefix,
tests/infra/test_infra_definition.py.)
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "steps"))
import steps_fixtures as fx  # noqa: E402

from pipeline_steps import etl, predict, preprocess_predict  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "onet"
DATASETS = ("titles", "occupations", "quarantine")
GROUP = "jobclf-idempotency"


def run_etl(spark, input_dir: Path, output: Path) -> dict:
    shuffle_partitions = spark.conf.get("spark.sql.shuffle.partitions")
    try:
        return etl.run(spark, str(input_dir), str(output))
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", shuffle_partitions)


def snapshot(output: Path) -> dict:
    """Each dataset's data files and rows, and the report."""
    state = {"report": json.loads((output / "report.json").read_text())}
    for name in DATASETS:
        parts = sorted(p for p in (output / name).iterdir() if p.suffix == ".parquet")
        state[name] = {"parts": len(parts), "rows": [pq.read_table(str(p)).to_pylist() for p in parts]}
    return state


def test_etl_rerun_overwrites_with_the_same_result_and_leaves_nothing_of_an_earlier_run(spark, tmp_path) -> None:
    output = tmp_path / "executions" / "e-1" / "etl"
    run_etl(spark, FIXTURES, output)
    first = snapshot(output)
    run_etl(spark, FIXTURES, output)
    assert snapshot(output) == first  # same rows in the same order, one part per dataset
    assert all(first[name]["parts"] == 1 for name in DATASETS)

    # The same output again, from a smaller input: only the new run's rows remain.
    smaller = tmp_path / "smaller"
    smaller.mkdir()
    shutil.copy(FIXTURES / "Occupation Data.txt", smaller / "Occupation Data.txt")
    lines = (FIXTURES / "Alternate Titles.txt").read_bytes().split(b"\n")
    (smaller / "Alternate Titles.txt").write_bytes(b"\n".join(lines[:10]) + b"\n")
    report = run_etl(spark, smaller, output)
    after = snapshot(output)
    assert after["report"] == report and report["rows_in"] == 16 + 9
    assert all(after[name]["parts"] == 1 for name in DATASETS)
    rows_out = sum(len(rows) for rows in after["titles"]["rows"])
    rows_rejected = sum(len(rows) for rows in after["quarantine"]["rows"])
    assert (rows_out, rows_rejected) == (report["rows_out"], report["rows_rejected"])
    assert report["rows_in"] == rows_out + rows_rejected


@pytest.fixture
def registered_model(local_registry, tmp_path_factory) -> None:
    archive = fx.make_model_archive(tmp_path_factory.mktemp("idempotency-model"))["archive"]
    fx.register_local(*local_registry, GROUP, archive)


def preprocess(tmp_path: Path, name: str, csv: str) -> Path:
    (tmp_path / name).mkdir()
    (tmp_path / name / "titles.csv").write_text(csv, encoding="utf-8")
    preprocess_predict.run(tmp_path / name, tmp_path / f"{name}-pre")
    return tmp_path / f"{name}-pre"


def test_predict_rerun_for_a_date_replaces_that_partition_only(registered_model, tmp_path) -> None:
    output = tmp_path / "predictions"
    first = preprocess(tmp_path, "first", "id,title\n1,Registered Nurse\n2,Truck Driver\n3,Chef\n")
    second = preprocess(tmp_path, "second", "id,title\n9,Electrician\n")
    predict.run(first, output, GROUP, "2026-11-22")
    other_date = (output / "execution_date=2026-11-22" / "predictions.csv").read_bytes()
    predict.run(first, output, GROUP, "2026-11-23")
    summary = predict.run(second, output, GROUP, "2026-11-23")  # the same date, another input
    partition = output / "execution_date=2026-11-23"
    assert sorted(p.name for p in partition.iterdir()) == ["predictions.csv", "report.json"]
    lines = (partition / "predictions.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and lines[1].startswith("9,Electrician,")
    assert json.loads((partition / "report.json").read_text()) == summary
    assert (output / "execution_date=2026-11-22" / "predictions.csv").read_bytes() == other_date
    predict.run(second, output, GROUP, "2026-11-23")
    assert (partition / "predictions.csv").read_text(encoding="utf-8").splitlines() == lines
