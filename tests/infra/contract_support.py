"""The synthesized app as the requests AWS receives: CloudFormation tokens resolved to plausible values, pipeline
expressions evaluated to typed values, for each parameter set an execution can have.

- CloudFormation: the template's intrinsics resolve as for the IAM lint (iam_policies.Resolver: a bucket's
  name, a role's ARN, a KMS key's ARN, a subnet's ID, each in the shape AWS gives it).
- Parameters: the definition's defaults, and again each schedule's parameters over them, typed as
  SageMaker types them (the local run's `resolve_parameters`).
- Execution variables: an execution id of SageMaker's shape (12 lowercase letters and digits) and the ARNs
  and names that follow from it.
- Step properties: what the Describe* call of the step's job returns, derived from the step's own
  request (DescribeProcessingJob echoes ProcessingOutputConfig; DescribeTrainingJob's ModelArtifacts is
  `<S3OutputPath>/<job name>/output/model.tar.gz`).
- `Std:JsonGet` on the evaluation report: evaluation.json as the evaluate step writes it
  (`pipeline_steps.evaluate.evaluation_document`, the step's own pure core), for a model that passes and
  one that fails the gate, so every value the step can write is tried.

Expressions are evaluated by the local run's EvaluationContext: the same evaluator that runs them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from iam_policies import ACCOUNT, Resolver

from pipeline_steps import evaluate
from workflow.contracts.pipeline import (
    ExecutionNames,
    Request,
    create_pipeline_request,
    create_schedule_request,
    start_pipeline_execution_request,
    step_requests,
    walk_steps,
)
from workflow.local.expressions import EvaluationContext
from workflow.local.runner import execution_order, resolve_parameters

EXECUTION_ID = "kytlemm1lvpq"  # the shape SageMaker gives execution ids (12 lowercase letters and digits)
START_TIME = "2026-12-07T03:00:04.123Z"


def client_token(seed: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, seed))


def resources_of(template: dict, kind: str) -> dict[str, dict]:
    return {logical: r for logical, r in template["Resources"].items() if r["Type"] == kind}


@dataclass
class DeployedApp:
    """One environment's template, resolved: the pipeline's properties and definition, and its schedules."""

    env: str
    region: str
    pipeline: dict[str, Any]  # AWS::SageMaker::Pipeline properties
    definition: dict[str, Any]
    schedules: list[dict[str, Any]]  # AWS::Scheduler::Schedule properties

    @classmethod
    def of(cls, template: dict, env: str, region: str) -> DeployedApp:
        resolver = Resolver(template, region)
        (pipeline,) = resources_of(template, "AWS::SageMaker::Pipeline").values()
        properties = resolver.resolve(pipeline["Properties"])
        definition = json.loads(properties["PipelineDefinition"]["PipelineDefinitionBody"])
        schedules = [
            resolver.resolve(r["Properties"]) for r in resources_of(template, "AWS::Scheduler::Schedule").values()
        ]
        return cls(env, region, properties, definition, sorted(schedules, key=lambda s: s["Name"]))

    def create_pipeline(self) -> Request:
        return create_pipeline_request(self.pipeline, client_token(f"{self.env}/CreatePipeline"))

    def create_schedules(self) -> list[Request]:
        return [create_schedule_request(s, client_token(f"{self.env}/{s['Name']}")) for s in self.schedules]

    def scheduled_starts(self) -> list[Request]:
        return [
            start_pipeline_execution_request(s, client_token(f"{self.env}/{s['Name']}/start")) for s in self.schedules
        ]

    def parameter_sets(self) -> dict[str, dict[str, Any]]:
        """'defaults', and each schedule's parameters over the defaults, typed as SageMaker types them."""
        declared = self.definition["Parameters"]
        sets = {"defaults": resolve_parameters(declared, {})}
        for schedule in self.schedules:
            given = schedule["Target"].get("SageMakerPipelineParameters", {}).get("PipelineParameterList", [])
            sets[schedule["Name"]] = resolve_parameters(declared, {p["Name"]: p["Value"] for p in given})
        return sets

    def execution_variables(self) -> dict[str, str]:
        name = self.pipeline["PipelineName"]
        pipeline_arn = f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:pipeline/{name}"
        return {
            "PipelineExecutionId": EXECUTION_ID,
            "PipelineExecutionArn": f"{pipeline_arn}/execution/{EXECUTION_ID}",
            "PipelineName": name,
            "PipelineArn": pipeline_arn,
            "StartDateTime": START_TIME,
            "CurrentDateTime": START_TIME,
        }


