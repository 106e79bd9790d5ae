"""The synth's definition JSON and image URI, cached on disk so that a synth with nothing changed
never imports the `sagemaker` SDK (importing it and building both environments' definitions was
most of a synth's time).

An entry's key is a SHA-256 over everything that can change what the builder returns: its inputs
(the PipelineSpec, placeholders included), the source of every project module the builder imports
(this package, `config`, and the step code, whose hyperparameters and S3 contract it reads), the
versions of the SDK and of the AWS libraries it reads its image and endpoint data from, and the
Python version. A hit returns
the exact text the builder returned; an entry that does not check out (truncated, edited, another
key) is rebuilt, never trusted. `JOBCLF_DEFINITION_CACHE=off` bypasses the cache: the SDK builds
everything and nothing is read or written.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import config
from workflow.definition.bundles import STEPS_PACKAGE, step_module_files
from workflow.definition.spec import PipelineSpec

BYPASS_VARIABLE = "JOBCLF_DEFINITION_CACHE"
DEFINITION_PACKAGE = Path(__file__).resolve().parent
CONFIG_PACKAGE = Path(config.__file__).resolve().parent
# What the SDK's output depends on besides our code: the SDK itself and sagemaker-core, which it
# imports, and boto3/botocore, whose session and endpoint data give the image URIs' domains.
KEYED_DISTRIBUTIONS = ("sagemaker", "sagemaker-core", "boto3", "botocore")


def keyed_sources() -> dict[str, Path]:
    """The modules the builder runs, by their name in the project: this package, the configuration it
    types the spec with, and the step code (the builder reads its S3 contract and hyperparameters).

    Keyed by that name, not the absolute path, so that two checkouts of the same code share keys.
    """
    sources = {f"workflow/definition/{path.name}": path for path in sorted(DEFINITION_PACKAGE.glob("*.py"))}
    sources |= {f"config/{path.name}": path for path in sorted(CONFIG_PACKAGE.glob("*.py"))}
    for path in step_module_files():
        sources[f"{STEPS_PACKAGE.name}/{path.relative_to(STEPS_PACKAGE).as_posix()}"] = path
    return sources


@functools.cache
def _environment() -> dict[str, Any]:
    """The key's parts that are the same for every entry of one synth (hashed once per process)."""
    return {
        "sources": {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in keyed_sources().items()},
        "distributions": {name: _installed_version(name) for name in KEYED_DISTRIBUTIONS},
        "python": platform.python_version(),
    }


def _installed_version(distribution: str) -> str | None:
    """None when it is not installed: a later SDK may do without sagemaker-core, and the key says so."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


class DefinitionCache:
    """Entries `<key>.json` in `directory`, each holding its key, its value and the value's SHA-256."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def definition(self, spec: PipelineSpec) -> str:
        """`build_definition(spec)`, from the cache when it holds it."""

        def build() -> str:
            from workflow.definition.builder import build_definition

            return build_definition(spec)

        return self.get("definition", dataclasses.asdict(spec), build)

    def sklearn_image_uri(self, region: str, framework_version: str, instance_type: str) -> str:
        """`offline_sdk.sklearn_image_uri(...)`, from the cache when it holds it."""

        def build() -> str:
            from workflow.definition.offline_sdk import sklearn_image_uri

            return sklearn_image_uri(region, framework_version, instance_type)

        inputs = {"region": region, "framework_version": framework_version, "instance_type": instance_type}
        return self.get("sklearn-image-uri", inputs, build)

    def get(self, kind: str, inputs: dict[str, Any], build: Callable[[], str]) -> str:
        if os.environ.get(BYPASS_VARIABLE) == "off":
            return build()
        key = self.key(kind, inputs)
        path = self.directory / f"{key}.json"
        value = _read_entry(path, key)
        if value is None:
            value = build()
            _write_entry(path, key, value)
        return value

    @staticmethod
    def key(kind: str, inputs: dict[str, Any]) -> str:
        material = {"kind": kind, "inputs": inputs, **_environment()}
        # sort_keys and no NaN: one text per key material; int 1, float 1.0 and True stay distinct.
        return hashlib.sha256(json.dumps(material, sort_keys=True, allow_nan=False).encode()).hexdigest()


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _read_entry(path: Path, key: str) -> str | None:
    """The entry's value, or None if it is missing or does not check out."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
        value = entry["value"]
        if entry["key"] == key and isinstance(value, str) and entry["sha256"] == _sha256(value):
            return value
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _write_entry(path: Path, key: str, value: str) -> None:
    """Write to a temporary file and rename it into place: a reader, or a synth running at the same
    time, sees the whole entry or none (both would write the same bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump({"key": key, "sha256": _sha256(value), "value": value}, file)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
