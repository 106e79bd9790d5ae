"""The prediction report of a predict execution (pipeline_steps/prediction_report.py) as `jobclf executions show`
prints it: read from the environment's predictions bucket, or from a local run's work dir.

The report lies at predictions/execution_date=<date>/execution_id=<id>/prediction-report.json. Its date is the
execution's `execution_date` parameter, or, when that is empty, the UTC date the steps ran on: the dates from
the execution's start to its last change are tried in turn (an execution that ran over midnight).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jobclf_cli.aws import CliError, Deployment, error_code
from pipeline_steps.contract import (
    PREDICTION_REPORT_CHART,
    PREDICTION_REPORT_FILE,
    PREDICTION_REPORT_FORMAT,
    PREDICTIONS_PREFIX,
    prediction_folder,
)

# The steps that write it, one per predict path (workflow/definition/steps.py).
REPORT_STEPS = ("PredictionReport", "PredictionReportAfterEtl")


def writes_a_report(steps: Sequence[dict[str, Any]]) -> bool:
    """Whether an execution ran (or runs) a step that writes a prediction report."""
    return any(step.get("StepName") in REPORT_STEPS for step in steps)


def report_key(date_text: str, execution_id: str, name: str = PREDICTION_REPORT_FILE) -> str:
    return f"{PREDICTIONS_PREFIX}{prediction_folder(date_text, execution_id)}/{name}"


def candidate_dates(parameters: Sequence[dict[str, Any]], execution: dict[str, Any]) -> list[str]:
    """The execution_date parameter when set; else every UTC date from the execution's start to its last change."""
    given = next((p.get("Value") for p in parameters if p.get("Name") == "execution_date"), "")
    if given:
        return [given]
    start = execution.get("CreationTime") or datetime.datetime.now(datetime.UTC)
    end = execution.get("LastModifiedTime") or start
    day, dates = start.astimezone(datetime.UTC).date(), []
    while day <= end.astimezone(datetime.UTC).date():
        dates.append(day.isoformat())
        day += datetime.timedelta(days=1)
    return dates


def aws_report(
    deployment: Deployment, execution_id: str, parameters: Sequence[dict[str, Any]], execution: dict[str, Any]
) -> tuple[str, dict[str, Any] | None]:
    """(where the report is, or was looked for; the report, or None when it is not written)."""
    bucket = deployment.predictions_bucket
    if not bucket:
        raise CliError(
            f"the predictions bucket of {deployment.config.stack_name} is unknown ({deployment.names_from}): "
            "its name is a stack output, PredictionsBucketName"
        )
    from botocore.exceptions import ClientError

    uris = []
    for date_text in candidate_dates(parameters, execution):
        key = report_key(date_text, execution_id)
        uris.append(f"s3://{bucket}/{key}")
        try:
            body = deployment.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error_code(error) not in ("NoSuchKey", "404"):
                raise
            continue
        return uris[-1], report_document(body, uris[-1])
    return " or ".join(uris), None


def local_report(s3_root: Path, predictions_bucket: str, execution_id: str) -> tuple[str, dict[str, Any] | None]:
    """(where, the report or None) of a local execution: the local run maps s3://bucket/key to s3_root/bucket/key."""
    pattern = report_key("*", execution_id)
    found = sorted((s3_root / predictions_bucket).glob(pattern))
    if not found:
        return str(s3_root / predictions_bucket / pattern), None
    return str(found[0]), report_document(found[0].read_bytes(), str(found[0]))


def report_document(data: bytes, where: str) -> dict[str, Any]:
    """A prediction report's JSON object; CliError naming `where` when it is none."""
    try:
        document = json.loads(data.decode("utf-8"))
    except ValueError as error:  # UnicodeDecodeError too
        raise CliError(f"prediction report {where} is not JSON text: {error}") from None
    if not isinstance(document, dict) or document.get("format") != PREDICTION_REPORT_FORMAT:
        raise CliError(f"prediction report {where} is not a {PREDICTION_REPORT_FORMAT} document")
    return document


def report_lines(where: str, report: dict[str, Any] | None) -> list[str]:
    """The report's summary and where it (and its chart) is; or that it is not there."""
    from pipeline_steps.prediction_report import summary_lines

    if report is None:
        return [f"Prediction report: not written (yet): {where}"]
    chart = where[: -len(PREDICTION_REPORT_FILE)] + PREDICTION_REPORT_CHART
    return [*summary_lines(report), f"  report: {where}", f"  chart:  {chart}"]
