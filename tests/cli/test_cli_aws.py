"""`jobclf` against a real AWS API endpoint on loopback (moto's server), seeded through its API.

What passes here: the CLI's requests are well-formed for botocore's service models, are sent
over HTTP, and the answers (and error responses) are read right: names from the stack's
outputs or from the configuration, parameters checked before StartPipelineExecution, steps,
model versions and their evaluation.json, approval updates, one-line errors.

What this endpoint cannot prove:
- that SageMaker accepts the deployed definition or runs it: moto accepts any definition, runs no
  step and marks every execution Succeeded at once; the steps and statuses `show`/`--watch` read
  here are seeded by the tests (see cli_support), and moto 5.2 lacks ListPipelineExecutionSteps and
  StopPipelineExecution, which the tests add to the server;
- IAM: moto allows every call, so whether the pipeline, operator or CI roles may make these calls
  (and reach the KMS-encrypted models bucket) is not tested; nor are AWS's throttling limits;
- approval side effects: on AWS, approving a version emits an EventBridge event and changes what
  the next predict execution loads; here only the stored status changes;
- that the stack's real outputs carry these keys at deploy time (test_stack_declares_the_output_keys
  checks the CDK code names them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import boto3
import click
import pytest
from cli_support import ROOT, evaluation, invoke, labelled_values, one_error_line, seed

from jobclf_cli.aws import STACK_OUTPUT_KEYS
from jobclf_cli.main import cli
from workflow.contracts.validator import ContractError


def executions_of(endpoint, pipeline: str) -> list[dict]:
    return endpoint.client("sagemaker").list_pipeline_executions(PipelineName=pipeline)["PipelineExecutionSummaries"]


def start_id(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout.split("Started execution ", 1)[1].split()[0]


# -- the command itself ---------------------------------------------------------------------------


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    yield path
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name)


@pytest.mark.parametrize("path", list(_commands(cli)), ids=lambda p: " ".join(p) or "jobclf")
def test_every_command_has_help(runner, path):
    result = runner.invoke(cli, [*path, "--help"])
    assert result.exit_code == 0 and "Usage: jobclf" in result.stdout


def test_python_dash_m_runs_the_same_command():
    result = subprocess.run(
        [sys.executable, "-m", "jobclf_cli", "models", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0 and "approve" in result.stdout


def test_stack_declares_the_output_keys_the_cli_reads():
    source = (ROOT / "stacks" / "jobclf_stack.py").read_text()
    for key in STACK_OUTPUT_KEYS:
        assert f'"{key}":' in source, f"stacks/jobclf_stack.py no longer outputs {key}"


# -- executions -----------------------------------------------------------------------------------


def test_start_without_a_stack_uses_config_names_and_sends_the_checked_parameters(aws_env, runner):
    seed(aws_env, "develop")
    result = invoke(
        runner, "executions", "start", "--env", "develop", "--use-type", "train", "--param", "min_macro_f1=0.6"
    )
    execution_id = start_id(result)
    assert "pipeline jobclf-develop" in result.stdout
    [summary] = executions_of(aws_env, "jobclf-develop")
    assert summary["PipelineExecutionArn"].endswith(f"/execution/{execution_id}")
    sent = aws_env.client("sagemaker").list_pipeline_parameters_for_execution(
        PipelineExecutionArn=summary["PipelineExecutionArn"]
    )
    assert {p["Name"]: p["Value"] for p in sent["PipelineParameters"]} == {"use_type": "train", "min_macro_f1": "0.6"}


def test_start_reads_names_from_the_stack_outputs(aws_env, runner):
    seeded = seed(aws_env, "production", stack_names=True)
    result = invoke(
        runner,
        "executions",
        "start",
        "--env",
        "production",
        "--use-type",
        "predict",
        "--param",
        "input_titles_uri=s3://bucket/titles/2026-11-23/",
    )
    start_id(result)
    assert f"pipeline {seeded.pipeline_name}" in result.stdout
    assert len(executions_of(aws_env, seeded.pipeline_name)) == 1


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        ("min_macro_f1=high", "min_macro_f1: 'high' is not a valid Float"),
        ("split_seed=4.5", "split_seed: '4.5' is not a valid Integer"),
        (
            "learning_rate=0.1",
            "unknown parameter 'learning_rate'; the definition declares: input_titles_uri, min_macro_f1",
        ),
    ],
)
def test_start_rejects_bad_parameters_before_starting_anything(aws_env, runner, param, expected):
    seed(aws_env, "develop")
    result = invoke(runner, "executions", "start", "--env", "develop", "--use-type", "train", "--param", param)
    assert result.exit_code == 1
    assert expected in one_error_line(result)
    assert executions_of(aws_env, "jobclf-develop") == []


def test_start_rejects_local_only_options_on_aws(aws_env, runner, tmp_path):
    result = invoke(
        runner, "executions", "start", "--env", "develop", "--use-type", "train", "--onet-dir", str(tmp_path)
    )
    assert result.exit_code == 2 and "--onet-dir is for --local runs" in result.stderr


def test_list_shows_the_executions_newest_first(aws_env, runner):
    seed(aws_env, "develop")
    first = start_id(invoke(runner, "executions", "start", "--env", "develop", "--use-type", "train"))
    second = start_id(invoke(runner, "executions", "start", "--env", "develop", "--use-type", "predict"))
    result = invoke(runner, "executions", "list", "--env", "develop")
    assert result.exit_code == 0, result.output
    assert first in result.stdout and second in result.stdout
    assert result.stdout.count("Succeeded") == 2  # what moto says of every execution


def _steps(now):
    ago = lambda seconds: now - __import__("datetime").timedelta(seconds=seconds)  # noqa: E731
    return [
        {"StepName": "ETL", "StepStatus": "Succeeded", "StartTime": ago(600), "EndTime": ago(300),
         "Metadata": {"EMR": {"ClusterId": "j-ABC", "StepId": "s-1"}}},
        {"StepName": "Train", "StepStatus": "Failed", "StartTime": ago(290), "EndTime": ago(100),
         "FailureReason": "ClientError: AlgorithmError: out of memory"},
    ]  # fmt: skip


def test_show_lists_each_step_with_times_duration_and_failure_reason(aws_env, runner):
    import datetime

    seed(aws_env, "develop")
    execution_id = start_id(invoke(runner, "executions", "start", "--env", "develop", "--use-type", "train"))
    [summary] = executions_of(aws_env, "jobclf-develop")
    aws_env.set_execution(summary["PipelineExecutionArn"], "Failed", _steps(datetime.datetime.now(datetime.UTC)))
    result = invoke(runner, "executions", "show", execution_id, "--env", "develop")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"Execution {execution_id} of pipeline jobclf-develop: Failed" in out
    assert labelled_values(out)["parameters"] == "use_type=train"
    etl = next(line for line in out.splitlines() if line.startswith("ETL "))
    assert "Succeeded" in etl and "5m00s" in etl and "EMR: j-ABC" in etl
    train = next(line for line in out.splitlines() if line.startswith("Train "))
    assert "Failed" in train and "3m10s" in train and "AlgorithmError: out of memory" in train


def prediction_report(execution_id: str) -> dict:
    """A prediction report as PredictionReport writes it, of 1,200 titles of which a fifth have no known word."""
    from config import load_environment
    from pipeline_steps.prediction_report import Limits, build, merge

    baseline = {"format": "jobclf-training-baseline/1", "major_groups": {"15": 500, "29": 500}}
    part = {
        "execution_id": execution_id,
        "execution_date": "2026-12-04",
        "host": "algo-1",
        "model_package_group": "jobclf-develop",
        "model_package_arn": "arn:aws:sagemaker:eu-west-1:1:model-package/g/3",
        "model_version": 3,
        "model_data_uri": "s3://m/model.tar.gz",
        "input_rows": 1200,
        "output_rows": 1200,
        "predicted_rows": 1180,
        "rejected_rows": 20,
        "rejections_by_reason": {"empty_title": 20},
        "predictions_by_major_group": {"15": 600, "29": 580},
        "answered_by": {"known_title": {"rows": 800}, "model": {"rows": 380}},
        "low_confidence": {"below": 0.5, "rows": 118},
        "no_known_word_rows": 236,
        "baseline": baseline,
    }
    return build(merge([part]), Limits.of(load_environment("develop").monitoring))


def test_show_of_a_predict_execution_prints_its_prediction_report(aws_env, runner):
    import datetime

    seeded = seed(aws_env, "develop", stack_names=True)
    execution_id = start_id(invoke(runner, "executions", "start", "--env", "develop", "--use-type", "predict"))
    [summary] = executions_of(aws_env, seeded.pipeline_name)
    steps = [
        {"StepName": name, "StepStatus": "Succeeded"}
        for name in ("PreprocessPredict", "BatchPredict", "PredictionReport")
    ]
    aws_env.set_execution(summary["PipelineExecutionArn"], "Succeeded", steps)
    missing = invoke(runner, "executions", "show", execution_id, "--env", "develop")
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    key = f"predictions/execution_date={today}/execution_id={execution_id}/prediction-report.json"
    assert f"Prediction report: not written (yet): s3://{seeded.predictions_bucket}/{key}" in missing.stdout
    aws_env.client("s3").put_object(
        Bucket=seeded.predictions_bucket, Key=key, Body=json.dumps(prediction_report(execution_id)).encode()
    )
    result = invoke(runner, "executions", "show", execution_id, "--env", "develop")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"Prediction report of execution {execution_id} (model version 3):" in lines
    assert "  rows: 1200 in, 1200 out: 1180 predicted, 20 rejected" in lines
    assert "  no word the model knows: 20.0% (ABOVE the maximum 12.0%)" in lines
    assert "  alarms: NoKnownWordShare 0.2 > 0.12" in lines
    assert f"  report: s3://{seeded.predictions_bucket}/{key}" in lines
    aws_env.client("s3").put_object(Bucket=seeded.predictions_bucket, Key=key, Body=b'{"rows": ')
    damaged = invoke(runner, "executions", "show", execution_id, "--env", "develop")
    line = one_error_line(damaged)
    assert f"prediction report s3://{seeded.predictions_bucket}/{key} is not JSON text" in line


def test_show_of_a_train_execution_prints_no_prediction_report(aws_env, runner):
    seed(aws_env, "develop", stack_names=True)
    execution_id = start_id(invoke(runner, "executions", "start", "--env", "develop", "--use-type", "train"))
    result = invoke(runner, "executions", "show", execution_id, "--env", "develop")
    assert result.exit_code == 0 and "Prediction report" not in result.stdout


def test_show_of_an_unknown_execution_is_one_line(aws_env, runner):
    seed(aws_env, "develop")
    result = invoke(runner, "executions", "show", "0123456789ab", "--env", "develop")
    line = one_error_line(result)
    assert "DescribePipelineExecution failed: ValidationException" in line and "0123456789ab" in line


def test_watch_follows_a_running_execution_until_it_is_stopped(aws_env, runner):
    import datetime

    seed(aws_env, "develop")
    execution_id = start_id(invoke(runner, "executions", "start", "--env", "develop", "--use-type", "train"))
    arn = executions_of(aws_env, "jobclf-develop")[0]["PipelineExecutionArn"]
    now = datetime.datetime.now(datetime.UTC)
    aws_env.set_execution(arn, "Executing", [{"StepName": "ETL", "StepStatus": "Executing", "StartTime": now}])

    def stop_once_watched() -> None:  # after the watcher has shown the running execution, however slow the machine
        aws_env.steps_listed.wait(timeout=120)
        aws_env.client("sagemaker").stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken="t" * 32)

    stopper = threading.Thread(target=stop_once_watched)
    stopper.start()
    began = time.monotonic()
    result = invoke(runner, "executions", "show", execution_id, "--env", "develop", "--watch", "--interval", "0.2")
    stopper.join()
    assert time.monotonic() - began < 120
    changes = [line.split(None, 1)[1] for line in result.stdout.splitlines() if line[:2].isdigit()]
    for name in ("execution", "ETL"):  # as SageMaker does: Stopping until the running step has stopped
        expected = [f"{name}: {status}" for status in ("Executing", "Stopping", "Stopped")]
        assert [change for change in changes if change.startswith(f"{name}: ")] == expected
    assert f"execution {execution_id} ended Stopped" in one_error_line(result)


def test_watch_of_a_succeeded_execution_ends_at_once_with_status_zero(aws_env, runner):
    seed(aws_env, "develop")
    result = invoke(
        runner, "executions", "start", "--env", "develop", "--use-type", "train", "--watch", "--interval", "0.2"
    )
    assert result.exit_code == 0, result.output
    assert "execution: Succeeded" in result.stdout


def test_stop_stops_a_running_execution_once_and_refuses_an_ended_one(aws_env, runner):
    import datetime

    seed(aws_env, "develop")
    execution_id = start_id(invoke(runner, "executions", "start", "--env", "develop", "--use-type", "train"))
    arn = executions_of(aws_env, "jobclf-develop")[0]["PipelineExecutionArn"]
    aws_env.set_execution(
        arn,
        "Executing",
        [{"StepName": "ETL", "StepStatus": "Executing", "StartTime": datetime.datetime.now(datetime.UTC)}],
    )
    sagemaker = aws_env.client("sagemaker")
    result = invoke(runner, "executions", "stop", execution_id, "--env", "develop")
    assert result.exit_code == 0 and f"Stopping execution {execution_id} (was Executing)" in result.stdout
    assert sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Stopping"

    again = invoke(runner, "executions", "stop", execution_id, "--env", "develop")  # while it is stopping
    assert again.exit_code == 0, again.output
    assert f"Execution {execution_id} is already stopping" in again.stdout
    assert aws_env.stop_requests == [arn]  # not asked twice

    shown = invoke(runner, "executions", "show", execution_id, "--env", "develop", "--watch", "--interval", "0.1")
    assert "execution: Stopping" in shown.stdout and f"execution {execution_id} ended Stopped" in one_error_line(shown)
    ended = invoke(runner, "executions", "stop", execution_id, "--env", "develop")
    assert "has already ended (Stopped): nothing to stop" in one_error_line(ended)
    assert aws_env.stop_requests == [arn]


def test_watch_ends_at_every_final_status_of_the_api(aws_env, runner):
    """Each PipelineExecutionStatus of botocore's model that is not Executing or Stopping ends the watch."""
    from botocore.session import get_session

    statuses = get_session().get_service_model("sagemaker").shape_for("PipelineExecutionStatus").enum
    seed(aws_env, "develop")
    execution_id = start_id(invoke(runner, "executions", "start", "--env", "develop", "--use-type", "train"))
    arn = executions_of(aws_env, "jobclf-develop")[0]["PipelineExecutionArn"]
    for status in sorted(set(statuses) - {"Executing", "Stopping"}):
        aws_env.set_execution(arn, status)
        # A process with a time limit: a status the watcher took for a running one would poll for ever.
        result = run_cli(
            "executions", "show", execution_id, "--env", "develop", "--watch", "--interval", "0.1", env=dict(os.environ)
        )
        assert f"execution: {status}" in result.stdout
        assert result.returncode == (0 if status == "Succeeded" else 1), result.stderr