def evaluation_reports() -> dict[str, dict]:
    """evaluation.json as pipeline_steps.evaluate writes it, for a model that beats the gate and one that misses it."""
    labels = ["11", "13", "15", "29"]
    good = evaluate.compute_metrics(labels * 5, labels * 5, [0.9] * 20)
    poor = evaluate.compute_metrics(labels * 5, [labels[0]] * 20, [0.4] * 20)
    approved = {
        "model_package_arn": f"arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model-package/jobclf/3",
        "version": 3,
        "macro_f1": 0.62,
    }
    first = evaluate.baseline_section(None)
    return {
        "passes-gate-first-model": evaluate.evaluation_document(
            good, first, evaluate.quality_gate(good["macro_f1"], 0.51, first["macro_f1"], "Approved"), {}, good
        ),
        "passes-gate-pending-approval": evaluate.evaluation_document(
            good,
            first,
            evaluate.quality_gate(good["macro_f1"], 0.51, first["macro_f1"], "PendingManualApproval"),
            {},
            good,
        ),
        "misses-gate-below-approved": evaluate.evaluation_document(
            poor, approved, evaluate.quality_gate(poor["macro_f1"], 0.51, approved["macro_f1"], "Approved"), {}, poor
        ),
    }


@dataclass
class ResolvedStep:
    name: str
    type: str
    arguments: Any  # evaluated: no expression left
    requests: list[Request]


def plausible_properties(step_type: str, requests: list[Request], region: str) -> dict[str, Any]:
    """What the step's Describe* call returns, as far as the definition reads it, derived from its request."""
    if not requests:
        return {}
    params = requests[0].params
    if step_type == "Processing":
        outputs = params.get("ProcessingOutputConfig", {}).get("Outputs", [])
        return {
            "ProcessingJobName": params["ProcessingJobName"],
            "ProcessingOutputConfig": {"Outputs": {o["OutputName"]: o for o in outputs}},
        }
    if step_type == "Training":
        artifacts = (
            f"{params['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{params['TrainingJobName']}/output/model.tar.gz"
        )
        return {"TrainingJobName": params["TrainingJobName"], "ModelArtifacts": {"S3ModelArtifacts": artifacts}}
    if step_type == "RegisterModel":
        group = params["ModelPackageGroupName"]
        return {"ModelPackageArn": f"arn:aws:sagemaker:{region}:{ACCOUNT}:model-package/{group}/1"}
    return {}


def resolve_execution(app: DeployedApp, parameters: Mapping[str, Any], report: Mapping[str, Any]) -> list[ResolvedStep]:
    """Every step of the definition (both branches of every condition), its arguments evaluated in execution
    order with `parameters` and the evaluation `report`, and the requests SageMaker sends for it."""
    execution = app.execution_variables()
    context = EvaluationContext(
        parameters=parameters, execution=execution, load_property_file=lambda step, name: report
    )
    experiment = context.evaluate(app.definition.get("PipelineExperimentConfig") or {})
    names = ExecutionNames(EXECUTION_ID, app.pipeline["PipelineName"], experiment)
    steps = [step for _, step in walk_steps(app.definition["Steps"]) if step["Type"] != "Condition"]
    resolved = []
    for step in execution_order(steps):
        arguments = context.evaluate(step["Arguments"])
        requests = [] if step["Type"] == "Fail" else step_requests(step["Name"], step["Type"], arguments, names)
        context.step_properties[step["Name"]] = plausible_properties(step["Type"], requests, app.region)
        resolved.append(ResolvedStep(step["Name"], step["Type"], arguments, requests))
    return resolved


def executions(app: DeployedApp) -> Iterator[tuple[str, list[ResolvedStep]]]:
    """(label, resolved steps) for each parameter set and each evaluation report."""
    for parameters_label, parameters in app.parameter_sets().items():
        for report_label, report in evaluation_reports().items():
            yield f"{parameters_label}/{report_label}", resolve_execution(app, parameters, report)
