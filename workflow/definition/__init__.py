"""Builds the SageMaker pipeline definition from plain values; used by the stack and the local run alike.

The builder (`workflow.definition.builder`: `build_definition`, `sklearn_image_uri`) imports the
`sagemaker` SDK, so it is not imported here: a synth whose definitions are cached
(`workflow.definition.cache`) never loads the SDK.
"""

from workflow.definition.bundles import StepBundles, build_step_bundles
from workflow.definition.cache import DefinitionCache
from workflow.definition.environment import EmrResources, StackResources, pipeline_spec
from workflow.definition.spec import (
    Buckets,
    EmrSpec,
    JobSpec,
    ModelDefaults,
    PipelineSpec,
    PredictDefaults,
    StepCode,
    declared_parameters,
)

__all__ = [
    "Buckets",
    "DefinitionCache",
    "EmrResources",
    "EmrSpec",
    "JobSpec",
    "ModelDefaults",
    "PipelineSpec",
    "PredictDefaults",
    "StackResources",
    "StepBundles",
    "StepCode",
    "build_step_bundles",
    "declared_parameters",
    "pipeline_spec",
]
