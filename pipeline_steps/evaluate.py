"""Evaluate a training job's held-out models and compare with the latest approved model.

    python -m pipeline_steps evaluate --model DIR --occupation-test DIR --title-test DIR --output DIR --model-package-group NAME
        --min-macro-f1 THRESHOLD --approval-status STATUS

DIR of --model holds model.tar.gz as SageMaker delivers a training job's output (or its extracted
folder). The served model.joblib in it is fitted on every accepted row, so it has no held-out rows;
its quality is measured on the two evaluated models the same job fitted with the same
hyperparameters (train.train):
- unseen titles of known occupations (the headline): the by-title model on --title-test;
- unseen occupations (the stress figure and the quality gate's): the by-occupation model on --occupation-test.
Each evaluated model answers as the served one does: the titles of its own training rows from their
O*NET evidence, the others by its statistical model (known_titles.py), and each figure says which
share each path answered. `training_titles` measures the served model on the titles it was fitted on:
does a title O*NET lists come back in its major group (or, listed under several, in its best-attested
one), with the known titles and with the statistical model alone.
Writes OUTPUT/evaluation.json (SageMaker's model-quality format for multiclass classification, of
the unseen-occupations figure, plus `figures` with both, `training_titles`, `held_out`,
per_major_group, baseline and test_rows), OUTPUT/confusion_matrix.png, OUTPUT/report.md and
OUTPUT/report.html.

It also decides the quality gate (`quality_gate` in evaluation.json): the unseen-occupation macro-F1
must be at least --min-macro-f1 and at least the latest approved model's (0.0 when the group has
none). RegisterModel reads the verdict's approval status and reason with JsonGet, so a model that
misses the gate is still registered, as Rejected, with its metrics and the reason: SageMaker cannot
nest the condition step a gate would otherwise need inside the train branch's.
"""

from __future__ import annotations

import argparse
import html
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np

from pipeline_steps import registry
from pipeline_steps.contract import (
    EVALUATION_FILE,
    FIGURES_KEY,
    METRICS_KEY,
    MODEL_APPROVAL_STATUSES,
    QUALITY_GATE_KEY,
    REJECTED,
    UNSEEN_OCCUPATIONS,
    UNSEEN_TITLES,
)
from pipeline_steps.dataio import read_labeled_titles, write_json, write_text
from pipeline_steps.known_titles import ANSWERED_BY, KNOWN_TITLE, KnownTitleClassifier
from pipeline_steps.model import EVALUATED_MODELS, MODEL_FILE, load_model, predict_proba
from pipeline_steps.png import write_confusion_png
from pipeline_steps.soc import MAJOR_GROUPS

CALIBRATION_BINS = 10
HELD_OUT_NOTE = (
    "held-out metrics: measured on models fitted by the same training job with the same hyperparameters "
    "but without the rows they are scored on (evaluated/*.joblib in the model archive); the registered "
    "model.joblib is refit on every accepted row (all occupations) and has no held-out rows of its own"
)
FIGURE_NAMES = {UNSEEN_TITLES: "Unseen titles of known occupations", UNSEEN_OCCUPATIONS: "Unseen occupations"}
FIGURE_SPLITS = {
    UNSEEN_TITLES: "headline: split by title, every occupation in training, no test title with a "
    "near-duplicate (same words after dropping a plural s and seniority words) in training",
    UNSEEN_OCCUPATIONS: "stress figure and quality gate: split by occupation, every title of a test "
    "occupation held out (the same numbers as multiclass_classification_metrics)",
}


