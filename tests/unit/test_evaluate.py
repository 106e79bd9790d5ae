"""evaluate: metrics, the evaluation.json paths the quality gate reads, the baseline, the reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import steps_fixtures as fx
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_steps import evaluate
from workflow.contracts.validator import shape, validate_value

GROUP = "jobclf-titles"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return fx.make_model_archive(tmp_path_factory.mktemp("evaluate"))


def json_get(document, path):
    """What the pipeline's JsonGet does with a dotted path."""
    value = document
    for key in path.split("."):
        value = value[key]
    return value


def strict_json(path):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(Path(path).read_text(), parse_constant=refuse)


def run_main(built, output, group=GROUP, min_macro_f1=0.0, approval_status="Approved"):
    return evaluate.main(
        [
            "--model",
            str(built["delivered"]),
            "--occupation-test",
            str(built["split"] / "occupation_test"),
            "--title-test",
            str(built["split"] / "title_test"),
            "--output",
            str(output),
            "--model-package-group",
            group,
            "--min-macro-f1",
            str(min_macro_f1),
            "--approval-status",
            approval_status,
        ]
    )


def test_evaluation_json_has_the_quality_gate_paths(built, local_registry, tmp_path, capsys):
    assert run_main(built, tmp_path / "out") == 0
    document = strict_json(tmp_path / "out" / "evaluation.json")
    macro_f1 = json_get(document, "multiclass_classification_metrics.macro_f1.value")
    assert isinstance(macro_f1, float) and 0.0 <= macro_f1 <= 1.0
    assert json_get(document, "baseline.macro_f1") == 0.0
    assert document["baseline"]["model_package_arn"] is None
    metrics = document["multiclass_classification_metrics"]
    for name in (
        "accuracy",
        "macro_f1",
        "weighted_precision",
        "weighted_recall",
        "weighted_f1",
        "expected_calibration_error",
    ):
        assert set(metrics[name]) == {"value", "standard_deviation"} and metrics[name]["standard_deviation"] == "NaN"
    test_rows = document["test_rows"]
    assert test_rows == sum(sum(row.values()) for row in metrics["confusion_matrix"].values())
    assert set(document["per_major_group"]) == {"15", "29", "35", "47", "53"}
    assert sum(g["support"] for g in document["per_major_group"].values()) == test_rows
    assert "macro_f1=" in capsys.readouterr().out
    for name in ("confusion_matrix.png", "report.md", "report.html"):
        assert (tmp_path / "out" / name).is_file()
    assert (tmp_path / "out" / "confusion_matrix.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Macro F1" in report and "Healthcare Practitioners" in report and "actual \\ predicted" in report
    assert "<img src='confusion_matrix.png'" in (tmp_path / "out" / "report.html").read_text()


def test_both_figures_are_of_held_out_models_and_say_so(built, local_registry, tmp_path):
    """The gate's figure is the by-occupation model's on the test occupations, the headline the by-title
    model's on title_test; neither is the served model's, which has seen every row."""
    from pipeline_steps.dataio import read_labeled_titles
    from pipeline_steps.known_titles import load

    assert run_main(built, tmp_path / "out") == 0
    document = strict_json(tmp_path / "out" / "evaluation.json")
    figures = document["figures"]
    assert set(figures) == {"unseen_titles", "unseen_occupations"}
    for name, split, model_file in (
        ("unseen_occupations", "occupation_test", "evaluated/by_occupation.joblib"),
        ("unseen_titles", "title_test", "evaluated/by_title.joblib"),
    ):
        titles, labels = read_labeled_titles(built["split"] / split)
        expected = evaluate.evaluate(load(built["model_dir"], model_file), titles, labels)
        assert figures[name]["macro_f1"] == pytest.approx(expected["macro_f1"])
        assert figures[name]["rows"] == len(titles)
        assert figures[name]["answered_by"] == expected["answered_by"]
        assert sum(figures[name]["answered_by"].values()) == pytest.approx(1.0)
    served = evaluate.evaluate(load(built["model_dir"]), *read_labeled_titles(built["split"] / "occupation_test"))
    assert (
        document["multiclass_classification_metrics"]["macro_f1"]["value"] == figures["unseen_occupations"]["macro_f1"]
    )
    assert served["macro_f1"] > figures["unseen_occupations"]["macro_f1"]  # the served model has seen the test rows
    assert document["held_out"].startswith("held-out metrics")
    report = (tmp_path / "out" / "report.md").read_text()
    assert "held-out metrics" in report and "Unseen titles of known occupations: macro F1 (headline)" in report


def test_the_evaluated_models_know_only_their_own_training_titles(built):
    """The held-out figures stay honest: no evaluated model answers a test row from the table."""
    from pipeline_steps.dataio import read_labeled_titles
    from pipeline_steps.known_titles import load

    for model_file, trained, tested in (
        ("evaluated/by_occupation.joblib", "occupation_train", "occupation_test"),
        ("evaluated/by_title.joblib", "title_train", "title_test"),
    ):
        known = load(built["model_dir"], model_file).known
        trained_titles = set(read_labeled_titles(built["split"] / trained)[0])
        assert set(known.evidence) == trained_titles
        test_rows = set(zip(*read_labeled_titles(built["split"] / tested), strict=True))
        assert not {(title, group) for title, group in test_rows if group in known.evidence.get(title, {})}


def test_training_titles_come_back_in_their_group_with_the_known_titles(built, local_registry, tmp_path):
    assert run_main(built, tmp_path / "out") == 0
    section = strict_json(tmp_path / "out" / "evaluation.json")["training_titles"]
    # The fixtures list every title under one major group.
    assert section["unambiguous"]["titles"] == len({t for t in fx.etl_rows()["title_normalized"]})
    assert section["unambiguous"]["fidelity"] == 1.0 and section["unambiguous"]["answered_by_known_title"] == 1.0
    assert 0.0 < section["unambiguous"]["model_alone"] <= 1.0
    assert section["ambiguous"]["titles"] == 0
    assert "Training titles, unambiguous" in (tmp_path / "out" / "report.md").read_text()


def test_training_title_fidelity_counts_a_best_attested_group_for_an_ambiguous_title():
    import numpy as np

    from pipeline_steps.known_titles import KnownTitleClassifier, KnownTitles

    class Stub:  # the statistical model: always 47
        classes_ = np.array(["47", "53"])

        def predict_proba(self, titles):
            return np.tile([0.9, 0.1], (len(titles), 1))

    known = KnownTitles(
        {"forklift operator": {"47": 2.0, "53": 5.0}, "carpenter": {"47": 1.0}, "tie": {"47": 1.0, "53": 1.0}}
    )
    section = evaluate.training_title_fidelity(KnownTitleClassifier(Stub(), known))
    assert section["ambiguous"] == {"titles": 2, "fidelity": 1.0, "model_alone": 0.5, "answered_by_known_title": 1.0}
    assert section["unambiguous"] == {"titles": 1, "fidelity": 1.0, "model_alone": 1.0, "answered_by_known_title": 1.0}


def test_baseline_is_the_latest_approved_model(built, local_registry, tmp_path):
    registry_file, s3_root = local_registry
    fx.register_local(registry_file, s3_root, GROUP, built["archive"], version=1, macro_f1=0.3)
    fx.register_local(registry_file, s3_root, GROUP, built["archive"], version=2, macro_f1=0.42)
    fx.register_local(registry_file, s3_root, GROUP, built["archive"], version=3, macro_f1=0.99, status="Rejected")
    run_main(built, tmp_path / "out")
    baseline = strict_json(tmp_path / "out" / "evaluation.json")["baseline"]
    assert baseline["macro_f1"] == 0.42 and baseline["version"] == 2
    assert baseline["model_package_arn"].endswith("/2")
    assert "version 2" in (tmp_path / "out" / "report.md").read_text()


def test_approved_model_without_metrics_compares_against_zero(built, local_registry, tmp_path):
    registry_file, s3_root = local_registry
    fx.register_local(registry_file, s3_root, GROUP, built["archive"], version=1)
    run_main(built, tmp_path / "out")
    baseline = strict_json(tmp_path / "out" / "evaluation.json")["baseline"]
    assert baseline["macro_f1"] == 0.0 and "no registered macro_f1" in baseline["note"]


def test_an_extracted_model_directory_works_too(built, local_registry, tmp_path):
    document = evaluate.run(
        built["model_dir"],
        built["split"] / "occupation_test",
        built["split"] / "title_test",
        tmp_path / "out",
        GROUP,
        0.5,
        "Approved",
    )
    assert document["test_rows"] > 0


def test_missing_model_archive_is_named(built, local_registry, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="model.tar.gz"):
        evaluate.run(
            tmp_path / "empty",
            built["split"] / "occupation_test",
            built["split"] / "title_test",
            tmp_path / "out",
            GROUP,
            0.5,
            "Approved",
        )


def test_compute_metrics_by_hand():
    truth = ["15", "15", "15", "29", "29", "35"]
    predicted = ["15", "15", "29", "29", "29", "15"]
    metrics = evaluate.compute_metrics(truth, predicted, [0.9] * 6, labels=["15", "29", "35", "47"])
    assert metrics["labels"] == ["15", "29", "35", "47"]
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    # F1: 15 -> p 2/3 r 2/3 = 2/3; 29 -> p 2/3 r 1 = 0.8; 35 -> 0; 47 (never seen nor predicted) left out.
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 0) / 3)
    assert metrics["per_major_group"]["29"] == {
        "precision": pytest.approx(2 / 3),
        "recall": 1.0,
        "f1": pytest.approx(0.8),
        "support": 2,
    }
    assert metrics["per_major_group"]["47"]["support"] == 0
    gate = evaluate.quality_gate(metrics["macro_f1"], 0.5, 0.0, "Approved")
    document = evaluate.evaluation_document(metrics, evaluate.baseline_section(None), gate)
    matrix = document["multiclass_classification_metrics"]["confusion_matrix"]
    assert matrix["15"] == {"15": 2, "29": 1, "35": 0, "47": 0}  # actual -> predicted
    assert matrix["35"]["15"] == 1
    assert metrics["expected_calibration_error"] == pytest.approx(abs(4 / 6 - 0.9))


