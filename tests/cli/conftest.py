"""Fixtures of the CLI tests: moto's server on loopback (one per session), boto3 pointed at it, and every
request checked against AWS's own contract before it is sent.

See cli_support for what the endpoint is and what it adds to moto.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import botocore.handlers
import pytest
from cli_support import LOCAL_TRAIN, MotoEndpoint, add_missing_actions, invoke, remove_added_actions
from click.testing import CliRunner

from workflow.contracts.validator import ContractError, Violation, validate_value
from workflow.local.serving import free_loopback_port


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[MotoEndpoint]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_loopback_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = MotoEndpoint(url=f"http://{host}:{port}")
    added = add_missing_actions(endpoint)
    try:
        yield endpoint
    finally:
        remove_added_actions(added)
        server.stop()


@pytest.fixture
def aws_env(moto_endpoint, monkeypatch, tmp_path) -> MotoEndpoint:
    """Point boto3 (in this process and in subprocesses) at the endpoint, with dummy credentials only."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("JOBCLF_ENV", raising=False)
    moto_endpoint.reset()
    return moto_endpoint


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(autouse=True)
def requests_within_aws_contracts(monkeypatch) -> Iterator[list[Violation]]:
    """Every request a boto3 client of this process sends (the CLI's, and the tests' seeding), checked against
    its operation's input shape with every constraint botocore's model states (workflow.contracts), patterns
    included, which moto and botocore's own validation do not check. A violation fails the call and the test.

    The handler joins botocore's built-in handlers, which every new botocore session registers (the CLI makes
    its own sessions), on `before-parameter-build`: after botocore fills idempotency tokens, before it
    serializes. A CLI run in a subprocess is not covered (the CLI tests invoke it in-process)."""
    found: list[Violation] = []

    def check(params, model, **_kwargs) -> None:
        violations = validate_value(model.input_shape, params, model.name) if model.input_shape else []
        if violations:
            found.extend(violations)
            raise ContractError(f"{model.service_model.service_name} {model.name}", violations)

    monkeypatch.setattr(
        botocore.handlers, "BUILTIN_HANDLERS", [*botocore.handlers.BUILTIN_HANDLERS, ("before-parameter-build", check)]
    )
    yield found
    assert [str(v) for v in found] == [], "a request AWS would refuse"


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> tuple[Path, object]:
    """One local train run for the session (`jobclf executions start --local ... --use-type train`): its work dir
    and the CLI's result."""
    work_dir = tmp_path_factory.mktemp("cli-local") / "work"
    return work_dir, invoke(CliRunner(), *LOCAL_TRAIN, "--work-dir", str(work_dir))


@pytest.fixture
def work_copy(trained, tmp_path) -> Path:
    """A copy of the trained work dir, for a test that changes it."""
    work_dir, result = trained
    assert result.exit_code == 0, result.output
    copy = tmp_path / "work"
    shutil.copytree(work_dir, copy)
    return copy


@pytest.fixture
def aws_requests(monkeypatch) -> list[tuple[str, str, dict]]:
    """Every AWS request this process's boto3 clients send during the test: (service, operation, parameters as
    the caller gave them), for checks against AWS's contracts (test_aws_contracts.py)."""
    import copy

    import botocore.client

    recorded: list[tuple[str, str, dict]] = []
    original = botocore.client.BaseClient._make_api_call

    def recording(client, operation_name, api_params):
        recorded.append((client.meta.service_model.service_name, operation_name, copy.deepcopy(api_params)))
        return original(client, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)
    return recorded
