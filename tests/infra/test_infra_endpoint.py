"""The serving endpoint's resources (stacks/endpoint.py): the rule, the deployer function, its least-privilege
roles, the alarms and the log groups, asserted on the synthesized templates.

The endpoint itself is not in the template: the function creates it at the first approval (the deploy
logic is tested against moto's server in tests/cli/test_endpoint_deployer.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from infra_support import Synth
from test_infra_security import as_list, statements_of_role

from endpoint_deployer import deployer
from stacks.endpoint import model_package_state_change_pattern

ENVIRONMENTS = ["develop", "production"]


def resources_of(template: dict, resource_type: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def logical_id(synth: Synth, env: str, construct) -> str:
    stack = synth.stacks[env]
    return stack.get_logical_id(construct.node.default_child)


def event(group: str, status: str, detail_type: str = deployer.MODEL_PACKAGE_STATE_CHANGE) -> dict:
    """A model package state change as the developer guide documents it (the fields a pattern can match)."""
    arn = f"arn:aws:sagemaker:eu-west-1:123456789012:model-package/{group}/3"
    return {
        "version": "0",
        "id": "e",
        "detail-type": detail_type,
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": "2026-12-04T10:00:00Z",
        "region": "eu-west-1",
        "resources": [arn],
        "detail": {
            "ModelPackageGroupName": group,
            "ModelPackageVersion": 3,
            "ModelPackageArn": arn,
            "ModelPackageStatus": "Completed",
            "ModelApprovalStatus": status,
        },
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_rule_sends_approvals_and_rejections_of_this_group_to_the_function(synth: Synth, env: str) -> None:
    stack = synth.stacks[env]
    template = synth.templates[env]
    rule = template["Resources"][logical_id(synth, env, stack.endpoint.rule)]["Properties"]
    group = f"jobclf-{env}"
    assert (
        rule["EventPattern"]
        == model_package_state_change_pattern(group)
        == {
            "source": ["aws.sagemaker"],
            "detail-type": ["SageMaker Model Package State Change"],
            "detail": {"ModelPackageGroupName": [group], "ModelApprovalStatus": ["Approved", "Rejected"]},
        }
    )
    [target] = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [logical_id(synth, env, stack.endpoint.function), "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {
        "Fn::GetAtt": [logical_id(synth, env, stack.endpoint.dead_letter_queue), "Arn"]
    }
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    [permission] = resources_of(template, "AWS::Lambda::Permission").values()
    assert permission["Properties"]["Principal"] == "events.amazonaws.com"
    assert permission["Properties"]["SourceArn"] == {"Fn::GetAtt": [logical_id(synth, env, stack.endpoint.rule), "Arn"]}


@pytest.mark.parametrize(
    ("status", "group", "detail_type", "matches"),
    [
        ("Approved", "jobclf-develop", deployer.MODEL_PACKAGE_STATE_CHANGE, True),
        ("Rejected", "jobclf-develop", deployer.MODEL_PACKAGE_STATE_CHANGE, True),
        ("PendingManualApproval", "jobclf-develop", deployer.MODEL_PACKAGE_STATE_CHANGE, False),
        ("Approved", "jobclf-production", deployer.MODEL_PACKAGE_STATE_CHANGE, False),
        ("Approved", "jobclf-develop", "SageMaker Endpoint State Change", False),
    ],
)
def test_the_rule_pattern_read_by_moto_eventbridge_matcher(
    status: str, group: str, detail_type: str, matches: bool
) -> None:
    """moto's EventBridge pattern matcher stands in for EventBridge's (it cannot prove EventBridge's own)."""
    from moto.events.models import EventPattern

    pattern = EventPattern.load(json.dumps(model_package_state_change_pattern("jobclf-develop")))
    assert pattern.matches_event(event(group, status, detail_type)) is matches


@pytest.mark.parametrize(
    ("which", "name"), [("synth", "develop"), ("synth", "production"), ("variant_synth", "standing")]
)
def test_the_function_is_serialized_retried_and_configured_from_the_environment(
    which: str, name: str, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(which)
    stack = synth.stacks[name]
    template = synth.templates[name]
    function = template["Resources"][logical_id(synth, name, stack.endpoint.function)]["Properties"]
    assert function["Runtime"] == "python3.14" and function["Handler"] == "endpoint_deployer.handler.handler"
    assert (function["Timeout"], function["MemorySize"], function["ReservedConcurrentExecutions"]) == (900, 256, 1)
    assert function["DeadLetterConfig"]["TargetArn"] == {
        "Fn::GetAtt": [logical_id(synth, name, stack.endpoint.dead_letter_queue), "Arn"]
    }
    [invoke_config] = resources_of(template, "AWS::Lambda::EventInvokeConfig").values()
    assert invoke_config["Properties"]["MaximumRetryAttempts"] == 2
    assert invoke_config["Properties"]["MaximumEventAgeInSeconds"] == 6 * 3600
    # The environment is exactly what the deployer reads back (endpoint_deployer.deployer.EndpointSettings).
    assert function["Environment"]["Variables"] == stack.resolve(stack.endpoint.settings.environment())
    settings = synth.configs[name].endpoint
    variant = json.loads(function["Environment"]["Variables"][deployer.ENV_VARIANT])
    assert variant == {
        "type": settings.type,
        "memory_size_mb": settings.memory_size_mb,
        "max_concurrency": settings.max_concurrency,
        "instance_type": settings.instance_type,
        "instance_count": settings.instance_count,
    }
    assert (
        function["Environment"]["Variables"][deployer.ENV_ROLLBACK_ALARMS]
        == f"jobclf-{name}-endpoint-5xx,jobclf-{name}-endpoint-latency"
    )


def test_the_function_code_is_the_endpoint_deployer_package_alone(synth: Synth) -> None:
    stack = synth.stacks["develop"]
    code = synth.templates["develop"]["Resources"][logical_id(synth, "develop", stack.endpoint.function)]["Properties"][
        "Code"
    ]
    asset_hash = code["S3Key"].removesuffix(".zip")
    staged = Path(synth.assembly.directory) / f"asset.{asset_hash}"
    files = sorted(str(path.relative_to(staged)) for path in staged.rglob("*") if path.is_file())
    assert files == ["endpoint_deployer/__init__.py", "endpoint_deployer/deployer.py", "endpoint_deployer/handler.py"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_deployer_may_only_manage_this_endpoint_and_pass_only_the_model_role_to_sagemaker(
    synth: Synth, env: str
) -> None:
    stack = synth.stacks[env]
    template = synth.templates[env]
    statements = statements_of_role(template, logical_id(synth, env, stack.endpoint.deployer_role))
    by_sid = {s["Sid"]: s for s in statements}
    resources = {sid: [json.dumps(r) for r in as_list(s["Resource"])] for sid, s in by_sid.items()}
    assert set(by_sid) == {
        "ManageTheEndpoint",
        "CreateVersionedModels",
        "PassOnlyTheModelRole",
        "ReadRollbackAlarms",
        "SendDeadLetters",
        "EncryptDeadLetters",
        "FunctionLogs",
        "ReadModelVersions",
        "ListModelVersions",
        "PublishAlerts",
        "EncryptAlerts",
    }
    assert all(s["Effect"] == "Allow" and not any("*" in a for a in as_list(s["Action"])) for s in statements)
    name = f"jobclf-{env}"
    assert any(f':endpoint/{name}"' in r for r in resources["ManageTheEndpoint"])
    assert all(f':endpoint/{name}"' in r or f":endpoint-config/{name}-v*" in r for r in resources["ManageTheEndpoint"])
    assert sorted(r.split('"')[-2].split(":", 1)[1] for r in resources["CreateVersionedModels"]) == [
        f"endpoint-config/{name}-v*",
        f"model/{name}-v*",
    ]
    assert all(f"model-package/{name}/*" in r for r in resources["ReadModelVersions"])
    pass_role = by_sid["PassOnlyTheModelRole"]
    assert pass_role["Resource"] == {"Fn::GetAtt": [logical_id(synth, env, stack.endpoint.model_role), "Arn"]}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    # No other statement of any role of the stack passes the model role.
    model_role = json.dumps(pass_role["Resource"])
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                if "iam:PassRole" in as_list(statement["Action"]) and model_role in json.dumps(statement["Resource"]):
                    assert statement == pass_role


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_model_role_reads_only_model_archives_and_writes_only_its_endpoints_logs(synth: Synth, env: str) -> None:
    stack = synth.stacks[env]
    template = synth.templates[env]
    role = template["Resources"][logical_id(synth, env, stack.endpoint.model_role)]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    by_sid = {s["Sid"]: s for s in statements_of_role(template, logical_id(synth, env, stack.endpoint.model_role))}
    assert set(by_sid) == {
        "PullSklearnImage",
        "EcrLogin",
        "EndpointLogs",
        "EndpointMetrics",
        "ReadModelArchives",
        "DecryptModelArchives",
    }
    models_bucket = logical_id(synth, env, stack.storage.models)
    [archives] = as_list(by_sid["ReadModelArchives"]["Resource"])
    assert models_bucket in json.dumps(archives) and "/training/*" in json.dumps(archives)
    assert by_sid["DecryptModelArchives"]["Action"] == "kms:Decrypt"
    [logs] = as_list(by_sid["EndpointLogs"]["Resource"])
    assert logs == {"Fn::GetAtt": [logical_id(synth, env, stack.endpoint.endpoint_log_group), "Arn"]}


@pytest.mark.parametrize(("which", "name"), [("synth", "develop"), ("variant_synth", "standing")])
def test_alarms_watch_the_endpoints_errors_latency_and_dead_letters_and_alert(
    which: str, name: str, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(which)
    stack = synth.stacks[name]
    topic = {"Ref": logical_id(synth, name, stack.alerts.topic)}
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in resources_of(synth.templates[name], "AWS::CloudWatch::Alarm").values()
    }
    dimensions = [{"Name": "EndpointName", "Value": f"jobclf-{name}"}, {"Name": "VariantName", "Value": "AllTraffic"}]
    errors, latency = alarms[f"jobclf-{name}-endpoint-5xx"], alarms[f"jobclf-{name}-endpoint-latency"]
    assert (errors["Namespace"], errors["MetricName"], errors["Statistic"], errors["Threshold"]) == (
        "AWS/SageMaker",
        "Invocation5XXErrors",
        "Average",
        0.05,
    )
    assert (latency["MetricName"], latency["Threshold"]) == (
        "ModelLatency",
        synth.configs[name].endpoint.max_model_latency_ms * 1000,
    )
    assert (
        sorted(errors["Dimensions"], key=str) == sorted(latency["Dimensions"], key=str) == sorted(dimensions, key=str)
    )
    dead_letters = alarms[f"jobclf-{name}-endpoint-deployer-dead-letters"]
    assert dead_letters["MetricName"] == "ApproximateNumberOfMessagesVisible" and dead_letters["Threshold"] == 0
    assert all(alarm["AlarmActions"] == [topic] for alarm in alarms.values())
    rollback = (
        "rolls a provisioned endpoint's update back"
        if synth.configs[name].endpoint.type == "provisioned"
        else "takes no alarm rollback"
    )
    assert rollback in errors["AlarmDescription"] and rollback in latency["AlarmDescription"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_log_groups_are_encrypted_with_the_data_key_kept_and_expire(synth: Synth, env: str) -> None:
    stack = synth.stacks[env]
    template = synth.templates[env]
    key = {"Fn::GetAtt": [logical_id(synth, env, stack.storage.key), "Arn"]}
    groups = {g["Properties"]["LogGroupName"]: g for g in resources_of(template, "AWS::Logs::LogGroup").values()}
    names = [f"/aws/sagemaker/Endpoints/jobclf-{env}", f"/aws/lambda/jobclf-{env}-endpoint-deployer"]
    assert sorted(groups) == sorted(names)
    for group in groups.values():
        assert group["Properties"]["KmsKeyId"] == key and group["Properties"]["RetentionInDays"] == 365
        assert group["DeletionPolicy"] == "RetainExceptOnCreate"
    statements = template["Resources"][logical_id(synth, env, stack.storage.key)]["Properties"]["KeyPolicy"][
        "Statement"
    ]
    [logs] = [s for s in statements if s.get("Sid") == "CloudWatchLogsEncryptsTheseLogGroups"]
    assert logs["Principal"] == {"Service": {"Fn::Join": ["", ["logs.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}}
    arns = logs["Condition"]["StringEquals"]["kms:EncryptionContext:aws:logs:arn"]
    assert [arn["Fn::Join"][1][-1] for arn in arns] == [f":log-group:{name}" for name in names]
