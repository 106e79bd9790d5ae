"""The typed configuration of every JobClf environment, loaded once and validated.

`config/environments.toml` holds the values; this module is the schema. A `[defaults]`
table applies to every environment and an environment's own table overrides it key by
key. Any unknown key, missing key or bad value raises `ConfigError` naming the key
(e.g. `environments.production.emr.core_instance_count`), so a typo never reaches AWS.

Every default value lives in the file's `[defaults]` table, none here: a field without a default in
`[defaults]` or the environment's table is an error, so a default cannot be written twice and drift.
Only what may stay unset (an existing VPC, the account, an alarm e-mail, tags) defaults to "unset".
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipeline_steps.contract import MODEL_APPROVAL_STATUSES, PREDICT_ENGINES, REJECTED, PredictionReportLimits

CONFIG_FILE = Path(__file__).with_name("environments.toml")

ClusterMode = Literal["transient", "standing"]
# Predict instances per execution: the config's bound and the predict_instance_count parameter's range.
MAX_PREDICT_INSTANCES = 100
# A model that passes the quality gate is registered with one of these; the gate alone rejects.
REGISTRATION_STATUSES = tuple(status for status in MODEL_APPROVAL_STATUSES if status != REJECTED)
EndpointType = Literal["serverless", "provisioned"]

# SageMaker API reference, ProductionVariantServerlessConfig: "MemorySizeInMB ... Valid values are in 1 GB
# increments: 1024 MB, 2048 MB, 3072 MB, 4096 MB, 5120 MB, or 6144 MB"; "MaxConcurrency ... Valid Range:
# Minimum value of 1. Maximum value of 200." (botocore's model states the same bounds.)
SERVERLESS_MEMORY_SIZES_MB = (1024, 2048, 3072, 4096, 5120, 6144)
SERVERLESS_MAX_CONCURRENCY = 200


class ConfigError(ValueError):
    """A configuration value is missing, unknown or invalid; the message names its key."""


@dataclass(frozen=True)
class NetworkConfig:
    """Where EMR and SageMaker jobs run: a VPC the stack owns, or an existing one by ID."""

    vpc_cidr: str
    max_azs: int
    vpc_id: str | None = None
    private_subnet_ids: tuple[str, ...] = ()

    def validate(self, key: str) -> None:
        if not re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}/(1[6-9]|2[0-4])", self.vpc_cidr):
            raise ConfigError(f"{key}.vpc_cidr: {self.vpc_cidr!r} is not an IPv4 CIDR from /16 to /24")
        if not 1 <= self.max_azs <= 3:
            raise ConfigError(f"{key}.max_azs: {self.max_azs} must be 1, 2 or 3")
        if self.vpc_id is not None:
            if not re.fullmatch(r"vpc-[0-9a-f]{8,17}", self.vpc_id):
                raise ConfigError(f"{key}.vpc_id: {self.vpc_id!r} is not a VPC ID (vpc-...)")
            if not self.private_subnet_ids:
                raise ConfigError(f"{key}.private_subnet_ids: required when vpc_id is set (no synth-time lookups)")
        for subnet in self.private_subnet_ids:
            if not re.fullmatch(r"subnet-[0-9a-f]{8,17}", subnet):
                raise ConfigError(f"{key}.private_subnet_ids: {subnet!r} is not a subnet ID (subnet-...)")
        if self.private_subnet_ids and self.vpc_id is None:
            raise ConfigError(f"{key}.private_subnet_ids: set vpc_id too, or leave both unset")


@dataclass(frozen=True)
class EmrConfig:
    """The EMR cluster that runs the PySpark ETL step."""

    release_label: str
    cluster_mode: ClusterMode
    primary_instance_type: str
    core_instance_type: str
    core_instance_count: int

    def validate(self, key: str) -> None:
        if not re.fullmatch(r"emr-7\.\d+\.\d+", self.release_label):
            raise ConfigError(f"{key}.release_label: {self.release_label!r} must be an EMR 7.x release (Spark 3.5)")
        for name in ("primary_instance_type", "core_instance_type"):
            value = getattr(self, name)
            if not re.fullmatch(r"[a-z][a-z0-9-]*\.[a-z0-9]+", value):
                raise ConfigError(f"{key}.{name}: {value!r} is not an EC2 instance type (e.g. m5.xlarge)")
        if not 1 <= self.core_instance_count <= 20:
            raise ConfigError(f"{key}.core_instance_count: {self.core_instance_count} must be from 1 to 20")


@dataclass(frozen=True)
class SageMakerConfig:
    """Instances and the scikit-learn image of the SageMaker processing and training jobs."""

    sklearn_framework_version: str
    processing_instance_type: str
    training_instance_type: str
    volume_size_gb: int
    max_runtime_minutes: int

    def validate(self, key: str) -> None:
        if self.sklearn_framework_version != "1.2-1":
            raise ConfigError(
                f"{key}.sklearn_framework_version: {self.sklearn_framework_version!r}; only '1.2-1' is supported "
                "(the local run pins scikit-learn 1.2.1 so that a model trained locally loads in that image)"
            )
        for name in ("processing_instance_type", "training_instance_type"):
            value = getattr(self, name)
            if not re.fullmatch(r"ml\.[a-z0-9]+\.[a-z0-9]+", value):
                raise ConfigError(f"{key}.{name}: {value!r} is not a SageMaker instance type (ml.*)")
        if not 5 <= self.volume_size_gb <= 512:
            raise ConfigError(f"{key}.volume_size_gb: {self.volume_size_gb} must be from 5 to 512")
        if not 5 <= self.max_runtime_minutes <= 1440:
            raise ConfigError(f"{key}.max_runtime_minutes: {self.max_runtime_minutes} must be from 5 to 1440")


@dataclass(frozen=True)
class PredictConfig:
    """How a predict execution runs by default; a schedule may override both per execution with the
    `predict_engine` and `predict_instance_count` pipeline parameters.

    engine: "processing" validates and normalizes the titles in a SageMaker processing job (no EMR
    cluster: for the daily batches); "emr" runs the titles ETL on EMR first (for tens of millions of
    titles). instance_count: processing instances of PreprocessPredict and BatchPredict (the type is
    sagemaker.processing_instance_type); each streams its share of the input files in bounded memory.
    """

    engine: str
    instance_count: int

    def validate(self, key: str) -> None:
        _check_allowed(self.engine, PREDICT_ENGINES, f"{key}.engine")
        if not 1 <= self.instance_count <= MAX_PREDICT_INSTANCES:
            raise ConfigError(f"{key}.instance_count: {self.instance_count} must be from 1 to {MAX_PREDICT_INSTANCES}")


@dataclass(frozen=True)
class ModelConfig:
    """How a trained model is registered: its approval status and the quality gate.

    approval_status: "Approved" or "PendingManualApproval", the status of a model that passes the gate
    (one that misses it is registered "Rejected"). min_macro_f1: the gate's threshold on the
    unseen-occupation macro-F1.
    """

    approval_status: str
    min_macro_f1: float

    def validate(self, key: str) -> None:
        _check_allowed(self.approval_status, REGISTRATION_STATUSES, f"{key}.approval_status")
        if not 0.0 <= self.min_macro_f1 <= 1.0:
            raise ConfigError(f"{key}.min_macro_f1: {self.min_macro_f1} must be between 0 and 1")


@dataclass(frozen=True)
class EndpointConfig:
    """The real-time endpoint that serves the group's latest approved model (named like the pipeline).

    type "serverless" costs nothing while idle and scales with requests up to
    max_concurrency concurrent invocations, each with memory_size_mb; an update is blue/green, all at
    once, with no baking period and no alarm rollback (see "Deploying" > "The endpoint" for why).
    type "provisioned" runs instance_count x instance_type all the time; an update is blue/green with a
    baking period watched by the 5xx and latency alarms, which roll it back. An endpoint on instances
    cannot become serverless again (SageMaker refuses it): delete it first. The latency alarm fires when
    the average ModelLatency over 5 minutes exceeds max_model_latency_ms.
    """

    type: EndpointType
    memory_size_mb: int
    max_concurrency: int
    instance_type: str
    instance_count: int
    max_model_latency_ms: int

    def validate(self, key: str) -> None:
        if self.memory_size_mb not in SERVERLESS_MEMORY_SIZES_MB:
            sizes = ", ".join(map(str, SERVERLESS_MEMORY_SIZES_MB))
            raise ConfigError(f"{key}.memory_size_mb: {self.memory_size_mb} must be one of {sizes} (MB)")
        if not 1 <= self.max_concurrency <= SERVERLESS_MAX_CONCURRENCY:
            raise ConfigError(
                f"{key}.max_concurrency: {self.max_concurrency} must be from 1 to {SERVERLESS_MAX_CONCURRENCY}"
            )
        if not re.fullmatch(r"ml\.[a-z0-9]+\.[a-z0-9]+", self.instance_type):
            raise ConfigError(f"{key}.instance_type: {self.instance_type!r} is not a SageMaker instance type (ml.*)")
        if not 1 <= self.instance_count <= 10:
            raise ConfigError(f"{key}.instance_count: {self.instance_count} must be from 1 to 10")
        if not 10 <= self.max_model_latency_ms <= 60000:
            raise ConfigError(f"{key}.max_model_latency_ms: {self.max_model_latency_ms} must be from 10 to 60000")


@dataclass(frozen=True)
class MonitoringConfig(PredictionReportLimits):
    """The prediction report of every predict execution, its CloudWatch metrics and alarms (README, "Watching
    the model"; docs/operating.md). Each maximum is the threshold of a figure's alarm; the report judges a
    share from min_rows_for_shares predicted (or input) rows on, the two drift figures from min_rows_for_drift.
    The limits and their own checks are the step's (contract.PredictionReportLimits); the config adds:

    low_confidence: an answer whose confidence is below this counts as unsure.
    The defaults are chosen from measurements: benchmarks/drift_thresholds.py.
    """

    low_confidence: float

    def validate(self, key: str) -> None:
        if not 0.0 <= self.low_confidence <= 1.0:
            raise ConfigError(f"{key}.low_confidence: {self.low_confidence} must be from 0 to 1")
        if self.max_population_stability_index > 10.0:
            raise ConfigError(
                f"{key}.max_population_stability_index: {self.max_population_stability_index} must be from 0 to 10"
            )
        for name in ("min_rows_for_shares", "min_rows_for_drift"):
            value = getattr(self, name)
            if value > 10_000_000:
                raise ConfigError(f"{key}.{name}: {value} must be from 1 to 10000000")


@dataclass(frozen=True)
class StorageConfig:
    """Lifecycle of the buckets' objects."""

    intermediate_expiry_days: int
    noncurrent_version_expiry_days: int
    access_log_expiry_days: int

    def validate(self, key: str) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not 1 <= value <= 3650:
                raise ConfigError(f"{key}.{f.name}: {value} must be from 1 to 3650 days")


@dataclass(frozen=True)
class ScheduleConfig:
    """An EventBridge Scheduler schedule that starts the pipeline with parameters."""

    name: str
    expression: str
    parameters: dict[str, str]
    enabled: bool = True
    timezone: str = "UTC"

    def validate(self, key: str) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,40}", self.name):
            raise ConfigError(f"{key}.name: {self.name!r} must be lowercase letters, digits and dashes")
        if not re.fullmatch(r"(cron\(.+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\)|at\(.+\))", self.expression):
            raise ConfigError(
                f"{key}.expression: {self.expression!r} is not a cron(...), rate(...) or at(...) expression"
            )
        for name, value in self.parameters.items():
            if not isinstance(value, str):
                raise ConfigError(
                    f"{key}.parameters.{name}: {value!r} must be a string (pipeline parameters are strings)"
                )


