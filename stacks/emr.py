"""EMR for the PySpark ETL step: security configuration, log location, and (standing mode) the cluster.

In transient mode (the default) the stack creates no cluster: SageMaker's EMR step starts one
per execution from the settings in `emr_spec` and terminates it after the step.

In-transit encryption is not enabled: EMR needs TLS material for it, either a zip of PEM files
(including a private key) in S3 or a custom Java certificate provider JAR. Neither can be produced
by a hermetic synth without committing or generating a private key into the cloud assembly, so
the security configuration encrypts at rest only (S3 SSE-KMS, local disks and EBS with the
environment's key) and the AwsSolutions-EMR5 finding is acknowledged on the standing cluster.
"""

from __future__ import annotations

from aws_cdk import Aws, Stack
from aws_cdk import aws_emr as emr
from aws_cdk import aws_iam as iam
from constructs import Construct

from config import EmrConfig
from pipeline_steps.contract import EMR_LOG_PREFIX
from stacks import nag
from stacks.iam import RolePermissions, service_role
from stacks.network import Network
from stacks.step_code import StepCodeAssets
from stacks.storage import Storage

# Fixed names of the EventBridge rules SageMaker creates in the account to track EMR steps and clusters.
EMR_STEP_STATUS_RULE = "SageMakerPipelineExecutionEMRStepStatusUpdateRule"
EMR_CLUSTER_STATUS_RULE = "SageMakerPipelineExecutionEMRClusterStatusUpdateRule"
EMR_SERVICE_POLICY = "service-role/AmazonEMRServicePolicy_v2"
# EMR creates this service-linked role on an account's first cluster, as the RunJobFlow caller.
EMR_CLEANUP_SERVICE_LINKED_ROLE = "elasticmapreduce.amazonaws.com*/AWSServiceRoleForEMRCleanup"
STEP_ACTIONS = [
    "elasticmapreduce:AddJobFlowSteps",
    "elasticmapreduce:DescribeStep",
    "elasticmapreduce:CancelSteps",
    "elasticmapreduce:ListSteps",
    "elasticmapreduce:DescribeCluster",
]


