"""The local model registry: a JSON file standing in for a SageMaker model package group.

`pipeline_steps.registry` reads it (when JOBCLF_LOCAL_REGISTRY names it); the local run's
RegisterModel step appends to it.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path


def add_model_package(
    registry_file: Path, *, group: str, model_data_uri: str, metrics_uri: str | None, approval_status: str, region: str
) -> str:
    """Append a model package version to `group`; return its ARN (numbered like SageMaker's, from 1)."""
    registry = json.loads(registry_file.read_text()) if registry_file.exists() else {"model_package_groups": {}}
    packages = registry["model_package_groups"].setdefault(group, [])
    version = len(packages) + 1
    arn = f"arn:aws:sagemaker:{region}:000000000000:model-package/{group}/{version}"
    packages.append(
        {
            "model_package_arn": arn,
            "version": version,
            "approval_status": approval_status,
            "model_data_uri": model_data_uri,
            "metrics_uri": metrics_uri,
            "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    registry_file.parent.mkdir(parents=True, exist_ok=True)
    registry_file.write_text(json.dumps(registry, indent=2) + "\n")
    return arn