@dataclass(frozen=True)
class EnvironmentConfig:
    """Everything that differs between environments (develop, production)."""

    name: str
    project: str
    region: str
    network: NetworkConfig
    emr: EmrConfig
    sagemaker: SageMakerConfig
    model: ModelConfig
    storage: StorageConfig
    predict: PredictConfig
    endpoint: EndpointConfig
    monitoring: MonitoringConfig
    schedules: tuple[ScheduleConfig, ...] = ()
    account: str | None = None
    alarm_email: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def stack_name(self) -> str:
        return f"JobClf-{self.name}"

    @property
    def resource_prefix(self) -> str:
        """Lowercase, e.g. `jobclf-develop`: the start of every resource name of the environment."""
        return f"{self.project}-{self.name}"

    @property
    def pipeline_name(self) -> str:
        return self.resource_prefix

    @property
    def model_package_group_name(self) -> str:
        return self.resource_prefix

    @property
    def endpoint_name(self) -> str:
        return self.resource_prefix

    def validate(self, key: str) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9]{1,15}", self.project):
            raise ConfigError(f"{key}.project: {self.project!r} must be 2-16 lowercase letters or digits")
        if not re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", self.region):
            raise ConfigError(f"{key}.region: {self.region!r} is not an AWS region (e.g. eu-west-1)")
        if self.account is not None and not re.fullmatch(r"\d{12}", self.account):
            raise ConfigError(f"{key}.account: {self.account!r} must be 12 digits, or unset for any account")
        if self.alarm_email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", self.alarm_email):
            raise ConfigError(f"{key}.alarm_email: {self.alarm_email!r} is not an e-mail address")
        self.network.validate(f"{key}.network")
        self.emr.validate(f"{key}.emr")
        self.sagemaker.validate(f"{key}.sagemaker")
        self.model.validate(f"{key}.model")
        self.predict.validate(f"{key}.predict")
        self.endpoint.validate(f"{key}.endpoint")
        self.monitoring.validate(f"{key}.monitoring")
        self.storage.validate(f"{key}.storage")
        seen: set[str] = set()
        for i, schedule in enumerate(self.schedules):
            schedule.validate(f"{key}.schedules[{i}]")
            if schedule.name in seen:
                raise ConfigError(f"{key}.schedules[{i}].name: {schedule.name!r} is used twice")
            seen.add(schedule.name)


