"""The model registry as the steps see it: the latest approved model of a group, and fetching files.

Two backends, chosen by the environment at call time:
- LOCAL when JOBCLF_LOCAL_REGISTRY is set: the path of a JSON file the local pipeline runner keeps
  (a missing file is an empty registry), and s3://bucket/key maps to $JOBCLF_LOCAL_S3_ROOT/bucket/key.
      {"model_package_groups": {"<group>": [{"model_package_arn": ..., "version": 1,
        "approval_status": "Approved", "model_data_uri": "s3://.../model.tar.gz",
        "metrics_uri": "s3://.../evaluation.json", "created": "2026-11-23T10:00:00Z"}, ...]}}
  Entries are in registration order: the latest approved model is the last "Approved" entry.
- SAGEMAKER otherwise: the SageMaker model registry and S3 through boto3.

A model's macro_f1 is `multiclass_classification_metrics.macro_f1.value` of the evaluation.json
registered as its model-quality statistics (None when it has none).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from pipeline_steps.contract import EVALUATION_FILE, MACRO_F1_PATH, value_at
from pipeline_steps.errors import StepError

LOCAL_REGISTRY_ENV = "JOBCLF_LOCAL_REGISTRY"
LOCAL_S3_ROOT_ENV = "JOBCLF_LOCAL_S3_ROOT"
APPROVED = "Approved"
APPROVAL_STATUSES = (APPROVED, "Rejected", "PendingManualApproval")


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


def macro_f1_of(evaluation: dict, source: str = EVALUATION_FILE) -> Optional[float]:
    """The macro-F1 an evaluation.json reports, None when it reports none."""
    try:
        value = value_at(evaluation, MACRO_F1_PATH)
    except KeyError:
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as error:
        raise RegistryError(f"{source}: macro_f1 value {value!r} is not a number") from error


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
            bucket, key = parse_s3_uri(uri)
            return Path(self.s3_root) / bucket / key
        if uri.startswith("file://"):
            return Path(uri[len("file://") :])
        return Path(uri)

    def _document(self) -> dict:
        if not self.registry_path.is_file():
            return {"model_package_groups": {}}
        try:
            return json.loads(self.registry_path.read_text("utf-8"))
        except ValueError as error:
            raise RegistryError(f"local registry {self.registry_path} is not valid JSON: {error}") from error

    def entries(self, group_name: str) -> list:
        groups = self._document().get("model_package_groups") or {}
        return list(groups.get(group_name) or [])

    def add_model_package(
        self,
        group_name: str,
        model_data_uri: str,
        metrics_uri: Optional[str],
        approval_status: str,
        region: str,
        customer_metadata: Optional[dict] = None,
    ) -> str:
        """Append a version to the group, as the local run's RegisterModel step; return its ARN (versions from 1).

        `customer_metadata` is the step's CustomerMetadataProperties (what the model is fitted on, and
        that its metrics are held-out), kept as SageMaker keeps them on the model package."""
        document = self._document()
        packages = document.setdefault("model_package_groups", {}).setdefault(group_name, [])
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
                "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
        self._write(document)
        return arn

    def _write(self, document: dict) -> None:
        self.registry_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.registry_path.with_name(self.registry_path.name + ".part")
        temporary.write_text(json.dumps(document, indent=2) + "\n", "utf-8")
        os.replace(str(temporary), str(self.registry_path))

    def set_approval_status(
        self, group_name: str, version: int, approval_status: str, description: Optional[str] = None
    ) -> dict:
        """Set a version's approval status (and description), as UpdateModelPackage does; return the entry."""
        if approval_status not in APPROVAL_STATUSES:
            raise RegistryError(f"approval status {approval_status!r} is not one of {', '.join(APPROVAL_STATUSES)}")
        document = self._document()
        for entry in (document.get("model_package_groups") or {}).get(group_name) or []:
            if entry.get("version") == version:
                entry["approval_status"] = approval_status
                if description is not None:
                    entry["approval_description"] = description
                self._write(document)
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
        return json.loads(path.read_text("utf-8"))

    def latest_approved_model(self, group_name: str) -> Optional[ModelRecord]:
        approved = [e for e in self.entries(group_name) if e.get("approval_status") == APPROVED]
        if not approved:
            return None
        entry = approved[-1]
        for key in ("model_package_arn", "model_data_uri"):
            if not entry.get(key):
                raise RegistryError(f"local registry {self.registry_path}: group {group_name} entry lacks {key}")
        metrics_uri = entry.get("metrics_uri")
        macro_f1 = None
        if metrics_uri:
            path = self.local_path(metrics_uri)
            if not path.is_file():
                raise RegistryError(f"metrics of {entry['model_package_arn']} not found: {metrics_uri} ({path})")
            macro_f1 = macro_f1_of(json.loads(path.read_text("utf-8")), metrics_uri)
        version = entry.get("version")
        return ModelRecord(
            model_package_arn=entry["model_package_arn"],
            version=int(version) if version is not None else None,
            model_data_uri=entry["model_data_uri"],
            macro_f1=macro_f1,
            metrics_uri=metrics_uri,
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
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            try:
                evaluation = json.loads(body.decode("utf-8"))
            except ValueError as error:
                raise RegistryError(f"metrics of {arn} at {metrics_uri} are not JSON: {error}") from error
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
