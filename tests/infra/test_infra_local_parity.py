"""The local run executes the definition the stack deploys: the same JSON, but for environment-bound values.

Both definitions come from the same builder; here they are compared whole, after each value
that only a deployed stack (or only the local run) knows — bucket names, asset URIs, ARNs, IDs —
is replaced by the name of the spec field it fills. Any other difference (a step, an argument,
an instance type, a parameter default) fails the test.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from infra_support import Synth

from workflow.definition import PipelineSpec
from workflow.definition.builder import build_definition
from workflow.local.run import local_spec, publish_step_code
from workflow.local.s3 import LocalS3

# Spec fields whose values differ by nature between a deployed stack and the local run (ordered:
# a value two fields share, like the first private subnet, gets the first field's label on both sides).
ENVIRONMENT_BOUND = (
    "role_arn",
    "buckets",
    "code",
    "jobs.subnet_ids",
    "jobs.security_group_ids",
    "jobs.kms_key_id",
    "emr.log_uri",
    "emr.cluster_id",
    "emr.instance_profile_name",
    "emr.service_role_name",
    "emr.security_configuration_name",
    "emr.subnet_id",
    "emr.primary_security_group_id",
    "emr.core_security_group_id",
    "emr.service_access_security_group_id",
)


def bound_values(spec: PipelineSpec) -> dict[str, str]:
    """Each environment-bound value of `spec` -> the label of its field."""
    labels: dict[str, str] = {}

    def add(value, label: str) -> None:
        if isinstance(value, str) and value:
            labels.setdefault(value, f"<{label}>")
            if label.startswith("code."):
                # The object key (a content hash: CDK's or the local run's) also names the file in the job.
                labels[value.rsplit("/", 1)[-1]] = f"<{label} key>"
        elif isinstance(value, tuple):
            for i, item in enumerate(value):
                add(item, f"{label}[{i}]")
        elif dataclasses.is_dataclass(value):
            for field in dataclasses.fields(value):
                add(getattr(value, field.name), f"{label}.{field.name}")

    for path in ENVIRONMENT_BOUND:
        value = spec
        for part in path.split("."):
            value = getattr(value, part)
        add(value, path)
    return labels


def masked(definition: str, spec: PipelineSpec) -> dict:
    for value, label in sorted(bound_values(spec).items(), key=lambda item: -len(item[0])):  # longest first
        definition = definition.replace(value, label)
    return json.loads(definition)


@pytest.mark.parametrize("env", ["develop", "production"])
def test_local_definition_is_the_deployed_definition(synth: Synth, env: str, tmp_path) -> None:
    stack = synth.stacks[env]
    config = synth.configs[env]
    local = local_spec(config, publish_step_code(config, LocalS3(tmp_path / "s3"), tmp_path / "bundles"))
    deployed_spec = stack.pipeline.spec
    non_bound = {f.name for f in dataclasses.fields(PipelineSpec)} - {p.split(".")[0] for p in ENVIRONMENT_BOUND}
    assert {n: getattr(local, n) for n in non_bound} == {n: getattr(deployed_spec, n) for n in non_bound}
    assert masked(build_definition(local), local) == masked(stack.pipeline.definition_json, deployed_spec)
