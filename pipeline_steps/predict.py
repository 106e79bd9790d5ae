"""Batch prediction with the latest approved model of a model package group, streaming part by part.

    python -m pipeline_steps predict --input DIR --output DIR --model-package-group NAME
        --execution-id ID [--execution-date YYYY-MM-DD] [--resource-config PATH]
        [--low-confidence 0.5] [--report-parts DIR]

--input holds the prepared titles (prepared.py's layout: PreprocessPredict's or the EMR titles
job's `titles/` parts). --execution-date "" (the default) means today's UTC date. For each input
part `<stem>.parquet` it writes
    OUTPUT/execution_date=<date>/execution_id=<id>/<stem>.csv
        id,id_generated,title,major_group,major_group_title,confidence,top3,rejection_reason,
        answered_by,source_file,source_row  (top3 as a JSON string): one row per input row, in the
        part's order; rejected rows have empty prediction fields and their reason; answered_by says
        whether the title's O*NET evidence (known_title) or the model answered it
and OUTPUT/execution_date=<date>/execution_id=<id>/report-<host>.json (counts, the model used,
titles per second, and per path the rows answered and the CPU seconds spent; and what the prediction
report merges: rows per major group, answers below --low-confidence, titles with no word the model knows,
the model's training baseline), also written to --report-parts for the PredictionReport step. Parts sort in input order by name, so concatenating them in name order gives
the input back. Each execution has its own folder: two executions on the same date never mix, and
a retried step rewrites the same files.

Memory stays bounded whatever the input size: each part is read, predicted and written BATCH_ROWS
rows at a time. With several instances SageMaker gives each a share of the parts (ShardedByS3Key);
each instance writes the predictions of its own parts and its own report.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import pyarrow.parquet as pq

from pipeline_steps import prepared, registry
from pipeline_steps.baseline import read_baseline
from pipeline_steps.contract import execution_date, prediction_folder
from pipeline_steps.csv_cells import write_csv
from pipeline_steps.dataio import RESOURCE_CONFIG, add_counts, processing_hosts, write_json
from pipeline_steps.errors import InputError, StepError
from pipeline_steps.known_titles import ANSWERED_BY
from pipeline_steps.model import MODEL_ARCHIVE, KnownWords, known_words, load_model
from pipeline_steps.ranking import RECORD_FIELDS, top_k_columns

PREDICTION_FIELDS = (prepared.ID, prepared.ID_GENERATED) + RECORD_FIELDS + (prepared.SOURCE_FILE, prepared.SOURCE_ROW)
# What the model adds to a prepared row: top_k_columns' four, and which path answered.
PREDICTED_FIELDS = ("major_group", "major_group_title", "confidence", "top3", "answered_by")
# SageMaker's pipeline execution ids are lowercase letters and digits; a local run adds dashes.
_EXECUTION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class NoApprovedModel(StepError, LookupError):
    """The model package group has no approved model to predict with."""


def execution_id(value: str) -> str:
    """The execution's folder name; ValueError unless it is a safe, non-empty name."""
    if not _EXECUTION_ID.fullmatch(value or ""):
        raise ValueError(f"execution id must be 1-128 letters, digits, '.', '_' or '-', got {value!r}")
    return value


def output_folder(output_dir, date_text: str, execution: str) -> Path:
    """Where one execution's predictions go: partitioned by date, then keyed by execution."""
    return Path(output_dir) / prediction_folder(date_text, execution)


def input_parts(input_dir) -> list[Path]:
    root = Path(input_dir)
    if not root.is_dir():
        raise InputError(f"input directory {root} does not exist or is not a directory")
    return prepared.ordered_files(root, [".parquet"])


def open_part(source: Path) -> pq.ParquetFile:
    """A prepared part, opened; InputError names the file when it is unreadable or lacks a column."""
    try:
        part = pq.ParquetFile(str(source))
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise InputError(f"cannot read Parquet file {source}: {error}") from error
    missing = [c for c in prepared.COLUMNS if c not in part.schema_arrow.names]
    if missing:
        part.close()
        raise InputError(f"Parquet file {source} lacks column(s) {missing}; it has {part.schema_arrow.names}")
    return part


def prediction_columns(model, columns: dict[str, list]) -> dict[str, list]:
    """PREDICTION_FIELDS of a batch of prepared rows, as columns in row order: a prediction for each
    row, or its rejection reason and empty prediction fields."""
    reasons = columns[prepared.REJECTION_REASON]
    predicted: dict[str, list] = {field: [None] * len(reasons) for field in PREDICTED_FIELDS}
    valid = [position for position, reason in enumerate(reasons) if not reason]
    if valid:
        # Titles repeat (a batch of postings holds many "Registered Nurse"): each distinct one is predicted once.
        normalized = columns[prepared.TITLE_NORMALIZED]
        distinct = {title: index for index, title in enumerate(dict.fromkeys(normalized[p] for p in valid))}
        probabilities, answered_by = model.predict_proba_and_paths(list(distinct))
        indices = [distinct[normalized[position]] for position in valid]
        ranked = top_k_columns(probabilities, [str(c) for c in model.classes_])
        for field, values in zip(PREDICTED_FIELDS, (*ranked, answered_by)):
            column = predicted[field]
            for position, index in zip(valid, indices):
                column[position] = values[index]
    return {**columns, **predicted}


