"""The local run's executions, recorded in the work dir as SageMaker describes its own; light to import.

Each local run writes `<work dir>/executions/<execution id>.json` when it starts, at each step's
start and end, and when it ends. The record holds the fields of SageMaker's DescribePipelineExecution,
ListPipelineExecutionSteps and ListPipelineParametersForExecution responses (same names, ISO times),
so `jobclf executions list/show/stop --local` read a local execution as they read one on AWS, and
under `Local` what only a local run has: its process, and what its model was trained from.

A record that says Executing or Stopping while no run holds the work dir (the run was killed with
SIGKILL, or the machine stopped) is read as Failed, with that reason.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import signal
import tempfile
from pathlib import Path
from typing import Any

EXECUTIONS_DIR = "executions"
LOCK_FILE = ".lock"
RUNNING_STATUSES = ("Executing", "Stopping")


class NoSuchExecution(LookupError):
    """The work dir has no record of that execution."""


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def work_dir_holder(work_dir: Path) -> int | None:
    """The process id of the local run that holds `work_dir` now (its lock), or None when none does."""
    lock_path = work_dir / LOCK_FILE
    if not lock_path.exists():
        return None
    with lock_path.open("r", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            text = lock.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(lock, fcntl.LOCK_UN)
    return None


class ExecutionRecord:
    """The record one local run keeps of its execution; each change is written at once (atomically)."""

    def __init__(self, work_dir: Path, execution_arn: str, parameters: dict[str, Any], local: dict[str, Any]):
        self.path = work_dir / EXECUTIONS_DIR / f"{execution_arn.rsplit('/', 1)[-1]}.json"
        now = _now()
        self.data: dict[str, Any] = {
            "PipelineExecutionArn": execution_arn,
            "PipelineExecutionStatus": "Executing",
            "CreationTime": now,
            "LastModifiedTime": now,
            "PipelineParameters": [{"Name": name, "Value": str(value)} for name, value in sorted(parameters.items())],
            "PipelineExecutionSteps": [],
            "Local": {"ProcessId": os.getpid(), **local},
        }
        self._write()

    def step_changed(self, name: str, status: str, seconds: float = 0.0, detail: str = "") -> None:
        """A step started (Executing) or ended (Succeeded, Failed); a step that never started (Skipped) is
        not listed, as SageMaker lists only the steps it ran."""
        if status == "Skipped":
            return
        steps = self.data["PipelineExecutionSteps"]
        step = next((s for s in steps if s["StepName"] == name), None)
        now = datetime.datetime.now(datetime.UTC)
        if step is None:
            step = {
                "StepName": name,
                "StartTime": (now - datetime.timedelta(seconds=seconds)).isoformat(timespec="seconds"),
            }
            steps.append(step)
        step["StepStatus"] = status
        if status not in RUNNING_STATUSES:
            step["EndTime"] = now.isoformat(timespec="seconds")
            if status == "Failed":
                step["FailureReason"] = detail
            elif detail.startswith("outcome "):
                step["Metadata"] = {"Condition": {"Outcome": "True" if detail == "outcome true" else "False"}}
        self._set_status(self.data["PipelineExecutionStatus"])

    def stopping(self) -> None:
        self._set_status("Stopping", running_steps="Stopping")

    def finish(self, status: str, failure_reason: str | None = None, **local: Any) -> None:
        if failure_reason:
            self.data["FailureReason"] = failure_reason
        self.data["Local"].update(local)
        self._set_status(status, running_steps="Stopped" if status == "Stopped" else "Failed")

    def _set_status(self, status: str, running_steps: str | None = None) -> None:
        self.data["PipelineExecutionStatus"] = status
        self.data["LastModifiedTime"] = _now()
        for step in self.data["PipelineExecutionSteps"]:
            if running_steps and step["StepStatus"] in RUNNING_STATUSES:
                step["StepStatus"] = running_steps
                if running_steps not in RUNNING_STATUSES:
                    step["EndTime"] = self.data["LastModifiedTime"]
        self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.stem}-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(self.data, out, indent=1)
            os.replace(temporary, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)


def _as_read(record: dict[str, Any], holder: int | None) -> dict[str, Any]:
    """A record as it stands: a running one whose run no longer holds the work dir has failed."""
    run = record.get("Local", {}).get("ProcessId")
    if record.get("PipelineExecutionStatus") in RUNNING_STATUSES and run != holder:
        record["PipelineExecutionStatus"] = "Failed"
        record["FailureReason"] = f"the local run (process {run}) ended without recording how: it was killed"
        for step in record.get("PipelineExecutionSteps", []):
            if step.get("StepStatus") in RUNNING_STATUSES:
                step["StepStatus"] = "Failed"
    return record


def read_executions(work_dir: Path) -> list[dict[str, Any]]:
    """Every recorded execution of the work dir, newest first."""
    folder = work_dir / EXECUTIONS_DIR
    holder = work_dir_holder(work_dir)
    records = [_as_read(json.loads(path.read_text(encoding="utf-8")), holder) for path in folder.glob("*.json")]
    return sorted(records, key=lambda r: (r["CreationTime"], r["PipelineExecutionArn"]), reverse=True)


def read_execution(work_dir: Path, execution: str) -> dict[str, Any]:
    """One execution by its ID (or ARN)."""
    execution_id = execution.rsplit("/", 1)[-1]
    path = work_dir / EXECUTIONS_DIR / f"{execution_id}.json"
    if not execution_id or not path.is_file():
        raise NoSuchExecution(f"no local execution {execution_id} in {work_dir / EXECUTIONS_DIR}")
    return _as_read(json.loads(path.read_text(encoding="utf-8")), work_dir_holder(work_dir))


def stop_execution(work_dir: Path, execution: str) -> None:
    """Ask the run of a running execution to stop (SIGTERM, as Ctrl-C does): it stops its steps, then records Stopped."""
    record = read_execution(work_dir, execution)
    process = record["Local"]["ProcessId"]
    if record["PipelineExecutionStatus"] == "Executing":
        with contextlib.suppress(ProcessLookupError):
            os.kill(process, signal.SIGTERM)
