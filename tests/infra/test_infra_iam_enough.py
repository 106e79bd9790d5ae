"""Enough permission, not only least permission: every AWS call the deployed system makes at run time is allowed
by the synthesized templates' policies, as AWS's policy evaluation logic decides it.

For develop, production and the standing-cluster variant, runtime_calls.py lists every call with the principal
that makes it and the ARN it touches: what SageMaker Pipelines does with the pipeline role for each step, what
the jobs do as that role (each S3 input and output of the resolved definition, KMS, the image pull, logs,
metrics, the VPC's network interfaces, the steps' own boto3 calls), the EMR service and instance roles (EMRFS
reads of the step code and inputs, writes of the output and logs, KMS, the tagged subnet and security groups),
the scheduler role (StartPipelineExecution, its dead-letter queue and that queue's key), EventBridge publishing
the alerts and CloudWatch publishing the prediction alarms to the encrypted SNS topic, the prediction report's
PutMetricData in its namespace, and each service assuming its role. iam_access.py evaluates each with
@cloud-copilot/iam-simulate against the role's identity policies and the resource policies that decide too
(bucket, key, topic and queue policies, trust policies), conditions included (iam:PassedToService,
kms:GrantIsForAWSResource, s3:prefix, aws:SourceArn, aws:SecureTransport, resource tags, ...). A call that is
not Allowed, or that the evaluator finds malformed (an unknown action, an ARN of the wrong resource type, a
context key that does not apply), fails the test.

The negative controls below show that each kind of policy takes part: remove what allows a call and the same
evaluation denies it.

What it cannot prove: that the list is complete (it holds what the code, the definition and AWS's documents
say; a call a service makes without documenting it is not in it), how services behave (the object names they
choose, whether they retry), and what the real account adds: SCPs, resource control policies, permission
boundaries, session policies, and the policies of resources outside the templates (AWS's scikit-learn image
repository, the CDK bootstrap bucket, AWS managed policies newer than moto's copy).
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable

import pytest
from iam_access import AccessModel, Call, Decision, evaluate, role_of
from infra_support import Synth
from runtime_calls import calls_of, principals

TEMPLATES = [("synth", "develop"), ("synth", "production"), ("variant_synth", "standing")]
# CDK's custom resource that empties the VPC's default security group runs when CloudFormation deploys, not at
# run time; its role's calls are CloudFormation's business.
DEPLOY_TIME_ROLES = ("CustomVpcRestrictDefaultSGCustomResourceProviderRole",)


@pytest.fixture(scope="module")
def decided(request: pytest.FixtureRequest) -> dict[str, tuple[AccessModel, list[Decision]]]:
    found = {}
    for fixture, name in TEMPLATES:
        synth: Synth = request.getfixturevalue(fixture)
        model, calls = calls_of(synth.templates[name], name, synth.configs[name].region)
        found[name] = (model, evaluate(model, calls))
    return found


@pytest.mark.parametrize("name", [name for _, name in TEMPLATES])
def test_every_runtime_call_is_allowed(decided, name: str) -> None:
    _, decisions = decided[name]
    denied = [str(d) for d in decisions if not d.allowed]
    assert denied == [], f"{name}: {len(denied)} of {len(decisions)} calls not allowed:\n" + "\n".join(denied)


@pytest.mark.parametrize("name", [name for _, name in TEMPLATES])
def test_every_role_makes_calls_and_is_assumed_by_its_service(decided, name: str) -> None:
    """A role of the template that no listed call uses is a role whose calls are missing from the list."""
    model, decisions = decided[name]
    runtime_roles = {arn for arn, logical in model.role_logical_ids.items() if logical not in DEPLOY_TIME_ROLES}
    calling = {role_of(d.call.principal) for d in decisions if d.call.principal.startswith("arn:")}
    assumed = {d.call.resource for d in decisions if d.call.action == "sts:AssumeRole"}
    assert runtime_roles - calling == set()
    assert runtime_roles - assumed == set()
    services = Counter(d.call.principal for d in decisions if not d.call.principal.startswith("arn:"))
    assert services["events.amazonaws.com"] >= 2, "EventBridge publishing the alerts (and using the topic's key)"


def test_each_emr_mode_makes_its_own_calls(decided) -> None:
    """Transient clusters: the pipeline role starts and terminates each one; a standing cluster: it adds steps."""
    actions = {name: {d.call.action for d in decisions} for name, (_, decisions) in decided.items()}
    for name in ("develop", "production"):
        assert {"elasticmapreduce:RunJobFlow", "elasticmapreduce:TerminateJobFlows"} <= actions[name]
        assert "elasticmapreduce:AddJobFlowSteps" not in actions[name]
    assert "elasticmapreduce:AddJobFlowSteps" in actions["standing"]
    assert "elasticmapreduce:RunJobFlow" not in actions["standing"]


def test_calls_per_principal(decided) -> None:
    """Every principal of the app makes calls; the numbers are in docs/security.md."""
    for name, (model, decisions) in decided.items():
        counts = Counter(principal for principal, _ in principals([d.call for d in decisions], model))
        for principal in (
            "PipelineRoleExecutionRole",
            "EmrServiceRole",
            "EmrInstanceRole",
            "SchedulesSchedulerRole",
            "events.amazonaws.com",
            "EndpointDeployerRole",
            "EndpointModelRole",
            "lambda.amazonaws.com",
            "cloudwatch.amazonaws.com",
        ):
            assert counts[principal] > 0, f"{name}: no call by {principal}"


# --- Negative controls: take away what allows a call, and the same evaluation denies it -------------------------


def _without_resource(model: AccessModel, role_logical_id: str, resource_suffix: str) -> AccessModel:
    """The model with `resource_suffix` removed from every Allow statement of the role's identity policies."""
    changed = copy.deepcopy(model)
    (role,) = [arn for arn, logical in changed.role_logical_ids.items() if logical == role_logical_id]
    for policy in changed.identity[role]:
        for statement in policy["policy"]["Statement"]:
            resources = statement.get("Resource", [])
            resources = [resources] if isinstance(resources, str) else resources
            statement["Resource"] = [r for r in resources if not r.endswith(resource_suffix)]
    return changed


