"""Snapshots: each stack's template and each environment's pipeline definition, as reviewable JSON diffs.

Asset hashes are masked (they follow the step code); the pipeline definition body in the template
is replaced by a marker because the definition has its own, readable snapshot (tokens as fakes).
Update with `pytest tests/infra --snapshot-update` after reviewing the diff.
"""

from __future__ import annotations

import copy

import pytest
from infra_support import Synth, asset_names, mask_asset_hashes
from syrupy.extensions.json import JSONSnapshotExtension

DEFINITION_MARKER = "<pipeline definition: see the definition snapshot>"


@pytest.fixture
def json_snapshot(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


def reviewable_template(synth: Synth, name: str) -> dict:
    template = copy.deepcopy(synth.templates[name])
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::SageMaker::Pipeline":
            resource["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"] = DEFINITION_MARKER
    return mask_asset_hashes(template, asset_names(synth.stacks[name]))


@pytest.mark.parametrize("env", ["develop", "production"])
def test_template(synth: Synth, env: str, json_snapshot) -> None:
    assert reviewable_template(synth, env) == json_snapshot


@pytest.mark.parametrize("env", ["develop", "production"])
def test_pipeline_definition(synth: Synth, env: str, json_snapshot) -> None:
    stack = synth.stacks[env]
    assert mask_asset_hashes(stack.pipeline.fake_definition(), asset_names(stack)) == json_snapshot


def test_standing_cluster_template(variant_synth: Synth, json_snapshot) -> None:
    assert reviewable_template(variant_synth, "standing") == json_snapshot
