"""Session fixtures: the CDK app of every environment, synthesized ONCE per session, offline.

Each synth runs under `infra_support.offline()`: AWS credentials and config files hidden, any
socket connection or AWS API call refused and recorded. The app gets the same context (feature
flags) as `cdk synth` reads from cdk.json, and the cdk-nag packs (AwsSolutions, NIST 800-53 rev 5), so a
nag finding fails it.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from infra_support import Synth, synthesize  # noqa: E402

from config import EnvironmentConfig, NetworkConfig, load_all  # noqa: E402

ALARM_EMAIL = "ml-oncall@example.com"
EXISTING_VPC = NetworkConfig(
    vpc_id="vpc-0123456789abcdef0",
    private_subnet_ids=("subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"),
)


@pytest.fixture(scope="session")
def configs() -> dict[str, EnvironmentConfig]:
    return load_all()


@pytest.fixture(scope="session")
def synth(configs: dict[str, EnvironmentConfig], tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Every configured environment (develop, production), synthesized once for the session."""
    return synthesize(configs, tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def variant_configs(configs: dict[str, EnvironmentConfig]) -> dict[str, EnvironmentConfig]:
    """Variants of develop: a standing EMR cluster in a given account, with an alarm e-mail; the stack in an
    existing VPC (by ID)."""
    develop = configs["develop"]
    return {
        # With a concrete account too: zones and everything else must still need no lookup.
        "standing": dataclasses.replace(
            develop,
            name="standing",
            account="123456789012",
            emr=dataclasses.replace(develop.emr, cluster_mode="standing"),
            alarm_email=ALARM_EMAIL,
        ),
        "existingvpc": dataclasses.replace(develop, name="existingvpc", network=EXISTING_VPC),
    }


@pytest.fixture(scope="session")
def variant_synth(variant_configs: dict[str, EnvironmentConfig], tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The variants, synthesized once for the session (their own app, so the environments' stay as deployed)."""
    return synthesize(variant_configs, tmp_path_factory.mktemp("cdk.out-variants"))