def _metric(value: float) -> dict[str, Any]:
    return {"value": float(value), "standard_deviation": "NaN"}


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], n_bins: int = CALIBRATION_BINS
) -> tuple[float, list[dict[str, Any]]]:
    """ECE of the top-1 probability over equal-width bins, and the bins (for a reliability table).

    ECE = sum over bins of (rows in bin / rows) * |accuracy in bin - mean confidence in bin|.
    A confidence of exactly 1.0 falls in the last bin.
    """
    confidence = np.asarray(confidences, dtype=float)
    hits = np.asarray(correct, dtype=bool)
    if confidence.shape != hits.shape:
        raise ValueError("confidences and correct must have the same length")
    if len(confidence) == 0:
        return 0.0, []
    index = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    index = np.maximum(index, 0)
    ece = 0.0
    bins = []
    for b in range(n_bins):
        mask = index == b
        count = int(mask.sum())
        if count == 0:
            continue
        accuracy = float(hits[mask].mean())
        mean_confidence = float(confidence[mask].mean())
        ece += count / len(confidence) * abs(accuracy - mean_confidence)
        bins.append(
            {
                "lower": b / n_bins,
                "upper": (b + 1) / n_bins,
                "rows": count,
                "accuracy": accuracy,
                "mean_confidence": mean_confidence,
            }
        )
    return float(ece), bins


def compute_metrics(
    y_true: Sequence[str],
    y_pred: Sequence[str],
    confidences: Sequence[float],
    labels: Optional[Sequence[str]] = None,
) -> dict[str, Any]:
    """Accuracy, macro-F1, weighted P/R/F1, per-group P/R/F1/support, confusion matrix, ECE."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    if len(y_true) == 0:
        raise ValueError("no test rows to evaluate")
    truth = [str(v) for v in y_true]
    predicted = [str(v) for v in y_pred]
    labels = sorted(set(labels or []) | set(truth) | set(predicted))
    per_p, per_r, per_f, per_s = precision_recall_fscore_support(truth, predicted, labels=labels, zero_division=0)
    # Macro averages over the groups that occur (actual or predicted), as scikit-learn's f1_score
    # does by default and train's validation score does: a group the model knows but neither the
    # test set nor the predictions contain would otherwise count as F1 = 0 against the model.
    present = sorted(set(truth) | set(predicted))
    _, _, macro_f1, _ = precision_recall_fscore_support(
        truth, predicted, labels=present, average="macro", zero_division=0
    )
    w_p, w_r, w_f, _ = precision_recall_fscore_support(
        truth, predicted, labels=present, average="weighted", zero_division=0
    )
    matrix = confusion_matrix(truth, predicted, labels=labels)
    correct = [t == p for t, p in zip(truth, predicted)]
    ece, bins = expected_calibration_error(confidences, correct)
    return {
        "labels": labels,
        "accuracy": float(accuracy_score(truth, predicted)),
        "macro_f1": float(macro_f1),
        "weighted_precision": float(w_p),
        "weighted_recall": float(w_r),
        "weighted_f1": float(w_f),
        "expected_calibration_error": ece,
        "calibration_bins": bins,
        "confusion_matrix": matrix.tolist(),
        "per_major_group": {
            label: {
                "precision": float(per_p[i]),
                "recall": float(per_r[i]),
                "f1": float(per_f[i]),
                "support": int(per_s[i]),
            }
            for i, label in enumerate(labels)
        },
        "rows": len(truth),
    }


def baseline_section(record: Optional[registry.ModelRecord]) -> dict[str, Any]:
    if record is None:
        return {"model_package_arn": None, "version": None, "macro_f1": 0.0, "note": "no approved model in the group"}
    section = {
        "model_package_arn": record.model_package_arn,
        "version": record.version,
        "macro_f1": float(record.macro_f1) if record.macro_f1 is not None else 0.0,
    }
    if record.macro_f1 is None:
        section["note"] = "the approved model has no registered macro_f1; compared against 0.0"
    return section


def quality_gate(macro_f1: float, threshold: float, baseline_macro_f1: float, approval_status: str) -> dict[str, Any]:
    """The gate's verdict on the unseen-occupation macro-F1: `approval_status` if it is at least both the
    threshold and the latest approved model's, otherwise Rejected (NaN fails).

    The reason becomes a CustomerMetadataProperties value of the model package, whose pattern
    (`[\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@]*`, at most 256 characters) allows no comparison signs,
    apostrophes, commas or parentheses: it is written in words.
    """
    failed = []
    if not macro_f1 >= threshold:
        failed.append(f"below the threshold {threshold:.4f}")
    if not macro_f1 >= baseline_macro_f1:
        failed.append(f"below the latest approved model at {baseline_macro_f1:.4f}")
    figure_text = f"unseen occupations macro F1 {macro_f1:.4f}"
    if failed:
        reason = f"rejected: {figure_text} is " + " and ".join(failed)
    else:
        reason = (
            f"passed: {figure_text} is at least the threshold {threshold:.4f} "
            f"and the latest approved model at {baseline_macro_f1:.4f}"
        )
    return {
        "passed": not failed,
        "approval_status": REJECTED if failed else approval_status,
        "reason": reason,
        "threshold": threshold,
    }


def figure(metrics: dict[str, Any], name: str) -> dict[str, Any]:
    """One quality figure of evaluation.json's `figures`."""
    shown = {
        "split": FIGURE_SPLITS[name],
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "expected_calibration_error": metrics["expected_calibration_error"],
        "rows": metrics["rows"],
    }
    if "answered_by" in metrics:
        shown["answered_by"] = metrics["answered_by"]
    return shown


