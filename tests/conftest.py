"""Shared pytest fixtures."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from config import EnvironmentConfig

# infra_support (tests/infra/) synthesizes the app; tests/infra/ and tests/runtime/ share its synth.
from infra_support import Synth, synthesize

import jsii_node

# Before any test imports aws_cdk: jsii runs on the project's maintained Node, as under make and npx.
jsii_node.prepare()


@pytest.fixture(scope="session")
def configs() -> dict[str, EnvironmentConfig]:
    from config import load_all

    return load_all()


@pytest.fixture(scope="session")
def synth(configs: dict[str, EnvironmentConfig], tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Every configured environment (develop, production), synthesized once for the session, offline.

    The synth runs under `infra_support.offline()`: AWS credentials and config files hidden, any socket
    connection or AWS API call refused and recorded. The app gets the context (feature flags) `cdk synth`
    reads from cdk.json, and the cdk-nag packs (AwsSolutions, NIST 800-53 rev 5), so a nag finding fails it.
    """
    return synthesize(configs, tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """One local SparkSession for the whole test session: starting Spark costs seconds."""
    # Imported here so that test runs without Spark tests do not pay for loading pyspark.
    from pyspark.sql import SparkSession

    # Workers must run the same interpreter as the tests, not whatever `python3` is first on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[1]")
        .appName("jobclf-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def original_cell() -> Callable[[str], str]:
    """docs/pipeline.md's `original_cell`, run as written there: the tests prove the documented undo."""
    page = (Path(__file__).parents[1] / "docs" / "pipeline.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?def original_cell\(.*?)```", page, re.DOTALL)
    assert code, "docs/pipeline.md lost its original_cell example"
    namespace: dict = {}
    exec(code.group(1), namespace)  # noqa: S102 - the project's own documentation
    return namespace["original_cell"]
