"""A SageMaker pipeline definition, seen as the requests SageMaker makes for it and as AWS's documented limits.

`definition_violations` checks what SageMaker refuses of a whole definition, before any execution;
`step_requests` turns one step's arguments (its expressions evaluated) into the requests SageMaker
sends for it, which `validator.validate_request` checks against the services' models;
`create_pipeline_request`, `create_schedule_request` and `start_pipeline_execution_request` build the
requests CloudFormation and EventBridge Scheduler send from the template's properties.

Each limit that botocore's models do not state carries its source here (docs/security.md lists them).
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workflow.contracts.validator import (
    ContractError,
    Violation,
    service_model,
    shape,
    validate_request,
    validate_value,
)

# SageMaker developer guide, "Pipeline Steps" > Condition step > Limitations
# (https://docs.aws.amazon.com/sagemaker/latest/dg/build-and-manage-steps.html#step-type-condition):
NESTED_CONDITIONS = (
    "Pipelines doesn't support the use of nested condition steps. You can't pass a condition step as the input "
    "for another condition step."
)
SHARED_STEPS = (
    "A condition step can't use identical steps in both branches. If you need the same step functionality in "
    "both branches, duplicate the step and give it a different name."
)
# What SageMaker sets itself in the RunJobFlow request of an EMR step with a ClusterConfig: the sagemaker
# SDK's EMRStep refuses these keys ("the following elements are not recognized as part of the cluster
# configuration and you should not include them", sagemaker/workflow/emr_step.py, EMRStep.__init__ and
# _validate_cluster_config). tests/infra/test_infra_contracts.py checks this list against the SDK.
EMR_CLUSTER_CONFIG_FORBIDDEN = ("Name", "Steps", "AutoTerminationPolicy")
EMR_INSTANCES_FORBIDDEN = ("KeepJobFlowAliveWhenNoSteps", "TerminationProtected")
# EMR API reference, AddJobFlowSteps (https://docs.aws.amazon.com/emr/latest/APIReference/API_AddJobFlowSteps.html):
# "The string values passed into HadoopJarStep object cannot exceed a total of 10240 characters."
# The model does not state it (its members' own limits it does).
HADOOP_JAR_STEP_MAX_CHARACTERS = 10240

# How SageMaker names the jobs of a pipeline step: pipelines-<execution id>-<step name>-<10 random
# characters>, e.g. "pipelines-kytlemm1lvpq-PreprocessingStep-cIpzShs3Qp"
# (https://github.com/aws/amazon-sagemaker-examples/issues/3106); the SDK's base_job_name is ignored
# (https://github.com/aws/sagemaker-python-sdk/issues/3971). An execution id is 12 lowercase letters
# and digits. What SageMaker does with a step name too long for the 63-character job name is not
# documented: the check requires the name to fit as it is.
EXECUTION_ID = re.compile(r"[a-z0-9]{12}")
_LOWER_ALNUM = string.ascii_lowercase + string.digits
_ALNUM = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Request:
    """One request an AWS service receives: `service` and `operation` name botocore's model of it."""

    service: str
    operation: str
    params: dict[str, Any]
    origin: str  # what sends it, e.g. "step Train"

    def violations(self) -> list[Violation]:
        return validate_request(self.service, self.operation, self.params)


@dataclass(frozen=True)
class ExecutionNames:
    """What SageMaker names per execution: the id, and the jobs' names derived from it."""

    execution_id: str
    pipeline_name: str
    experiment: Mapping[str, str] = field(default_factory=dict)  # the resolved PipelineExperimentConfig

    def job_name(self, step_name: str) -> str:
        return pipeline_job_name(self.execution_id, step_name)


def _digest_text(seed: str, alphabet: str, length: int) -> str:
    number = int.from_bytes(hashlib.sha256(seed.encode("utf-8")).digest(), "big")
    characters = []
    for _ in range(length):
        number, index = divmod(number, len(alphabet))
        characters.append(alphabet[index])
    return "".join(characters)


def sagemaker_execution_id(seed: str) -> str:
    """An execution id of SageMaker's shape (12 lowercase letters and digits): `seed` if it has it, else derived from it."""
    return seed if EXECUTION_ID.fullmatch(seed) else _digest_text(seed, _LOWER_ALNUM, 12)


def pipeline_job_name(execution_id: str, step_name: str) -> str:
    """The name SageMaker gives the job of `step_name` in an execution (its random part derived, so repeatable)."""
    execution = sagemaker_execution_id(execution_id)
    return f"pipelines-{execution}-{step_name}-{_digest_text(execution + step_name, _ALNUM, 10)}"


# --- The whole definition ----------------------------------------------------------------------------