def evaluation_document(
    metrics: dict[str, Any],
    baseline: dict[str, Any],
    gate: dict[str, Any],
    model_info: Optional[dict] = None,
    unseen_titles: Optional[dict[str, Any]] = None,
    training_titles: Optional[dict[str, Any]] = None,
) -> dict:
    """`metrics` (unseen occupations) in SageMaker's layout, both figures under `figures`, the gate's verdict."""
    labels = metrics["labels"]
    matrix = metrics["confusion_matrix"]
    document = {
        METRICS_KEY: {
            "accuracy": _metric(metrics["accuracy"]),
            "macro_f1": _metric(metrics["macro_f1"]),
            "weighted_precision": _metric(metrics["weighted_precision"]),
            "weighted_recall": _metric(metrics["weighted_recall"]),
            "weighted_f1": _metric(metrics["weighted_f1"]),
            "confusion_matrix": {
                actual: {predicted: int(matrix[i][j]) for j, predicted in enumerate(labels)}
                for i, actual in enumerate(labels)
            },
            "expected_calibration_error": _metric(metrics["expected_calibration_error"]),
        },
        "per_major_group": metrics["per_major_group"],
        "baseline": baseline,
        QUALITY_GATE_KEY: gate,
        "test_rows": metrics["rows"],
        "calibration": {"n_bins": CALIBRATION_BINS, "bins": metrics["calibration_bins"]},
        "held_out": HELD_OUT_NOTE,
        FIGURES_KEY: {UNSEEN_OCCUPATIONS: figure(metrics, UNSEEN_OCCUPATIONS)},
    }
    if unseen_titles is not None:
        document[FIGURES_KEY][UNSEEN_TITLES] = figure(unseen_titles, UNSEEN_TITLES)
    if training_titles is not None:
        document["training_titles"] = training_titles
    if model_info:
        document["model"] = {
            key: model_info.get(key)
            for key in (
                "hyperparameters",
                "fitted_on",
                "train_rows",
                "occupations",
                "evaluated_models",
                "known_titles",
                "ambiguous_known_titles",
                "trained_at",
                "sklearn_version",
            )
            if key in model_info
        }
    return document


