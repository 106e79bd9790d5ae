"""The `jobclf` command group and its error handling: every failure ends in one line on stderr."""

from __future__ import annotations

import sys

import click

from jobclf_cli import __version__
from jobclf_cli.aws import CliError, explain, one_line

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class JobClfGroup(click.Group):
    """Turns configuration, registry and AWS errors into `Error: <one line>` and exit status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except CliError as error:
            raise click.ClickException(one_line(error)) from None
        except Exception as error:
            from config import ConfigError
            from pipeline_steps.registry import RegistryError

            if isinstance(error, ConfigError | RegistryError):
                raise click.ClickException(one_line(error)) from None
            message = explain(error)
            if message is None:
                raise
            raise click.ClickException(message) from None


@click.group("jobclf", cls=JobClfGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="jobclf")
def cli() -> None:
    """Operate the JobClf pipeline, its model registry and its endpoint, on AWS or locally (--local).

    \b
    Examples:
      jobclf executions start --env develop --use-type train
      jobclf executions show 1a2b3c4d5e6f --env develop --watch
      jobclf models list --env develop
      jobclf models approve 3 --env production
      jobclf endpoint show --env production
      jobclf classify "Registered Nurse" "Truck Driver" --env develop
      jobclf executions start --local --env develop --use-type train --onet-dir DIR
      jobclf serve --local --env develop      (then: jobclf classify --local "Line Cook")

    On AWS, credentials and region come from the usual places (AWS_PROFILE, environment,
    SSO); the region defaults to the environment's configured one. Names are read from the
    outputs of the stack JobClf-<env>, else derived from the configuration (jobclf-<env>).
    """


def main(argv: list[str] | None = None) -> None:
    """The console script `jobclf` (and `python -m jobclf_cli`)."""
    cli.main(args=argv, prog_name="jobclf")


def _register() -> None:
    from jobclf_cli.endpoint import endpoint
    from jobclf_cli.executions import executions
    from jobclf_cli.models import models
    from jobclf_cli.serving import classify, serve

    cli.add_command(executions)
    cli.add_command(models)
    cli.add_command(endpoint)
    cli.add_command(classify)
    cli.add_command(serve)


_register()

if __name__ == "__main__":
    main(sys.argv[1:])