def test_an_environment_that_is_not_deployed_is_one_line(aws_env, runner):
    result = invoke(runner, "executions", "list", "--env", "production")
    line = one_error_line(result)
    assert "pipeline jobclf-production not found in eu-west-1" in line
    assert "stack JobClf-production not found" in line


# -- models ---------------------------------------------------------------------------------------


def test_models_list_shows_versions_statuses_and_macro_f1_from_s3(aws_env, runner):
    seed(aws_env, "develop")
    result = invoke(runner, "models", "list", "--env", "develop")
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.splitlines()[2:]]
    assert [(r[0], r[1], r[-1]) for r in rows] == [("2", "PendingManualApproval", "0.780"), ("1", "Approved", "0.710")]


def test_models_list_reads_the_group_from_the_stack_outputs(aws_env, runner):
    seeded = seed(aws_env, "production", stack_names=True)
    result = invoke(runner, "models", "list", "--env", "production")
    assert result.exit_code == 0 and f"group {seeded.group_name}" in result.stdout


def test_models_show_gives_metrics_and_where_the_report_is(aws_env, runner):
    seeded = seed(aws_env, "develop")
    result = invoke(runner, "models", "show", "2", "--env", "develop")
    assert result.exit_code == 0, result.output
    shown = labelled_values(result.stdout)
    assert shown["status"] == "PendingManualApproval"
    assert (shown["macro_f1"], shown["accuracy"]) == ("0.7800", "0.8300")
    assert shown["report"] == f"s3://{seeded.bucket}/evaluations/execution2/report.html"


