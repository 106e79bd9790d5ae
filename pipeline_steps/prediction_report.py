"""The prediction report of a predict execution: what came in, what the model answered and how, and how far
the answers' major groups are from the model's own training titles.

    python -m pipeline_steps prediction-report --parts DIR --output DIR [--metrics-namespace NAMESPACE]
        --min-rows-for-shares N --min-rows-for-drift N --max-rejected-share X --max-low-confidence-share X
        --max-no-known-word-share X --max-population-stability-index X --max-jensen-shannon-distance X

--parts holds the BatchPredict instances' reports (`report-<host>.json`, one per instance, with their
counts). They are merged by adding counts, never by averaging shares, so the report of an execution is the
same whatever the number of instances (`merge`, `build`: pure). It is written to
    OUTPUT/execution_date=<date>/execution_id=<id>/prediction-report.json  (and prediction-report.png)
beside the predictions, and its figures are put as CloudWatch metrics in NAMESPACE (metrics.py), where the
environment's alarms watch them.

The figures (of the predicted rows unless said otherwise):
- rows in (read from the prepared titles) and out (written to the predictions), predicted and rejected;
- the share of rejected rows (of the rows in), and per reason;
- the share answered by each path (known_titles.ANSWERED_BY);
- the share of answers whose confidence is below BatchPredict's --low-confidence;
- the share of titles none of whose words the model knows (model.KnownWords);
- the predicted major groups against the model's training titles (baseline.py): population stability
  index and Jensen-Shannon distance (drift.py).
Each figure with a configured maximum is *judged* when it rests on enough rows (min-rows-for-shares for
the shares, min-rows-for-drift for the two distances): a judged figure above its maximum is *breached*.
Only judged figures become metrics, so an alarm never fires on a handful of rows; the counts always do.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Optional

from pipeline_steps import drift, metrics, png
from pipeline_steps.baseline import TrainingBaseline
from pipeline_steps.contract import (
    METRIC_ANSWERED_SHARE,
    METRIC_INPUT_ROWS,
    METRIC_JENSEN_SHANNON_DISTANCE,
    METRIC_LOW_CONFIDENCE_SHARE,
    METRIC_NO_KNOWN_WORD_SHARE,
    METRIC_POPULATION_STABILITY_INDEX,
    METRIC_PREDICTED_ROWS,
    METRIC_REJECTED_ROWS,
    METRIC_REJECTED_SHARE,
    PATH_DIMENSION,
    PREDICTION_REPORT_CHART,
    PREDICTION_REPORT_FILE,
    PREDICTION_REPORT_FORMAT,
    REASON_DIMENSION,
    limit_option,
    prediction_folder,
)
from pipeline_steps.contract import PredictionReportLimits as Limits
from pipeline_steps.dataio import add_counts, read_json, write_json
from pipeline_steps.errors import InputError
from pipeline_steps.known_titles import ANSWERED_BY

SHARE_DIGITS = 6
PART_PATTERN = "report-*.json"
# What `merge` reads of each instance's report (predict.instance_report writes them).
PART_KEYS = frozenset(
    {
        "execution_date",
        "execution_id",
        "host",
        "model_package_group",
        "model_package_arn",
        "model_version",
        "model_data_uri",
        "input_rows",
        "output_rows",
        "predicted_rows",
        "rejected_rows",
        "rejections_by_reason",
        "predictions_by_major_group",
        "answered_by",
        "low_confidence",
        "no_known_word_rows",
        "baseline",
    }
)


# Each judged figure: its metric name, where the report holds it, its maximum, and the rows it rests on.
CHECKS = (
    (METRIC_REJECTED_SHARE, ("rejected", "share"), "max_rejected_share", "input"),
    (METRIC_LOW_CONFIDENCE_SHARE, ("low_confidence", "share"), "max_low_confidence_share", "predicted"),
    (METRIC_NO_KNOWN_WORD_SHARE, ("no_known_word", "share"), "max_no_known_word_share", "predicted"),
    (
        METRIC_POPULATION_STABILITY_INDEX,
        ("drift", "population_stability_index"),
        "max_population_stability_index",
        "predicted",
    ),
    (METRIC_JENSEN_SHANNON_DISTANCE, ("drift", "jensen_shannon_distance"), "max_jensen_shannon_distance", "predicted"),
)
DRIFT_METRICS = (METRIC_POPULATION_STABILITY_INDEX, METRIC_JENSEN_SHANNON_DISTANCE)


def share(count: Optional[int], total: int) -> Optional[float]:
    return None if count is None or not total else round(count / total, SHARE_DIGITS)


# --- Merging the instances' reports (pure) ------------------------------------------------------------


def _the_same(parts: Sequence[Mapping[str, Any]], key: str, what: str) -> Any:
    values = {repr(part.get(key)): part.get(key) for part in parts}
    if len(values) > 1:
        by_host = ", ".join(f"{part.get('host')}: {part.get(key)!r}" for part in parts)
        raise InputError(f"the BatchPredict instances disagree on {what} ({by_host}); one execution's report needs one")
    return next(iter(values.values()))


def merge(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The counts of every instance's report added up; InputError when they are not of one execution and model.

    Every instance looks the latest approved model up on its own: one approved during the execution would
    answer part of it, and its report would mix two models, so that is refused."""
    if not parts:
        raise InputError("no BatchPredict report to merge")
    execution = _the_same(parts, "execution_id", "the execution")
    model_arn = _the_same(parts, "model_package_arn", "the model (one was approved while the execution ran)")
    below = _the_same([p["low_confidence"] for p in parts], "below", "the low-confidence threshold")
    baseline = _the_same(parts, "baseline", "the training baseline")
    reasons: dict = {}
    groups: dict = {}
    for part in parts:
        reasons = add_counts(reasons, part["rejections_by_reason"])
        groups = add_counts(groups, part["predictions_by_major_group"])
    no_known_word = [part["no_known_word_rows"] for part in parts]
    return {
        "execution_id": execution,
        "execution_dates": sorted({part["execution_date"] for part in parts}),
        "hosts": sorted(part["host"] for part in parts),
        "model": {
            "model_package_group": parts[0]["model_package_group"],
            "model_package_arn": model_arn,
            "model_version": parts[0]["model_version"],
            "model_data_uri": parts[0]["model_data_uri"],
        },
        **{
            key: sum(part[key] for part in parts)
            for key in ("input_rows", "output_rows", "predicted_rows", "rejected_rows")
        },
        "rejections_by_reason": reasons,
        "predictions_by_major_group": groups,
        "answered_by": {path: sum(part["answered_by"][path]["rows"] for part in parts) for path in ANSWERED_BY},
        "low_confidence_below": below,
        "low_confidence_rows": sum(part["low_confidence"]["rows"] for part in parts),
        "no_known_word_rows": None if None in no_known_word else sum(no_known_word),
        "baseline": baseline,
    }


