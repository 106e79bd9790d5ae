"""The GitLab pipeline: valid against GitLab's schema, and the deploy rules the team relies on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]


def test_gitlab_ci_validates_against_gitlabs_schema():
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("check-jsonschema")),
            "--builtin-schema",
            "vendor.gitlab-ci",
            str(ROOT / ".gitlab-ci.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploys_use_oidc_and_production_waits_for_a_person():
    ci = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text())
    assert ci["test"]["script"] == ["make test"]
    assert ci["synth"]["artifacts"]["paths"] == ["cdk.out"]
    deploy = ci[".deploy"]
    assert deploy["id_tokens"]["AWS_ID_TOKEN"]["aud"] == "sts.amazonaws.com"
    assert any("AWS_WEB_IDENTITY_TOKEN_FILE" in line for line in deploy["script"])
    assert ci["deploy-develop"]["rules"] == [{"if": '$CI_COMMIT_BRANCH == "develop"'}]
    assert ci["deploy-production"]["rules"] == [{"if": '$CI_COMMIT_BRANCH == "main"', "when": "manual"}]
    text = (ROOT / ".gitlab-ci.yml").read_text()
    assert "AWS_SECRET_ACCESS_KEY" not in text and "AWS_ACCESS_KEY_ID" not in text


def test_every_deploy_waits_for_the_tests_and_the_synth():
    """With `needs`, GitLab starts a job as soon as the jobs it lists finish, ignoring stage order: a deploy
    that needs only `synth` would run while (or after) `test` fails."""
    ci = yaml.safe_load((ROOT / ".gitlab-ci.yml").read_text())

    def resolved(job: dict) -> dict:  # GitLab's `extends`: the job's keys over its template's
        return {**resolved(ci[job["extends"]]), **job} if "extends" in job else job

    jobs = {name: resolved(job) for name, job in ci.items() if isinstance(job, dict) and not name.startswith(".")}
    deploys = {name: job for name, job in jobs.items() if job.get("stage") == "deploy"}
    assert {"deploy-develop", "deploy-production", "pages"} <= set(deploys)
    for name, job in deploys.items():
        assert {"test", "synth"} <= set(job["needs"]), f"{name} needs {job['needs']}"
