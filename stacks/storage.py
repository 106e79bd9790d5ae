"""The environment's data: a customer-managed KMS key, four data buckets and their access-log bucket."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from config import EnvironmentConfig
from pipeline_steps.contract import EMR_LOG_PREFIX, EXECUTIONS_PREFIX
from stacks import nag

ABORT_INCOMPLETE_UPLOADS_AFTER = Duration.days(7)

_NOT_REPLICATED = (
    " Cross-region replication would need a second bucket, KMS key and replication role in another region and "
    "double the storage; versioning (noncurrent versions kept for the configured days) and the RETAIN deletion "
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
    versioned (models). Versioning and `RETAIN` protect every bucket against deletion.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self.key = kms.Key(
            self,
            "Key",
            description=f"{config.resource_prefix}: encrypts the JobClf buckets, EMR disks and SageMaker job volumes",
            alias=f"alias/{config.resource_prefix}",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.access_logs = self._add_access_log_bucket()
        self.raw = self._add_data_bucket("Raw", "raw")
        self.processed = self._add_data_bucket(
            "Processed",
            "processed",
            s3.LifecycleRule(
                id="expire-execution-intermediates",
                prefix=EXECUTIONS_PREFIX,
                expiration=Duration.days(config.storage.intermediate_expiry_days),
            ),
            s3.LifecycleRule(
                id="expire-emr-logs",
                prefix=EMR_LOG_PREFIX,
                expiration=Duration.days(config.storage.intermediate_expiry_days),
            ),
        )
        self.models = self._add_data_bucket("Models", "models")
        self.predictions = self._add_data_bucket("Predictions", "predictions")

    @property
    def data_buckets(self) -> dict[str, s3.Bucket]:
        return {"raw": self.raw, "processed": self.processed, "models": self.models, "predictions": self.predictions}

    def _add_access_log_bucket(self) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "AccessLogsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            versioned=True,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(self._config.storage.access_log_expiry_days),
                    noncurrent_version_expiration=Duration.days(self._config.storage.noncurrent_version_expiry_days),
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
        storage = self._config.storage
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
            removal_policy=RemovalPolicy.RETAIN,
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
