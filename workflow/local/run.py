"""The local run's one entry point: `run_local(LocalRunRequest(...))`.

`python -m workflow.local`, `jobclf executions start --local` and the benchmarks all call it. It
builds the environment's definition with the same builder and configuration as `cdk synth` (only
the names of deployed resources differ, see `local_spec`), checks every input, output and parameter
before anything runs, holds the work dir for the length of the run, and executes the definition with
every `s3://bucket/key` mapped to `<work dir>/s3/bucket/key`.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import hashlib
import json
import os
import re
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from config import EnvironmentConfig, load_environment
from pipeline_steps.contract import (
    EVALUATION_FILE,
    GATE_REASON_PATH,
    ONET_INPUT_PREFIX,
    PREDICTION_REPORT_CHART,
    PREDICTION_REPORT_FILE,
    REJECTED,
    TITLES_INPUT_PREFIX,
    execution_date,
    value_at,
)
from pipeline_steps.errors import StepError
from pipeline_steps.model import extract_archive
from pipeline_steps.prediction_report import summary_lines
from pipeline_steps.registry import LocalRegistry, read_evaluation
from workflow.definition import (
    Buckets,
    EmrResources,
    PipelineSpec,
    StackResources,
    StepCode,
    build_step_bundles,
    pipeline_spec,
)
from workflow.definition.builder import build_definition
from workflow.local.executions import LOCK_FILE, ExecutionRecord, read_executions
from workflow.local.executors import IMAGE_PYTHON, JobContext, Toolchain
from workflow.local.expressions import UnsupportedDefinition
from workflow.local.predictions import concatenate_parts, predictions_folder
from workflow.local.processes import Interrupted, StepProcesses
from workflow.local.request import LocalRunRequest, UsageError
from workflow.local.runner import (
    DefinitionInterpreter,
    ExecutionOutcome,
    ParameterError,
    failed_parameter_checks,
    resolve_parameters,
)
from workflow.local.s3 import NO_SPACE_ERRNOS, LocalS3, NoSpace

ONET_TABLES = ("Occupation Data", "Alternate Titles")
ONET_FORMATS = (".xlsx", ".txt")
# How many lines of a failed step's log to show after its own error.
LOG_TAIL_LINES = 40
# What a step prints as its own error: errors.error_line's and argparse's `<step>: error: ...`, and the
# last line of a Python traceback.
_STEP_ERROR = re.compile(r"^(?:[a-z][\w-]*: error: .+|[A-Za-z_.]*(?:Error|Exception): .+)$")
_UNPRINTABLE = re.compile(r"[^\t\x20-\x7e\u00a0-\uffff]")


@dataclass
class LocalResult:
    run: LocalRunRequest
    outcome: ExecutionOutcome
    execution: DefinitionInterpreter
    s3: LocalS3
    predictions_partition: Path | None = None  # where a successful predict run's predictions are in local S3


@dataclass
class Unchanged:
    """A train run asked --if-changed that found its model already registered: nothing ran."""

    version: int
    approval_status: str
    execution_id: str


def local_buckets(config: EnvironmentConfig) -> Buckets:
    prefix = config.resource_prefix
    return Buckets(
        raw=f"{prefix}-raw",
        processed=f"{prefix}-processed",
        models=f"{prefix}-models",
        predictions=f"{prefix}-predictions",
    )


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
        etl_dependencies_uri=publish(bundles.etl_dependencies),
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
    """Copy the two O*NET tables (xlsx or txt) to `uri`, replacing the tables there (of either format) and
    nothing else: `onet_input_uri` may name any prefix, and no other file there is the run's to delete."""
    found = [
        onet_dir / f"{table}{suffix}"
        for table in ONET_TABLES
        for suffix in ONET_FORMATS
        if (onet_dir / f"{table}{suffix}").is_file()
    ]
    missing = [t for t in ONET_TABLES if not any(p.stem == t for p in found)]
    if missing:
        raise UsageError(f"--onet-dir {onet_dir}: no {' or '.join(f'{missing[0]}{s}' for s in ONET_FORMATS)}")
    target = s3.path(uri)
    for table in ONET_TABLES:
        for suffix in ONET_FORMATS:
            (target / f"{table}{suffix}").unlink(missing_ok=True)
    for path in found:
        s3.put_file(path, f"{uri.rstrip('/')}/{path.name}")
    return [p.name for p in found]


