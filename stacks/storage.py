"""The environment's data: a customer-managed KMS key, four data buckets and their access-log bucket."""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from config import StorageConfig
from pipeline_steps.contract import (
    EMR_LOG_PREFIX,
    EVALUATIONS_PREFIX,
    EXECUTIONS_PREFIX,
    MODEL_ARTIFACTS_PREFIX,
    PREDICTIONS_PREFIX,
)
from stacks import nag
from stacks.iam import S3_DELETE, S3_LIST, S3_READ, S3_WRITE, RolePermissions, objects

KMS_DATA = [
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:DescribeKey",
]
KMS_GRANTS = ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"]

ABORT_INCOMPLETE_UPLOADS_AFTER = Duration.days(7)
# Kept when the stack is deleted or the resource replaced; deleted when its first create fails, which
# holds no data yet (a plain RETAIN would leave an orphan key or bucket behind every failed deploy).
RETAINED = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE

_NOT_REPLICATED = (
    " Cross-region replication would need a second bucket, KMS key and replication role in another region and "
    "double the storage; versioning (noncurrent versions kept for the configured days) and the retain deletion "
    "policy protect against deletion and overwrites."
)
# Why each bucket is not replicated (NIST 800-53 rev 5 S3BucketReplicationEnabled), by construct id.
REPLICATION_REASONS = {
    "Raw": "The raw bucket holds the public O*NET release (re-fetchable, checksum-pinned by scripts/fetch_onet.py) "
    "and the titles to classify, which their senders keep." + _NOT_REPLICATED,
    "Processed": "The processed bucket holds per-execution intermediates that expire after "
    "storage.intermediate_expiry_days and that any execution recomputes from the raw data." + _NOT_REPLICATED,
    "Models": "The models bucket holds model archives and evaluations, a few MB each, reproducible by a train "
    "execution with the recorded parameters and seed." + _NOT_REPLICATED,
    "Predictions": "The predictions bucket holds batch predictions recomputable from the inputs and the registered "
    "model; a predict execution for the same date rewrites its partition." + _NOT_REPLICATED,
    "AccessLogs": "The access-log bucket holds S3 server access logs, an audit aid that expires after "
    "storage.access_log_expiry_days." + _NOT_REPLICATED,
}


