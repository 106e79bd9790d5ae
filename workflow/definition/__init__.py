"""Builds the SageMaker pipeline definition from plain values; used by the stack and the local run alike."""

from workflow.definition.builder import build_definition, declared_parameters
from workflow.definition.bundles import StepBundles, build_step_bundles
from workflow.definition.spec import (
    EVALUATIONS_PREFIX,
    EXECUTIONS_PREFIX,
    MODEL_ARTIFACTS_PREFIX,
    ONET_INPUT_PREFIX,
    PREDICTIONS_PREFIX,
    TITLES_INPUT_PREFIX,
    Buckets,
    EmrSpec,
    JobSpec,
    ModelDefaults,
    PipelineSpec,
    StepCode,
)

__all__ = [
    "EVALUATIONS_PREFIX",
    "EXECUTIONS_PREFIX",
    "MODEL_ARTIFACTS_PREFIX",
    "ONET_INPUT_PREFIX",
    "PREDICTIONS_PREFIX",
    "TITLES_INPUT_PREFIX",
    "Buckets",
    "EmrSpec",
    "JobSpec",
    "ModelDefaults",
    "PipelineSpec",
    "StepBundles",
    "StepCode",
    "build_definition",
    "build_step_bundles",
    "declared_parameters",
]
