"""Batch prediction with the latest approved model of a model package group.

    python -m pipeline_steps predict --input DIR --output DIR --model-package-group NAME
        [--execution-date YYYY-MM-DD]

--input is preprocess-predict's output (titles.parquet). --execution-date "" (the default) means
today's UTC date. Writes, replacing any earlier run for the same date:
    OUTPUT/execution_date=<date>/predictions.csv  id,title,major_group,major_group_title,
        confidence,top3,rejection_reason  (top3 as a JSON string), one row per input row, in order;
        rejected rows have empty prediction fields and their reason
    OUTPUT/execution_date=<date>/report.json      counts, the model used, titles per second
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from collections.abc import Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Optional

from pipeline_steps import registry
from pipeline_steps.dataio import StepError, count_by, read_parquet_table, write_json, write_text
from pipeline_steps.inference import CSV_FIELDS, classify, rejected_record, to_csv
from pipeline_steps.model import MODEL_ARCHIVE, load_model

PREDICTION_FIELDS = ("id",) + CSV_FIELDS
INPUT_COLUMNS = ("row_number", "id", "title", "rejection_reason")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class NoApprovedModel(StepError, LookupError):
    """The model package group has no approved model to predict with."""


def execution_date(value: Optional[str], today: Optional[date] = None) -> str:
    """The partition date: `value` if it is a real YYYY-MM-DD date, today's UTC date if empty."""
    text = (value or "").strip()
    if not text:
        return (today or datetime.now(timezone.utc).date()).isoformat()
    if not _DATE.fullmatch(text):
        raise ValueError(f"execution date must be YYYY-MM-DD or empty, got {value!r}")
    try:
        return datetime.strptime(text, "%Y-%m-%d").date().isoformat()
    except ValueError as error:
        raise ValueError(f"execution date {value!r} is not a calendar date: {error}") from error


def read_titles(input_dir) -> dict[str, list]:
    """preprocess-predict's columns, sorted by row_number."""
    table = read_parquet_table(input_dir, INPUT_COLUMNS)
    columns = {name: table.column(name).to_pylist() for name in INPUT_COLUMNS}
    order = sorted(range(table.num_rows), key=lambda i: columns["row_number"][i])
    return {name: [values[i] for i in order] for name, values in columns.items()}


def predict_rows(model, titles: Sequence[Optional[str]], reasons: Sequence[Optional[str]]) -> list[dict[str, Any]]:
    """A record per row: the upstream rejection where there is one, a prediction otherwise."""
    to_classify = [i for i, reason in enumerate(reasons) if reason is None]
    predicted = classify(model, [titles[i] for i in to_classify])
    records: list[dict[str, Any]] = [
        rejected_record(title, reason) if reason is not None else {} for title, reason in zip(titles, reasons)
    ]
    for position, record in zip(to_classify, predicted):
        records[position] = record
    return records


def summarize(records: Sequence[dict[str, Any]], seconds: float) -> dict[str, Any]:
    rejected = [r["rejection_reason"] for r in records if r["rejection_reason"] is not None]
    predicted = len(records) - len(rejected)
    return {
        "input_rows": len(records),
        "predicted_rows": predicted,
        "rejected_rows": len(rejected),
        "rejections_by_reason": count_by(rejected),
        "predictions_by_major_group": count_by(r["major_group"] for r in records if r["major_group"]),
        "predict_seconds": round(seconds, 3),
        "titles_per_second": round(predicted / seconds, 1) if seconds > 0 and predicted else None,
    }


def load_latest_model(group: str, work_dir: str):
    """(model, ModelRecord) of the group's latest approved model, fetched and extracted in work_dir."""
    record = registry.latest_approved_model(group)
    if record is None:
        raise NoApprovedModel(f"no approved model in group {group}: run the train branch first")
    archive = registry.fetch(record.model_data_uri, Path(work_dir) / MODEL_ARCHIVE)
    model, _ = load_model(archive, str(Path(work_dir) / "model"))
    return model, record


def run(input_dir, output_dir, group: str, date_text: Optional[str]) -> dict:
    partition = execution_date(date_text)  # checked before any work
    columns = read_titles(input_dir)
    with tempfile.TemporaryDirectory(prefix="jobclf-model-") as work_dir:
        model, record = load_latest_model(group, work_dir)
    started = time.perf_counter()
    records = predict_rows(model, columns["title"], columns["rejection_reason"])
    seconds = time.perf_counter() - started
    ids = [{"id": "" if value is None else str(value)} for value in columns["id"]]
    target = Path(output_dir) / f"execution_date={partition}"
    write_text(to_csv(records, PREDICTION_FIELDS, extra=ids), target / "predictions.csv")
    summary = {
        "execution_date": partition,
        "model_package_group": group,
        "model_package_arn": record.model_package_arn,
        "model_version": record.version,
        "model_data_uri": record.model_data_uri,
        **summarize(records, seconds),
    }
    write_json(summary, target / "report.json")
    return summary


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="predict", description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", default="/opt/ml/processing/input", help="preprocess-predict output")
    parser.add_argument("--output", default="/opt/ml/processing/output")
    parser.add_argument("--model-package-group", required=True)
    parser.add_argument("--execution-date", default="", help="YYYY-MM-DD; empty: today's UTC date")
    args = parser.parse_args(argv)
    try:
        args.execution_date = execution_date(args.execution_date)
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    summary = run(args.input, args.output, args.model_package_group, args.execution_date)
    print(
        f"execution_date={summary['execution_date']}; model_version={summary['model_version']}; "
        f"rows={summary['input_rows']}; predicted={summary['predicted_rows']}; "
        f"rejected={summary['rejected_rows']}; titles_per_second={summary['titles_per_second']};"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
