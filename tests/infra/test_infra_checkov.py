"""checkov over the synthesized CloudFormation templates: no failed check, every skip with a reason.

checkov lives in its own venv (`.venv-checkov`, made by `make setup` from requirements-checkov.txt)
because its pins (boto3 1.35, packaging 23) conflict with the sagemaker SDK's. One checkov run
covers the session's templates: both environments and the standing-cluster and existing-VPC
variants. Skips are per resource, as `Metadata.checkov.skip` written by `stacks.nag.checkov_skip`;
`.checkov.yaml` at the project root holds the run settings (and no global skip).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from infra_support import PROJECT_ROOT, Synth

from stacks import nag

CHECKOV = Path(os.environ.get("JOBCLF_CHECKOV", PROJECT_ROOT / ".venv-checkov" / "bin" / "checkov"))
CONFIG = PROJECT_ROOT / ".checkov.yaml"
MIN_PASSING_SHARE = 0.95
TEMPLATES = [
    ("synth", "develop"),
    ("synth", "production"),
    ("variant_synth", "standing"),
    ("variant_synth", "existingvpc"),
]


@dataclass
class CheckovResult:
    """One template's checks, by outcome: (check id, resource) pairs, and the skip reasons."""

    passed: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def passing_share(self) -> float:
        """Passed over all applicable checks (passed + failed + skipped): a skip counts against it."""
        applicable = len(self.passed) + len(self.failed) + len(self.skipped)
        return len(self.passed) / applicable if applicable else 0.0


@pytest.fixture(scope="module")
def checkov_results(request: pytest.FixtureRequest) -> dict[str, CheckovResult]:
    """checkov run once over every template of the session, results by environment name."""
    if not CHECKOV.is_file():
        pytest.fail(f"checkov is not installed at {CHECKOV}: run `make setup` (it creates .venv-checkov)")
    paths: dict[str, Path] = {}
    for which, name in TEMPLATES:
        synth: Synth = request.getfixturevalue(which)
        paths[name] = synth.template_path(name).resolve()
    command = [str(CHECKOV), "--config-file", str(CONFIG), "--output", "json"]
    for path in paths.values():
        command += ["--file", str(path)]
    completed = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, check=False)
    if completed.returncode not in (0, 1):  # 1 means "some check failed": the tests below say which
        pytest.fail(f"checkov exited {completed.returncode}: {completed.stderr[-2000:]}")
    reports = json.loads(completed.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    by_path = {str(path): name for name, path in paths.items()}
    results = {name: CheckovResult() for name in paths}
    for report in reports:
        assert report["check_type"] == "cloudformation", report["check_type"]
        assert report["summary"]["parsing_errors"] == 0, report["results"].get("parsing_errors")
        checks = report["results"]
        for check in checks.get("passed_checks", []):
            results[by_path[check["file_abs_path"]]].passed.append((check["check_id"], check["resource"]))
        for check in checks.get("failed_checks", []):
            results[by_path[check["file_abs_path"]]].failed.append(
                (check["check_id"], check["resource"], check["check_name"])
            )
        for check in checks.get("skipped_checks", []):
            results[by_path[check["file_abs_path"]]].skipped.append(
                (check["check_id"], check["resource"], check["check_result"].get("suppress_comment", ""))
            )
    return results


@pytest.mark.parametrize("name", [name for _, name in TEMPLATES])
def test_no_failed_checkov_check(checkov_results: dict[str, CheckovResult], name: str) -> None:
    result = checkov_results[name]
    print(
        f"\ncheckov {name}: {len(result.passed)} passed, {len(result.failed)} failed, "
        f"{len(result.skipped)} skipped ({result.passing_share:.1%} of applicable checks passing)"
    )
    assert result.failed == []
    assert result.passed, "checkov ran its CloudFormation checks"
    assert result.passing_share >= MIN_PASSING_SHARE


@pytest.mark.parametrize("name", [name for _, name in TEMPLATES])
def test_every_checkov_skip_has_a_specific_reason(checkov_results: dict[str, CheckovResult], name: str) -> None:
    for check_id, resource, reason in checkov_results[name].skipped:
        assert len(reason.strip()) >= nag.MIN_REASON_LENGTH, (check_id, resource, reason)
        assert reason != "No comment provided", (check_id, resource)


def test_skips_are_only_where_the_stack_puts_them(checkov_results: dict[str, CheckovResult]) -> None:
    """The known skips: the access-log bucket's own logging, CDK's default-security-group custom resource, and the
    endpoint deployer function (outside the VPC, environment without a customer key)."""
    develop = Counter(check_id for check_id, _, _ in checkov_results["develop"].skipped)
    assert develop == Counter({"CKV_AWS_18": 1, "CKV_AWS_115": 1, "CKV_AWS_116": 1, "CKV_AWS_117": 2, "CKV_AWS_173": 1})
    # In an existing VPC there is no custom resource: the access-log bucket's and the deployer's skips remain.
    assert sorted(check_id for check_id, _, _ in checkov_results["existingvpc"].skipped) == [
        "CKV_AWS_117",
        "CKV_AWS_173",
        "CKV_AWS_18",
    ]


def test_the_config_file_skips_nothing_globally() -> None:
    text = CONFIG.read_text(encoding="utf-8")
    assert "skip-check: []" in text
    assert "skip-download: true" in text
