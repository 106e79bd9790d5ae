"""The environment's data: a customer-managed KMS key, four data buckets and their access-log bucket."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from config import EnvironmentConfig
from pipeline_steps.definition import EXECUTIONS_PREFIX

# EMR cluster logs (transient and standing clusters) go under this prefix of the processed-data bucket.
EMR_LOG_PREFIX = "emr-logs/"
ABORT_INCOMPLETE_UPLOADS_AFTER = Duration.days(7)


class Storage(Construct):
    """KMS key + raw, processed, models and predictions buckets, with server access logs in a fifth bucket.

    Data buckets: versioned, SSE-KMS with the environment's key (bucket key on), public access
    blocked, TLS required, retained on stack deletion. The access-log bucket uses SSE-S3 because
    S3 server access log delivery cannot write to an SSE-KMS default-encrypted bucket; it has no
    access logs of its own (it is the destination).
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
        return bucket

    def _add_data_bucket(self, construct_id: str, log_prefix: str, *extra_rules: s3.LifecycleRule) -> s3.Bucket:
        storage = self._config.storage
        return s3.Bucket(
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
