"""EventBridge Scheduler schedules that start the pipeline with parameters, and their dead-letter queue."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from config import ConfigError, ScheduleConfig
from stacks import nag
from stacks.iam import RolePermissions, service_role

MAXIMUM_EVENT_AGE = Duration.hours(1)
MAXIMUM_RETRY_ATTEMPTS = 3
DEAD_LETTER_RETENTION = Duration.days(14)


def check_schedule_parameters(
    schedules: Sequence[ScheduleConfig], declared: Mapping[str, object], *, environment: str
) -> None:
    """Every schedule may set only parameters the pipeline definition declares; raise naming the first that is not."""
    for index, schedule in enumerate(schedules):
        for name in schedule.parameters:
            if name not in declared:
                raise ConfigError(
                    f"environments.{environment}.schedules[{index}].parameters.{name}: schedule "
                    f"{schedule.name!r} sets parameter {name!r}, which the pipeline does not declare "
                    f"(declared: {', '.join(sorted(declared))})"
                )


class Schedules(Construct):
    """One `AWS::Scheduler::Schedule` per configured schedule, targeting the pipeline, with retries and a DLQ.

    The scheduler's own role may only start this pipeline and use the dead-letter queue.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        schedules: Sequence[ScheduleConfig],
        environment: str,
        name_prefix: str,
        key: kms.IKey,
        pipeline_name: str,
        pipeline_arn: str,
        declared_parameters: Mapping[str, object],
    ) -> None:
        super().__init__(scope, construct_id)
        check_schedule_parameters(schedules, declared_parameters, environment=environment)
        self.schedules: dict[str, scheduler.CfnSchedule] = {}
        self.role = service_role(
            self,
            "SchedulerRole",
            "scheduler.amazonaws.com",
            f"{name_prefix}: EventBridge Scheduler, starts the {pipeline_name} pipeline",
        )
        permissions = RolePermissions(self, self.role, description_prefix=name_prefix)
        permissions.allow("StartThisPipeline", ["sagemaker:StartPipelineExecution"], [pipeline_arn])
        if not schedules:
            self.dead_letter_queue = None
            return
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=DEAD_LETTER_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        nag.acknowledge(
            self.dead_letter_queue,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the pipeline schedules (EventBridge Scheduler puts "
            "invocations it could not deliver here); a dead-letter queue of a dead-letter queue would add nothing.",
        )
        permissions.allow("SendToDeadLetterQueue", ["sqs:SendMessage"], [self.dead_letter_queue.queue_arn])
        permissions.allow("EncryptDeadLetters", ["kms:GenerateDataKey", "kms:Decrypt"], [key.key_arn])
        for schedule in schedules:
            cfn = self._add_schedule(name_prefix, pipeline_name, schedule, pipeline_arn)
            # The scheduler role's policy must allow the target before the first invocation.
            cfn.node.add_dependency(*permissions.policies)
            self.schedules[schedule.name] = cfn

    def _add_schedule(
        self, name_prefix: str, pipeline_name: str, schedule: ScheduleConfig, pipeline_arn: str
    ) -> scheduler.CfnSchedule:
        parameters = [
            scheduler.CfnSchedule.SageMakerPipelineParameterProperty(name=name, value=value)
            for name, value in schedule.parameters.items()
        ]
        return scheduler.CfnSchedule(
            self,
            f"Schedule-{schedule.name}",
            name=f"{name_prefix}-{schedule.name}",
            description=f"Starts the {pipeline_name} pipeline ({schedule.name})",
            schedule_expression=schedule.expression,
            schedule_expression_timezone=schedule.timezone,
            state="ENABLED" if schedule.enabled else "DISABLED",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=pipeline_arn,
                role_arn=self.role.role_arn,
                sage_maker_pipeline_parameters=scheduler.CfnSchedule.SageMakerPipelineParametersProperty(
                    pipeline_parameter_list=parameters or None
                ),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_event_age_in_seconds=int(MAXIMUM_EVENT_AGE.to_seconds()),
                    maximum_retry_attempts=MAXIMUM_RETRY_ATTEMPTS,
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(arn=self.dead_letter_queue.queue_arn),
            ),
        )
