"""`jobclf ... --local` end to end, offline, on the hand-written fixtures (tests/fixtures/onet).

One local train run per session (the PySpark ETL costs ~40 s; conftest's `trained`), through `jobclf
executions start --local`; the tests that change the registry work on copies of its work folder.

What this cannot prove: anything about AWS (see test_cli_aws.py); that a model trained on
the few dozen fixture titles is any good (the gate is lowered to min_macro_f1=0.0 so it registers).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from cli_support import FIXTURE_ONET, ROOT, LocalServe, invoke, labelled_values, server_answers
from click.testing import CliRunner

from pipeline_steps.contract import PREDICTION_REPORT_FILE
from pipeline_steps.prediction_report import summary_lines
from workflow.local.executions import LOCK_FILE
from workflow.local.processes import RUNNING_STEPS_FILE

EXAMPLE_TITLES = ROOT / "examples" / "titles.csv"


def registry(work_dir: Path) -> list[dict]:
    return json.loads((work_dir / "registry.json").read_text())["model_package_groups"]["jobclf-develop"]


def test_local_train_runs_the_definition_and_registers_version_1(trained):
    work_dir, result = trained
    assert result.exit_code == 0, result.output
    assert "Execution local-" in result.stdout and ": Succeeded" in result.stdout
    assert (
        "Registered: arn:aws:sagemaker:eu-west-1:000000000000:model-package/jobclf-develop/1 (Approved)"
        in result.stdout
    )
    [package] = registry(work_dir)
    assert package["version"] == 1 and package["approval_status"] == "Approved"
    # Nothing of the finished run is left to mislead the next one: no process id, no running steps.
    assert (work_dir / LOCK_FILE).read_text() == "" and not (work_dir / RUNNING_STEPS_FILE).exists()


def execution_id_of(result) -> str:
    return result.stdout.split("Execution ", 1)[1].split(":", 1)[0]


def test_local_executions_list_and_show_read_the_work_dir(trained):
    work_dir, result = trained
    execution_id = execution_id_of(result)
    args = ("--local", "--env", "develop", "--work-dir", str(work_dir))
    listed = invoke(CliRunner(), "executions", "list", *args)
    assert listed.exit_code == 0, listed.output
    assert f"Executions of pipeline jobclf-develop (local work dir {work_dir}):" in listed.stdout
    [row] = [line.split() for line in listed.stdout.splitlines()[2:]]
    assert row[:2] == [execution_id, "Succeeded"]

    shown = invoke(CliRunner(), "executions", "show", execution_id, *args)
    assert shown.exit_code == 0, shown.output
    assert f"Execution {execution_id} of pipeline jobclf-develop: Succeeded" in shown.stdout
    # What the execution was started with: a train run records no execution_date (its fingerprint stays the same
    # from one day to the next, so --if-changed can skip it).
    assert labelled_values(shown.stdout)["parameters"] == "min_macro_f1=0.0, use_type=train"
    steps = {line.split()[0]: line.split()[1] for line in shown.stdout.split("STEP", 1)[1].splitlines()[1:]}
    # The steps the run printed, in its order; the skipped predict branch is not listed (nor is it on AWS).
    printed = [line.split()[2] for line in result.stdout.splitlines() if line.startswith("  Succeeded ")]
    assert list(steps) == printed and set(steps.values()) == {"Succeeded"}
    assert "ETL" in steps and "BatchPredict" not in steps
    watched = invoke(CliRunner(), "executions", "show", execution_id, *args, "--watch", "--interval", "0.1")
    assert watched.exit_code == 0 and "execution: Succeeded" in watched.stdout

    unknown = invoke(CliRunner(), "executions", "show", "local-nope", *args)
    assert unknown.exit_code == 1 and f"no local execution local-nope in {work_dir / 'executions'}" in unknown.stderr
    ended = invoke(CliRunner(), "executions", "stop", execution_id, *args)
    assert ended.exit_code == 1 and "has already ended (Succeeded): nothing to stop" in ended.stderr


def test_a_second_train_of_the_same_inputs_if_changed_is_not_run(work_copy, capsys):
    """What `make run` asks (--if-changed): the same definition, O*NET files and parameters are not trained twice."""
    from workflow.local.__main__ import main

    args = [
        "--env",
        "develop",
        "--use-type",
        "train",
        "--onet-dir",
        str(FIXTURE_ONET),
        "--work-dir",
        str(work_copy),
        "--param",
        "min_macro_f1=0.0",
        "--if-changed",
    ]
    executions_before = sorted((work_copy / "executions").iterdir())
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Model unchanged since version 1 (Approved, trained by execution local-" in out and "not retrained" in out
    assert [p["version"] for p in registry(work_copy)] == [1]
    assert sorted((work_copy / "executions").iterdir()) == executions_before


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
    result = invoke(
        CliRunner(),
        "executions",
        "start",
        "--local",
        "--env",
        "develop",
        "--use-type",
        "predict",
        "--input",
        str(EXAMPLE_TITLES),
        "--output",
        str(output),
        "--work-dir",
        str(work_copy),
    )
    assert result.exit_code == 0, result.output
    with EXAMPLE_TITLES.open(newline="") as handle:
        titles = list(csv.DictReader(handle))
    with output.open(newline="") as handle:
        predictions = list(csv.DictReader(handle))
    assert len(predictions) == len(titles)
    # Its prediction report: written beside the predictions in the work dir, printed by the run and by show --local.
    execution_id = execution_id_of(result)
    predictions_root = work_copy / "s3" / "jobclf-develop-predictions" / "predictions"
    [written] = predictions_root.glob(f"execution_date=*/execution_id={execution_id}/{PREDICTION_REPORT_FILE}")
    report = json.loads(written.read_text(encoding="utf-8"))
    assert report["rows"]["input"] == report["rows"]["output"] == len(titles)
    summary = "\n".join(summary_lines(report))
    assert summary in result.stdout
    shown = invoke(
        CliRunner(), "executions", "show", execution_id, "--local", "--env", "develop", "--work-dir", str(work_copy)
    )
    assert shown.exit_code == 0, shown.output
    assert summary in shown.stdout and f"  report: {written}\n" in shown.stdout


def test_local_usage_errors_are_one_line(tmp_path):
    runner = CliRunner()
    missing = invoke(runner, "models", "list", "--local", "--env", "develop", "--work-dir", str(tmp_path / "none"))
    assert missing.exit_code == 1 and "no local registry at" in missing.stderr
    predict = invoke(runner, "executions", "start", "--local", "--env", "develop", "--use-type", "predict")
    assert predict.exit_code == 2 and "needs --input titles.csv and --output predictions.csv" in predict.stderr
    no_version = invoke(runner, "models", "show", "7", "--local", "--env", "develop", "--work-dir", str(tmp_path))
    assert no_version.exit_code == 1


# -- serve --local and classify --local ---------------------------------------------------------------


def serve_develop(work_dir: Path) -> LocalServe:
    return LocalServe("serve", "--local", "--env", "develop", "--work-dir", str(work_dir), "--workers", "1")


@pytest.fixture(scope="module")
def served(trained):
    work_dir, result = trained
    assert result.exit_code == 0, result.output
    server = serve_develop(work_dir)
    try:
        yield server.url
    finally:
        server.stop()


def test_classify_local_answers_from_the_local_server_with_the_contracts_fields(served):
    url = served
    assert server_answers(url), "jobclf serve --local did not come up"
    result = invoke(CliRunner(), "classify", "--local", "--url", url, "Registered Nurse", "Truck Driver", "", "--json")
    assert result.exit_code == 0, result.output
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["title"] for a in answers] == ["Registered Nurse", "Truck Driver", ""]
    for answer in answers[:2]:
        # A group with probability 0 is not ranked (ranking.py): a title O*NET lists under one group has a top3 of one.
        assert answer["rejection_reason"] is None and (
            len(answer["top3"]) == 3 or answer["answered_by"] == "known_title"
        )
        assert answer["major_group"] == answer["top3"][0]["major_group"]
        probabilities = [group["probability"] for group in answer["top3"]]
        assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.0 + 1e-6
    assert answers[2]["rejection_reason"] == "empty_title"
    table = invoke(CliRunner(), "classify", "--local", "--url", url, "Registered Nurse")
    lines = table.stdout.splitlines()
    assert lines[0] == "Registered Nurse" and [line.split(".")[0].strip() for line in lines[1:4]] == ["1", "2", "3"]
    assert lines[1].split()[1] == answers[0]["top3"][0]["major_group"]


def test_serve_local_names_the_version_it_serves_and_ctrl_c_stops_it(work_copy):
    server = serve_develop(work_copy)
    assert server_answers(server.url), "jobclf serve --local did not come up"
    returncode, stdout, stderr = server.stop()
    assert returncode == 0, stderr[-2000:]
    assert (
        f"Serving model version 1 of group jobclf-develop (arn:aws:sagemaker:eu-west-1:000000000000:model-package/jobclf-develop/1) at {server.url}"
        in stdout
    )
    assert "Stopping the server." in stderr and not server_answers(server.url)


def test_serve_local_without_an_approved_version_is_one_line(work_copy):
    args = ("--local", "--env", "develop", "--work-dir", str(work_copy))
    invoke(CliRunner(), "models", "reject", "1", *args, "--reason", "fixture model")
    result = invoke(CliRunner(), "serve", *args, "--port", "1")
    assert result.exit_code == 1
    assert "group jobclf-develop has no approved model version" in result.stderr


def test_classify_local_without_a_server_says_how_to_start_one():
    from workflow.local.serving import free_loopback_port

    result = invoke(CliRunner(), "classify", "--local", "--url", f"http://127.0.0.1:{free_loopback_port()}", "Nurse")
    assert result.exit_code == 1 and "start one with `jobclf serve --local --env <env>`" in result.stderr
