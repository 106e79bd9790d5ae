"""The definition cache: a hit is exactly what the SDK builds, anything that changes the definition
misses, a bad entry is rebuilt, and a synth with a warm cache never imports the SDK."""

from __future__ import annotations

import ast
import dataclasses
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
from infra_support import PROJECT_ROOT, Synth, cdk_context

from workflow.definition import PipelineSpec, cache
from workflow.definition.builder import build_definition
from workflow.definition.cache import BYPASS_VARIABLE, KEYED_DISTRIBUTIONS, DefinitionCache, keyed_sources

ENVIRONMENTS = ["develop", "production"]


@pytest.fixture(autouse=True)
def fresh_environment(monkeypatch: pytest.MonkeyPatch):
    """Each test hashes sources and versions anew (they are hashed once per process), with the cache on."""
    monkeypatch.delenv(BYPASS_VARIABLE, raising=False)
    cache._environment.cache_clear()
    yield
    cache._environment.cache_clear()


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[PipelineSpec]:
    """Every spec the SDK builder is called with (a stand-in that answers instantly)."""
    calls: list[PipelineSpec] = []

    def build(spec: PipelineSpec) -> str:
        calls.append(spec)
        return json.dumps({"built from": dataclasses.asdict(spec)})

    monkeypatch.setattr("workflow.definition.builder.build_definition", build)
    return calls


@pytest.fixture
def spec(synth: Synth) -> PipelineSpec:
    return synth.stacks["develop"].pipeline.spec


def entries(directory: Path) -> list[Path]:
    return sorted(directory.glob("*")) if directory.exists() else []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_hit_is_byte_identical_to_a_fresh_build(synth: Synth, env: str, tmp_path: Path, monkeypatch) -> None:
    spec = synth.stacks[env].pipeline.spec
    fresh = build_definition(spec)
    assert synth.stacks[env].pipeline.definition_json == fresh, "the synthesized stack's definition"
    definitions = DefinitionCache(tmp_path)
    assert definitions.definition(spec) == fresh  # a miss: the SDK builds it and the entry is written
    monkeypatch.setattr("workflow.definition.builder.build_definition", lambda spec: pytest.fail("not a hit"))
    assert definitions.definition(spec) == fresh


def test_the_image_uri_is_cached_too(tmp_path: Path, monkeypatch) -> None:
    from workflow.definition.offline_sdk import sklearn_image_uri

    uri = sklearn_image_uri("eu-west-1", "1.2-1", "ml.m5.xlarge")
    definitions = DefinitionCache(tmp_path)
    assert definitions.sklearn_image_uri("eu-west-1", "1.2-1", "ml.m5.xlarge") == uri
    monkeypatch.setattr("workflow.definition.offline_sdk.sklearn_image_uri", lambda *args: pytest.fail("not a hit"))
    assert definitions.sklearn_image_uri("eu-west-1", "1.2-1", "ml.m5.xlarge") == uri
    monkeypatch.undo()
    assert definitions.sklearn_image_uri("us-east-1", "1.2-1", "ml.m5.xlarge") == sklearn_image_uri(
        "us-east-1", "1.2-1", "ml.m5.xlarge"
    )


def test_a_synth_with_a_warm_cache_never_imports_the_sdk() -> None:
    """The app built twice, in two processes: the first fills the project's cache (if it was not already
    full), the second loads no module of the SDK."""
    code = (
        "import json, sys\n"
        "from app import build_app\n"
        "from config import load_all\n"
        f"build_app(load_all(), context=json.loads({json.dumps(json.dumps(cdk_context()))}))\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('sagemaker', 'sagemaker_core'))))\n"
    )
    environment = {key: value for key, value in os.environ.items() if key != BYPASS_VARIABLE}
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, check=True
        )
    assert json.loads(result.stdout.splitlines()[-1]) == []


# (path of the field in the spec, a different value)
SPEC_CHANGES = [
    ("pipeline_name", "jobclf-other"),
    ("role_arn", "arn:aws:iam::000000000000:role/other"),
    ("buckets.raw", "other-raw"),
    ("code.training_source_uri", "s3://assets/other.tar.gz"),
    ("emr.core_instance_count", 2),
    ("jobs.volume_size_gb", 31),
    ("jobs.subnet_ids", ("subnet-other",)),
    ("model.min_macro_f1", 0.25),
    ("predict.instance_count", 3),
    ("sklearn_framework_version", "1.0-1"),
]


def replaced(spec, path: str, value):
    head, _, rest = path.partition(".")
    return dataclasses.replace(spec, **{head: replaced(getattr(spec, head), rest, value) if rest else value})


@pytest.mark.parametrize(("field", "value"), SPEC_CHANGES, ids=[field for field, _ in SPEC_CHANGES])
def test_a_changed_spec_field_misses(spec: PipelineSpec, field: str, value, builds, tmp_path: Path) -> None:
    definitions = DefinitionCache(tmp_path)
    changed = replaced(spec, field, value)
    assert definitions.definition(spec) != definitions.definition(changed)
    assert builds == [spec, changed]
    definitions.definition(changed)
    assert len(builds) == 2, "the same spec again is a hit"


