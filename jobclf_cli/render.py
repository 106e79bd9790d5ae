"""Plain-text tables, times and durations for the terminal."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

# PipelineExecutionStatus (botocore's SageMaker model): Executing | Stopping | Stopped | Failed | Succeeded |
# CompletedWithFailures. Executing and Stopping are still running: a stop waits for the running step.
FINAL_EXECUTION_STATUSES = ("Succeeded", "Failed", "Stopped", "CompletedWithFailures")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns aligned to their widest cell; an empty `rows` gives the header only."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def as_datetime(value: Any) -> datetime.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)
    try:
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def when(value: Any) -> str:
    """A timestamp in UTC to the second, e.g. 2026-11-23 10:00:05Z; '-' when there is none."""
    moment = as_datetime(value)
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"


def duration(start: Any, end: Any = None, now: datetime.datetime | None = None) -> str:
    """`end - start` (or until now while running) as 1h02m03s / 4m05s / 6s; '-' without a start."""
    began = as_datetime(start)
    if began is None:
        return "-"
    finished = as_datetime(end) or now or datetime.datetime.now(datetime.UTC)
    seconds = max(0, int((finished - began).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{seconds:02d}s"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


def f1(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
