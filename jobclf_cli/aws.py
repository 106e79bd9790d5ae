"""One deployed environment as the CLI sees it: its clients, its resource names, and AWS errors in one line.

Names come from the outputs of the environment's stack (`JobClf-<env>`, keys as in
stacks/jobclf_stack.py `_add_outputs`). When the stack cannot be read (not deployed in the
region, or no `cloudformation:DescribeStacks` permission) the names the configuration derives
are used: the pipeline, the model package group and the endpoint are all named `jobclf-<env>`.
Boto3 honours AWS_ENDPOINT_URL, AWS_PROFILE and the other standard variables.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from config import EnvironmentConfig, load_environment

# Output keys of JobClfStack (stacks/jobclf_stack.py); tests/cli checks that the stack still declares them.
OUTPUT_PIPELINE_NAME = "PipelineName"
OUTPUT_MODEL_PACKAGE_GROUP_NAME = "ModelPackageGroupName"
OUTPUT_MODELS_BUCKET_NAME = "ModelsBucketName"
OUTPUT_ENDPOINT_NAME = "EndpointName"
OUTPUT_PREDICTIONS_BUCKET_NAME = "PredictionsBucketName"
STACK_OUTPUT_KEYS = (
    OUTPUT_PIPELINE_NAME,
    OUTPUT_MODEL_PACKAGE_GROUP_NAME,
    OUTPUT_MODELS_BUCKET_NAME,
    OUTPUT_ENDPOINT_NAME,
    OUTPUT_PREDICTIONS_BUCKET_NAME,
)

THROTTLING_CODES = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "ProvisionedThroughputExceededException",
}
ACCESS_DENIED_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
}
EXPIRED_CODES = {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}


class CliError(Exception):
    """Something the user can act on; the message is shown as one line."""


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def explain(error: BaseException) -> str | None:
    """One line saying what went wrong with an AWS call and what to do; None for errors that are not AWS's."""
    from botocore import exceptions as bx

    if isinstance(error, bx.NoCredentialsError | bx.PartialCredentialsError):
        return (
            "no AWS credentials found: set AWS_PROFILE (e.g. after `aws sso login`) "
            "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(error, bx.TokenRetrievalError | bx.SSOTokenLoadError | bx.UnauthorizedSSOTokenError):
        return f"AWS SSO credentials are not usable ({one_line(error)}): run `aws sso login`"
    if isinstance(error, bx.EndpointConnectionError | bx.ConnectTimeoutError | bx.ReadTimeoutError):
        return f"cannot reach AWS: {one_line(error)} (check the network, or AWS_ENDPOINT_URL if you set it)"
    if isinstance(error, bx.ClientError):
        info = error.response.get("Error", {})
        code = info.get("Code", "Unknown")
        message = one_line(info.get("Message", "") or "")
        operation = getattr(error, "operation_name", "the AWS call")
        if code in THROTTLING_CODES:
            return f"AWS throttled {operation} ({code}) even after retries: wait a minute and run the command again"
        if code in ACCESS_DENIED_CODES:
            return f"access denied to {operation} ({code}): the credentials in use lack permission. {message}".strip()
        if code in EXPIRED_CODES:
            return f"the AWS credentials have expired ({code}): refresh them (e.g. `aws sso login`)"
        return f"{operation} failed: {code}: {message}"
    if isinstance(error, bx.BotoCoreError):
        return f"AWS client error: {one_line(error)}"
    return None


def error_code(error: BaseException) -> str | None:
    from botocore.exceptions import ClientError

    return error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None


class Deployment:
    """The AWS side of one environment: boto3 clients in its region and its resource names."""

    def __init__(self, env: str, config: EnvironmentConfig | None = None):
        self.config = config or load_environment(env)
        self._clients: dict[str, Any] = {}

    @property
    def region(self) -> str:
        return self.config.region

    def client(self, service: str):
        if service not in self._clients:
            import boto3

            self._clients[service] = boto3.session.Session().client(service, region_name=self.region)
        return self._clients[service]

    @property
    def sagemaker(self):
        return self.client("sagemaker")

    @property
    def s3(self):
        return self.client("s3")

    @cached_property
    def outputs(self) -> dict[str, str]:
        """The stack's outputs; empty (and `names_from` says why) when the stack cannot be read."""
        from botocore.exceptions import ClientError

        stack = self.config.stack_name
        try:
            stacks = self.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
        except ClientError as error:
            code, message = error_code(error), error.response.get("Error", {}).get("Message", "")
            if code in {"ValidationError", "ValidationException"} and "does not exist" in message:
                self.names_from = f"stack {stack} not found in {self.region}; names derived from the configuration"
                return {}
            if code in ACCESS_DENIED_CODES:
                self.names_from = f"stack {stack} not readable ({code}); names derived from the configuration"
                return {}
            raise
        self.names_from = f"outputs of stack {stack} in {self.region}"
        return {o["OutputKey"]: o["OutputValue"] for o in (stacks[0].get("Outputs") or []) if "OutputKey" in o}

    names_from = ""

    @property
    def pipeline_name(self) -> str:
        return self.outputs.get(OUTPUT_PIPELINE_NAME) or self.config.pipeline_name

    @property
    def model_package_group_name(self) -> str:
        return self.outputs.get(OUTPUT_MODEL_PACKAGE_GROUP_NAME) or self.config.model_package_group_name

    @property
    def endpoint_name(self) -> str:
        return self.outputs.get(OUTPUT_ENDPOINT_NAME) or self.config.endpoint_name

    @property
    def predictions_bucket(self) -> str | None:
        """The predictions bucket: CDK names it, so only the stack's outputs know it (None when unreadable)."""
        return self.outputs.get(OUTPUT_PREDICTIONS_BUCKET_NAME)

    def not_found(self, what: str) -> CliError:
        # `outputs` has been read by now (the name came from it), so names_from says where the name came from.
        return CliError(
            f"{what} not found in {self.region} ({self.names_from}): is the {self.config.name} "
            "environment deployed there, and are these the right credentials?"
        )

    # -- pipeline -----------------------------------------------------------------------------------

    @cached_property
    def pipeline(self) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        name = self.pipeline_name
        try:
            return self.sagemaker.describe_pipeline(PipelineName=name)
        except ClientError as error:
            if error_code(error) in {"ResourceNotFound", "ValidationException"} and "pipeline" in str(error).lower():
                raise self.not_found(f"pipeline {name}") from error
            raise

    def definition(self) -> dict[str, Any]:
        """The deployed pipeline definition."""
        try:
            return json.loads(self.pipeline.get("PipelineDefinition") or "{}")
        except ValueError as error:
            raise CliError(f"the definition of pipeline {self.pipeline_name} is not JSON: {error}") from error

    def declared_parameters(self) -> list[dict[str, Any]]:
        """The deployed definition's `Parameters` (Name, Type, DefaultValue, EnumValues)."""
        return list(self.definition().get("Parameters") or [])

    def execution_arn(self, execution: str) -> str:
        """The ARN of an execution given by ARN or by ID (the ARN's last part)."""
        if execution.startswith("arn:"):
            return execution
        if "/" in execution or not execution.strip():
            raise CliError(f"{execution!r} is neither an execution ID nor an execution ARN")
        return f"{self.pipeline['PipelineArn']}/execution/{execution}"

    # -- model registry -----------------------------------------------------------------------------

    def model_packages(self) -> list[dict[str, Any]]:
        """Summaries of every version in the group, newest first."""
        from botocore.exceptions import ClientError

        group = self.model_package_group_name
        summaries: list[dict[str, Any]] = []
        try:
            self.sagemaker.describe_model_package_group(ModelPackageGroupName=group)
            paginator = self.sagemaker.get_paginator("list_model_packages")
            for page in paginator.paginate(ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending"):
                summaries.extend(page.get("ModelPackageSummaryList") or [])
        except ClientError as error:
            if error_code(error) in {"ResourceNotFound", "ValidationException"} and "not" in str(error).lower():
                raise self.not_found(f"model package group {group}") from error
            raise
        return sorted(summaries, key=lambda s: s.get("ModelPackageVersion") or 0, reverse=True)

    def model_package(self, version: int) -> dict[str, Any]:
        for summary in self.model_packages():
            if summary.get("ModelPackageVersion") == version:
                return self.sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        raise CliError(
            f"model package group {self.model_package_group_name} has no version {version} "
            f"(`jobclf models list --env {self.config.name}` lists them)"
        )

    def read_evaluation(self, uri: str) -> dict[str, Any]:
        """A model version's evaluation.json, read as every evaluation is (registry.read_evaluation)."""
        from pipeline_steps.registry import parse_s3_uri, read_evaluation

        bucket, key = parse_s3_uri(uri)
        return read_evaluation(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read(), uri)


def metrics_uri_of(package: dict[str, Any]) -> str | None:
    """S3 URI of the evaluation.json registered as the package's model-quality statistics."""
    quality = ((package.get("ModelMetrics") or {}).get("ModelQuality") or {}).get("Statistics") or {}
    return quality.get("S3Uri")
