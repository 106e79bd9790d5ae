"""JobClfStack: one environment's infrastructure of the job-title classification pipeline."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import Environment as CdkEnvironment
from constructs import Construct

from config import EnvironmentConfig
from stacks.alerts import Alerts
from stacks.emr import Emr
from stacks.endpoint import ServingEndpoint
from stacks.monitoring import PredictionMonitoring
from stacks.network import Network
from stacks.pipeline import SageMakerPipeline
from stacks.registry import ModelRegistry
from stacks.roles import PipelineRole, sklearn_image_repository_arn
from stacks.schedule import Schedules
from stacks.step_code import PROJECT_ROOT, STEP_BUNDLE_DIR, StepCodeAssets
from stacks.storage import Storage
from workflow.definition import DefinitionCache

# Beside the step bundles, git-ignored: each definition and image URI the SDK built, by their inputs' hash.
DEFINITION_CACHE_DIR = PROJECT_ROOT / "build" / "definition-cache"


class JobClfStack(Stack):
    """Storage, network, roles, EMR, model registry, pipeline, schedules, failure alerts, the serving endpoint
    and the prediction report's alarms of one environment."""

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
        prefix = config.resource_prefix
        definition_cache = DefinitionCache(DEFINITION_CACHE_DIR)
        self.storage = Storage(self, "Storage", name_prefix=prefix, settings=config.storage)
        self.network = Network(self, "Network", settings=config.network, flow_log_bucket=self.storage.access_logs)
        self.code = StepCodeAssets(self, "StepCode", bundle_dir=bundle_dir)
        self.emr = Emr(
            self,
            "Emr",
            name_prefix=prefix,
            settings=config.emr,
            storage=self.storage,
            network=self.network,
            code=self.code,
        )
        self.registry = ModelRegistry(
            self, "Registry", group_name=config.model_package_group_name, pipeline_name=config.pipeline_name
        )
        image_repository_arn = sklearn_image_repository_arn(
            definition_cache.sklearn_image_uri(
                config.region, config.sagemaker.sklearn_framework_version, config.sagemaker.processing_instance_type
            ),
            config.region,
        )
        self.pipeline_role = PipelineRole(
            self, "PipelineRole", name_prefix=prefix, image_repository_arn=image_repository_arn
        )
        self._grant_pipeline_role()
        self.pipeline = SageMakerPipeline(
            self,
            "Pipeline",
            config=config,
            storage=self.storage,
            network=self.network,
            emr=self.emr,
            code=self.code,
            role=self.pipeline_role,
            definition_cache=definition_cache,
        )
        self.schedules = Schedules(
            self,
            "Schedules",
            schedules=config.schedules,
            environment=config.name,
            name_prefix=prefix,
            key=self.storage.key,
            pipeline_name=self.pipeline.name,
            pipeline_arn=self.pipeline.arn,
            declared_parameters=self.pipeline.parameters,
        )
        for schedule in self.schedules.schedules.values():
            schedule.node.add_dependency(self.pipeline.pipeline)
        self.alerts = Alerts(
            self,
            "Alerts",
            name_prefix=prefix,
            environment=config.name,
            alarm_email=config.alarm_email,
            pipeline_arn=self.pipeline.arn,
            model_package_group_name=self.registry.group_name,
        )
        self.endpoint = ServingEndpoint(
            self,
            "Endpoint",
            name_prefix=prefix,
            endpoint_name=config.endpoint_name,
            settings=config.endpoint,
            storage=self.storage,
            registry=self.registry,
            alerts=self.alerts,
            image_repository_arn=image_repository_arn,
        )
        self.monitoring = PredictionMonitoring(
            self,
            "Monitoring",
            name_prefix=prefix,
            environment=config.name,
            settings=config.monitoring,
            alerts=self.alerts,
        )
        self.monitoring.grant_put_metrics(self.pipeline_role.permissions)
        self._add_outputs()

    @property
    def availability_zones(self) -> list[str]:
        """The region's first `max_azs` zones by `Fn::GetAZs`: never a synth-time lookup, even with an account."""
        return [Fn.select(i, Fn.get_azs()) for i in range(self.config.network.max_azs)]

    def _grant_pipeline_role(self) -> None:
        """What the pipeline's executions and jobs do with the other constructs' resources."""
        role = self.pipeline_role
        self.storage.grant_read_inputs(role.data)
        self.storage.grant_execution_data(role.data)
        self.storage.grant_models(role.data)
        self.storage.grant_write_predictions(role.data)
        self.storage.grant_list(role.data, list(self.storage.data_buckets.values()))
        self.code.grant_read(role.data)
        self.storage.grant_key(role.data, for_aws_resources=True)
        self.registry.grant_register_and_find(role.permissions)
        self.network.grant_job_network_interfaces(role.permissions)
        self.emr.grant_run_etl(role.emr_step)

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
            "PipelineExecutionRoleArn": self.pipeline_role.role.role_arn,
            "EmrServiceRoleArn": self.emr.service_role.role_arn,
            "EmrInstanceRoleArn": self.emr.instance_role.role_arn,
            "SchedulerRoleArn": self.schedules.role.role_arn,
            "EmrLogUri": self.emr.log_uri,
            "AlertsTopicArn": self.alerts.topic.topic_arn,
            "EndpointName": self.endpoint.endpoint_name,
            "EndpointDeployerFunctionName": self.endpoint.function.function_name,
            "EndpointModelRoleArn": self.endpoint.model_role.role_arn,
        }
        if self.emr.cluster is not None:
            outputs["EmrClusterId"] = self.emr.cluster.ref
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
