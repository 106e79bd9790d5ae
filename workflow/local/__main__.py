"""Run an environment's pipeline definition on this machine: offline, without Docker.

    python -m workflow.local --env develop --use-type train --onet-dir DIR --work-dir DIR
    python -m workflow.local --env develop --use-type predict --input titles.csv --output predictions.csv --work-dir DIR

The definition is built by the same builder, from the same configuration, as the one `cdk synth`
puts into the CfnPipeline; only the bucket names differ, and every `s3://bucket/key` is the
folder `<work-dir>/s3/bucket/key`.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import shutil
import sys
import uuid
from pathlib import Path

from config import ConfigError, EnvironmentConfig, load_environment
from pipeline_steps.contract import ONET_INPUT_PREFIX, TITLES_INPUT_PREFIX
from workflow.definition import (
    Buckets,
    EmrResources,
    PipelineSpec,
    StackResources,
    StepCode,
    build_definition,
    build_step_bundles,
    pipeline_spec,
)
from workflow.local.executors import JobContext, Toolchain
from workflow.local.expressions import UnsupportedDefinition
from workflow.local.runner import ExecutionOutcome, LocalPipelineRun, ParameterError
from workflow.local.s3 import LocalS3

ONET_TABLES = ("Occupation Data", "Alternate Titles")
ONET_FORMATS = (".xlsx", ".txt")


class UsageError(Exception):
    """Bad command-line input: the message says what to change."""


def local_buckets(config: EnvironmentConfig) -> Buckets:
    prefix = config.resource_prefix
    return Buckets(raw=f"{prefix}-raw", processed=f"{prefix}-processed", models=f"{prefix}-models",
                   predictions=f"{prefix}-predictions")  # fmt: skip


def publish_step_code(config: EnvironmentConfig, s3: LocalS3, build_dir: Path) -> StepCode:
    """Put the step bundles into the local assets bucket under content-hash keys, as CDK assets are."""
    bundles = build_step_bundles(build_dir)
    assets_bucket = f"{config.resource_prefix}-assets"

    def publish(path: Path) -> str:
        uri = f"s3://{assets_bucket}/{hashlib.sha256(path.read_bytes()).hexdigest()}{''.join(path.suffixes)}"
        s3.put_file(path, uri)
        return uri

    return StepCode(
        steps_archive_uri=publish(bundles.steps_archive),
        etl_script_uri=publish(bundles.etl_script),
        training_source_uri=publish(bundles.training_source),
        emr_bootstrap_uri=publish(bundles.emr_bootstrap),
    )


def local_spec(config: EnvironmentConfig, code: StepCode) -> PipelineSpec:
    """The environment's spec with local stand-ins for what only a deployed stack knows (ARNs, IDs)."""
    fake_account = "000000000000"
    # As many as the stack's private subnets: one per availability zone, or the configured ones.
    subnet_count = len(config.network.private_subnet_ids) or config.network.max_azs
    resources = StackResources(
        buckets=local_buckets(config),
        role_arn=f"arn:aws:iam::{fake_account}:role/{config.resource_prefix}-local",
        code=code,
        kms_key_arn=f"arn:aws:kms:{config.region}:{fake_account}:key/00000000-0000-0000-0000-000000000000",
        subnet_ids=tuple(f"subnet-{i:017x}" for i in range(subnet_count)),
        job_security_group_id="sg-0000000000000000d",
        emr=EmrResources(
            instance_profile_name="local-emr-instance-profile",
            service_role_name="local-emr-service-role",
            security_configuration_name="local-emr-security",
            primary_security_group_id="sg-0000000000000000a",
            core_security_group_id="sg-0000000000000000b",
            service_access_security_group_id="sg-0000000000000000c",
            standing_cluster_id="j-LOCALSTANDING" if config.emr.cluster_mode == "standing" else None,
        ),
    )
    return pipeline_spec(config, resources)


def stage_onet(onet_dir: Path, s3: LocalS3, uri: str) -> list[str]:
    """Copy the two O*NET tables (xlsx or txt) into the local raw bucket, replacing what was there."""
    if not onet_dir.is_dir():
        raise UsageError(f"--onet-dir {onet_dir}: no such folder")
    found = [onet_dir / f"{table}{suffix}" for table in ONET_TABLES for suffix in ONET_FORMATS
             if (onet_dir / f"{table}{suffix}").is_file()]  # fmt: skip
    missing = [t for t in ONET_TABLES if not any(p.stem == t for p in found)]
    if missing:
        raise UsageError(f"--onet-dir {onet_dir}: no {' or '.join(f'{missing[0]}{s}' for s in ONET_FORMATS)}")
    target = s3.path(uri)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for path in found:
        shutil.copy2(path, target / path.name)
    return [p.name for p in found]


