"""Figures as CloudWatch metrics: PutMetricData requests, sent to CloudWatch or, in the local run, recorded.

Two backends, chosen by the environment at call time (as registry.py chooses its own):
- LOCAL when JOBCLF_LOCAL_METRICS names a folder: each request is written there as
  `PutMetricData-<process id>-<n>.json`, exactly the keyword arguments boto3 would send (the timestamp as ISO 8601 text);
  the local run checks each against CloudWatch's contract (workflow/contracts) and nothing leaves the machine.
- CLOUDWATCH otherwise: boto3's put_metric_data, as the processing job's role, whose permission is scoped
  to the environment's namespace (the `cloudwatch:namespace` condition key).

A request holds at most MAX_METRICS_PER_REQUEST data: PutMetricData takes up to 1,000 metrics per request
today (CloudWatch API reference, PutMetricData; older versions of it said 20); the report has about 20, and
chunking keeps any count within either limit.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

LOCAL_METRICS_ENV = "JOBCLF_LOCAL_METRICS"
MAX_METRICS_PER_REQUEST = 20
REQUEST_FILE_PREFIX = "PutMetricData-"


def datum(name: str, value: float, unit: str, dimensions: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
    """One MetricDatum (without its timestamp): a name, a value, a unit, and dimensions if any."""
    entry: dict[str, Any] = {"MetricName": name, "Value": float(value), "Unit": unit}
    if dimensions:
        entry["Dimensions"] = [{"Name": key, "Value": dimensions[key]} for key in sorted(dimensions)]
    return entry


def requests(namespace: str, data: Sequence[Mapping[str, Any]], timestamp: datetime.datetime) -> list[dict[str, Any]]:
    """The PutMetricData requests that put `data` in `namespace`, every datum stamped `timestamp`."""
    stamped = [{**entry, "Timestamp": timestamp} for entry in data]
    return [
        {"Namespace": namespace, "MetricData": stamped[start : start + MAX_METRICS_PER_REQUEST]}
        for start in range(0, len(stamped), MAX_METRICS_PER_REQUEST)
    ]


def recorded(request: Mapping[str, Any]) -> dict[str, Any]:
    """A request as the local backend writes it: timestamps as ISO 8601 text."""
    return {
        "Namespace": request["Namespace"],
        "MetricData": [{**entry, "Timestamp": entry["Timestamp"].isoformat()} for entry in request["MetricData"]],
    }


def put(namespace: str, data: Sequence[Mapping[str, Any]], timestamp: Optional[datetime.datetime] = None) -> int:
    """Put `data` in `namespace`; the number of requests made (none for no data)."""
    batch = requests(namespace, data, timestamp or datetime.datetime.now(datetime.timezone.utc))
    folder = os.environ.get(LOCAL_METRICS_ENV)
    if folder:
        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        prefix = f"{REQUEST_FILE_PREFIX}{os.getpid()}-"  # instances of one job share the folder
        first = len(list(target.glob(f"{prefix}*.json")))
        for number, request in enumerate(batch, start=first + 1):
            (target / f"{prefix}{number}.json").write_text(json.dumps(recorded(request), indent=1), "utf-8")
        return len(batch)
    if batch:
        import boto3

        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
        client = boto3.client("cloudwatch", region_name=region)
        for request in batch:
            client.put_metric_data(**request)
    return len(batch)