def test_models_show_of_a_missing_version_is_one_line(aws_env, runner):
    seed(aws_env, "develop")
    line = one_error_line(invoke(runner, "models", "show", "9", "--env", "develop"))
    assert "model package group jobclf-develop has no version 9" in line


def test_approve_and_reject_update_the_package_with_the_reason(aws_env, runner):
    seeded = seed(aws_env, "develop")
    sagemaker = aws_env.client("sagemaker")
    approved = invoke(runner, "models", "approve", "2", "--env", "develop")
    assert approved.exit_code == 0 and "PendingManualApproval -> Approved" in approved.stdout
    assert (
        sagemaker.describe_model_package(ModelPackageName=seeded.package_arns[1])["ModelApprovalStatus"] == "Approved"
    )
    rejected = invoke(runner, "models", "reject", "1", "--env", "develop", "--reason", "worse than v2 on nurses")
    assert rejected.exit_code == 0, rejected.output
    package = sagemaker.describe_model_package(ModelPackageName=seeded.package_arns[0])
    assert package["ModelApprovalStatus"] == "Rejected"
    assert package["ApprovalDescription"] == "worse than v2 on nurses"


def test_reject_needs_a_reason(aws_env, runner):
    result = invoke(runner, "models", "reject", "1", "--env", "develop")
    assert result.exit_code == 2 and "Missing option '--reason'" in result.stderr


