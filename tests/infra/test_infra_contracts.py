"""Every request the deployed app makes, checked against AWS's own contracts; the definition within the documented limits.

For both environments, the synthesized template is resolved (contract_support): CloudFormation's
requests (CreatePipeline, CreateSchedule), the schedules' StartPipelineExecution, and, for every
parameter set an execution can have (the defaults, each schedule's) and every evaluation report the
evaluate step can write, the request SageMaker sends for each step (CreateProcessingJob,
CreateTrainingJob, CreateModelPackage, EMR's RunJobFlow or AddJobFlowSteps). Each is checked against
the operation's input shape in the installed botocore's model with every constraint it states
(workflow.contracts.validator), patterns included.

What it cannot prove: what SageMaker adds to a request that no document shows (the exact job and EMR
step names, the RunJobFlow fields it sets itself, tags), checks the model does not state (an image
the account may pull, instance types available in the region, quotas), and anything decided by data
at run time beyond the evaluation reports tried here.
"""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from contract_support import EXECUTION_ID, DeployedApp, evaluation_reports, executions
from infra_support import Synth

from workflow.contracts.pipeline import (
    EMR_CLUSTER_CONFIG_FORBIDDEN,
    EMR_INSTANCES_FORBIDDEN,
    NESTED_CONDITIONS,
    SHARED_STEPS,
    Request,
    definition_violations,
    request_violations,
)
from workflow.contracts.validator import service_model, validate_value

ENVIRONMENTS = ["develop", "production"]


@pytest.fixture(scope="module")
def apps(synth: Synth) -> dict[str, DeployedApp]:
    return {env: DeployedApp.of(synth.templates[env], env, synth.configs[env].region) for env in ENVIRONMENTS}


@pytest.fixture(scope="module")
def step_requests_by_operation(apps: dict[str, DeployedApp]) -> dict[str, list[tuple[str, Request]]]:
    """operation -> (where, request) over both environments, every parameter set and evaluation report."""
    found: dict[str, list[tuple[str, Request]]] = defaultdict(list)
    for env, app in apps.items():
        for label, steps in executions(app):
            for step in steps:
                for request in step.requests:
                    found[request.operation].append((f"{env} {label} {request.origin}", request))
    return found


def violations_of(requests: list[tuple[str, Request]]) -> list[str]:
    return [f"{where}: {violation}" for where, request in requests for violation in request_violations(request)]


STEP_OPERATIONS = [
    "CreateProcessingJob",
    "CreateTrainingJob",
    # Defect 1 of issue 19: CustomerMetadataProperties values with '(', ')' or ',' fail CustomerMetadataValue's pattern.
    "CreateModelPackage",
    "RunJobFlow",
]


@pytest.mark.parametrize("operation", STEP_OPERATIONS)
def test_each_step_request_passes_its_operations_model(step_requests_by_operation, operation: str) -> None:
    requests = step_requests_by_operation[operation]
    assert requests, f"no step of either environment sends {operation}"
    assert violations_of(requests) == []


def test_every_step_type_maps_to_a_checked_request(apps: dict[str, DeployedApp], step_requests_by_operation) -> None:
    """Each step of the definitions is accounted for: a request that one of the tests above checks, or none
    (Condition, Fail). A new step type without a mapping fails here rather than going unchecked."""
    checked = {p if isinstance(p, str) else p.values[0] for p in STEP_OPERATIONS}
    assert set(step_requests_by_operation) <= checked
    for app in apps.values():
        for _, steps in executions(app):
            for step in steps:
                assert bool(step.requests) == (step.type not in ("Fail", "Condition")), step.name


def test_the_evaluation_reports_are_read_where_the_definition_reads_them(apps: dict[str, DeployedApp]) -> None:
    """Every Std:JsonGet of the definitions found its path in the evaluate step's report (the resolution would
    have raised otherwise), and the reports differ in the gate's figures, so both outcomes are tried."""
    for app in apps.values():
        labels = [label for label, _ in executions(app)]
        assert len(labels) == len(evaluation_reports()) * len(app.parameter_sets())


def test_a_model_approval_status_read_from_the_report_is_tried_with_every_value(apps: dict[str, DeployedApp]) -> None:
    """RegisterModel's ModelApprovalStatus: from a parameter (each environment's default and schedules), or,
    when it comes from the evaluation report (JsonGet), every value the evaluate step writes, Rejected included."""
    for app in apps.values():
        tried = {
            request.params["ModelApprovalStatus"]
            for _, steps in executions(app)
            for step in steps
            for request in step.requests
            if request.operation == "CreateModelPackage"
        }
        assert tried
        register = next(s for _, s in _all_steps(app.definition) if s["Type"] == "RegisterModel")
        if "Std:JsonGet" in json.dumps(register["Arguments"].get("ModelApprovalStatus")):
            assert "Rejected" in tried and len(tried) >= 2, tried


def test_computed_step_properties_have_their_describe_shapes(apps: dict[str, DeployedApp]) -> None:
    """The values the resolution gives step properties that SageMaker computes (not echoes of the request) fit
    the shapes of the Describe* responses they come from."""
    artifacts_shape = service_model("sagemaker").shape_for("DescribeTrainingJobResponse").members["ModelArtifacts"]
    for app in apps.values():
        for _, steps in executions(app):
            for step in steps:
                if step.type == "Training":
                    (request,) = step.requests
                    bucket = request.params["OutputDataConfig"]["S3OutputPath"]
                    value = {"S3ModelArtifacts": f"{bucket}/{request.params['TrainingJobName']}/output/model.tar.gz"}
                    assert validate_value(artifacts_shape, value, "ModelArtifacts") == []


