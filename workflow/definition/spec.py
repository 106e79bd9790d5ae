"""Plain values the pipeline definition is built from: what the stack (or the local run) knows.

Any string may be a placeholder for a CDK token; the builder treats them as opaque text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields

from config.settings import ClusterMode
from pipeline_steps.contract import PredictionReportLimits


@dataclass(frozen=True)
class Buckets:
    """The environment's data buckets, by name."""

    raw: str
    processed: str
    models: str
    predictions: str


@dataclass(frozen=True)
class StepCode:
    """Where the step code lies in S3 (CDK file assets, or the local run's mapped folder).

    steps_archive_uri: a zip of `pipeline_steps` with a `__main__.py`: processing jobs run
        `python3 <archive> <step> ...` and spark-submit takes it as `--py-files`.
    etl_script_uri: `pipeline_steps/etl_main.py`, spark-submit's main file for both EMR steps (it picks
        the job by `--dataset`).
    training_source_uri: a tar.gz of `pipeline_steps` with `train.py` at its root, the
        SageMaker training toolkit's `sagemaker_submit_directory`.
    etl_dependencies_uri: a zip of the ETL's pure-Python dependencies (openpyxl), spark-submit's
        second `--py-files` entry.
    """

    steps_archive_uri: str
    etl_script_uri: str
    training_source_uri: str
    etl_dependencies_uri: str


@dataclass(frozen=True)
class EmrSpec:
    """How the ETL step reaches EMR: a standing cluster by ID, or a transient cluster per execution.

    The instance types, profile, roles, security configuration, subnet and security groups are a
    transient cluster's only (SageMaker starts it from them); a standing cluster has them already.
    """

    mode: ClusterMode
    release_label: str
    log_uri: str
    cluster_id: str | None = None
    primary_instance_type: str | None = None
    core_instance_type: str | None = None
    core_instance_count: int | None = None
    instance_profile_name: str | None = None
    service_role_name: str | None = None
    security_configuration_name: str | None = None
    subnet_id: str | None = None
    primary_security_group_id: str | None = None
    core_security_group_id: str | None = None
    service_access_security_group_id: str | None = None

    def __post_init__(self) -> None:
        if self.mode == "standing" and not self.cluster_id:
            raise ValueError("EmrSpec: a standing cluster needs cluster_id")
        if self.mode == "transient":
            if self.cluster_id:
                raise ValueError("EmrSpec: a transient cluster has no cluster_id")
            unset = [f.name for f in fields(self) if f.name != "cluster_id" and getattr(self, f.name) is None]
            if unset:
                raise ValueError(f"EmrSpec: a transient cluster needs {', '.join(unset)}")


@dataclass(frozen=True)
class JobSpec:
    """SageMaker processing and training jobs: instances, network and encryption."""

    processing_instance_type: str
    training_instance_type: str
    volume_size_gb: int
    max_runtime_seconds: int
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    kms_key_id: str | None = None


@dataclass(frozen=True)
class ModelDefaults:
    """Defaults of the pipeline parameters that govern the model and its registration (config.ModelConfig)."""

    approval_status: str
    min_macro_f1: float


@dataclass(frozen=True)
class PredictDefaults:
    """Defaults of the pipeline parameters that choose how the predict branch runs (config.PredictConfig);
    a schedule may override them per execution."""

    engine: str
    instance_count: int


@dataclass(frozen=True)
class MonitoringSpec:
    """The prediction report of every predict execution (config `monitoring`): where its figures go in
    CloudWatch, the confidence an answer is counted below, and the report's limits."""

    metrics_namespace: str
    low_confidence: float
    limits: PredictionReportLimits


@dataclass(frozen=True)
class PipelineSpec:
    """Everything the definition builder needs, for one environment."""

    pipeline_name: str
    region: str
    role_arn: str
    buckets: Buckets
    code: StepCode
    emr: EmrSpec
    jobs: JobSpec
    model_package_group_name: str
    sklearn_framework_version: str
    model: ModelDefaults
    predict: PredictDefaults
    monitoring: MonitoringSpec


def declared_parameters(definition: str) -> dict[str, str | int | float]:
    """Parameter name -> default value, as declared in a definition JSON built from a spec."""
    return {p["Name"]: p.get("DefaultValue") for p in json.loads(definition).get("Parameters", [])}
