"""cdk-nag (v3) acknowledgments and checkov skips: every one names its finding and says why it is acceptable.

The app runs two cdk-nag packs at synth: AwsSolutions and NIST 800-53 rev 5 (`NAG_PACKS`).
cdk-nag v3 reads acknowledgments recorded with CDK's `Validations.of(construct).acknowledge()`
on the flagged resource or any of its ancestors. A rule that reports several findings per
resource (IAM4, IAM5) is acknowledged finding by finding, as `RuleId[Finding]`, so a new wildcard
or managed policy is a new, unacknowledged finding and fails the synth.

checkov runs over the synthesized templates (tests/infra/test_infra_checkov.py); `checkov_skip`
writes its per-resource skip (`Metadata.checkov.skip`, with the reason as the comment) onto
the flagged CloudFormation resource, so a skip sits beside the resource it is about.

`acknowledge_wildcards` computes the IAM5 findings of a policy statement the same way cdk-nag
does (its `flattenCfnReference`), so a role builder states the reason once beside the statement
that needs the wildcard, and a wildcard without a reason is an error at synth.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from constructs import IConstruct

AWS_SOLUTIONS = "AwsSolutions"
NIST_800_53_R5 = "NIST.800.53.R5"
# The rule packs the app registers (app.py); a finding of any of them fails the synth.
NAG_PACKS = (AWS_SOLUTIONS, NIST_800_53_R5)
MIN_REASON_LENGTH = 40
CHECKOV_METADATA_KEY = "checkov"


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


def checkov_skip(construct: IConstruct, check_id: str, reason: str) -> None:
    """Skip one checkov check on `construct`'s CloudFormation resource (its default child), with a reason."""
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise NagReasonError(
            f"{construct.node.path}: the checkov skip of {check_id} needs a specific reason "
            f"(at least {MIN_REASON_LENGTH} characters), got {reason!r}"
        )
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path}: no CloudFormation resource to put a checkov skip on")
    metadata = dict(resource.get_metadata(CHECKOV_METADATA_KEY) or {})
    skips = [skip for skip in metadata.get("skip", []) if skip["id"] != check_id]
    metadata["skip"] = [*skips, {"id": check_id, "comment": reason}]
    resource.add_metadata(CHECKOV_METADATA_KEY, metadata)


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
