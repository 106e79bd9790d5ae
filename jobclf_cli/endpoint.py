"""`jobclf endpoint show`: which model package the environment's endpoint serves, since when, and its figures."""

from __future__ import annotations

import datetime
from typing import Any

import click

from jobclf_cli import render
from jobclf_cli.aws import CliError, Deployment, error_code, metrics_uri_of, one_line
from jobclf_cli.options import env_option

# What `show` reads from CloudWatch for the endpoint's variant (namespace AWS/SageMaker; ModelLatency in microseconds).
INVOCATION_METRICS = (
    ("Invocations", "Sum"),
    ("Invocation4XXErrors", "Sum"),
    ("Invocation5XXErrors", "Sum"),
    ("ModelLatency", "Average"),
    ("ModelLatency", "Maximum"),
)


@click.group()
def endpoint() -> None:
    """The environment's real-time endpoint, which serves the latest approved model version."""


def _describe(deployment: Deployment) -> dict[str, Any]:
    name = deployment.endpoint_name
    try:
        return deployment.sagemaker.describe_endpoint(EndpointName=name)
    except Exception as error:
        if error_code(error) in {"ValidationException", "ValidationError"} and "Could not find" in str(error):
            raise CliError(
                f"endpoint {name} not found in {deployment.region} ({deployment.names_from or 'name from the configuration'}): "
                f"it is created when a model version of group {deployment.model_package_group_name} is approved "
                f"(`jobclf models list --env {deployment.config.name}`)"
            ) from None
        raise


def _package_line(deployment: Deployment, config_name: str) -> tuple[str, dict[str, Any] | None]:
    from endpoint_deployer.deployer import served_package_arn

    arn = served_package_arn(deployment.sagemaker, config_name)
    if arn is None:
        return f"no model package (endpoint configuration {config_name})", None
    package = deployment.sagemaker.describe_model_package(ModelPackageName=arn)
    return (
        f"model version {package.get('ModelPackageVersion')} of group {package.get('ModelPackageGroupName')} "
        f"({package.get('ModelApprovalStatus')})"
    ), package


def _capacity(deployment: Deployment, config_name: str) -> str:
    config = deployment.sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    variant = (config.get("ProductionVariants") or [{}])[0]
    serverless = variant.get("ServerlessConfig")
    if serverless:
        return f"serverless, {serverless['MemorySizeInMB']} MB, at most {serverless['MaxConcurrency']} concurrent invocations"
    return f"{variant.get('InitialInstanceCount')} x {variant.get('InstanceType')}"


def _invocation_figures(deployment: Deployment, hours: int) -> str:
    """Invocations, 4xx, 5xx and model latency of the variant over the last `hours` (one period)."""
    from endpoint_deployer.deployer import VARIANT_NAME

    end = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    dimensions = [
        {"Name": "EndpointName", "Value": deployment.endpoint_name},
        {"Name": "VariantName", "Value": VARIANT_NAME},
    ]
    queries = [
        {"Id": f"m{i}", "ReturnData": True,
         "MetricStat": {"Metric": {"Namespace": "AWS/SageMaker", "MetricName": metric, "Dimensions": dimensions},
                        "Period": hours * 3600, "Stat": stat}}
        for i, (metric, stat) in enumerate(INVOCATION_METRICS)
    ]  # fmt: skip
    response = deployment.client("cloudwatch").get_metric_data(
        MetricDataQueries=queries, StartTime=end - datetime.timedelta(hours=hours), EndTime=end
    )
    combine = {"Sum": sum, "Maximum": max, "Average": lambda values: sum(values) / len(values)}
    stats = {f"m{i}": stat for i, (_, stat) in enumerate(INVOCATION_METRICS)}
    values = {
        result["Id"]: combine[stats[result["Id"]]](result["Values"]) if result.get("Values") else None
        for result in response.get("MetricDataResults") or []
    }
    invocations, client_errors, server_errors, latency, latency_max = (values.get(f"m{i}") for i in range(len(queries)))
    if not invocations:
        return "no invocations"
    ms = lambda microseconds: "-" if microseconds is None else f"{microseconds / 1000:.1f} ms"  # noqa: E731
    return (
        f"{int(invocations)} invocations, {int(client_errors or 0)} 4xx, {int(server_errors or 0)} 5xx; "
        f"model latency {ms(latency)} on average, {ms(latency_max)} at most"
    )


@endpoint.command()
@env_option
@click.option(
    "--hours",
    type=click.IntRange(1, 24 * 14),
    default=24,
    show_default=True,
    help="The period of the invocation figures, ending now.",
)
def show(env, hours) -> None:
    """Show the endpoint: its status, the model version it serves and since when, its capacity, its invocation
    figures from CloudWatch and the served version's registered (held-out) metrics.

    The endpoint follows the model registry: an approved version is deployed by the endpoint deployer
    function, a rejected one is rolled back (docs/operating.md).
    """
    from jobclf_cli.models import metric_lines

    deployment = Deployment(env)
    described = _describe(deployment)
    status = described.get("EndpointStatus", "?")
    config_name = described["EndpointConfigName"]
    serving, package = _package_line(deployment, config_name)
    lines = [
        f"Endpoint {deployment.endpoint_name} ({deployment.region}): {status}",
        f"  serving:         {serving}",
        f"  since:           {render.when(described.get('LastModifiedTime'))}",
        f"  configuration:   {config_name}",
        f"  capacity:        {_capacity(deployment, config_name)}",
    ]
    if package is not None:
        lines.insert(2, f"  package:         {package.get('ModelPackageArn')}")
    pending = described.get("PendingDeploymentSummary") or {}
    if pending.get("EndpointConfigName"):
        next_serving, _ = _package_line(deployment, pending["EndpointConfigName"])
        lines.append(f"  updating to:     {next_serving} (started {render.when(pending.get('StartTime'))})")
    if described.get("FailureReason"):
        lines.append(f"  last failure:    {one_line(described['FailureReason'])}")
    lines.append(f"{f'  last {hours} h:':<19}{_invocation_figures(deployment, hours)}")
    uri = metrics_uri_of(package) if package else None
    if uri:
        lines.append(f"  model metrics:   {uri}")
        lines.extend(metric_lines(deployment.read_evaluation(uri)))
    click.echo("\n".join(lines))
