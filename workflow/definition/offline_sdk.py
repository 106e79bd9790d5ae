"""The `sagemaker` SDK's sessions, made to build definitions offline.

The SDK is given a session that cannot reach AWS: explicit region and dummy credentials, a
default bucket that is already known (so `default_bucket()` makes no call), telemetry opted out
through an in-memory SDK config (which also skips the SDK's config-file lookups), and code that is
already in S3 (so nothing is uploaded). The package's `__init__` prepares the environment before
any of its modules imports the SDK.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import boto3
from sagemaker import image_uris
from sagemaker.workflow.pipeline_context import PipelineSession

# Telemetry opt-out as an in-memory SDK config. Telemetry would call STS and S3. The SDK
# re-validates a non-empty config against its JSON schema on every one of its ~100 lookups
# (0.16 s each), so the session's config stays empty and this one is applied only around the
# one telemetry-emitting call we make, `estimator.fit`.
_TELEMETRY_OPT_OUT = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}


def _offline_boto_session(region: str) -> boto3.Session:
    # Explicit dummy credentials: botocore never walks its credential chain (which ends at the
    # instance metadata endpoint, a network call) and no client it creates can sign a real request.
    return boto3.Session(region_name=region, aws_access_key_id="offline-synth", aws_secret_access_key="offline-synth")


@contextlib.contextmanager
def offline_default_boto_session(region: str) -> Iterator[None]:
    """Make boto3's module-level default session offline while the SDK builds steps.

    The estimator constructor creates a TensorBoard helper with `boto3.client(...)`, which ignores
    the session it was given; with no AWS credentials that probes the instance metadata endpoint.
    """
    previous = boto3.DEFAULT_SESSION
    boto3.DEFAULT_SESSION = _offline_boto_session(region)
    try:
        yield
    finally:
        boto3.DEFAULT_SESSION = previous


def offline_session(region: str, default_bucket: str) -> PipelineSession:
    session = PipelineSession(
        boto_session=_offline_boto_session(region),
        default_bucket=default_bucket,
        sagemaker_config=_TELEMETRY_OPT_OUT,  # given, so the SDK reads no config file from disk or S3
    )
    session.sagemaker_config = {}
    return session


@contextlib.contextmanager
def telemetry_opted_out(session: PipelineSession) -> Iterator[None]:
    session.sagemaker_config = _TELEMETRY_OPT_OUT
    try:
        yield
    finally:
        session.sagemaker_config = {}


def sklearn_image_uri(region: str, framework_version: str, instance_type: str) -> str:
    """The SageMaker scikit-learn image's URI, from the SDK's bundled image table (offline, no AWS call)."""
    return image_uris.retrieve(
        "sklearn", region=region, version=framework_version, py_version="py3", instance_type=instance_type
    )
