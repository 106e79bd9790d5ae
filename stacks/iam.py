"""The one way a JobClf role gets a permission: `RolePermissions.allow`, with its wildcards reasoned.

Each construct owns the permissions on what it creates (`storage.grant_…(permissions)`, the EMR
construct its EMR statements, ...) and adds them through the role's `RolePermissions`, which
acknowledges the statement's AwsSolutions-IAM5 wildcard findings with the reason given beside it;
a wildcard without a reason fails the synth. Actions are listed one by one (no `s3:Get*`-style
grants), so the only wildcards are resources that AWS cannot name more narrowly.

Permissions are customer managed policies attached to the role (`AWS::IAM::ManagedPolicy`), not
inline policies (NIST 800-53 rev 5 IAMNoInlinePolicy): IAM keeps their previous versions, so a
change of permissions can be reviewed and rolled back in IAM itself. A managed policy holds at most
6,144 characters, so a role's statements are split by concern into named policies; statements on
`Resource: "*"` go into a separate `UnscopedActions` policy per role, so that their acknowledgment
cannot cover a new `*` added to another policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from stacks import nag

S3_READ = ["s3:GetObject", "s3:GetObjectVersion"]
S3_WRITE = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
S3_DELETE = ["s3:DeleteObject"]
S3_LIST = ["s3:ListBucket", "s3:GetBucketLocation"]
UNSCOPED_POLICY = "UnscopedActions"


def objects(bucket: s3.IBucket, prefix: str = "") -> str:
    """The ARN pattern of the objects under `prefix` (all objects when empty)."""
    return bucket.arn_for_objects(f"{prefix}*")


def service_role(scope: Construct, construct_id: str, service: str, description: str) -> iam.Role:
    """A role only `service`, acting for this account, can assume (confused-deputy guard)."""
    return iam.Role(
        scope,
        construct_id,
        description=description,
        assumed_by=iam.ServicePrincipal(service, conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}),
    )


class RolePermissions:
    """A role's managed policies, created in `scope` as `<role id><policy name>`.

    `allow` adds to the policy `policy`; `concern(name)` is the same role's permissions adding to the
    policy `name` instead, for a role whose statements outgrow one policy.
    """

    def __init__(
        self, scope: Construct, role: iam.Role, *, description_prefix: str, policy: str = "Permissions"
    ) -> None:
        self.role = role
        self._scope = scope
        self._description_prefix = description_prefix
        self._policy_name = policy
        self._policies: dict[str, iam.ManagedPolicy] = {}

    def concern(self, policy: str) -> RolePermissions:
        view = RolePermissions(self._scope, self.role, description_prefix=self._description_prefix, policy=policy)
        view._policies = self._policies
        return view

    def allow(
        self,
        sid: str,
        actions: Sequence[str],
        resources: Sequence[str],
        *,
        conditions: Mapping[str, Any] | None = None,
        wildcard_reason: str | None = None,
    ) -> None:
        """Add an Allow statement; its wildcard findings are acknowledged with `wildcard_reason`."""
        statement = iam.PolicyStatement(
            sid=sid, actions=list(actions), resources=list(resources), conditions=conditions
        )
        managed = self._policy(UNSCOPED_POLICY if "*" in resources else self._policy_name)
        managed.add_statements(statement)
        nag.acknowledge_wildcards(managed, actions, resources, wildcard_reason)

    def allow_assets(self, sid: str, assets: Sequence[s3_assets.Asset]) -> None:
        """Read exactly the given asset objects (by key, no wildcard) and list only their keys."""
        self.allow(
            f"{sid}Read",
            S3_READ,
            [f"arn:{Aws.PARTITION}:s3:::{a.s3_bucket_name}/{a.s3_object_key}" for a in assets],
        )
        self.allow(
            f"{sid}List",
            ["s3:ListBucket"],
            sorted({f"arn:{Aws.PARTITION}:s3:::{a.s3_bucket_name}" for a in assets}),
            conditions={"StringEquals": {"s3:prefix": [a.s3_object_key for a in assets]}},
        )

    @property
    def policies(self) -> list[iam.ManagedPolicy]:
        """Every policy granting the role its permissions: depend on these (not on the role) to wait for them."""
        if not self._policies:
            raise ValueError(f"{self.role.node.path} has no statements yet")
        return list(self._policies.values())

    def _policy(self, name: str) -> iam.ManagedPolicy:
        if name not in self._policies:
            self._policies[name] = iam.ManagedPolicy(
                self._scope,
                f"{self.role.node.id}{name}",
                description=f"{self._description_prefix}: {self.role.node.path.split('/', 1)[-1]} {name}",
                roles=[self.role],
            )
        return self._policies[name]