@pytest.mark.parametrize(
    "source",
    ["pipeline_steps/model.py", "pipeline_steps/contract.py", "workflow/definition/builder.py", "config/settings.py"],
)
def test_a_changed_source_misses(spec: PipelineSpec, source: str, builds, tmp_path: Path, monkeypatch) -> None:
    copies = {}
    for name, path in keyed_sources().items():
        copies[name] = tmp_path / "sources" / name
        copies[name].parent.mkdir(parents=True, exist_ok=True)
        copies[name].write_bytes(path.read_bytes())
    monkeypatch.setattr(cache, "keyed_sources", lambda: copies)
    definitions = DefinitionCache(tmp_path / "cache")
    definitions.definition(spec)
    with copies[source].open("a", encoding="utf-8") as file:
        file.write("\n# changed\n")
    cache._environment.cache_clear()
    definitions.definition(spec)
    assert len(builds) == 2


@pytest.mark.parametrize("distribution", [*KEYED_DISTRIBUTIONS, "python"])
def test_another_sdk_aws_library_or_python_version_misses(
    spec: PipelineSpec, distribution: str, builds, tmp_path: Path, monkeypatch
) -> None:
    definitions = DefinitionCache(tmp_path)
    definitions.definition(spec)
    if distribution == "python":
        monkeypatch.setattr(platform, "python_version", lambda: "3.99.0")
    else:
        installed = importlib.metadata.version
        monkeypatch.setattr(
            importlib.metadata, "version", lambda name: "0.0.0" if name == distribution else installed(name)
        )
    cache._environment.cache_clear()
    definitions.definition(spec)
    assert len(builds) == 2


def test_an_sdk_without_sagemaker_core_still_builds_and_misses(
    spec: PipelineSpec, builds, tmp_path: Path, monkeypatch
) -> None:
    definitions = DefinitionCache(tmp_path)
    definitions.definition(spec)
    installed = importlib.metadata.version

    def version(name: str) -> str:
        if name == "sagemaker-core":
            raise importlib.metadata.PackageNotFoundError(name)
        return installed(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    cache._environment.cache_clear()
    definitions.definition(spec)
    assert len(builds) == 2


def project_modules_imported_by_the_builder() -> set[Path]:
    code = (
        "import json, sys\n"
        "import workflow.definition.builder\n"
        "print(json.dumps([getattr(m, '__file__', None) for m in list(sys.modules.values())]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    files = {Path(file).resolve() for file in json.loads(result.stdout.splitlines()[-1]) if file}
    return {file for file in files if file.is_relative_to(PROJECT_ROOT) and ".venv" not in file.parts}


def has_code(module: Path) -> bool:
    """False for a module that is only a docstring (e.g. a package's __init__): it cannot shape anything."""
    body = ast.parse(module.read_text(encoding="utf-8")).body
    return any(not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) for node in body)


def test_the_key_covers_every_project_module_the_builder_runs() -> None:
    imported = {module for module in project_modules_imported_by_the_builder() if has_code(module)}
    assert imported, "the builder imports project modules (the step contract, the model's hyperparameters)"
    assert imported <= {path.resolve() for path in keyed_sources().values()}


CORRUPTIONS = {
    "truncated": lambda text: text[: len(text) // 2],
    "empty": lambda text: "",
    "not JSON": lambda text: "\x00\x01garbage",
    "value edited": lambda text: text.replace("built from", "built frim"),
    "entry of another key": lambda text: text.replace('"key": "', '"key": "0', 1),
    "no checksum": lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "sha256"}),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_bad_entry_is_rebuilt_not_trusted(spec: PipelineSpec, corruption: str, builds, tmp_path: Path) -> None:
    definitions = DefinitionCache(tmp_path)
    good = definitions.definition(spec)
    [entry] = entries(tmp_path)
    entry.write_text(CORRUPTIONS[corruption](entry.read_text(encoding="utf-8")), encoding="utf-8")
    assert definitions.definition(spec) == good
    assert len(builds) == 2
    assert definitions.definition(spec) == good
    assert len(builds) == 2, "the rebuilt entry is whole again: a hit"


def test_the_bypass_variable_builds_every_time_and_writes_nothing(
    spec: PipelineSpec, builds, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv(BYPASS_VARIABLE, "off")
    definitions = DefinitionCache(tmp_path)
    definitions.definition(spec)
    definitions.definition(spec)
    assert len(builds) == 2
    assert entries(tmp_path) == []


def test_a_failed_write_leaves_no_entry_and_no_temporary_file(
    spec: PipelineSpec, builds, tmp_path: Path, monkeypatch
) -> None:
    def interrupted(data, file) -> None:
        file.write('{"key": "')
        raise KeyboardInterrupt

    monkeypatch.setattr(json, "dump", interrupted)
    with pytest.raises(KeyboardInterrupt):
        DefinitionCache(tmp_path).definition(spec)
    assert entries(tmp_path) == []
