"""The endpoint deployer (endpoint_deployer/, the Lambda function's code) against moto's SageMaker server on loopback.

Each test registers model packages through the API, hands the deployer the EventBridge events SageMaker
sends ("SageMaker Model Package State Change", shaped as the developer guide documents them) and reads
the endpoint, its configuration and model back through the API. moto's server is extended as
cli_support describes: UpdateEndpoint, SageMaker's refusal of existing names, and endpoints that stay
Creating or Updating until the test lets them finish, with one update at a time.

What moto cannot prove here:
- that SageMaker accepts these requests beyond their shapes: that a model made from a model package ARN
  starts and serves, that the scikit-learn image reads SAGEMAKER_MODEL_SERVER_WORKERS, that serverless
  memory and concurrency fit the account's quotas, that CANARY with these sizes and the alarms run as
  documented (moto records the DeploymentConfig; it runs no deployment and no alarm);
- SageMaker's real timings and messages (the deployer keys on error codes and on what DescribeEndpoint
  says, never on message text, except "Could not find" for a missing resource);
- ListModelPackages' eventual consistency: moto's listing is never stale, so two tests put a stale listing
  (LaggingListing) in front of moto's client to show that the trigger's own package decides;
- Lambda itself: that reserved concurrency 1 serializes invocations, that a failed invocation is retried
  twice and then lands in the dead-letter queue (tests/infra checks the function is configured so), and
  EventBridge's delivery (test_the_rule_pattern_* checks the rule's pattern with moto's pattern matcher);
- IAM: moto allows every call (tests/infra checks the function's policy statement by statement).
"""

from __future__ import annotations

import datetime
import json
import uuid

import pytest
from cli_support import ACCOUNT, REGION

from endpoint_deployer.deployer import (
    MODEL_PACKAGE_STATE_CHANGE,
    SERVERLESS_WORKERS,
    Deployer,
    EndpointBusy,
    EndpointSettings,
    Package,
    UnsupportedUpdate,
    Variant,
    target_for,
)

GROUP = ENDPOINT = "jobclf-develop"
MODEL_ROLE = f"arn:aws:iam::{ACCOUNT}:role/jobclf-develop-endpoint-model"
IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
PACKAGE_ENVIRONMENT = {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
ALARMS = ("jobclf-develop-endpoint-5xx", "jobclf-develop-endpoint-latency")


def settings(**variant) -> EndpointSettings:
    return EndpointSettings(ENDPOINT, GROUP, MODEL_ROLE, Variant(**variant), rollback_alarms=ALARMS)


def state_change(package: dict, status: str | None = None, group: str = GROUP) -> dict:
    """The event SageMaker sends for a change of `package` (its DescribeModelPackage), as documented."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": MODEL_PACKAGE_STATE_CHANGE,
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [package["ModelPackageArn"]],
        "detail": {
            "ModelPackageGroupName": group,
            "ModelPackageVersion": package["ModelPackageVersion"],
            "ModelPackageArn": package["ModelPackageArn"],
            "CreationTime": package["CreationTime"].isoformat(),
            "InferenceSpecification": package["InferenceSpecification"],
            "ModelPackageStatus": package["ModelPackageStatus"],
            "ModelApprovalStatus": status or package["ModelApprovalStatus"],
        },
    }


class Registry:
    """The group in moto, and what the deployer did to the endpoint."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.sagemaker = endpoint.client("sagemaker")
        self.sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)

    def register(self, status: str = "Approved") -> dict:
        arn = self.sagemaker.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelApprovalStatus=status,
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": IMAGE,
                        "Environment": PACKAGE_ENVIRONMENT,
                        "ModelDataUrl": f"s3://jobclf-develop-models/training/job{uuid.uuid4().hex[:6]}/output/model.tar.gz",
                    }
                ],
                "SupportedContentTypes": ["application/json", "text/csv"],
                "SupportedResponseMIMETypes": ["application/json", "text/csv"],
            },
        )["ModelPackageArn"]
        return self.package(arn)

    def package(self, arn: str) -> dict:
        return self.sagemaker.describe_model_package(ModelPackageName=arn)

    def set_status(self, package: dict, status: str) -> dict:
        self.sagemaker.update_model_package(ModelPackageArn=package["ModelPackageArn"], ModelApprovalStatus=status)
        return self.package(package["ModelPackageArn"])

    def served(self) -> str | None:
        """The model package ARN the endpoint's configuration serves, None without an endpoint."""
        from endpoint_deployer.deployer import served_package_arn

        try:
            config = self.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
        except self.sagemaker.exceptions.ClientError as error:
            assert "Could not find endpoint" in str(error)
            return None
        return served_package_arn(self.sagemaker, config)

    def calls(self, action: str) -> list[tuple[str, str, str | None]]:
        return [call for call in self.endpoint.endpoint_calls if call[0] == action]


