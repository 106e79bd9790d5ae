"""Helpers shared by the infrastructure tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import aws_cdk as cdk
    from aws_cdk import cx_api

    from config import EnvironmentConfig
    from stacks import JobClfStack

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ASSET_HASH = re.compile(r"[0-9a-f]{64}")
# The alarm e-mail of the "standing" variant (conftest.variant_configs); the alerts tests look for it.
ALARM_EMAIL = "ml-oncall@example.com"


class NetworkAttempt(RuntimeError):
    """Raised by the guard: the synth tried to reach the network or AWS."""


@dataclass
class NetworkGuard:
    """Records (and refuses) every connection and AWS API call made while active."""

    attempts: list[str] = field(default_factory=list)

    def refuse(self, what: str) -> None:
        self.attempts.append(what)
        raise NetworkAttempt(f"synth must be offline, but it tried: {what}")


@contextlib.contextmanager
def offline() -> Iterator[NetworkGuard]:
    """No AWS identity, no sockets, no AWS API calls: every attempt raises and is recorded.

    Active only inside the `with` block (the synth), so other tests of the session keep their sockets.
    """
    import botocore.client

    guard = NetworkGuard()

    def connect(sock: socket.socket, address: Any, *args: Any, **kwargs: Any) -> None:
        guard.refuse(f"socket connect to {address!r}")

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> None:
        guard.refuse(f"socket.create_connection to {address!r}")

    def make_api_call(client: Any, operation_name: str, api_params: Any) -> None:
        guard.refuse(f"AWS API call {client.meta.service_model.service_name}.{operation_name}")

    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("AWS_") or name in {"CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION"}:
                patch.delenv(name)
        patch.setenv("AWS_CONFIG_FILE", os.devnull)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket.socket, "connect_ex", connect)
        patch.setattr(socket, "create_connection", create_connection)
        patch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)
        yield guard


def cdk_context() -> dict[str, Any]:
    """The context `cdk synth` gives the app: cdk.json's (feature flags) with version reporting off."""
    context = dict(json.loads((PROJECT_ROOT / "cdk.json").read_text(encoding="utf-8"))["context"])
    context["aws:cdk:version-reporting"] = False  # what the CLI passes for cdk.json's "versionReporting": false
    return context


@dataclass
class Synth:
    """A synthesized app: its stacks by environment name, their templates, and the guard it ran under."""

    app: cdk.App
    assembly: cx_api.CloudAssembly
    configs: dict[str, EnvironmentConfig]
    stacks: dict[str, JobClfStack]
    templates: dict[str, dict]
    guard: NetworkGuard
    seconds: float

    def template_path(self, name: str) -> Path:
        artifact = self.assembly.get_stack_by_name(self.stacks[name].stack_name)
        return Path(self.assembly.directory) / artifact.template_file


def synthesize(configs: dict[str, EnvironmentConfig], outdir: Path) -> Synth:
    """Build the app (stacks + cdk-nag packs) and synthesize it offline; nag findings fail the synth."""
    import time

    with offline() as guard:
        from app import build_app

        started = time.perf_counter()
        app = build_app(configs, context=cdk_context(), outdir=str(outdir))
        assembly = app.synth()
        seconds = time.perf_counter() - started
    stacks = {name: app.node.find_child(config.stack_name) for name, config in configs.items()}
    templates = {name: assembly.get_stack_by_name(stack.stack_name).template for name, stack in stacks.items()}
    return Synth(
        app=app, assembly=assembly, configs=configs, stacks=stacks, templates=templates, guard=guard, seconds=seconds
    )


# IAM statement lists that minimizePolicies sorts by their real text (so by asset hash).
_SORTED_POLICY_LISTS = {"Action", "NotAction", "Resource", "NotResource"}


def _canonical(value: Any, key: str | None = None, in_condition: bool = False) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(v, k, in_condition or k == "Condition") for k, v in value.items()}
    if isinstance(value, list):
        items = [_canonical(v, None, in_condition) for v in value]
        if key in _SORTED_POLICY_LISTS or in_condition:
            items.sort(key=lambda item: json.dumps(item, sort_keys=True))
        return items
    return value


def mask_asset_hashes(value: Any, names: dict[str, str] | None = None) -> Any:
    """`value` (JSON data) with every 64-hex asset hash replaced by a stable marker.

    `names` maps known hashes to readable names (`<asset:StepsArchive>`); any other hash (e.g. a
    CDK-provided Lambda's) becomes `<asset-hash>`. IAM lists sorted by the real hashes are
    re-sorted after masking, so a change of step code changes no snapshot.
    """
    names = names or {}
    text = ASSET_HASH.sub(
        lambda m: f"<asset:{names[m.group(0)]}>" if m.group(0) in names else "<asset-hash>", json.dumps(value)
    )
    return _canonical(json.loads(text))


def asset_names(stack: JobClfStack) -> dict[str, str]:
    """Asset hash -> construct id of the stack's step-code assets."""
    return {asset.asset_hash: asset.node.id for asset in stack.code.all}


def all_steps(steps: list[dict]) -> list[dict]:
    """Every step, including those nested in condition steps' branches."""
    found = []
    for step in steps:
        found.append(step)
        if step["Type"] == "Condition":
            found += all_steps(step["Arguments"].get("IfSteps", []))
            found += all_steps(step["Arguments"].get("ElseSteps", []))
    return found
