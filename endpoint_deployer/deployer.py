"""Reconcile the endpoint with the registry: it serves the group's latest approved model package, or nothing.

An event is a trigger, never the instruction. Whatever package an event names, the deployer reads the
registry and deploys the group's newest package that is Approved and Completed (the one batch
prediction uses too: `pipeline_steps.registry`, latest approved by creation time). So:

- a package that becomes Approved is deployed if it is the newest approved one; a package created
  already Approved is the same case;
- every other change (a description, metadata, an older version approved again, a package that is
  still pending) leaves the endpoint as it is: its desired configuration equals the one it serves;
- when the served package is Rejected, the newest approved package other than it is deployed: the
  rollback. When none is left, the endpoint is deleted and the alerts topic says so: a rejected model
  must stop answering (batch prediction refuses to run without an approved model, for the same reason),
  and a serverless endpoint costs nothing to recreate at the next approval;
- a repeated event finds the endpoint already on its desired configuration and changes nothing: models
  and endpoint configurations are named from the package's version and a digest of what they contain,
  and are created only when missing;
- two approvals in quick succession: an endpoint takes one update at a time, so while it is Creating or
  Updating the deployer waits (polling, up to the time its invocation has left) and then reconciles
  with the registry as it is by then, which deploys the newest approved package once; the older one is
  never deployed after it. If the endpoint is still busy at the end, EndpointBusy makes the invocation
  fail and Lambda retries it; the function's reserved concurrency of 1 keeps two invocations from
  racing (stacks/endpoint.py).

The event's own fields are documented in the SageMaker developer guide, "Automating Amazon SageMaker AI
with Amazon EventBridge" > "Model package state change": `detail` carries the package's state after the
change (ModelPackageGroupName, ModelPackageVersion, ModelPackageArn, ModelApprovalStatus,
ModelPackageStatus, CreationTime, LastModifiedTime, ...), not the state before it, which is why the
decision is made against what the endpoint serves.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

logger = logging.getLogger(__name__)

MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
SAGEMAKER_SOURCE = "aws.sagemaker"
APPROVED, REJECTED = "Approved", "Rejected"
# The approval statuses whose events can change what the endpoint should serve (the rule matches only these).
TRIGGER_STATUSES = (APPROVED, REJECTED)
# A manual run: `aws lambda invoke --function-name <endpoint>-deployer --payload '{"action": "reconcile"}'`.
RECONCILE = "reconcile"
VARIANT_NAME = "AllTraffic"
SERVERLESS, PROVISIONED = "serverless", "provisioned"
# DescribeEndpoint EndpointStatus values during which SageMaker refuses another UpdateEndpoint (API reference,
# DescribeEndpoint: "Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting").
BUSY_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
# Blue/green baking period of a provisioned update, and its limit (BlueGreenUpdatePolicy:
# TerminationWaitInSeconds 0..3600, MaximumExecutionTimeoutInSeconds 600..28800).
BAKING_SECONDS = 600
DEPLOYMENT_TIMEOUT_SECONDS = 3600
# For serverless endpoints "we recommend creating only one worker in the container and only loading one copy of
# the model" (developer guide, Serverless Inference > Container support); the scikit-learn image reads this.
SERVERLESS_WORKERS = {"SAGEMAKER_MODEL_SERVER_WORKERS": "1"}

# The function's environment (stacks/endpoint.py sets it from the configuration).
ENV_ENDPOINT_NAME = "JOBCLF_ENDPOINT_NAME"
ENV_GROUP = "JOBCLF_MODEL_PACKAGE_GROUP"
ENV_MODEL_ROLE_ARN = "JOBCLF_ENDPOINT_ROLE_ARN"
ENV_VARIANT = "JOBCLF_ENDPOINT_VARIANT"
ENV_ROLLBACK_ALARMS = "JOBCLF_ROLLBACK_ALARMS"
ENV_ALERTS_TOPIC_ARN = "JOBCLF_ALERTS_TOPIC_ARN"


class EndpointBusy(RuntimeError):
    """The endpoint is still being created, updated or deleted: the invocation fails so that Lambda retries it."""


class UnsupportedUpdate(RuntimeError):
    """The update the configuration asks for is one SageMaker refuses; the message says what to do."""


@dataclass(frozen=True)
class Variant:
    """The endpoint's one production variant, as config/settings.py EndpointConfig describes it."""

    type: str = SERVERLESS
    memory_size_mb: int = 2048
    max_concurrency: int = 10
    instance_type: str = "ml.m5.large"
    instance_count: int = 1

    def production_variant(self, model_name: str) -> dict[str, Any]:
        variant: dict[str, Any] = {"VariantName": VARIANT_NAME, "ModelName": model_name}
        if self.type == SERVERLESS:
            variant["ServerlessConfig"] = {
                "MemorySizeInMB": self.memory_size_mb,
                "MaxConcurrency": self.max_concurrency,
            }
        elif self.type == PROVISIONED:
            variant.update(
                InstanceType=self.instance_type, InitialInstanceCount=self.instance_count, InitialVariantWeight=1.0
            )
        else:
            raise ValueError(f"endpoint type {self.type!r} is neither {SERVERLESS!r} nor {PROVISIONED!r}")
        return variant


