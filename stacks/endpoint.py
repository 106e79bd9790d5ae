"""The serving endpoint: a Lambda function that keeps `jobclf-<env>` on the registry's latest approved model.

Why a Lambda function and not Step Functions with SDK integrations: the decision is a small program (the
newest Approved and Completed package, the trigger's own package read directly, names from versions and
digests, wait while the endpoint is busy, delete and alert when nothing approved is left); in Python it is
tested against moto's SageMaker server with the boto3 calls it makes in AWS, while a state machine's
Choice and Wait states could only be checked as JSON. What Step Functions would do better, waiting for
long deployments without paying for the wait, matters little here: an invocation waits at most 15 minutes
at 256 MB (about $0.004), and Lambda's retries cover a longer update.

What the stack holds (the endpoint itself, its models and endpoint configurations are created by the
function at the first approval: a model can only be made from a registered package):

- the function (endpoint_deployer/, Python runtime pinned below, the runtime's boto3), reserved concurrency 1
  so that two invocations never race for the endpoint's one update at a time, two retries of a failed
  invocation, then its dead-letter queue;
- the EventBridge rule: "SageMaker Model Package State Change" events of this environment's group whose
  ModelApprovalStatus is Approved or Rejected (the rule filters; the function checks again against the
  registry: endpoint_deployer.deployer);
- the endpoint's model role, which SageMaker assumes to pull the scikit-learn image, read the model archive
  and write the endpoint's logs; the function may pass only this role, only to SageMaker;
- CloudWatch alarms on the endpoint's 5xx errors and model latency (a provisioned update's auto-rollback
  alarms; for serverless they alert only) and on the dead-letter queue, to the alerts topic;
- the endpoint's and the function's log groups, encrypted with the data key, with a retention.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from config import EndpointConfig
from endpoint_deployer import deployer
from stacks import nag
from stacks.alerts import Alerts
from stacks.iam import RolePermissions, service_role
from stacks.registry import ModelRegistry
from stacks.roles import allow_pull_sklearn_image, allow_sagemaker_metrics
from stacks.step_code import PROJECT_ROOT
from stacks.storage import Storage

# The newest Python runtime aws-cdk-lib knows (cdk-nag AwsSolutions-L1 asks for the latest); the code is
# tested on the project's Python 3.11 and uses nothing newer.
DEPLOYER_RUNTIME = lambda_.Runtime.PYTHON_3_14
DEPLOYER_HANDLER = "endpoint_deployer.handler.handler"
# Lambda's maximum: the function waits for a busy endpoint for what is left of it (endpoint_deployer.handler).
DEPLOYER_TIMEOUT = Duration.minutes(15)
# Function errors are retried twice (Lambda's maximum), throttled events for up to six hours (its maximum age).
DEPLOYER_RETRY_ATTEMPTS = 2
DEPLOYER_MAXIMUM_EVENT_AGE = Duration.hours(6)
DEAD_LETTER_RETENTION = Duration.days(14)
LOG_RETENTION = logs.RetentionDays.ONE_YEAR
# SageMaker writes an endpoint's container logs to this group (developer guide, "Log Amazon SageMaker AI events
# with Amazon CloudWatch": /aws/sagemaker/Endpoints/[EndpointName]).
ENDPOINT_LOG_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"
# An invocation is an error when it answers 5xx; the alarm fires at 5 % of the invocations for two minutes.
ERROR_RATE_THRESHOLD = 0.05


def model_package_state_change_pattern(group_name: str) -> dict:
    """The rule's event pattern: this group's packages whose approval status is now Approved or Rejected."""
    return {
        "source": [deployer.SAGEMAKER_SOURCE],
        "detail-type": [deployer.MODEL_PACKAGE_STATE_CHANGE],
        "detail": {"ModelPackageGroupName": [group_name], "ModelApprovalStatus": list(deployer.TRIGGER_STATUSES)},
    }


def deployer_code() -> lambda_.Code:
    """The endpoint_deployer package alone (no cache, no other file of the project): a deterministic asset."""
    return lambda_.Code.from_asset(
        str(PROJECT_ROOT),
        exclude=["*", ".*", "!endpoint_deployer", "!endpoint_deployer/*.py"],
    )


class ServingEndpoint(Construct):
    """The deployer function, its rule, roles, alarms and logs, for the endpoint `endpoint_name`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        endpoint_name: str,
        settings: EndpointConfig,
        storage: Storage,
        registry: ModelRegistry,
        alerts: Alerts,
        image_repository_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.endpoint_name = endpoint_name
        self.function_name = f"{name_prefix}-endpoint-deployer"
        self.endpoint_arn = stack.format_arn(service="sagemaker", resource="endpoint", resource_name=endpoint_name)
        self._log_key = storage.key
        self._alerts = alerts
        self.alarm_names = {kind: f"{name_prefix}-endpoint-{kind}" for kind in ("5xx", "latency")}
        self.alarm_names["dead-letters"] = f"{name_prefix}-endpoint-deployer-dead-letters"
        log_group_names = (f"{ENDPOINT_LOG_GROUP_PREFIX}{endpoint_name}", f"/aws/lambda/{self.function_name}")
        self.endpoint_log_group = self._log_group("EndpointLogs", log_group_names[0])
        self.function_log_group = self._log_group("DeployerLogs", log_group_names[1])
        # By name, not by reference: the key policy must not wait for the log groups that wait for the key.
        storage.encrypt_log_groups(*log_group_names)

        self.model_role = service_role(
            self,
            "ModelRole",
            "sagemaker.amazonaws.com",
            f"{name_prefix}: the endpoint's model (pulls the image, reads the model archive)",
        )
        model_permissions = RolePermissions(self, self.model_role, description_prefix=name_prefix)
        self._allow_model(model_permissions, image_repository_arn)
        storage.grant_read_model_archives(model_permissions)

        self.alarms = self._add_endpoint_alarms(name_prefix, settings, alerts)
        # Encrypted with the alerts key: EventBridge may use it (it writes the events it could not deliver here),
        # and the key guards nothing but alerts.
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=alerts.key,
            enforce_ssl=True,
            retention_period=DEAD_LETTER_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.dead_letters_alarm = cloudwatch.Alarm(
            self,
            "DeadLettersAlarm",
            alarm_name=self.alarm_names["dead-letters"],
            alarm_description=(
                f"An event the {name_prefix} endpoint deployer could not handle after its retries is in "
                f"its dead-letter queue: run it again by hand (docs/operating.md)."
            ),
            metric=self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(5), statistic="Maximum"
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.dead_letters_alarm.add_alarm_action(cloudwatch_actions.SnsAction(alerts.topic))
        # By name, not by reference: the topic's key policy must not wait for the alarms that publish to the topic.
        alerts.allow_alarms([alerts.alarm_arn(name) for name in self.alarm_names.values()])

        self.settings = deployer.EndpointSettings(
            endpoint_name=endpoint_name,
            model_package_group=registry.group_name,
            model_role_arn=self.model_role.role_arn,
            variant=deployer.Variant(
                type=settings.type,
                memory_size_mb=settings.memory_size_mb,
                max_concurrency=settings.max_concurrency,
                instance_type=settings.instance_type,
                instance_count=settings.instance_count,
            ),
            rollback_alarms=(self.alarm_names["5xx"], self.alarm_names["latency"]),
            alerts_topic_arn=alerts.topic.topic_arn,
        )
        self.deployer_role = service_role(
            self, "DeployerRole", "lambda.amazonaws.com", f"{name_prefix}: the endpoint deployer function"
        )
        self.deployer_permissions = RolePermissions(self, self.deployer_role, description_prefix=name_prefix)
        self._allow_deployer(self.deployer_permissions)
        registry.grant_find_approved(self.deployer_permissions)
        alerts.grant_publish(self.deployer_permissions)

        self.function = lambda_.Function(
            self,
            "Deployer",
            function_name=self.function_name,
            description=f"Keeps the {endpoint_name} endpoint on the latest approved model of {registry.group_name}",
            runtime=DEPLOYER_RUNTIME,
            handler=DEPLOYER_HANDLER,
            code=deployer_code(),
            # Its permissions are the managed policies above (no inline policy for CDK to add to).
            role=self.deployer_role.without_policy_updates(),
            timeout=DEPLOYER_TIMEOUT,
            memory_size=256,
            reserved_concurrent_executions=1,
            retry_attempts=DEPLOYER_RETRY_ATTEMPTS,
            max_event_age=DEPLOYER_MAXIMUM_EVENT_AGE,
            dead_letter_queue=self.dead_letter_queue,
            environment=self.settings.environment(),
            log_group=self.function_log_group,
        )
        # The function must not run before its permissions exist.
        self.function.node.add_dependency(*self.deployer_permissions.policies)
        self._acknowledge_function()

        self.rule = events.Rule(
            self,
            "ModelApprovalRule",
            rule_name=f"{name_prefix}-endpoint-follows-registry",
            description=f"{registry.group_name}: a model package now Approved or Rejected, to the endpoint deployer",
            event_pattern=_event_pattern(registry.group_name),
            targets=[
                targets.LambdaFunction(
                    self.function,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=185,  # EventBridge's maximum: delivery is retried for the whole event age
                    max_event_age=Duration.hours(24),
                )
            ],
        )

    # -- pieces -------------------------------------------------------------------------------------

    def _log_group(self, construct_id: str, name: str) -> logs.LogGroup:
        return logs.LogGroup(
            self,
            construct_id,
            log_group_name=name,
            retention=LOG_RETENTION,
            encryption_key=self._log_key,
            # Kept with the stack's data: what the endpoint answered and how it was deployed.
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        )

    def _allow_model(self, to: RolePermissions, image_repository_arn: str) -> None:
        """What SageMaker does as the endpoint's model: pull the image, write the endpoint's logs and metrics."""
        allow_pull_sklearn_image(to, image_repository_arn)
        to.allow(
            "EndpointLogs",
            # As "SageMaker Roles" > CreateModel API: Execution Role Permissions lists them (the group exists
            # already: the stack made it, with its retention and key).
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            [f"{self.endpoint_log_group.log_group_arn}"],
            wildcard_reason=(
                "The endpoint writes one log stream per instance (named by SageMaker at start) into its own log group; "
                "only the streams of that one group are wildcarded."
            ),
        )
        allow_sagemaker_metrics(to, "EndpointMetrics")

    def _allow_deployer(self, to: RolePermissions) -> None:
        stack = Stack.of(self)
        name = self.endpoint_name
        versioned = [
            stack.format_arn(service="sagemaker", resource=kind, resource_name=f"{name}-v*")
            for kind in ("model", "endpoint-config")
        ]
        to.allow(
            "ManageTheEndpoint",
            [
                "sagemaker:DescribeEndpoint",
                "sagemaker:CreateEndpoint",
                "sagemaker:UpdateEndpoint",
                "sagemaker:DeleteEndpoint",
            ],
            [self.endpoint_arn, versioned[1]],
            wildcard_reason=(
                f"CreateEndpoint and UpdateEndpoint also authorize the endpoint configuration they deploy; the "
                f"deployer names those {name}-v<version>-<digest> from the model package, so only that prefix is "
                "wildcarded."
            ),
        )
        to.allow(
            "CreateVersionedModels",
            [
                "sagemaker:CreateModel",
                "sagemaker:DescribeModel",
                "sagemaker:CreateEndpointConfig",
                "sagemaker:DescribeEndpointConfig",
            ],
            versioned,
            wildcard_reason=(
                f"The deployer names each model and endpoint configuration {name}-v<version>-<digest> from the model "
                "package it serves (versions are numbered by SageMaker at registration), so only that prefix is "
                "wildcarded."
            ),
        )
        to.allow(
            "PassOnlyTheModelRole",
            ["iam:PassRole"],
            [self.model_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
        to.allow(
            "ReadRollbackAlarms",
            ["cloudwatch:DescribeAlarms"],
            [self._alerts.alarm_arn(self.alarm_names[kind]) for kind in ("5xx", "latency")],
        )
        to.allow("SendDeadLetters", ["sqs:SendMessage"], [self.dead_letter_queue.queue_arn])
        to.allow(
            "EncryptDeadLetters",
            ["kms:GenerateDataKey", "kms:Decrypt"],
            [self.dead_letter_queue.encryption_master_key.key_arn],
        )
        to.allow(
            "FunctionLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [self.function_log_group.log_group_arn],
            wildcard_reason=(
                "Lambda writes one log stream per execution environment (named at start) into the function's own log "
                "group; only the streams of that one group are wildcarded."
            ),
        )

    def _add_endpoint_alarms(
        self, name_prefix: str, settings: EndpointConfig, alerts: Alerts
    ) -> list[cloudwatch.Alarm]:
        """The endpoint's 5xx rate and model latency (AWS/SageMaker, by EndpointName and VariantName)."""
        dimensions = {"EndpointName": self.endpoint_name, "VariantName": deployer.VARIANT_NAME}
        rollback = (
            "SageMaker rolls a provisioned endpoint's update back when this alarm fires during its baking period"
            if settings.type == "provisioned"
            else "the serverless endpoint takes no alarm rollback"
        )
        errors = cloudwatch.Alarm(
            self,
            "ErrorsAlarm",
            alarm_name=self.alarm_names["5xx"],
            alarm_description=f"{self.endpoint_name}: over {ERROR_RATE_THRESHOLD:.0%} of invocations answered 5xx; {rollback}.",
            metric=cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name="Invocation5XXErrors",
                dimensions_map=dimensions,
                statistic="Average",
                period=Duration.minutes(1),
            ),
            threshold=ERROR_RATE_THRESHOLD,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=2,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        latency = cloudwatch.Alarm(
            self,
            "LatencyAlarm",
            alarm_name=self.alarm_names["latency"],
            alarm_description=(
                f"{self.endpoint_name}: average model latency over {settings.max_model_latency_ms} ms "
                f"for 5 minutes; {rollback}."
            ),
            # ModelLatency is in microseconds (developer guide, "SageMaker AI endpoint invocation metrics").
            metric=cloudwatch.Metric(
                namespace="AWS/SageMaker",
                metric_name="ModelLatency",
                dimensions_map=dimensions,
                statistic="Average",
                period=Duration.minutes(5),
            ),
            threshold=settings.max_model_latency_ms * 1000,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        for alarm in (errors, latency):
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(alerts.topic))
        return [errors, latency]

    def _acknowledge_function(self) -> None:
        nag.acknowledge(
            self.function,
            f"{nag.NIST_800_53_R5}-LambdaInsideVPC",
            "The deployer calls only the SageMaker, CloudWatch and SNS control-plane APIs and touches no data (no S3 "
            "object, no model bytes); inside the VPC it would need the NAT gateway or interface endpoints, and an "
            "execution role allowed to create network interfaces, for nothing it reads.",
        )
        for check_id, reason in DEPLOYER_CHECKOV_SKIPS.items():
            nag.checkov_skip(self.function, check_id, reason)
        # CDK's Function depends on its role (for the role's default policy, which this one has not) and reads the
        # role's ARN: cfn-lint W3005 flags the DependsOn that the GetAtt already implies.
        self.function.node.default_child.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})


def _event_pattern(group_name: str) -> events.EventPattern:
    pattern = model_package_state_change_pattern(group_name)
    return events.EventPattern(source=pattern["source"], detail_type=pattern["detail-type"], detail=pattern["detail"])


DEPLOYER_CHECKOV_SKIPS = {
    "CKV_AWS_117": "The deployer calls only the SageMaker, CloudWatch and SNS control-plane APIs and touches no data; "
    "inside the VPC it would need the NAT gateway or interface endpoints and network-interface permissions.",
    "CKV_AWS_173": "The environment holds only names and sizes from the public configuration (endpoint, group, role, "
    "alarm and topic names); Lambda encrypts it at rest with an AWS managed key, and a customer key would give the "
    "function kms:Decrypt on a key that guards data it never reads.",
}
