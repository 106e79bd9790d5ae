"""Session fixtures: variants of the environments, synthesized once per session, offline.

`configs` and `synth` (every environment) are in tests/conftest.py: tests/runtime/ shares them.
"""

from __future__ import annotations

import dataclasses

import pytest
from infra_support import ALARM_EMAIL, Synth, synthesize

from config import EnvironmentConfig

EXISTING_VPC = {
    "vpc_id": "vpc-0123456789abcdef0",
    "private_subnet_ids": ("subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"),
}


@pytest.fixture(scope="session")
def variant_configs(configs: dict[str, EnvironmentConfig]) -> dict[str, EnvironmentConfig]:
    """Variants of develop: a standing EMR cluster in a given account, with an alarm e-mail and a provisioned
    endpoint on two instances; the stack in an existing VPC (by ID)."""
    develop = configs["develop"]
    return {
        # With a concrete account too: zones and everything else must still need no lookup.
        "standing": dataclasses.replace(
            develop,
            name="standing",
            account="123456789012",
            emr=dataclasses.replace(develop.emr, cluster_mode="standing"),
            alarm_email=ALARM_EMAIL,
            endpoint=dataclasses.replace(develop.endpoint, type="provisioned", instance_count=2),
        ),
        "existingvpc": dataclasses.replace(
            develop, name="existingvpc", network=dataclasses.replace(develop.network, **EXISTING_VPC)
        ),
    }


@pytest.fixture(scope="session")
def variant_synth(variant_configs: dict[str, EnvironmentConfig], tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The variants, synthesized once for the session (their own app, so the environments' stay as deployed)."""
    return synthesize(variant_configs, tmp_path_factory.mktemp("cdk.out-variants"))