# --- The report's figures and judgement (pure) ----------------------------------------------------------


def build(totals: Mapping[str, Any], limits: Limits) -> dict[str, Any]:
    """The report of merged counts: the figures, each check against `limits`, and which are breached."""
    rows_in, predicted = totals["input_rows"], totals["predicted_rows"]
    baseline = (
        None
        if totals["baseline"] is None
        else TrainingBaseline.of_document(totals["baseline"], "the report's baseline")
    )
    training_counts = dict(baseline.major_groups) if baseline else {}
    predicted_counts = totals["predictions_by_major_group"]
    groups = drift.bins(training_counts, predicted_counts)
    report: dict[str, Any] = {
        "format": PREDICTION_REPORT_FORMAT,
        "execution_id": totals["execution_id"],
        "execution_dates": list(totals["execution_dates"]),
        "hosts": list(totals["hosts"]),
        "model": dict(totals["model"]),
        "rows": {
            "input": rows_in,
            "output": totals["output_rows"],
            "predicted": predicted,
            "rejected": totals["rejected_rows"],
        },
        "rejected": {
            "share": share(totals["rejected_rows"], rows_in),
            "by_reason": {
                reason: {"rows": n, "share": share(n, rows_in)} for reason, n in totals["rejections_by_reason"].items()
            },
        },
        "answered_by": {path: {"rows": n, "share": share(n, predicted)} for path, n in totals["answered_by"].items()},
        "low_confidence": {
            "below": totals["low_confidence_below"],
            "rows": totals["low_confidence_rows"],
            "share": share(totals["low_confidence_rows"], predicted),
        },
        "no_known_word": {
            "rows": totals["no_known_word_rows"],
            "share": share(totals["no_known_word_rows"], predicted),
        },
        "major_groups": {
            "groups": groups,
            "training_rows": baseline.rows if baseline else None,
            "training": _shares_of(training_counts, groups),
            "predicted_rows": {group: predicted_counts.get(group, 0) for group in groups},
            "predicted": _shares_of(predicted_counts, groups),
        },
        "drift": {
            "population_stability_index": _rounded(drift.population_stability_index(training_counts, predicted_counts)),
            "jensen_shannon_distance": _rounded(drift.jensen_shannon_distance(training_counts, predicted_counts)),
            "smoothing_rows_per_group": drift.SMOOTHING,
            "against": None if baseline is None else "the model's training titles (model.baseline.json)",
        },
        "limits": asdict(limits),
    }
    report["checks"] = [_check(report, limits, *check) for check in CHECKS]
    report["breached"] = [check["figure"] for check in report["checks"] if check["breached"]]
    return report