class QualitySignals:
    """What the prediction report counts beside the predictions: answers below a confidence, and titles
    none of whose words the model knows (model.KnownWords; None for a model without word features)."""

    def __init__(self, low_confidence: float, words: Optional[KnownWords]):
        if not 0.0 <= low_confidence <= 1.0:
            raise ValueError(f"low confidence must be from 0 to 1, got {low_confidence}")
        self.low_confidence = low_confidence
        self.words = words

    def low_confidence_rows(self, confidences: Sequence[Optional[float]]) -> int:
        below = self.low_confidence
        return sum(1 for confidence in confidences if confidence is not None and confidence < below)

    def no_known_word_rows(
        self, normalized: Sequence[Optional[str]], reasons: Sequence[Optional[str]]
    ) -> Optional[int]:
        """Rows without a rejection whose title has no known word (each distinct title checked once)."""
        if self.words is None:
            return None
        knows: dict[str, bool] = {}
        count = 0
        for title, reason in zip(normalized, reasons):
            if reason:
                continue
            known = knows.get(title)
            if known is None:
                known = knows[title] = self.words.knows_any(title)
            count += not known
        return count


class PartCounts:
    """The counts of one part's rows, batch by batch as they are predicted: what the instance's report adds up."""

    def __init__(self, signals: QualitySignals):
        self.signals = signals
        self.reasons: Counter = Counter()
        self.groups: Counter = Counter()
        self.paths: Counter = Counter()
        self.rows = self.written = self.low_confidence = 0
        self.no_known_word: Optional[int] = 0 if signals.words is not None else None

    def add(self, columns: dict[str, list], predicted: dict[str, list]) -> None:
        """A batch of prepared rows (`columns`) and prediction_columns' answer for them (`predicted`)."""
        self.rows += len(columns[prepared.ID])
        self.written += len(predicted[prepared.ID])
        self.reasons.update(reason for reason in predicted["rejection_reason"] if reason)
        self.groups.update(group for group in predicted["major_group"] if group)
        self.paths.update(path for path in predicted["answered_by"] if path)
        self.low_confidence += self.signals.low_confidence_rows(predicted["confidence"])
        if self.no_known_word is not None:
            normalized = columns[prepared.TITLE_NORMALIZED]
            self.no_known_word += self.signals.no_known_word_rows(normalized, predicted["rejection_reason"])

    def result(self, seconds: float) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "written": self.written,
            "reasons": dict(self.reasons),
            "groups": dict(self.groups),
            "paths": dict(self.paths),
            "seconds": seconds,
            "low_confidence": self.low_confidence,
            "no_known_word": self.no_known_word,
        }


def predict_part(
    model, source: Path, target: Path, batch_rows: int = prepared.BATCH_ROWS, signals: Optional[QualitySignals] = None
) -> dict[str, Any]:
    """Predict one prepared part into one CSV, batch by batch; the part's counts and predict seconds."""
    part = open_part(source)
    counts = PartCounts(signals or QualitySignals(0.0, None))
    seconds = 0.0
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    with part, temporary.open("w", encoding="utf-8", newline="") as handle:
        write_csv(handle, {field: [] for field in PREDICTION_FIELDS}, PREDICTION_FIELDS)
        for batch in part.iter_batches(batch_size=batch_rows, columns=list(prepared.COLUMNS)):
            columns = batch.to_pydict()
            started = time.perf_counter()
            predicted = prediction_columns(model, columns)
            seconds += time.perf_counter() - started
            write_csv(handle, predicted, PREDICTION_FIELDS, header=False)
            counts.add(columns, predicted)
    os.replace(str(temporary), str(target))
    return counts.result(seconds)


def summarize(
    parts: dict[str, dict[str, Any]],
    path_seconds: Optional[dict[str, float]] = None,
    signals: Optional[QualitySignals] = None,
) -> dict[str, Any]:
    """The counts of every part this instance predicted; `path_seconds`: the model's CPU seconds per path."""
    signals = signals or QualitySignals(0.0, None)
    rows = sum(p["rows"] for p in parts.values())
    no_known_word = [p["no_known_word"] for p in parts.values()]
    reasons: dict = {}
    groups: dict = {}
    paths: dict = {}
    for part in parts.values():
        reasons, groups = add_counts(reasons, part["reasons"]), add_counts(groups, part["groups"])  # keys sorted
        paths = add_counts(paths, part["paths"])
    rejected = sum(reasons.values())
    seconds = sum(p["seconds"] for p in parts.values())
    predicted = rows - rejected
    return {
        "parts": {name: part["rows"] for name, part in parts.items()},
        "input_rows": rows,
        "output_rows": sum(p["written"] for p in parts.values()),
        "predicted_rows": predicted,
        "rejected_rows": rejected,
        "rejections_by_reason": reasons,
        "predictions_by_major_group": groups,
        "predict_seconds": round(seconds, 3),
        "titles_per_second": round(predicted / seconds, 1) if seconds > 0 and predicted else None,
        # Rows per path; cpu_seconds: in that path's probabilities only (distinct titles of a batch once each).
        "answered_by": {
            path: {"rows": paths.get(path, 0), "cpu_seconds": round((path_seconds or {}).get(path, 0.0), 3)}
            for path in ANSWERED_BY
        },
        # The prediction report's signals (prediction_report.py merges the instances' counts).
        "low_confidence": {"below": signals.low_confidence, "rows": sum(p["low_confidence"] for p in parts.values())},
        "no_known_word_rows": None if signals.words is None or None in no_known_word else sum(no_known_word),
        "known_words": None if signals.words is None else len(signals.words),
    }