@pytest.fixture
def registry(aws_env) -> Registry:
    return Registry(aws_env)


def deployer(registry: Registry, variant: dict | None = None, **options) -> Deployer:
    return Deployer(registry.sagemaker, settings(**(variant or {})), **options)


def config_of(registry: Registry, package: dict, **variant) -> str:
    return target_for(
        settings(**variant), Package(package["ModelPackageArn"], package["ModelPackageVersion"])
    ).config_name


# -- approvals --------------------------------------------------------------------------------------


def test_a_package_registered_approved_creates_the_serverless_endpoint_from_it(registry):
    v1 = registry.register("Approved")
    outcome = deployer(registry).handle(state_change(v1))
    assert (outcome.action, outcome.package_arn) == ("created", v1["ModelPackageArn"])
    assert registry.served() == v1["ModelPackageArn"]
    endpoint_config = registry.sagemaker.describe_endpoint_config(EndpointConfigName=outcome.endpoint_config)
    [variant] = endpoint_config["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 10}
    assert "KmsKeyId" not in endpoint_config and "InstanceType" not in variant
    model = registry.sagemaker.describe_model(ModelName=variant["ModelName"])
    assert model["ExecutionRoleArn"] == MODEL_ROLE
    assert model["PrimaryContainer"]["Environment"] == {**PACKAGE_ENVIRONMENT, **SERVERLESS_WORKERS}
    assert outcome.endpoint_config.startswith(f"{ENDPOINT}-v1-") and len(outcome.endpoint_config) <= 63


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r, p: state_change(r.set_status(p, "PendingManualApproval")), "is now PendingManualApproval"),
        (lambda r, p: state_change(p, group="jobclf-production"), "not 'jobclf-develop'"),
        (
            lambda r, p: {**state_change(p), "detail-type": "SageMaker Endpoint State Change"},
            "not a SageMaker Model Package",
        ),
        (lambda r, p: {"source": "aws.events", "detail-type": "Scheduled Event"}, "not a SageMaker Model Package"),
    ],
    ids=["pending", "other group", "other detail-type", "other source"],
)
def test_only_a_change_to_approved_or_rejected_of_this_group_is_acted_on(registry, change, expected):
    package = registry.register("PendingManualApproval")
    outcome = deployer(registry).handle(change(registry, package))
    assert outcome.action == "ignored" and expected in outcome.detail
    assert registry.endpoint.endpoint_calls == [] and registry.served() is None


def test_an_event_that_says_approved_is_checked_against_the_registry(registry):
    """Events can arrive late or out of order: the package was approved, then set back to pending."""
    package = registry.register("Approved")
    event = state_change(package)
    registry.set_status(package, "PendingManualApproval")
    outcome = deployer(registry).handle(event)
    assert outcome.action == "empty" and registry.endpoint.endpoint_calls == []


def test_a_repeated_event_changes_nothing(registry):
    v1 = registry.register("Approved")
    event = state_change(v1)
    first = deployer(registry).handle(event)
    calls = list(registry.endpoint.endpoint_calls)
    again = deployer(registry).handle(event)
    assert (first.action, again.action) == ("created", "unchanged")
    assert again.endpoint_config == first.endpoint_config
    assert registry.endpoint.endpoint_calls == calls  # no model, configuration or endpoint created or updated again


def test_a_newer_approval_updates_the_endpoint_and_an_older_package_never_replaces_it(registry):
    v1 = registry.register("Approved")
    deployer(registry).handle(state_change(v1))
    v2 = registry.set_status(registry.register("PendingManualApproval"), "Approved")
    outcome = deployer(registry).handle(state_change(v2))
    assert outcome.action == "updating" and registry.served() == v2["ModelPackageArn"]
    # Any later change of v1 (approved again, a new description) sends an "Approved" event for it: nothing moves.
    again = deployer(registry).handle(state_change(registry.set_status(v1, "Approved")))
    assert again.action == "unchanged" and registry.served() == v2["ModelPackageArn"]
    assert [call[2] for call in registry.calls("UpdateEndpoint")] == [config_of(registry, v2)]


