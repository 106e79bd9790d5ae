"""The predict branch's EMR job (titles_etl.py) in Spark's local mode: the same rows as
PreprocessPredict, numbered in input order however Spark splits the files, with the row accounting."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline_steps import prepared, preprocess_predict, titles_etl


def write_inputs(folder: Path) -> None:
    """CSV files with different headers, odd names, a quoted line break, bad rows; a Parquet file of many row groups."""
    (folder / "sub dir").mkdir(parents=True)
    (folder / "a b+c.csv").write_bytes(b'title,id\nNurse,1\n"Two\nLines",2\nChef,\n,4\n\xff bad,5\n')
    (folder / "sub dir" / "x.csv").write_text("ID,TITLE,notes\n7,Driver,n\n,1234,n\n", encoding="utf-8")
    (folder / "a-b.csv").write_text("title\nPilot\n", encoding="utf-8")  # after "a b+c" and "a", as stems sort
    (folder / "_SUCCESS").write_text("")
    rng = random.Random(3)
    words = ["senior", "nurse", "driver", "chef", "engineer", "sales", "manager", ""]
    titles = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 3))).strip() for _ in range(1000)]
    ids = [None if i % 7 == 0 else f"p{i}" for i in range(1000)]
    pq.write_table(pa.table({"Title": titles, "id": ids}), str(folder / "many.parquet"), row_group_size=50)


def spark_rows(spark, input_dir: Path, output: Path) -> tuple[dict, list[dict], list[dict]]:
    report = titles_etl.run(spark, str(input_dir), str(output))
    parts = prepared.ordered_files(output / prepared.TITLES_DIR, [".parquet"])
    titles = [row for part in parts for row in pq.read_table(str(part)).to_pylist()]
    quarantine = pq.read_table(str(output / prepared.QUARANTINE_DIR)).to_pylist()
    return report, titles, quarantine


@pytest.fixture(scope="module")
def small_splits(spark):
    """Spark splits the Parquet file into many partitions, and a file's rows span several of them."""
    previous = {
        key: spark.conf.get(key) for key in ("spark.sql.files.maxPartitionBytes", "spark.sql.files.openCostInBytes")
    }
    spark.conf.set("spark.sql.files.maxPartitionBytes", "2048")
    spark.conf.set("spark.sql.files.openCostInBytes", "0")
    yield
    for key, value in previous.items():
        spark.conf.set(key, value)


def test_same_rows_as_preprocess_predict_in_input_order(spark, small_splits, tmp_path, monkeypatch):
    write_inputs(tmp_path / "in")
    monkeypatch.setattr(titles_etl, "ROWS_PER_PART", 300)  # several output parts
    report, rows, quarantine = spark_rows(spark, tmp_path / "in", tmp_path / "spark")
    assert len(list((tmp_path / "spark" / "titles").glob("part-*.parquet"))) == 4

    preprocess_predict.run(tmp_path / "in", tmp_path / "processing")
    parts = prepared.ordered_files(tmp_path / "processing" / prepared.TITLES_DIR, [".parquet"])
    expected = [row for part in parts for row in pq.read_table(str(part)).to_pylist()]
    # Spark's CSV reader reads an empty field as null where Python's reads ""; both are empty titles.
    for row in rows + expected:
        row["title"] = row["title"] or None
    assert rows == expected
    assert [row["source_file"] for row in rows[:8]] == ["a b+c.csv"] * 5 + ["a-b.csv"] + ["many.parquet"] * 2
    assert [row["source_row"] for row in rows if row["source_file"] == "many.parquet"] == list(range(1, 1001))

    rejected = [row for row in rows if row["rejection_reason"]]
    assert report["input_rows"] == len(rows) == report["valid_rows"] + report["rejected_rows"]
    assert report["rejected_rows"] == len(rejected) == len(quarantine)
    assert report["input_files"] == ["a b+c.csv", "a-b.csv", "many.parquet", "sub dir/x.csv"]
    assert json.loads((tmp_path / "spark" / "report.json").read_text()) == report


def test_no_title_column_and_no_files_are_named(spark, tmp_path):
    (tmp_path / "in").mkdir()
    with pytest.raises(titles_etl.InputError, match="no CSV or Parquet files"):
        titles_etl.run(spark, str(tmp_path / "in"), str(tmp_path / "out"))
    (tmp_path / "in" / "jobs.csv").write_text("id,job\n1,Nurse\n")
    with pytest.raises(titles_etl.InputError, match=r"jobs\.csv has no 'title' column; columns found: \['id', 'job'\]"):
        titles_etl.run(spark, str(tmp_path / "in"), str(tmp_path / "out"))


def test_row_checks_are_checked_title_and_generated_ids():
    assert titles_etl.check_row(None, "Sr. Mgr", "a.csv", 3) == ("a.csv#3", True, "senior manager", None)
    assert titles_etl.check_row("12", "  ", "a.csv", 4) == ("12", False, None, "empty_title")


def test_the_report_refuses_rows_that_do_not_add_up():
    with pytest.raises(titles_etl.AccountingError):
        titles_etl.build_report(["a.csv"], {None: 3, "made_up_reason": 1})


def test_main_prints_an_input_error_as_one_line_like_every_step(spark, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "jobs.csv").write_text("id,job\n1,Nurse\n")
    shuffle_partitions = spark.conf.get("spark.sql.shuffle.partitions")
    try:
        assert titles_etl.main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")]) == 1
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", shuffle_partitions)
    error = capsys.readouterr().err.strip()
    assert error == "titles-etl: error: input file jobs.csv has no 'title' column; columns found: ['id', 'job']"