def instance_report(
    partition: str, execution: str, host: str, group: str, record: registry.ModelRecord, baseline, counts: dict
) -> dict[str, Any]:
    """This instance's report: what it predicted with (the model and its TrainingBaseline or None) and
    summarize's counts."""
    return {
        "execution_date": partition,
        "execution_id": execution,
        "host": host,
        "model_package_group": group,
        "model_package_arn": record.model_package_arn,
        "model_version": record.version,
        "model_data_uri": record.model_data_uri,
        **counts,
        "baseline": None if baseline is None else baseline.document(),
    }


def load_latest_model(group: str, work_dir: str):
    """(model, ModelRecord, its TrainingBaseline or None) of the group's latest approved model, fetched and
    extracted in work_dir."""
    record = registry.latest_approved_model(group)
    if record is None:
        raise NoApprovedModel(f"no approved model in group {group}: run the train branch first")
    archive = registry.fetch(record.model_data_uri, Path(work_dir) / MODEL_ARCHIVE)
    model_dir = Path(work_dir) / "model"
    model, _ = load_model(archive, str(model_dir))
    try:
        baseline = read_baseline(model_dir)
    except ValueError as error:
        raise InputError(f"model {record.model_package_arn}: {error}") from error
    return model, record, baseline


def run(
    input_dir,
    output_dir,
    group: str,
    date_text: Optional[str],
    execution: str,
    resource_config=RESOURCE_CONFIG,
    batch_rows: int = prepared.BATCH_ROWS,
    low_confidence: float = 0.5,
    report_parts_dir=None,
) -> dict:
    partition, execution = execution_date(date_text), execution_id(execution)  # checked before any work
    host, hosts = processing_hosts(resource_config)
    parts = input_parts(input_dir)
    if not parts and len(hosts) == 1:  # with several instances, an empty share is SageMaker's doing
        raise InputError(f"no Parquet files (*.parquet) under {input_dir}")
    for part in parts:  # every part checked before any work
        open_part(part).close()
    with tempfile.TemporaryDirectory(prefix="jobclf-model-") as work_dir:
        model, record, baseline = load_latest_model(group, work_dir)
    signals = QualitySignals(low_confidence, known_words(model.model))
    target = output_folder(output_dir, partition, execution)
    counts = {}
    for part in parts:
        stem = prepared.relative_stem(part, Path(input_dir))
        counts[f"{stem}.csv"] = predict_part(model, part, target / f"{stem}.csv", batch_rows, signals)
    summary = instance_report(
        partition, execution, host, group, record, baseline, summarize(counts, model.seconds, signals)
    )
    write_json(summary, target / f"report-{host}.json")
    if report_parts_dir is not None:
        write_json(summary, Path(report_parts_dir) / f"report-{host}.json")
    return summary


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", default="/opt/ml/processing/input", help="prepared titles (Parquet parts)")
    parser.add_argument("--output", default="/opt/ml/processing/output")
    parser.add_argument("--model-package-group", required=True)
    parser.add_argument("--execution-id", required=True, help="the pipeline execution: one output folder each")
    parser.add_argument("--execution-date", default="", help="YYYY-MM-DD; empty: today's UTC date")
    parser.add_argument("--resource-config", default=RESOURCE_CONFIG, help="SageMaker's host list of this job")
    parser.add_argument(
        "--low-confidence", type=float, default=0.5, help="count the answers whose confidence is below this (0 to 1)"
    )
    parser.add_argument("--report-parts", help="also write this instance's report here, for PredictionReport")
    args = parser.parse_args(argv)
    try:
        args.execution_date = execution_date(args.execution_date)
        args.execution_id = execution_id(args.execution_id)
        QualitySignals(args.low_confidence, None)
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    summary = run(
        args.input,
        args.output,
        args.model_package_group,
        args.execution_date,
        args.execution_id,
        args.resource_config,
        low_confidence=args.low_confidence,
        report_parts_dir=args.report_parts,
    )
    print(
        f"execution_date={summary['execution_date']}; execution_id={summary['execution_id']}; "
        f"host={summary['host']}; model_version={summary['model_version']}; parts={len(summary['parts'])}; "
        f"rows={summary['input_rows']}; predicted={summary['predicted_rows']}; "
        f"rejected={summary['rejected_rows']}; titles_per_second={summary['titles_per_second']};"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
