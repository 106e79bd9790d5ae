"""prediction_report: BatchPredict's instance reports merged into one execution's report, its figures judged,
written beside the predictions and put as CloudWatch metrics; shifted inputs cross the default thresholds.

The model is the fixtures' (five major groups, steps_fixtures); the thresholds are the configuration's defaults.
The same checks on the real O*NET files, through the local run: tests/e2e/test_local_pipeline.py.
"""

from __future__ import annotations

import csv
import json
import random
import shutil
import tempfile
from pathlib import Path

import drift_thresholds
import pytest
import steps_fixtures as fx

from config import load_environment
from pipeline_steps import metrics, predict, prediction_report, prepared, preprocess_predict
from pipeline_steps.contract import (
    METRIC_JENSEN_SHANNON_DISTANCE,
    METRIC_NO_KNOWN_WORD_SHARE,
    METRIC_POPULATION_STABILITY_INDEX,
    PREDICTION_REPORT_CHART,
    PREDICTION_REPORT_FILE,
)
from pipeline_steps.errors import InputError
from workflow.contracts.validator import validate_request

GROUP = "jobclf-report"
MONITORING = load_environment("develop").monitoring
DEFAULTS = prediction_report.Limits.of(MONITORING)
FIXTURE_TITLES = [
    title for _, (occupation, alternates) in fx.OCCUPATIONS.items() for title in (occupation, *alternates)
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return fx.make_model_archive(tmp_path_factory.mktemp("report-model"))


@pytest.fixture
def registered(built, local_registry):
    fx.register_local(*local_registry, GROUP, built["archive"], version=4)
    return local_registry


def prepare(tmp_path: Path, files: dict[str, list[str]]) -> Path:
    """CSV files of titles, prepared by PreprocessPredict; the folder of the prepared parts."""
    source = tmp_path / "csv"
    source.mkdir()
    for name, titles in files.items():
        with (source / name).open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([["title"], *([title] for title in titles)])
    preprocess_predict.run(source, tmp_path / "prepared")
    return tmp_path / "prepared" / prepared.TITLES_DIR


def predict_on(titles: Path, root: Path, hosts: int, low_confidence: float = MONITORING.low_confidence) -> Path:
    """BatchPredict on `hosts` instances, each its share of the parts (dealt as the local run deals them);
    the folder of their reports (what PredictionReport reads)."""
    names = [f"algo-{n}" for n in range(1, hosts + 1)]
    parts = sorted(titles.glob("*.parquet"))
    for number, host in enumerate(names):
        share = root / "shares" / host
        share.mkdir(parents=True)
        for part in parts[number::hosts]:
            shutil.copy(part, share / part.name)
        config = root / f"resourceconfig-{host}.json"
        config.write_text(json.dumps({"current_host": host, "hosts": names}))
        predict.run(
            share,
            root / "predictions",
            GROUP,
            "2026-12-04",
            "run1",
            config,
            low_confidence=low_confidence,
            report_parts_dir=root / "parts",
        )
    return root / "parts"


def report_of(tmp_path: Path, titles: list[str], limits=DEFAULTS) -> dict:
    parts = predict_on(prepare(tmp_path, {"titles.csv": titles}), tmp_path, hosts=1)
    return prediction_report.run(parts, tmp_path / "predictions", limits, None)


MIXED = {
    f"part-{n}.csv": titles
    for n, titles in enumerate(
        [
            ["Registered Nurse", "Chef", "", "Truck Driver", "lorem ipsum dolor"],
            ["Software Engineer", "12345", "Electrician", "Night Shift Pharmacist", "x" * 250],
            ["Bus Driver", "Bartender", "qwzxv plorth", "Staff Nurse", "Line Cook", "Server"],
            ["Senior Java Developer", "Sous Chef", "Программист"],
            ["Carpenter"],
            ["Plumber", "Demolition Worker", "Order Picker", "Airline Pilot", "DBA", "RN", "Waitress"],
            ["Head Chef", "ICU Nurse", "Network Engineer", "gibberish words here"],
        ]
    )
}


def test_sharded_reports_merge_to_the_figures_of_one_instance(registered, tmp_path):
    """Seven parts on one instance and on three: the same report, metrics and chart, but for the hosts."""
    titles = prepare(tmp_path, MIXED)
    # Judged from 5 rows, so every figure and metric is compared.
    limits = prediction_report.Limits(
        min_rows_for_shares=5,
        min_rows_for_drift=5,
        max_rejected_share=0.1,
        max_low_confidence_share=0.2,
        max_no_known_word_share=0.1,
        max_population_stability_index=0.25,
        max_jensen_shannon_distance=0.25,
    )
    reports, charts = {}, {}
    for hosts in (1, 3):
        root = tmp_path / f"hosts-{hosts}"
        report = prediction_report.run(predict_on(titles, root, hosts), root / "predictions", limits, None)
        assert len(report.pop("hosts")) == hosts
        reports[hosts] = report
        folder = predict.output_folder(root / "predictions", "2026-12-04", "run1")
        charts[hosts] = (folder / PREDICTION_REPORT_CHART).read_bytes()
        assert json.loads((folder / PREDICTION_REPORT_FILE).read_text())["rows"] == report["rows"]
    assert reports[3] == reports[1]
    assert charts[3] == charts[1]
    assert prediction_report.metric_data(reports[3]) == prediction_report.metric_data(reports[1])
    assert reports[1]["rows"]["input"] == sum(len(t) for t in MIXED.values()) == reports[1]["rows"]["output"]


def test_the_report_counts_what_the_predictions_say(registered, tmp_path):
    """Every figure recounted from the prediction CSVs the instances wrote."""
    titles = prepare(tmp_path, MIXED)
    report = prediction_report.run(predict_on(titles, tmp_path, 3), tmp_path / "predictions", DEFAULTS, None)
    folder = predict.output_folder(tmp_path / "predictions", "2026-12-04", "run1")
    rows = [row for part in sorted(folder.glob("*.csv")) for row in csv.DictReader(part.open(encoding="utf-8"))]
    predicted = [row for row in rows if row["major_group"]]
    reasons = {row["rejection_reason"] for row in rows if row["rejection_reason"]}
    assert report["rows"] == {
        "input": len(rows),
        "output": len(rows),
        "predicted": len(predicted),
        "rejected": len(rows) - len(predicted),
    }
    assert {r: c["rows"] for r, c in report["rejected"]["by_reason"].items()} == {
        r: sum(row["rejection_reason"] == r for row in rows) for r in reasons
    }
    assert {p: c["rows"] for p, c in report["answered_by"].items()} == {
        p: sum(row["answered_by"] == p for row in predicted) for p in ("known_title", "model")
    }
    assert report["low_confidence"]["rows"] == sum(float(row["confidence"]) < 0.5 for row in predicted)
    groups = report["major_groups"]
    assert {g: n for g, n in groups["predicted_rows"].items() if n} == {
        g: sum(row["major_group"] == g for row in predicted) for g in {row["major_group"] for row in predicted}
    }
    assert groups["groups"] == ["15", "29", "35", "47", "53"] and groups["training_rows"] == len(FIXTURE_TITLES)
    # Titles none of whose words the fixtures' vocabulary holds: the junk, and the Cyrillic title is rejected.
    unknown = {"lorem ipsum dolor", "qwzxv plorth", "gibberish words here"}
    assert report["no_known_word"]["rows"] == sum(row["title"] in unknown for row in predicted) == 3


def test_instances_of_another_model_or_execution_are_refused(registered, tmp_path):
    parts = [json.loads(p.read_text()) for p in sorted(predict_on(prepare(tmp_path, MIXED), tmp_path, 2).iterdir())]
    other_model = [parts[0], {**parts[1], "model_package_arn": parts[1]["model_package_arn"][:-1] + "5"}]
    with pytest.raises(InputError, match=r"disagree on the model .* algo-2: 'arn:aws:sagemaker:.*/5'"):
        prediction_report.merge(other_model)
    with pytest.raises(InputError, match="disagree on the execution"):
        prediction_report.merge([parts[0], {**parts[1], "execution_id": "run2"}])
    with pytest.raises(InputError, match=r"no BatchPredict reports \(report-\*\.json\) under"):
        prediction_report.run(tmp_path / "nothing", tmp_path / "out", DEFAULTS, None)


def test_a_figure_of_too_few_rows_is_reported_but_neither_judged_nor_put(registered, tmp_path):
    report = report_of(tmp_path, ["Registered Nurse", "lorem ipsum", "qwzxv"] * 10)  # 30 rows, 2 in 3 unknown
    checks = {check["figure"]: check for check in report["checks"]}
    assert report["no_known_word"]["share"] == pytest.approx(2 / 3, abs=1e-6)
    assert checks[METRIC_NO_KNOWN_WORD_SHARE]["judged"] is False and report["breached"] == []
    assert checks[METRIC_NO_KNOWN_WORD_SHARE]["not_judged_because"] == "only 30 predicted rows, judged from 100"
    assert {d["MetricName"] for d in prediction_report.metric_data(report)} == {
        "InputRows",
        "PredictedRows",
        "RejectedRows",
    }
    lines = prediction_report.summary_lines(report)
    assert "  no word the model knows: 66.7% (not judged: only 30 predicted rows, judged from 100)" in lines


def test_the_metrics_are_requests_cloudwatch_accepts(registered, tmp_path, monkeypatch):
    monkeypatch.setenv(metrics.LOCAL_METRICS_ENV, str(tmp_path / "cloudwatch"))
    titles = [random.Random(n).choice(FIXTURE_TITLES) for n in range(150)] + ["", "1234"] * 3
    parts = predict_on(prepare(tmp_path, {"t.csv": titles}), tmp_path, 1)
    report = prediction_report.run(parts, tmp_path / "predictions", DEFAULTS, "JobClf/develop")
    requests = [json.loads(p.read_text()) for p in sorted((tmp_path / "cloudwatch").glob("PutMetricData-*.json"))]
    assert [validate_request("cloudwatch", "PutMetricData", request) for request in requests] == [[]] * len(requests)
    data = [entry for request in requests for entry in request["MetricData"]]
    assert {request["Namespace"] for request in requests} == {"JobClf/develop"}
    names = sorted({entry["MetricName"] for entry in data})
    assert names == report["metrics"]["published"]
    assert {"RejectedShare", "LowConfidenceShare", "NoKnownWordShare", "AnsweredShare", "InputRows"} <= set(names)
    assert METRIC_POPULATION_STABILITY_INDEX not in names  # 150 predicted rows: drift is judged from 1,000
    by_reason = {
        e["Dimensions"][0]["Value"]: e["Value"]
        for e in data
        if e.get("Dimensions") and e["MetricName"] == "RejectedShare"
    }
    assert by_reason == {
        "empty_title": pytest.approx(3 / 156, abs=1e-6),
        "title_without_letters": pytest.approx(3 / 156, abs=1e-6),
    }


def test_requests_hold_at_most_twenty_data(monkeypatch, tmp_path):
    monkeypatch.setenv(metrics.LOCAL_METRICS_ENV, str(tmp_path))
    assert metrics.put("JobClf/develop", [metrics.datum(f"M{n}", n, "Count") for n in range(45)]) == 3
    sizes = [len(json.loads(p.read_text())["MetricData"]) for p in sorted(tmp_path.iterdir())]
    assert sorted(sizes) == [5, 20, 20]
    assert metrics.put("JobClf/develop", []) == 0


# --- Shifted and unshifted inputs against the default thresholds ---------------------------------------------


def sample(seed: int, n: int, draw) -> list[str]:
    rng = random.Random(seed)
    return [draw(rng) for _ in range(n)]


def test_an_unshifted_sample_of_the_training_titles_breaches_nothing(registered, tmp_path):
    report = report_of(tmp_path, sample(1, 2000, lambda rng: rng.choice(FIXTURE_TITLES)))
    assert [check["judged"] for check in report["checks"]] == [True] * 5
    assert report["breached"] == [], prediction_report.summary_lines(report)


def test_titles_of_one_major_group_only_breach_both_drift_thresholds(registered, tmp_path):
    report = report_of(tmp_path, sample(2, 2000, lambda rng: rng.choice(fx.titles_of("29"))))
    assert set(report["breached"]) == {METRIC_POPULATION_STABILITY_INDEX, METRIC_JENSEN_SHANNON_DISTANCE}
    assert report["major_groups"]["predicted"]["29"] == 1.0


def test_thirty_percent_text_that_is_no_job_title_breaches_the_unknown_word_threshold(registered, tmp_path):
    draw = lambda rng: drift_thresholds.not_a_job_title(rng) if rng.random() < 0.3 else rng.choice(FIXTURE_TITLES)  # noqa: E731
    report = report_of(tmp_path, sample(3, 2000, draw))
    assert METRIC_NO_KNOWN_WORD_SHARE in report["breached"]
    assert report["no_known_word"]["share"] == pytest.approx(0.3, abs=0.03)


def test_the_threshold_benchmark_gets_the_report_the_steps_write(registered, tmp_path):
    """benchmarks/drift_thresholds.py chains the steps' functions in one process for thousands of samples; its
    report of a sample is the one PreprocessPredict, BatchPredict and PredictionReport write for it."""
    titles = [title for part in MIXED.values() for title in part] + FIXTURE_TITLES
    written = report_of(tmp_path, titles)
    with tempfile.TemporaryDirectory() as work:
        model, record, baseline = predict.load_latest_model(GROUP, work)
    benchmarked = drift_thresholds.report_of(
        model, record, baseline, titles, DEFAULTS, MONITORING.low_confidence, GROUP
    )
    del written["metrics"], written["execution_id"], benchmarked["execution_id"]
    assert benchmarked == written
