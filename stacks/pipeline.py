"""The SageMaker pipeline: its definition built by the SageMaker SDK at synth time, and the pipeline resource.

The definition comes from `workflow.definition`: `pipeline_spec` turns the environment's config and
the names of the stack's resources into a PipelineSpec, and `build_definition` runs the real
SageMaker SDK offline on it, unless the definition cache already holds what it returns for that spec. Those names are CDK tokens, which the SDK must never see, so they go in
as placeholders (stacks/placeholders.py) and come back into the template as `Fn::Join`s.
"""

from __future__ import annotations

import json

from aws_cdk import Stack
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from config import EnvironmentConfig
from stacks.emr import Emr
from stacks.network import Network
from stacks.placeholders import ROLE_ARN_SHAPE, TokenPlaceholders
from stacks.roles import PipelineRole
from stacks.step_code import StepCodeAssets
from stacks.storage import Storage
from workflow.definition import (
    Buckets,
    DefinitionCache,
    EmrResources,
    StackResources,
    declared_parameters,
    pipeline_spec,
)


class SageMakerPipeline(Construct):
    """`AWS::SageMaker::Pipeline` named by the environment's config, its definition built from config and constructs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        storage: Storage,
        network: Network,
        emr: Emr,
        code: StepCodeAssets,
        role: PipelineRole,
        definition_cache: DefinitionCache,
    ) -> None:
        super().__init__(scope, construct_id)
        self.placeholders = TokenPlaceholders(resolve=Stack.of(self).resolve)
        self.spec = pipeline_spec(config, self._stack_resources(storage, network, emr, code, role))
        # With placeholders, not tokens: plain JSON that tests and the schedule check can read.
        self.definition_json = definition_cache.definition(self.spec)
        self.parameters = declared_parameters(self.definition_json)
        self.name = self.spec.pipeline_name
        self.arn = Stack.of(self).format_arn(service="sagemaker", resource="pipeline", resource_name=self.name)
        self.pipeline = sagemaker.CfnPipeline(
            self,
            "Pipeline",
            pipeline_name=self.name,
            pipeline_display_name=self.name,
            pipeline_description=(
                f"JobClf {config.name}: EMR ETL, then train (quality-gated registration) or batch-predict by use_type"
            ),
            role_arn=role.role.role_arn,
            pipeline_definition={"PipelineDefinitionBody": self.placeholders.restore(self.definition_json)},
        )
        # Executions need the role's policies; create the pipeline after them.
        self.pipeline.node.add_dependency(*role.permissions.policies)

    def fake_definition(self) -> dict:
        """The definition with readable fake values in place of the tokens (for tests and snapshots)."""
        return json.loads(self.placeholders.fake(self.definition_json))

    def _stack_resources(
        self, storage: Storage, network: Network, emr: Emr, code: StepCodeAssets, role: PipelineRole
    ) -> StackResources:
        sub = self.placeholders.sub
        return StackResources(
            buckets=Buckets(
                raw=sub(storage.raw.bucket_name, label="raw-bucket"),
                processed=sub(storage.processed.bucket_name, label="processed-bucket"),
                models=sub(storage.models.bucket_name, label="models-bucket"),
                predictions=sub(storage.predictions.bucket_name, label="predictions-bucket"),
            ),
            role_arn=sub(role.role.role_arn, label="pipeline-execution-role", shape=ROLE_ARN_SHAPE),
            code=code.step_code(sub),
            kms_key_arn=sub(
                storage.key.key_arn,
                label="data-key",
                shape=f"arn:aws:kms:{Stack.of(self).region}:000000000000:key/{{}}",
            ),
            subnet_ids=tuple(
                sub(subnet_id, label=f"subnet-private{i}") for i, subnet_id in enumerate(network.private_subnet_ids)
            ),
            job_security_group_id=sub(network.sagemaker_security_group.security_group_id, label="sg-sagemakerjobs"),
            emr=EmrResources(
                instance_profile_name=sub(emr.instance_profile.instance_profile_name, label="emr-instance-profile"),
                service_role_name=sub(emr.service_role.role_name, label="emr-service-role"),
                security_configuration_name=sub(emr.security_configuration.ref, label="emr-security-configuration"),
                primary_security_group_id=sub(
                    network.emr_primary_security_group.security_group_id, label="sg-emrprimary"
                ),
                core_security_group_id=sub(network.emr_core_security_group.security_group_id, label="sg-emrcore"),
                service_access_security_group_id=sub(
                    network.emr_service_access_security_group.security_group_id, label="sg-emrserviceaccess"
                ),
                standing_cluster_id=sub(emr.cluster.ref, label="j-standingcluster") if emr.cluster else None,
            ),
        )
