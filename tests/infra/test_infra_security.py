"""Least privilege, encryption and network placement, asserted on the synthesized templates and definitions.

- IAM: `Resource: "*"` only for actions AWS offers no resource-level permission for; the scheduler
  role only starts this environment's pipeline; the pipeline role reaches only this environment's
  buckets (and the step-code asset objects) and key; no inline policies; every managed policy fits
  IAM's size limit.
- Encryption: SageMaker job volumes and outputs with the environment's key (definition), EMR at rest.
- Network: the jobs and EMR run in the private subnets; public subnets give no public IPs; no
  interface endpoints (the NAT gateway is needed anyway: stacks/network.py, COST.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from infra_support import Synth, all_steps

ENVIRONMENTS = ["develop", "production"]
ALL = [("synth", "develop"), ("synth", "production"), ("variant_synth", "standing"), ("variant_synth", "existingvpc")]
# Actions with no resource-level permissions (Service Authorization Reference), the only ones allowed on "*".
UNSCOPED_ACTIONS = {
    "sagemaker:ListModelPackages",
    "ecr:GetAuthorizationToken",
    "elasticmapreduce:RunJobFlow",
    "cloudwatch:PutMetricData",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
}
MANAGED_POLICY_MAX_CHARS = 6144
# CDK's own custom resource (empties the default security group): its role is CDK's, not this project's.
CDK_CUSTOM_RESOURCE_PREFIX = "CustomVpcRestrictDefaultSG"


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def identity_statements(template: dict) -> Iterator[tuple[str, dict, list[str]]]:
    """(policy logical id, statement, role logical ids) of every identity-based policy of the project's roles."""
    for logical_id, resource in template["Resources"].items():
        if logical_id.startswith(CDK_CUSTOM_RESOURCE_PREFIX):
            continue
        properties = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            roles = [role["Ref"] for role in properties.get("Roles", [])]
            for statement in properties["PolicyDocument"]["Statement"]:
                yield logical_id, statement, roles
        if resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    yield logical_id, statement, [logical_id]


def statements_of_role(template: dict, role_id: str) -> list[dict]:
    return [statement for _, statement, roles in identity_statements(template) if role_id in roles]


