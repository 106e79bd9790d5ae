"""`jobclf executions ...`: start, list, show (and follow) and stop pipeline executions."""

from __future__ import annotations

import datetime
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import click

from jobclf_cli import render
from jobclf_cli.aws import CliError, Deployment
from jobclf_cli.options import env_option, local_option, param_option, reject_outside_local, work_dir_option
from workflow.local.request import USE_TYPES

FINAL = render.FINAL_EXECUTION_STATUSES


@click.group()
def executions() -> None:
    """Start, list, show (and follow) and stop pipeline executions."""


# -- start ----------------------------------------------------------------------------------------


@executions.command()
@env_option
@click.option("--use-type", type=click.Choice(USE_TYPES), required=True,
              help="train: ETL, split, train, evaluate, gate, register. predict: prepare and batch-predict titles.")  # fmt: skip
@param_option
@click.option("--display-name", help="Name shown in SageMaker Studio (default: cli-<use-type>-<UTC time>).")
@click.option("--watch", is_flag=True, help="Follow the execution until it ends (as `executions show --watch`).")
@click.option("--interval", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="With --watch: seconds between polls.")  # fmt: skip
@local_option
@click.option("--onet-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="With --local, train: folder with the O*NET Occupation Data and Alternate Titles (.xlsx or .txt).")  # fmt: skip
@click.option("--input", "input_", type=click.Path(exists=True, path_type=Path),
              help="With --local, predict: CSV or Parquet file with a title column (optional id), or a folder of them.")  # fmt: skip
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="With --local, predict: where to write the predictions CSV.")  # fmt: skip
@work_dir_option
def start(env, use_type, params, display_name, watch, interval, local, onet_dir, input_, output, work_dir) -> None:
    """Start an execution of the environment's pipeline.

    On AWS, the parameters are checked against those the deployed pipeline declares
    (names, types, allowed values) before the execution is started; the command prints the
    execution ID. With --local the same definition runs on this machine, in the foreground.

    \b
    Examples:
      jobclf executions start --env develop --use-type train --param min_macro_f1=0.6
      jobclf executions start --env develop --use-type predict --param input_titles_uri=s3://BUCKET/titles/2026-11-23/
      jobclf executions start --local --env develop --use-type train --onet-dir ../shared/onet/db_28_1_excel
      jobclf executions start --local --env develop --use-type predict --input titles.csv --output predictions.csv
    """
    if "use_type" in params and params["use_type"] != use_type:
        raise click.UsageError(f"--param use_type={params['use_type']} contradicts --use-type {use_type}")
    if local:
        if watch:
            raise click.UsageError("--watch is for AWS executions; a --local run is followed in the foreground")
        sys.exit(_start_local(env, use_type, params, onet_dir, input_, output, work_dir))
    reject_outside_local(local, onet_dir=onet_dir, input=input_, output=output, work_dir=work_dir)

    deployment = Deployment(env)
    overrides = {**params, "use_type": use_type}
    _check_parameters(deployment, overrides)
    name = display_name or datetime.datetime.now(datetime.UTC).strftime(f"cli-{use_type}-%Y%m%dT%H%M%S")
    response = deployment.sagemaker.start_pipeline_execution(
        PipelineName=deployment.pipeline_name,
        PipelineExecutionDisplayName=name,
        PipelineParameters=[{"Name": k, "Value": v} for k, v in sorted(overrides.items())],
        ClientRequestToken=uuid.uuid4().hex,
    )
    arn = response["PipelineExecutionArn"]
    execution_id = arn.rsplit("/", 1)[-1]
    shown = ", ".join(f"{k}={v}" for k, v in sorted(overrides.items()))
    click.echo(f"Started execution {execution_id} of pipeline {deployment.pipeline_name} ({shown})")
    click.echo(f"ARN: {arn}")
    if watch:
        _watch(deployment, arn, interval)
    else:
        click.echo(f"Follow it: jobclf executions show {execution_id} --env {env} --watch")


def _check_parameters(deployment: Deployment, overrides: dict[str, str]) -> None:
    """Check names, types, allowed values and ranges against the deployed definition (the local run's own checks)."""
    from workflow.local.expressions import UnsupportedDefinition
    from workflow.local.runner import ParameterError, failed_parameter_checks, resolve_parameters

    definition = deployment.definition()
    try:
        values = resolve_parameters(definition.get("Parameters") or [], overrides)
    except UnsupportedDefinition:
        return  # a type the local check does not know (e.g. Boolean): SageMaker checks it
    except ParameterError as error:
        raise CliError(f"pipeline {deployment.pipeline_name}: {error}") from None
    failed = failed_parameter_checks(definition, values)
    if failed:
        raise CliError(f"pipeline {deployment.pipeline_name}: parameter out of range: {'; '.join(failed)}")