def _check_allowed(value: Any, allowed: tuple, key: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(repr, allowed))}")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for name, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = _merge(merged[name], value)
        else:
            merged[name] = value
    return merged


def _check_type(value: Any, expected: Any, key: str) -> Any:
    """Check `value` against a dataclass field's type annotation; return it converted (lists to tuples)."""
    origin = typing.get_origin(expected)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        options = typing.get_args(expected)
        if value is None and type(None) in options:
            return None
        non_none = [o for o in options if o is not type(None)]
        return _check_type(value, non_none[0], key)
    if origin is Literal:
        _check_allowed(value, typing.get_args(expected), key)
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        item_type = typing.get_args(expected)[0]
        return tuple(_check_type(v, item_type, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table, got {type(value).__name__}")
        return dict(value)
    if dataclasses.is_dataclass(expected):
        return _build(expected, value, key)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if not isinstance(value, expected):
        raise ConfigError(f"{key}: expected {expected.__name__}, got {type(value).__name__} {value!r}")
    return value


def _build(cls: type, raw: Any, key: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{key}: expected a table, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}: unknown key (known: {', '.join(sorted(fields))})")
    values = {}
    for name, f in fields.items():
        if name in raw:
            values[name] = _check_type(raw[name], hints[name], f"{key}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            if dataclasses.is_dataclass(hints[name]):
                values[name] = _build(hints[name], {}, f"{key}.{name}")
            else:
                raise ConfigError(f"{key}.{name}: missing")
    try:
        return cls(**values)
    except ValueError as error:  # a check of the class itself (e.g. contract.PredictionReportLimits')
        raise ConfigError(f"{key}: {error}") from None


def load_all(path: Path = CONFIG_FILE) -> dict[str, EnvironmentConfig]:
    """Load and validate every environment of the configuration file."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from error
    return environments_from(document)


def environments_from(document: dict[str, Any]) -> dict[str, EnvironmentConfig]:
    """Validate a parsed configuration document (the TOML file's tables) into one config per environment."""
    unknown = sorted(set(document) - {"defaults", "environments"})
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown top-level table (known: defaults, environments)")
    defaults = document.get("defaults", {})
    environments = document.get("environments", {})
    if not environments:
        raise ConfigError("environments: no environment is defined")
    configs = {}
    for name, table in environments.items():
        key = f"environments.{name}"
        if not re.fullmatch(r"[a-z][a-z0-9]{1,15}", name):
            raise ConfigError(f"{key}: environment names are 2-16 lowercase letters or digits")
        config = _build(EnvironmentConfig, {**_merge(defaults, table), "name": name}, key)
        config.validate(key)
        configs[name] = config
    return configs


def load_environment(name: str, path: Path = CONFIG_FILE) -> EnvironmentConfig:
    """Load one environment by name, e.g. `develop`."""
    configs = load_all(path)
    if name not in configs:
        raise ConfigError(f"environments.{name}: no such environment (known: {', '.join(sorted(configs))})")
    return configs[name]