def _shares_of(counts: Mapping[str, int], groups: Sequence[str]) -> dict[str, float]:
    total = sum(counts.values())
    return {group: share(counts.get(group, 0), total) or 0.0 for group in groups}


def _rounded(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, SHARE_DIGITS)


def _check(report: Mapping[str, Any], limits: Limits, figure: str, where: tuple, maximum_name: str, base: str) -> dict:
    value = report[where[0]][where[1]]
    rows = report["rows"][base]
    minimum = limits.min_rows_for_drift if figure in DRIFT_METRICS else limits.min_rows_for_shares
    maximum = getattr(limits, maximum_name)
    if value is None and not rows:
        note = f"no {base} rows"
    elif value is None:
        note = (
            "no training baseline in the model's archive"
            if figure in DRIFT_METRICS
            else "the model has no word features"
        )
    elif rows < minimum:
        note = f"only {rows} {base} rows, judged from {minimum}"
    else:
        note = ""
    judged = not note
    return {
        "figure": figure,
        "value": value,
        "maximum": maximum,
        "judged": judged,
        "breached": judged and value > maximum,
        "not_judged_because": note or None,
    }


def metric_data(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The report's figures as MetricDatum entries: the counts, and every judged figure (with the per-reason
    and per-path shares of a judged rejected share and predicted rows)."""
    rows = report["rows"]
    data = [
        metrics.datum(METRIC_INPUT_ROWS, rows["input"], "Count"),
        metrics.datum(METRIC_PREDICTED_ROWS, rows["predicted"], "Count"),
        metrics.datum(METRIC_REJECTED_ROWS, rows["rejected"], "Count"),
    ]
    judged = {check["figure"]: check for check in report["checks"] if check["judged"]}
    for figure, check in judged.items():
        data.append(metrics.datum(figure, check["value"], "None"))
    if METRIC_REJECTED_SHARE in judged:
        for reason, counted in report["rejected"]["by_reason"].items():
            data.append(metrics.datum(METRIC_REJECTED_SHARE, counted["share"], "None", {REASON_DIMENSION: reason}))
    if rows["predicted"] >= report["limits"]["min_rows_for_shares"]:
        for path, counted in report["answered_by"].items():
            data.append(metrics.datum(METRIC_ANSWERED_SHARE, counted["share"], "None", {PATH_DIMENSION: path}))
    return data


# --- In words and as a chart ------------------------------------------------------------------------------


def _percent(value: Optional[float]) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def summary_lines(report: Mapping[str, Any]) -> list[str]:
    """The report in a few lines: the CLI, the local run and the step's log print these."""
    rows, model = report["rows"], report["model"]
    checks = {check["figure"]: check for check in report["checks"]}

    def judged(figure: str, text: str) -> str:
        check = checks[figure]
        if check["not_judged_because"]:
            return f"{text} (not judged: {check['not_judged_because']})"
        verdict = "ABOVE" if check["breached"] else "within"
        maximum = check["maximum"]
        limit = _percent(maximum) if figure not in DRIFT_METRICS else f"{maximum:g}"
        return f"{text} ({verdict} the maximum {limit})"

    reasons = ", ".join(f"{reason} {counted['rows']}" for reason, counted in report["rejected"]["by_reason"].items())
    paths = ", ".join(f"{path} {_percent(counted['share'])}" for path, counted in report["answered_by"].items())
    distances = report["drift"]
    psi, js = distances["population_stability_index"], distances["jensen_shannon_distance"]
    lines = [
        f"Prediction report of execution {report['execution_id']} (model version {model['model_version']}):",
        f"  rows: {rows['input']} in, {rows['output']} out: {rows['predicted']} predicted, {rows['rejected']} rejected",
        "  " + judged(METRIC_REJECTED_SHARE, f"rejected: {_percent(report['rejected']['share'])}" + (f" ({reasons})" if reasons else "")),
        f"  answered by: {paths}",
        "  " + judged(METRIC_LOW_CONFIDENCE_SHARE, f"confidence below {report['low_confidence']['below']:g}: "
                      f"{_percent(report['low_confidence']['share'])}"),
        "  " + judged(METRIC_NO_KNOWN_WORD_SHARE, f"no word the model knows: {_percent(report['no_known_word']['share'])}"),
        "  major groups against the training titles: "
        + judged(METRIC_POPULATION_STABILITY_INDEX, "PSI " + ("-" if psi is None else f"{psi:.4f}")) + ", "
        + judged(METRIC_JENSEN_SHANNON_DISTANCE, "Jensen-Shannon distance " + ("-" if js is None else f"{js:.4f}")),
    ]  # fmt: skip
    breached = [checks[f] for f in report["breached"]]
    lines.append(
        "  alarms: "
        + (
            ", ".join(f"{c['figure']} {c['value']:g} > {c['maximum']:g}" for c in breached)
            if breached
            else "no figure above its maximum"
        )
    )
    return lines