@pytest.mark.parametrize(
    ("threshold", "baseline", "status", "expected"),
    [
        (0.0, 0.0, "PendingManualApproval", "PendingManualApproval"),  # passes: the configured status
        (0.0, 0.0, "Approved", "Approved"),
        (1.01, 0.0, "Approved", "Rejected"),  # below the threshold
        (0.0, 1.0, "Approved", "Rejected"),  # below the latest approved model
    ],
)
def test_the_gate_verdict_is_the_registered_status(
    built, local_registry, tmp_path, threshold, baseline, status, expected
):
    """RegisterModel reads quality_gate.approval_status and .reason with JsonGet (contract.GATE_*_PATH)."""
    registry_file, s3_root = local_registry
    if baseline:
        fx.register_local(registry_file, s3_root, GROUP, built["archive"], version=1, macro_f1=baseline)
    assert run_main(built, tmp_path / "out", min_macro_f1=threshold, approval_status=status) == 0
    document = strict_json(tmp_path / "out" / "evaluation.json")
    assert json_get(document, "quality_gate.approval_status") == expected
    reason = json_get(document, "quality_gate.reason")
    assert reason.startswith("rejected" if expected == "Rejected" else "passed")
    assert f"{json_get(document, 'multiclass_classification_metrics.macro_f1.value'):.4f}" in reason
    assert f"Quality gate | {expected}: {reason}" in (tmp_path / "out" / "report.md").read_text()