class Emr(Construct):
    """The ETL's EMR roles, instance profile and security configuration, and (standing mode) the cluster."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        settings: EmrConfig,
        storage: Storage,
        network: Network,
        code: StepCodeAssets,
    ) -> None:
        super().__init__(scope, construct_id)
        self._name_prefix = name_prefix
        self._settings = settings
        self._network = network
        self.log_uri = f"s3://{storage.processed.bucket_name}/{EMR_LOG_PREFIX}"
        self.instance_role, self.instance_permissions = self._add_instance_role(storage, code)
        self.instance_profile = iam.InstanceProfile(self, "InstanceProfile", role=self.instance_role)
        self.service_role, self.service_permissions = self._add_service_role(storage)
        self.security_configuration = self._add_security_configuration(storage)
        self.subnet_id = network.private_subnet_ids[0]
        self.cluster: emr.CfnCluster | None = None
        if settings.cluster_mode == "standing":
            self.cluster = self._add_standing_cluster()

    @property
    def cluster_arn(self) -> str | None:
        """The standing cluster's ARN; None in transient mode."""
        if self.cluster is None:
            return None
        return Stack.of(self).format_arn(service="elasticmapreduce", resource="cluster", resource_name=self.cluster.ref)

    def grant_run_etl(self, to: RolePermissions) -> None:
        """What SageMaker's EMR step needs (the EMR part of AmazonSageMakerPipelinesIntegrations)."""
        region_account = f"{Aws.REGION}:{Aws.ACCOUNT_ID}"
        to.allow(
            "TrackEmrSteps",
            ["events:PutRule", "events:PutTargets", "events:DeleteRule", "events:RemoveTargets", "events:DescribeRule"],
            [
                f"arn:{Aws.PARTITION}:events:{region_account}:rule/{EMR_STEP_STATUS_RULE}",
                f"arn:{Aws.PARTITION}:events:{region_account}:rule/{EMR_CLUSTER_STATUS_RULE}",
            ],
        )
        to.allow(
            "PassEmrRoles",
            ["iam:PassRole"],
            [self.service_role.role_arn, self.instance_role.role_arn],
            conditions={
                "StringLike": {"iam:PassedToService": ["elasticmapreduce.amazonaws.com*", "ec2.amazonaws.com*"]}
            },
        )
        if self.cluster_arn is not None:
            to.allow("RunEtlOnStandingCluster", STEP_ACTIONS, [self.cluster_arn])
            return
        to.allow(
            "CreateEmrCleanupServiceLinkedRole",
            ["iam:CreateServiceLinkedRole"],
            [f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/aws-service-role/{EMR_CLEANUP_SERVICE_LINKED_ROLE}*"],
            conditions={"StringLike": {"iam:AWSServiceName": "elasticmapreduce.amazonaws.com*"}},
            wildcard_reason=(
                "The first cluster in an account makes EMR create its AWSServiceRoleForEMRCleanup service-linked role "
                "as the caller of RunJobFlow (this role). The ARN's service path differs by partition "
                "(elasticmapreduce.amazonaws.com or .com.cn), so it ends in a wildcard; the condition allows only "
                "EMR's service name."
            ),
        )
        to.allow(
            "StartTransientClusters",
            ["elasticmapreduce:RunJobFlow"],
            ["*"],
            wildcard_reason=(
                "In transient mode the EMR step starts a new cluster per execution. RunJobFlow has no resource-level "
                "permissions (the Service Authorization Reference lists no resource type for it), so it is allowed "
                "on * or not at all; PassEmrRoles limits the roles such a cluster can run with to this stack's."
            ),
        )
        to.allow(
            "RunEtlOnTransientClusters",
            ["elasticmapreduce:TerminateJobFlows", *STEP_ACTIONS],
            [Stack.of(self).format_arn(service="elasticmapreduce", resource="cluster", resource_name="*")],
            wildcard_reason=(
                "In transient mode the EMR step adds its step to the cluster it started, watches it and terminates "
                "the cluster; cluster ids are generated by EMR at start, so the statement is limited to clusters in "
                "this region and account."
            ),
        )

    def _add_instance_role(self, storage: Storage, code: StepCodeAssets) -> tuple[iam.Role, RolePermissions]:
        role = iam.Role(
            self,
            "InstanceRole",
            description=f"{self._name_prefix}: EMR cluster EC2 instances (EMRFS, bootstrap, logs)",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
        )
        permissions = RolePermissions(self, role, description_prefix=self._name_prefix)
        code.grant_read_etl(permissions)
        storage.grant_read_inputs(permissions)
        storage.grant_execution_data(permissions, delete=True)
        storage.grant_write_emr_logs(permissions)
        storage.grant_list(permissions, [storage.raw, storage.processed])
        storage.grant_key(permissions, for_aws_resources=False)
        return role, permissions

    def _add_service_role(self, storage: Storage) -> tuple[iam.Role, RolePermissions]:
        role = service_role(
            self,
            "ServiceRole",
            "elasticmapreduce.amazonaws.com",
            f"{self._name_prefix}: Amazon EMR service role (provisions the ETL clusters)",
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
        permissions = RolePermissions(self, role, description_prefix=self._name_prefix)
        permissions.allow(
            "PassInstanceRole",
            ["iam:PassRole"],
            [self.instance_role.role_arn],
            conditions={"StringLike": {"iam:PassedToService": "ec2.amazonaws.com*"}},
        )
        storage.grant_key(permissions, for_aws_resources=True)
        return role, permissions

    def _add_security_configuration(self, storage: Storage) -> emr.CfnSecurityConfiguration:
        key_arn = storage.key.key_arn
        return emr.CfnSecurityConfiguration(
            self,
            "SecurityConfiguration",
            security_configuration={
                "EncryptionConfiguration": {
                    "EnableInTransitEncryption": False,
                    "EnableAtRestEncryption": True,
                    "AtRestEncryptionConfiguration": {
                        "S3EncryptionConfiguration": {"EncryptionMode": "SSE-KMS", "AwsKmsKey": key_arn},
                        "LocalDiskEncryptionConfiguration": {
                            "EncryptionKeyProviderType": "AwsKms",
                            "AwsKmsKey": key_arn,
                            "EnableEbsEncryption": True,
                        },
                    },
                },
                "InstanceMetadataServiceConfiguration": {
                    "MinimumInstanceMetadataServiceVersion": 2,
                    "HttpPutResponseHopLimit": 1,
                },
            },
        )

    def _add_standing_cluster(self) -> emr.CfnCluster:
        cfg = self._settings
        network = self._network
        cluster = emr.CfnCluster(
            self,
            "Cluster",
            name=f"{self._name_prefix}-etl",
            release_label=cfg.release_label,
            applications=[emr.CfnCluster.ApplicationProperty(name="Spark")],
            job_flow_role=self.instance_profile.instance_profile_name,
            service_role=self.service_role.role_name,
            security_configuration=self.security_configuration.ref,
            log_uri=self.log_uri,
            visible_to_all_users=True,
            instances=emr.CfnCluster.JobFlowInstancesConfigProperty(
                ec2_subnet_id=self.subnet_id,
                emr_managed_master_security_group=network.emr_primary_security_group.security_group_id,
                emr_managed_slave_security_group=network.emr_core_security_group.security_group_id,
                service_access_security_group=network.emr_service_access_security_group.security_group_id,
                master_instance_group=emr.CfnCluster.InstanceGroupConfigProperty(
                    name="Primary", instance_count=1, instance_type=cfg.primary_instance_type
                ),
                core_instance_group=emr.CfnCluster.InstanceGroupConfigProperty(
                    name="Core", instance_count=cfg.core_instance_count, instance_type=cfg.core_instance_type
                ),
                keep_job_flow_alive_when_no_steps=True,
                termination_protected=False,
            ),
        )
        # The cluster must not start before its roles can do their work.
        cluster.node.add_dependency(*self.service_permissions.policies, *self.instance_permissions.policies)
        nag.acknowledge(
            cluster,
            "AwsSolutions-EMR4",
            "Local disk encryption IS enabled: the security configuration sets EncryptionConfiguration."
            "EnableAtRestEncryption with a LocalDiskEncryptionConfiguration (AwsKms, the environment's key, EBS "
            "encryption on), the schema EMR documents. cdk-nag 3.0.2's rule reads EnableAtRestEncryption and "
            "AtRestEncryptionConfiguration at the top level of the JSON instead, so it cannot see it (false positive; "
            "tests/infra asserts the configuration).",
        )
        nag.acknowledge(
            cluster,
            "AwsSolutions-EMR5",
            "In-transit encryption needs TLS material (a PEM zip with a private key in S3, or a custom Java "
            "certificate provider JAR); neither can be built by this hermetic synth without committing a private "
            "key. The cluster runs in private subnets with EMR-managed security groups, and S3 traffic is TLS "
            "(bucket policies deny non-TLS requests).",
        )
        nag.acknowledge(
            cluster,
            "AwsSolutions-EMR6",
            "The cluster has no EC2 key pair (no SSH) and no Kerberos: nobody logs in; the only work it runs is "
            "the pipeline's ETL step submitted through the EMR API by the SageMaker execution role, which IAM "
            "authenticates and authorizes.",
        )
        return cluster
