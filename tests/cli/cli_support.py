"""Helpers of the CLI tests: the loopback AWS endpoint (moto's server), seeding it, invoking `jobclf`.

The server runs in a thread of the test process on 127.0.0.1 (a free port); boto3 reaches it over
HTTP through AWS_ENDPOINT_URL with dummy credentials, so the CLI's requests are serialized,
sent, answered and parsed exactly as against AWS, error responses included.

moto 5.2 does not implement two SageMaker actions the CLI calls: ListPipelineExecutionSteps and
StopPipelineExecution. `moto_endpoint` adds them to the server (server-side, beside moto's own
actions); the steps they return are the ones a test seeds with `MotoEndpoint.set_execution`, since
moto runs no step. The same helper sets an execution's status (moto marks every execution
Succeeded at once).

StopPipelineExecution passes through Stopping, as SageMaker's does: the PipelineExecutionStatus enum
of botocore's model is Executing | Stopping | Stopped | Failed | Succeeded | CompletedWithFailures
(StepStatus has Stopping too), and the API reference of StopPipelineExecution says a stop waits for
the running step (a Lambda step to finish or time out, a callback step to be answered) before the
execution is Stopped, or Failed. Here the stop sets the execution and its running steps to Stopping,
and completes (Stopped) when the steps are listed the second time after it: a watcher, which
describes the execution and then lists its steps on each poll, sees Stopping on one whole poll and
Stopped on a later one, whatever the machine's speed.

For the endpoint deployer, moto 5.2 lacks UpdateEndpoint and differs from SageMaker's API reference in
three ways that matter: its CreateModel and CreateEndpointConfig overwrite an existing resource of the
same name (SageMaker refuses a name that exists), its CreateEndpoint overwrites an existing endpoint, and
its endpoints are InService at once. `moto_endpoint` adds UpdateEndpoint and makes those three refuse an
existing name with a ValidationException, as SageMaker does. With `MotoEndpoint.hold_endpoint_operations`
set, a created endpoint stays Creating and an updated one Updating (with its PendingDeploymentSummary)
until `finish_endpoint_operation`, and an UpdateEndpoint meanwhile is refused: SageMaker's one update at a
time. Every endpoint action the server performs is recorded in `MotoEndpoint.endpoint_calls`.
"""

from __future__ import annotations

import datetime
import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from click.testing import CliRunner

REGION = "eu-west-1"  # config/environments.toml's region for both environments
ACCOUNT = "123456789012"  # moto's default account
ROOT = Path(__file__).parents[2]
FIXTURE_ONET = ROOT / "tests" / "fixtures" / "onet"
# The session's local train run (conftest `trained`): docs/operating.md's example on the fixture O*NET files,
# whose few dozen titles cannot pass the real quality gate, so the gate is lowered for it.
LOCAL_TRAIN = (
    "executions",
    "start",
    "--local",
    "--env",
    "develop",
    "--use-type",
    "train",
    "--onet-dir",
    str(FIXTURE_ONET),
    "--param",
    "min_macro_f1=0.0",
)

# A small definition that declares parameters like the real one (moto accepts any definition).
DEFINITION = {
    "Version": "2020-12-01",
    "Parameters": [
        {"Name": "use_type", "Type": "String", "DefaultValue": "train", "EnumValues": ["train", "predict"]},
        {"Name": "input_titles_uri", "Type": "String", "DefaultValue": "s3://raw/titles/"},
        {"Name": "split_seed", "Type": "Integer", "DefaultValue": 42},
        {"Name": "min_macro_f1", "Type": "Float", "DefaultValue": 0.5},
    ],
    "Steps": [{"Name": "Nothing", "Type": "Fail", "Arguments": {"ErrorMessage": "moto runs no step"}}],
}


