"""Watching the model: CloudWatch alarms on every predict execution's prediction report, to the alerts topic.

Each predict execution's PredictionReport step (pipeline_steps/prediction_report.py) puts its figures in the
environment's namespace, `JobClf/<env>` (pipeline_steps.contract.metrics_namespace), as the pipeline role,
whose permission this construct grants: cloudwatch:PutMetricData, which supports no resource-level
permission, allowed only for that namespace with the `cloudwatch:namespace` condition key (Service
Authorization Reference, "Actions, resources, and condition keys for Amazon CloudWatch"; CloudWatch user
guide, "Using condition keys to limit access to CloudWatch namespaces").

One alarm per judged figure, on its metric without dimensions, fires when a figure is above its maximum
(config `monitoring`, the same maximums the report judges with): the population stability index and
Jensen-Shannon distance of the answered major groups from the model's training titles, the shares of
low-confidence answers, of titles with no word the model knows, and of rejected rows. The report puts a
figure only when it rests on enough rows, once per execution; so each alarm looks at the maximum of an hour,
treats an hour without a figure as not breaching (CloudWatch user guide, "Configuring how CloudWatch alarms
treat missing data": for metrics that report only intermittently) and is back to OK an hour after a breach:
every breaching execution notifies once.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from constructs import Construct

from config import MonitoringConfig
from pipeline_steps.contract import (
    METRIC_JENSEN_SHANNON_DISTANCE,
    METRIC_LOW_CONFIDENCE_SHARE,
    METRIC_NO_KNOWN_WORD_SHARE,
    METRIC_POPULATION_STABILITY_INDEX,
    METRIC_REJECTED_SHARE,
    metrics_namespace,
)
from stacks.alerts import Alerts
from stacks.iam import RolePermissions

ALARM_PERIOD = Duration.hours(1)
# metric, the MonitoringConfig maximum that is its threshold, the alarm name's suffix, what a breach means.
ALARMS = (
    (
        METRIC_POPULATION_STABILITY_INDEX,
        "max_population_stability_index",
        "prediction-drift-psi",
        "the major groups of a predict execution's answers drifted from the model's training titles (population "
        "stability index)",
    ),
    (
        METRIC_JENSEN_SHANNON_DISTANCE,
        "max_jensen_shannon_distance",
        "prediction-drift-js",
        "the major groups of a predict execution's answers drifted from the model's training titles (Jensen-Shannon "
        "distance)",
    ),
    (
        METRIC_LOW_CONFIDENCE_SHARE,
        "max_low_confidence_share",
        "prediction-low-confidence",
        "too many of a predict execution's answers are below the configured confidence",
    ),
    (
        METRIC_NO_KNOWN_WORD_SHARE,
        "max_no_known_word_share",
        "prediction-unknown-words",
        "too many of a predict execution's titles have no word the model knows (text that is no job title?)",
    ),
    (
        METRIC_REJECTED_SHARE,
        "max_rejected_share",
        "prediction-rejected-rows",
        "too many of a predict execution's rows were rejected (empty, too long, no letters, another script)",
    ),
)


class PredictionMonitoring(Construct):
    """The alarms on the prediction report's metrics, and the permission to put them."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        environment: str,
        settings: MonitoringConfig,
        alerts: Alerts,
    ) -> None:
        super().__init__(scope, construct_id)
        self.namespace = metrics_namespace(environment)
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        names = []
        for metric_name, maximum, suffix, meaning in ALARMS:
            name = f"{name_prefix}-{suffix}"
            alarm = cloudwatch.Alarm(
                self,
                metric_name,
                alarm_name=name,
                alarm_description=(
                    f"{name_prefix}: {meaning}, above {getattr(settings, maximum):g} (config monitoring.{maximum}). "
                    f"`jobclf executions list --env {environment}` then `jobclf executions show <id> --env "
                    f"{environment}` prints the execution's prediction report (docs/operating.md)."
                ),
                metric=cloudwatch.Metric(
                    namespace=self.namespace, metric_name=metric_name, period=ALARM_PERIOD, statistic="Maximum"
                ),
                threshold=getattr(settings, maximum),
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                actions_enabled=True,
            )
            alarm.add_alarm_action(cloudwatch_actions.SnsAction(alerts.topic))
            self.alarms[metric_name] = alarm
            names.append(name)
        alerts.allow_alarms([alerts.alarm_arn(name) for name in names])

    def grant_put_metrics(self, to: RolePermissions) -> None:
        """cloudwatch:PutMetricData in this environment's namespace only."""
        to.allow(
            "PredictionMetrics",
            ["cloudwatch:PutMetricData"],
            ["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": self.namespace}},
            wildcard_reason=(
                "cloudwatch:PutMetricData supports no resource-level permissions; the statement is limited to the "
                f"environment's {self.namespace} namespace by the cloudwatch:namespace condition key."
            ),
        )