# -- rejections -------------------------------------------------------------------------------------


def test_rejecting_the_served_package_rolls_back_to_the_previous_approved_one(registry):
    v1, v2 = registry.register("Approved"), registry.register("Approved")
    deployer(registry).handle(state_change(v2))
    assert registry.served() == v2["ModelPackageArn"]
    models_before = len(registry.calls("CreateModel"))
    outcome = deployer(registry).handle(state_change(registry.set_status(v2, "Rejected")))
    assert (outcome.action, outcome.package_arn) == ("updating", v1["ModelPackageArn"])
    assert registry.served() == v1["ModelPackageArn"]
    assert len(registry.calls("CreateModel")) == models_before + 1  # v1's model did not exist: v2 was deployed first


def test_rolling_back_to_a_package_served_before_reuses_its_model_and_configuration(registry):
    v1 = registry.register("Approved")
    deployer(registry).handle(state_change(v1))
    v2 = registry.register("Approved")
    deployer(registry).handle(state_change(v2))
    created = (len(registry.calls("CreateModel")), len(registry.calls("CreateEndpointConfig")))
    deployer(registry).handle(state_change(registry.set_status(v2, "Rejected")))
    assert registry.served() == v1["ModelPackageArn"]
    assert (len(registry.calls("CreateModel")), len(registry.calls("CreateEndpointConfig"))) == created


class LaggingListing:
    """The SageMaker client, except that ListModelPackages answers what it answered before a change: what an
    eventually consistent listing can do right after UpdateModelPackage (moto's listing is never stale)."""

    def __init__(self, sagemaker):
        self._sagemaker = sagemaker
        self._pages = list(
            sagemaker.get_paginator("list_model_packages").paginate(
                ModelPackageGroupName=GROUP,
                ModelApprovalStatus="Approved",
                SortBy="CreationTime",
                SortOrder="Descending",
            )
        )

    def get_paginator(self, operation: str):
        assert operation == "list_model_packages"
        pages = self._pages

        class Stale:
            def paginate(self, **_):
                return iter(pages)

        return Stale()

    def __getattr__(self, name: str):
        return getattr(self._sagemaker, name)


def test_a_listing_that_lags_behind_a_rejection_cannot_keep_the_rejected_package(registry):
    v1, v2 = registry.register("Approved"), registry.register("Approved")
    deployer(registry).handle(state_change(v2))
    stale = LaggingListing(registry.sagemaker)  # still lists v2 as Approved
    outcome = Deployer(stale, settings()).handle(state_change(registry.set_status(v2, "Rejected")))
    assert (outcome.action, outcome.package_arn) == ("updating", v1["ModelPackageArn"])


def test_a_listing_that_lags_behind_an_approval_cannot_hide_the_new_package(registry):
    v1 = registry.register("Approved")
    deployer(registry).handle(state_change(v1))
    stale = LaggingListing(registry.sagemaker)  # does not list v2 yet
    v2 = registry.register("Approved")
    outcome = Deployer(stale, settings()).handle(state_change(v2))
    assert (outcome.action, outcome.package_arn) == ("updating", v2["ModelPackageArn"])


def test_rejecting_a_package_that_is_not_served_changes_nothing(registry):
    v1, v2 = registry.register("Approved"), registry.register("Approved")
    deployer(registry).handle(state_change(v2))
    calls = list(registry.endpoint.endpoint_calls)
    outcome = deployer(registry).handle(state_change(registry.set_status(v1, "Rejected")))
    assert outcome.action == "unchanged" and registry.endpoint.endpoint_calls == calls


def test_rejecting_the_last_approved_package_deletes_the_endpoint_and_alerts(registry, aws_env):
    sns, sqs = aws_env.client("sns"), aws_env.client("sqs")
    topic = sns.create_topic(Name="jobclf-develop-pipeline-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    v1 = registry.register("Approved")
    alerting = Deployer(
        registry.sagemaker, EndpointSettings(ENDPOINT, GROUP, MODEL_ROLE, alerts_topic_arn=topic), sns=sns
    )
    alerting.handle(state_change(v1))
    outcome = alerting.handle(state_change(registry.set_status(v1, "Rejected")))
    assert outcome.action == "deleted" and registry.served() is None
    [message] = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1)["Messages"]
    body = json.loads(message["Body"])
    assert body["Subject"] == f"JobClf: endpoint {ENDPOINT} deleted, no approved model"
    assert v1["ModelPackageArn"] in body["Message"] and "Approving one creates the endpoint again" in body["Message"]
    # The next approval brings it back.
    v2 = registry.register("Approved")
    assert alerting.handle(state_change(v2)).action == "created" and registry.served() == v2["ModelPackageArn"]