@dataclass
class MotoEndpoint:
    url: str
    steps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Set when a client has listed an execution's steps: a test can act once a watcher has looked.
    steps_listed: threading.Event = field(default_factory=threading.Event)
    # The ARN of each StopPipelineExecution request, in order.
    stop_requests: list[str] = field(default_factory=list)
    # Stopping executions: how many times their steps have been listed since the stop.
    listed_while_stopping: dict[str, int] = field(default_factory=dict)
    # Endpoint operations: (action, endpoint or resource name, endpoint config name) as the server performed them.
    endpoint_calls: list[tuple[str, str, str | None]] = field(default_factory=list)
    hold_endpoint_operations: bool = False

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            response.read()
        self.steps.clear()
        self.steps_listed.clear()
        self.stop_requests.clear()
        self.listed_while_stopping.clear()
        self.endpoint_calls.clear()
        self.hold_endpoint_operations = False

    def client(self, service: str):
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def set_execution(self, arn: str, status: str, steps: list[dict[str, Any]] | None = None) -> None:
        """Server-side: give an execution a status and steps (what a running pipeline would have)."""
        from moto.sagemaker.models import sagemaker_backends

        pipeline_name = arn.split(":pipeline/", 1)[1].split("/", 1)[0]
        execution = sagemaker_backends[ACCOUNT][REGION].pipelines[pipeline_name].pipeline_executions[arn]
        execution.pipeline_execution_status = status
        if steps is not None:
            self.steps[arn] = steps

    def finish_endpoint_operation(self, name: str, *, fail: str | None = None) -> None:
        """Server-side: a held Creating or Updating endpoint reaches InService on its new configuration; with
        `fail`, an update is rolled back (InService on the old configuration) and a creation ends Failed,
        with `fail` as the FailureReason."""
        from moto.sagemaker.models import sagemaker_backends

        backend = sagemaker_backends[ACCOUNT][REGION]
        endpoint = backend.endpoints[name]
        pending = getattr(endpoint, "pending_deployment_summary", None)
        if pending and not fail:
            switch_endpoint_config(endpoint, backend, pending["EndpointConfigName"])
        endpoint.pending_deployment_summary = None
        endpoint.endpoint_status = "Failed" if fail and not pending else "InService"
        endpoint.failure_reason = fail
        endpoint.last_modified_time = datetime.datetime.now(datetime.UTC)

    def endpoint_status(self, name: str) -> str | None:
        from moto.sagemaker.models import sagemaker_backends

        endpoint = sagemaker_backends[ACCOUNT][REGION].endpoints.get(name)
        return endpoint.endpoint_status if endpoint is not None else None


def switch_endpoint_config(endpoint, backend, config_name: str) -> None:
    """What an update does once it has finished: the endpoint runs the new configuration's variants."""
    endpoint.endpoint_config_name = config_name
    variants = backend.describe_endpoint_config(config_name)["ProductionVariants"]
    endpoint.production_variants = endpoint._process_production_variants(variants)


def add_missing_actions(endpoint: MotoEndpoint) -> dict[str, Any]:
    """ListPipelineExecutionSteps, StopPipelineExecution and UpdateEndpoint, as moto's other actions are written,
    and SageMaker's refusal of an existing name in CreateModel, CreateEndpointConfig and CreateEndpoint.
    Returns moto's own methods that were replaced (None for the added ones), for `remove_added_actions`."""
    from moto.core.responses import ActionResult
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import FakeEndpoint
    from moto.sagemaker.responses import SageMakerResponse
    from moto.sagemaker.utils import get_pipeline_execution_from_arn

    def set_running_steps(arn: str, status: str) -> None:
        for step in endpoint.steps.get(arn, []):
            if step.get("StepStatus") in ("Starting", "Executing", "Stopping"):
                step["StepStatus"] = status
                if status == "Stopped":
                    step["EndTime"] = datetime.datetime.now(datetime.UTC)

    def list_pipeline_execution_steps(self) -> ActionResult:
        arn = self._get_param("PipelineExecutionArn")
        # ValidationError when unknown
        execution = get_pipeline_execution_from_arn(self.sagemaker_backend.pipelines, arn)
        steps = [dict(step) for step in endpoint.steps.get(arn, [])]
        if self._get_param("SortOrder", "Descending") == "Descending":
            steps.reverse()
        if arn in endpoint.listed_while_stopping:
            endpoint.listed_while_stopping[arn] += 1
            if endpoint.listed_while_stopping[arn] == 2:  # the running step has stopped
                del endpoint.listed_while_stopping[arn]
                execution.pipeline_execution_status = "Stopped"
                set_running_steps(arn, "Stopped")
        endpoint.steps_listed.set()
        return ActionResult({"PipelineExecutionSteps": steps})

    def stop_pipeline_execution(self) -> ActionResult:
        arn = self._get_param("PipelineExecutionArn")
        execution = get_pipeline_execution_from_arn(self.sagemaker_backend.pipelines, arn)
        endpoint.stop_requests.append(arn)
        endpoint.listed_while_stopping[arn] = 0
        execution.pipeline_execution_status = "Stopping"
        set_running_steps(arn, "Stopping")
        return ActionResult({"PipelineExecutionArn": arn})

    def update_endpoint(self) -> ActionResult:
        name, config_name = self._get_param("EndpointName"), self._get_param("EndpointConfigName")
        backend = self.sagemaker_backend
        if name not in backend.endpoints:
            raise ValidationError(
                message=f'Could not find endpoint "{FakeEndpoint.arn_formatter(name, ACCOUNT, REGION)}".'
            )
        backend.describe_endpoint_config(config_name)  # ValidationError when it does not exist
        target = backend.endpoints[name]
        if target.endpoint_status != "InService":
            raise ValidationError(message=f'Cannot update in-progress endpoint "{target.arn}".')
        endpoint.endpoint_calls.append(("UpdateEndpoint", name, config_name))
        target.deployment_config = self._get_param("DeploymentConfig")
        if endpoint.hold_endpoint_operations:
            target.endpoint_status = "Updating"
            target.pending_deployment_summary = {"EndpointConfigName": config_name}
        else:
            switch_endpoint_config(target, backend, config_name)
        target.last_modified_time = datetime.datetime.now(datetime.UTC)
        return ActionResult({"EndpointArn": target.arn})

    def refusing_existing(action: str, original, name_param: str, existing):
        noun = {"CreateModel": "model", "CreateEndpointConfig": "endpoint configuration", "CreateEndpoint": "endpoint"}[
            action
        ]

        def create(self) -> ActionResult:
            name = self._get_param(name_param)
            if name in existing(self.sagemaker_backend):
                raise ValidationError(message=f'Cannot create already existing {noun} "{name}".')
            result = original(self)
            endpoint.endpoint_calls.append((action, name, self._get_param("EndpointConfigName")))
            if action == "CreateEndpoint" and endpoint.hold_endpoint_operations:
                self.sagemaker_backend.endpoints[name].endpoint_status = "Creating"
            return result

        return create

    added = {
        "list_pipeline_execution_steps": list_pipeline_execution_steps,
        "stop_pipeline_execution": stop_pipeline_execution,
        "update_endpoint": update_endpoint,
    }
    for name, function in added.items():
        assert not hasattr(SageMakerResponse, name), f"moto now implements {name}: drop the test's own"
        setattr(SageMakerResponse, name, function)

    def recording_delete(original):
        def delete_endpoint(self) -> ActionResult:
            result = original(self)
            endpoint.endpoint_calls.append(("DeleteEndpoint", self._get_param("EndpointName"), None))
            return result

        return delete_endpoint

    replaced = {
        name: getattr(SageMakerResponse, name)
        for name in ("create_model", "create_endpoint_config", "create_endpoint", "delete_endpoint")
    }
    SageMakerResponse.delete_endpoint = recording_delete(replaced["delete_endpoint"])
    SageMakerResponse.create_model = refusing_existing(
        "CreateModel", replaced["create_model"], "ModelName", lambda backend: backend._models
    )
    SageMakerResponse.create_endpoint_config = refusing_existing(
        "CreateEndpointConfig",
        replaced["create_endpoint_config"],
        "EndpointConfigName",
        lambda backend: backend.endpoint_configs,
    )
    SageMakerResponse.create_endpoint = refusing_existing(
        "CreateEndpoint", replaced["create_endpoint"], "EndpointName", lambda backend: backend.endpoints
    )
    return {**dict.fromkeys(added), **replaced}