def parse_params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            raise UsageError(f"--param {pair!r}: expected Name=Value")
        params[name] = value
    return params


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m workflow.local",
        description="Run the environment's SageMaker pipeline definition locally (no AWS, no Docker).",
    )
    parser.add_argument("--env", required=True, help="environment in config/environments.toml, e.g. develop")
    parser.add_argument("--use-type", required=True, choices=["train", "predict"], help="which branch to run")
    parser.add_argument("--onet-dir", type=Path, help="folder with the O*NET Occupation Data and Alternate Titles (.xlsx or .txt)")
    parser.add_argument("--input", type=Path, help="predict: CSV with a title column (optional id)")
    parser.add_argument("--output", type=Path, help="predict: where to write the predictions CSV")
    parser.add_argument("--work-dir", type=Path, default=Path(".work/local"), help="local S3, registry and job folders")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="override a pipeline parameter")
    args = parser.parse_args(argv)
    if args.use_type == "predict" and (args.input is None or args.output is None):
        parser.error("--use-type predict needs --input and --output")
    if args.use_type == "predict" and not args.input.is_file():
        parser.error(f"--input {args.input}: no such file")
    if args.use_type == "predict" and args.input.suffix.lower() != ".csv":
        # The PreprocessPredict step reads *.csv only: say so now, not after the ETL step has run.
        parser.error(f"--input {args.input}: must be a .csv file with a title column (and optional id)")
    return args


def execute(args: argparse.Namespace) -> tuple[ExecutionOutcome, LocalPipelineRun, LocalS3]:
    """Build the environment's definition, stage the inputs and run it; report progress on stdout."""
    config = load_environment(args.env)
    work_dir = args.work_dir.resolve()
    s3 = LocalS3(work_dir / "s3")
    code = publish_step_code(config, s3, work_dir / "bundles")
    spec = local_spec(config, code)
    definition = build_definition(spec)
    (work_dir / "definitions").mkdir(parents=True, exist_ok=True)
    (work_dir / "definitions" / f"{config.resource_prefix}.json").write_text(definition)

    execution_id = datetime.datetime.now(datetime.UTC).strftime("local-%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:6]
    params = {"use_type": args.use_type, **parse_params(args.param)}
    onet_uri = params.get("onet_input_uri", f"s3://{spec.buckets.raw}/{ONET_INPUT_PREFIX}")
    if args.onet_dir is not None:
        staged = stage_onet(args.onet_dir, s3, onet_uri)
        print(f"O*NET input: {', '.join(staged)} from {args.onet_dir} -> {onet_uri}")
    elif not s3.path(onet_uri).is_dir():
        raise UsageError(f"no O*NET files at {onet_uri} yet: pass --onet-dir (the ETL step runs on every execution)")
    if args.use_type == "predict":
        titles_uri = f"s3://{spec.buckets.raw}/{TITLES_INPUT_PREFIX}{execution_id}/"
        s3.put_file(args.input, titles_uri + args.input.name)
        params.setdefault("input_titles_uri", titles_uri)
        params.setdefault("execution_date", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"))

    job = JobContext(
        execution_id=execution_id,
        pipeline_name=spec.pipeline_name,
        work_dir=work_dir,
        s3=s3,
        toolchain=Toolchain(sklearn_image_tag=spec.sklearn_framework_version,
                            spark_submit=Path(sys.executable).with_name("spark-submit")),  # fmt: skip
        registry_file=work_dir / "registry.json",
    )
    execution = LocalPipelineRun(definition, job, params, standing_emr_release=config.emr.release_label)
    print(f"Pipeline {spec.pipeline_name}, execution {execution_id} (use_type={args.use_type}); work dir {work_dir}")
    print("Retry policies are not applied locally: they retry AWS throttling and capacity errors only.")
    return execution.run(), execution, s3


def summarize(outcome: ExecutionOutcome, execution: LocalPipelineRun, s3: LocalS3, args: argparse.Namespace) -> int:
    print(f"\nExecution {outcome.execution_id}: {outcome.status}")
    for step in outcome.steps:
        print(f"  {step.status:<9} {step.seconds:7.1f}s  {step.name} ({step.type}) {step.detail}".rstrip())
    if outcome.status != "Succeeded":
        print(f"\nStep {outcome.failure_step} failed: {outcome.failure_reason}", file=sys.stderr)
        if outcome.failure_log and outcome.failure_log.exists():
            lines = outcome.failure_log.read_text(encoding="utf-8", errors="replace").splitlines()
            print(f"--- last lines of {outcome.failure_log} ---", file=sys.stderr)
            print("\n".join(lines[-40:]), file=sys.stderr)
        return 1
    props = outcome.step_properties
    if "Train" in props:
        print(f"\nModel: {s3.path(props['Train']['ModelArtifacts']['S3ModelArtifacts'])}")
    if "Evaluate" in props:
        evaluation = props["Evaluate"]["ProcessingOutputConfig"]["Outputs"]["evaluation"]["S3Output"]["S3Uri"]
        print(f"Evaluation report: {s3.path(evaluation)}/report.html (metrics: evaluation.json)")
    for step in props.values():
        if "ModelPackageArn" in step:
            print(f"Registered: {step['ModelPackageArn']} ({step['ModelApprovalStatus']})")
    if "BatchPredict" in props:
        predictions_uri = props["BatchPredict"]["ProcessingOutputConfig"]["Outputs"]["predictions"]["S3Output"]["S3Uri"]
        partition = s3.path(predictions_uri) / f"execution_date={execution.parameters['execution_date']}"
        args.output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(partition / "predictions.csv", args.output)
        print(f"Predictions: {args.output} (partition {partition})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    try:
        return summarize(*execute(args), args)
    except (ConfigError, UsageError, ParameterError, UnsupportedDefinition) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
