"""predict: the latest approved model, one output row per input row in order, one folder per execution."""

from __future__ import annotations

import csv
import json
from datetime import date

import pytest
import steps_fixtures as fx

from pipeline_steps import contract, predict, prepared, preprocess_predict

GROUP = "jobclf-titles"
FIELDS = [
    "id",
    "id_generated",
    "title",
    "major_group",
    "major_group_title",
    "confidence",
    "top3",
    "rejection_reason",
    "answered_by",
    "source_file",
    "source_row",
]


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
    return tmp_path / "pre" / prepared.TITLES_DIR


def read_predictions(path):
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return reader.fieldnames, list(reader)


def test_one_row_per_input_row_in_order(built, local_registry, titles_dir, tmp_path, capsys):
    fx.register_local(*local_registry, GROUP, built["archive"], version=1, macro_f1=0.5)
    fx.register_local(*local_registry, GROUP, built["archive"], version=2, macro_f1=0.6)
    fx.register_local(*local_registry, GROUP, built["archive"], version=3, status="PendingManualApproval")
    argv = ["--input", str(titles_dir), "--output", str(tmp_path / "out"), "--model-package-group", GROUP]
    assert predict.main(argv + ["--execution-date", "2026-11-23", "--execution-id", "run1"]) == 0
    target = tmp_path / "out" / "execution_date=2026-11-23" / "execution_id=run1"
    assert sorted(p.name for p in target.iterdir()) == ["a.csv", "b.csv", "report-algo-1.json"]
    fields, rows = read_predictions(target / "a.csv")
    _, more = read_predictions(target / "b.csv")
    rows += more
    assert fields == FIELDS
    assert [r["id"] for r in rows] == ["n1", "n2", "n3", "n4", "n5", "n6", "b.csv#1", "b.csv#2"]
    assert [r["id_generated"] for r in rows] == ["false"] * 6 + ["true"] * 2
    assert [(r["source_file"], r["source_row"]) for r in rows][5:] == [("a.csv", "6"), ("b.csv", "1"), ("b.csv", "2")]
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
            assert row["answered_by"] == ""
        else:
            top3 = json.loads(row["top3"])
            assert len(top3) == (1 if row["answered_by"] == "known_title" else 3)
            assert top3[0]["major_group"] == row["major_group"]
            assert float(row["confidence"]) == top3[0]["probability"]
    assert rows[0]["title"] == "Registered Nurse"
    # Titles the training data lists are answered from it; "Chef" too. "x"*250 is rejected.
    assert [r["answered_by"] for r in rows] == [
        "known_title",
        "",
        "known_title",
        "",
        "",
        "known_title",
        "known_title",
        "",
    ]

    report = json.loads((target / "report-algo-1.json").read_text())
    assert report["model_version"] == 2 and report["model_package_arn"].endswith("/2")
    assert report["input_rows"] == 8 and report["predicted_rows"] == 4 and report["rejected_rows"] == 4
    assert report["parts"] == {"a.csv": 6, "b.csv": 2}
    assert report["rejections_by_reason"] == {
        "empty_title": 1,
        "title_too_long": 1,
        "title_without_letters": 1,
        "undecodable_title": 1,
    }
    assert report["execution_date"] == "2026-11-23" and report["execution_id"] == "run1"
    assert report["titles_per_second"] > 0
    assert {path: counts["rows"] for path, counts in report["answered_by"].items()} == {"known_title": 4, "model": 0}
    assert "model_version=2" in capsys.readouterr().out

    # The same execution again (a retried step): the same files, replaced, and nothing else appears.
    first = (target / "a.csv").read_bytes()
    predict.main(argv + ["--execution-date", "2026-11-23", "--execution-id", "run1"])
    assert (target / "a.csv").read_bytes() == first
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["execution_date=2026-11-23"]
    assert sorted(p.name for p in target.iterdir()) == ["a.csv", "b.csv", "report-algo-1.json"]


def test_small_batches_give_the_same_predictions(built, local_registry, titles_dir, tmp_path):
    fx.register_local(*local_registry, GROUP, built["archive"])
    whole = predict.run(titles_dir, tmp_path / "whole", GROUP, "2026-11-23", "x")
    batched = predict.run(titles_dir, tmp_path / "batched", GROUP, "2026-11-23", "x", batch_rows=3)
    assert whole["input_rows"] == batched["input_rows"] == 8
    for name in ("a.csv", "b.csv"):
        assert (predict.output_folder(tmp_path / "whole", "2026-11-23", "x") / name).read_bytes() == (
            predict.output_folder(tmp_path / "batched", "2026-11-23", "x") / name
        ).read_bytes()


def test_empty_execution_date_is_today_utc(built, local_registry, titles_dir, tmp_path):
    fx.register_local(*local_registry, GROUP, built["archive"])
    summary = predict.run(titles_dir, tmp_path / "out", GROUP, "", "run1")
    assert date.fromisoformat(summary["execution_date"])
    assert (predict.output_folder(tmp_path / "out", summary["execution_date"], "run1") / "a.csv").is_file()


def test_an_instance_with_an_empty_share_writes_only_its_report(built, local_registry, tmp_path):
    fx.register_local(*local_registry, GROUP, built["archive"])
    config = tmp_path / "resourceconfig.json"
    config.write_text(json.dumps({"current_host": "algo-3", "hosts": ["algo-1", "algo-2", "algo-3"]}))
    (tmp_path / "in").mkdir()
    summary = predict.run(tmp_path / "in", tmp_path / "out", GROUP, "2026-11-23", "run1", resource_config=config)
    assert summary["host"] == "algo-3" and summary["input_rows"] == 0
    target = predict.output_folder(tmp_path / "out", "2026-11-23", "run1")
    assert [p.name for p in target.iterdir()] == ["report-algo-3.json"]


def test_no_approved_model_is_explained(local_registry, titles_dir, tmp_path, capsys):
    with pytest.raises(
        predict.NoApprovedModel, match=f"no approved model in group {GROUP}: run the train branch first"
    ):
        predict.run(titles_dir, tmp_path / "out", GROUP, "2026-11-23", "run1")


@pytest.mark.parametrize("value", ["2026-13-01", "2026-02-30", "23.11.2026", "yesterday", "2026-1-1", "20261123"])
def test_bad_execution_dates(value):
    with pytest.raises(ValueError, match="execution date"):
        contract.execution_date(value)


@pytest.mark.parametrize("value", ["", "../up", "a/b", "-x", "x" * 129])
def test_bad_execution_ids(value):
    with pytest.raises(ValueError, match="execution id"):
        predict.execution_id(value)


def test_execution_date_values():
    assert contract.execution_date("", today=date(2026, 11, 23)) == "2026-11-23"
    assert contract.execution_date("  ", today=date(2026, 11, 23)) == "2026-11-23"
    assert contract.execution_date("2028-02-29") == "2028-02-29"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--execution-date", "soon", "--execution-id", "x"], "execution date"),
        (["--execution-id", "a/b"], "execution id"),
    ],
)
def test_bad_arguments_stop_the_cli(tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit):
        predict.main(["--input", str(tmp_path), "--output", str(tmp_path), "--model-package-group", GROUP, *extra])
    assert message in capsys.readouterr().err
