"""The local run under faults, through the command users run: killed mid-step, and a step's real error.

These start `python -m workflow.local` in a subprocess and run the real ETL (Spark in local mode)
on the hand-written fixtures. What they cannot prove: how SageMaker stops a cloud execution (it
stops the jobs it started itself).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from local_run_support import FIXTURE_ONET, ROOT, local_run, local_run_command

from workflow.local.processes import RUNNING_STEPS_FILE


def start_training(work_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        local_run_command(work_dir, "--use-type", "train", "--onet-dir", str(FIXTURE_ONET)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def running_step_group(work_dir: Path, timeout: float = 120) -> int:
    """The process group of the step the run has started (the ETL's spark-submit), once it runs."""
    deadline = time.monotonic() + timeout
    record = work_dir / RUNNING_STEPS_FILE
    while time.monotonic() < deadline:
        groups = record.read_text().split() if record.exists() else []
        if groups:
            time.sleep(3)  # let spark-submit start its JVM and workers
            return int(groups[0])
        time.sleep(0.2)
    raise AssertionError(f"no step started within {timeout} s")


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until_gone(group: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while group_alive(group) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not group_alive(group)


def test_sigterm_stops_the_running_step_and_everything_it_started(tmp_path) -> None:
    run = start_training(tmp_path)
    group = running_step_group(tmp_path)
    assert group_alive(group)
    run.send_signal(signal.SIGTERM)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 128 + signal.SIGTERM
    assert "interrupted by SIGTERM; its steps were stopped" in stderr
    assert not group_alive(group), "the Spark JVM and its workers must not outlive the run"
    assert not (tmp_path / RUNNING_STEPS_FILE).exists()


def test_after_sigkill_the_step_dies_and_the_next_run_can_use_the_work_dir(tmp_path) -> None:
    run = start_training(tmp_path)
    group = running_step_group(tmp_path)
    run.kill()
    run.communicate(timeout=30)
    # The step learns of its parent's death (Linux: PR_SET_PDEATHSIG); whatever it leaves, the next run stops.
    retry = local_run(
        "--use-type",
        "train",
        "--onet-dir",
        str(FIXTURE_ONET),
        "--param",
        "min_macro_f1=0.0",
        work_dir=tmp_path,
        timeout=600,
    )
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert wait_until_gone(group, timeout=5)


def test_a_failing_etl_shows_its_own_error_first_and_no_raw_bytes(tmp_path) -> None:
    onet = tmp_path / "onet"
    onet.mkdir()
    (onet / "Occupation Data.txt").write_bytes(
        b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xff\xfe[Content_Types].xml"
    )
    (onet / "Alternate Titles.txt").write_bytes((FIXTURE_ONET / "Alternate Titles.txt").read_bytes())
    result = local_run("--use-type", "train", "--onet-dir", str(onet), work_dir=tmp_path / "work", timeout=600)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    failed = next(i for i, line in enumerate(lines) if line.startswith("Step ETL failed"))
    assert lines[failed + 1].strip().startswith("etl: error: ")
    assert lines[failed + 1].endswith(
        "/onet: Occupation Data.txt: a zip archive (an .xlsx workbook?), not tab-delimited text; name a workbook .xlsx"
    )
    assert "--- last lines of" in lines[failed + 2]
    assert "\x00" not in result.stderr and "[Content_Types]" not in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT])
def test_ctrl_c_stops_the_run_like_sigterm(tmp_path, signum) -> None:
    run = start_training(tmp_path)
    group = running_step_group(tmp_path)
    run.send_signal(signum)
    run.communicate(timeout=60)
    assert run.returncode == 128 + signum
    assert not group_alive(group)
