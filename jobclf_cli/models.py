"""`jobclf models ...`: the versions of the model package group, their metrics, approval and rejection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from jobclf_cli import render
from jobclf_cli.aws import CliError, Deployment, metrics_uri_of, one_line
from jobclf_cli.options import env_option, local_option, work_dir_option
from pipeline_steps.contract import APPROVED

METRICS_KEY = "multiclass_classification_metrics"
SHOWN_METRICS = (
    "macro_f1",
    "accuracy",
    "weighted_f1",
    "weighted_precision",
    "weighted_recall",
    "expected_calibration_error",
)


@click.group()
def models() -> None:
    """List, inspect, approve and reject the registered model versions."""


class _LocalModels:
    """The local run's registry (<work-dir>/registry.json) and its S3 folder (<work-dir>/s3)."""

    def __init__(self, env: str, work_dir: Path):
        from config import load_environment
        from pipeline_steps.registry import LocalRegistry

        self.config = load_environment(env)
        self.group = self.config.model_package_group_name
        self.work_dir = work_dir
        self.registry = LocalRegistry(work_dir / "registry.json", str(work_dir / "s3"))

    def entries(self) -> list[dict[str, Any]]:
        if not self.registry.registry_path.is_file():
            raise CliError(
                f"no local registry at {self.registry.registry_path}: run "
                "`jobclf executions start --local --use-type train ...` first, or pass --work-dir"
            )
        return list(reversed(self.registry.entries(self.group)))

    def entry(self, version: int) -> dict[str, Any]:
        for entry in self.entries():
            if entry.get("version") == version:
                return entry
        raise CliError(f"local registry {self.registry.registry_path}: group {self.group} has no version {version}")


def _macro_f1(evaluation: dict[str, Any] | None) -> float | None:
    from pipeline_steps.registry import macro_f1_of

    return macro_f1_of(evaluation) if evaluation else None


def metric_lines(evaluation: dict[str, Any]) -> list[str]:
    from pipeline_steps.contract import FIGURES_KEY, UNSEEN_TITLES

    metrics = evaluation.get(METRICS_KEY) or {}
    lines = []
    if evaluation.get("held_out"):
        lines.append(f"    ({evaluation['held_out']})")
    titles = (evaluation.get(FIGURES_KEY) or {}).get(UNSEEN_TITLES) or {}
    for name in ("macro_f1", "accuracy"):
        if isinstance(titles.get(name), int | float):
            lines.append(f"    {'unseen titles ' + name:<28}{titles[name]:.4f}")
    if titles:
        lines.append("    unseen occupations (the quality gate's):")
    for name in SHOWN_METRICS:
        value = (metrics.get(name) or {}).get("value")
        if isinstance(value, int | float):
            lines.append(f"    {name:<28}{value:.4f}")
    baseline = evaluation.get("baseline") or {}
    if isinstance(baseline.get("macro_f1"), int | float):
        against = baseline.get("model_package_arn") or "no approved model then"
        lines.append(f"    {'baseline macro_f1':<28}{baseline['macro_f1']:.4f} ({against})")
    if "test_rows" in evaluation:
        lines.append(f"    {'test rows':<28}{evaluation['test_rows']}")
    return lines


# -- list -----------------------------------------------------------------------------------------


@models.command("list")
@env_option
@local_option
@work_dir_option
def list_(env, local, work_dir) -> None:
    """List the model versions, newest first: version, approval status, created, macro-F1.

    The macro-F1 is the one of the evaluation.json registered as the version's model-quality
    statistics (the test split of its own training execution).
    """
    rows = []
    if local:
        store = _LocalModels(env, work_dir)
        for entry in store.entries():
            try:
                f1 = render.f1(_macro_f1(store.registry.evaluation_of(entry)))
            except Exception as error:  # one unreadable evaluation should not hide the others
                f1 = f"unreadable ({one_line(error)[:60]})"
            rows.append([entry.get("version"), entry.get("approval_status"), render.when(entry.get("created")), f1])
        where = f"group {store.group} in {store.registry.registry_path}"
    else:
        deployment = Deployment(env)
        for summary in deployment.model_packages():
            package = deployment.sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            uri = metrics_uri_of(package)
            try:
                f1 = render.f1(_macro_f1(deployment.read_evaluation(uri))) if uri else "-"
            except Exception as error:
                from jobclf_cli.aws import explain

                f1 = f"unreadable ({(explain(error) or one_line(error))[:60]})"
            rows.append(
                [
                    summary.get("ModelPackageVersion"),
                    summary.get("ModelApprovalStatus"),
                    render.when(summary.get("CreationTime")),
                    f1,
                ]
            )
        where = f"model package group {deployment.model_package_group_name} ({deployment.region})"
    if not rows:
        click.echo(f"No model versions in {where} yet.")
        return
    click.echo(f"Model versions of {where}:")
    click.echo(render.table(["VERSION", "STATUS", "CREATED", "MACRO-F1"], rows))


