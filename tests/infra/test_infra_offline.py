"""Synth is hermetic: it ran under the no-network guard, and the guard really refuses."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import boto3
import pytest
from infra_support import NetworkAttempt, Synth, offline


def test_synth_of_both_environments_made_no_network_attempt(synth: Synth) -> None:
    assert set(synth.stacks) == {"develop", "production"}
    assert synth.guard.attempts == []
    print(f"\nsynth of {', '.join(synth.stacks)}: {synth.seconds:.1f}s")


def test_synth_of_the_variants_made_no_network_attempt(variant_synth: Synth) -> None:
    assert variant_synth.guard.attempts == []


def test_the_guard_refuses_sockets_and_aws_calls() -> None:
    with offline() as guard:
        with pytest.raises(NetworkAttempt):
            socket.create_connection(("pypi.org", 443), timeout=1)
        with pytest.raises(NetworkAttempt):
            socket.socket().connect(("169.254.169.254", 80))
        client = boto3.client("sts", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
        with pytest.raises(NetworkAttempt):
            client.get_caller_identity()
    assert len(guard.attempts) == 3


@pytest.mark.parametrize("env", ["develop", "production"])
def test_no_unresolved_token_reaches_a_template(synth: Synth, env: str) -> None:
    text = json.dumps(synth.templates[env])
    assert "${Token[" not in text
    assert "jobclf-token-" not in text


@pytest.mark.parametrize("which", ["synth", "variant_synth"])
def test_synth_needs_no_context_lookup(which: str, request: pytest.FixtureRequest) -> None:
    """No `from_lookup`, no availability-zone lookup (even with a concrete account): `cdk synth` stays offline."""
    synth: Synth = request.getfixturevalue(which)
    manifest = json.loads((Path(synth.assembly.directory) / "manifest.json").read_text(encoding="utf-8"))
    assert manifest.get("missing", []) == []
    assert synth.configs.get("standing") is None or synth.configs["standing"].account == "123456789012"
