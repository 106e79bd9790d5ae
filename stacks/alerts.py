"""Alerts: EventBridge rules on what needs a person, publishing to an encrypted SNS topic.

- Failed or stopped executions: SageMaker sends "SageMaker Model Building Pipeline Execution Status
  Change" events to the account's default event bus on every status change of every pipeline
  execution; the rule matches only this environment's pipeline (its ARN) and only the end states
  `Failed` and `Stopped`.
- Rejected models: the quality gate registers a model that misses it as Rejected (the execution
  itself succeeds), and a person may reject one; SageMaker sends "SageMaker Model Package State
  Change" events on every change of a model package (SageMaker developer guide, "Events that Amazon
  SageMaker AI sends to Amazon EventBridge", model package state change); the rule matches this
  environment's model package group and `ModelApprovalStatus` Rejected.

The event goes to the environment's SNS topic; with `alarm_email` configured, the topic has an
e-mail subscription (AWS sends a confirmation e-mail first; nothing arrives until it is confirmed).
CloudWatch alarms publish to the same topic, each allowed by its ARN (`allow_alarms`): the endpoint's
(stacks/endpoint.py) and the prediction report's (stacks/monitoring.py). The endpoint deployer function
publishes when it deletes the endpoint (`grant_publish`).

The topic is encrypted with its own KMS key, not the data key. EventBridge must be allowed to
use the key of an encrypted target topic, and SNS does not support `aws:SourceAccount` or
`aws:SourceArn` conditions in that key policy statement for EventBridge (Amazon SNS Developer
Guide, "Key management"), so the statement cannot be narrowed to this rule; on a key that only
this topic uses, that grants nothing beyond publishing alerts (and writing the endpoint deployer's
dead letters, which the same key encrypts). The topic policy allows only EventBridge, only from this
account and only for these rules, and CloudWatch only for the alarms `allow_alarms` names; it denies
requests without TLS.
"""

from __future__ import annotations

import jsii
from aws_cdk import ArnFormat, Aws, Duration, IStableListProducer, Lazy, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from pipeline_steps.contract import REJECTED
from stacks.iam import RolePermissions

PIPELINE_STATUS_CHANGE = "SageMaker Model Building Pipeline Execution Status Change"
ALERT_STATUSES = ("Failed", "Stopped")
MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
EVENTS_PRINCIPAL = "events.amazonaws.com"
CLOUDWATCH_PRINCIPAL = "cloudwatch.amazonaws.com"
# EventBridge retries a failed delivery to the topic; past this age an alert is stale anyway.
TARGET_MAXIMUM_EVENT_AGE = Duration.hours(6)
TARGET_RETRY_ATTEMPTS = 20


def pipeline_failure_pattern(pipeline_arn: str) -> dict:
    """The EventBridge event pattern: this pipeline's executions that ended Failed or Stopped."""
    return {
        "source": ["aws.sagemaker"],
        "detail-type": [PIPELINE_STATUS_CHANGE],
        "detail": {
            "pipelineArn": [pipeline_arn],
            "currentPipelineExecutionStatus": list(ALERT_STATUSES),
        },
    }


def model_rejected_pattern(model_package_group_name: str) -> dict:
    """The EventBridge event pattern: a model package of this group created or changed as Rejected."""
    return {
        "source": ["aws.sagemaker"],
        "detail-type": [MODEL_PACKAGE_STATE_CHANGE],
        "detail": {"ModelPackageGroupName": [model_package_group_name], "ModelApprovalStatus": [REJECTED]},
    }


@jsii.implements(IStableListProducer)
class _ListOf:
    """The items of a list as they are when the template is written (constructs add to it until then)."""

    def __init__(self, items: list[str]) -> None:
        self.items = items

    def produce(self) -> list[str]:
        return list(self.items)


