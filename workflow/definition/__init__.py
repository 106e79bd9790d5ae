"""Builds the SageMaker pipeline definition from plain values; used by the stack and the local run alike."""

from workflow.definition.builder import build_definition, declared_parameters, sklearn_image_uri
from workflow.definition.bundles import StepBundles, build_step_bundles
from workflow.definition.environment import EmrResources, StackResources, pipeline_spec
from workflow.definition.spec import (
    Buckets,
    EmrSpec,
    JobSpec,
    ModelDefaults,
    PipelineSpec,
    PredictDefaults,
    StepCode,
)

__all__ = [
    "Buckets",
    "EmrResources",
    "EmrSpec",
    "JobSpec",
    "ModelDefaults",
    "PipelineSpec",
    "PredictDefaults",
    "StackResources",
    "StepBundles",
    "StepCode",
    "build_definition",
    "build_step_bundles",
    "declared_parameters",
    "pipeline_spec",
    "sklearn_image_uri",
]
