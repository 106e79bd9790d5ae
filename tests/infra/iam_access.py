"""Who may do what in a synthesized template, as AWS decides it: every IAM policy that takes part in a decision,
and a real policy evaluator to ask.

`AccessModel.of(template, region)` reads, with the intrinsics resolved by the resolver the IAM lint uses
(iam_policies.Resolver):
- each role's identity policies: its inline policies, the customer managed policies attached to it
  (`AWS::IAM::ManagedPolicy` Roles), and the AWS managed policies it names (their documents from moto's copy of
  AWS's managed policies, `moto.iam.aws_managed_policies`, which records each one's last update);
- each role's trust policy, and the resource policies that decide too: bucket policies, KMS key policies, the
  SNS topic policy, the SQS queue policies, and each Lambda function's policy (its `AWS::Lambda::Permission`s, as
  Lambda's AddPermission writes them: a statement per permission, `AWS:SourceArn` as an ArnLike condition);
- what the calls need to know about resources: which key encrypts a bucket, a queue or a topic by default, the
  role of an instance profile, the tags of subnets and security groups, the EMR security configurations.

`evaluate(model, calls)` evaluates each `Call` with @cloud-copilot/iam-simulate (npm, pinned in package.json;
tests/infra/iam_simulator.mjs), which implements AWS's policy evaluation logic: explicit deny, identity and
resource policies, every condition operator (a key the request does not carry is absent: strict mode), the
same-account and cross-account rules, and the rules of trust and KMS key policies (a key policy that does not
allow the account makes IAM policies irrelevant). It also checks each request against the Service
Authorization Reference: the action exists, the ARN is of a resource type the action takes, and each context
key applies to it. A call is allowed only if the evaluator says Allowed, raised no validation error and used
every context key it was given.

What it cannot decide: a resource policy outside the template (a resource another account or the CDK
bootstrap stack owns) is absent to it, so such calls are evaluated as same-account calls and say why (`Call.
foreign`); SCPs, permission boundaries and session policies of the real account are not known here.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from iam_policies import ACCOUNT, Resolver, readable
from infra_support import PROJECT_ROOT

from jsii_node import node_executable

EVALUATOR = Path(__file__).with_name("iam_simulator.mjs")
AWS_MANAGED_POLICY_PREFIX = "arn:aws:iam::aws:policy/"


@dataclass(frozen=True)
class Call:
    """One request the deployed system makes: who, what, on which resource, with which request context."""

    principal: str  # an assumed-role session ARN, or a service principal (events.amazonaws.com)
    action: str  # as IAM names it: service:Action
    resource: str  # the ARN IAM authorizes it against; "*" for an action without resource-level permissions
    context: tuple[tuple[str, str | tuple[str, ...]], ...] = ()  # request context keys and values, sorted
    why: str = ""  # what makes the call, and the document that says so
    origin: str = ""  # where it comes from in the app, e.g. "step Train"
    foreign: str = ""  # for a resource whose policy the template does not hold: whose it is (evaluated same-account)

    @classmethod
    def of(
        cls, principal: str, action: str, resource: str, context: Mapping[str, Any] | None = None, **details: str
    ) -> Call:
        items = {k: tuple(v) if isinstance(v, list | tuple) else str(v) for k, v in (context or {}).items()}
        return cls(principal, action, resource, tuple(sorted(items.items())), **details)

    @property
    def key(self) -> tuple:
        """What makes two calls the same request (their origins may differ)."""
        return (self.principal, self.action, self.resource, self.context)

    def __str__(self) -> str:
        context = ", ".join(f"{k}={v}" for k, v in self.context)
        return f"{self.principal} {self.action} {self.resource}" + (f" [{context}]" if context else "")


def assumed(role_arn: str, session: str) -> str:
    """The session ARN AWS gives a role assumed by `session` (the principal of the role's requests)."""
    account = role_arn.split(":")[4]
    return f"arn:aws:sts::{account}:assumed-role/{role_arn.rsplit('/', 1)[1]}/{session}"


def role_of(principal: str) -> str:
    """The role ARN of an assumed-role session ARN."""
    _, _, _, _, account, resource = principal.split(":", 5)
    return f"arn:aws:iam::{account}:role/{resource.split('/')[1]}"


@cache
def aws_managed_policy(arn: str) -> dict:
    """An AWS managed policy's document, from moto's copy of AWS's managed policies; KeyError if it has none."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    name = arn.rsplit("/", 1)[1]
    policies = json.loads(aws_managed_policies_data)
    if name not in policies:
        raise KeyError(f"{arn}: not in moto's copy of the AWS managed policies")
    return policies[name]["Document"]


@dataclass
class AccessModel:
    """The template's policies and the resource facts the calls need, intrinsics resolved."""

    region: str
    account: str = ACCOUNT
    identity: dict[str, list[dict]] = field(default_factory=dict)  # role ARN -> [{"name", "policy"}]
    trust: dict[str, dict] = field(default_factory=dict)  # role ARN -> trust policy
    role_arns: dict[str, str] = field(default_factory=dict)  # role name -> ARN
    role_logical_ids: dict[str, str] = field(default_factory=dict)  # role ARN -> readable logical ID
    instance_profile_roles: dict[str, str] = field(default_factory=dict)  # instance profile name -> role ARN
    bucket_policies: dict[str, dict] = field(default_factory=dict)  # bucket name -> policy
    bucket_keys: dict[str, str] = field(default_factory=dict)  # bucket name -> default SSE-KMS key ARN
    key_policies: dict[str, dict] = field(default_factory=dict)  # key ARN -> key policy
    topic_policies: dict[str, dict] = field(default_factory=dict)  # topic ARN -> policy
    topic_keys: dict[str, str] = field(default_factory=dict)
    queue_policies: dict[str, dict] = field(default_factory=dict)  # queue ARN -> policy
    queue_keys: dict[str, str] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)  # subnet or security group ID -> tags
    security_configurations: dict[str, dict] = field(default_factory=dict)  # name -> SecurityConfiguration
    emr_clusters: list[dict] = field(default_factory=list)  # AWS::EMR::Cluster properties (standing mode)
    event_rules: list[dict] = field(default_factory=list)  # AWS::Events::Rule properties
    function_policies: dict[str, dict] = field(default_factory=dict)  # function ARN -> its resource policy
    functions: dict[str, dict] = field(default_factory=dict)  # function ARN -> AWS::Lambda::Function properties
    alarms: list[dict] = field(default_factory=list)  # AWS::CloudWatch::Alarm properties
    log_groups: dict[str, dict] = field(default_factory=dict)  # log group name -> AWS::Logs::LogGroup properties

    @classmethod
    def of(cls, template: dict, region: str) -> AccessModel:
        resolver = Resolver(template, region)
        model = cls(region=region)
        resources = template["Resources"]
        by_type: dict[str, list[tuple[str, dict]]] = {}
        for logical, resource in resources.items():
            by_type.setdefault(resource["Type"], []).append((logical, resource.get("Properties", {})))
        for logical, properties in by_type.get("AWS::IAM::Role", []):
            arn = resolver.get_att(logical, "Arn")
            model.role_arns[resolver.ref(logical)] = arn
            model.role_logical_ids[arn] = readable(logical)
            model.trust[arn] = resolver.resolve(properties["AssumeRolePolicyDocument"])
            policies = model.identity.setdefault(arn, [])
            for policy in properties.get("Policies", []):
                policies.append({"name": policy["PolicyName"], "policy": resolver.resolve(policy["PolicyDocument"])})
            for managed in resolver.resolve(properties.get("ManagedPolicyArns", [])):
                if not managed.startswith(AWS_MANAGED_POLICY_PREFIX):
                    raise KeyError(f"{logical}: managed policy {managed} is neither AWS's nor in the template")
                policies.append({"name": managed, "policy": aws_managed_policy(managed)})
        for kind in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            for logical, properties in by_type.get(kind, []):
                for role in properties.get("Roles", []):
                    role_arn = model.role_arns[resolver.resolve(role)]
                    model.identity[role_arn].append(
                        {"name": readable(logical), "policy": resolver.resolve(properties["PolicyDocument"])}
                    )
        for logical, properties in by_type.get("AWS::IAM::InstanceProfile", []):
            (role,) = properties["Roles"]
            model.instance_profile_roles[resolver.ref(logical)] = model.role_arns[resolver.resolve(role)]
        for logical, properties in by_type.get("AWS::KMS::Key", []):
            model.key_policies[resolver.get_att(logical, "Arn")] = resolver.resolve(properties["KeyPolicy"])
        for logical, properties in by_type.get("AWS::S3::Bucket", []):
            rules = properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
            for rule in resolver.resolve(rules):
                default = rule["ServerSideEncryptionByDefault"]
                if default["SSEAlgorithm"] == "aws:kms":
                    model.bucket_keys[resolver.ref(logical)] = default["KMSMasterKeyID"]
        for _, properties in by_type.get("AWS::S3::BucketPolicy", []):
            model.bucket_policies[resolver.resolve(properties["Bucket"])] = resolver.resolve(
                properties["PolicyDocument"]
            )
        for logical, properties in by_type.get("AWS::SNS::Topic", []):
            if "KmsMasterKeyId" in properties:
                model.topic_keys[resolver.ref(logical)] = resolver.resolve(properties["KmsMasterKeyId"])
        for _, properties in by_type.get("AWS::SNS::TopicPolicy", []):
            for topic in resolver.resolve(properties["Topics"]):
                model.topic_policies[topic] = resolver.resolve(properties["PolicyDocument"])
        for logical, properties in by_type.get("AWS::SQS::Queue", []):
            if "KmsMasterKeyId" in properties:
                model.queue_keys[resolver.get_att(logical, "Arn")] = resolver.resolve(properties["KmsMasterKeyId"])
        for _, properties in by_type.get("AWS::SQS::QueuePolicy", []):
            for queue in properties["Queues"]:  # each a Ref, whose value is the queue URL: keyed by ARN instead
                model.queue_policies[resolver.get_att(queue["Ref"], "Arn")] = resolver.resolve(
                    properties["PolicyDocument"]
                )
        for kind in ("AWS::EC2::Subnet", "AWS::EC2::SecurityGroup"):
            for logical, properties in by_type.get(kind, []):
                model.tags[resolver.ref(logical)] = {t["Key"]: t["Value"] for t in properties.get("Tags", [])}
        for logical, properties in by_type.get("AWS::EMR::SecurityConfiguration", []):
            model.security_configurations[resolver.ref(logical)] = resolver.resolve(properties["SecurityConfiguration"])
        model.emr_clusters = [resolver.resolve(p) for _, p in by_type.get("AWS::EMR::Cluster", [])]
        model.event_rules = [resolver.resolve(p) for _, p in by_type.get("AWS::Events::Rule", [])]
        for logical, properties in by_type.get("AWS::Lambda::Function", []):
            model.functions[resolver.get_att(logical, "Arn")] = resolver.resolve(properties)
        model.alarms = [resolver.resolve(p) for _, p in by_type.get("AWS::CloudWatch::Alarm", [])]
        for logical, properties in by_type.get("AWS::Logs::LogGroup", []):
            model.log_groups[resolver.ref(logical)] = resolver.resolve(properties)
        for logical, properties in by_type.get("AWS::Lambda::Permission", []):
            permission = resolver.resolve(properties)
            statement: dict[str, Any] = {
                "Sid": readable(logical),
                "Effect": "Allow",
                "Principal": {"Service": permission["Principal"]},
                "Action": permission["Action"],
                "Resource": permission["FunctionName"],
            }
            if "SourceArn" in permission:
                statement["Condition"] = {"ArnLike": {"AWS:SourceArn": permission["SourceArn"]}}
            policy = model.function_policies.setdefault(
                permission["FunctionName"], {"Version": "2012-10-17", "Statement": []}
            )
            policy["Statement"].append(statement)
        return model

    def resource_policy(self, call: Call) -> dict | None:
        """The resource-based policy that takes part in the call's decision, if the template holds one."""
        arn = call.resource
        if arn.startswith("arn:aws:s3:::"):
            return self.bucket_policies.get(arn[len("arn:aws:s3:::") :].split("/", 1)[0])
        if call.action == "sts:AssumeRole":
            return self.trust[arn]
        for policies in (self.key_policies, self.topic_policies, self.queue_policies, self.function_policies):
            if arn in policies:
                return policies[arn]
        return None

    def resource_account(self, call: Call) -> str:
        """The account that owns the call's resource (S3 ARNs name none: every bucket here is this account's)."""
        if call.resource == "*" or call.resource.startswith("arn:aws:s3:::"):
            return self.account
        return call.resource.split(":")[4] or self.account

    def simulation(self, call: Call) -> dict:
        account = self.resource_account(call)
        if account != self.account:
            if not call.foreign:
                raise ValueError(f"{call}: a resource of account {account}, whose policy nobody here can read")
            account = self.account  # its owner's policy is unknown: only this account's side is evaluated
        is_service = not call.principal.startswith("arn:")
        simulation: dict[str, Any] = {
            "request": {
                "principal": call.principal,
                "action": call.action,
                "resource": {"resource": call.resource, "accountId": account},
                "contextVariables": {k: list(v) if isinstance(v, tuple) else v for k, v in call.context},
            },
            "identityPolicies": [] if is_service else self.identity[role_of(call.principal)],
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
        }
        policy = self.resource_policy(call)
        if policy is not None:
            simulation["resourcePolicy"] = policy
        return simulation