class Storage(Construct):
    """KMS key + raw, processed, models and predictions buckets, with server access logs in a fifth bucket.

    Data buckets: versioned, SSE-KMS with the environment's key (bucket key on), public access
    blocked, TLS required, retained on stack deletion. The access-log bucket uses SSE-S3 because
    S3 server access log delivery cannot write to an SSE-KMS default-encrypted bucket; it has no
    access logs of its own (it is the destination).

    No bucket is replicated to another region (NIST 800-53 rev 5 S3BucketReplicationEnabled is
    acknowledged per bucket with what protects it instead): replication needs a second bucket,
    key and role in another region, and doubles storage, for data that is either public and
    re-fetchable (O*NET), derived and re-computable (processed, predictions) or small and
    versioned (models). Versioning and retention on stack deletion protect every bucket.
    """

    def __init__(self, scope: Construct, construct_id: str, *, name_prefix: str, settings: StorageConfig) -> None:
        super().__init__(scope, construct_id)
        self._settings = settings
        self.key = kms.Key(
            self,
            "Key",
            description=f"{name_prefix}: encrypts the JobClf buckets, EMR disks and SageMaker job volumes",
            alias=f"alias/{name_prefix}",
            enable_key_rotation=True,
            removal_policy=RETAINED,
        )
        self.access_logs = self._add_access_log_bucket()
        self.raw = self._add_data_bucket("Raw", "raw")
        self.processed = self._add_data_bucket(
            "Processed",
            "processed",
            s3.LifecycleRule(
                id="expire-execution-intermediates",
                prefix=EXECUTIONS_PREFIX,
                expiration=Duration.days(settings.intermediate_expiry_days),
            ),
            s3.LifecycleRule(
                id="expire-emr-logs",
                prefix=EMR_LOG_PREFIX,
                expiration=Duration.days(settings.intermediate_expiry_days),
            ),
        )
        self.models = self._add_data_bucket("Models", "models")
        self.predictions = self._add_data_bucket("Predictions", "predictions")

    @property
    def data_buckets(self) -> dict[str, s3.Bucket]:
        return {"raw": self.raw, "processed": self.processed, "models": self.models, "predictions": self.predictions}

    # -- permissions on the buckets and the key ---------------------------------------------------

    def grant_read_inputs(self, to: RolePermissions) -> None:
        to.allow(
            "ReadRawData",
            S3_READ,
            [objects(self.raw)],
            wildcard_reason=(
                "The pipeline's inputs in the raw bucket (the O*NET tables, the titles to classify) are named by "
                "the pipeline parameters onet_input_uri and input_titles_uri, so object keys are only known at "
                "execution time."
            ),
        )

    def grant_execution_data(self, to: RolePermissions, *, delete: bool = False) -> None:
        """Read and write under executions/ of the processed bucket; `delete` for Spark's output committer."""
        to.allow(
            "ReadWriteExecutionData",
            [*S3_READ, *S3_WRITE, *(S3_DELETE if delete else [])],
            [objects(self.processed, EXECUTIONS_PREFIX)],
            wildcard_reason=(
                "Intermediate data lives under executions/<pipeline execution id>/ of the processed bucket; the "
                "execution id is generated per run, so keys are scoped by that prefix only."
                + (" Delete is needed by Spark's output committer for its _temporary files." if delete else "")
            ),
        )

    def grant_write_emr_logs(self, to: RolePermissions) -> None:
        to.allow(
            "WriteClusterLogs",
            S3_WRITE,
            [objects(self.processed, EMR_LOG_PREFIX)],
            wildcard_reason=(
                "EMR uploads cluster logs under emr-logs/<cluster id>/ of the processed bucket; cluster ids are "
                "generated when a cluster starts, so the keys are scoped by that prefix only."
            ),
        )

    def grant_models(self, to: RolePermissions) -> None:
        """Write model archives and evaluations; read any registered model's artifacts."""
        to.allow(
            "WriteModelArtifacts",
            S3_WRITE,
            [objects(self.models, MODEL_ARTIFACTS_PREFIX), objects(self.models, EVALUATIONS_PREFIX)],
            wildcard_reason=(
                "Training jobs write model.tar.gz under training/<job name>/ and the evaluation step writes "
                "evaluations/<pipeline execution id>/ of the models bucket; both names are generated per "
                "execution, so keys are scoped by those prefixes only."
            ),
        )
        to.allow(
            "ReadModelArtifacts",
            S3_READ,
            [objects(self.models)],
            wildcard_reason=(
                "Evaluation and batch prediction load the artifacts of registered model versions from the models "
                "bucket; which version is latest approved is only known at execution time."
            ),
        )

    def grant_read_model_archives(self, to: RolePermissions) -> None:
        """Read the model archives training jobs write (training/<job>/output/model.tar.gz), and decrypt them."""
        to.allow(
            "ReadModelArchives",
            S3_READ,
            [objects(self.models, MODEL_ARTIFACTS_PREFIX)],
            wildcard_reason=(
                "A registered model's archive lies under training/<training job name>/ of the models bucket; the job "
                "names are generated per execution, so the keys are scoped by that prefix only."
            ),
        )
        to.allow("DecryptModelArchives", ["kms:Decrypt"], [self.key.key_arn])

    def encrypt_log_groups(self, *log_group_names: str) -> None:
        """Let CloudWatch Logs use the data key for exactly these log groups (CloudWatch Logs User Guide,
        "Encrypt log data in CloudWatch Logs using AWS KMS": the key policy names the service principal of the
        region, and the kms:EncryptionContext:aws:logs:arn condition limits it to the groups' ARNs)."""
        stack = Stack.of(self)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsEncryptsTheseLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                # The guide's statement also lists kms:Describe*, which its condition never lets through: DescribeKey
                # carries no encryption context.
                actions=[
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:GenerateDataKey",
                    "kms:GenerateDataKeyWithoutPlaintext",
                ],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={
                    # An encryption context value is a string (the IAM catalogue types the key String): exact match.
                    "StringEquals": {
                        "kms:EncryptionContext:aws:logs:arn": [
                            stack.format_arn(
                                service="logs",
                                resource="log-group",
                                resource_name=name,
                                arn_format=ArnFormat.COLON_RESOURCE_NAME,
                            )
                            for name in log_group_names
                        ]
                    }
                },
            )
        )

    def grant_write_predictions(self, to: RolePermissions) -> None:
        to.allow(
            "WritePredictions",
            S3_WRITE,
            [objects(self.predictions, PREDICTIONS_PREFIX)],
            wildcard_reason=(
                "Batch prediction writes predictions/ partitioned by execution date in the predictions bucket; the "
                "date partitions are created at execution time."
            ),
        )

    def grant_list(self, to: RolePermissions, buckets: list[s3.IBucket]) -> None:
        to.allow("ListDataBuckets", S3_LIST, [bucket.bucket_arn for bucket in buckets])

    def grant_key(self, to: RolePermissions, *, for_aws_resources: bool) -> None:
        """Use the data key; `for_aws_resources`: also attach it to the EBS volumes SageMaker or EMR create (grants)."""
        to.allow("UseDataKey", KMS_DATA, [self.key.key_arn])
        if for_aws_resources:
            to.allow(
                "GrantDataKeyToAwsResources",
                KMS_GRANTS,
                [self.key.key_arn],
                conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )

    def _add_access_log_bucket(self) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "AccessLogsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            versioned=True,
            removal_policy=RETAINED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(self._settings.access_log_expiry_days),
                    noncurrent_version_expiration=Duration.days(self._settings.noncurrent_version_expiry_days),
                    abort_incomplete_multipart_upload_after=ABORT_INCOMPLETE_UPLOADS_AFTER,
                )
            ],
        )
        nag.acknowledge(
            bucket,
            f"{nag.NIST_800_53_R5}-S3DefaultEncryptionKMS",
            "S3 server access log delivery can only write to a destination bucket encrypted with SSE-S3 (AES256), "
            "not SSE-KMS; this bucket holds only the access logs of the four data buckets (and VPC flow logs), which "
            "are SSE-KMS encrypted with the environment's key.",
        )
        nag.checkov_skip(
            bucket,
            "CKV_AWS_18",
            "This is the access-log bucket, the destination of the data buckets' S3 server access logs; logging its "
            "own access into itself would log every log delivery, in a loop.",
        )
        self._acknowledge_no_replication(bucket, "AccessLogs")
        return bucket

    @staticmethod
    def _acknowledge_no_replication(bucket: s3.Bucket, name: str) -> None:
        nag.acknowledge(bucket, f"{nag.NIST_800_53_R5}-S3BucketReplicationEnabled", REPLICATION_REASONS[name])

    def _add_data_bucket(self, construct_id: str, log_prefix: str, *extra_rules: s3.LifecycleRule) -> s3.Bucket:
        storage = self._settings
        bucket = s3.Bucket(
            self,
            f"{construct_id}Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{log_prefix}/",
            removal_policy=RETAINED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=Duration.days(storage.noncurrent_version_expiry_days),
                    abort_incomplete_multipart_upload_after=ABORT_INCOMPLETE_UPLOADS_AFTER,
                ),
                *extra_rules,
            ],
        )
        self._acknowledge_no_replication(bucket, construct_id)
        return bucket
