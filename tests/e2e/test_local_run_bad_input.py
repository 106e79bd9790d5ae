"""Bad input through the command users run (`python -m workflow.local`, in a subprocess): the run stops
with the step's own error, or refuses before anything runs.

The cases are listed with every other bad-input case in tests/unit/test_bad_input.py's table. What
they cannot prove: how the same errors look in SageMaker Studio (the step's failure reason there is
the processing job's last line of stderr, which these errors are).
"""

from __future__ import annotations

import steps_fixtures as fx
from local_run_support import FIXTURE_ONET, local_run


def test_local_run_stops_at_the_etl_naming_the_bad_workbook(tmp_path) -> None:
    onet = tmp_path / "onet"
    onet.mkdir()
    workbook = fx.xlsx_bytes(
        [["O*NET-SOC Code", "Title", "Description"], ["15-1252.00", "Software Developers", "Write software."]]
    )
    (onet / "Occupation Data.xlsx").write_bytes(workbook[: len(workbook) // 2])  # truncated
    (onet / "Alternate Titles.txt").write_bytes((FIXTURE_ONET / "Alternate Titles.txt").read_bytes())
    result = local_run("--use-type", "train", "--onet-dir", str(onet), work_dir=tmp_path / "work", timeout=300)
    assert result.returncode == 1
    assert "Step ETL failed" in result.stderr
    assert "Occupation Data.xlsx: not a readable .xlsx workbook" in result.stderr
    assert "PreprocessTrain" not in result.stdout  # nothing after the ETL ran


def test_local_run_stops_at_the_etl_when_a_tenth_of_the_titles_is_junk(tmp_path) -> None:
    """Issue 14, item 8: junk titles used to reach train and test unreported (and, with no model
    registered yet, pass the gate); the ETL's data-quality check stops the run before them."""
    onet, junk_rows = fx.fixtures_with_junk(FIXTURE_ONET, tmp_path / "onet", 0.10)
    result = local_run("--use-type", "train", "--onet-dir", str(onet), work_dir=tmp_path / "work", timeout=300)
    assert result.returncode == 1
    assert "Step ETL failed" in result.stderr
    assert (
        "data quality check titles_without_known_word failed: 9 of 62 (14.5%) over the maximum share 8.0%"
        in result.stderr
    )
    assert f"Alternate Titles.txt row {junk_rows[0]} " in result.stderr
    assert "PreprocessTrain" not in result.stdout  # no split, no training on the junk


def test_local_run_refuses_a_predict_input_that_is_not_csv_or_parquet(tmp_path) -> None:
    titles = tmp_path / "titles.txt"
    titles.write_text("id\ttitle\n1\tNurse\n")
    result = local_run(
        "--use-type",
        "predict",
        "--input",
        str(titles),
        "--output",
        str(tmp_path / "p.csv"),
        work_dir=tmp_path,
        timeout=300,
    )
    assert result.returncode == 2
    assert "--input" in result.stderr and "must be a .csv or .parquet file with a title column" in result.stderr
    assert not (tmp_path / "s3").exists(), "refused before anything ran"