# -- one update at a time ---------------------------------------------------------------------------


class Clock:
    """Time that passes only when the deployer sleeps; `on_sleep` runs at each sleep (the world moving on)."""

    def __init__(self, on_sleep=lambda slept: None):
        self.now = 0.0
        self.slept: list[float] = []
        self.on_sleep = on_sleep

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        self.on_sleep(len(self.slept))

    def __call__(self) -> float:
        return self.now


def test_two_approvals_in_quick_succession_deploy_the_newest_once(registry, aws_env):
    aws_env.hold_endpoint_operations = True
    v1 = registry.register("Approved")
    assert deployer(registry).handle(state_change(v1)).action == "created"
    assert aws_env.endpoint_status(ENDPOINT) == "Creating"
    # v2 and then v3 are approved while the endpoint is still being created; v2's event is handled first.
    v2, v3 = registry.register("Approved"), registry.register("Approved")
    clock = Clock(on_sleep=lambda sleeps: sleeps == 2 and aws_env.finish_endpoint_operation(ENDPOINT))
    outcome = deployer(registry, busy_wait_seconds=600, poll_seconds=20, sleep=clock.sleep, clock=clock).handle(
        state_change(v2)
    )
    assert clock.slept == [20, 20]  # it waited for the creation to end instead of failing the update
    assert (outcome.action, outcome.package_arn) == ("updating", v3["ModelPackageArn"])
    # v3's own event finds the update to v3 under way: nothing to do; once it is done, still nothing.
    assert deployer(registry).handle(state_change(v3)).action == "deploying"
    aws_env.finish_endpoint_operation(ENDPOINT)
    assert deployer(registry).handle(state_change(v3)).action == "unchanged"
    assert registry.served() == v3["ModelPackageArn"]
    assert [call[2] for call in registry.calls("UpdateEndpoint")] == [config_of(registry, v3)]  # v2 never deployed
    assert all(f"-v{v2['ModelPackageVersion']}-" not in call[1] for call in registry.calls("CreateModel"))


def test_an_endpoint_still_busy_at_the_end_of_the_wait_fails_the_invocation_so_that_it_is_retried(registry, aws_env):
    aws_env.hold_endpoint_operations = True
    v1 = registry.register("Approved")
    deployer(registry).handle(state_change(v1))
    v2 = registry.register("Approved")
    clock = Clock()
    with pytest.raises(EndpointBusy, match="still Creating"):
        deployer(registry, busy_wait_seconds=60, poll_seconds=20, sleep=clock.sleep, clock=clock).handle(
            state_change(v2)
        )
    assert clock.slept == [20, 20, 20] and registry.calls("UpdateEndpoint") == []
    aws_env.finish_endpoint_operation(ENDPOINT)
    assert deployer(registry).handle(state_change(v2)).action == "updating"  # Lambda's retry


def test_a_failed_endpoint_is_deleted_and_created_again(registry, aws_env):
    aws_env.hold_endpoint_operations = True
    v1 = registry.register("Approved")
    deployer(registry).handle(state_change(v1))
    aws_env.finish_endpoint_operation(ENDPOINT, fail="the container did not pass the ping health check")
    assert aws_env.endpoint_status(ENDPOINT) == "Failed"
    v2 = registry.register("Approved")
    outcome = deployer(registry).handle(state_change(v2))
    assert outcome.action == "created" and registry.calls("DeleteEndpoint") == [("DeleteEndpoint", ENDPOINT, None)]
    assert registry.served() == v2["ModelPackageArn"]


# -- deployment guardrails --------------------------------------------------------------------------


def deployed_config(aws_env) -> dict | None:
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[ACCOUNT][REGION].endpoints[ENDPOINT].deployment_config