def _headline(document: dict) -> list[tuple[str, str]]:
    m = document[METRICS_KEY]
    baseline = document["baseline"]
    delta = m["macro_f1"]["value"] - baseline["macro_f1"]
    titles = document[FIGURES_KEY].get(UNSEEN_TITLES)
    headline = []
    if titles:
        headline = [
            ("Unseen titles of known occupations: macro F1 (headline)", f"{titles['macro_f1']:.4f}"),
            ("Unseen titles of known occupations: accuracy", f"{titles['accuracy']:.4f}"),
            (
                "Unseen titles of known occupations: calibration error (top-1)",
                f"{titles['expected_calibration_error']:.4f}",
            ),
            ("Unseen titles of known occupations: test rows", str(titles["rows"])),
        ]
    headline += [
        (f"{FIGURE_NAMES[name]}: answered by {path.replace('_', ' ')}", f"{share:.4f}")
        for name, shown in document[FIGURES_KEY].items()
        for path, share in shown.get("answered_by", {}).items()
    ]
    for kind, fidelity in document.get("training_titles", {}).items():
        if isinstance(fidelity, dict):
            headline += [
                (
                    f"Training titles, {kind}: in their (best-attested) group, served model",
                    f"{fidelity['fidelity']:.4f}",
                ),
                (f"Training titles, {kind}: the same, statistical model alone", f"{fidelity['model_alone']:.4f}"),
                (f"Training titles, {kind}: titles", str(fidelity["titles"])),
            ]
    return headline + [
        ("Unseen occupations (below: gate, per group, matrix): test rows", str(document["test_rows"])),
        ("Accuracy", f"{m['accuracy']['value']:.4f}"),
        ("Macro F1", f"{m['macro_f1']['value']:.4f}"),
        ("Weighted precision", f"{m['weighted_precision']['value']:.4f}"),
        ("Weighted recall", f"{m['weighted_recall']['value']:.4f}"),
        ("Weighted F1", f"{m['weighted_f1']['value']:.4f}"),
        ("Expected calibration error (top-1)", f"{m['expected_calibration_error']['value']:.4f}"),
        (
            "Baseline (latest approved) macro F1",
            f"{baseline['macro_f1']:.4f}"
            + (f" (version {baseline['version']})" if baseline.get("version") is not None else " (none)"),
        ),
        ("Macro F1 minus baseline", f"{delta:+.4f}"),
        ("Quality gate", f"{document[QUALITY_GATE_KEY]['approval_status']}: {document[QUALITY_GATE_KEY]['reason']}"),
    ]


def _group_rows(document: dict) -> list[list[str]]:
    return [
        [
            code,
            MAJOR_GROUPS.get(code, ""),
            f"{v['precision']:.3f}",
            f"{v['recall']:.3f}",
            f"{v['f1']:.3f}",
            str(v["support"]),
        ]
        for code, v in document["per_major_group"].items()
    ]


def _matrix_rows(document: dict) -> tuple[list[str], list[list[str]]]:
    matrix = document[METRICS_KEY]["confusion_matrix"]
    labels = list(matrix)
    return labels, [[actual] + [str(matrix[actual].get(p, 0)) for p in labels] for actual in labels]


def render_markdown(document: dict) -> str:
    def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
        return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
            "| " + " | ".join(row) + " |" for row in rows
        ]

    lines = ["# JobClf model evaluation", "", f"Note: {document['held_out']}.", ""]
    lines += table(["Metric", "Value"], _headline(document))
    if document["baseline"].get("model_package_arn"):
        lines += ["", f"Baseline model package: `{document['baseline']['model_package_arn']}`"]
    if document["baseline"].get("note"):
        lines += ["", f"Note: {document['baseline']['note']}."]
    lines += ["", "## Per major group", ""]
    lines += table(["Group", "Title", "Precision", "Recall", "F1", "Support"], _group_rows(document))
    labels, rows = _matrix_rows(document)
    lines += [
        "",
        "## Confusion matrix",
        "",
        "Rows: actual major group; columns: predicted major group. "
        "confusion_matrix.png shows the same counts, shaded by share of the actual group.",
        "",
    ]
    lines += table(["actual \\ predicted"] + labels, rows)
    lines += ["", "## Calibration (top-1 probability)", ""]
    lines += table(
        ["Confidence", "Rows", "Accuracy", "Mean confidence"],
        [
            [
                f"{b['lower']:.1f}-{b['upper']:.1f}",
                str(b["rows"]),
                f"{b['accuracy']:.3f}",
                f"{b['mean_confidence']:.3f}",
            ]
            for b in document["calibration"]["bins"]
        ],
    )
    return "\n".join(lines) + "\n"