def _start_local(env, use_type, params, onet_dir, input_, output, work_dir) -> int:
    """Run the definition locally: the same request, checks, execution and summary as `python -m workflow.local`."""
    from config import ConfigError
    from workflow.local.expressions import UnsupportedDefinition
    from workflow.local.processes import Interrupted
    from workflow.local.request import LocalRun, UsageError
    from workflow.local.run import run_local, summarize
    from workflow.local.runner import ParameterError

    run = LocalRun(env=env, use_type=use_type, params=params, onet_dir=onet_dir, input=input_, output=output,
                   work_dir=work_dir)  # fmt: skip
    try:
        return summarize(run_local(run))
    except UsageError as error:
        raise click.UsageError(str(error)) from None
    except (ConfigError, ParameterError, UnsupportedDefinition) as error:
        raise CliError(str(error)) from None
    except Interrupted as interrupted:
        click.echo(f"The local run was {interrupted}; its steps were stopped.", err=True)
        return 128 + interrupted.signum


# -- list -----------------------------------------------------------------------------------------


@executions.command("list")
@env_option
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True, help="How many, newest first.")
def list_(env, limit) -> None:
    """List the pipeline's executions, newest first."""
    deployment = Deployment(env)
    deployment.pipeline  # noqa: B018 (a missing pipeline is reported as such, with where its name came from)
    response = deployment.sagemaker.list_pipeline_executions(
        PipelineName=deployment.pipeline_name, SortBy="CreationTime", SortOrder="Descending", MaxResults=limit
    )
    summaries = response.get("PipelineExecutionSummaries") or []
    if not summaries:
        click.echo(f"Pipeline {deployment.pipeline_name} has no executions yet.")
        return
    rows = []
    for s in summaries[:limit]:
        status = s.get("PipelineExecutionStatus", "?")
        reason = s.get("PipelineExecutionFailureReason") if status == "Failed" else ""
        reason = "" if reason in (None, "None") else reason
        rows.append([s["PipelineExecutionArn"].rsplit("/", 1)[-1], status, render.when(s.get("StartTime")),
                     s.get("PipelineExecutionDisplayName") or "", reason or ""])  # fmt: skip
    click.echo(f"Executions of pipeline {deployment.pipeline_name} ({deployment.region}):")
    click.echo(render.table(["ID", "STATUS", "STARTED", "DISPLAY NAME", "FAILURE REASON"], rows))


# -- show -----------------------------------------------------------------------------------------


def _snapshot(deployment: Deployment, arn: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    execution = deployment.sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)
    steps: list[dict[str, Any]] = []
    paginator = deployment.sagemaker.get_paginator("list_pipeline_execution_steps")
    for page in paginator.paginate(PipelineExecutionArn=arn, SortOrder="Ascending"):
        steps.extend(page.get("PipelineExecutionSteps") or [])
    return execution, steps


def _step_detail(step: dict[str, Any]) -> str:
    if step.get("FailureReason"):
        return step["FailureReason"]
    metadata = step.get("Metadata") or {}
    for kind in ("ProcessingJob", "TrainingJob", "EMR", "RegisterModel", "Model", "Fail"):
        if kind in metadata:
            value = metadata[kind]
            if not isinstance(value, dict):
                continue
            for key in ("Arn", "ClusterId", "ErrorMessage"):
                if value.get(key):
                    return f"{kind}: {value[key]}"
    if "Condition" in metadata:
        return f"condition outcome: {metadata['Condition'].get('Outcome', '?')}"
    return ""


