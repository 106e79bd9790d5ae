"""The documentation site builds with `mkdocs build --strict`, and its generated parts match the code.

What this cannot prove: that the prose is right, or how the Mermaid diagram renders (its script
comes from a CDN at view time; the build only emits its source).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import typing
from html import unescape
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(target)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return target


def text_of(site: Path, page: str) -> str:
    html = (site / page / "index.html").read_text(encoding="utf-8") if page else (site / "index.html").read_text()
    return unescape(re.sub(r"<[^>]+>", "", html))


def leaf_keys(cls: type, prefix: str = "") -> list[str]:
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        annotation = hints[f.name]
        if dataclasses.is_dataclass(annotation):
            keys += leaf_keys(annotation, f"{prefix}{f.name}.")
        elif f.name not in ("name", "schedules"):
            keys.append(f"{prefix}{f.name}")
    return keys


def test_every_page_of_the_nav_is_built(site):
    for page in (
        "",
        "quickstart",
        "configuration",
        "deploying",
        "pipeline",
        "operating",
        "model",
        "cost",
        "security",
        "troubleshooting",
    ):
        assert (site / page / "index.html").is_file(), page


def test_the_configuration_reference_lists_every_key_of_the_schema(site):
    from config.settings import EnvironmentConfig, ScheduleConfig

    text = text_of(site, "configuration")
    for key in leaf_keys(EnvironmentConfig):
        assert key in text, key
    for f in dataclasses.fields(ScheduleConfig):
        assert f.name in text
    assert "weekly-train" in text and "daily-predict" in text


def test_the_pipeline_page_lists_every_declared_parameter_and_step(site):
    text = text_of(site, "pipeline")
    for name in (
        "use_type",
        "onet_input_uri",
        "input_titles_uri",
        "split_seed",
        "min_macro_f1",
        "model_approval_status",
    ):
        assert name in text
    for step in ("CheckParameters", "UseTypeTrain", "ETL", "PreprocessTrain", "Train", "Evaluate", "BatchPredict"):
        assert step in text
    assert "<!-- gen:" not in (site / "pipeline" / "index.html").read_text()


def test_the_pipeline_page_lists_every_rejection_reason(site):
    from pipeline_steps import etl, preprocess_predict

    text = text_of(site, "pipeline")
    for reason in (*etl.REJECTION_REASONS, *preprocess_predict.REASONS):
        assert reason in text, reason


def test_the_architecture_diagram_ships_as_mermaid_with_a_text_fallback(site):
    html = (site / "index.html").read_text(encoding="utf-8")
    assert '<pre class="mermaid"><code>flowchart LR' in html
    assert "The diagram in words" in html


def test_the_security_page_lists_the_acknowledgments_of_this_code(site, synth):
    """The page synthesizes the app itself: a stale or missing cdk.out/ cannot make it (or this test) pass."""
    text = text_of(site, "security")
    acknowledged = {
        rule.removeprefix("Annotation::")
        for path in Path(synth.assembly.directory).glob("JobClf-*.metadata.json")
        for entries in json.loads(path.read_text()).values()
        for entry in entries
        if entry.get("type") == "aws:cdk:acknowledged-rules"
        for rule in entry["data"]
    }
    assert len(acknowledged) > 20
    for rule in acknowledged:
        assert rule in text, rule
    assert "cdk.out" not in text