@pytest.mark.parametrize(("which", "name"), ALL)
def test_wildcard_resource_only_for_actions_without_resource_level_permissions(
    which: str, name: str, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(which)
    for policy_id, statement, _ in identity_statements(synth.templates[name]):
        if statement["Effect"] == "Allow" and "*" in as_list(statement["Resource"]):
            assert set(as_list(statement["Action"])) <= UNSCOPED_ACTIONS, (policy_id, statement)
            # ...and they live in the role's separate UnscopedActions policy, never beside scoped statements.
            assert "UnscopedActions" in policy_id, policy_id


@pytest.mark.parametrize(("which", "name"), ALL)
def test_permissions_are_managed_policies_that_fit_iams_size_limit(
    which: str, name: str, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(which)
    template = synth.templates[name]
    inline = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Policy"
        or (resource["Type"] == "AWS::IAM::Role" and resource["Properties"].get("Policies"))
    ]
    assert [logical_id for logical_id in inline if not logical_id.startswith(CDK_CUSTOM_RESOURCE_PREFIX)] == []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            size = len(json.dumps(deployed(resource["Properties"]["PolicyDocument"]), separators=(",", ":")))
            assert size < MANAGED_POLICY_MAX_CHARS, (logical_id, size)


def deployed(value: Any) -> Any:
    """A policy document as IAM will store it, with every reference replaced by its longest plausible value."""
    if isinstance(value, list):
        return [deployed(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "Fn::Join" in value:
        delimiter, items = value["Fn::Join"]
        return delimiter.join(str(deployed(item)) for item in items)
    if "Ref" in value:
        pseudo = {"AWS::Partition": "aws-us-gov", "AWS::Region": "ap-southeast-4", "AWS::AccountId": "123456789012"}
        return pseudo.get(value["Ref"], "x" * 63)  # a bucket name, subnet or security group id: at most 63
    if "Fn::GetAtt" in value:
        return "arn:aws-us-gov:iam::123456789012:role/" + "x" * 64
    if "Fn::Sub" in value:
        return value["Fn::Sub"].replace("${AWS::AccountId}", "123456789012").replace("${AWS::Region}", "ap-southeast-4")
    return {key: deployed(item) for key, item in value.items()}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_scheduler_role_can_only_start_this_pipeline_and_use_its_dead_letter_queue(synth: Synth, env: str) -> None:
    stack = synth.stacks[env]
    template = synth.templates[env]
    role_id = stack.get_logical_id(stack.schedules.role.node.default_child)
    queue_id = stack.get_logical_id(stack.schedules.dead_letter_queue.node.default_child)
    key_arn = {"Fn::GetAtt": [stack.get_logical_id(stack.storage.key.node.default_child), "Arn"]}
    by_action: dict[str, list] = {}
    for statement in statements_of_role(template, role_id):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            by_action.setdefault(action, []).extend(as_list(statement["Resource"]))
    assert by_action == {
        "sagemaker:StartPipelineExecution": [stack.resolve(stack.pipeline.arn)],
        "sqs:SendMessage": [{"Fn::GetAtt": [queue_id, "Arn"]}],
        "kms:GenerateDataKey": [key_arn],
        "kms:Decrypt": [key_arn],
    }
    assert json.dumps(stack.resolve(stack.pipeline.arn)).count(f"pipeline/jobclf-{env}") == 1


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_pipeline_role_reaches_only_this_environments_buckets_and_key(synth: Synth, env: str) -> None:
    stack = synth.stacks[env]
    template = synth.templates[env]
    role_id = stack.get_logical_id(stack.pipeline_role.role.node.default_child)
    own_buckets = {stack.get_logical_id(b.node.default_child) for b in stack.storage.data_buckets.values()}
    key_id = stack.get_logical_id(stack.storage.key.node.default_child)
    assets_bucket = "cdk-hnb659fds-assets-"
    for statement in statements_of_role(template, role_id):
        actions = as_list(statement["Action"])
        resources = [json.dumps(resource) for resource in as_list(statement["Resource"])]
        if any(action.startswith("s3:") for action in actions):
            for resource in resources:
                referenced = {bucket for bucket in own_buckets if f'"{bucket}"' in resource}
                assert len(referenced) == 1 or assets_bucket in resource, (statement["Sid"], resource)
        if any(action.startswith("kms:") for action in actions):
            assert resources == [json.dumps({"Fn::GetAtt": [key_id, "Arn"]})], statement["Sid"]
    # The access-log bucket is nobody's data: no role of the project reads or writes it.
    access_logs = stack.get_logical_id(stack.storage.access_logs.node.default_child)
    for _, statement, _ in identity_statements(template):
        assert f'"{access_logs}"' not in json.dumps(statement["Resource"]), statement


@pytest.mark.parametrize(("which", "name"), ALL)
def test_job_network_interfaces_are_limited_to_the_private_subnets_and_the_jobs_security_group(
    which: str, name: str, request: pytest.FixtureRequest
) -> None:
    synth: Synth = request.getfixturevalue(which)
    stack = synth.stacks[name]
    role_id = stack.get_logical_id(stack.pipeline_role.role.node.default_child)
    (statement,) = [s for s in statements_of_role(synth.templates[name], role_id) if s["Sid"] == "JobNetworkInterfaces"]
    resources = [json.dumps(r) for r in statement["Resource"]]
    subnets = [json.dumps(stack.resolve(subnet)) for subnet in stack.network.private_subnet_ids]
    assert len(resources) == 1 + len(subnets) + 1
    assert any(":network-interface/*" in r for r in resources)
    for subnet in subnets:
        assert any(subnet.strip('"') in r or subnet in r for r in resources), subnet
    group = json.dumps(stack.resolve(stack.network.sagemaker_security_group.security_group_id))
    assert any(":security-group/" in r and group in r for r in resources)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_job_step_is_encrypted_bounded_and_in_the_private_subnets(synth: Synth, env: str) -> None:
    stack = synth.stacks[env]
    definition = stack.pipeline.fake_definition()
    private = [f"subnet-private{i}" for i in range(len(stack.network.private_subnet_ids))]

    job_steps = [s for s in all_steps(definition["Steps"]) if s["Type"] in ("Processing", "Training")]
    assert {s["Name"] for s in job_steps} == {
        "PreprocessTrain",
        "Train",
        "Evaluate",
        "PreprocessPredict",
        "BatchPredict",
        "BatchPredictAfterEtl",
        "PredictionReport",
        "PredictionReportAfterEtl",
    }
    key = "arn:aws:kms:eu-west-1:000000000000:key/data-key"
    for step in job_steps:
        arguments = step["Arguments"]
        if step["Type"] == "Processing":
            volume_key = arguments["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"]
            output_key = arguments["ProcessingOutputConfig"]["KmsKeyId"]
        else:
            volume_key = arguments["ResourceConfig"]["VolumeKmsKeyId"]
            output_key = arguments["OutputDataConfig"]["KmsKeyId"]
        assert (volume_key, output_key) == (key, key), step["Name"]
        assert arguments["StoppingCondition"]["MaxRuntimeInSeconds"] > 0, step["Name"]
        assert arguments["NetworkConfig" if step["Type"] == "Processing" else "VpcConfig"]
        vpc = arguments["NetworkConfig"]["VpcConfig"] if step["Type"] == "Processing" else arguments["VpcConfig"]
        assert vpc["Subnets"] == private and vpc["SecurityGroupIds"] == ["sg-sagemakerjobs"], step["Name"]
        assert step["RetryPolicies"], step["Name"]
    emr_steps = [s for s in all_steps(definition["Steps"]) if s["Type"] == "EMR"]
    assert [s["Name"] for s in emr_steps] == ["ETL", "PredictEtl"]
    for emr_step in emr_steps:
        cluster = emr_step["Arguments"]["ClusterConfig"]
        assert cluster["Instances"]["Ec2SubnetId"] == "subnet-private0"
        assert cluster["SecurityConfiguration"] == "emr-security-configuration"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_public_subnets_assign_no_public_ips_and_there_are_no_interface_endpoints(synth: Synth, env: str) -> None:
    stack = synth.stacks[env]
    resources = synth.templates[env]["Resources"]
    for subnet in stack.network.vpc.public_subnets:
        properties = resources[stack.get_logical_id(subnet.node.default_child)]["Properties"]
        assert properties["MapPublicIpOnLaunch"] is False
    endpoints = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::EC2::VPCEndpoint"]
    assert [e["VpcEndpointType"] for e in endpoints] == ["Gateway"]  # S3 only; see stacks/network.py


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_pipeline_role_may_create_only_emrs_cleanup_service_linked_role(synth: Synth, env: str) -> None:
    """EMR creates AWSServiceRoleForEMRCleanup on an account's first cluster, as the RunJobFlow caller."""
    stack = synth.stacks[env]
    role_id = stack.get_logical_id(stack.pipeline_role.role.node.default_child)
    statements = [
        s
        for s in statements_of_role(synth.templates[env], role_id)
        if "iam:CreateServiceLinkedRole" in as_list(s["Action"])
    ]
    assert len(statements) == 1
    (statement,) = statements
    assert as_list(statement["Action"]) == ["iam:CreateServiceLinkedRole"]
    assert statement["Condition"] == {"StringLike": {"iam:AWSServiceName": "elasticmapreduce.amazonaws.com*"}}
    resource = json.dumps(deployed(statement["Resource"]))
    assert resource.endswith(':role/aws-service-role/elasticmapreduce.amazonaws.com*/AWSServiceRoleForEMRCleanup*"')
