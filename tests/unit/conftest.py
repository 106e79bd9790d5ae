"""Fixtures shared by the step tests."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline_steps import registry


@pytest.fixture
def local_registry(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """An empty local model registry and its S3 folder, as the local run gives the steps."""
    monkeypatch.setenv(registry.LOCAL_REGISTRY_ENV, str(tmp_path / "registry.json"))
    monkeypatch.setenv(registry.LOCAL_S3_ROOT_ENV, str(tmp_path / "s3"))
    return tmp_path / "registry.json", tmp_path / "s3"


@pytest.fixture(scope="session")
def original_cell() -> Callable[[str], str]:
    """docs/pipeline.md's `original_cell`, run as written there: the tests prove the documented undo."""
    page = (Path(__file__).parents[2] / "docs" / "pipeline.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?def original_cell\(.*?)```", page, re.DOTALL)
    assert code, "docs/pipeline.md lost its original_cell example"
    namespace: dict = {}
    exec(code.group(1), namespace)  # noqa: S102 - the project's own documentation
    return namespace["original_cell"]