def chart(report: Mapping[str, Any]) -> list[list[png.RGB]]:
    """The training and predicted major-group shares side by side, with the distances in the title."""
    groups = report["major_groups"]
    labels = groups["groups"] or ["--"]
    training = [groups["training"].get(g, 0.0) for g in groups["groups"]] or [0.0]
    predicted = [groups["predicted"].get(g, 0.0) for g in groups["groups"]] or [0.0]
    psi, js = report["drift"]["population_stability_index"], report["drift"]["jensen_shannon_distance"]
    title = [
        f"Major groups: training titles vs execution {report['execution_id']}",
        f"PSI {'-' if psi is None else f'{psi:.3f}'}   JS distance {'-' if js is None else f'{js:.3f}'}   "
        f"{report['rows']['predicted']} predicted rows   model version {report['model']['model_version']}",
    ]
    names = ("training titles" if groups["training_rows"] else "no training baseline", "this execution")
    return png.paired_bars(labels, training, predicted, names, title)


# --- The step: read, merge, write, put ----------------------------------------------------------------------


def read_parts(parts_dir) -> list[dict[str, Any]]:
    root = Path(parts_dir)
    files = sorted(root.rglob(PART_PATTERN)) if root.is_dir() else []
    if not files:
        raise InputError(f"no BatchPredict reports ({PART_PATTERN}) under {root}")
    parts = []
    for path in files:
        try:
            part = read_json(path)
        except ValueError as error:
            raise InputError(f"{path}: not a JSON report ({error})") from error
        missing = sorted(PART_KEYS - set(part)) if isinstance(part, dict) else sorted(PART_KEYS)
        if missing:
            raise InputError(f"{path}: not a BatchPredict instance report (it lacks {missing})")
        parts.append(part)
    return parts


def run(parts_dir, output_dir, limits: Limits, namespace: Optional[str]) -> dict[str, Any]:
    """Merge, build and write the report beside the predictions (of each date the instances wrote), then put
    its metrics; the report."""
    report = build(merge(read_parts(parts_dir)), limits)
    data = metric_data(report)
    report["metrics"] = {
        "namespace": namespace,
        "published": sorted({entry["MetricName"] for entry in data}) if namespace else [],
    }
    pixels = chart(report)
    for date in report["execution_dates"]:
        folder = Path(output_dir) / prediction_folder(date, report["execution_id"])
        write_json(report, folder / PREDICTION_REPORT_FILE)
        png.write_png(folder / PREDICTION_REPORT_CHART, pixels)
    if namespace:
        metrics.put(namespace, data)
    return report


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="prediction-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", required=True, help="the BatchPredict instances' report-<host>.json files")
    parser.add_argument("--output", required=True, help="predictions root: execution_date=<date>/execution_id=<id>/")
    parser.add_argument("--metrics-namespace", default="", help="CloudWatch namespace; empty: put no metrics")
    for limit in fields(Limits):
        parser.add_argument(limit_option(limit.name), type=int if limit.type in (int, "int") else float, required=True)
    args = parser.parse_args(argv)
    try:
        args.limits = Limits(**{limit.name: getattr(args, limit.name) for limit in fields(Limits)})
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    report = run(args.parts, args.output, args.limits, args.metrics_namespace or None)
    print("\n".join(summary_lines(report)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
