"""What the steps and everything around them (the definition builder, the stack's IAM and lifecycle
rules, the local run, the CLI) agree on, written once.

This is container code, at the bottom of the import graph: the steps import it, and so do
`workflow/` and `stacks/`, so a prefix or a JSON path cannot drift between the writer and its readers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import date, datetime, timezone
from typing import Any, Optional

# --- Where the pipeline puts things in the environment's buckets ------------------------------
EXECUTIONS_PREFIX = "executions/"  # processed bucket: per-execution intermediate data (expires)
EMR_LOG_PREFIX = "emr-logs/"  # processed bucket: EMR cluster logs (expire)
MODEL_ARTIFACTS_PREFIX = "training/"  # models bucket: training jobs' model.tar.gz
EVALUATIONS_PREFIX = "evaluations/"  # models bucket: evaluation reports, kept with the models they judge
PREDICTIONS_PREFIX = "predictions/"  # predictions bucket: execution_date=YYYY-MM-DD/execution_id=<id>/
ONET_INPUT_PREFIX = "onet/"  # raw bucket: the O*NET tables
TITLES_INPUT_PREFIX = "titles/"  # raw bucket: titles to classify

# --- The pipeline's branch and predict-engine choices: the use_type and predict_engine parameters' allowed
# values, which the config, the definition, the local run and the CLI all offer.
USE_TYPES = ("train", "predict")
PROCESSING_ENGINE = "processing"  # a SageMaker processing job prepares the titles
EMR_ENGINE = "emr"  # the titles ETL on EMR prepares them
PREDICT_ENGINES = (PROCESSING_ENGINE, EMR_ENGINE)

# --- A rejection reason of both the O*NET ETL and the predict steps: a row whose number of fields is
# not its header's (for the ETL: more than the header's, or, in .txt, fewer).
WRONG_FIELD_COUNT = "wrong_field_count"

# --- The evaluation report: written by the evaluate step, read by the quality gate (JsonGet) and
# by the model registry look-ups. Paths are dot-separated keys, as SageMaker's JsonGet takes them.
EVALUATION_FILE = "evaluation.json"
METRICS_KEY = "multiclass_classification_metrics"  # SageMaker's model-quality section for this problem type
# The model-quality section holds the unseen-occupation figure: the one the quality gate judges.
UNSEEN_OCCUPATIONS_MACRO_F1_PATH = f"{METRICS_KEY}.macro_f1.value"
BASELINE_MACRO_F1_PATH = "baseline.macro_f1"
# The two quality figures, both of held-out models (evaluate.py): `figures.<name>.macro_f1` etc.
FIGURES_KEY = "figures"
UNSEEN_TITLES = "unseen_titles"  # of known occupations: the headline
UNSEEN_OCCUPATIONS = "unseen_occupations"  # the stress figure, the quality gate's
UNSEEN_TITLES_MACRO_F1_PATH = f"{FIGURES_KEY}.{UNSEEN_TITLES}.macro_f1"
# The quality gate's verdict, computed by the evaluate step: RegisterModel takes the model's approval
# status from it (a model that misses the gate is registered Rejected, with the reason in its metadata).
APPROVED = "Approved"
REJECTED = "Rejected"
MODEL_APPROVAL_STATUSES = (APPROVED, "PendingManualApproval", REJECTED)  # CreateModelPackage's enum
QUALITY_GATE_KEY = "quality_gate"
GATE_APPROVAL_STATUS_PATH = f"{QUALITY_GATE_KEY}.approval_status"
GATE_REASON_PATH = f"{QUALITY_GATE_KEY}.reason"


def value_at(document: Any, json_path: str) -> Any:
    """The value at a dot-separated path of a JSON document; KeyError names the first missing key."""
    value = document
    for key in json_path.split("."):
        if not isinstance(value, dict) or key not in value:
            raise KeyError(f"{json_path}: no {key!r}")
        value = value[key]
    return value


# --- The prediction report of a predict execution (prediction_report.py): BatchPredict's instances write
# their parts to the execution's intermediate folder, PredictionReport merges them and writes the report
# and its chart beside the predictions (PREDICTIONS_PREFIX/execution_date=<date>/execution_id=<id>/).
PREDICTION_REPORT_PARTS = "prediction-report-parts"  # processed bucket: EXECUTIONS_PREFIX/<id>/<this>/
PREDICTION_REPORT_FILE = "prediction-report.json"
PREDICTION_REPORT_CHART = "prediction-report.png"
PREDICTION_REPORT_FORMAT = "jobclf-prediction-report/1"  # the report's "format"

# --- Its figures as CloudWatch metrics: one namespace per environment, read by the stack's alarms and
# by the pipeline role's namespace-scoped PutMetricData permission. No dimension but on the per-reason
# and per-path shares, so an alarm names a metric by its name alone.
METRICS_NAMESPACE_PREFIX = "JobClf/"
METRIC_INPUT_ROWS = "InputRows"
METRIC_PREDICTED_ROWS = "PredictedRows"
METRIC_REJECTED_ROWS = "RejectedRows"
METRIC_REJECTED_SHARE = "RejectedShare"  # of the input rows; also per reason, with REASON_DIMENSION
METRIC_LOW_CONFIDENCE_SHARE = "LowConfidenceShare"  # of the predicted rows
METRIC_NO_KNOWN_WORD_SHARE = "NoKnownWordShare"  # of the predicted rows
METRIC_ANSWERED_SHARE = "AnsweredShare"  # of the predicted rows, per path (PATH_DIMENSION)
METRIC_POPULATION_STABILITY_INDEX = "PopulationStabilityIndex"
METRIC_JENSEN_SHANNON_DISTANCE = "JensenShannonDistance"
REASON_DIMENSION = "Reason"
PATH_DIMENSION = "AnsweredBy"


@dataclass(frozen=True)
class PredictionReportLimits:
    """When a figure of the prediction report is judged, and its maximum: config `monitoring`, which the definition
    passes to the PredictionReport step as its options (`arguments`; prediction_report.parse_args reads them)."""

    min_rows_for_shares: int
    min_rows_for_drift: int
    max_rejected_share: float
    max_low_confidence_share: float
    max_no_known_word_share: float
    max_population_stability_index: float
    max_jensen_shannon_distance: float

    @classmethod
    def of(cls, settings: Any) -> PredictionReportLimits:
        """The limits of anything with attributes of the same names (config's MonitoringConfig)."""
        return cls(**{limit.name: getattr(settings, limit.name) for limit in fields(cls)})

    def arguments(self) -> list[str]:
        """These limits as the step's options (the definition passes them; parse_args reads them back)."""
        return [
            argument
            for limit in fields(self)
            for argument in (limit_option(limit.name), str(getattr(self, limit.name)))
        ]

    def __post_init__(self) -> None:
        for name in ("min_rows_for_shares", "min_rows_for_drift"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in (
            "max_rejected_share",
            "max_low_confidence_share",
            "max_no_known_word_share",
            "max_jensen_shannon_distance",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be from 0 to 1, got {getattr(self, name)}")
        if not self.max_population_stability_index >= 0.0:
            raise ValueError(
                f"max_population_stability_index must be at least 0, got {self.max_population_stability_index}"
            )


def limit_option(limit_name: str) -> str:
    """min_rows_for_drift -> --min-rows-for-drift."""
    return f"--{limit_name.replace('_', '-')}"


def prediction_folder(date_text: str, execution: str) -> str:
    """An execution's folder under PREDICTIONS_PREFIX: partitioned by date, then keyed by execution."""
    return f"execution_date={date_text}/execution_id={execution}"


def metrics_namespace(environment: str) -> str:
    """The CloudWatch namespace of an environment's prediction figures, e.g. JobClf/develop."""
    return f"{METRICS_NAMESPACE_PREFIX}{environment}"


# --- The execution_date parameter: the predictions' date partition. SageMaker cannot check a date in a
# condition, so the first step of each predict path checks it before reading anything.
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def execution_date(value: Optional[str], today: Optional[date] = None) -> str:
    """The partition date: `value` if it is a real YYYY-MM-DD date, today's UTC date if empty."""
    text = (value or "").strip()
    if not text:
        return (today or datetime.now(timezone.utc).date()).isoformat()
    if not _DATE.fullmatch(text):
        raise ValueError(f"execution date must be YYYY-MM-DD or empty, got {value!r}")
    try:
        return datetime.strptime(text, "%Y-%m-%d").date().isoformat()
    except ValueError as error:
        raise ValueError(f"execution date {value!r} is not a calendar date: {error}") from error
