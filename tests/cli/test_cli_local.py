"""`jobclf ... --local` end to end, offline, on the hand-written fixtures (tests/fixtures/onet).

One local train run per session (the PySpark ETL costs ~40 s), through `jobclf executions start
--local`; the tests that change the registry work on copies of its work folder.

What this cannot prove: anything about AWS (see test_cli_aws.py); that a model trained on
the few dozen fixture titles is any good (the gate is lowered to min_macro_f1=0.0 so it registers).
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from cli_support import ROOT, invoke
from click.testing import CliRunner

FIXTURE_ONET = ROOT / "tests" / "fixtures" / "onet"
EXAMPLE_TITLES = ROOT / "examples" / "titles.csv"


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> tuple[Path, object]:
    work_dir = tmp_path_factory.mktemp("cli-local") / "work"
    result = invoke(CliRunner(), "executions", "start", "--local", "--env", "develop", "--use-type", "train",
                    "--onet-dir", str(FIXTURE_ONET), "--work-dir", str(work_dir), "--param", "min_macro_f1=0.0")  # fmt: skip
    return work_dir, result


@pytest.fixture
def work_copy(trained, tmp_path) -> Path:
    work_dir, result = trained
    assert result.exit_code == 0, result.output
    copy = tmp_path / "work"
    shutil.copytree(work_dir, copy)
    return copy


def registry(work_dir: Path) -> list[dict]:
    return json.loads((work_dir / "registry.json").read_text())["model_package_groups"]["jobclf-develop"]


def test_local_train_runs_the_definition_and_registers_version_1(trained):
    work_dir, result = trained
    assert result.exit_code == 0, result.output
    assert "Execution local-" in result.stdout and ": Succeeded" in result.stdout
    assert "Registered: arn:aws:sagemaker:eu-west-1:000000000000:model-package/jobclf-develop/1 (Approved)" in result.stdout
    [package] = registry(work_dir)
    assert package["version"] == 1 and package["approval_status"] == "Approved"


def test_local_models_list_and_show_read_the_local_registry(trained):
    work_dir, _ = trained
    listed = invoke(CliRunner(), "models", "list", "--local", "--env", "develop", "--work-dir", str(work_dir))
    assert listed.exit_code == 0, listed.output
    [row] = [line.split() for line in listed.stdout.splitlines()[2:]]
    evaluation = json.loads((work_dir / "s3" / registry(work_dir)[0]["metrics_uri"][len("s3://"):]).read_text())
    f1 = evaluation["multiclass_classification_metrics"]["macro_f1"]["value"]
    assert row[0] == "1" and row[1] == "Approved" and row[-1] == f"{f1:.3f}"

    shown = invoke(CliRunner(), "models", "show", "1", "--local", "--env", "develop", "--work-dir", str(work_dir))
    assert shown.exit_code == 0, shown.output
    report = next(line for line in shown.stdout.splitlines() if line.strip().startswith("report:")).split(None, 1)[1]
    assert Path(report).is_file() and report.endswith("report.html")
    assert f"macro_f1                    {f1:.4f}" in shown.stdout
    assert f"unseen titles macro_f1      {evaluation['figures']['unseen_titles']['macro_f1']:.4f}" in shown.stdout
    assert "(held-out metrics:" in shown.stdout


def test_local_reject_then_approve_edit_the_registry(work_copy):
    runner = CliRunner()
    args = ("--local", "--env", "develop", "--work-dir", str(work_copy))
    rejected = invoke(runner, "models", "reject", "1", *args, "--reason", "fixture model")
    assert rejected.exit_code == 0 and "Approved -> Rejected (fixture model)" in rejected.stdout
    assert registry(work_copy)[0]["approval_status"] == "Rejected"
    assert registry(work_copy)[0]["approval_description"] == "fixture model"
    approved = invoke(runner, "models", "approve", "1", *args)
    assert approved.exit_code == 0 and registry(work_copy)[0]["approval_status"] == "Approved"


def test_local_predict_with_the_registered_model(work_copy, tmp_path):
    output = tmp_path / "predictions.csv"
    result = invoke(CliRunner(), "executions", "start", "--local", "--env", "develop", "--use-type", "predict",
                    "--input", str(EXAMPLE_TITLES), "--output", str(output), "--work-dir", str(work_copy))  # fmt: skip
    assert result.exit_code == 0, result.output
    with EXAMPLE_TITLES.open(newline="") as handle:
        titles = list(csv.DictReader(handle))
    with output.open(newline="") as handle:
        predictions = list(csv.DictReader(handle))
    assert len(predictions) == len(titles)


def test_local_usage_errors_are_one_line(tmp_path):
    runner = CliRunner()
    missing = invoke(runner, "models", "list", "--local", "--env", "develop", "--work-dir", str(tmp_path / "none"))
    assert missing.exit_code == 1 and "no local registry at" in missing.stderr
    predict = invoke(runner, "executions", "start", "--local", "--env", "develop", "--use-type", "predict")
    assert predict.exit_code == 2 and "needs --input titles.csv and --output predictions.csv" in predict.stderr
    no_version = invoke(runner, "models", "show", "7", "--local", "--env", "develop", "--work-dir", str(tmp_path))
    assert no_version.exit_code == 1