@pytest.mark.parametrize(
    ("macro_f1", "threshold", "baseline", "failures"),
    [
        (0.52, 0.51, 0.50, []),
        (0.51, 0.51, 0.51, []),  # equal passes both
        (0.50, 0.51, 0.40, ["below the threshold 0.5100"]),
        (0.60, 0.51, 0.61, ["below the latest approved model at 0.6100"]),
        (0.40, 0.51, 0.61, ["below the threshold 0.5100", "below the latest approved model at 0.6100"]),
        (float("nan"), 0.0, 0.0, ["below the threshold 0.0000", "below the latest approved model at 0.0000"]),
    ],
)
def test_the_gate_needs_both_the_threshold_and_the_latest_approved_model(macro_f1, threshold, baseline, failures):
    gate = evaluate.quality_gate(macro_f1, threshold, baseline, "Approved")
    assert gate["passed"] is (not failures)
    assert gate["approval_status"] == ("Rejected" if failures else "Approved")
    assert all(failure in gate["reason"] for failure in failures)


@settings(max_examples=200, deadline=None)
@given(
    macro_f1=st.floats(min_value=0.0, max_value=1.0) | st.just(float("nan")),  # a macro-F1, or NaN
    threshold=st.floats(min_value=0.0, max_value=1.0),
    baseline=st.floats(min_value=0.0, max_value=1.0),
    status=st.sampled_from(["Approved", "PendingManualApproval"]),
)
def test_every_gate_reason_is_a_metadata_value_aws_accepts(macro_f1, threshold, baseline, status):
    """The reason becomes CustomerMetadataProperties.quality_gate of CreateModelPackage: its pattern and length,
    from botocore's model (issue 19: a comma there made the service refuse the registration)."""
    gate = evaluate.quality_gate(macro_f1, threshold, baseline, status)
    assert validate_value(shape("sagemaker", "CustomerMetadataValue"), gate["reason"], "quality_gate") == []
    assert validate_value(shape("sagemaker", "ModelApprovalStatus"), gate["approval_status"], "status") == []


def test_compute_metrics_needs_rows():
    with pytest.raises(ValueError, match="no test rows"):
        evaluate.compute_metrics([], [], [])


@pytest.mark.parametrize(
    "confidences, correct, expected",
    [
        ([0.95, 0.95, 0.15, 0.15], [True, True, False, False], (0.05 * 2 + 0.15 * 2) / 4),
        ([1.0, 1.0], [True, False], 0.5),  # 1.0 lands in the last bin
        ([0.0, 0.0], [False, False], 0.0),
        ([0.55] * 20, [True] * 11 + [False] * 9, 0.0),
        ([], [], 0.0),
    ],
)
def test_expected_calibration_error(confidences, correct, expected):
    ece, bins = evaluate.expected_calibration_error(confidences, correct)
    assert ece == pytest.approx(expected)
    assert sum(b["rows"] for b in bins) == len(confidences)