def _render_execution(deployment: Deployment, execution: dict[str, Any], steps: list[dict[str, Any]],
                      parameters: list[dict[str, Any]] | None = None) -> str:  # fmt: skip
    status = execution.get("PipelineExecutionStatus", "?")
    arn = execution["PipelineExecutionArn"]
    ended = execution.get("LastModifiedTime") if status in FINAL else None
    lines = [
        f"Execution {arn.rsplit('/', 1)[-1]} of pipeline {deployment.pipeline_name}: {status}",
        f"  display name: {execution.get('PipelineExecutionDisplayName') or '-'}",
        f"  started:      {render.when(execution.get('CreationTime'))}",
        f"  ended:        {render.when(ended)}",
        f"  duration:     {render.duration(execution.get('CreationTime'), ended)}",
    ]
    if status == "Failed" and execution.get("FailureReason"):
        lines.append(f"  failure:      {execution['FailureReason']}")
    if parameters:
        lines.append("  parameters:   " + ", ".join(f"{p['Name']}={p['Value']}" for p in parameters))
    lines.append("")
    if steps:
        rows = [[s.get("StepName", "?"), s.get("StepStatus", "?"), render.when(s.get("StartTime")),
                 render.when(s.get("EndTime")), render.duration(s.get("StartTime"), s.get("EndTime")),
                 _step_detail(s)] for s in steps]  # fmt: skip
        lines.append(render.table(["STEP", "STATUS", "STARTED", "ENDED", "DURATION", "DETAIL"], rows))
    else:
        lines.append("No steps have started yet.")
    return "\n".join(lines)


@executions.command()
@click.argument("execution")
@env_option
@click.option("--watch", is_flag=True, help="Poll until the execution ends, with a live display; exit 1 unless it succeeds.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="With --watch: seconds between polls.")  # fmt: skip
def show(execution, env, watch, interval) -> None:
    """Show an execution and each of its steps: status, start, end, duration, failure reason.

    EXECUTION is the ID that `executions start` and `executions list` print, or a full ARN.
    """
    deployment = Deployment(env)
    arn = deployment.execution_arn(execution)
    if watch:
        _watch(deployment, arn, interval)
        return
    described, steps = _snapshot(deployment, arn)
    parameters = deployment.sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)
    click.echo(_render_execution(deployment, described, steps, parameters.get("PipelineParameters")))


def _watch(deployment: Deployment, arn: str, interval: float) -> None:
    """Poll until the execution ends. A terminal gets a live table; a pipe or log gets one line per change."""
    live = None
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        live = Live(Text(""), console=Console(), refresh_per_second=4, transient=False)
        live.start()
    seen: dict[str, str] = {}
    try:
        while True:
            execution, steps = _snapshot(deployment, arn)
            status = execution.get("PipelineExecutionStatus", "?")
            if live is not None:
                from rich.text import Text

                footer = "" if status in FINAL else f"\n\nPolling every {interval:g}s (Ctrl-C stops watching, not the execution)"
                live.update(Text(_render_execution(deployment, execution, steps) + footer))
            else:
                changes = [(s.get("StepName", "?"), s.get("StepStatus", "?")) for s in steps]
                changes.append(("execution", status))
                for name, step_status in changes:
                    if seen.get(name) != step_status:
                        seen[name] = step_status
                        stamp = datetime.datetime.now(datetime.UTC).strftime("%H:%M:%SZ")
                        click.echo(f"{stamp}  {name}: {step_status}")
            if status in FINAL:
                break
            time.sleep(interval)
    finally:
        if live is not None:
            live.stop()
    if live is None:
        click.echo("")
        click.echo(_render_execution(deployment, execution, steps))
    if status != "Succeeded":
        reason = execution.get("FailureReason") or next((s["FailureReason"] for s in steps if s.get("FailureReason")), "")
        raise CliError(f"execution {arn.rsplit('/', 1)[-1]} ended {status}" + (f": {reason}" if reason else ""))


# -- stop -----------------------------------------------------------------------------------------


@executions.command()
@click.argument("execution")
@env_option
def stop(execution, env) -> None:
    """Stop a running execution: it is Stopping until its running step has stopped, then Stopped.

    EXECUTION is the ID that `executions start` and `executions list` print, or a full ARN.
    """
    deployment = Deployment(env)
    arn = deployment.execution_arn(execution)
    execution_id = arn.rsplit("/", 1)[-1]
    status = deployment.sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn).get("PipelineExecutionStatus")
    if status in FINAL:
        raise CliError(f"execution {execution_id} has already ended ({status}): nothing to stop")
    if status == "Stopping":
        click.echo(f"Execution {execution_id} is already stopping: it ends once its running step has stopped.")
    else:
        deployment.sagemaker.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=uuid.uuid4().hex)
        click.echo(f"Stopping execution {execution_id} (was {status}).")
    click.echo(f"Follow it: jobclf executions show {execution_id} --env {env} --watch")
