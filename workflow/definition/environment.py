"""An environment's configuration plus the names of its deployed resources -> the PipelineSpec, once.

The stack calls `pipeline_spec` with token placeholders for what CloudFormation creates; the local
run calls it with local stand-ins. Everything else (instance types, EMR release, names, the model
gate) comes from the configuration here and nowhere else, so the definition the local run executes
and the one that is deployed can only differ in those names.
"""

from __future__ import annotations

from dataclasses import dataclass

from config import EnvironmentConfig
from pipeline_steps.contract import EMR_LOG_PREFIX, PredictionReportLimits, metrics_namespace
from workflow.definition.spec import (
    Buckets,
    EmrSpec,
    JobSpec,
    ModelDefaults,
    MonitoringSpec,
    PipelineSpec,
    PredictDefaults,
    StepCode,
)


@dataclass(frozen=True)
class EmrResources:
    """The EMR resources of the stack, by name or ID (`standing_cluster_id` only in standing mode)."""

    instance_profile_name: str
    service_role_name: str
    security_configuration_name: str
    primary_security_group_id: str
    core_security_group_id: str
    service_access_security_group_id: str
    standing_cluster_id: str | None = None


@dataclass(frozen=True)
class StackResources:
    """What only a deployed stack knows: bucket names, ARNs and IDs."""

    buckets: Buckets
    role_arn: str
    code: StepCode
    kms_key_arn: str
    subnet_ids: tuple[str, ...]
    job_security_group_id: str
    emr: EmrResources


def pipeline_spec(config: EnvironmentConfig, resources: StackResources) -> PipelineSpec:
    return PipelineSpec(
        pipeline_name=config.pipeline_name,
        region=config.region,
        role_arn=resources.role_arn,
        buckets=resources.buckets,
        code=resources.code,
        emr=_emr_spec(config, resources),
        jobs=JobSpec(
            processing_instance_type=config.sagemaker.processing_instance_type,
            training_instance_type=config.sagemaker.training_instance_type,
            volume_size_gb=config.sagemaker.volume_size_gb,
            max_runtime_seconds=config.sagemaker.max_runtime_minutes * 60,
            subnet_ids=resources.subnet_ids,
            security_group_ids=(resources.job_security_group_id,),
            kms_key_id=resources.kms_key_arn,
        ),
        model_package_group_name=config.model_package_group_name,
        monitoring=MonitoringSpec(
            metrics_namespace=metrics_namespace(config.name),
            low_confidence=config.monitoring.low_confidence,
            limits=PredictionReportLimits.of(config.monitoring),
        ),
        sklearn_framework_version=config.sagemaker.sklearn_framework_version,
        model=ModelDefaults(approval_status=config.model.approval_status, min_macro_f1=config.model.min_macro_f1),
        predict=PredictDefaults(engine=config.predict.engine, instance_count=config.predict.instance_count),
    )


def _emr_spec(config: EnvironmentConfig, resources: StackResources) -> EmrSpec:
    emr, names = config.emr, resources.emr
    log_uri = f"s3://{resources.buckets.processed}/{EMR_LOG_PREFIX}"
    if emr.cluster_mode == "standing":
        return EmrSpec(
            mode="standing", release_label=emr.release_label, log_uri=log_uri, cluster_id=names.standing_cluster_id
        )
    return EmrSpec(
        mode="transient",
        release_label=emr.release_label,
        log_uri=log_uri,
        primary_instance_type=emr.primary_instance_type,
        core_instance_type=emr.core_instance_type,
        core_instance_count=emr.core_instance_count,
        instance_profile_name=names.instance_profile_name,
        service_role_name=names.service_role_name,
        security_configuration_name=names.security_configuration_name,
        subnet_id=resources.subnet_ids[0],
        primary_security_group_id=names.primary_security_group_id,
        core_security_group_id=names.core_security_group_id,
        service_access_security_group_id=names.service_access_security_group_id,
    )
