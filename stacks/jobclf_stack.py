"""JobClfStack: one environment's infrastructure of the job-title classification pipeline."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, CfnOutput, Fn, Stack
from aws_cdk import Environment as CdkEnvironment
from constructs import Construct

from config import EnvironmentConfig
from stacks.alerts import Alerts
from stacks.emr import Emr
from stacks.network import Network
from stacks.pipeline import STEP_BUNDLE_DIR, SageMakerPipeline, StepCodeAssets
from stacks.registry import ModelRegistry
from stacks.roles import Roles
from stacks.schedule import Schedules
from stacks.storage import Storage


def sklearn_image_repository_arn(config: EnvironmentConfig) -> str:
    """ARN of the AWS-owned ECR repository of the SageMaker scikit-learn image in the environment's region.

    `sagemaker.image_uris` reads the SDK's bundled image table: offline, no AWS call.
    """
    from sagemaker import image_uris  # after workflow.definition has set the SDK's offline environment

    uri = image_uris.retrieve(
        "sklearn",
        region=config.region,
        version=config.sagemaker.sklearn_framework_version,
        py_version="py3",
        instance_type=config.sagemaker.processing_instance_type,
    )
    registry, _, repository_and_tag = uri.partition("/")
    account = registry.split(".", 1)[0]
    repository = repository_and_tag.split(":", 1)[0]
    return f"arn:{Aws.PARTITION}:ecr:{config.region}:{account}:repository/{repository}"


class JobClfStack(Stack):
    """Storage, network, roles, EMR, model registry, pipeline, schedules and failure alerts of one environment."""

    def __init__(
        self,
        scope: Construct,
        *,
        config: EnvironmentConfig,
        bundle_dir: Path = STEP_BUNDLE_DIR,
    ) -> None:
        super().__init__(
            scope,
            config.stack_name,
            env=CdkEnvironment(account=config.account, region=config.region),
            description=f"JobClf {config.name}: SageMaker pipeline classifying job titles into SOC major groups",
            tags={"project": config.project, "environment": config.name, **config.tags},
        )
        self.config = config
        self.storage = Storage(self, "Storage", config=config)
        self.network = Network(self, "Network", config=config, flow_log_bucket=self.storage.access_logs)
        self.code = StepCodeAssets(self, "StepCode", bundle_dir=bundle_dir)
        self.roles = Roles(
            self,
            "Roles",
            config=config,
            storage=self.storage,
            network=self.network,
            assets=self.code.all,
            emr_assets=self.code.emr,
            sklearn_image_repository_arn=sklearn_image_repository_arn(config),
        )
        self.emr = Emr(
            self,
            "Emr",
            config=config,
            storage=self.storage,
            network=self.network,
            roles=self.roles,
            bootstrap=self.code.emr_bootstrap,
        )
        self.roles.allow_emr_clusters(self.emr.cluster_arn)
        self.registry = ModelRegistry(self, "Registry", config=config)
        self.pipeline = SageMakerPipeline(
            self,
            "Pipeline",
            config=config,
            storage=self.storage,
            network=self.network,
            roles=self.roles,
            emr=self.emr,
            model_package_group_name=self.registry.group_name,
            code=self.code,
        )
        self.schedules = Schedules(
            self,
            "Schedules",
            config=config,
            roles=self.roles,
            key=self.storage.key,
            pipeline_arn=self.pipeline.arn,
            declared_parameters=self.pipeline.parameters,
        )
        for schedule in self.schedules.schedules.values():
            schedule.node.add_dependency(self.pipeline.pipeline)
        self.alerts = Alerts(self, "Alerts", config=config, pipeline_arn=self.pipeline.arn)
        self._add_outputs()

    @property
    def availability_zones(self) -> list[str]:
        """The region's first `max_azs` zones by `Fn::GetAZs`: never a synth-time lookup, even with an account."""
        return [Fn.select(i, Fn.get_azs()) for i in range(self.config.network.max_azs)]

    def _add_outputs(self) -> None:
        outputs = {
            "RawBucketName": self.storage.raw.bucket_name,
            "ProcessedBucketName": self.storage.processed.bucket_name,
            "ModelsBucketName": self.storage.models.bucket_name,
            "PredictionsBucketName": self.storage.predictions.bucket_name,
            "AccessLogsBucketName": self.storage.access_logs.bucket_name,
            "DataKeyArn": self.storage.key.key_arn,
            "PipelineName": self.pipeline.name,
            "PipelineArn": self.pipeline.arn,
            "ModelPackageGroupName": self.registry.group_name,
            "PipelineExecutionRoleArn": self.roles.pipeline_role.role_arn,
            "EmrServiceRoleArn": self.roles.emr_service_role.role_arn,
            "EmrInstanceRoleArn": self.roles.emr_instance_role.role_arn,
            "SchedulerRoleArn": self.roles.scheduler_role.role_arn,
            "EmrLogUri": self.emr.log_uri,
            "AlertsTopicArn": self.alerts.topic.topic_arn,
        }
        if self.emr.cluster is not None:
            outputs["EmrClusterId"] = self.emr.cluster.ref
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
