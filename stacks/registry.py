"""The SageMaker model registry of the environment: one model package group, named like the pipeline."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from config import EnvironmentConfig


class ModelRegistry(Construct):
    """`AWS::SageMaker::ModelPackageGroup` named `<project>-<environment>` (e.g. jobclf-develop)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id)
        self.group_name = config.resource_prefix
        self.group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=self.group_name,
            model_package_group_description=(
                f"JobClf job title to SOC major group classifiers trained by the {config.resource_prefix} pipeline"
            ),
        )
        # Registered model versions are the record of what was approved and deployed: keep them.
        self.group.apply_removal_policy(RemovalPolicy.RETAIN)
