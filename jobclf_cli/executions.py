"""`jobclf executions ...`: start, list, show (and follow) and stop pipeline executions."""

from __future__ import annotations

import datetime
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import click

from jobclf_cli import render, reports
from jobclf_cli.aws import CliError, Deployment
from jobclf_cli.options import (
    env_option,
    interval_option,
    local_option,
    param_option,
    reject_outside_local,
    work_dir_option,
)
from pipeline_steps.contract import USE_TYPES

FINAL = render.FINAL_EXECUTION_STATUSES


@click.group()
def executions() -> None:
    """Start, list, show (and follow) and stop pipeline executions."""


# -- start ----------------------------------------------------------------------------------------


@executions.command()
@env_option
@click.option(
    "--use-type",
    type=click.Choice(USE_TYPES),
    required=True,
    help="train: ETL, split, train, evaluate, gate, register. predict: prepare and batch-predict titles.",
)
@param_option
@click.option("--display-name", help="Name shown in SageMaker Studio (default: cli-<use-type>-<UTC time>).")
@click.option("--watch", is_flag=True, help="Follow the execution until it ends (as `executions show --watch`).")
@interval_option
@local_option
@click.option(
    "--onet-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="With --local, train: folder with the O*NET Occupation Data and Alternate Titles (.xlsx or .txt).",
)
@click.option(
    "--input",
    "input_",
    type=click.Path(exists=True, path_type=Path),
    help="With --local, predict: CSV or Parquet file with a title column (optional id), or a folder of them.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --local, predict: where to write the predictions CSV.",
)
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

    source = _AwsExecutions(env)
    deployment = source.deployment
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
        _watch(source, arn, interval)
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
    from workflow.local.request import LocalRunRequest, UsageError
    from workflow.local.run import run_local, summarize
    from workflow.local.runner import ParameterError
    from workflow.local.s3 import NoSpace

    run = LocalRunRequest(
        env=env, use_type=use_type, params=params, onet_dir=onet_dir, input=input_, output=output, work_dir=work_dir
    )
    try:
        return summarize(run_local(run))
    except UsageError as error:
        raise click.UsageError(str(error)) from None
    except (ConfigError, ParameterError, UnsupportedDefinition, NoSpace) as error:
        raise CliError(str(error)) from None
    except Interrupted as interrupted:
        click.echo(f"The local run was {interrupted}; its steps were stopped.", err=True)
        return 128 + interrupted.signum


# -- where the executions are: SageMaker, or the local run's work dir --------------------------------


class _AwsExecutions:
    """The deployed pipeline's executions, through the SageMaker API."""

    def __init__(self, env: str):
        self.env = env
        self.deployment = Deployment(env)
        self.pipeline_name = self.deployment.pipeline_name
        self.where = f"pipeline {self.pipeline_name} ({self.deployment.region})"
        self.options = ""

    def arn(self, execution: str) -> str:
        return self.deployment.execution_arn(execution)

    def summaries(self, limit: int) -> list[dict[str, Any]]:
        self.deployment.pipeline  # noqa: B018 (a missing pipeline is reported as such, with where its name came from)
        response = self.deployment.sagemaker.list_pipeline_executions(
            PipelineName=self.pipeline_name, SortBy="CreationTime", SortOrder="Descending", MaxResults=limit
        )
        return response.get("PipelineExecutionSummaries") or []

    def snapshot(self, arn: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        sagemaker = self.deployment.sagemaker
        execution = sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn)
        steps: list[dict[str, Any]] = []
        for page in sagemaker.get_paginator("list_pipeline_execution_steps").paginate(
            PipelineExecutionArn=arn, SortOrder="Ascending"
        ):
            steps.extend(page.get("PipelineExecutionSteps") or [])
        return execution, steps

    def status(self, arn: str) -> str:
        return self.deployment.sagemaker.describe_pipeline_execution(PipelineExecutionArn=arn).get(
            "PipelineExecutionStatus", "?"
        )

    def parameters(self, arn: str) -> list[dict[str, Any]]:
        response = self.deployment.sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)
        return response.get("PipelineParameters") or []

    def stop(self, arn: str) -> None:
        self.deployment.sagemaker.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=uuid.uuid4().hex)

    def prediction_report(self, arn: str, execution: dict[str, Any], parameters: list[dict[str, Any]]):
        """(where the execution's prediction report is or was looked for, the report or None)."""
        return reports.aws_report(self.deployment, arn.rsplit("/", 1)[-1], parameters, execution)


