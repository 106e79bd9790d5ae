"""The local run's execution records (workflow.local.executions) and what a train run is made from.

The records are what `jobclf executions list/show/stop --local` read; tests/cli/test_cli_local.py runs
them end to end. Here: a running record is believed only while its run holds the work dir, and the
training fingerprint changes with each thing a model is made from, and only then.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

from workflow.local.executions import (
    LOCK_FILE,
    ExecutionRecord,
    NoSuchExecution,
    read_execution,
    read_executions,
    work_dir_holder,
)
from workflow.local.run import Unchanged, _registered_from, training_fingerprint

ARN = "arn:aws:sagemaker:local:000000000000:pipeline/jobclf-develop/execution/{}"


def hold(work_dir: Path):
    """The work dir's lock, held by this process as a local run holds it."""
    lock = (work_dir / LOCK_FILE).open("a+", encoding="utf-8")
    fcntl.flock(lock, fcntl.LOCK_EX)
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


def test_a_running_record_reads_as_running_while_its_run_holds_the_work_dir(tmp_path):
    with hold(tmp_path):
        assert work_dir_holder(tmp_path) == os.getpid()
        record = ExecutionRecord(tmp_path, ARN.format("local-1"), {"use_type": "train"}, {})
        record.step_changed("ETL", "Executing")
        shown = read_execution(tmp_path, "local-1")
        assert shown["PipelineExecutionStatus"] == "Executing"
        assert [(s["StepName"], s["StepStatus"]) for s in shown["PipelineExecutionSteps"]] == [("ETL", "Executing")]
        assert shown["PipelineParameters"] == [{"Name": "use_type", "Value": "train"}]


def test_a_running_record_without_its_run_reads_as_failed(tmp_path):
    """The run was killed (SIGKILL leaves no chance to record it): nothing holds the work dir any more."""
    record = ExecutionRecord(tmp_path, ARN.format("local-1"), {}, {})
    record.step_changed("ETL", "Executing")
    assert work_dir_holder(tmp_path) is None
    [shown] = read_executions(tmp_path)
    assert shown["PipelineExecutionStatus"] == "Failed"
    assert f"the local run (process {os.getpid()}) ended without recording how" in shown["FailureReason"]
    assert shown["PipelineExecutionSteps"][0]["StepStatus"] == "Failed"


def test_steps_and_outcomes_are_recorded_as_sagemaker_lists_them(tmp_path):
    record = ExecutionRecord(tmp_path, ARN.format("local-1"), {}, {})
    record.step_changed("CheckParameters", "Succeeded", 0.0, "outcome true")
    record.step_changed("ETL", "Executing")
    record.step_changed("ETL", "Failed", 3.0, "ETL: input error: no title column")
    record.step_changed("Train", "Skipped", 0.0, "UseType chose the other branch")  # never started: not listed
    record.finish("Failed", "ETL: input error: no title column")
    shown = read_execution(tmp_path, ARN.format("local-1"))  # by ARN as well as by ID
    assert shown["PipelineExecutionStatus"] == "Failed" and shown["FailureReason"].startswith("ETL: input error")
    steps = {s["StepName"]: s for s in shown["PipelineExecutionSteps"]}
    assert list(steps) == ["CheckParameters", "ETL"]
    assert steps["CheckParameters"]["Metadata"] == {"Condition": {"Outcome": "True"}}
    assert (
        steps["ETL"]["StepStatus"] == "Failed" and steps["ETL"]["FailureReason"] == "ETL: input error: no title column"
    )
    assert steps["ETL"]["EndTime"] >= steps["ETL"]["StartTime"]
    assert not list((tmp_path / "executions").glob(".*"))  # no temporary file left


def test_a_stop_marks_the_running_steps_stopping_then_stopped(tmp_path):
    record = ExecutionRecord(tmp_path, ARN.format("local-1"), {}, {})
    record.step_changed("ETL", "Executing")
    with hold(tmp_path):
        record.stopping()
        shown = read_execution(tmp_path, "local-1")
        assert (shown["PipelineExecutionStatus"], shown["PipelineExecutionSteps"][0]["StepStatus"]) == (
            "Stopping",
            "Stopping",
        )
    record.finish("Stopped", "the local run was interrupted by SIGTERM")
    shown = read_execution(tmp_path, "local-1")
    assert (shown["PipelineExecutionStatus"], shown["PipelineExecutionSteps"][0]["StepStatus"]) == (
        "Stopped",
        "Stopped",
    )