# -- show -----------------------------------------------------------------------------------------


@models.command()
@click.argument("version", type=click.IntRange(min=1))
@env_option
@local_option
@work_dir_option
def show(version, env, local, work_dir) -> None:
    """Show a model version: status, artifacts, test metrics and where its evaluation report is."""
    if local:
        store = _LocalModels(env, work_dir)
        entry = store.entry(version)
        metrics_uri = entry.get("metrics_uri")
        evaluation = store.registry.evaluation_of(entry)
        lines = [
            f"Model version {version} of group {store.group} (local registry {store.registry.registry_path})",
            f"  ARN:             {entry.get('model_package_arn')}",
            f"  status:          {entry.get('approval_status')}",
            f"  created:         {render.when(entry.get('created'))}",
        ]
        if entry.get("approval_description"):
            lines.append(f"  approval note:   {entry['approval_description']}")
        lines.append(f"  model:           {store.registry.local_path(entry['model_data_uri'])}")
        report = store.registry.local_path(metrics_uri).with_name("report.html") if metrics_uri else None
        metrics_where = str(store.registry.local_path(metrics_uri)) if metrics_uri else None
    else:
        deployment = Deployment(env)
        package = deployment.model_package(version)
        metrics_uri = metrics_uri_of(package)
        evaluation = deployment.read_evaluation(metrics_uri) if metrics_uri else None
        containers = (package.get("InferenceSpecification") or {}).get("Containers") or [{}]
        lines = [
            f"Model version {version} of group {deployment.model_package_group_name} ({deployment.region})",
            f"  ARN:             {package.get('ModelPackageArn')}",
            f"  status:          {package.get('ModelApprovalStatus')}",
            f"  created:         {render.when(package.get('CreationTime'))}",
        ]
        if package.get("ApprovalDescription"):
            lines.append(f"  approval note:   {package['ApprovalDescription']}")
        lines.append(f"  model:           {containers[0].get('ModelDataUrl', '-')}")
        report = metrics_uri.rsplit("/", 1)[0] + "/report.html" if metrics_uri else None
        metrics_where = metrics_uri
    if evaluation is None:
        lines.append("  metrics:         none registered")
    else:
        lines.append(f"  metrics:         {metrics_where}")
        lines.extend(metric_lines(evaluation))
        lines.append(f"  report:          {report}")
        if not local:
            lines.append(f"                   (read it: aws s3 cp {report} report.html)")
    click.echo("\n".join(lines))


# -- approve / reject -----------------------------------------------------------------------------


def _set_status(version: int, env: str, local: bool, work_dir: Path, status: str, reason: str | None) -> None:
    if local:
        store = _LocalModels(env, work_dir)
        before = store.entry(version).get("approval_status")
        store.registry.set_approval_status(store.group, version, status, reason)
        where = f"group {store.group} (local registry {store.registry.registry_path})"
    else:
        deployment = Deployment(env)
        package = deployment.model_package(version)
        before = package.get("ModelApprovalStatus")
        arguments = {"ModelPackageArn": package["ModelPackageArn"], "ModelApprovalStatus": status}
        if reason:
            arguments["ApprovalDescription"] = reason
        deployment.sagemaker.update_model_package(**arguments)
        where = f"group {deployment.model_package_group_name} ({deployment.region})"
    click.echo(f"Model version {version} of {where}: {before} -> {status}" + (f" ({reason})" if reason else ""))


@models.command()
@click.argument("version", type=click.IntRange(min=1))
@env_option
@click.option("--reason", help="Why (stored as the version's ApprovalDescription).")
@local_option
@work_dir_option
def approve(version, env, reason, local, work_dir) -> None:
    """Approve a model version: the next predict execution uses the latest approved version."""
    _set_status(version, env, local, work_dir, APPROVED, reason)


@models.command()
@click.argument("version", type=click.IntRange(min=1))
@env_option
@click.option("--reason", required=True, help="Why it is rejected (stored as the version's ApprovalDescription).")
@local_option
@work_dir_option
def reject(version, env, reason, local, work_dir) -> None:
    """Reject a model version: predict executions stop using it (they take the latest approved one)."""
    if not reason.strip():
        raise click.BadParameter("give a reason", param_hint="--reason")
    _set_status(version, env, local, work_dir, "Rejected", reason)