class Alerts(Construct):
    """KMS key, SNS topic (+ e-mail subscription when configured) and the EventBridge rules that feed it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        environment: str,
        alarm_email: str | None,
        pipeline_arn: str,
        model_package_group_name: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description=f"{name_prefix}: encrypts the alerts topic and the endpoint deployer's dead-letter queue",
            alias=f"alias/{name_prefix}-alerts",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=f"{name_prefix}-pipeline-alerts",
            display_name=f"JobClf {environment} pipeline alerts",
            master_key=self.key,
            enforce_ssl=True,
        )
        self.rule_arns: list[str] = []
        self._alarm_arns: list[str] = []
        self.rule = self._add_rule(
            "PipelineFailedRule",
            f"{name_prefix}-pipeline-failed",
            f"{name_prefix}: pipeline executions that ended Failed or Stopped, to the alerts topic",
            pipeline_failure_pattern(pipeline_arn),
        )
        self.model_rejected_rule = self._add_rule(
            "ModelRejectedRule",
            f"{name_prefix}-model-rejected",
            f"{name_prefix}: model packages registered or changed as Rejected (quality gate or a person)",
            model_rejected_pattern(model_package_group_name),
        )
        # EventBridge's requests to the key carry no source, so only the topic's statement names the rules.
        self._let_publish(
            EVENTS_PRINCIPAL,
            topic_sid="OnlyThisAccountsAlertRulesPublish",
            topic_conditions={
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                "ArnEquals": {"aws:SourceArn": self.rule_arns},
            },
            key_sid="EventBridgePublishesToTheEncryptedAlertsTopic",
        )
        # The topic policy (and the key policy) must be in place before a rule delivers anything.
        policy = self.topic.node.try_find_child("Policy")
        for rule in (self.rule, self.model_rejected_rule):
            if policy is not None:
                rule.node.add_dependency(policy)
            rule.node.add_dependency(self.key)
        self.subscription: sns.Subscription | None = None
        if alarm_email is not None:
            self.subscription = sns.Subscription(
                self,
                "EmailSubscription",
                topic=self.topic,
                protocol=sns.SubscriptionProtocol.EMAIL,
                endpoint=alarm_email,
            )

    def allow_alarms(self, alarm_arns: list[str]) -> None:
        """Let these CloudWatch alarms of this account publish to the topic. CloudWatch needs kms:Decrypt and
        kms:GenerateDataKey* on an encrypted topic's key (Amazon SNS Developer Guide, "Key management"); unlike
        EventBridge's, its requests carry aws:SourceAccount and aws:SourceArn, so both statements name the alarms.

        By ARN, not by reference: the key policy must not wait for the alarms that wait for the topic. Every
        call adds to the same two statements (one Sid each), whoever calls."""
        if not self._alarm_arns:
            conditions = {
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                "ArnLike": {"aws:SourceArn": Lazy.list(_ListOf(self._alarm_arns))},
            }
            self._let_publish(
                CLOUDWATCH_PRINCIPAL,
                topic_sid="OnlyThisAccountsAlarmsPublish",
                topic_conditions=conditions,
                key_sid="AlarmsPublishToTheEncryptedAlertsTopic",
                key_conditions=conditions,
            )
        self._alarm_arns.extend(alarm_arns)

    def alarm_arn(self, alarm_name: str) -> str:
        """The ARN of this stack's alarm `alarm_name`, from its name (what allow_alarms takes):
        arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>, a colon before the name (Service
        Authorization Reference, "Resource types defined by Amazon CloudWatch")."""
        return Stack.of(self).format_arn(
            service="cloudwatch", resource="alarm", resource_name=alarm_name, arn_format=ArnFormat.COLON_RESOURCE_NAME
        )

    def _add_rule(self, construct_id: str, rule_name: str, description: str, pattern: dict) -> events.CfnRule:
        # Named, so its ARN is known without a reference to the rule: the rule waits for the topic policy.
        self.rule_arns.append(Stack.of(self).format_arn(service="events", resource="rule", resource_name=rule_name))
        return events.CfnRule(
            self,
            construct_id,
            name=rule_name,
            description=description,
            state="ENABLED",
            event_pattern=pattern,
            targets=[
                events.CfnRule.TargetProperty(
                    id="AlertsTopic",
                    arn=self.topic.topic_arn,
                    retry_policy=events.CfnRule.RetryPolicyProperty(
                        maximum_event_age_in_seconds=int(TARGET_MAXIMUM_EVENT_AGE.to_seconds()),
                        maximum_retry_attempts=TARGET_RETRY_ATTEMPTS,
                    ),
                )
            ],
        )

    def _let_publish(
        self,
        service_principal: str,
        *,
        topic_sid: str,
        topic_conditions: dict,
        key_sid: str,
        key_conditions: dict | None = None,
    ) -> None:
        """A service may publish to the topic, and use its key as SSE-KMS needs (kms:GenerateDataKey*, kms:Decrypt)."""
        principal = iam.ServicePrincipal(service_principal)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid=topic_sid,
                principals=[principal],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=topic_conditions,
            )
        )
        # In a key policy, "*" is this key.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=key_sid,
                principals=[principal],
                actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                resources=["*"],
                conditions=key_conditions,
            )
        )

    def grant_publish(self, to: RolePermissions) -> None:
        """Publish an alert to the topic (SNS with SSE-KMS: the publisher needs the key's GenerateDataKey and Decrypt)."""
        to.allow("PublishAlerts", ["sns:Publish"], [self.topic.topic_arn])
        to.allow("EncryptAlerts", ["kms:GenerateDataKey", "kms:Decrypt"], [self.key.key_arn])
