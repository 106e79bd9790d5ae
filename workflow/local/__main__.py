"""Run an environment's pipeline definition on this machine: offline, without Docker.

    python -m workflow.local --env develop --use-type train --onet-dir DIR [--work-dir DIR] [--param NAME=VALUE ...] [--if-changed]
    python -m workflow.local --env develop --use-type predict --input titles.csv --output predictions.csv
    python -m workflow.local --env develop --use-type predict --input FOLDER --output predictions.csv \
        --param predict_engine=emr --param predict_instance_count=3

The definition is built by the same builder, from the same configuration, as the one `cdk synth`
puts into the CfnPipeline; only the names of deployed resources differ, and every
`s3://bucket/key` is the folder `<work-dir>/s3/bucket/key`. See `workflow.local.run`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from config import ConfigError
from pipeline_steps.contract import USE_TYPES
from workflow.local.expressions import UnsupportedDefinition
from workflow.local.processes import Interrupted
from workflow.local.request import DEFAULT_WORK_DIR, LocalRunRequest, UsageError, parse_param
from workflow.local.run import run_local, summarize
from workflow.local.runner import ParameterError
from workflow.local.s3 import NoSpace


def _param(pair: str) -> tuple[str, str]:
    try:
        return parse_param(pair)
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_arguments(argv: list[str] | None) -> LocalRunRequest:
    parser = argparse.ArgumentParser(
        prog="python -m workflow.local",
        description="Run the environment's SageMaker pipeline definition locally (no AWS, no Docker).",
    )
    parser.add_argument("--env", required=True, help="environment in config/environments.toml, e.g. develop")
    parser.add_argument("--use-type", required=True, choices=USE_TYPES, help="which branch to run")
    parser.add_argument(
        "--onet-dir", type=Path, help="folder with the O*NET Occupation Data and Alternate Titles (.xlsx or .txt)"
    )
    parser.add_argument(
        "--input",
        type=Path,
        help="predict: a CSV or Parquet file with a title column (optional id), or a folder of them",
    )
    parser.add_argument("--output", type=Path, help="predict: where to write the predictions CSV")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="local S3, registry and job folders")
    parser.add_argument(
        "--param", type=_param, action="append", default=[], metavar="NAME=VALUE", help="override a pipeline parameter"
    )
    parser.add_argument(
        "--if-changed",
        action="store_true",
        help="train: only if the definition, the O*NET files or the parameters differ from those of the "
        "latest registered version (else say which version it is and exit 0)",
    )
    args = parser.parse_args(argv)
    return LocalRunRequest(
        env=args.env,
        use_type=args.use_type,
        params=dict(args.param),
        onet_dir=args.onet_dir,
        input=args.input,
        output=args.output,
        work_dir=args.work_dir,
        if_changed=args.if_changed,
    )


def main(argv: list[str] | None = None) -> int:
    run = parse_arguments(argv)
    try:
        return summarize(run_local(run))
    except (ConfigError, UsageError, ParameterError, UnsupportedDefinition) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except NoSpace as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Interrupted as interrupted:
        print(f"\nThe local run was {interrupted}; its steps were stopped.", file=sys.stderr)
        return 128 + interrupted.signum


if __name__ == "__main__":
    sys.exit(main())
