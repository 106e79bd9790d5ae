"""Both synthesized definitions against AWS's published pipeline-definition JSON schema, deviation by deviation.

AWS publishes the schema in aws-sagemaker-mlops/sagemaker-model-building-pipeline-definition-JSON-schema
(the CreatePipeline API reference links it). The repository states no license, so no copy is committed:
the test reads the file that JOBCLF_PIPELINE_SCHEMA names, checks that it is the pinned version
(`schema/pipeline-definition.schema.json` at commit b4012b0aa4474afdc6ef3d0409d17d0049dfcd85,
2025-04-03) and is skipped, saying so, when the variable is unset.

The schema is stale against what the sagemaker SDK writes and SageMaker accepts: every deviation
is listed in DEVIATIONS with what the schema lacks. An error no entry explains fails the test, and so does
an entry that no longer matches any error (the definition or the schema changed: look again).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
from pathlib import Path

import pytest
from contract_support import DeployedApp
from infra_support import Synth

from workflow.contracts.pipeline import walk_steps

SCHEMA_SHA256 = "35633f4376dda695d1847bd16d72d3b3d9201f0106e75107eafbeef11ef5ce30"
SCHEMA_SOURCE = (
    "https://github.com/aws-sagemaker-mlops/sagemaker-model-building-pipeline-definition-JSON-schema/blob/"
    "b4012b0aa4474afdc6ef3d0409d17d0049dfcd85/schema/pipeline-definition.schema.json"
)

# (what, path glob, the value there) -> what the schema lacks. `what` is a step type, "Parameter" or
# "definition"; the value is the expression function the value is, or "-".
DEVIATIONS: dict[tuple[str, str, str], str] = {
    (
        "definition",
        "",
        "-",
    ): "no PipelineExperimentConfig, which the SDK writes by default (experiment = pipeline name, trial = execution id)",
    ("Parameter", "", "-"): "no EnumValues on a String parameter (the SDK's ParameterString(enum_values=...))",
    (
        "Condition",
        "Arguments/Conditions/*/*",
        "Std:JsonGet",
    ): "no Std:JsonGet LeftValue or RightValue of a condition (the developer guide's own Condition example compares a JsonGet)",
    (
        "EMR",
        "Arguments",
        "-",
    ): "no ClusterConfig (the SDK's EMRStep cluster_config, a transient cluster), and ClusterId required",
    (
        "EMR",
        "Arguments/StepConfig",
        "-",
    ): "StepConfig.Name required, although SageMaker sets it (the SDK: 'The Name attribute in AddJobFlowSteps cannot be passed')",
    (
        "*",
        "*",
        "Std:Join",
    ): "Std:Join only where the schema allows it: not in EMR Args, ContainerArguments, S3Uri, HyperParameters, a Fail step's ErrorMessage or ModelMetrics, where the SDK writes it",
    ("Processing", "", "-"): "no PropertyFiles on a processing step (what Std:JsonGet reads)",
    (
        "Processing",
        "Arguments/Processing*/*",
        "-",
    ): "no AppManaged on ProcessingInputs and Outputs (the SDK writes it, CreateProcessingJob takes it)",
    (
        "*",
        "RetryPolicies/*/ExceptionType",
        "-",
    ): "ExceptionType a string, where SageMaker and the SDK use a list of exception types",
    (
        "RegisterModel",
        "Arguments",
        "-",
    ): "no CustomerMetadataProperties, ModelApprovalStatus or SkipModelValidation (CreateModelPackage members)",
    ("RegisterModel", "Arguments/InferenceSpecification/Containers/*", "-"): "no Environment on an inference container",
    (
        "Training",
        "Arguments",
        "-",
    ): "no ProfilerConfig (a CreateTrainingJob member; the SDK writes it to turn the profiler off)",
}


@pytest.fixture(scope="module")
def schema() -> dict:
    location = os.environ.get("JOBCLF_PIPELINE_SCHEMA")
    if not location:
        pytest.skip(
            f"set JOBCLF_PIPELINE_SCHEMA to a copy of {SCHEMA_SOURCE} (not committed: the repository has no license)"
        )
    data = Path(location).read_bytes()
    assert hashlib.sha256(data).hexdigest() == SCHEMA_SHA256, f"{location} is not the pinned schema {SCHEMA_SOURCE}"
    return json.loads(data)


def _leaf_errors(schema: dict, instance, reference: str):
    import jsonschema

    validator = jsonschema.Draft7Validator(
        {**schema, "$ref": reference, "required": []} if reference else {**schema, "required": []}
    )
    stack = list(validator.iter_errors(instance))
    while stack:
        error = stack.pop()
        if error.context:  # oneOf/anyOf: the errors of the alternative that got furthest
            branches: dict[object, list] = {}
            for sub in error.context:
                branches.setdefault(sub.relative_schema_path[0], []).append(sub)
            stack += max(branches.values(), key=lambda b: (min(len(e.absolute_path) for e in b), -len(b)))
        else:
            yield error


def _value_kind(value) -> str:
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)).startswith("Std:"):
        return next(iter(value))
    return "-"


def schema_errors(schema: dict, definition: dict) -> set[tuple[str, str, str, str]]:
    """(what, path with indices as *, value kind, message) of each leaf error; each step checked on its own
    (a condition step without its branches), so a oneOf over step types does not hide the real error."""
    found = set()
    checked = [("definition", {k: v for k, v in definition.items() if k not in ("Steps", "Parameters")}, "")]
    checked += [("Parameter", p, f"#/definitions/{p['Type']}Parameter") for p in definition["Parameters"]]
    for _, step in walk_steps(definition["Steps"]):
        step = json.loads(json.dumps(step))
        if step["Type"] == "Condition":
            step["Arguments"]["IfSteps"], step["Arguments"]["ElseSteps"] = [], []
        checked.append((step["Type"], step, f"#/definitions/{step['Type']}Step"))
    for what, instance, reference in checked:
        for error in _leaf_errors(schema, instance, reference):
            path = "/".join(re.sub(r"^\d+$", "*", str(part)) for part in error.absolute_path)
            path = re.sub(r"^(Arguments/HyperParameters)/.*", r"\1/*", path)
            found.add((what, path, _value_kind(error.instance), error.message[:160]))
    return found


def deviation_of(error: tuple[str, str, str, str]) -> tuple[str, str, str] | None:
    what, path, kind, _ = error
    for key in DEVIATIONS:
        if fnmatch.fnmatchcase(what, key[0]) and fnmatch.fnmatchcase(path, key[1]) and key[2] in (kind, "*"):
            return key
    return None


def test_the_definitions_deviate_from_the_published_schema_only_where_it_is_stale(schema: dict, synth: Synth) -> None:
    used: set[tuple[str, str, str]] = set()
    unexplained = []
    for env in ("develop", "production"):
        app = DeployedApp.of(synth.templates[env], env, synth.configs[env].region)
        for error in sorted(schema_errors(schema, app.definition)):
            key = deviation_of(error)
            if key is None:
                unexplained.append(f"{env}: {error}")
            used.add(key)
    assert unexplained == []
    assert sorted(set(DEVIATIONS) - used) == [], "listed deviations that no longer occur"