class _LocalExecutions:
    """The local run's executions, as recorded in its work dir (workflow.local.executions), shaped as SageMaker's."""

    def __init__(self, env: str, work_dir: Path):
        from config import load_environment
        from workflow.local.request import DEFAULT_WORK_DIR

        self.env = env
        self.work_dir = work_dir
        self.pipeline_name = load_environment(env).pipeline_name
        self.where = f"pipeline {self.pipeline_name} (local work dir {work_dir})"
        self.options = " --local" + ("" if work_dir == DEFAULT_WORK_DIR else f" --work-dir {work_dir}")

    def _record(self, execution: str) -> dict[str, Any]:
        from workflow.local.executions import NoSuchExecution, read_execution

        try:
            return read_execution(self.work_dir, execution)
        except NoSuchExecution as error:
            raise CliError(str(error)) from None

    def arn(self, execution: str) -> str:
        return self._record(execution)["PipelineExecutionArn"]

    def summaries(self, limit: int) -> list[dict[str, Any]]:
        from workflow.local.executions import read_executions

        return [
            {
                **record,
                "StartTime": record["CreationTime"],
                "PipelineExecutionFailureReason": record.get("FailureReason"),
            }
            for record in read_executions(self.work_dir)[:limit]
        ]

    def snapshot(self, arn: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        record = self._record(arn)
        return record, record["PipelineExecutionSteps"]

    def status(self, arn: str) -> str:
        return self._record(arn)["PipelineExecutionStatus"]

    def parameters(self, arn: str) -> list[dict[str, Any]]:
        return self._record(arn)["PipelineParameters"]

    def stop(self, arn: str) -> None:
        from workflow.local.executions import stop_execution

        stop_execution(self.work_dir, arn)

    def prediction_report(self, arn: str, execution: dict[str, Any], parameters: list[dict[str, Any]]):
        """(where the execution's prediction report is or was looked for, the report or None): the local run
        maps the predictions bucket into the work dir."""
        from config import load_environment
        from workflow.local.run import local_buckets

        bucket = local_buckets(load_environment(self.env)).predictions
        return reports.local_report(self.work_dir / "s3", bucket, arn.rsplit("/", 1)[-1])


def _executions_of(env: str, local: bool, work_dir: Path) -> _AwsExecutions | _LocalExecutions:
    return _LocalExecutions(env, work_dir) if local else _AwsExecutions(env)


# -- list -----------------------------------------------------------------------------------------


@executions.command("list")
@env_option
@click.option("--limit", type=click.IntRange(1, 100), default=20, show_default=True, help="How many, newest first.")
@local_option
@work_dir_option
def list_(env, limit, local, work_dir) -> None:
    """List the pipeline's executions, newest first (with --local, the local run's in its work dir)."""
    source = _executions_of(env, local, work_dir)
    summaries = source.summaries(limit)
    if not summaries:
        click.echo(f"Pipeline {source.pipeline_name} has no executions yet ({source.where}).")
        return
    rows = []
    for s in summaries[:limit]:
        status = s.get("PipelineExecutionStatus", "?")
        reason = s.get("PipelineExecutionFailureReason") if status == "Failed" else ""
        reason = "" if reason in (None, "None") else reason
        rows.append(
            [
                s["PipelineExecutionArn"].rsplit("/", 1)[-1],
                status,
                render.when(s.get("StartTime")),
                s.get("PipelineExecutionDisplayName") or "",
                reason or "",
            ]
        )
    click.echo(f"Executions of {source.where}:")
    click.echo(render.table(["ID", "STATUS", "STARTED", "DISPLAY NAME", "FAILURE REASON"], rows))


# -- show -----------------------------------------------------------------------------------------


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


def _render_execution(
    pipeline_name: str,
    execution: dict[str, Any],
    steps: list[dict[str, Any]],
    parameters: list[dict[str, Any]] | None = None,
) -> str:
    status = execution.get("PipelineExecutionStatus", "?")
    arn = execution["PipelineExecutionArn"]
    ended = execution.get("LastModifiedTime") if status in FINAL else None
    lines = [
        f"Execution {arn.rsplit('/', 1)[-1]} of pipeline {pipeline_name}: {status}",
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
        rows = [
            [
                s.get("StepName", "?"),
                s.get("StepStatus", "?"),
                render.when(s.get("StartTime")),
                render.when(s.get("EndTime")),
                render.duration(s.get("StartTime"), s.get("EndTime")),
                _step_detail(s),
            ]
            for s in steps
        ]
        lines.append(render.table(["STEP", "STATUS", "STARTED", "ENDED", "DURATION", "DETAIL"], rows))
    else:
        lines.append("No steps have started yet.")
    return "\n".join(lines)


@executions.command()
@click.argument("execution")
@env_option
@click.option(
    "--watch", is_flag=True, help="Poll until the execution ends, with a live display; exit 1 unless it succeeds."
)
@interval_option
@local_option
@work_dir_option
def show(execution, env, watch, interval, local, work_dir) -> None:
    """Show an execution and each of its steps: status, start, end, duration, failure reason; for a predict
    execution, its prediction report (from the predictions bucket, or with --local the work dir's).

    EXECUTION is the ID that `executions start` and `executions list` print, or a full ARN.
    """
    source = _executions_of(env, local, work_dir)
    arn = source.arn(execution)
    if watch:
        _watch(source, arn, interval)
        return
    described, steps = source.snapshot(arn)
    parameters = source.parameters(arn)
    click.echo(_render_execution(source.pipeline_name, described, steps, parameters))
    if reports.writes_a_report(steps):
        where, report = source.prediction_report(arn, described, parameters)
        click.echo("\n" + "\n".join(reports.report_lines(where, report)))


def _watch(source: _AwsExecutions | _LocalExecutions, arn: str, interval: float) -> None:
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
            execution, steps = source.snapshot(arn)
            status = execution.get("PipelineExecutionStatus", "?")
            if live is not None:
                from rich.text import Text

                footer = (
                    ""
                    if status in FINAL
                    else f"\n\nPolling every {interval:g}s (Ctrl-C stops watching, not the execution)"
                )
                live.update(Text(_render_execution(source.pipeline_name, execution, steps) + footer))
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
        click.echo(_render_execution(source.pipeline_name, execution, steps))
    if status != "Succeeded":
        reason = execution.get("FailureReason") or next(
            (s["FailureReason"] for s in steps if s.get("FailureReason")), ""
        )
        raise CliError(f"execution {arn.rsplit('/', 1)[-1]} ended {status}" + (f": {reason}" if reason else ""))


# -- stop -----------------------------------------------------------------------------------------


@executions.command()
@click.argument("execution")
@env_option
@local_option
@work_dir_option
def stop(execution, env, local, work_dir) -> None:
    """Stop a running execution: it is Stopping until its running step has stopped, then Stopped.

    EXECUTION is the ID that `executions start` and `executions list` print, or a full ARN. With
    --local, the local run executing it is sent SIGTERM (as Ctrl-C), and stops its steps.
    """
    source = _executions_of(env, local, work_dir)
    arn = source.arn(execution)
    execution_id = arn.rsplit("/", 1)[-1]
    status = source.status(arn)
    if status in FINAL:
        raise CliError(f"execution {execution_id} has already ended ({status}): nothing to stop")
    if status == "Stopping":
        click.echo(f"Execution {execution_id} is already stopping: it ends once its running step has stopped.")
    else:
        source.stop(arn)
        click.echo(f"Stopping execution {execution_id} (was {status}).")
    click.echo(f"Follow it: jobclf executions show {execution_id} --env {env}{source.options} --watch")