@dataclass(frozen=True)
class EndpointSettings:
    """What the deployer needs to know about its environment."""

    endpoint_name: str
    model_package_group: str
    model_role_arn: str
    variant: Variant = Variant()
    rollback_alarms: tuple[str, ...] = ()
    alerts_topic_arn: str | None = None

    def environment(self) -> dict[str, str]:
        """The function's environment variables for these settings (the inverse of from_environment)."""
        environment = {
            ENV_ENDPOINT_NAME: self.endpoint_name,
            ENV_GROUP: self.model_package_group,
            ENV_MODEL_ROLE_ARN: self.model_role_arn,
            ENV_VARIANT: json.dumps(asdict(self.variant), sort_keys=True),
            ENV_ROLLBACK_ALARMS: ",".join(self.rollback_alarms),
        }
        if self.alerts_topic_arn:
            environment[ENV_ALERTS_TOPIC_ARN] = self.alerts_topic_arn
        return environment

    @classmethod
    def from_environment(cls, environment: Mapping[str, str]) -> EndpointSettings:
        missing = [
            name
            for name in (ENV_ENDPOINT_NAME, ENV_GROUP, ENV_MODEL_ROLE_ARN, ENV_VARIANT)
            if not environment.get(name)
        ]
        if missing:
            raise KeyError(f"the function's environment lacks {', '.join(missing)}")
        return cls(
            endpoint_name=environment[ENV_ENDPOINT_NAME],
            model_package_group=environment[ENV_GROUP],
            model_role_arn=environment[ENV_MODEL_ROLE_ARN],
            variant=Variant(**json.loads(environment[ENV_VARIANT])),
            rollback_alarms=tuple(name for name in environment.get(ENV_ROLLBACK_ALARMS, "").split(",") if name),
            alerts_topic_arn=environment.get(ENV_ALERTS_TOPIC_ARN) or None,
        )


@dataclass(frozen=True)
class Package:
    arn: str
    version: int


@dataclass(frozen=True)
class Target:
    """The model and endpoint configuration that serve `package` with the current settings."""

    package: Package
    model_name: str
    config_name: str


@dataclass(frozen=True)
class Trigger:
    """Why the deployer runs: a package's approval status changed (`package_arn`, `status`), or a manual run."""

    kind: str
    package_arn: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What a run did: `action` is one of ignored, unchanged, deploying, created, updating, deleted, empty."""

    action: str
    detail: str
    package_arn: str | None = None
    endpoint_config: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()[:8]


def target_for(settings: EndpointSettings, package: Package) -> Target:
    """Names that change exactly when what they hold changes: the same package and settings, the same names.

    `<endpoint>-v<version>-<digest>`: at most 33 + 11 + 9 characters, within SageMaker's 63."""
    model_name = f"{settings.endpoint_name}-v{package.version}-{_digest(package.arn, settings.model_role_arn)}"
    config_digest = _digest(model_name, asdict(settings.variant))
    return Target(package, model_name, f"{settings.endpoint_name}-v{package.version}-{config_digest}")


