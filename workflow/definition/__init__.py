"""Builds the SageMaker pipeline definition from plain values; used by the stack and the local run alike."""

from workflow.definition.builder import build_definition, declared_parameters
from workflow.definition.bundles import StepBundles, build_step_bundles
from workflow.definition.spec import (
    Buckets,
    EmrSpec,
    JobSpec,
    ModelDefaults,
    PipelineSpec,
    StepCode,
)

__all__ = [
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
