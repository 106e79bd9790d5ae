"""cdk-nag (v3) acknowledgments: every one names its finding and says why it is acceptable.

cdk-nag v3 reads acknowledgments recorded with CDK's `Validations.of(construct).acknowledge()`
on the flagged resource or any of its ancestors. A rule that reports several findings per
resource (IAM4, IAM5) is acknowledged finding by finding, as `RuleId[Finding]`, so a new wildcard
or managed policy is a new, unacknowledged finding and fails the synth.

`acknowledge_wildcards` computes the IAM5 findings of a policy statement the same way cdk-nag
does (its `flattenCfnReference`), so a role builder states the reason once beside the statement
that needs the wildcard, and a wildcard without a reason is an error at synth.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct

AWS_SOLUTIONS = "AwsSolutions"
MIN_REASON_LENGTH = 40


class NagReasonError(ValueError):
    """An acknowledgment without a specific reason."""


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on `construct` (and its children) with a specific reason."""
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise NagReasonError(
            f"{construct.node.path}: the acknowledgment of {rule_id} needs a specific reason "
            f"(at least {MIN_REASON_LENGTH} characters), got {reason!r}"
        )
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def flatten_cfn_reference(value: Any) -> str:
    """A resolved CloudFormation value as a flat string, exactly as cdk-nag flattens it for finding IDs."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return delimiter.join(flatten_cfn_reference(item) for item in items)
        if "Fn::Sub" in value:
            return flatten_cfn_reference(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{flatten_cfn_reference(resource)}.{flatten_cfn_reference(attribute)}>"
        if "Fn::ImportValue" in value:
            return flatten_cfn_reference(value["Fn::ImportValue"])
        if "Ref" in value:
            return f"<{flatten_cfn_reference(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"))


def wildcard_findings(scope: IConstruct, actions: Iterable[str], resources: Iterable[str]) -> list[str]:
    """The AwsSolutions-IAM5 finding IDs that an Allow statement with these actions and resources raises."""
    stack = Stack.of(scope)
    findings = [f"{AWS_SOLUTIONS}-IAM5[Action::{action}]" for action in actions if "*" in action]
    for resource in resources:
        flat = flatten_cfn_reference(stack.resolve(resource))
        if "*" in flat:
            findings.append(f"{AWS_SOLUTIONS}-IAM5[Resource::{flat}]")
    return list(dict.fromkeys(findings))


def acknowledge_wildcards(
    principal: IConstruct, actions: Sequence[str], resources: Sequence[str], reason: str | None
) -> list[str]:
    """Acknowledge the wildcard findings of one statement on `principal`; a wildcard needs a reason."""
    findings = wildcard_findings(principal, actions, resources)
    if findings and reason is None:
        raise NagReasonError(
            f"{principal.node.path}: {', '.join(findings)} — a wildcard needs a reason saying why nothing narrower works"
        )
    for finding in findings:
        acknowledge(principal, finding, reason or "")
    return findings


def managed_policy_finding(scope: IConstruct, policy_arn: str) -> str:
    """The AwsSolutions-IAM4 finding ID of an AWS managed policy attached to a role."""
    return f"{AWS_SOLUTIONS}-IAM4[Policy::{flatten_cfn_reference(Stack.of(scope).resolve(policy_arn))}]"
