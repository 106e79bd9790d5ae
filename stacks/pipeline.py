"""The SageMaker pipeline: step code as CDK assets, the definition built by the SageMaker SDK, the pipeline resource.

The definition is built at synth time by `workflow.definition.build_definition`, which runs
the real SageMaker SDK offline. The SDK must never see a CDK token (`${Token[...]}` breaks its URL
parsing), so every token goes in as a unique placeholder (`TokenPlaceholders.sub`) and comes back
out of the JSON as an `Fn::Join` of the text around the placeholders and the tokens themselves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Fn, Stack, Token
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from config import EnvironmentConfig
from stacks.emr import Emr
from stacks.network import Network
from stacks.roles import Roles
from stacks.storage import Storage
from workflow.definition import (
    Buckets,
    JobSpec,
    ModelDefaults,
    PipelineSpec,
    StepCode,
    build_definition,
    build_step_bundles,
    declared_parameters,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Beside cdk.out, git-ignored: the deterministic step bundles that become file assets.
STEP_BUNDLE_DIR = PROJECT_ROOT / "build" / "step-bundles"
PLACEHOLDER_PREFIX = "jobclf-token"
# Shapes for values the SDK inspects: it expands a role "name" without "/" through IAM (a network call).
ROLE_ARN_SHAPE = "arn:aws:iam::000000000000:role/{}"


class PlaceholderError(ValueError):
    """A token reached the SDK, or a placeholder came back altered."""


@dataclass(frozen=True)
class _Placeholder:
    literal: str  # what the SDK sees, e.g. "jobclf-token-0003" or "arn:aws:iam::000000000000:role/jobclf-token-0001"
    token: str  # the CDK token string it stands for
    fake: str  # a readable stand-in for tests and snapshots, e.g. "raw-bucket"
    identity: str  # the token's resolved CloudFormation value, as canonical JSON


class TokenPlaceholders:
    """Swap CDK tokens for unique, lowercase, bucket-name-safe placeholders and back.

    `sub(token, label=...)` returns a placeholder (a plain string passes through unchanged);
    `restore(text)` splits text on the placeholders and returns an `Fn::Join` that puts the tokens
    back; `fake(text)` replaces the placeholders with their readable labels instead. Two token
    strings that resolve to the same CloudFormation value (e.g. the asset bucket of every asset)
    share one placeholder when `resolve` (e.g. `Stack.of(scope).resolve`) is given.
    """

    def __init__(self, prefix: str = PLACEHOLDER_PREFIX, *, resolve: Callable[[str], Any] | None = None) -> None:
        self._prefix = prefix
        self._resolve = resolve or (lambda value: value)
        self._entries: list[_Placeholder] = []

    @property
    def entries(self) -> tuple[_Placeholder, ...]:
        return tuple(self._entries)

    def sub(self, value: str, *, label: str, shape: str = "{}") -> str:
        if not Token.is_unresolved(value):
            return value
        fake = shape.format(label)
        identity = json.dumps(self._resolve(value), sort_keys=True)
        for entry in self._entries:
            if entry.identity == identity and entry.fake == fake:
                return entry.literal
            if entry.fake == fake:
                raise PlaceholderError(f"label {label!r} already stands for another token")
        literal = shape.format(f"{self._prefix}-{len(self._entries) + 1:04d}")
        self._entries.append(_Placeholder(literal=literal, token=value, fake=fake, identity=identity))
        return literal

    def _pattern(self) -> re.Pattern[str]:
        literals = sorted((e.literal for e in self._entries), key=len, reverse=True)
        return re.compile("|".join(re.escape(literal) for literal in literals))

    def _check(self, text: str) -> None:
        if "${Token[" in text:
            raise PlaceholderError("a CDK token reached the SageMaker SDK; pass it through TokenPlaceholders.sub")

    def restore(self, text: str) -> str:
        """`text` with every placeholder replaced by its token (an Fn::Join when there is any)."""
        self._check(text)
        if not self._entries:
            self._check_leftovers(text)
            return text
        by_literal = {e.literal: e.token for e in self._entries}
        parts: list[str] = []
        position = 0
        for match in self._pattern().finditer(text):
            parts.append(text[position : match.start()])
            parts.append(by_literal[match.group(0)])
            position = match.end()
        parts.append(text[position:])
        for part in parts[::2]:
            self._check_leftovers(part)
        return Fn.join("", [part for part in parts if part])

    def fake(self, text: str) -> str:
        """`text` with every placeholder replaced by its readable label (no tokens: plain JSON for tests)."""
        self._check(text)
        if not self._entries:
            return text
        by_literal = {e.literal: e.fake for e in self._entries}
        faked = self._pattern().sub(lambda m: by_literal[m.group(0)], text)
        self._check_leftovers(faked)
        return faked

    def _check_leftovers(self, text: str) -> None:
        if f"{self._prefix}-" in text:
            found = re.search(rf"{re.escape(self._prefix)}-[0-9a-z-]*", text)
            raise PlaceholderError(
                f"placeholder text {found.group(0) if found else self._prefix!r} survived in the definition: "
                "the SDK altered a placeholder, so its token cannot be restored"
            )


class StepCodeAssets(Construct):
    """The step code as four file assets (bytes are deterministic, so asset hashes are stable)."""

    def __init__(self, scope: Construct, construct_id: str, *, bundle_dir: Path = STEP_BUNDLE_DIR) -> None:
        super().__init__(scope, construct_id)
        bundles = build_step_bundles(bundle_dir)
        self.steps_archive = s3_assets.Asset(self, "StepsArchive", path=str(bundles.steps_archive))
        self.etl_script = s3_assets.Asset(self, "EtlScript", path=str(bundles.etl_script))
        self.training_source = s3_assets.Asset(self, "TrainingSource", path=str(bundles.training_source))
        self.emr_bootstrap = s3_assets.Asset(self, "EmrBootstrap", path=str(bundles.emr_bootstrap))

    @property
    def all(self) -> list[s3_assets.Asset]:
        return [self.steps_archive, self.etl_script, self.training_source, self.emr_bootstrap]

    @property
    def emr(self) -> list[s3_assets.Asset]:
        """What EMR nodes read: the bootstrap script, the ETL script and the steps archive (--py-files)."""
        return [self.emr_bootstrap, self.etl_script, self.steps_archive]

    def step_code(self, placeholders: TokenPlaceholders) -> StepCode:
        def uri(asset: s3_assets.Asset) -> str:
            # The key is a plain "<hash>.<ext>" string: the SDK sees the real file name.
            return f"s3://{placeholders.sub(asset.s3_bucket_name, label='assets-bucket')}/{asset.s3_object_key}"

        return StepCode(
            steps_archive_uri=uri(self.steps_archive),
            etl_script_uri=uri(self.etl_script),
            training_source_uri=uri(self.training_source),
            emr_bootstrap_uri=uri(self.emr_bootstrap),
        )


class SageMakerPipeline(Construct):
    """`AWS::SageMaker::Pipeline` named `<project>-<environment>`, its definition built from config and constructs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        storage: Storage,
        network: Network,
        roles: Roles,
        emr: Emr,
        model_package_group_name: str,
        code: StepCodeAssets,
    ) -> None:
        super().__init__(scope, construct_id)
        self.placeholders = TokenPlaceholders(resolve=Stack.of(self).resolve)
        self.spec = self._spec(config, storage, network, roles, emr, model_package_group_name, code)
        # With placeholders, not tokens: plain JSON that tests and the schedule check can read.
        self.definition_json = build_definition(self.spec)
        self.parameters = declared_parameters(self.definition_json)
        self.name = self.spec.pipeline_name
        self.pipeline = sagemaker.CfnPipeline(
            self,
            "Pipeline",
            pipeline_name=self.name,
            pipeline_display_name=self.name,
            pipeline_description=(
                f"JobClf {config.name}: EMR ETL, then train (quality-gated registration) or batch-predict by use_type"
            ),
            role_arn=roles.pipeline_role.role_arn,
            pipeline_definition={"PipelineDefinitionBody": self.placeholders.restore(self.definition_json)},
        )
        # Executions need the role's policies; create the pipeline after them.
        self.pipeline.node.add_dependency(*roles.policies_of(roles.pipeline_role))
        self.arn = roles.pipeline_arn

    def fake_definition(self) -> dict:
        """The definition with readable fake values in place of the tokens (for tests and snapshots)."""
        return json.loads(self.placeholders.fake(self.definition_json))

    def _spec(
        self,
        config: EnvironmentConfig,
        storage: Storage,
        network: Network,
        roles: Roles,
        emr: Emr,
        model_package_group_name: str,
        code: StepCodeAssets,
    ) -> PipelineSpec:
        sub = self.placeholders.sub
        buckets = Buckets(
            raw=sub(storage.raw.bucket_name, label="raw-bucket"),
            processed=sub(storage.processed.bucket_name, label="processed-bucket"),
            models=sub(storage.models.bucket_name, label="models-bucket"),
            predictions=sub(storage.predictions.bucket_name, label="predictions-bucket"),
        )
        sm = config.sagemaker
        return PipelineSpec(
            pipeline_name=config.resource_prefix,
            region=config.region,
            role_arn=sub(roles.pipeline_role.role_arn, label="pipeline-execution-role", shape=ROLE_ARN_SHAPE),
            buckets=buckets,
            code=code.step_code(self.placeholders),
            emr=emr.emr_spec(self.placeholders, processed_bucket=buckets.processed),
            jobs=JobSpec(
                processing_instance_type=sm.processing_instance_type,
                training_instance_type=sm.training_instance_type,
                volume_size_gb=sm.volume_size_gb,
                max_runtime_seconds=sm.max_runtime_minutes * 60,
                subnet_ids=tuple(
                    sub(subnet_id, label=f"subnet-private{i}") for i, subnet_id in enumerate(network.private_subnet_ids)
                ),
                security_group_ids=(sub(network.sagemaker_security_group.security_group_id, label="sg-sagemakerjobs"),),
                kms_key_id=sub(
                    storage.key.key_arn, label="data-key", shape=f"arn:aws:kms:{config.region}:000000000000:key/{{}}"
                ),
            ),
            model_package_group_name=model_package_group_name,
            sklearn_framework_version=sm.sklearn_framework_version,
            model=ModelDefaults(approval_status=config.model.approval_status, min_macro_f1=config.model.min_macro_f1),
        )
