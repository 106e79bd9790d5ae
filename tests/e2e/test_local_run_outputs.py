"""The predict input contract and the run's outputs through the command users run (issue 25):
`python -m workflow.local` in a subprocess, with a registered fixture model (no training run).

- The hostile corpus (tests/fixtures/steps/hostile_titles.py) through both engines gives the same
  predictions file, byte for byte, with every input row answered or rejected with its reason.
- execution_date given with spaces, or empty, names the folder the steps wrote (the run used to fail
  after both steps).
- A full disk under --output (a small tmpfs) ends in one line, the earlier output untouched.
- Two runs started at once on one work dir: one waits its turn or is refused in one line; none breaks.

What these cannot prove: S3 and EMR themselves (the local run maps s3:// to a folder and runs Spark in
local mode); a full disk where the work dir is (the steps' own writes fail as their jobs would).
"""

from __future__ import annotations

import contextlib
import csv
import re
import subprocess
from pathlib import Path

import pytest
import steps_fixtures as fx
from hostile_titles import ACCEPTED, write
from local_run_support import ROOT, local_run, local_run_command

GROUP = "jobclf-develop"


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory) -> Path:
    """A work dir whose local registry holds an approved model trained on the step fixtures."""
    root = tmp_path_factory.mktemp("outputs")
    archive = fx.make_model_archive(root / "model")["archive"]
    fx.register_local(root / "work" / "registry.json", root / "work" / "s3", GROUP, archive, macro_f1=0.6)
    return root / "work"


def predict(work_dir: Path, titles: Path, output: Path, *params: str) -> subprocess.CompletedProcess:
    options = [option for param in params for option in ("--param", param)]
    return local_run(
        "--use-type",
        "predict",
        "--input",
        str(titles),
        "--output",
        str(output),
        *options,
        work_dir=work_dir,
        timeout=900,
    )


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_hostile_corpus_gives_the_same_predictions_through_both_engines(work_dir, tmp_path) -> None:
    titles = write(tmp_path / "corpus", ACCEPTED)
    by_processing = predict(
        work_dir, titles, tmp_path / "processing.csv", "predict_engine=processing", "execution_date= 2026-01-02 "
    )
    by_emr = predict(work_dir, titles, tmp_path / "emr.csv", "predict_engine=emr", "execution_date=")
    assert by_processing.returncode == 0, by_processing.stdout + by_processing.stderr
    assert by_emr.returncode == 0, by_emr.stdout + by_emr.stderr
    assert (tmp_path / "emr.csv").read_bytes() == (tmp_path / "processing.csv").read_bytes()
    rows = read_csv(tmp_path / "processing.csv")
    reasons = {row["rejection_reason"] for row in rows}
    assert {"wrong_field_count", "empty_title", "undecodable_title"} <= reasons
    assert all(bool(row["major_group"]) != bool(row["rejection_reason"]) for row in rows)
    padded = re.search(r"execution (local-[\w-]+)", by_processing.stdout).group(1)
    assert next((work_dir / "s3").rglob(f"execution_date=2026-01-02/execution_id={padded}"), None) is not None


@contextlib.contextmanager
def small_tmpfs(mount_point: Path, size: str) -> Path:
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({mounted.stderr.strip()}); test_local_run_contract.py fills a file-size limit instead"
        )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=False)


def test_a_full_disk_under_the_output_ends_in_one_line_and_keeps_the_earlier_output(work_dir, tmp_path) -> None:
    titles = tmp_path / "titles.csv"
    titles.write_text("id,title\n" + "".join(f"{n},Registered Nurse {n % 7}\n" for n in range(3000)))
    with small_tmpfs(tmp_path / "small", "64k") as small:
        output = small / "predictions.csv"
        output.write_text("the earlier predictions\n")
        result = predict(work_dir, titles, output)
        assert output.read_text() == "the earlier predictions\n"
        assert [p.name for p in small.iterdir()] == ["predictions.csv"]
        assert result.returncode == 1, result.stdout + result.stderr
        assert result.stderr.strip().splitlines()[-1] == (
            f"error: cannot write {output}: no space left on device (ENOSPC): free some space there or write elsewhere"
        )
        assert "Traceback" not in result.stderr


def test_two_runs_started_at_once_on_one_work_dir(work_dir, tmp_path) -> None:
    titles = tmp_path / "titles.csv"
    titles.write_text("id,title\n1,Registered Nurse\n2,Truck Driver\n")
    outputs = [tmp_path / "first.csv", tmp_path / "second.csv"]
    runs = [
        subprocess.Popen(
            local_run_command(work_dir, "--use-type", "predict", "--input", str(titles), "--output", str(output)),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for output in outputs
    ]
    results = [(run.wait(timeout=900), *run.communicate()) for run in runs]
    assert 0 in [code for code, _, _ in results], results
    for (code, _, stderr), output in zip(results, outputs, strict=True):
        assert "Traceback" not in stderr
        if code == 0:
            assert [row["id"] for row in read_csv(output)] == ["1", "2"]
        else:
            assert code == 2 and "is in use by another local run" in stderr.strip().splitlines()[-1]
            assert not output.exists()