def test_job_names_are_sagemakers_pipeline_job_names_within_the_limit(step_requests_by_operation) -> None:
    for operation, member in (("CreateProcessingJob", "ProcessingJobName"), ("CreateTrainingJob", "TrainingJobName")):
        for _, request in step_requests_by_operation[operation]:
            assert request.params[member].startswith(f"pipelines-{EXECUTION_ID}-")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_create_pipeline_passes_its_model_and_the_definition_its_size_limit(apps, env: str) -> None:
    """CreatePipeline as CloudFormation sends it: PipelineName, the definition as its JSON string (at most
    1,048,576 characters, CreatePipeline's PipelineDefinition in the model), RoleArn, display name, description."""
    request = apps[env].create_pipeline()
    assert request.params["PipelineDefinition"]
    assert request_violations(request) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_template_fits_cloudformations_template_size_limit(synth: Synth, env: str) -> None:
    """The definition sits inline in the template, so the template's limit bounds it too. CloudFormation
    quotas (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html): a
    template body in a request at most 51,200 bytes, one in an S3 object at most 1 MB; the CDK CLI uploads a
    template over 50 KiB to the bootstrap bucket and passes its URL, so 1 MB (taken as 1,000,000 bytes, the
    smaller reading) is the bound."""
    size = synth.template_path(env).stat().st_size
    assert size <= 1_000_000, f"{env} template is {size} bytes"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_schedules_requests_pass_their_models(apps, env: str) -> None:
    """CreateSchedule (CloudFormation) and StartPipelineExecution (EventBridge Scheduler, for each schedule):
    the scheduler's SageMakerPipelineParameter names and values have their own patterns and lengths."""
    app = apps[env]
    assert app.schedules, "config/environments.toml schedules"
    requests = app.create_schedules() + app.scheduled_starts()
    assert [str(v) for r in requests for v in request_violations(r)] == []


# --- Documented limits of the definition -------------------------------------------------------------


def _all_steps(definition: dict):
    from workflow.contracts.pipeline import walk_steps

    return walk_steps(definition["Steps"])


def limit_violations(app: DeployedApp, rule: str) -> list[str]:
    return [str(v) for v in definition_violations(app.definition) if rule in v.constraint]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_condition_step_is_nested_in_another(apps, env: str) -> None:
    """SageMaker developer guide, "Pipeline Steps", Condition step, Limitations
    (https://docs.aws.amazon.com/sagemaker/latest/dg/build-and-manage-steps.html#step-type-condition)."""
    assert limit_violations(apps[env], NESTED_CONDITIONS) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_step_is_in_both_branches_of_a_condition_and_names_are_unique(apps, env: str) -> None:
    """Same page: "A condition step can't use identical steps in both branches"."""
    assert limit_violations(apps[env], SHARED_STEPS) == []
    assert limit_violations(apps[env], "unique") == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_step_and_parameter_names_display_names_and_descriptions_fit_their_shapes(apps, env: str) -> None:
    """botocore's sagemaker model: StepName (pattern [A-Za-z0-9\\-_]*, at most 64), StepDisplayName (256),
    StepDescription (3072), PipelineParameterName."""
    checked = [
        v for v in definition_violations(apps[env].definition) if "(Step" in v.constraint or "(Pipeline" in v.constraint
    ]
    assert [str(v) for v in checked] == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_emr_cluster_config_sets_what_sagemaker_sets(apps, env: str) -> None:
    assert limit_violations(apps[env], "SageMaker sets it") == []


def test_the_forbidden_cluster_config_keys_are_the_sdks() -> None:
    """EMR_CLUSTER_CONFIG_FORBIDDEN and EMR_INSTANCES_FORBIDDEN are what the installed sagemaker SDK's EMRStep
    refuses, and the SDK refuses nothing else of a minimal cluster config."""
    from sagemaker.workflow.emr_step import EMRStep, EMRStepConfig

    minimal = {"Instances": {"InstanceGroups": []}}

    def refused(config: dict) -> bool:
        try:
            EMRStep("S", "S", "", None, EMRStepConfig(jar="command-runner.jar"), cluster_config=config)
        except ValueError:
            return True
        return False

    assert not refused(minimal)
    for key in EMR_CLUSTER_CONFIG_FORBIDDEN:
        assert refused({**minimal, key: "x"}), key
    for key in EMR_INSTANCES_FORBIDDEN:
        assert refused({"Instances": {**minimal["Instances"], key: False}}), key
    for key in ("ReleaseLabel", "LogUri", "BootstrapActions", "SecurityConfiguration"):
        assert not refused({**minimal, key: "x"}), key


def test_the_limit_checks_find_each_defect_when_it_is_put_in(apps) -> None:
    """Each definition check can fail: a step shared by both branches, a bad step name, a forbidden EMR key,
    an oversized definition (on a copy of the develop definition)."""
    definition = json.loads(json.dumps(apps["develop"].definition))
    condition = next(s for _, s in _all_steps(definition) if s["Type"] == "Condition" and s["Arguments"]["IfSteps"])
    condition["Arguments"]["ElseSteps"] = [condition["Arguments"]["IfSteps"][0]]
    emr = next(s for _, s in _all_steps(definition) if s["Type"] == "EMR")
    emr["Arguments"]["ClusterConfig"]["Instances"]["TerminationProtected"] = False
    emr["Name"] = "Etl with spaces"
    definition["Metadata"] = {"padding": "x" * 1_048_576}
    constraints = " | ".join(v.constraint for v in definition_violations(definition))
    for expected in (SHARED_STEPS, "StepName", "SageMaker sets it", "length"):
        assert expected in constraints