def remove_added_actions(added: dict[str, Any]) -> None:
    """Undo `add_missing_actions`: drop the added actions, put moto's own back."""
    from moto.sagemaker.responses import SageMakerResponse

    for name, original in added.items():
        if original is None:
            delattr(SageMakerResponse, name)
        else:
            setattr(SageMakerResponse, name, original)


def evaluation(macro_f1: float) -> dict[str, Any]:
    """An evaluation.json as pipeline_steps/evaluate.py lays it out (the fields the CLI reads)."""
    metric = lambda v: {"value": v, "standard_deviation": "NaN"}  # noqa: E731
    return {
        "multiclass_classification_metrics": {
            "accuracy": metric(macro_f1 + 0.05),
            "macro_f1": metric(macro_f1),
            "weighted_f1": metric(macro_f1 + 0.02),
            "weighted_precision": metric(0.8),
            "weighted_recall": metric(0.79),
            "expected_calibration_error": metric(0.04),
        },
        "baseline": {"macro_f1": 0.0, "note": "no approved model"},
        "test_rows": 1234,
    }


@dataclass
class Seeded:
    """What `seed` created for one environment."""

    pipeline_name: str
    group_name: str
    bucket: str
    package_arns: list[str]
    predictions_bucket: str


def seed(endpoint: MotoEndpoint, env: str, *, stack_names: bool = False, definition: dict | None = None) -> Seeded:
    """A pipeline (with `definition`, else a small one), a model package group with two versions and their
    evaluation.json in S3.

    With `stack_names`, the resources get names that differ from the config-derived ones and a stack
    JobClf-<env> publishes them as outputs (keys as in stacks/jobclf_stack.py): a CLI that finds
    them has read the outputs.
    """
    suffix = "-from-stack" if stack_names else ""
    pipeline_name = group_name = f"jobclf-{env}{suffix}"
    bucket = f"jobclf-{env}-models-seeded"
    predictions_bucket = f"jobclf-{env}-predictions-seeded"
    sagemaker, s3 = endpoint.client("sagemaker"), endpoint.client("s3")
    s3.create_bucket(Bucket=predictions_bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    sagemaker.create_pipeline(
        PipelineName=pipeline_name,
        PipelineDefinition=json.dumps(definition or DEFINITION),
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/pipeline",
    )
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    sagemaker.create_model_package_group(ModelPackageGroupName=group_name)
    arns = []
    for version, (f1, status) in enumerate([(0.71, "Approved"), (0.78, "PendingManualApproval")], start=1):
        key = f"evaluations/execution{version}/evaluation.json"
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(evaluation(f1)).encode())
        response = sagemaker.create_model_package(
            ModelPackageGroupName=group_name,
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
                        "ModelDataUrl": f"s3://{bucket}/training/job{version}/output/model.tar.gz",
                    }
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            ModelMetrics={
                "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{bucket}/{key}"}}
            },
        )
        arns.append(response["ModelPackageArn"])
    if stack_names:
        template = {
            "Resources": {"Placeholder": {"Type": "AWS::S3::Bucket"}},
            "Outputs": {
                "PipelineName": {"Value": pipeline_name},
                "ModelPackageGroupName": {"Value": group_name},
                "ModelsBucketName": {"Value": bucket},
                "PredictionsBucketName": {"Value": predictions_bucket},
            },
        }
        endpoint.client("cloudformation").create_stack(StackName=f"JobClf-{env}", TemplateBody=json.dumps(template))
    return Seeded(pipeline_name, group_name, bucket, arns, predictions_bucket)