@dataclass(frozen=True)
class Decision:
    call: Call
    result: dict  # iam_simulator.mjs's summary

    @property
    def allowed(self) -> bool:
        return (
            self.result["resultType"] != "error"
            and self.result["overallResult"] == "Allowed"
            and not self.result["ignoredContextKeys"]
        )

    def __str__(self) -> str:
        verdict = self.result["overallResult"] or f"invalid request: {self.result['errors']}"
        ignored = self.result.get("ignoredContextKeys") or []
        if ignored:
            verdict += f" (context keys that do not apply to the action: {ignored})"
        return f"{verdict}: {self.call} -- {self.call.origin}: {self.call.why}"


def evaluate(model: AccessModel, calls: Sequence[Call]) -> list[Decision]:
    """Each call's decision by the policy evaluator (one Node.js process for all of them)."""
    simulations = [model.simulation(call) for call in calls]
    completed = subprocess.run(
        [node_executable(), str(EVALUATOR)],
        input=json.dumps(simulations),
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{EVALUATOR.name} failed ({completed.returncode}): {completed.stderr[-2000:]}")
    results = json.loads(completed.stdout)
    return [Decision(call, result) for call, result in zip(calls, results, strict=True)]


def unique(calls: Iterable[Call]) -> list[Call]:
    """Each distinct request once (the first call's origin and reason kept)."""
    seen: dict[tuple, Call] = {}
    for call in calls:
        seen.setdefault(call.key, call)
    return list(seen.values())