def test_newest_first_and_unknown_ids(tmp_path):
    for name in ("local-20261201T000000-a", "local-20261202T000000-b"):
        ExecutionRecord(tmp_path, ARN.format(name), {}, {}).finish("Succeeded")
    assert [r["PipelineExecutionArn"].rsplit("/", 1)[1][-1] for r in read_executions(tmp_path)] == ["b", "a"]
    with pytest.raises(NoSuchExecution, match="no local execution local-9 in"):
        read_execution(tmp_path, "local-9")
    assert read_executions(tmp_path / "never-ran") == []


# -- what a model is made from ----------------------------------------------------------------------


@pytest.fixture
def onet(tmp_path) -> Path:
    folder = tmp_path / "onet"
    folder.mkdir()
    (folder / "Occupation Data.txt").write_text("O*NET-SOC Code\tTitle\tDescription\n11-1011.00\tChief Executives\tx\n")
    (folder / "Alternate Titles.txt").write_text(
        "O*NET-SOC Code\tTitle\tAlternate Title\n11-1011.00\tChief Executives\tCEO\n"
    )
    return folder


def test_the_training_fingerprint_changes_with_each_thing_a_model_is_made_from(onet):
    same = training_fingerprint('{"Steps": []}', {"use_type": "train"}, onet)
    assert training_fingerprint('{"Steps": []}', {"use_type": "train"}, onet) == same
    assert training_fingerprint('{"Steps": [1]}', {"use_type": "train"}, onet) != same  # code or configuration
    assert training_fingerprint('{"Steps": []}', {"use_type": "train", "model_c": "2"}, onet) != same
    titles = onet / "Alternate Titles.txt"
    titles.write_text(titles.read_text() + "11-1011.00\tChief Executives\tPresident\n")
    assert training_fingerprint('{"Steps": []}', {"use_type": "train"}, onet) != same
    titles.rename(onet / "Alternate Titles.xlsx")
    renamed = training_fingerprint('{"Steps": []}', {"use_type": "train"}, onet)
    (onet / "Alternate Titles.xlsx").rename(titles)
    assert renamed != training_fingerprint('{"Steps": []}', {"use_type": "train"}, onet)


def registry_with(work_dir: Path, versions: int) -> list[str]:
    arns = [
        f"arn:aws:sagemaker:eu-west-1:000000000000:model-package/jobclf-develop/{v}" for v in range(1, versions + 1)
    ]
    entries = [
        {
            "version": v,
            "model_package_arn": arn,
            "approval_status": "Approved",
            "model_data_uri": f"s3://models/{v}.tar.gz",
        }
        for v, arn in enumerate(arns, 1)
    ]
    (work_dir / "registry.json").write_text(json.dumps({"model_package_groups": {"jobclf-develop": entries}}))
    return arns


def trained(work_dir: Path, name: str, fingerprint: str, registered: str | None, status: str = "Succeeded") -> None:
    record = ExecutionRecord(work_dir, ARN.format(name), {}, {"TrainingFingerprint": fingerprint})
    record.finish(status, RegisteredModelPackageArn=registered)


def test_the_latest_version_trained_from_the_same_fingerprint_is_unchanged(tmp_path):
    arns = registry_with(tmp_path, 2)
    trained(tmp_path, "local-1", "f1", arns[0])
    trained(tmp_path, "local-2", "f2", arns[1])
    assert _registered_from("f2", tmp_path, "jobclf-develop") == Unchanged(2, "Approved", "local-2")
    # Version 1 was made from f1, but a later version exists: training again is what was asked.
    assert _registered_from("f1", tmp_path, "jobclf-develop") is None
    assert _registered_from("f3", tmp_path, "jobclf-develop") is None
    assert _registered_from("f2", tmp_path, "jobclf-other") is None


def test_a_fingerprint_whose_execution_registered_nothing_is_not_unchanged(tmp_path):
    arns = registry_with(tmp_path, 1)
    trained(tmp_path, "local-1", "f1", arns[0])
    trained(tmp_path, "local-2", "f2", None, status="Failed")  # e.g. rejected by the quality gate
    assert _registered_from("f2", tmp_path, "jobclf-develop") is None
