"""predict: the latest approved model, one output row per input row in order, idempotent per date."""

from __future__ import annotations

import csv
import json
import sys
from datetime import date
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "steps"))
import steps_fixtures as fx  # noqa: E402

from pipeline_steps import predict, preprocess_predict  # noqa: E402

GROUP = "jobclf-titles"
FIELDS = ["id", "title", "major_group", "major_group_title", "confidence", "top3", "rejection_reason"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return fx.make_model_archive(tmp_path_factory.mktemp("predict"))


@pytest.fixture
def titles_dir(tmp_path):
    source = tmp_path / "csv"
    source.mkdir()
    (source / "a.csv").write_bytes(
        b"id,title\nn1,Registered Nurse\nn2,\nn3,Truck Driver\nn4,\xff bad\nn5,1234\nn6,Chef\n"
    )
    (source / "b.csv").write_text("title\nElectrician\n" + "x" * 250 + "\n")
    preprocess_predict.run(source, tmp_path / "pre")
    return tmp_path / "pre"


def read_predictions(path):
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return reader.fieldnames, list(reader)


def test_one_row_per_input_row_in_order(built, local_registry, titles_dir, tmp_path, capsys):
    fx.register_local(*local_registry, GROUP, built["archive"], version=1, macro_f1=0.5)
    fx.register_local(*local_registry, GROUP, built["archive"], version=2, macro_f1=0.6)
    fx.register_local(*local_registry, GROUP, built["archive"], version=3, status="PendingManualApproval")
    argv = ["--input", str(titles_dir), "--output", str(tmp_path / "out"), "--model-package-group", GROUP]
    assert predict.main(argv + ["--execution-date", "2026-11-23"]) == 0
    target = tmp_path / "out" / "execution_date=2026-11-23"
    fields, rows = read_predictions(target / "predictions.csv")
    assert fields == FIELDS
    assert [r["id"] for r in rows] == ["n1", "n2", "n3", "n4", "n5", "n6", "6", "7"]
    assert [r["rejection_reason"] for r in rows] == [
        "",
        "empty_title",
        "",
        "undecodable_title",
        "title_without_letters",
        "",
        "",
        "title_too_long",
    ]
    for row in rows:
        if row["rejection_reason"]:
            assert row["major_group"] == row["confidence"] == row["top3"] == row["major_group_title"] == ""
        else:
            top3 = json.loads(row["top3"])
            assert len(top3) == 3 and top3[0]["major_group"] == row["major_group"]
            assert float(row["confidence"]) == top3[0]["probability"]
    assert rows[0]["title"] == "Registered Nurse"

    report = json.loads((target / "report.json").read_text())
    assert report["model_version"] == 2 and report["model_package_arn"].endswith("/2")
    assert report["input_rows"] == 8 and report["predicted_rows"] == 4 and report["rejected_rows"] == 4
    assert report["rejections_by_reason"] == {
        "empty_title": 1,
        "title_too_long": 1,
        "title_without_letters": 1,
        "undecodable_title": 1,
    }
    assert report["execution_date"] == "2026-11-23" and report["titles_per_second"] > 0
    assert "model_version=2" in capsys.readouterr().out

    # Same date again: the same files, replaced (and nothing else appears).
    first = (target / "predictions.csv").read_bytes()
    predict.main(argv + ["--execution-date", "2026-11-23"])
    assert (target / "predictions.csv").read_bytes() == first
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["execution_date=2026-11-23"]
    assert sorted(p.name for p in target.iterdir()) == ["predictions.csv", "report.json"]


def test_empty_execution_date_is_today_utc(built, local_registry, titles_dir, tmp_path):
    fx.register_local(*local_registry, GROUP, built["archive"])
    summary = predict.run(titles_dir, tmp_path / "out", GROUP, "")
    assert date.fromisoformat(summary["execution_date"])
    assert (tmp_path / "out" / f"execution_date={summary['execution_date']}" / "predictions.csv").is_file()


def test_no_approved_model_is_explained(local_registry, titles_dir, tmp_path, capsys):
    with pytest.raises(
        predict.NoApprovedModel, match=f"no approved model in group {GROUP}: run the train branch first"
    ):
        predict.run(titles_dir, tmp_path / "out", GROUP, "2026-11-23")


@pytest.mark.parametrize("value", ["2026-13-01", "2026-02-30", "23.11.2026", "yesterday", "2026-1-1", "20261123"])
def test_bad_execution_dates(value):
    with pytest.raises(ValueError, match="execution date"):
        predict.execution_date(value)


def test_execution_date_values():
    assert predict.execution_date("", today=date(2026, 11, 23)) == "2026-11-23"
    assert predict.execution_date("  ", today=date(2026, 11, 23)) == "2026-11-23"
    assert predict.execution_date("2028-02-29") == "2028-02-29"


def test_bad_execution_date_stops_the_cli(tmp_path, capsys):
    with pytest.raises(SystemExit):
        predict.main(
            [
                "--input",
                str(tmp_path),
                "--output",
                str(tmp_path),
                "--model-package-group",
                GROUP,
                "--execution-date",
                "soon",
            ]
        )
    assert "execution date" in capsys.readouterr().err
