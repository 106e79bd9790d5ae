"""Builds the SageMaker pipeline definition from plain values; used by the stack and the local run alike.

The builder (`workflow.definition.builder`: `build_definition`; `offline_sdk.sklearn_image_uri`) and
its modules (`parameters`, `steps`) import the `sagemaker` SDK, so they are not imported here: a synth
whose definitions are cached (`workflow.definition.cache`) never loads the SDK.
"""

import logging
import os

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

# Set when the package is imported, before any of its modules imports the SDK (none of those imported
# above does). At import the SDK prints a v2 deprecation banner and creates a JumpStart session whose
# credential lookup, with no AWS credentials, ends at the EC2 instance metadata endpoint (a network
# call). Building a definition never needs instance credentials.
os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
# The SDK logs, at INFO and WARNING, choices we make on purpose (no SDK config file, job names left to
# execution time); only its errors are news at synth time. Set before import: it logs then.
for _logger in ("sagemaker", "sagemaker.config", "sagemaker.workflow"):
    logging.getLogger(_logger).setLevel(logging.ERROR)

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