def walk_steps(steps: Sequence[Mapping[str, Any]], branch: str = "Steps") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(where, step) for every step, those in condition branches too; `where` reads `Steps/UseType.IfSteps`."""
    for step in steps:
        yield branch, step
        if step.get("Type") == "Condition":
            arguments = step.get("Arguments", {})
            for side in ("IfSteps", "ElseSteps"):
                yield from walk_steps(arguments.get(side, []), f"{branch}/{step['Name']}.{side}")


def definition_violations(definition: Mapping[str, Any]) -> list[Violation]:
    """What SageMaker refuses of the definition as a whole: nesting and sharing of condition steps, step and
    parameter names, display names and descriptions (botocore's shapes of them), an EMR ClusterConfig's keys
    that SageMaker sets itself, and the definition's size (CreatePipeline's PipelineDefinition)."""
    found: list[Violation] = []
    steps = definition.get("Steps", [])
    for where, step in walk_steps(steps):
        name = step.get("Name", "")
        path = f"{where}/{name}"
        if step.get("Type") == "Condition" and where != "Steps":
            found.append(Violation(path, f"nested condition step: {NESTED_CONDITIONS}", name))
        if step.get("Type") == "Condition":
            arguments = step.get("Arguments", {})
            sides = [{s["Name"] for _, s in walk_steps(arguments.get(side, []))} for side in ("IfSteps", "ElseSteps")]
            for shared in sorted(sides[0] & sides[1]):
                found.append(Violation(f"{path}.IfSteps+ElseSteps", f"step in both branches: {SHARED_STEPS}", shared))
        found += validate_value(shape("sagemaker", "StepName"), name, f"{path}.Name")
        for key, shape_name in (("DisplayName", "StepDisplayName"), ("Description", "StepDescription")):
            if key in step:
                found += validate_value(shape("sagemaker", shape_name), step[key], f"{path}.{key}")
        if step.get("Type") == "EMR":
            found += _emr_cluster_config_violations(path, step.get("Arguments", {}))
    names = [step.get("Name") for _, step in walk_steps(steps)]
    for duplicate in sorted({n for n in names if names.count(n) > 1}):
        found.append(Violation(f"Steps/{duplicate}", "step names must be unique in a definition", duplicate))
    for parameter in definition.get("Parameters", []):
        found += validate_value(
            shape("sagemaker", "PipelineParameterName"), parameter.get("Name"), f"Parameters/{parameter.get('Name')}"
        )
    definition_shape = (
        service_model("sagemaker").operation_model("CreatePipeline").input_shape.members["PipelineDefinition"]
    )
    text = json.dumps(definition)
    found += [
        Violation("PipelineDefinition", v.constraint, f"{len(text)} characters")
        for v in validate_value(definition_shape, text, "PipelineDefinition")
    ]
    return found


def check_definition(definition: Mapping[str, Any]) -> None:
    """Raise ContractError naming every limit the definition breaks (`definition_violations`)."""
    violations = definition_violations(definition)
    if violations:
        raise ContractError("the definition", violations)


def check_step(step_name: str, step_type: str, arguments: Mapping[str, Any], names: ExecutionNames) -> None:
    """Raise ContractError naming every violation of the requests SageMaker would send for the step."""
    violations = [
        v for request in step_requests(step_name, step_type, arguments, names) for v in request_violations(request)
    ]
    if violations:
        raise ContractError(f"step {step_name}", violations)


def _emr_cluster_config_violations(path: str, arguments: Mapping[str, Any]) -> list[Violation]:
    cluster_config = arguments.get("ClusterConfig")
    if not isinstance(cluster_config, Mapping):
        return []
    rule = "SageMaker sets it (the sagemaker SDK's EMRStep refuses it in cluster_config)"
    found = [
        Violation(f"{path}.ClusterConfig.{key}", rule, cluster_config[key])
        for key in EMR_CLUSTER_CONFIG_FORBIDDEN
        if key in cluster_config
    ]
    instances = cluster_config.get("Instances", {})
    found += [
        Violation(f"{path}.ClusterConfig.Instances.{key}", rule, instances[key])
        for key in EMR_INSTANCES_FORBIDDEN
        if key in instances
    ]
    return found


# --- One step: the requests SageMaker sends for it ----------------------------------------------------


def step_requests(step_name: str, step_type: str, arguments: Mapping[str, Any], names: ExecutionNames) -> list[Request]:
    """The requests SageMaker sends for a step whose arguments are evaluated (no expression left).

    Processing and Training: Create*Job with the step's arguments, the job name SageMaker generates and,
    when the definition has a PipelineExperimentConfig, the ExperimentConfig naming its experiment and trial.
    RegisterModel: CreateModelPackage as the arguments say. EMR: on a standing cluster AddJobFlowSteps; with
    a ClusterConfig, RunJobFlow with the ClusterConfig plus a cluster Name and the step (SageMaker sets
    both; their exact values are not documented: the job-name shape stands in). Condition and Fail: none.
    """
    origin = f"step {step_name}"
    params = dict(arguments)
    experiment = {k: v for k, v in names.experiment.items() if k in ("ExperimentName", "TrialName")}
    if step_type == "Processing":
        params = {"ProcessingJobName": names.job_name(step_name), **params}
        if experiment:
            params["ExperimentConfig"] = experiment
        return [Request("sagemaker", "CreateProcessingJob", params, origin)]
    if step_type == "Training":
        params = {"TrainingJobName": names.job_name(step_name), **params}
        if experiment:
            params["ExperimentConfig"] = experiment
        return [Request("sagemaker", "CreateTrainingJob", params, origin)]
    if step_type == "RegisterModel":
        return [Request("sagemaker", "CreateModelPackage", params, origin)]
    if step_type == "EMR":
        return [_emr_request(step_name, params, names, origin)]
    return []  # Condition and Fail; a type this does not map (tests/infra checks that every step type is mapped)


def _emr_request(step_name: str, arguments: Mapping[str, Any], names: ExecutionNames, origin: str) -> Request:
    emr_step = {"Name": names.job_name(step_name), **arguments["StepConfig"]}
    if "ClusterId" in arguments:
        params: dict[str, Any] = {"JobFlowId": arguments["ClusterId"], "Steps": [emr_step]}
        if "ExecutionRoleArn" in arguments:
            params["ExecutionRoleArn"] = arguments["ExecutionRoleArn"]
        return Request("emr", "AddJobFlowSteps", params, origin)
    cluster = dict(arguments["ClusterConfig"])
    return Request("emr", "RunJobFlow", {**cluster, "Name": names.job_name(step_name), "Steps": [emr_step]}, origin)


def request_violations(request: Request) -> list[Violation]:
    """The request's violations of its operation's model, and of documented limits the model does not state."""
    found = request.violations()
    if request.service == "emr":
        for index, emr_step in enumerate(request.params.get("Steps", [])):
            jar_step = emr_step.get("HadoopJarStep", {}) if isinstance(emr_step, Mapping) else {}
            total = sum(len(text) for text in _strings(jar_step))
            if total > HADOOP_JAR_STEP_MAX_CHARACTERS:
                found.append(
                    Violation(
                        f"{request.operation}.Steps[{index}].HadoopJarStep",
                        f"its strings total {total} characters, more than the {HADOOP_JAR_STEP_MAX_CHARACTERS} AddJobFlowSteps allows",
                        emr_step.get("Name"),
                    )
                )
    return found


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


# --- What CloudFormation and EventBridge Scheduler send -------------------------------------------------


def create_pipeline_request(properties: Mapping[str, Any], client_token: str) -> Request:
    """CreatePipeline as CloudFormation sends it for an AWS::SageMaker::Pipeline's (resolved) properties.

    The resource's PipelineDefinitionBody is the request's PipelineDefinition; CloudFormation supplies the
    idempotency token (`client_token`)."""
    params: dict[str, Any] = {
        "PipelineName": properties["PipelineName"],
        "RoleArn": properties["RoleArn"],
        "ClientRequestToken": client_token,
    }
    for key in ("PipelineDisplayName", "PipelineDescription", "Tags", "ParallelismConfiguration"):
        if key in properties:
            params[key] = properties[key]
    definition = properties["PipelineDefinition"]
    if "PipelineDefinitionBody" in definition:
        params["PipelineDefinition"] = definition["PipelineDefinitionBody"]
    else:
        location = definition["PipelineDefinitionS3Location"]
        params["PipelineDefinitionS3Location"] = {
            "Bucket": location["Bucket"],
            "ObjectKey": location["Key"],
            **({"VersionId": location["Version"]} if "Version" in location else {}),
        }
    return Request("sagemaker", "CreatePipeline", params, f"AWS::SageMaker::Pipeline {properties['PipelineName']}")


def create_schedule_request(properties: Mapping[str, Any], client_token: str) -> Request:
    """CreateSchedule as CloudFormation sends it for an AWS::Scheduler::Schedule's (resolved) properties: the
    resource's properties are the request's members, by the same names."""
    return Request(
        "scheduler",
        "CreateSchedule",
        {**properties, "ClientToken": client_token},
        f"AWS::Scheduler::Schedule {properties.get('Name')}",
    )


def start_pipeline_execution_request(schedule: Mapping[str, Any], client_token: str) -> Request:
    """StartPipelineExecution as EventBridge Scheduler sends it for a schedule targeting a pipeline (by ARN)."""
    target = schedule["Target"]
    parameters = target.get("SageMakerPipelineParameters", {}).get("PipelineParameterList", [])
    params = {
        "PipelineName": target["Arn"],
        "ClientRequestToken": client_token,
        "PipelineParameters": [{"Name": p["Name"], "Value": p["Value"]} for p in parameters],
    }
    return Request("sagemaker", "StartPipelineExecution", params, f"schedule {schedule.get('Name')}")
