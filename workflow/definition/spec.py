"""Plain values the pipeline definition is built from: what the stack (or the local run) knows.

Any string may be a placeholder for a CDK token; the builder treats them as opaque text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

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
    """How the ETL step reaches EMR: a standing cluster by ID, or a transient cluster per execution."""

    mode: Literal["transient", "standing"]
    release_label: str
    log_uri: str
    cluster_id: str | None = None
    # Transient clusters only: what SageMaker needs to start one.
    primary_instance_type: str = "m5.xlarge"
    core_instance_type: str = "m5.xlarge"
    core_instance_count: int = 1
    instance_profile_name: str = ""
    service_role_name: str = ""
    security_configuration_name: str = ""
    subnet_id: str = ""
    primary_security_group_id: str = ""
    core_security_group_id: str = ""
    service_access_security_group_id: str = ""

    def __post_init__(self) -> None:
        if self.mode == "standing" and not self.cluster_id:
            raise ValueError("EmrSpec: a standing cluster needs cluster_id")
        if self.mode == "transient" and self.cluster_id:
            raise ValueError("EmrSpec: a transient cluster has no cluster_id")


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
    """Defaults of the pipeline parameters that govern the model and its registration."""

    approval_status: str = "PendingManualApproval"
    min_macro_f1: float = 0.51  # benchmarks/model_benchmark.py gate_threshold


@dataclass(frozen=True)
class PredictDefaults:
    """Defaults of the pipeline parameters that choose how the predict branch runs (a schedule may override them).

    engine: "processing" prepares the titles in a SageMaker processing job (no EMR);
        "emr" runs the titles ETL on EMR first. Either way BatchPredict classifies them.
    instance_count: processing instances of the predict steps, each streaming its share of the parts.
    """

    engine: Literal["processing", "emr"] = "processing"
    instance_count: int = 1


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
    monitoring: MonitoringSpec
    sklearn_framework_version: str = "1.2-1"
    model: ModelDefaults = field(default_factory=ModelDefaults)
    predict: PredictDefaults = field(default_factory=PredictDefaults)


def declared_parameters(definition: str) -> dict[str, str | int | float]:
    """Parameter name -> default value, as declared in a definition JSON built from a spec."""
    return {p["Name"]: p.get("DefaultValue") for p in json.loads(definition).get("Parameters", [])}