def trigger_of(event: Mapping[str, Any], group: str) -> tuple[Trigger | None, str]:
    """(the trigger, None when the event must not change anything; why)."""
    if event.get("action") == RECONCILE:
        return Trigger(RECONCILE), "manual reconcile"
    if event.get("source") != SAGEMAKER_SOURCE or event.get("detail-type") != MODEL_PACKAGE_STATE_CHANGE:
        return None, f"not a {MODEL_PACKAGE_STATE_CHANGE} event: {event.get('source')} / {event.get('detail-type')}"
    detail = event.get("detail") or {}
    if detail.get("ModelPackageGroupName") != group:
        return None, f"package of group {detail.get('ModelPackageGroupName')!r}, not {group!r}"
    status, arn = detail.get("ModelApprovalStatus"), detail.get("ModelPackageArn")
    if status not in TRIGGER_STATUSES or not arn:
        return None, f"{arn} is now {status}: only a change to Approved or Rejected can change what is served"
    return Trigger("model-package", arn, status), f"{arn} is now {status}"


def deployment_config(settings: EndpointSettings) -> dict[str, Any] | None:
    """Deployment guardrails of an update (developer guide, "Deployment guardrails"): blue/green with a baking
    period watched by the rollback alarms, canary (one instance first) when there are two instances or more.

    None for serverless: SageMaker then updates blue/green, all traffic at once, the default of UpdateEndpoint.
    The guardrail pages describe instance fleets (canary sizes in instances, baking on the new fleet), and
    serverless endpoints have no instances and no second variant; docs/deploying.md has the trade-off."""
    variant = settings.variant
    if variant.type == SERVERLESS or not settings.rollback_alarms:
        return None
    routing: dict[str, Any] = {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": BAKING_SECONDS}
    if variant.instance_count >= 2:  # a canary is at most half of the new fleet
        routing = {
            "Type": "CANARY",
            "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
            "WaitIntervalInSeconds": BAKING_SECONDS,
        }
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": BAKING_SECONDS,
            "MaximumExecutionTimeoutInSeconds": DEPLOYMENT_TIMEOUT_SECONDS,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in settings.rollback_alarms]},
    }


def _error_code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    return (response or {}).get("Error", {}).get("Code") if isinstance(response, dict) else None


def _not_found(error: BaseException) -> bool:
    """SageMaker answers a Describe* of a missing model, endpoint configuration or endpoint with a
    ValidationException "Could not find ..."."""
    return _error_code(error) in ("ValidationException", "ValidationError") and "Could not find" in str(error)


def _described(describe: Callable[..., dict], **name: str) -> dict | None:
    """What a SageMaker Describe* call answers for the named resource, None when it does not exist."""
    try:
        return describe(**name)
    except Exception as error:
        if _not_found(error):
            return None
        raise


def served_package_arn(sagemaker, endpoint_config_name: str) -> str | None:
    """The model package an endpoint configuration serves: its variant's model's container's ModelPackageName."""
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint_config_name)
    variants = config.get("ProductionVariants") or []
    if not variants:
        return None
    model = sagemaker.describe_model(ModelName=variants[0]["ModelName"])
    containers = [model.get("PrimaryContainer") or {}] + list(model.get("Containers") or [])
    return next((c["ModelPackageName"] for c in containers if c.get("ModelPackageName")), None)