def render_html(document: dict, image_name: str = "confusion_matrix.png") -> str:
    e = html.escape

    def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
        head = "".join(f"<th>{e(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    labels, rows = _matrix_rows(document)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>JobClf model evaluation</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td:nth-child(2){text-align:left}</style>",
        "</head><body><h1>JobClf model evaluation</h1>",
        f"<p>Note: {e(document['held_out'])}.</p>",
        table(["Metric", "Value"], _headline(document)),
    ]
    if document["baseline"].get("model_package_arn"):
        parts.append(f"<p>Baseline model package: <code>{e(document['baseline']['model_package_arn'])}</code></p>")
    if document["baseline"].get("note"):
        parts.append(f"<p>Note: {e(document['baseline']['note'])}.</p>")
    parts += [
        "<h2>Per major group</h2>",
        table(["Group", "Title", "Precision", "Recall", "F1", "Support"], _group_rows(document)),
        "<h2>Confusion matrix</h2>",
        "<p>Rows: actual major group; columns: predicted major group; shading: share of the actual group.</p>",
        f"<img src='{e(image_name)}' alt='confusion matrix heatmap'>",
        table(["actual \\ predicted"] + labels, rows),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _best_groups(probabilities: np.ndarray, classes: Sequence[str]) -> list[str]:
    """The top-1 group of each row, ties lower code first (as ranking.ranked orders them)."""
    by_code = sorted(range(len(classes)), key=lambda i: classes[i])
    return [classes[by_code[i]] for i in probabilities[:, by_code].argmax(axis=1)]


def answered_by_shares(answered_by: Sequence[str]) -> dict[str, float]:
    return {
        path: (sum(p == path for p in answered_by) / len(answered_by) if answered_by else 0.0) for path in ANSWERED_BY
    }


def evaluate(model: KnownTitleClassifier, titles: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    probabilities, answered_by = model.predict_proba_and_paths(list(titles))
    classes = [str(c) for c in model.classes_]
    best = probabilities.argmax(axis=1)
    predicted = [classes[i] for i in best]
    confidences = probabilities[np.arange(len(best)), best]
    metrics = compute_metrics(labels, predicted, confidences, classes)
    metrics["answered_by"] = answered_by_shares(answered_by)
    return metrics


TRAINING_TITLES_NOTE = (
    "the served model on the titles it was fitted on (occupations' own and alternate titles, normalized): "
    "an unambiguous title (one major group) is right in its group, an ambiguous one (several) in a group "
    "with the most evidence (O*NET sources); fidelity with the known titles as served, model_alone without"
)


def training_title_fidelity(model: KnownTitleClassifier) -> dict[str, Any]:
    """evaluation.json's `training_titles`: the served model's top-1 on the titles of its known-titles table."""
    known = model.known
    titles = sorted(known.evidence)
    classes = [str(c) for c in model.classes_]
    served, answered_by = model.predict_proba_and_paths(titles) if titles else (np.zeros((0, len(classes))), [])
    alone = predict_proba(model.model, titles)
    section: dict[str, Any] = {"note": TRAINING_TITLES_NOTE}
    for kind, ambiguous in (("unambiguous", False), ("ambiguous", True)):
        rows = [i for i, title in enumerate(titles) if known.ambiguous(title) == ambiguous]
        best = [known.best_attested(titles[i]) for i in rows]
        section[kind] = {
            "titles": len(rows),
            "fidelity": _share_in(_best_groups(served[rows], classes), best),
            "model_alone": _share_in(_best_groups(alone[rows], classes), best),
            "answered_by_known_title": sum(answered_by[i] == KNOWN_TITLE for i in rows) / len(rows) if rows else 0.0,
        }
    return section


def _share_in(groups: Sequence[str], allowed: Sequence[set]) -> float:
    return sum(group in ok for group, ok in zip(groups, allowed)) / len(groups) if groups else 1.0


def run(
    model_path,
    occupation_test_dir,
    title_test_dir,
    output_dir,
    model_package_group: str,
    min_macro_f1: float,
    approval_status: str,
) -> dict:
    titles, labels = read_labeled_titles(occupation_test_dir)
    title_titles, title_labels = read_labeled_titles(title_test_dir)
    with tempfile.TemporaryDirectory(prefix="jobclf-model-") as work_dir:
        by_occupation, info = load_model(model_path, work_dir, EVALUATED_MODELS["by_occupation"])
        by_title, _ = load_model(model_path, str(Path(work_dir) / "again"), EVALUATED_MODELS["by_title"])
        served, _ = load_model(model_path, str(Path(work_dir) / "served"), MODEL_FILE)
    metrics = evaluate(by_occupation, titles, labels)
    unseen_titles = evaluate(by_title, title_titles, title_labels)
    baseline = baseline_section(registry.latest_approved_model(model_package_group))
    gate = quality_gate(metrics["macro_f1"], min_macro_f1, baseline["macro_f1"], approval_status)
    document = evaluation_document(metrics, baseline, gate, info, unseen_titles, training_title_fidelity(served))
    output = Path(output_dir)
    write_json(document, output / EVALUATION_FILE)
    write_confusion_png(output / "confusion_matrix.png", metrics["confusion_matrix"], metrics["labels"])
    write_text(render_markdown(document), output / "report.md")
    write_text(render_html(document), output / "report.html")
    return document


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="/opt/ml/processing/model", help="directory with model.tar.gz")
    parser.add_argument(
        "--occupation-test", default="/opt/ml/processing/occupation_test", help="test split by occupation (Parquet)"
    )
    parser.add_argument("--title-test", default="/opt/ml/processing/title_test", help="test split by title (Parquet)")
    parser.add_argument("--output", default="/opt/ml/processing/evaluation")
    parser.add_argument(
        "--model-package-group", required=True, help="group whose latest approved model is the baseline"
    )
    parser.add_argument(
        "--min-macro-f1", type=float, required=True, help="the gate's threshold on the unseen-occupation macro-F1"
    )
    parser.add_argument(
        "--approval-status",
        required=True,
        choices=MODEL_APPROVAL_STATUSES,
        help="the status a model that passes the gate is registered with",
    )
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    document = run(
        args.model,
        args.occupation_test,
        args.title_test,
        args.output,
        args.model_package_group,
        args.min_macro_f1,
        args.approval_status,
    )
    m = document[METRICS_KEY]
    titles = document[FIGURES_KEY][UNSEEN_TITLES]
    print(
        f"unseen_titles_rows={titles['rows']}; unseen_titles_accuracy={titles['accuracy']:.4f}; "
        f"unseen_titles_macro_f1={titles['macro_f1']:.4f}; "
        f"unseen_titles_expected_calibration_error={titles['expected_calibration_error']:.4f};"
    )
    print(
        f"unseen occupations: test_rows={document['test_rows']}; accuracy={m['accuracy']['value']:.4f}; "
        f"macro_f1={m['macro_f1']['value']:.4f}; "
        f"expected_calibration_error={m['expected_calibration_error']['value']:.4f}; "
        f"baseline_macro_f1={document['baseline']['macro_f1']:.4f};"
    )
    gate = document[QUALITY_GATE_KEY]
    print(f"quality gate: {gate['approval_status']}: {gate['reason']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
