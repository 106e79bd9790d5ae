"""IAM roles, least privilege: each scoped to this environment's buckets, key, pipeline and model package group.

Every statement goes through `allow`, which acknowledges its AwsSolutions-IAM5 wildcard findings
with the reason given beside it; a wildcard without a reason fails the synth. Actions are listed
one by one (no `s3:Get*`-style grants), so the only wildcards are resources that AWS cannot name
more narrowly.

Permissions are customer managed policies attached to the role (`AWS::IAM::ManagedPolicy`), not
inline policies (NIST 800-53 rev 5 IAMNoInlinePolicy): IAM keeps their previous versions, so a
change of permissions can be reviewed and rolled back in IAM itself. A managed policy holds at
most 6,144 characters, so the pipeline role's statements are split by concern (jobs, data, EMR
step); statements on `Resource: "*"` go into a separate `UnscopedActions` policy per role.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from config import EnvironmentConfig
from pipeline_steps.contract import (
    EMR_LOG_PREFIX,
    EVALUATIONS_PREFIX,
    EXECUTIONS_PREFIX,
    MODEL_ARTIFACTS_PREFIX,
    PREDICTIONS_PREFIX,
)
from stacks import nag
from stacks.network import Network
from stacks.storage import Storage

# Fixed names of the EventBridge rules SageMaker creates in the account to track EMR steps and clusters.
EMR_STEP_STATUS_RULE = "SageMakerPipelineExecutionEMRStepStatusUpdateRule"
EMR_CLUSTER_STATUS_RULE = "SageMakerPipelineExecutionEMRClusterStatusUpdateRule"
# SageMaker Pipelines names the jobs it starts `pipelines-<execution id>-<step name>-<suffix>`.
PIPELINE_JOB_NAME_PREFIX = "pipelines-"
EMR_SERVICE_POLICY = "service-role/AmazonEMRServicePolicy_v2"

S3_READ = ["s3:GetObject", "s3:GetObjectVersion"]
S3_WRITE = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
S3_DELETE = ["s3:DeleteObject"]
S3_LIST = ["s3:ListBucket", "s3:GetBucketLocation"]
KMS_DATA = [
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:DescribeKey",
]
KMS_GRANTS = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]
# What SageMaker does with the execution role to put a job's network interfaces into the private subnets.
ENI_WRITE = [
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
]
ENI_DESCRIBE = [
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
]
DEFAULT_POLICY = "Permissions"
UNSCOPED_POLICY = "UnscopedActions"
# The pipeline role's statements, by concern: one managed policy each keeps every policy under IAM's 6,144 characters.
JOBS_POLICY, DATA_POLICY, EMR_STEP_POLICY = "Jobs", "Data", "EmrStep"
ROLE_DEFAULT_POLICY = {"PipelineExecutionRole": JOBS_POLICY}


def _objects(bucket: s3.IBucket, prefix: str = "") -> str:
    """The ARN pattern of the objects under `prefix` (all objects when empty)."""
    return bucket.arn_for_objects(f"{prefix}*")


def _asset_object_arn(asset: s3_assets.Asset) -> str:
    return f"arn:{Aws.PARTITION}:s3:::{asset.s3_bucket_name}/{asset.s3_object_key}"


def _asset_bucket_arn(asset: s3_assets.Asset) -> str:
    return f"arn:{Aws.PARTITION}:s3:::{asset.s3_bucket_name}"


class Roles(Construct):
    """SageMaker pipeline execution role, EMR service and EC2 roles (+ instance profile), scheduler role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        storage: Storage,
        network: Network,
        assets: Sequence[s3_assets.Asset],
        emr_assets: Sequence[s3_assets.Asset],
        sklearn_image_repository_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._storage = storage
        self._network = network
        self._stack = Stack.of(self)
        self._policies: dict[str, dict[str, iam.ManagedPolicy]] = {}
        self.pipeline_name = config.resource_prefix
        self.model_package_group_name = config.resource_prefix
        self.pipeline_arn = self._stack.format_arn(
            service="sagemaker", resource="pipeline", resource_name=self.pipeline_name
        )

        self.emr_instance_role = self._add_emr_instance_role(emr_assets)
        self.emr_instance_profile = iam.InstanceProfile(
            self,
            "EmrInstanceProfile",
            role=self.emr_instance_role,
        )
        self.emr_service_role = self._add_emr_service_role()
        self.pipeline_role = self._add_pipeline_role(assets, sklearn_image_repository_arn)
        self.scheduler_role = self._add_scheduler_role()

    # -- the one way a statement is added -------------------------------------------------------

    def allow(
        self,
        role: iam.Role,
        sid: str,
        actions: Sequence[str],
        resources: Sequence[str],
        *,
        conditions: Mapping[str, Any] | None = None,
        wildcard_reason: str | None = None,
        policy: str | None = None,
    ) -> None:
        """Add an Allow statement to the role's managed policy `policy` (default: the role's first policy,
        `Permissions` or, for the pipeline role, `Jobs`); its wildcard findings are acknowledged with
        `wildcard_reason`.

        Statements on `Resource: "*"` (actions without resource-level permissions) go into a separate
        policy per role, so their acknowledgment cannot cover a new `*` added to another policy.
        """
        statement = iam.PolicyStatement(
            sid=sid, actions=list(actions), resources=list(resources), conditions=conditions
        )
        name = policy or ROLE_DEFAULT_POLICY.get(role.node.id, DEFAULT_POLICY)
        managed = self._managed_policy(role, UNSCOPED_POLICY if "*" in resources else name)
        managed.add_statements(statement)
        nag.acknowledge_wildcards(managed, actions, resources, wildcard_reason)

    def _managed_policy(self, role: iam.Role, name: str) -> iam.ManagedPolicy:
        policies = self._policies.setdefault(role.node.id, {})
        if name not in policies:
            policies[name] = iam.ManagedPolicy(
                self,
                f"{role.node.id}{name}",
                description=f"{self._config.resource_prefix}: {role.node.id} {name}",
                roles=[role],
            )
        return policies[name]

    def policies_of(self, role: iam.Role) -> list[iam.ManagedPolicy]:
        """Every policy granting `role` its permissions: depend on these (not on the role) to wait for them."""
        policies = list(self._policies.get(role.node.id, {}).values())
        if not policies:
            raise ValueError(f"{role.node.path} has no statements yet")
        return policies

    def _allow_key(self, role: iam.Role, *, grants: bool, policy: str | None = None) -> None:
        self.allow(role, "UseDataKey", KMS_DATA, [self._storage.key.key_arn], policy=policy)
        if grants:
            # SageMaker and EMR attach the key to the EBS volumes they create through grants.
            self.allow(
                role,
                "GrantDataKeyToAwsResources",
                KMS_GRANTS,
                [self._storage.key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
                policy=policy,
            )

    def _allow_assets(
        self, role: iam.Role, sid: str, assets: Sequence[s3_assets.Asset], *, policy: str | None = None
    ) -> None:
        """Read exactly the given asset objects (by key, no wildcard) and list only their keys."""
        self.allow(role, f"{sid}Read", S3_READ, [_asset_object_arn(a) for a in assets], policy=policy)
        self.allow(
            role,
            f"{sid}List",
            ["s3:ListBucket"],
            sorted({_asset_bucket_arn(a) for a in assets}),
            conditions={"StringEquals": {"s3:prefix": [a.s3_object_key for a in assets]}},
            policy=policy,
        )

    def _service_role(self, construct_id: str, service: str, description: str) -> iam.Role:
        return iam.Role(
            self,
            construct_id,
            description=description,
            assumed_by=iam.ServicePrincipal(
                service, conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
        )

    # -- roles ----------------------------------------------------------------------------------

    def _add_emr_instance_role(self, emr_assets: Sequence[s3_assets.Asset]) -> iam.Role:
        storage = self._storage
        role = iam.Role(
            self,
            "EmrInstanceRole",
            description=f"{self._config.resource_prefix}: EMR cluster EC2 instances (EMRFS, bootstrap, logs)",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
        )
        self._allow_assets(role, "EtlCode", emr_assets)
        self.allow(
            role,
            "ReadRawData",
            S3_READ,
            [_objects(storage.raw)],
            wildcard_reason=(
                "EMR ETL reads the O*NET input from the raw bucket of this environment; the input prefix is a "
                "pipeline parameter (onet_input_uri), so object keys are only known at execution time."
            ),
        )
        self.allow(
            role,
            "WriteExecutionData",
            [*S3_READ, *S3_WRITE, *S3_DELETE],
            [_objects(storage.processed, EXECUTIONS_PREFIX)],
            wildcard_reason=(
                "Spark writes the ETL output under executions/<pipeline execution id>/ of the processed bucket; "
                "the execution id is generated per run, so the keys are scoped by that prefix only. Delete is "
                "needed by Spark's output committer for its _temporary files."
            ),
        )
        self.allow(
            role,
            "WriteClusterLogs",
            S3_WRITE,
            [_objects(storage.processed, EMR_LOG_PREFIX)],
            wildcard_reason=(
                "EMR uploads cluster logs under emr-logs/<cluster id>/ of the processed bucket; cluster ids are "
                "generated when a cluster starts, so the keys are scoped by that prefix only."
            ),
        )
        self.allow(role, "ListDataBuckets", S3_LIST, [storage.raw.bucket_arn, storage.processed.bucket_arn])
        self._allow_key(role, grants=False)
        return role

    def _add_emr_service_role(self) -> iam.Role:
        role = self._service_role(
            "EmrServiceRole",
            "elasticmapreduce.amazonaws.com",
            f"{self._config.resource_prefix}: Amazon EMR service role (provisions the ETL clusters)",
        )
        policy = iam.ManagedPolicy.from_aws_managed_policy_name(EMR_SERVICE_POLICY)
        role.add_managed_policy(policy)
        nag.acknowledge(
            role,
            nag.managed_policy_finding(role, policy.managed_policy_arn),
            "AmazonEMRServicePolicy_v2 is the AWS-maintained EMR service role policy; it only lets EMR create and "
            "manage EC2 resources in subnets and security groups tagged for-use-with-amazon-emr-managed-policies "
            "(this stack tags exactly its private subnets and EMR security groups), and AWS updates it as EMR "
            "needs change, which a hand-written copy would miss.",
        )
        self.allow(
            role,
            "PassInstanceRole",
            ["iam:PassRole"],
            [self.emr_instance_role.role_arn],
            conditions={"StringLike": {"iam:PassedToService": "ec2.amazonaws.com*"}},
        )
        self._allow_key(role, grants=True)
        return role

    def _add_pipeline_role(self, assets: Sequence[s3_assets.Asset], sklearn_image_repository_arn: str) -> iam.Role:
        stack = self._stack
        role = self._service_role(
            "PipelineExecutionRole",
            "sagemaker.amazonaws.com",
            f"{self._config.resource_prefix}: SageMaker pipeline execution role and its jobs' role",
        )
        region_account = f"{Aws.REGION}:{Aws.ACCOUNT_ID}"
        jobs = [
            stack.format_arn(service="sagemaker", resource=kind, resource_name=f"{PIPELINE_JOB_NAME_PREFIX}*")
            for kind in ("processing-job", "training-job")
        ]
        self.allow(
            role,
            "RunPipelineJobs",
            [
                "sagemaker:CreateProcessingJob",
                "sagemaker:DescribeProcessingJob",
                "sagemaker:StopProcessingJob",
                "sagemaker:CreateTrainingJob",
                "sagemaker:DescribeTrainingJob",
                "sagemaker:StopTrainingJob",
                "sagemaker:AddTags",
            ],
            jobs,
            wildcard_reason=(
                "SageMaker Pipelines names each processing and training job it starts pipelines-<execution id>-"
                "<step>-<suffix> at execution time; the statement is limited to that name prefix in this region "
                "and account."
            ),
        )
        group = stack.format_arn(
            service="sagemaker", resource="model-package-group", resource_name=self.model_package_group_name
        )
        packages = stack.format_arn(
            service="sagemaker", resource="model-package", resource_name=f"{self.model_package_group_name}/*"
        )
        self.allow(
            role,
            "RegisterAndReadModels",
            [
                "sagemaker:CreateModelPackage",
                "sagemaker:DescribeModelPackage",
                "sagemaker:DescribeModelPackageGroup",
                "sagemaker:AddTags",
            ],
            [group, packages],
            wildcard_reason=(
                f"Model package versions of the {self.model_package_group_name} group are numbered by SageMaker on "
                "registration; the statement covers only that group's versions."
            ),
        )
        self.allow(
            role,
            "FindLatestApprovedModel",
            ["sagemaker:ListModelPackages"],
            ["*"],
            wildcard_reason=(
                "sagemaker:ListModelPackages supports no resource-level permissions; the evaluate and predict steps "
                "list the versions of this environment's group to find the latest approved model."
            ),
        )
        self.allow(
            role,
            "PassOwnRoleToJobs",
            ["iam:PassRole"],
            [role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
        self._allow_pipeline_data(role)
        self._allow_assets(role, "StepCode", assets, policy=DATA_POLICY)
        self._allow_key(role, grants=True, policy=DATA_POLICY)
        self.allow(
            role,
            "PullSklearnImage",
            ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            [sklearn_image_repository_arn],
        )
        self.allow(
            role,
            "EcrLogin",
            ["ecr:GetAuthorizationToken"],
            ["*"],
            wildcard_reason="ecr:GetAuthorizationToken supports no resource-level permissions (it returns a registry login token).",
        )
        self.allow(
            role,
            "JobLogs",
            ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            [
                f"arn:{Aws.PARTITION}:logs:{region_account}:log-group:/aws/sagemaker/ProcessingJobs:*",
                f"arn:{Aws.PARTITION}:logs:{region_account}:log-group:/aws/sagemaker/TrainingJobs:*",
            ],
            wildcard_reason=(
                "SageMaker jobs log to one stream per job in the fixed /aws/sagemaker/ProcessingJobs and "
                "/aws/sagemaker/TrainingJobs groups; stream names are created per job, so only the streams are wildcarded."
            ),
        )
        self.allow(
            role,
            "JobMetrics",
            ["cloudwatch:PutMetricData"],
            ["*"],
            conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
            wildcard_reason=(
                "cloudwatch:PutMetricData supports no resource-level permissions; the statement is limited to the "
                "/aws/sagemaker/* metric namespaces by condition."
            ),
        )
        self._allow_job_network_interfaces(role)
        self._allow_emr_step(role)
        return role

    def _allow_job_network_interfaces(self, role: iam.Role) -> None:
        """SageMaker puts each job's network interfaces into this stack's private subnets, with its security group."""
        network = self._network
        region_account = f"{Aws.REGION}:{Aws.ACCOUNT_ID}"
        self.allow(
            role,
            "JobNetworkInterfaces",
            ENI_WRITE,
            [
                f"arn:{Aws.PARTITION}:ec2:{region_account}:network-interface/*",
                *(f"arn:{Aws.PARTITION}:ec2:{region_account}:subnet/{subnet}" for subnet in network.private_subnet_ids),
                f"arn:{Aws.PARTITION}:ec2:{region_account}:security-group/"
                f"{network.sagemaker_security_group.security_group_id}",
            ],
            wildcard_reason=(
                "SageMaker creates, shares and deletes one network interface per job in this VPC's private subnets; "
                "the interface IDs do not exist before the job, so only network-interface/* of this region and "
                "account is wildcarded (the subnets and the jobs' security group are named)."
            ),
        )
        self.allow(
            role,
            "DescribeJobNetwork",
            ENI_DESCRIBE,
            ["*"],
            wildcard_reason=(
                "The EC2 Describe* actions SageMaker calls to check a job's VPC, subnets, security groups and network "
                "interfaces support no resource-level permissions; they read configuration only."
            ),
        )

    def _allow_pipeline_data(self, role: iam.Role) -> None:
        storage = self._storage
        allow = functools.partial(self.allow, policy=DATA_POLICY)
        allow(
            role,
            "ReadRawData",
            S3_READ,
            [_objects(storage.raw)],
            wildcard_reason=(
                "The predict branch reads the titles to classify from the raw bucket; the input prefix is a pipeline "
                "parameter (input_titles_uri), so object keys are only known at execution time."
            ),
        )
        allow(
            role,
            "ReadWriteExecutionData",
            [*S3_READ, *S3_WRITE],
            [_objects(storage.processed, EXECUTIONS_PREFIX)],
            wildcard_reason=(
                "Processing jobs read and write intermediate data under executions/<pipeline execution id>/ of the "
                "processed bucket; the execution id is generated per run, so keys are scoped by that prefix only."
            ),
        )
        allow(
            role,
            "WriteModelArtifacts",
            S3_WRITE,
            [_objects(storage.models, MODEL_ARTIFACTS_PREFIX), _objects(storage.models, EVALUATIONS_PREFIX)],
            wildcard_reason=(
                "Training jobs write model.tar.gz under training/<job name>/ and the evaluation step writes "
                "evaluations/<pipeline execution id>/ of the models bucket; both names are generated per "
                "execution, so keys are scoped by those prefixes only."
            ),
        )
        allow(
            role,
            "ReadModelArtifacts",
            S3_READ,
            [_objects(storage.models)],
            wildcard_reason=(
                "Evaluation and batch prediction load the artifacts of registered model versions from the models "
                "bucket; which version is latest approved is only known at execution time."
            ),
        )
        allow(
            role,
            "WritePredictions",
            S3_WRITE,
            [_objects(storage.predictions, PREDICTIONS_PREFIX)],
            wildcard_reason=(
                "Batch prediction writes predictions/ partitioned by execution date in the predictions bucket; the "
                "date partitions are created at execution time."
            ),
        )
        allow(
            role,
            "ListDataBuckets",
            S3_LIST,
            [b.bucket_arn for b in storage.data_buckets.values()],
        )

    def _allow_emr_step(self, role: iam.Role) -> None:
        """What SageMaker's EMR step needs (the EMR part of AmazonSageMakerPipelinesIntegrations)."""
        region_account = f"{Aws.REGION}:{Aws.ACCOUNT_ID}"
        allow = functools.partial(self.allow, policy=EMR_STEP_POLICY)
        allow(
            role,
            "TrackEmrSteps",
            ["events:PutRule", "events:PutTargets", "events:DeleteRule", "events:RemoveTargets", "events:DescribeRule"],
            [
                f"arn:{Aws.PARTITION}:events:{region_account}:rule/{EMR_STEP_STATUS_RULE}",
                f"arn:{Aws.PARTITION}:events:{region_account}:rule/{EMR_CLUSTER_STATUS_RULE}",
            ],
        )
        allow(
            role,
            "PassEmrRoles",
            ["iam:PassRole"],
            [self.emr_service_role.role_arn, self.emr_instance_role.role_arn],
            conditions={
                "StringLike": {"iam:PassedToService": ["elasticmapreduce.amazonaws.com*", "ec2.amazonaws.com*"]}
            },
        )

    def allow_emr_clusters(self, cluster_arn: str | None) -> None:
        """Let the pipeline run its ETL step: on the standing cluster, or on transient clusters it starts."""
        role = self.pipeline_role
        step_actions = [
            "elasticmapreduce:AddJobFlowSteps",
            "elasticmapreduce:DescribeStep",
            "elasticmapreduce:CancelSteps",
            "elasticmapreduce:ListSteps",
            "elasticmapreduce:DescribeCluster",
        ]
        allow = functools.partial(self.allow, policy=EMR_STEP_POLICY)
        if cluster_arn is not None:
            allow(role, "RunEtlOnStandingCluster", step_actions, [cluster_arn])
            return
        allow(
            role,
            "RunEtlOnTransientClusters",
            ["elasticmapreduce:RunJobFlow", "elasticmapreduce:TerminateJobFlows", *step_actions],
            [self._stack.format_arn(service="elasticmapreduce", resource="cluster", resource_name="*")],
            wildcard_reason=(
                "In transient mode the EMR step starts a new cluster per execution (RunJobFlow) and then adds, "
                "watches and terminates it; cluster ids are generated by EMR at start, so the statement is limited "
                "to clusters in this region and account."
            ),
        )

    def _add_scheduler_role(self) -> iam.Role:
        role = self._service_role(
            "SchedulerRole",
            "scheduler.amazonaws.com",
            f"{self._config.resource_prefix}: EventBridge Scheduler, starts the {self.pipeline_name} pipeline",
        )
        self.allow(role, "StartThisPipeline", ["sagemaker:StartPipelineExecution"], [self.pipeline_arn])
        return role

    def allow_dead_letter_queue(self, queue_arn: str, key: kms.IKey) -> None:
        """Let the scheduler put undeliverable invocations into the (KMS-encrypted) dead-letter queue."""
        self.allow(self.scheduler_role, "SendToDeadLetterQueue", ["sqs:SendMessage"], [queue_arn])
        self.allow(
            self.scheduler_role,
            "EncryptDeadLetters",
            ["kms:GenerateDataKey", "kms:Decrypt"],
            [key.key_arn],
        )
