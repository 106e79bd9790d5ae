"""Where EMR and the SageMaker jobs run: private subnets of a VPC, and their security groups.

The stack owns a VPC (public + private-with-egress subnets, one NAT gateway, an S3 gateway
endpoint, flow logs) unless `network.vpc_id` is configured; then it imports that VPC and its
private subnets by ID with `Vpc.from_vpc_attributes` (never `from_lookup`: synth stays offline).

VPC endpoints: the S3 gateway endpoint (free) carries every byte the jobs and EMR read and write
in S3. There are no interface endpoints: the NAT gateway carries the few AWS API calls from inside
the VPC (the steps' model-registry look-ups, EMR's and SageMaker's agents), all over TLS. Nothing
in the VPC needs the internet itself: the ETL's Python packages reach EMR in the step's --py-files.
An interface endpoint costs about $8 a month per availability zone (about $16 a month per service
with two zones): replacing the NAT gateway would take endpoints for sagemaker.api, sts, logs,
monitoring and elasticmapreduce, at about twice its cost (COST.md has the figures).
"""

from __future__ import annotations

from aws_cdk import Aws, CfnResource, Fn, Stack, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_s3 as s3
from constructs import Construct

from config import NetworkConfig
from stacks import nag
from stacks.iam import RolePermissions

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
# AmazonEMRServicePolicy_v2 lets the EMR service role use only subnets and security groups with this tag.
EMR_MANAGED_POLICY_TAG = ("for-use-with-amazon-emr-managed-policies", "true")
FLOW_LOG_PREFIX = "vpc-flow-logs/"
# checkov findings on the Lambda function of CDK's custom resource that empties the VPC's default
# security group (`restrictDefaultSecurityGroup`): it runs once per deployment, on CloudFormation's call.
CDK_HANDLER_CHECKOV_SKIPS = {
    "CKV_AWS_115": "CDK's custom resource handler runs only when CloudFormation creates or updates the VPC (once "
    "per deployment); a reserved concurrency limit would only reserve account concurrency for it.",
    "CKV_AWS_116": "CDK's custom resource handler is invoked synchronously by CloudFormation, which reports a "
    "failure as a failed deployment and rolls back; an asynchronous dead-letter queue would never receive anything.",
    "CKV_AWS_117": "CDK's custom resource handler only calls the EC2 API to remove the default security group's "
    "rules; it touches no data and needs no VPC access, and running it in the VPC would need interface endpoints.",
}


