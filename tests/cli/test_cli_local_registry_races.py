"""Twenty `jobclf models reject --local` at once against one local registry (issue 25): every command
that reports success has taken effect, and none trips over another's temporary file.

The commands run as users run them, in their own processes (`python -m jobclf_cli`), started together.
What this cannot prove: SageMaker's own model registry, which serializes UpdateModelPackage itself.
"""

from __future__ import annotations

import json
import subprocess
import sys

from cli_support import ROOT

GROUP = "jobclf-develop"
VERSIONS = range(1, 21)


def test_twenty_concurrent_rejections_all_take_effect(tmp_path) -> None:
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    entries = [
        {"model_package_arn": f"arn:aws:sagemaker:eu-west-1:000000000000:model-package/{GROUP}/{version}",
         "version": version, "approval_status": "Approved", "model_data_uri": f"s3://m/{version}/model.tar.gz"}
        for version in VERSIONS
    ]  # fmt: skip
    registry = work_dir / "registry.json"
    registry.write_text(json.dumps({"model_package_groups": {GROUP: entries}}))
    commands = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jobclf_cli",
                "models",
                "reject",
                str(version),
                "--local",
                "--env",
                "develop",
                "--work-dir",
                str(work_dir),
                "--reason",
                f"race {version}",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for version in VERSIONS
    ]
    results = [(command.wait(timeout=300), *command.communicate()) for command in commands]
    assert [code for code, _, _ in results] == [0] * len(VERSIONS), [stderr for _, _, stderr in results]
    for version, (_, stdout, _) in zip(VERSIONS, results, strict=True):
        assert f"Model version {version} of group {GROUP}" in stdout and "Approved -> Rejected" in stdout
    group = json.loads(registry.read_text())["model_package_groups"][GROUP]
    assert [(entry["version"], entry["approval_status"], entry["approval_description"]) for entry in group] == [
        (version, "Rejected", f"race {version}") for version in VERSIONS
    ]
    assert sorted(path.name for path in work_dir.iterdir()) == ["registry.json", "registry.json.lock"]
