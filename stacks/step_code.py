"""The step code as CDK file assets: what SageMaker jobs and EMR download from the CDK asset bucket."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from stacks.iam import RolePermissions
from workflow.definition import StepCode, build_step_bundles

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Beside cdk.out, git-ignored: the deterministic step bundles that become file assets.
STEP_BUNDLE_DIR = PROJECT_ROOT / "build" / "step-bundles"


class StepCodeAssets(Construct):
    """The step code as four file assets (bytes are deterministic, so asset hashes are stable)."""

    def __init__(self, scope: Construct, construct_id: str, *, bundle_dir: Path = STEP_BUNDLE_DIR) -> None:
        super().__init__(scope, construct_id)
        bundles = build_step_bundles(bundle_dir)
        self.steps_archive = s3_assets.Asset(self, "StepsArchive", path=str(bundles.steps_archive))
        self.etl_script = s3_assets.Asset(self, "EtlScript", path=str(bundles.etl_script))
        self.training_source = s3_assets.Asset(self, "TrainingSource", path=str(bundles.training_source))
        self.etl_dependencies = s3_assets.Asset(self, "EtlDependencies", path=str(bundles.etl_dependencies))

    @property
    def all(self) -> list[s3_assets.Asset]:
        return [self.steps_archive, self.etl_script, self.training_source, self.etl_dependencies]

    @property
    def emr(self) -> list[s3_assets.Asset]:
        """What EMR nodes read: the ETL script, and the steps archive and the ETL's dependencies (--py-files)."""
        return [self.etl_script, self.steps_archive, self.etl_dependencies]

    def grant_read(self, to: RolePermissions) -> None:
        """Every asset: the pipeline role's jobs read the code and hand EMR the rest."""
        to.allow_assets("StepCode", self.all)

    def grant_read_etl(self, to: RolePermissions) -> None:
        to.allow_assets("EtlCode", self.emr)

    def step_code(self, sub) -> StepCode:
        """The assets' S3 URIs, the bucket token swapped by `sub` (TokenPlaceholders.sub)."""

        def uri(asset: s3_assets.Asset) -> str:
            # The key is a plain "<hash>.<ext>" string: the SDK sees the real file name.
            return f"s3://{sub(asset.s3_bucket_name, label='assets-bucket')}/{asset.s3_object_key}"

        return StepCode(
            steps_archive_uri=uri(self.steps_archive),
            etl_script_uri=uri(self.etl_script),
            training_source_uri=uri(self.training_source),
            etl_dependencies_uri=uri(self.etl_dependencies),
        )
