"""The SageMaker model registry of the environment: one model package group, named like the pipeline."""

from __future__ import annotations

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.iam import RolePermissions


class ModelRegistry(Construct):
    """`AWS::SageMaker::ModelPackageGroup` `group_name` (e.g. jobclf-develop)."""

    def __init__(self, scope: Construct, construct_id: str, *, group_name: str, pipeline_name: str) -> None:
        super().__init__(scope, construct_id)
        self.group_name = group_name
        self.group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=group_name,
            model_package_group_description=(
                f"JobClf job title to SOC major group classifiers trained by the {pipeline_name} pipeline"
            ),
        )
        # Registered model versions are the record of what was approved and deployed: keep them, except
        # when the first create fails (a retained, named group would make every retry fail as a duplicate).
        self.group.apply_removal_policy(RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE)

    @property
    def packages_arn(self) -> str:
        """The ARN pattern of the group's versions (model-package/<group>/<version>)."""
        return Stack.of(self).format_arn(
            service="sagemaker", resource="model-package", resource_name=f"{self.group_name}/*"
        )

    def grant_register_and_find(self, to: RolePermissions) -> None:
        """Register model versions in the group and find its latest approved one."""
        stack = Stack.of(self)
        group = stack.format_arn(service="sagemaker", resource="model-package-group", resource_name=self.group_name)
        packages = self.packages_arn
        to.allow(
            "RegisterAndReadModels",
            [
                "sagemaker:CreateModelPackage",
                "sagemaker:DescribeModelPackage",
                "sagemaker:DescribeModelPackageGroup",
                "sagemaker:AddTags",
            ],
            [group, packages],
            wildcard_reason=(
                f"Model package versions of the {self.group_name} group are numbered by SageMaker on "
                "registration; the statement covers only that group's versions."
            ),
        )
        to.allow(
            "FindLatestApprovedModel",
            ["sagemaker:ListModelPackages"],
            ["*"],
            wildcard_reason=(
                "sagemaker:ListModelPackages supports no resource-level permissions; the evaluate and predict steps "
                "list the versions of this environment's group to find the latest approved model."
            ),
        )

    def grant_find_approved(self, to: RolePermissions) -> None:
        """List the group's versions and read them (the endpoint deployer; it registers nothing)."""
        to.allow(
            "ReadModelVersions",
            ["sagemaker:DescribeModelPackage"],
            [self.packages_arn],
            wildcard_reason=(
                f"Model package versions of the {self.group_name} group are numbered by SageMaker on registration; "
                "the statement covers only that group's versions."
            ),
        )
        to.allow(
            "ListModelVersions",
            ["sagemaker:ListModelPackages"],
            ["*"],
            wildcard_reason=(
                "sagemaker:ListModelPackages supports no resource-level permissions; the endpoint deployer lists the "
                "approved versions of this environment's group to find the latest."
            ),
        )