def _find(decisions: list[Decision], test: Callable[[Call], bool]) -> Call:
    found = [d.call for d in decisions if test(d.call)]
    assert found, "the control's call is not in the list"
    return found[0]


def _etl_dependencies_key(synth: Synth) -> str:
    return synth.stacks["develop"].code.etl_dependencies.s3_object_key


def test_without_its_read_of_etl_dependencies_the_emr_instance_role_is_denied_it(decided, synth: Synth) -> None:
    model, decisions = decided["develop"]
    key = _etl_dependencies_key(synth)
    call = _find(
        decisions,
        lambda c: c.action == "s3:GetObject" and c.resource.endswith(key) and "EmrInstanceRole" in c.principal,
    )
    (before,) = evaluate(model, [call])
    (after,) = evaluate(_without_resource(model, "EmrInstanceRole", key), [call])
    assert before.allowed and after.result["overallResult"] == "ImplicitlyDenied", after


CONTROLS: dict[str, tuple[Callable[[Call], bool], Callable[[AccessModel, Call], tuple[AccessModel, Call]], str]] = {
    "a key policy without the account's statement makes the role's own kms:Decrypt useless": (
        lambda c: c.action == "kms:Decrypt" and "EmrInstanceRole" in c.principal,
        lambda m, c: (_replace(m, "key_policies", c.resource, {"Version": "2012-10-17", "Statement": []}), c),
        "ImplicitlyDenied",
    ),
    "without the topic policy EventBridge may not publish the alerts": (
        lambda c: c.action == "sns:Publish" and c.principal == "events.amazonaws.com",
        lambda m, c: (_replace(m, "topic_policies", c.resource, {"Version": "2012-10-17", "Statement": []}), c),
        "ImplicitlyDenied",
    ),
    "a rule the topic policy does not name may not publish": (
        lambda c: c.action == "sns:Publish" and c.principal == "events.amazonaws.com",
        lambda m, c: (m, _with_context(c, "aws:SourceArn", c.resource.replace(":sns:", ":events:") + "-other")),
        "ImplicitlyDenied",
    ),
    "an alarm the topic policy does not name may not publish": (
        lambda c: c.action == "sns:Publish" and c.principal == "cloudwatch.amazonaws.com",
        lambda m, c: (m, _with_context(c, "aws:SourceArn", dict(c.context)["aws:SourceArn"] + "-other")),
        "ImplicitlyDenied",
    ),
    "an alarm the key policy does not name may not use the alerts key": (
        lambda c: c.action == "kms:GenerateDataKey" and c.principal == "cloudwatch.amazonaws.com",
        lambda m, c: (m, _with_context(c, "aws:SourceArn", dict(c.context)["aws:SourceArn"] + "-other")),
        "ImplicitlyDenied",
    ),
    "the pipeline role puts metrics only in its environment's namespace": (
        lambda c: (
            c.action == "cloudwatch:PutMetricData" and dict(c.context)["cloudwatch:namespace"].startswith("JobClf/")
        ),
        lambda m, c: (m, _with_context(c, "cloudwatch:namespace", "JobClf/production")),
        "ImplicitlyDenied",
    ),
    "the bucket policy refuses a request without TLS": (
        lambda c: c.action == "s3:GetObject" and "jobclf-storageraw" in c.resource,
        lambda m, c: (m, _with_context(c, "aws:SecureTransport", "false")),
        "ExplicitlyDenied",
    ),
    "the pipeline role may pass itself only to SageMaker": (
        lambda c: c.action == "iam:PassRole" and c.resource == role_of(c.principal),
        lambda m, c: (m, _with_context(c, "iam:PassedToService", "ec2.amazonaws.com")),
        "ImplicitlyDenied",
    ),
    "a trust policy refuses the service acting for another account": (
        lambda c: c.action == "sts:AssumeRole" and c.principal == "sagemaker.amazonaws.com",
        lambda m, c: (m, _with_context(c, "aws:SourceAccount", "999999999999")),
        "ImplicitlyDenied",
    ),
    "without the function's policy EventBridge may not invoke the endpoint deployer": (
        lambda c: c.action == "lambda:InvokeFunction",
        lambda m, c: (_replace(m, "function_policies", c.resource, {"Version": "2012-10-17", "Statement": []}), c),
        "ImplicitlyDenied",
    ),
    "the endpoint deployer may pass the model role only to SageMaker": (
        lambda c: c.action == "iam:PassRole" and "EndpointDeployerRole" in c.principal,
        lambda m, c: (m, _with_context(c, "iam:PassedToService", "lambda.amazonaws.com")),
        "ImplicitlyDenied",
    ),
    "a volume key grant that is not for an AWS resource is refused": (
        lambda c: c.action == "kms:CreateGrant" and "PipelineRole" in c.principal,
        lambda m, c: (m, _with_context(c, "kms:GrantIsForAWSResource", "false")),
        "ImplicitlyDenied",
    ),
}


