"""Fixtures of the CLI tests: moto's server on loopback (one per session), boto3 pointed at it.

See cli_support for what the endpoint is and what it adds to moto.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from cli_support import MotoEndpoint, add_missing_actions, free_port
from click.testing import CliRunner


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[MotoEndpoint]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = MotoEndpoint(url=f"http://{host}:{port}")
    added = add_missing_actions(endpoint)
    try:
        yield endpoint
    finally:
        from moto.sagemaker.responses import SageMakerResponse

        for name in added:
            delattr(SageMakerResponse, name)
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