class Network(Construct):
    """VPC, private subnets, and security groups for SageMaker jobs and for EMR (primary, core, service access)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: NetworkConfig, flow_log_bucket: s3.IBucket
    ) -> None:
        super().__init__(scope, construct_id)
        self._settings = settings
        if settings.vpc_id is None:
            self.vpc: ec2.IVpc = self._add_owned_vpc(flow_log_bucket)
            self.owns_vpc = True
        else:
            self.vpc = self._import_vpc()
            self.owns_vpc = False
        self.private_subnets: list[ec2.ISubnet] = list(self.vpc.private_subnets)
        self.private_subnet_ids: list[str] = [subnet.subnet_id for subnet in self.private_subnets]
        self.sagemaker_security_group = self._add_security_group(
            "SageMakerJobsSecurityGroup",
            "JobClf SageMaker processing and training jobs: no inbound; outbound to S3 (gateway endpoint) and AWS APIs",
            allow_all_outbound=True,
        )
        # EMR-managed security groups: EMR adds the rules the cluster needs to these groups itself.
        self.emr_primary_security_group = self._add_security_group(
            "EmrPrimarySecurityGroup",
            "JobClf EMR primary node (EMR-managed rules); outbound for S3 and AWS APIs",
            allow_all_outbound=True,
            emr=True,
        )
        self.emr_core_security_group = self._add_security_group(
            "EmrCoreSecurityGroup",
            "JobClf EMR core nodes (EMR-managed rules); outbound for S3 and AWS APIs",
            allow_all_outbound=True,
            emr=True,
        )
        self.emr_service_access_security_group = self._add_security_group(
            "EmrServiceAccessSecurityGroup",
            "JobClf EMR service access in a private subnet (EMR-managed rules only)",
            allow_all_outbound=False,
            emr=True,
        )

    def _add_owned_vpc(self, flow_log_bucket: s3.IBucket) -> ec2.Vpc:
        network = self._settings
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(network.vpc_cidr),
            max_azs=network.max_azs,
            # One NAT gateway: the jobs and EMR reach AWS APIs that have no gateway endpoint. Data to
            # and from S3 takes the gateway endpoint instead.
            nat_gateways=1,
            subnet_configuration=[
                # The public subnets hold only the NAT gateway, whose Elastic IP is its own: nothing launched
                # there gets a public IP (NIST 800-53 rev 5 VPCSubnetAutoAssignPublicIpDisabled).
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24, map_public_ip_on_launch=False
                ),
                ec2.SubnetConfiguration(name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20),
            ],
            gateway_endpoints={"S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)},
            flow_logs={
                "FlowLogs": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_s3(flow_log_bucket, FLOW_LOG_PREFIX),
                    traffic_type=ec2.FlowLogTrafficType.ALL,
                )
            },
        )
        self._lint_default_sg_restriction()
        # Only the private subnets the clusters run in carry the EMR managed-policy tag.
        for subnet in vpc.private_subnets:
            Tags.of(subnet).add(*EMR_MANAGED_POLICY_TAG, include_resource_types=["AWS::EC2::Subnet"])
        for subnet in vpc.public_subnets:
            route = subnet.node.try_find_child("DefaultRoute")
            nag.acknowledge(
                route if route is not None else subnet,
                f"{nag.NIST_800_53_R5}-VPCNoUnrestrictedRouteToIGW",
                "This public subnet holds only the NAT gateway, which needs its 0.0.0.0/0 route to the internet "
                "gateway to give the private subnets egress (the jobs and EMR call AWS APIs that have no "
                "gateway endpoint). No instance runs here: auto-assigned public IPs are off, and "
                "EMR and SageMaker jobs run only in the private subnets.",
            )
        return vpc

    def _lint_default_sg_restriction(self) -> None:
        """CDK's custom resource that empties the default security group declares a DependsOn on its role
        that its GetAtt already implies (cfn-lint W3005); the template is CDK's, so the check is ignored there."""
        provider = Stack.of(self).node.try_find_child("Custom::VpcRestrictDefaultSGCustomResourceProvider")
        handler = provider.node.try_find_child("Handler") if provider is not None else None
        if isinstance(handler, CfnResource):
            handler.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
            # The same handler, for checkov: CDK's own single-purpose Lambda, not code of this project.
            for check_id, reason in CDK_HANDLER_CHECKOV_SKIPS.items():
                nag.checkov_skip(handler, check_id, reason)

    def _import_vpc(self) -> ec2.IVpc:
        network = self._settings
        # The subnets' zones are only used to spread subnets; they never reach the template.
        zones = [Fn.select(i, Fn.get_azs()) for i in range(len(network.private_subnet_ids))]
        vpc = ec2.Vpc.from_vpc_attributes(
            self,
            "Vpc",
            vpc_id=network.vpc_id,
            availability_zones=zones,
            private_subnet_ids=list(network.private_subnet_ids),
        )
        nag.acknowledge(
            vpc,
            "@aws-cdk/aws-ec2:noSubnetRouteTableId",
            "The configured private subnets are imported by ID only (no synth-time lookup), so their route tables "
            "are unknown; this stack never reads or adds routes to them (the existing VPC's routing, NAT and S3 "
            "endpoint are its owner's).",
        )
        return vpc

    def _add_security_group(
        self, construct_id: str, description: str, *, allow_all_outbound: bool, emr: bool = False
    ) -> ec2.SecurityGroup:
        group = ec2.SecurityGroup(
            self, construct_id, vpc=self.vpc, description=description, allow_all_outbound=allow_all_outbound
        )
        if emr:
            Tags.of(group).add(*EMR_MANAGED_POLICY_TAG, include_resource_types=["AWS::EC2::SecurityGroup"])
        return group

    def grant_job_network_interfaces(self, to: RolePermissions) -> None:
        """SageMaker puts each job's network interfaces into the private subnets, with the jobs' security group."""
        region_account = f"{Aws.REGION}:{Aws.ACCOUNT_ID}"
        to.allow(
            "JobNetworkInterfaces",
            ENI_WRITE,
            [
                f"arn:{Aws.PARTITION}:ec2:{region_account}:network-interface/*",
                *(f"arn:{Aws.PARTITION}:ec2:{region_account}:subnet/{subnet}" for subnet in self.private_subnet_ids),
                f"arn:{Aws.PARTITION}:ec2:{region_account}:security-group/"
                f"{self.sagemaker_security_group.security_group_id}",
            ],
            wildcard_reason=(
                "SageMaker creates, shares and deletes one network interface per job in this VPC's private subnets; "
                "the interface IDs do not exist before the job, so only network-interface/* of this region and "
                "account is wildcarded (the subnets and the jobs' security group are named)."
            ),
        )
        to.allow(
            "DescribeJobNetwork",
            ENI_DESCRIBE,
            ["*"],
            wildcard_reason=(
                "The EC2 Describe* actions SageMaker calls to check a job's VPC, subnets, security groups and network "
                "interfaces support no resource-level permissions; they read configuration only."
            ),
        )