@pytest.mark.parametrize(
    ("variant", "routing"),
    [
        (
            {"type": "provisioned", "instance_count": 2},
            {"Type": "CANARY", "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1}},
        ),
        ({"type": "provisioned", "instance_count": 1}, {"Type": "ALL_AT_ONCE"}),
    ],
    ids=["two instances: canary", "one instance: all at once"],
)
def test_a_provisioned_update_is_blue_green_with_a_baking_period_the_alarms_roll_back(
    registry, aws_env, variant, routing
):
    deployer(registry, variant).handle(state_change(registry.register("Approved")))
    deployer(registry, variant).handle(state_change(registry.register("Approved")))
    policy = deployed_config(aws_env)["BlueGreenUpdatePolicy"]
    assert {k: v for k, v in policy["TrafficRoutingConfiguration"].items() if k != "WaitIntervalInSeconds"} == routing
    assert policy["TerminationWaitInSeconds"] == 600 and policy["MaximumExecutionTimeoutInSeconds"] == 3600
    assert deployed_config(aws_env)["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": name} for name in ALARMS]}
    [variant_config] = registry.sagemaker.describe_endpoint_config(
        EndpointConfigName=registry.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    )["ProductionVariants"]
    assert (variant_config["InstanceType"], variant_config["InitialInstanceCount"]) == (
        "ml.m5.large",
        variant["instance_count"],
    )


def test_a_serverless_update_sends_no_deployment_guardrails(registry, aws_env):
    deployer(registry).handle(state_change(registry.register("Approved")))
    deployer(registry).handle(state_change(registry.register("Approved")))
    assert registry.calls("UpdateEndpoint") and deployed_config(aws_env) is None


def test_changing_the_settings_deploys_a_new_configuration_and_provisioned_to_serverless_is_refused(registry):
    v1 = registry.register("Approved")
    deployer(registry).handle(state_change(v1))
    bigger = deployer(registry, {"memory_size_mb": 4096}).handle({"action": "reconcile"})
    assert bigger.action == "updating" and bigger.endpoint_config != config_of(registry, v1)
    provisioned = deployer(registry, {"type": "provisioned"}).handle({"action": "reconcile"})
    assert provisioned.action == "updating"  # serverless to instances: SageMaker allows it
    with pytest.raises(UnsupportedUpdate, match="cannot update an instance-based endpoint to serverless"):
        deployer(registry).handle({"action": "reconcile"})


# -- the Lambda entry point -------------------------------------------------------------------------


class LambdaContext:
    """The one method of Lambda's context object the handler calls."""

    def __init__(self, remaining_ms: int):
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_the_handler_reads_its_settings_from_the_function_environment(registry, monkeypatch):
    from endpoint_deployer import handler

    for name, value in settings(memory_size_mb=3072, max_concurrency=4).environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)  # Lambda sets it; boto3 reads it
    v1 = registry.register("Approved")
    result = handler.handler(state_change(v1), LambdaContext(remaining_ms=900_000))
    assert result["action"] == "created" and result["package_arn"] == v1["ModelPackageArn"]
    [variant] = registry.sagemaker.describe_endpoint_config(EndpointConfigName=result["endpoint_config"])[
        "ProductionVariants"
    ]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 4}
    assert handler.handler({"source": "aws.events"}, LambdaContext(remaining_ms=900_000))["action"] == "ignored"


def test_settings_survive_the_function_environment():
    original = EndpointSettings(
        ENDPOINT,
        GROUP,
        MODEL_ROLE,
        Variant(type="provisioned", instance_count=3),
        ALARMS,
        alerts_topic_arn="arn:aws:sns:eu-west-1:123456789012:alerts",
    )
    assert EndpointSettings.from_environment(original.environment()) == original
    with pytest.raises(KeyError, match="JOBCLF_ENDPOINT_ROLE_ARN"):
        EndpointSettings.from_environment(
            {k: v for k, v in original.environment().items() if k != "JOBCLF_ENDPOINT_ROLE_ARN"}
        )


def test_a_package_the_quality_gate_registers_rejected_changes_nothing(registry):
    """A model that misses the gate is registered Rejected (issue 19): its event reaches the deployer too."""
    v1 = registry.register("Approved")
    deployer(registry).handle(state_change(v1))
    calls = list(registry.endpoint.endpoint_calls)
    outcome = deployer(registry).handle(state_change(registry.register("Rejected")))
    assert outcome.action == "unchanged" and registry.endpoint.endpoint_calls == calls
    assert registry.served() == v1["ModelPackageArn"]
