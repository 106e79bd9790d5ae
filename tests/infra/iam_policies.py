"""Every IAM policy document of a synthesized template, with its CloudFormation intrinsics resolved to
plausible values, so that an IAM linter (parliament) can read it.

parliament needs strings where the template holds `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub` and
pseudo parameters: each resolves to a value of the shape AWS would give (an S3 bucket's ARN is
`arn:aws:s3:::<name>`, a KMS key's `arn:aws:kms:<region>:<account>:key/<id>`), named after the
resource's logical ID. An intrinsic or a resource type this module does not know is an error, so a
new one is noticed rather than linted as nonsense.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

ACCOUNT = "123456789012"


@dataclass(frozen=True)
class PolicyDocument:
    resource: str  # the logical ID of the resource that holds it, without CDK's hash suffix
    kind: str  # PolicyDocument, KeyPolicy, AssumeRolePolicyDocument or Policies[<i>]
    document: dict  # resolved: strings only


def readable(logical_id: str) -> str:
    """A logical ID without the 8-hex suffix CDK appends (StorageKeyBAA9457B -> StorageKey)."""
    return re.sub(r"[0-9A-F]{8}$", "", logical_id)


class Resolver:
    """Plausible values for the intrinsics of one template."""

    def __init__(self, template: dict, region: str, account: str = ACCOUNT) -> None:
        self.resources = template["Resources"]
        self.parameters = template.get("Parameters", {})
        self.region, self.account = region, account
        arn = f"arn:aws:{{}}:{region}:{account}:{{}}"
        self.pseudo = {
            "AWS::Partition": "aws",
            "AWS::AccountId": account,
            "AWS::Region": region,
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.ref_shapes: dict[str, Callable[[str], str]] = {
            "AWS::S3::Bucket": lambda logical: f"jobclf-{logical.lower()}",
            "AWS::IAM::Role": lambda logical: logical,
            "AWS::IAM::InstanceProfile": lambda logical: logical,
            "AWS::KMS::Key": lambda logical: str(uuid.uuid5(uuid.NAMESPACE_URL, logical)),
            "AWS::SNS::Topic": lambda logical: arn.format("sns", logical),
            "AWS::SQS::Queue": lambda logical: f"https://sqs.{region}.amazonaws.com/{account}/{logical}",
            "AWS::EC2::VPC": lambda logical: "vpc-0123456789abcdef0",
            "AWS::EC2::Subnet": lambda logical: "subnet-" + uuid.uuid5(uuid.NAMESPACE_URL, logical).hex[:17],
            "AWS::EC2::SecurityGroup": lambda logical: "sg-" + uuid.uuid5(uuid.NAMESPACE_URL, logical).hex[:17],
            "AWS::EMR::Cluster": lambda logical: "j-" + uuid.uuid5(uuid.NAMESPACE_URL, logical).hex[:13].upper(),
            "AWS::EMR::SecurityConfiguration": lambda logical: logical,
            "AWS::SageMaker::ModelPackageGroup": lambda logical: arn.format(
                "sagemaker", f"model-package-group/{logical.lower()}"
            ),
            "AWS::SageMaker::Pipeline": lambda logical: logical.lower(),
            # Named resources go by the names the template gives them (ARNs built from names must match).
            "AWS::Events::Rule": lambda logical: self.declared(logical, "Name"),
            "AWS::Logs::LogGroup": lambda logical: self.declared(logical, "LogGroupName"),
            "AWS::Lambda::Function": lambda logical: self.declared(logical, "FunctionName"),
        }
        self.attribute_shapes: dict[tuple[str, str], Callable[[str], str]] = {
            ("AWS::S3::Bucket", "Arn"): lambda logical: f"arn:aws:s3:::{self.ref(logical)}",
            ("AWS::IAM::Role", "Arn"): lambda logical: f"arn:aws:iam::{account}:role/{logical}",
            ("AWS::IAM::InstanceProfile", "Arn"): lambda logical: f"arn:aws:iam::{account}:instance-profile/{logical}",
            ("AWS::KMS::Key", "Arn"): lambda logical: arn.format("kms", f"key/{self.ref(logical)}"),
            ("AWS::SQS::Queue", "Arn"): lambda logical: arn.format("sqs", logical),
            ("AWS::SQS::Queue", "QueueName"): lambda logical: logical,
            ("AWS::SNS::Topic", "TopicArn"): lambda logical: self.ref(logical),
            ("AWS::EC2::SecurityGroup", "GroupId"): lambda logical: self.ref(logical),
            ("AWS::EC2::VPC", "DefaultSecurityGroup"): lambda logical: "sg-0fedcba9876543210",
            ("AWS::SageMaker::ModelPackageGroup", "ModelPackageGroupArn"): lambda logical: self.ref(logical),
            ("AWS::SageMaker::Pipeline", "PipelineName"): lambda logical: self.ref(logical),
            ("AWS::Events::Rule", "Arn"): lambda logical: arn.format("events", f"rule/{self.ref(logical)}"),
            ("AWS::Logs::LogGroup", "Arn"): lambda logical: arn.format("logs", f"log-group:{self.ref(logical)}:*"),
            ("AWS::Lambda::Function", "Arn"): lambda logical: arn.format("lambda", f"function:{self.ref(logical)}"),
        }

    def declared(self, logical: str, name_property: str) -> str:
        """The name a resource's properties give it (a plain string), else one made from its logical ID."""
        name = self.resources[logical].get("Properties", {}).get(name_property)
        return name if isinstance(name, str) else logical.lower()

    def type_of(self, logical: str) -> str:
        if logical not in self.resources:
            raise KeyError(f"no resource {logical} in the template")
        return self.resources[logical]["Type"]

    def ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return str(self.parameters[name]["Default"])
        kind = self.type_of(name)
        if kind not in self.ref_shapes:
            raise KeyError(f"Ref of a {kind} ({name}): add its shape to iam_policies.Resolver")
        return self.ref_shapes[kind](name)

    def get_att(self, logical: str, attribute: str) -> str:
        key = (self.type_of(logical), attribute)
        if key not in self.attribute_shapes:
            raise KeyError(f"Fn::GetAtt {attribute} of a {key[0]} ({logical}): add its shape to iam_policies.Resolver")
        return self.attribute_shapes[key](logical)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            function, argument = next(iter(value.items()))
            if function == "Ref":
                return self.ref(argument)
            if function == "Fn::GetAtt":
                return self.get_att(*(argument.split(".", 1) if isinstance(argument, str) else argument))
            if function == "Fn::Join":
                return argument[0].join(self.resolve(argument[1]))
            if function == "Fn::Sub":
                return self.substitute(*(argument if isinstance(argument, list) else [argument, {}]))
            if function.startswith("Fn::"):
                raise KeyError(f"{function} in a policy: add it to iam_policies.Resolver")
        return {key: self.resolve(item) for key, item in value.items()}

    def substitute(self, text: str, variables: dict) -> str:
        def value_of(match: re.Match) -> str:
            name = match.group(1)
            if name in variables:
                return self.resolve(variables[name])
            return self.get_att(*name.split(".", 1)) if "." in name else self.ref(name)

        return re.sub(r"\$\{([^}!]+)\}", value_of, text)


def policy_documents(template: dict, region: str) -> Iterator[PolicyDocument]:
    """Every policy document of the template's resources, resolved.

    A role's trust policy names no Resource (the role is the resource), which parliament reports as
    MALFORMED and then checks nothing else; each of its statements gets the role's ARN as Resource.
    """
    resolver = Resolver(template, region)
    for logical, resource in sorted(template["Resources"].items()):
        properties = resource.get("Properties", {})
        for kind in ("PolicyDocument", "KeyPolicy", "AssumeRolePolicyDocument"):
            if kind in properties:
                document = resolver.resolve(properties[kind])
                if kind == "AssumeRolePolicyDocument":
                    role_arn = resolver.get_att(logical, "Arn")
                    document["Statement"] = [{**statement, "Resource": role_arn} for statement in document["Statement"]]
                yield PolicyDocument(readable(logical), kind, document)
        for index, policy in enumerate(properties.get("Policies", [])):
            yield PolicyDocument(readable(logical), f"Policies[{index}]", resolver.resolve(policy["PolicyDocument"]))
