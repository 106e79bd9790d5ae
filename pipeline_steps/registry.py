"""The model registry as the steps see it: the latest approved model of a group, and fetching files.

Two backends, chosen by the environment at call time:
- LOCAL when JOBCLF_LOCAL_REGISTRY is set: the path of a JSON file the local pipeline runner keeps
  (a missing file is an empty registry), and s3://bucket/key maps to $JOBCLF_LOCAL_S3_ROOT/bucket/key.
      {"model_package_groups": {"<group>": [{"model_package_arn": ..., "version": 1,
        "approval_status": "Approved", "model_data_uri": "s3://.../model.tar.gz",
        "metrics_uri": "s3://.../evaluation.json", "environment": {"SAGEMAKER_PROGRAM": ...},
        "created": "2026-11-23T10:00:00Z"}, ...]}}
  Entries are in registration order: the latest approved model is the last "Approved" entry.
- SAGEMAKER otherwise: the SageMaker model registry and S3 through boto3.

A model's macro_f1 is `multiclass_classification_metrics.macro_f1.value` of the evaluation.json
registered as its model-quality statistics (None when it has none).

The local registry file and every evaluation.json are read through one function each (read_registry,
read_evaluation): a damaged file is named, with what is wrong and how to fix it, never a traceback.
The local registry is changed by read-modify-write under a lock (`registry.json.lock`, flock), written
to a temporary file of its own and renamed into place: concurrent writers (a local run registering,
`jobclf models approve/reject --local`) each take effect, and readers see a whole file, old or new.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from pipeline_steps.contract import (
    APPROVED,
    EVALUATION_FILE,
    MODEL_APPROVAL_STATUSES,
    UNSEEN_OCCUPATIONS_MACRO_F1_PATH,
    value_at,
)
from pipeline_steps.errors import StepError

LOCAL_REGISTRY_ENV = "JOBCLF_LOCAL_REGISTRY"
LOCAL_S3_ROOT_ENV = "JOBCLF_LOCAL_S3_ROOT"


@dataclass(frozen=True)
class ModelRecord:
    model_package_arn: str
    version: Optional[int]
    model_data_uri: str
    macro_f1: Optional[float]
    metrics_uri: Optional[str] = None


class RegistryError(StepError, RuntimeError):
    """The registry answered, but not with something usable (the message says what and where)."""


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """("bucket", "key/of/object") of s3://bucket/key/of/object."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key:
        raise ValueError(f"S3 URI needs a bucket and a key: {uri!r}")
    return bucket, key


def local_s3_path(root, uri: str) -> Path:
    """Where s3://bucket/key lies under a local S3 folder `root` (the local run's `<work-dir>/s3`).

    ValueError for anything but an s3:// URI, and for one that would lead outside `root`: a bucket or
    key segment that is `..`, `.` or empty (`s3://b//etc` would be the absolute path /etc), or a
    symbolic link under `root` that points out of it. S3 takes such keys literally; a folder cannot,
    so they are refused, never mapped elsewhere.
    """
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    key = key[:-1] if key.endswith("/") else key  # a prefix's trailing slash
    segments = [bucket, *key.split("/")] if key else [bucket]
    odd = next((segment for segment in segments if segment in ("", ".", "..") or "\x00" in segment), None)
    if odd is not None:
        raise ValueError(f"{uri!r} has a bucket or key segment {odd!r}, which has no place in a local folder")
    base = Path(root).resolve()
    path = base.joinpath(*segments)
    resolved = path.resolve()
    if resolved != base and base not in resolved.parents:
        raise ValueError(f"{uri!r} leads outside {base}: a symbolic link makes {path} {resolved}")
    return path


_REGISTRY_FIX = "restore it from a copy, or move it aside to start an empty registry (its versions are forgotten)"
_EVALUATION_FIX = "restore it from a copy, or reject the model version it belongs to (jobclf models reject VERSION)"