class Deployer:
    """One reconciliation per event, with the given SageMaker (and, for alerts, SNS) client."""

    def __init__(
        self,
        sagemaker,
        settings: EndpointSettings,
        *,
        sns=None,
        busy_wait_seconds: float = 0.0,
        poll_seconds: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sagemaker = sagemaker
        self.settings = settings
        self.sns = sns
        self.busy_wait_seconds = busy_wait_seconds
        self.poll_seconds = poll_seconds
        self._sleep = sleep
        self._clock = clock

    # -- the run ------------------------------------------------------------------------------------

    def handle(self, event: Mapping[str, Any]) -> Outcome:
        trigger, why = trigger_of(event, self.settings.model_package_group)
        if trigger is None:
            return self._log(Outcome("ignored", why))
        logger.info("reconciling endpoint %s: %s", self.settings.endpoint_name, why)
        return self._log(self.reconcile(trigger))

    def reconcile(self, trigger: Trigger) -> Outcome:
        deadline = self._clock() + self.busy_wait_seconds
        while True:
            endpoint = self._describe_endpoint()
            package = self.desired_package(trigger)
            target = target_for(self.settings, package) if package else None
            if endpoint is None or endpoint["EndpointStatus"] not in BUSY_STATUSES:
                outcome = self._converge(endpoint, package, target)
                if outcome is not None:
                    return outcome
                continue  # the endpoint changed state under us (deleted, or someone's update): look again
            if target is not None and self._in_flight_config(endpoint) == target.config_name:
                return Outcome(
                    "deploying",
                    f"{endpoint['EndpointStatus']} to version {package.version} already",
                    package.arn,
                    target.config_name,
                )
            if self._clock() >= deadline:
                raise EndpointBusy(
                    f"endpoint {self.settings.endpoint_name} is still {endpoint['EndpointStatus']}; "
                    "the next attempt reconciles again"
                )
            self._sleep(self.poll_seconds)

    # -- what should be served ----------------------------------------------------------------------

    def desired_package(self, trigger: Trigger) -> Package | None:
        """The group's newest Approved, Completed package. The trigger's own package is read directly, so a
        listing that lags behind the change (ListModelPackages is eventually consistent) cannot hide a new
        approval or keep a rejected package."""
        excluded = {trigger.package_arn} if trigger.status == REJECTED else set()
        best: Package | None = None
        if trigger.status == APPROVED and trigger.package_arn:
            package = self.sagemaker.describe_model_package(ModelPackageName=trigger.package_arn)
            if package.get("ModelApprovalStatus") == APPROVED and package.get("ModelPackageStatus") == "Completed":
                best = Package(package["ModelPackageArn"], int(package["ModelPackageVersion"]))
            else:
                excluded.add(trigger.package_arn)
        paginator = self.sagemaker.get_paginator("list_model_packages")
        pages = paginator.paginate(
            ModelPackageGroupName=self.settings.model_package_group,
            ModelApprovalStatus=APPROVED,
            SortBy="CreationTime",
            SortOrder="Descending",
        )
        for page in pages:
            for summary in page.get("ModelPackageSummaryList") or []:
                if summary["ModelPackageArn"] in excluded or summary.get("ModelPackageStatus") != "Completed":
                    continue
                listed = Package(summary["ModelPackageArn"], int(summary["ModelPackageVersion"]))
                return listed if best is None or listed.version > best.version else best
        return best

    # -- making it so -------------------------------------------------------------------------------

    def _converge(self, endpoint: dict | None, package: Package | None, target: Target | None) -> Outcome | None:
        """One step towards the target; None when the endpoint changed state and the loop must look again."""
        name = self.settings.endpoint_name
        if package is None or target is None:
            return self._serve_nothing(endpoint)
        if endpoint is not None and endpoint["EndpointStatus"] == "Failed":
            # A failed endpoint takes no update: delete it; the loop waits out Deleting and creates it again.
            logger.warning(
                "endpoint %s is Failed (%s): deleting it to create it again", name, endpoint.get("FailureReason")
            )
            self.sagemaker.delete_endpoint(EndpointName=name)
            return None
        if endpoint is not None and endpoint.get("EndpointConfigName") == target.config_name:
            return Outcome("unchanged", f"already serves version {package.version}", package.arn, target.config_name)
        self._ensure_model(target)
        self._ensure_endpoint_config(target)
        if endpoint is None:
            self.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=target.config_name)
            return Outcome(
                "created", f"creating the endpoint with version {package.version}", package.arn, target.config_name
            )
        if self.settings.variant.type == SERVERLESS and not self._is_serverless(endpoint):
            raise UnsupportedUpdate(
                f"endpoint {name} runs on instances and SageMaker cannot update an instance-based endpoint to "
                "serverless (developer guide, Serverless Inference > Feature exclusions): delete it "
                f"(aws sagemaker delete-endpoint --endpoint-name {name}) and run the deployer again"
            )
        arguments: dict[str, Any] = {"EndpointName": name, "EndpointConfigName": target.config_name}
        guardrails = deployment_config(self.settings)
        if guardrails is not None:
            arguments["DeploymentConfig"] = guardrails
        try:
            self.sagemaker.update_endpoint(**arguments)
        except Exception as error:
            # SageMaker refuses an update while another is in progress; if one started between our look and our
            # call (someone by hand: our invocations do not overlap), look again. Anything else is an error.
            now = (
                self._describe_endpoint() if _error_code(error) in ("ValidationException", "ValidationError") else None
            )
            if now is not None and now["EndpointStatus"] in BUSY_STATUSES:
                return None
            raise
        return Outcome(
            "updating",
            f"updating from {endpoint.get('EndpointConfigName')} to version {package.version}",
            package.arn,
            target.config_name,
        )

    def _serve_nothing(self, endpoint: dict | None) -> Outcome:
        name, group = self.settings.endpoint_name, self.settings.model_package_group
        if endpoint is None:
            return Outcome("empty", f"group {group} has no approved model package and there is no endpoint")
        served = served_package_arn(self.sagemaker, endpoint["EndpointConfigName"])
        if served is not None:
            status = self.sagemaker.describe_model_package(ModelPackageName=served).get("ModelApprovalStatus")
            if status == APPROVED:  # the listing has not caught up with the approval: never delete what is approved
                return Outcome(
                    "unchanged",
                    f"{served} is still approved; the registry listing lags",
                    served,
                    endpoint["EndpointConfigName"],
                )
        self.sagemaker.delete_endpoint(EndpointName=name)
        message = (
            f"Endpoint {name} was deleted: it served {served or 'an unknown package'}, which is no longer "
            f"approved, and group {group} has no other approved model package. Approving one creates the "
            "endpoint again."
        )
        self._alert(f"JobClf: endpoint {name} deleted, no approved model", message)
        return Outcome("deleted", message, served, endpoint["EndpointConfigName"])

    def _ensure_model(self, target: Target) -> None:
        if _described(self.sagemaker.describe_model, ModelName=target.model_name) is not None:
            return
        container: dict[str, Any] = {"ModelPackageName": target.package.arn}
        if self.settings.variant.type == SERVERLESS:
            # The package's own environment (SAGEMAKER_PROGRAM, ...) plus one worker, so that the result is the
            # same whether SageMaker merges this map with the package's or uses it instead.
            package = self.sagemaker.describe_model_package(ModelPackageName=target.package.arn)
            containers = (package.get("InferenceSpecification") or {}).get("Containers") or [{}]
            container["Environment"] = {**(containers[0].get("Environment") or {}), **SERVERLESS_WORKERS}
        self.sagemaker.create_model(
            ModelName=target.model_name, ExecutionRoleArn=self.settings.model_role_arn, PrimaryContainer=container
        )

    def _ensure_endpoint_config(self, target: Target) -> None:
        if _described(self.sagemaker.describe_endpoint_config, EndpointConfigName=target.config_name) is not None:
            return
        # No KmsKeyId: instance types with local NVMe storage refuse one (API reference, CreateEndpointConfig), and
        # the instances hold only the model archive, which is encrypted at rest in S3 with the data key.
        self.sagemaker.create_endpoint_config(
            EndpointConfigName=target.config_name,
            ProductionVariants=[self.settings.variant.production_variant(target.model_name)],
        )

    # -- reading ------------------------------------------------------------------------------------

    def _describe_endpoint(self) -> dict | None:
        return _described(self.sagemaker.describe_endpoint, EndpointName=self.settings.endpoint_name)

    @staticmethod
    def _in_flight_config(endpoint: Mapping[str, Any]) -> str | None:
        """The configuration an endpoint is moving to: its pending deployment's, or its own while Creating."""
        pending = (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
        if pending:
            return pending
        return endpoint.get("EndpointConfigName") if endpoint.get("EndpointStatus") == "Creating" else None

    @staticmethod
    def _is_serverless(endpoint: Mapping[str, Any]) -> bool:
        variants = endpoint.get("ProductionVariants") or []
        return bool(variants) and all(
            "CurrentServerlessConfig" in v or "DesiredServerlessConfig" in v for v in variants
        )

    def _alert(self, subject: str, message: str) -> None:
        logger.warning("%s: %s", subject, message)
        if self.sns is not None and self.settings.alerts_topic_arn:
            self.sns.publish(TopicArn=self.settings.alerts_topic_arn, Subject=subject[:100], Message=message)

    @staticmethod
    def _log(outcome: Outcome) -> Outcome:
        logger.info("outcome: %s", json.dumps(outcome.as_dict(), sort_keys=True))
        return outcome