def test_an_unreadable_evaluation_does_not_hide_the_other_versions(aws_env, runner):
    seeded = seed(aws_env, "develop")
    aws_env.client("s3").put_object(
        Bucket=seeded.bucket, Key="evaluations/execution2/evaluation.json", Body=b"{not json"
    )
    result = invoke(runner, "models", "list", "--env", "develop")
    assert result.exit_code == 0, result.output
    assert "0.710" in result.stdout and "unreadable" in result.stdout
    assert evaluation(0.5)["multiclass_classification_metrics"]["macro_f1"]["value"] == 0.5


# -- AWS errors: one line on stderr, never a traceback (the real process, through `python -m`) ------


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobclf_cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_no_credentials_is_one_line(aws_env, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    result = run_cli("models", "list", "--env", "develop", env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: no AWS credentials found: set AWS_PROFILE (e.g. after `aws sso login`) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    ]


@pytest.fixture
def failing_endpoint(aws_env):
    """A loopback endpoint that answers every call with one AWS error (JSON or query protocol alike)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answer = {"code": "ThrottlingException", "message": "Rate exceeded", "status": 400}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("X-Amz-Target"):  # SageMaker: JSON protocol
                body = json.dumps({"__type": answer["code"], "message": answer["message"]}).encode()
                content_type = "application/x-amz-json-1.1"
            else:  # CloudFormation: query protocol
                body = (
                    f"<ErrorResponse><Error><Type>Sender</Type><Code>{answer['code']}</Code>"
                    f"<Message>{answer['message']}</Message></Error><RequestId>1</RequestId></ErrorResponse>"
                ).encode()
                content_type = "text/xml"
            self.send_response(answer["status"])
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.server_address[1]}",
        "AWS_MAX_ATTEMPTS": "2",
        "AWS_RETRY_MODE": "standard",
    }
    yield answer, env
    server.shutdown()
    thread.join()


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        # The first call is DescribeStacks: throttling stops there (after botocore's retries) ...
        (
            "ThrottlingException",
            "Rate exceeded",
            "AWS throttled DescribeStacks (ThrottlingException) even after retries",
        ),
        (
            "ValidationException",
            "1 validation error detected",
            "DescribeStacks failed: ValidationException: 1 validation error detected",
        ),
        # ... an unreadable stack falls back to config names, so the next call says what is denied.
        ("AccessDeniedException", "not authorized", "access denied to DescribePipeline (AccessDeniedException)"),
        ("ExpiredTokenException", "token expired", "the AWS credentials have expired (ExpiredTokenException)"),
    ],
)
def test_aws_errors_are_one_line(failing_endpoint, code, message, expected):
    answer, env = failing_endpoint
    answer.update(code=code, message=message)
    result = run_cli("executions", "list", "--env", "develop", env=env)
    assert result.returncode == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("Error: ") and expected in lines[0], lines[0]


def test_a_request_aws_would_refuse_fails_before_it_is_sent(aws_env, requests_within_aws_contracts):
    """The contract check (conftest) holds for clients made after it is installed, as the CLI makes them: moto
    and botocore accept this display name; StartPipelineExecution's pattern [a-zA-Z0-9](-*[a-zA-Z0-9]){0,81} does not."""
    sagemaker = boto3.session.Session().client("sagemaker", region_name="eu-west-1")
    with pytest.raises(ContractError, match="StartPipelineExecution.PipelineExecutionDisplayName: must match pattern"):
        sagemaker.start_pipeline_execution(PipelineName="jobclf-develop", PipelineExecutionDisplayName="weekly train")
    assert len(requests_within_aws_contracts) == 1
    requests_within_aws_contracts.clear()  # seen and expected: the fixture fails a test on any other
