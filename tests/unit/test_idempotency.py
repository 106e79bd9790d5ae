"""Re-running overwrites deterministically: the ETL's output folder; predict keys its output by execution.

A SageMaker retry of a step must leave exactly what one run leaves: the same rows, no files from
the earlier run. Two executions on the same date must each keep their own predictions. (Already
tested elsewhere: a retried predict step gives byte-identical files, test_predict.py::
test_one_row_per_input_row_in_order; each execution writes under its own executions/<id>/ prefix,
tests/infra/test_infra_definition.py.)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import steps_fixtures as fx

from pipeline_steps import data_quality, etl, predict, preprocess_predict

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "onet"
DATASETS = ("titles", "occupations", "quarantine")
GROUP = "jobclf-idempotency"


def run_etl(spark, input_dir: Path, output: Path, max_shares: dict[str, float] | None = None) -> dict:
    shuffle_partitions = spark.conf.get("spark.sql.shuffle.partitions")
    try:
        return etl.run(spark, str(input_dir), str(output), max_shares)
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
    # Nine alternate rows are too few for the data-quality shares to mean anything: their maximums are lifted.
    report = run_etl(spark, smaller, output, dict.fromkeys(data_quality.DEFAULT_MAX_SHARES, 1.0))
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
    return tmp_path / f"{name}-pre" / "titles"


def test_two_executions_on_one_date_keep_their_own_predictions(registered_model, tmp_path) -> None:
    # Before, both wrote execution_date=<date>/predictions.csv: the later one replaced the earlier's rows.
    output = tmp_path / "predictions"
    first = preprocess(tmp_path, "first", "id,title\n1,Registered Nurse\n2,Truck Driver\n3,Chef\n")
    second = preprocess(tmp_path, "second", "id,title\n9,Electrician\n")
    predict.run(first, output, GROUP, "2026-11-23", "execution-a")
    predict.run(second, output, GROUP, "2026-11-23", "execution-b")
    date_folder = output / "execution_date=2026-11-23"
    assert sorted(p.name for p in date_folder.iterdir()) == ["execution_id=execution-a", "execution_id=execution-b"]
    ids = {}
    for execution in ("execution-a", "execution-b"):
        lines = (date_folder / f"execution_id={execution}" / "titles.csv").read_text(encoding="utf-8").splitlines()
        ids[execution] = [line.split(",")[0] for line in lines[1:]]
    assert ids == {"execution-a": ["1", "2", "3"], "execution-b": ["9"]}


def test_a_retried_predict_step_rewrites_the_same_files(registered_model, tmp_path) -> None:
    output = tmp_path / "predictions"
    first = preprocess(tmp_path, "first", "id,title\n1,Registered Nurse\n2,Truck Driver\n")
    summary = predict.run(first, output, GROUP, "2026-11-23", "execution-a")
    folder = predict.output_folder(output, "2026-11-23", "execution-a")
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix == ".csv"}
    predict.run(first, output, GROUP, "2026-11-23", "execution-a")
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix == ".csv"} == before
    assert sorted(p.name for p in folder.iterdir()) == ["report-algo-1.json", "titles.csv"]
    assert json.loads((folder / "report-algo-1.json").read_text())["input_rows"] == summary["input_rows"] == 2