@contextlib.contextmanager
def held_work_dir(work_dir: Path, report: Callable[[str], None]) -> Iterator[StepProcesses]:
    """The work dir, created and checked writable, held by this run alone; orphans of a killed run stopped."""
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=work_dir, prefix=".write-check-"):
            pass
    except OSError as error:
        raise UsageError(f"--work-dir {work_dir}: cannot write there ({error.strerror or error})") from None
    with (work_dir / LOCK_FILE).open("a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            raise UsageError(
                f"--work-dir {work_dir} is in use by another local run (process {holder}); wait for it, stop it, "
                "or pass another --work-dir"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        try:
            processes = StepProcesses(work_dir)
            stopped = processes.clean_orphans()
            if stopped:
                report(f"Stopped {stopped} process group(s) an earlier, killed run had left running in {work_dir}.")
            yield processes
        finally:  # released: no process id of a run that has ended
            lock.seek(0)
            lock.truncate()


def run_local(run: LocalRunRequest, report: Callable[[str], None] = print) -> LocalResult | Unchanged:
    """Check the request, build the environment's definition and execute it; progress goes to `report`.

    Every execution is recorded in the work dir (workflow.local.executions). A train run asked
    `if_changed` does not run when its inputs are those of the latest registered version (`Unchanged`).
    A write of the run's own that fails for want of space raises NoSpace (one line), whichever file it was.
    """
    run.check()
    config = load_environment(run.env)
    work_dir = run.work_dir.resolve()
    try:
        return _run_local(run, config, work_dir, report)
    except OSError as error:
        if error.errno not in NO_SPACE_ERRNOS:
            raise
        raise NoSpace(Path(error.filename or work_dir), error) from None


def _run_local(
    run: LocalRunRequest, config: EnvironmentConfig, work_dir: Path, report: Callable[[str], None]
) -> LocalResult | Unchanged:
    with held_work_dir(work_dir, report) as processes:
        s3 = LocalS3(work_dir / "s3")
        code = publish_step_code(config, s3, work_dir / "bundles")
        spec = local_spec(config, code)
        definition = build_definition(spec)
        (work_dir / "definitions").mkdir(parents=True, exist_ok=True)
        (work_dir / "definitions" / f"{config.pipeline_name}.json").write_text(definition)
        execution_id = datetime.datetime.now(datetime.UTC).strftime("local-%Y%m%dT%H%M%S-") + uuid.uuid4().hex[:6]
        params = _checked_parameters(run, definition, s3)
        _check_registry(
            work_dir / "registry.json", s3, spec.model_package_group_name, with_archive=run.use_type == "predict"
        )
        if run.other_files():
            report(f"--input {run.input}: not read (neither .csv nor .parquet): {', '.join(run.other_files()[:10])}")

        onet_uri = params.get("onet_input_uri", f"s3://{spec.buckets.raw}/{ONET_INPUT_PREFIX}")
        if run.onet_dir is not None:
            staged = stage_onet(run.onet_dir, s3, onet_uri)
            report(f"O*NET input: {', '.join(staged)} from {run.onet_dir} -> {onet_uri}")
        elif run.use_type == "train" and not s3.path(onet_uri).is_dir():
            raise UsageError(
                f"no O*NET files at {onet_uri} yet: pass --onet-dir (the train branch starts with the ETL)"
            )
        fingerprint = training_fingerprint(definition, params, s3.path(onet_uri)) if run.use_type == "train" else None
        if run.if_changed and fingerprint is not None:
            unchanged = _registered_from(fingerprint, work_dir, config.model_package_group_name)
            if unchanged is not None:
                return unchanged
        if run.use_type == "predict":
            titles_uri = f"s3://{spec.buckets.raw}/{TITLES_INPUT_PREFIX}{execution_id}/"
            for path, key in run.input_files():
                s3.put_file(path, titles_uri + key)
            params["input_titles_uri"] = titles_uri

        job = JobContext(
            execution_id=execution_id,
            pipeline_name=spec.pipeline_name,
            work_dir=work_dir,
            s3=s3,
            toolchain=Toolchain(
                sklearn_image_tag=spec.sklearn_framework_version,
                spark_submit=Path(sys.executable).with_name("spark-submit"),
                image_python=IMAGE_PYTHON,
            ),
            registry_file=work_dir / "registry.json",
            processes=processes,
        )
        execution = DefinitionInterpreter(
            definition, job, params, standing_emr_release=config.emr.release_label, report=report
        )
        record = ExecutionRecord(
            work_dir, execution.context.execution["PipelineExecutionArn"], params, {"TrainingFingerprint": fingerprint}
        )
        execution.on_step = lambda step: record.step_changed(step.name, step.status, step.seconds, step.detail)
        report(
            f"Pipeline {spec.pipeline_name}, execution {execution_id} (use_type={run.use_type}); work dir {work_dir}"
        )
        report("Retry policies are not applied locally: they retry AWS throttling and capacity errors only.")
        try:
            with processes.forwarding_signals(on_signal=lambda _: record.stopping()):
                outcome = execution.run()
            result = LocalResult(run, outcome, execution, s3)
            if outcome.status == "Succeeded" and run.use_type == "predict":
                result.predictions_partition = _copy_predictions(result)
        except Interrupted as interrupted:
            record.finish("Stopped", f"the local run was {interrupted}")
            raise
        except BaseException as error:
            record.finish("Failed", f"{type(error).__name__}: {error}")
            raise
        registered = [p["ModelPackageArn"] for p in outcome.step_properties.values() if "ModelPackageArn" in p]
        record.finish(outcome.status, outcome.failure_reason, RegisteredModelPackageArn=next(iter(registered), None))
        return result


def training_fingerprint(definition: str, params: dict[str, str], onet_folder: Path) -> str:
    """What a train execution's model is made from: the definition (which names the step code by content
    hash), the parameters given, and the content of each O*NET input file."""
    digest = hashlib.sha256(definition.encode())
    digest.update(json.dumps(sorted(params.items())).encode())
    for path in sorted(p for p in onet_folder.rglob("*") if p.is_file()):
        digest.update(f"\n{path.relative_to(onet_folder).as_posix()}:".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _registered_from(fingerprint: str, work_dir: Path, group: str) -> Unchanged | None:
    """The group's latest version, when a train execution with this fingerprint registered it."""
    versions = LocalRegistry(work_dir / "registry.json").entries(group)
    if not versions:
        return None
    latest = versions[-1]
    for record in read_executions(work_dir):
        local = record.get("Local", {})
        if (
            local.get("TrainingFingerprint") == fingerprint
            and record["PipelineExecutionStatus"] == "Succeeded"
            and local.get("RegisteredModelPackageArn") == latest["model_package_arn"]
        ):
            return Unchanged(
                latest["version"], latest["approval_status"], record["PipelineExecutionArn"].rsplit("/", 1)[-1]
            )
    return None


def _checked_parameters(run: LocalRunRequest, definition: str, s3: LocalS3) -> dict[str, str]:
    """The run's parameters, checked against the definition's declarations and range checks.

    A URI parameter (its default is an s3:// URI) must map into the work dir's local S3; a predict run's
    execution_date is passed on as the date the steps make of it (stripped; today, UTC, when empty), so
    that the steps and the local run name the same predictions folder. A train run's is not: it would make
    each day's training fingerprint differ (--if-changed) and the train branch reads no date.
    """
    params = {"use_type": run.use_type, **run.params}
    declared = json.loads(definition)
    values = resolve_parameters(declared.get("Parameters", []), params)
    failed = failed_parameter_checks(declared, values)
    if failed:
        raise ParameterError("parameter out of range: " + "; ".join(failed))
    for parameter in declared.get("Parameters", []):
        if str(parameter.get("DefaultValue", "")).startswith("s3://"):
            try:
                s3.path(values[parameter["Name"]])
            except ValueError as error:
                raise ParameterError(
                    f"parameter {parameter['Name']}: {error}; name an s3:// prefix of the work dir's "
                    f"local S3 ({s3.root})"
                ) from None
    try:
        date_text = execution_date(str(values.get("execution_date") or ""))
    except ValueError as error:
        raise ParameterError(f"parameter execution_date: {error}") from None
    if run.use_type == "predict":
        params["execution_date"] = date_text
    return params


def _check_registry(registry_file: Path, s3: LocalS3, group: str, with_archive: bool) -> None:
    """The local registry, and the evaluation of the group's latest approved model (Evaluate's baseline)
    and, `with_archive`, its model archive (what BatchPredict loads), readable: else UsageError naming
    the file, before any step. (A train run does not need the old archive: it may be what it replaces.)"""
    registry = LocalRegistry(registry_file, str(s3.root))
    try:
        record = registry.latest_approved_model(group)
        if record is not None and with_archive:
            with tempfile.TemporaryDirectory(dir=registry_file.parent, prefix=".model-check-") as scratch:
                extract_archive(registry.local_path(record.model_data_uri), scratch)
    except StepError as error:
        raise UsageError(str(error)) from None


def _copy_predictions(result: LocalResult) -> Path:
    """The execution's prediction parts, one after the other in input order, into the --output file."""
    folder = predictions_folder(
        result.outcome.step_properties,
        result.s3,
        result.execution.parameters["execution_date"],
        result.outcome.execution_id,
    )
    if folder is None:
        raise UnsupportedDefinition("the predict execution ran none of the BatchPredict steps")
    concatenate_parts(folder, result.run.output)
    return folder


def step_errors(log: Path) -> list[str]:
    """The lines of a step's log that are its own error messages (not the tool's INFO lines), printable."""
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return [_printable(line) for line in lines if _STEP_ERROR.match(line)]


def _printable(text: str) -> str:
    return _UNPRINTABLE.sub("?", text)


def summarize(result: LocalResult | Unchanged, report: Callable[[str], None] = print) -> int:
    """Print the outcome and where its results are; the process exit code (0 succeeded, 1 failed)."""
    if isinstance(result, Unchanged):
        report(
            f"Model unchanged since version {result.version} ({result.approval_status}, trained by execution "
            f"{result.execution_id}): same definition, O*NET files and parameters; not retrained."
        )
        return 0
    outcome, s3 = result.outcome, result.s3
    report(f"\nExecution {outcome.execution_id}: {outcome.status}")
    for step in outcome.steps:
        report(f"  {step.status:<9} {step.seconds:7.1f}s  {step.name} ({step.type}) {step.detail}".rstrip())
    if outcome.status != "Succeeded":
        problem = [f"\nStep {outcome.failure_step} failed: {_printable(outcome.failure_reason or '')}"]
        if outcome.failure_log and outcome.failure_log.exists():
            errors = step_errors(outcome.failure_log)
            problem += [f"  {line}" for line in errors]
            tail = outcome.failure_log.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:]
            problem += [f"--- last lines of {outcome.failure_log} ---", *map(_printable, tail)]
        print("\n".join(problem), file=sys.stderr)
        return 1
    props = outcome.step_properties
    if "Train" in props:
        report(f"\nModel: {s3.path(props['Train']['ModelArtifacts']['S3ModelArtifacts'])}")
    evaluation = None
    if "Evaluate" in props:
        evaluation = s3.path(props["Evaluate"]["ProcessingOutputConfig"]["Outputs"]["evaluation"]["S3Output"]["S3Uri"])
        report(f"Evaluation report: {evaluation}/report.html (metrics: {EVALUATION_FILE})")
    for step in props.values():
        if "ModelPackageArn" in step:
            report(f"Registered: {step['ModelPackageArn']} ({step['ModelApprovalStatus']})")
            if step["ModelApprovalStatus"] == REJECTED and evaluation is not None:
                path = evaluation / EVALUATION_FILE
                gate = value_at(read_evaluation(path.read_bytes(), str(path)), GATE_REASON_PATH)
                report(
                    f"Quality gate {gate}. The model is on record as {REJECTED}; predict runs keep using the "
                    "latest approved model."
                )
    if result.predictions_partition is not None:
        report(f"Predictions: {result.run.output} (parts in {result.predictions_partition})")
        prediction_report = result.predictions_partition / PREDICTION_REPORT_FILE
        if prediction_report.is_file():
            report("")
            for line in summary_lines(json.loads(prediction_report.read_text(encoding="utf-8"))):
                report(line)
            report(f"Prediction report: {prediction_report} (chart: {PREDICTION_REPORT_CHART})")
    return 0
