"""Options shared by the commands."""

from __future__ import annotations

from pathlib import Path

import click

from workflow.local.request import DEFAULT_WORK_DIR, UsageError, parse_param


def env_option(function):
    return click.option(
        "--env",
        "env",
        required=True,
        envvar="JOBCLF_ENV",
        show_envvar=True,
        metavar="NAME",
        help="Environment of config/environments.toml, e.g. develop or production.",
    )(function)


def local_option(function):
    return click.option(
        "--local",
        is_flag=True,
        help="Work on the local run's folder (--work-dir) instead of AWS: no account needed.",
    )(function)


def work_dir_option(function):
    return click.option(
        "--work-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_WORK_DIR,
        show_default=True,
        help="With --local: the local run's folder (local S3, registry.json, job folders).",
    )(function)


def interval_option(function):
    return click.option(
        "--interval",
        type=click.FloatRange(min=0.1),
        default=30.0,
        show_default=True,
        help="With --watch: seconds between polls.",
    )(function)


def _params(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    try:
        return dict(parse_param(pair) for pair in values)
    except UsageError as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from None


def param_option(function):
    return click.option(
        "--param",
        "params",
        multiple=True,
        metavar="NAME=VALUE",
        callback=_params,
        help="Set a pipeline parameter (repeatable); checked against the parameters the pipeline declares.",
    )(function)


def reject_outside_local(local: bool, **options) -> None:
    """Options that only make sense with --local are an error without it (and say what to do instead)."""
    if local:
        return
    for name, value in options.items():
        if value not in (None, False, ()) and value != DEFAULT_WORK_DIR:
            flag = "--" + name.replace("_", "-")
            raise click.UsageError(
                f"{flag} is for --local runs; on AWS the pipeline reads its inputs from S3 "
                "(pass e.g. --param onet_input_uri=s3://... or --param input_titles_uri=s3://...)"
            )
