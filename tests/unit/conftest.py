"""Fixtures shared by the step tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_steps import registry


@pytest.fixture
def local_registry(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """An empty local model registry and its S3 folder, as the local run gives the steps."""
    monkeypatch.setenv(registry.LOCAL_REGISTRY_ENV, str(tmp_path / "registry.json"))
    monkeypatch.setenv(registry.LOCAL_S3_ROOT_ENV, str(tmp_path / "s3"))
    return tmp_path / "registry.json", tmp_path / "s3"
