"""parliament (an IAM policy linter, BSD-3) over every IAM policy document of the synthesized templates:
both environments and the standing-cluster variant, with parliament's community auditors.

Each finding that remains is listed in ACCEPTED with the reason it stays. A finding that no entry
accepts fails the test, and so does an entry that no longer matches any finding (it would silently
accept a future one). The documents' intrinsics are resolved to plausible values first
(iam_policies.py), since parliament reads strings.

What it cannot prove: parliament checks each document on its own, against its own copy of the IAM
action catalogue (parliament 1.6.4: April 2025); what AWS decides for a request (SCPs, boundaries, the
combination of identity and resource policies) only AWS can say.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path

import parliament
import pytest
from iam_policies import PolicyDocument, policy_documents
from infra_support import Synth

TEMPLATES = [("synth", "develop"), ("synth", "production"), ("variant_synth", "standing")]


@dataclass(frozen=True)
class Accepted:
    resource: str  # glob over iam_policies.PolicyDocument.resource
    kind: str
    issue: str
    actions: tuple[str, ...]  # globs: every action of the finding must match one


KMS_ROOT = "The key policy's default statement: the account (root) gets kms:* so that IAM policies decide who uses and manages the key; without it the key cannot be managed."
ACCEPTED: dict[Accepted, str] = {
    Accepted("*Key", "KeyPolicy", "PERMISSIONS_MANAGEMENT_ACTIONS", ("kms:*",)): KMS_ROOT,
    Accepted("*Key", "KeyPolicy", "RESOURCE_STAR", ("kms:*",)): (
        'In a key policy, Resource "*" is the key itself (a key policy cannot name another resource); '
        "the statements are the root one above and, for AlertsKey, EventBridge's kms:Decrypt/GenerateDataKey* "
        "to publish to the encrypted alerts topic."
    ),
    Accepted("*Role", "AssumeRolePolicyDocument", "CREDENTIALS_EXPOSURE", ("sts:assumerole",)): (
        "A trust policy's one action: it lets the role's AWS service principal (SageMaker, EMR, EC2, "
        "EventBridge Scheduler, Lambda for CDK's default-security-group custom resource) assume the role."
    ),
    Accepted(
        "EmrServiceRolePermissions",
        "PolicyDocument",
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        ("iam:passrole", "kms:creategrant", "kms:revokegrant"),
    ): (
        "EMR passes the cluster's instance role to EC2 (only that role, only to ec2.amazonaws.com), and grants "
        "the data key to the EBS volumes it creates (only the data key, only with kms:GrantIsForAWSResource)."
    ),
    Accepted(
        "PipelineRoleExecutionRoleData",
        "PolicyDocument",
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        ("kms:creategrant", "kms:revokegrant"),
    ): (
        "SageMaker grants the data key to its jobs' encrypted volumes (only the data key, only with "
        "kms:GrantIsForAWSResource)."
    ),
    Accepted(
        "PipelineRoleExecutionRoleJobs",
        "PolicyDocument",
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        ("iam:passrole", "ec2:createnetworkinterfacepermission"),
    ): (
        "The pipeline passes its own role to its SageMaker jobs (only to sagemaker.amazonaws.com), and the "
        "jobs in the VPC attach network interfaces in the stack's subnets and security groups."
    ),
    Accepted(
        "PipelineRoleExecutionRoleEmrStep",
        "PolicyDocument",
        "PERMISSIONS_MANAGEMENT_ACTIONS",
        ("iam:passrole", "iam:createservicelinkedrole"),
    ): (
        "SageMaker's EMR step passes the stack's EMR service and instance roles (only those, only to EMR and "
        "EC2), and an account's first cluster creates EMR's AWSServiceRoleForEMRCleanup (only that role, only "
        "for EMR's service name; transient mode)."
    ),
    Accepted(
        "PipelineRoleExecutionRoleUnscopedActions",
        "PolicyDocument",
        "CREDENTIALS_EXPOSURE",
        ("ecr:getauthorizationtoken",),
    ): ("The ECR login token for pulling the scikit-learn image; the action has no resource-level permissions."),
    Accepted(
        "EndpointModelRoleUnscopedActions", "PolicyDocument", "CREDENTIALS_EXPOSURE", ("ecr:getauthorizationtoken",)
    ): (
        "The endpoint's model pulls the same scikit-learn image: the ECR login token, which has no resource-level "
        "permissions."
    ),
    Accepted(
        "EndpointDeployerRolePermissions", "PolicyDocument", "PERMISSIONS_MANAGEMENT_ACTIONS", ("iam:passrole",)
    ): (
        "The endpoint deployer passes the endpoint's model role (only that role, only to sagemaker.amazonaws.com) "
        "when it creates a model from an approved package."
    ),
}


@dataclass(frozen=True)
class Finding:
    resource: str
    kind: str
    issue: str
    actions: tuple[str, ...]
    detail: str

    def accepted_by(self, entry: Accepted) -> bool:
        return (
            fnmatch.fnmatchcase(self.resource, entry.resource)
            and (self.kind, self.issue) == (entry.kind, entry.issue)
            and all(any(fnmatch.fnmatchcase(a, pattern) for pattern in entry.actions) for a in self.actions)
        )


def finding_actions(finding) -> tuple[str, ...]:
    """The actions a parliament finding names: in its location, or as its detail (RESOURCE_STAR, RESOURCE_MISMATCH)."""
    if isinstance(finding.location, dict) and finding.location.get("actions"):
        actions = finding.location["actions"]
    elif isinstance(finding.detail, list):
        actions = [item["action"] if isinstance(item, dict) else item for item in finding.detail]
    else:
        actions = []
    return tuple(sorted({str(a).lower() for a in actions}))


def lint(document: PolicyDocument) -> list[Finding]:
    policy = parliament.analyze_policy_string(json.dumps(document.document), include_community_auditors=True)
    return [
        Finding(document.resource, document.kind, f.issue, finding_actions(f), str(f.detail)[:300])
        for f in policy.findings
    ]


@pytest.fixture(scope="module")
def findings(request: pytest.FixtureRequest) -> dict[str, list[Finding]]:
    # The community auditors' settings, as parliament's command line loads them with --include-community-auditors.
    parliament.override_config(str(Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml"))
    found = {}
    for fixture, name in TEMPLATES:
        synth: Synth = request.getfixturevalue(fixture)
        documents = list(policy_documents(synth.templates[name], synth.configs[name].region))
        assert len(documents) > 10, f"{name}: too few policy documents found"
        found[name] = [finding for document in documents for finding in lint(document)]
    return found


def test_every_finding_is_accepted_with_a_reason(findings: dict[str, list[Finding]]) -> None:
    new = [
        f"{name}: {f}"
        for name, listed in findings.items()
        for f in listed
        if not any(f.accepted_by(e) for e in ACCEPTED)
    ]
    assert new == [], "parliament findings with no entry in ACCEPTED:\n" + "\n".join(new)


def test_every_accepted_finding_still_occurs(findings: dict[str, list[Finding]]) -> None:
    every = [f for listed in findings.values() for f in listed]
    stale = [entry for entry in ACCEPTED if not any(f.accepted_by(entry) for f in every)]
    assert stale == [], "ACCEPTED entries that match no finding any more (remove them)"