def _json_document(data: bytes, what: str, fix: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise RegistryError(f"{what} is not UTF-8 text ({error}): {fix}") from None
    except ValueError as error:
        cut = " (truncated?)" if "Expecting" in str(error) or "Unterminated" in str(error) else ""
        raise RegistryError(f"{what} is not valid JSON{cut}: {error}: {fix}") from None


def read_evaluation(data: bytes, source: str) -> dict:
    """The evaluation.json document read from `source` (a path or URI): a JSON object whose macro-F1
    (UNSEEN_OCCUPATIONS_MACRO_F1_PATH), when it has one, is a number. RegistryError names the file, the problem and the fix."""
    what = f"evaluation {source}"
    document = _json_document(data, what, _EVALUATION_FIX)
    if not isinstance(document, dict):
        raise RegistryError(f"{what} holds a JSON {type(document).__name__}, not an object: {_EVALUATION_FIX}")
    macro_f1_of(document, source)
    return document


def macro_f1_of(evaluation: dict, source: str = EVALUATION_FILE) -> Optional[float]:
    """The macro-F1 an evaluation.json reports, None when it reports none."""
    try:
        value = value_at(evaluation, UNSEEN_OCCUPATIONS_MACRO_F1_PATH)
    except KeyError:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RegistryError(f"evaluation {source}: macro_f1 value {value!r} is not a number: {_EVALUATION_FIX}")
    try:
        return float(value)
    except ValueError:
        raise RegistryError(
            f"evaluation {source}: macro_f1 value {value!r} is not a number: {_EVALUATION_FIX}"
        ) from None


# What each entry of a local registry group must hold: key -> (allowed types, required).
_ENTRY_FIELDS = {
    "model_package_arn": ((str,), True),
    "version": ((int,), True),
    "approval_status": ((str,), True),
    "model_data_uri": ((str,), True),
    "metrics_uri": ((str, type(None)), False),
    "customer_metadata_properties": ((dict,), False),
    "environment": ((dict,), False),
    "created": ((str,), False),
    "approval_description": ((str,), False),
}


def read_registry(path) -> dict:
    """The local registry document in the file at `path`, checked; a missing file is an empty registry.

    RegistryError names the file, the entry and what is wrong, and how to fix it.
    """
    path = Path(path)
    what = f"local registry {path}"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {"model_package_groups": {}}
    document = _json_document(data, what, _REGISTRY_FIX)
    groups = document.get("model_package_groups") if isinstance(document, dict) else None
    if not isinstance(groups, dict):
        raise RegistryError(f"{what} has no model_package_groups object: {_REGISTRY_FIX}")
    for group, entries in groups.items():
        if not isinstance(entries, list):
            raise RegistryError(f"{what}: group {group} is not a list of versions: {_REGISTRY_FIX}")
        for number, entry in enumerate(entries, start=1):
            problem = _entry_problem(entry)
            if problem:
                raise RegistryError(f"{what}: group {group}, entry {number}: {problem}: {_REGISTRY_FIX}")
    return document


def _entry_problem(entry: Any) -> Optional[str]:
    if not isinstance(entry, dict):
        return f"a JSON {type(entry).__name__}, not an object"
    for key, (types, required) in _ENTRY_FIELDS.items():
        if key not in entry:
            if required:
                return f"no {key}"
            continue
        value = entry[key]
        if not isinstance(value, types) or isinstance(value, bool):
            return f"{key} {value!r} is not a {' or '.join(t.__name__ for t in types if t is not type(None))}"
    if entry["approval_status"] not in MODEL_APPROVAL_STATUSES:
        return f"approval_status {entry['approval_status']!r} is not one of {', '.join(MODEL_APPROVAL_STATUSES)}"
    return None


def _copy_file(source: Path, dest_path) -> Path:
    if not source.is_file():
        raise FileNotFoundError(f"no such file: {source}")
    target = Path(dest_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(str(source), str(target))
    return target


class LocalRegistry:
    """The local runner's registry file and S3 folder."""

    def __init__(self, registry_path, s3_root: Optional[str] = None):
        self.registry_path = Path(registry_path)
        self.s3_root = s3_root

    def local_path(self, uri: str) -> Path:
        """Where an s3:// URI (or a plain path, or file:// URI) lies on this machine."""
        if uri.startswith("s3://"):
            if not self.s3_root:
                raise RegistryError(f"{LOCAL_S3_ROOT_ENV} is not set, so {uri} has no local place")
            try:
                return local_s3_path(self.s3_root, uri)
            except ValueError as error:
                raise RegistryError(f"local registry {self.registry_path}: {error}") from None
        if uri.startswith("file://"):
            return Path(uri[len("file://") :])
        return Path(uri)

    def entries(self, group_name: str) -> list:
        return list(read_registry(self.registry_path)["model_package_groups"].get(group_name) or [])

    @contextlib.contextmanager
    def _changing(self) -> Iterator[dict]:
        """The registry document to change, under the lock; written when the block ends without an error."""
        self.registry_path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.registry_path.with_name(self.registry_path.name + ".lock")
        with open(str(lock_path), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            document = read_registry(self.registry_path)
            yield document
            self._write(document)

    def _write(self, document: dict) -> None:
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{self.registry_path.name}.", dir=str(self.registry_path.parent)
        )
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(document, indent=2) + "\n")
            os.replace(temporary, str(self.registry_path))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def add_model_package(
        self,
        group_name: str,
        model_data_uri: str,
        metrics_uri: Optional[str],
        approval_status: str,
        region: str,
        customer_metadata: Optional[dict] = None,
        environment: Optional[dict] = None,
    ) -> str:
        """Append a version to the group, as the local run's RegisterModel step; return its ARN (versions from 1).

        `customer_metadata` is the step's CustomerMetadataProperties (what the model is fitted on, and
        that its metrics are held-out), kept as SageMaker keeps them on the model package; `environment` is its
        inference container's Environment, which the endpoint (and `jobclf serve --local`) serves it with."""
        with self._changing() as document:
            packages = document["model_package_groups"].setdefault(group_name, [])
            version = len(packages) + 1
            arn = f"arn:aws:sagemaker:{region}:000000000000:model-package/{group_name}/{version}"
            packages.append(
                {
                    "model_package_arn": arn,
                    "version": version,
                    "approval_status": approval_status,
                    "model_data_uri": model_data_uri,
                    "metrics_uri": metrics_uri,
                    "customer_metadata_properties": dict(customer_metadata or {}),
                    "environment": dict(environment or {}),
                    "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            )
        return arn

    def set_approval_status(
        self, group_name: str, version: int, approval_status: str, description: Optional[str] = None
    ) -> dict:
        """Set a version's approval status (and description), as UpdateModelPackage does; return the entry."""
        if approval_status not in MODEL_APPROVAL_STATUSES:
            raise RegistryError(
                f"approval status {approval_status!r} is not one of {', '.join(MODEL_APPROVAL_STATUSES)}"
            )
        with self._changing() as document:
            for entry in document["model_package_groups"].get(group_name) or []:
                if entry["version"] == version:
                    entry["approval_status"] = approval_status
                    if description is not None:
                        entry["approval_description"] = description
                    return dict(entry)
            raise RegistryError(f"local registry {self.registry_path}: group {group_name} has no version {version}")

    def evaluation_of(self, entry: dict) -> Optional[dict]:
        """The evaluation.json registered with an entry, None when it has none."""
        metrics_uri = entry.get("metrics_uri")
        if not metrics_uri:
            return None
        path = self.local_path(metrics_uri)
        if not path.is_file():
            raise RegistryError(f"metrics of {entry.get('model_package_arn')} not found: {metrics_uri} ({path})")
        return read_evaluation(path.read_bytes(), str(path))

    def latest_approved_model(self, group_name: str) -> Optional[ModelRecord]:
        approved = [e for e in self.entries(group_name) if e.get("approval_status") == APPROVED]
        if not approved:
            return None
        entry = approved[-1]
        evaluation = self.evaluation_of(entry)
        return ModelRecord(
            model_package_arn=entry["model_package_arn"],
            version=entry["version"],
            model_data_uri=entry["model_data_uri"],
            macro_f1=macro_f1_of(evaluation, entry["metrics_uri"]) if evaluation is not None else None,
            metrics_uri=entry.get("metrics_uri"),
        )

    def fetch(self, uri: str, dest_path) -> Path:
        return _copy_file(self.local_path(uri), dest_path)


class SageMakerRegistry:
    """The SageMaker model registry; clients are created on first use unless given (tests stub them)."""

    def __init__(self, sagemaker_client=None, s3_client=None, region: Optional[str] = None):
        self._sagemaker = sagemaker_client
        self._s3 = s3_client
        self.region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None

    @property
    def sagemaker(self):
        if self._sagemaker is None:
            import boto3

            self._sagemaker = boto3.client("sagemaker", region_name=self.region)
        return self._sagemaker

    @property
    def s3(self):
        if self._s3 is None:
            import boto3

            self._s3 = boto3.client("s3", region_name=self.region)
        return self._s3

    def latest_approved_model(self, group_name: str) -> Optional[ModelRecord]:
        listing = self.sagemaker.list_model_packages(
            ModelPackageGroupName=group_name,
            ModelApprovalStatus=APPROVED,
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=1,
        )
        summaries = listing.get("ModelPackageSummaryList") or []
        if not summaries:
            return None
        arn = summaries[0]["ModelPackageArn"]
        package = self.sagemaker.describe_model_package(ModelPackageName=arn)
        containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
        if not containers or not containers[0].get("ModelDataUrl"):
            raise RegistryError(f"model package {arn} has no InferenceSpecification.Containers[0].ModelDataUrl")
        metrics_uri = (((package.get("ModelMetrics") or {}).get("ModelQuality") or {}).get("Statistics") or {}).get(
            "S3Uri"
        )
        macro_f1 = None
        if metrics_uri:
            bucket, key = parse_s3_uri(metrics_uri)
            evaluation = read_evaluation(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read(), metrics_uri)
            macro_f1 = macro_f1_of(evaluation, metrics_uri)
        version = package.get("ModelPackageVersion")
        return ModelRecord(
            model_package_arn=arn,
            version=int(version) if version is not None else None,
            model_data_uri=containers[0]["ModelDataUrl"],
            macro_f1=macro_f1,
            metrics_uri=metrics_uri,
        )

    def fetch(self, uri: str, dest_path) -> Path:
        if not uri.startswith("s3://"):
            return _copy_file(Path(uri[len("file://") :] if uri.startswith("file://") else uri), dest_path)
        bucket, key = parse_s3_uri(uri)
        target = Path(dest_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        # One streamed GET: model archives are megabytes, and it keeps the call stub-testable.
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"]
        temporary = target.with_name(target.name + ".part")
        with open(str(temporary), "wb") as handle:
            for chunk in iter(lambda: body.read(1 << 20), b""):
                handle.write(chunk)
        os.replace(str(temporary), str(target))
        return target


def backend():
    """LocalRegistry when JOBCLF_LOCAL_REGISTRY is set, SageMakerRegistry otherwise."""
    registry_path = os.environ.get(LOCAL_REGISTRY_ENV)
    if registry_path:
        return LocalRegistry(registry_path, os.environ.get(LOCAL_S3_ROOT_ENV))
    return SageMakerRegistry()


def latest_approved_model(group_name: str) -> Optional[ModelRecord]:
    """The group's most recently created approved model package, None when it has none."""
    return backend().latest_approved_model(group_name)


def fetch(uri: str, dest_path) -> Path:
    """Copy s3://bucket/key (or a local path) to `dest_path`; return the path written."""
    return backend().fetch(uri, dest_path)