def _replace(model: AccessModel, attribute: str, key: str, value: dict) -> AccessModel:
    changed = copy.deepcopy(model)
    getattr(changed, attribute)[key] = value
    return changed


def _with_context(call: Call, key: str, value: str) -> Call:
    context = dict(call.context)
    context[key] = value
    return Call.of(call.principal, call.action, call.resource, context, why=call.why, origin=call.origin)


@pytest.mark.parametrize("control", list(CONTROLS))
def test_each_kind_of_policy_takes_part_in_the_decision(decided, control: str) -> None:
    select, change, expected = CONTROLS[control]
    model, decisions = decided["develop"]
    call = _find(decisions, select)
    changed_model, changed_call = change(model, call)
    (before,) = evaluate(model, [call])
    (after,) = evaluate(changed_model, [changed_call])
    assert before.allowed, before
    assert after.result["overallResult"] == expected, after


def test_a_malformed_request_is_not_allowed(decided) -> None:
    """The evaluator checks requests against the Service Authorization Reference: a misspelt action, or an ARN of
    a resource type the action does not take, is an error, never Allowed."""
    model, decisions = decided["develop"]
    read = _find(decisions, lambda c: c.action == "s3:GetObject")
    misspelt = Call(read.principal, "s3:GetObjects", read.resource, read.context)
    wrong_type = Call(read.principal, "s3:GetObject", read.resource.split("/", 1)[0], read.context)
    for decision in evaluate(model, [misspelt, wrong_type]):
        assert not decision.allowed and decision.result["resultType"] == "error", decision