def invoke(runner: CliRunner, *args: str):
    from jobclf_cli.main import cli

    return runner.invoke(cli, list(args), catch_exceptions=False)


def one_error_line(result) -> str:
    """The one line a failed command prints on stderr (asserting it is one line, without a traceback)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and result.exit_code != 0
    return lines[0]


_LABELLED_LINE = re.compile(r"\s*(?P<label>.+?)(?::\s+|\s{2,})(?P<value>\S.*)")


def labelled_values(output: str) -> dict[str, str]:
    """The CLI's "label:   value" and indented "name   value" lines as a mapping, whatever the column widths."""
    return {m["label"]: m["value"] for m in map(_LABELLED_LINE.fullmatch, output.splitlines()) if m}


# -- the endpoint's answers ---------------------------------------------------------------------------


def prediction(title: str, groups: list[tuple[str, str, float]], **extra) -> dict:
    """A record of the endpoint's answer (pipeline_steps/ranking.py) with `groups` as its top3."""
    top3 = [{"major_group": code, "major_group_title": name, "probability": p} for code, name, p in groups]
    return {
        "title": title,
        "major_group": groups[0][0],
        "major_group_title": groups[0][1],
        "confidence": groups[0][2],
        "top3": top3,
        "rejection_reason": None,
        **extra,
    }


def queue_answers(endpoint: MotoEndpoint, *bodies: dict) -> None:
    """moto's sagemaker-runtime answers InvokeEndpoint with these bodies, in order (its documented test API)."""
    results = [{"Body": json.dumps(body), "ContentType": "application/json"} for body in bodies]
    request = urllib.request.Request(
        f"{endpoint.url}/moto-api/static/sagemaker/endpoint-results",
        method="POST",
        data=json.dumps({"account_id": ACCOUNT, "region": REGION, "results": results}).encode(),
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
        response.read()


# -- jobclf serve --local -------------------------------------------------------------------------------


def server_answers(url: str) -> bool:
    """Whether GET /ping of a local server answers 200."""
    try:
        with urllib.request.urlopen(f"{url}/ping", timeout=5) as response:  # noqa: S310 (loopback)
            return response.status == 200
    except (urllib.error.URLError, ConnectionError):
        return False


class LocalServe:
    """`jobclf <arguments> --port P` (a `serve --local` command) as a user starts it: in a subprocess, on a free
    loopback port P, waited for until it answers (or exits); `stop` is Ctrl-C."""

    def __init__(self, *arguments: str):
        from workflow.local.serving import free_loopback_port

        port = free_loopback_port()
        self.url = f"http://127.0.0.1:{port}"
        # As from a terminal: Ctrl-C interrupts (a test run started in the background inherits SIGINT ignored,
        # and Python then installs no KeyboardInterrupt).
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jobclf_cli", *arguments, "--port", str(port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        deadline = time.monotonic() + 120
        while not server_answers(self.url) and self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)

    def stop(self) -> tuple[int, str, str]:
        """Ctrl-C; the exit status (-1 when it had to be killed), stdout and stderr."""
        self.process.send_signal(signal.SIGINT)
        try:
            stdout, stderr = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()  # its server gets SIGTERM with it (PR_SET_PDEATHSIG)
            stdout, stderr = self.process.communicate()
            return -1, stdout, stderr
        return self.process.returncode, stdout, stderr
