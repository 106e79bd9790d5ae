"""Alerts: the EventBridge rules' patterns and targets, the encrypted topic, its policy, the e-mail subscription."""

from __future__ import annotations

import re
import tomllib

import pytest
from aws_cdk.assertions import Template
from infra_support import ALARM_EMAIL, PROJECT_ROOT, Synth

from config.settings import environments_from
from stacks.alerts import ALERT_STATUSES, PIPELINE_STATUS_CHANGE, pipeline_failure_pattern

ENVIRONMENTS = ["develop", "production"]


def resources_of(synth: Synth, name: str, resource_type: str) -> dict[str, dict]:
    return {
        logical_id: resource
        for logical_id, resource in synth.templates[name]["Resources"].items()
        if resource["Type"] == resource_type
    }


def only(resources: dict[str, dict]) -> tuple[str, dict]:
    assert len(resources) == 1, list(resources)
    return next(iter(resources.items()))


def rules(synth: Synth, env: str) -> dict[str, dict]:
    """The alert rules by name (the endpoint deployer has a rule of its own: test_infra_endpoint.py)."""
    stack = synth.stacks[env]
    resources = synth.templates[env]["Resources"]
    ids = [stack.get_logical_id(rule) for rule in (stack.alerts.rule, stack.alerts.model_rejected_rule)]
    return {resources[i]["Properties"]["Name"]: resources[i] for i in ids}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_rule_matches_only_this_pipelines_failed_or_stopped_executions(synth: Synth, env: str) -> None:
    stack = synth.stacks[env]
    rule = rules(synth, env)[f"jobclf-{env}-pipeline-failed"]
    pipeline_arn = stack.resolve(stack.pipeline.arn)
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Building Pipeline Execution Status Change"],
        "detail": {"pipelineArn": [pipeline_arn], "currentPipelineExecutionStatus": ["Failed", "Stopped"]},
    }
    schedules = resources_of(synth, env, "AWS::Scheduler::Schedule").values()
    assert schedules and all(s["Properties"]["Target"]["Arn"] == pipeline_arn for s in schedules)  # what they start
    assert rule["Properties"]["State"] == "ENABLED"
    assert PIPELINE_STATUS_CHANGE == "SageMaker Model Building Pipeline Execution Status Change"
    assert ALERT_STATUSES == ("Failed", "Stopped")
    assert pipeline_failure_pattern("arn")["detail"]["pipelineArn"] == ["arn"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_model_the_gate_or_a_person_rejects_alerts_the_team(synth: Synth, env: str) -> None:
    """The gate registers a failing model as Rejected and the execution succeeds: this rule is what alerts."""
    rule = rules(synth, env)[f"jobclf-{env}-model-rejected"]
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": [f"jobclf-{env}"], "ModelApprovalStatus": ["Rejected"]},
    }
    assert rule["Properties"]["State"] == "ENABLED"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_rules_target_the_environments_topic_with_retries(synth: Synth, env: str) -> None:
    stack = synth.stacks[env]
    topic_id = stack.get_logical_id(stack.alerts.topic.node.default_child)
    assert len(rules(synth, env)) == 2
    for rule in rules(synth, env).values():
        (target,) = rule["Properties"]["Targets"]
        assert target["Arn"] == {"Ref": topic_id}
        assert "RoleArn" not in target, "SNS targets are authorized by the topic policy, not a role"
        assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
        assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] >= 3600


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_topic_is_encrypted_with_its_own_rotating_key(synth: Synth, env: str) -> None:
    stack = synth.stacks[env]
    template = Template.from_json(synth.templates[env])
    alerts_key_id = stack.get_logical_id(stack.alerts.key.node.default_child)
    data_key_id = stack.get_logical_id(stack.storage.key.node.default_child)
    assert alerts_key_id != data_key_id
    template.has_resource_properties(
        "AWS::SNS::Topic",
        {"TopicName": f"jobclf-{env}-pipeline-alerts", "KmsMasterKeyId": {"Fn::GetAtt": [alerts_key_id, "Arn"]}},
    )
    key = synth.templates[env]["Resources"][alerts_key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    events_statements = [
        s for s in key["KeyPolicy"]["Statement"] if s.get("Principal") == {"Service": "events.amazonaws.com"}
    ]
    assert len(events_statements) == 1
    assert set(events_statements[0]["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_topic_policy_allows_only_this_accounts_rules_and_alarms(synth: Synth, env: str) -> None:
    stack = synth.stacks[env]
    topic_id = stack.get_logical_id(stack.alerts.topic.node.default_child)
    _, policy = only(resources_of(synth, env, "AWS::SNS::TopicPolicy"))
    assert policy["Properties"]["Topics"] == [{"Ref": topic_id}]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    denies = [s for s in statements if s["Effect"] == "Deny"]
    assert allows == [
        {
            "Sid": "OnlyThisAccountsAlertRulesPublish",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": {"Ref": topic_id},
            "Condition": {
                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                "ArnEquals": {"aws:SourceArn": [stack.resolve(arn) for arn in stack.alerts.rule_arns]},
            },
        },
        {
            "Sid": "OnlyThisAccountsAlarmsPublish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": {"Ref": topic_id},
            "Condition": {
                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                "ArnLike": {"aws:SourceArn": alarm_arns(synth, env)},
            },
        },
    ]
    # The endpoint's alarms are among them (alarm_arns lists every alarm of the template).
    endpoint_alarms = {
        f"jobclf-{env}-endpoint-5xx",
        f"jobclf-{env}-endpoint-latency",
        f"jobclf-{env}-endpoint-deployer-dead-letters",
    }
    alarms = resources_of(synth, env, "AWS::CloudWatch::Alarm").values()
    assert endpoint_alarms <= {a["Properties"]["AlarmName"] for a in alarms}
    assert [d["Condition"] for d in denies] == [{"Bool": {"aws:SecureTransport": "false"}}]
    # The policy names the rules by their ARNs (no reference to a rule), so the rules can wait for the policy.
    policy_id = stack.get_logical_id(stack.alerts.topic.node.find_child("Policy").node.default_child)
    for rule in rules(synth, env).values():
        assert policy_id in rule["DependsOn"]
    assert [stack.resolve(arn)["Fn::Join"][1][-1] for arn in stack.alerts.rule_arns] == [
        f":rule/jobclf-{env}-pipeline-failed",
        f":rule/jobclf-{env}-model-rejected",
    ]


def alarm_arns(synth: Synth, env: str) -> list:
    """The ARN of every alarm of the template, in the order the stack creates them, as the policies name them:
    by name, not by reference (arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>)."""
    names = [r["Properties"]["AlarmName"] for r in resources_of(synth, env, "AWS::CloudWatch::Alarm").values()]
    assert names, "the stack has alarms"
    return [
        {"Fn::Join": ["", ["arn:aws:cloudwatch:eu-west-1:", {"Ref": "AWS::AccountId"}, f":alarm:{name}"]]}
        for name in names
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_alarm_notifies_the_topic_and_only_the_alarms_may_use_its_key(synth: Synth, env: str) -> None:
    stack = synth.stacks[env]
    topic_id = stack.get_logical_id(stack.alerts.topic.node.default_child)
    for alarm in resources_of(synth, env, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
        # AWS::CloudWatch::Alarm's ActionsEnabled: "The default is TRUE" (CloudFormation resource reference).
        assert alarm["Properties"].get("ActionsEnabled", True) is True
    key = synth.templates[env]["Resources"][stack.get_logical_id(stack.alerts.key.node.default_child)]["Properties"]
    (statement,) = [
        s for s in key["KeyPolicy"]["Statement"] if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert set(statement["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {"aws:SourceArn": alarm_arns(synth, env)},
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_subscription_without_an_alarm_email_and_the_topic_is_an_output(synth: Synth, env: str, configs) -> None:
    assert configs[env].alarm_email is None
    Template.from_json(synth.templates[env]).resource_count_is("AWS::SNS::Subscription", 0)
    stack = synth.stacks[env]
    topic_id = stack.get_logical_id(stack.alerts.topic.node.default_child)
    assert synth.templates[env]["Outputs"]["AlertsTopicArn"]["Value"] == {"Ref": topic_id}


def test_an_alarm_email_subscribes_to_the_topic(variant_synth: Synth) -> None:
    stack = variant_synth.stacks["standing"]
    topic_id = stack.get_logical_id(stack.alerts.topic.node.default_child)
    Template.from_json(variant_synth.templates["standing"]).has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": ALARM_EMAIL, "TopicArn": {"Ref": topic_id}},
    )
    Template.from_json(variant_synth.templates["standing"]).resource_count_is("AWS::SNS::Subscription", 1)


def test_environments_toml_shows_alarm_email_as_a_commented_example() -> None:
    text = (PROJECT_ROOT / "config" / "environments.toml").read_text(encoding="utf-8")
    example = re.search(r'^# alarm_email = "([^"]+)"', text, flags=re.MULTILINE)
    assert example, "a commented alarm_email example"
    # Uncommented, the example is a valid value.
    document = tomllib.loads(text)
    document["defaults"]["alarm_email"] = example.group(1)
    assert environments_from(document)["develop"].alarm_email == example.group(1)


def test_every_caller_of_allow_alarms_adds_to_the_same_two_statements() -> None:
    """The prediction report's alarms and any other construct's (the endpoint's) share one topic-policy and one
    key-policy statement: a second pair with the same Sid would make the policies invalid."""
    from aws_cdk import App, Stack

    from stacks.alerts import Alerts

    stack = Stack(App(), "AlarmsOfTwoConstructs", env={"account": "111122223333", "region": "eu-west-1"})
    alerts = Alerts(
        stack,
        "Alerts",
        name_prefix="jobclf-test",
        environment="test",
        alarm_email=None,
        pipeline_arn="arn:aws:sagemaker:eu-west-1:111122223333:pipeline/jobclf-test",
        model_package_group_name="jobclf-test",
    )
    alerts.allow_alarms([alerts.alarm_arn("jobclf-test-prediction-drift-psi")])
    alerts.allow_alarms(
        [alerts.alarm_arn("jobclf-test-endpoint-5xx"), alerts.alarm_arn("jobclf-test-endpoint-latency")]
    )
    template = Template.from_stack(stack).to_json()
    expected = [
        {
            "Fn::Join": [
                "",
                ["arn:", {"Ref": "AWS::Partition"}, f":cloudwatch:eu-west-1:111122223333:alarm:jobclf-test-{name}"],
            ]
        }
        for name in ("prediction-drift-psi", "endpoint-5xx", "endpoint-latency")
    ]
    [topic_policy] = [r for r in template["Resources"].values() if r["Type"] == "AWS::SNS::TopicPolicy"]
    [key] = [r for r in template["Resources"].values() if r["Type"] == "AWS::KMS::Key"]
    for statements in (
        topic_policy["Properties"]["PolicyDocument"]["Statement"],
        key["Properties"]["KeyPolicy"]["Statement"],
    ):
        [alarms] = [s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}]
        assert alarms["Condition"]["ArnLike"]["aws:SourceArn"] == expected
