"""Run one definition step on this machine with SageMaker's and EMR's container conventions.

Processing: inputs copied to the job's `/opt/ml/processing/...` (mapped under the job's sandbox),
the entrypoint run with the image environment's Python (`.venv-image`: the scikit-learn image's
Python 3.9 and package versions), outputs copied back. Training: the job's `/opt/ml` tree as SageMaker
lays it out (channels, `input/config/*.json`), then the real SageMaker training toolkit of the image
environment, which passes the hyperparameters to the entry point, as in the cloud; the model folder
is packed into `model.tar.gz`. EMR: `spark-submit` of the step's arguments in Spark's local mode.
RegisterModel: an entry in the local model registry file.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyspark

from pipeline_steps.metrics import LOCAL_METRICS_ENV, REQUEST_FILE_PREFIX
from pipeline_steps.registry import LocalRegistry
from workflow.contracts.pipeline import pipeline_job_name
from workflow.contracts.validator import ContractError, check_request
from workflow.local.expressions import UnsupportedDefinition
from workflow.local.processes import StepProcesses
from workflow.local.s3 import LocalS3

# Spark of each EMR 7 release (EMR release guide, "Spark release history"). The local run refuses
# to stand in for a release whose Spark differs from the pyspark installed here.
SPARK_VERSION_OF_EMR_RELEASE = {
    "emr-7.8.0": "3.5.4",
    "emr-7.9.0": "3.5.5",
    "emr-7.10.0": "3.5.5",
    "emr-7.11.0": "3.5.6",
    "emr-7.12.0": "3.5.6",
}


class StepFailed(Exception):
    def __init__(self, step: str, message: str, log: Path | None = None):
        self.step, self.message, self.log = step, message, log
        super().__init__(f"step {step} failed: {message}")


# The scikit-learn image's environment (requirements-image.txt), made by `make setup`.
IMAGE_PYTHON = Path(__file__).resolve().parents[2] / ".venv-image" / "bin" / "python"


@dataclass(frozen=True)
class Toolchain:
    """What stands in for the cloud's images on this machine, checked against what the definition names."""

    sklearn_image_tag: str  # e.g. "1.2-1": the definition's images must carry it
    spark_submit: Path
    image_python: Path  # runs the processing and training jobs of the scikit-learn image
    spark_master: str = "local[2]"
    driver_memory: str = "4g"


@dataclass
class JobContext:
    """What every executor needs: where to put files and how to reach the local S3 and registry."""

    execution_id: str
    pipeline_name: str
    work_dir: Path
    s3: LocalS3
    toolchain: Toolchain
    registry_file: Path
    processes: StepProcesses

    def sandbox(self, step: str) -> Path:
        path = self.work_dir / "jobs" / self.execution_id / step
        path.mkdir(parents=True, exist_ok=True)
        return path

    def metrics_folder(self, step: str) -> Path:
        """Where a step's PutMetricData requests are recorded instead of sent (pipeline_steps/metrics.py)."""
        return self.work_dir / "cloudwatch" / self.execution_id / step

    def job_name(self, step: str) -> str:
        """The name SageMaker would give the step's job (pipelines-<execution id>-<step>-<suffix>)."""
        return pipeline_job_name(self.execution_id, step)

    def image_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """process_env for a job of the scikit-learn image: no Python path of this machine leaks into it."""
        env = self.process_env(extra)
        for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
            env.pop(name, None)
        return env

    def process_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                # The step code's registry module reads these to find models without SageMaker.
                "JOBCLF_LOCAL_REGISTRY": str(self.registry_file),
                "JOBCLF_LOCAL_S3_ROOT": str(self.s3.root),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(extra or {})
        return env


def _check_keys(step: str, where: str, document: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(document) - known)
    if unknown:
        raise UnsupportedDefinition(
            f"step {step}: {where} has {', '.join(unknown)}, which the local run cannot execute"
        )


def _check_image(step: str, image: str, toolchain: Toolchain) -> None:
    if f"sagemaker-scikit-learn:{toolchain.sklearn_image_tag}-" not in image:
        raise UnsupportedDefinition(
            f"step {step}: image {image} is not the scikit-learn {toolchain.sklearn_image_tag} image this machine "
            "mirrors (the local run pins its scikit-learn version to that image's)"
        )


def _run(step: str, command: list[str], cwd: Path, env: dict[str, str], log: Path, job: JobContext) -> None:
    log.write_text("$ " + " ".join(command) + "\n", encoding="utf-8")
    returncode = job.processes.run(command, cwd, env, log)
    if returncode != 0:
        raise StepFailed(step, f"exit code {returncode}", log)


def _container_path(sandbox: Path, value: Any) -> Any:
    """Container paths (/opt/ml/...) become the same paths under the job's sandbox."""
    if isinstance(value, str) and value.startswith("/opt/ml/"):
        return str(sandbox / value.lstrip("/"))
    return value


def _host_inputs(step: str, processing_inputs: list, job: JobContext, hosts: list[str]) -> dict[str, list]:
    """Per host, (S3 URI, local path, the object keys it gets or None for all) of each input.

    A ShardedByS3Key input gives each host a share of the objects under its prefix; which share
    SageMaker picks is not documented, so here the objects, sorted by key, are dealt round-robin
    (the steps rely on no particular share). A FullyReplicated input goes to every host whole.
    """
    shares: dict[str, list] = {host: [] for host in hosts}
    for processing_input in processing_inputs:
        s3_input = processing_input.get("S3Input")
        if (
            s3_input is None
            or s3_input.get("S3DataType", "S3Prefix") != "S3Prefix"
            or s3_input.get("S3InputMode", "File") != "File"
        ):
            raise UnsupportedDefinition(
                f"step {step}: input {processing_input.get('InputName')} is not an S3Prefix File input"
            )
        uri, local_path = s3_input["S3Uri"], s3_input["LocalPath"]
        distribution = s3_input.get("S3DataDistributionType", "FullyReplicated")
        if distribution == "FullyReplicated":
            for host in hosts:
                shares[host].append((uri, local_path, None))
        elif distribution == "ShardedByS3Key":
            keys = job.s3.keys(uri)
            for number, host in enumerate(hosts):
                shares[host].append((uri, local_path, keys[number :: len(hosts)]))
        else:
            raise UnsupportedDefinition(f"step {step}: input distribution {distribution} is not supported locally")
    return shares


def run_processing(step: str, arguments: Mapping[str, Any], job: JobContext) -> dict[str, Any]:
    """One processing job: as many local processes as the job has instances, run side by side."""
    _check_keys(
        step,
        "Arguments",
        arguments,
        {
            "ProcessingResources",
            "AppSpecification",
            "RoleArn",
            "ProcessingInputs",
            "ProcessingOutputConfig",
            "StoppingCondition",
            "NetworkConfig",
            "Environment",
        },
    )
    app = arguments["AppSpecification"]
    _check_keys(step, "AppSpecification", app, {"ImageUri", "ContainerEntrypoint", "ContainerArguments"})
    _check_image(step, app["ImageUri"], job.toolchain)
    _check_image_python(step, job.toolchain)
    entrypoint = list(app.get("ContainerEntrypoint", []))
    if not entrypoint or entrypoint[0] not in ("python3", "python"):
        raise UnsupportedDefinition(f"step {step}: entrypoint {entrypoint} is not a python3 command")
    instance_count = int(arguments["ProcessingResources"]["ClusterConfig"].get("InstanceCount", 1))
    if instance_count < 1:
        raise StepFailed(step, f"InstanceCount {instance_count}: a processing job needs at least one instance")
    hosts = [f"algo-{number}" for number in range(1, instance_count + 1)]
    shares = _host_inputs(step, arguments.get("ProcessingInputs", []), job, hosts)
    outputs = arguments.get("ProcessingOutputConfig", {}).get("Outputs", [])

    instances = []
    metrics_folder = job.metrics_folder(step)
    shutil.rmtree(metrics_folder, ignore_errors=True)
    for host in hosts:
        sandbox = job.sandbox(step) / host
        shutil.rmtree(sandbox, ignore_errors=True)  # every instance starts as a fresh container
        for uri, local_path, keys in shares[host]:
            job.s3.download(uri, Path(_container_path(sandbox, local_path)), keys)
        for output in outputs:
            Path(_container_path(sandbox, output["S3Output"]["LocalPath"])).mkdir(parents=True, exist_ok=True)
        resource_config = sandbox / "opt/ml/config/resourceconfig.json"
        resource_config.parent.mkdir(parents=True, exist_ok=True)
        resource_config.write_text(json.dumps({"current_host": host, "hosts": hosts}), encoding="utf-8")
        command = [str(job.toolchain.image_python)] + [_container_path(sandbox, a) for a in entrypoint[1:]]
        command += [str(_container_path(sandbox, a)) for a in app.get("ContainerArguments", [])]
        log = sandbox / "log.txt"
        log.write_text("$ " + " ".join(command) + "\n", encoding="utf-8")
        env = job.image_env({**arguments.get("Environment", {}), LOCAL_METRICS_ENV: str(metrics_folder)})
        instances.append((command, sandbox, env, log))
    codes = job.processes.run_together(instances)
    failures = [(host, code) for host, code in zip(hosts, codes, strict=True) if code != 0]
    if failures:
        host, code = failures[0]
        raise StepFailed(step, f"exit code {code} on {host}", job.sandbox(step) / host / "log.txt")
    _check_metric_requests(step, metrics_folder)

    properties_outputs = {}
    for output in outputs:
        s3_output = output["S3Output"]
        for host in hosts:
            job.s3.upload_dir(
                Path(_container_path(job.sandbox(step) / host, s3_output["LocalPath"])), s3_output["S3Uri"]
            )
        properties_outputs[output["OutputName"]] = {"OutputName": output["OutputName"], "S3Output": s3_output}
    return {
        "ProcessingJobName": job.job_name(step),
        "ProcessingJobStatus": "Completed",
        "ProcessingOutputConfig": {"Outputs": properties_outputs},
    }


def _check_metric_requests(step: str, folder: Path) -> None:
    """Each PutMetricData request the job recorded, against CloudWatch's contract: what AWS would refuse fails
    the step here too."""
    for path in sorted(folder.glob(f"{REQUEST_FILE_PREFIX}*.json")):
        try:
            check_request("cloudwatch", "PutMetricData", json.loads(path.read_text(encoding="utf-8")), str(path))
        except ContractError as refused:
            raise StepFailed(step, f"AWS would refuse {refused}") from None


def _check_image_python(step: str, toolchain: Toolchain) -> None:
    if not toolchain.image_python.is_file():
        raise UnsupportedDefinition(
            f"step {step}: the scikit-learn image environment {toolchain.image_python} is missing: run `make setup`"
        )


def _training_config(arguments: Mapping[str, Any], submit_directory: Path, channels: Sequence[str]) -> dict[str, Any]:
    """The files SageMaker writes to /opt/ml/input/config/ before it starts the training container.

    hyperparameters.json holds the definition's HyperParameters as given (strings; the toolkit decodes
    them), except that the s3:// submit directory names its local file.
    """
    hyperparameters = dict(arguments.get("HyperParameters", {}))
    hyperparameters["sagemaker_submit_directory"] = json.dumps(str(submit_directory))
    host = "algo-1"
    instance_type = arguments["ResourceConfig"]["InstanceType"]
    return {
        "hyperparameters.json": hyperparameters,
        "inputdataconfig.json": {
            name: {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
            for name in channels
        },
        "resourceconfig.json": {
            "current_host": host,
            "hosts": [host],
            "current_group_name": "homogeneousCluster",
            "current_instance_type": instance_type,
            "instance_groups": [
                {"instance_group_name": "homogeneousCluster", "instance_type": instance_type, "hosts": [host]}
            ],
            "network_interface_name": "eth0",
        },
    }


def run_training(step: str, arguments: Mapping[str, Any], job: JobContext) -> dict[str, Any]:
    _check_keys(
        step,
        "Arguments",
        arguments,
        {
            "AlgorithmSpecification",
            "OutputDataConfig",
            "StoppingCondition",
            "ResourceConfig",
            "RoleArn",
            "InputDataConfig",
            "HyperParameters",
            "VpcConfig",
            "EnableInterContainerTrafficEncryption",
            "ProfilerConfig",
            "DebugHookConfig",
            "Environment",
            "EnableNetworkIsolation",
            "EnableManagedSpotTraining",
        },
    )
    algorithm = arguments["AlgorithmSpecification"]
    _check_image(step, algorithm["TrainingImage"], job.toolchain)
    _check_image_python(step, job.toolchain)
    if algorithm.get("TrainingInputMode", "File") != "File":
        raise UnsupportedDefinition(f"step {step}: only File input mode runs locally")
    hyperparameters = arguments.get("HyperParameters", {})
    if "sagemaker_submit_directory" not in hyperparameters or "sagemaker_program" not in hyperparameters:
        raise UnsupportedDefinition(f"step {step}: no sagemaker_submit_directory/sagemaker_program hyperparameters")
    submit_directory = job.s3.path(json.loads(hyperparameters["sagemaker_submit_directory"]))

    sandbox = job.sandbox(step)
    base_dir = sandbox / "opt/ml"
    channels = []
    for channel in arguments.get("InputDataConfig", []):
        s3_source = channel["DataSource"]["S3DataSource"]
        if s3_source.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise UnsupportedDefinition(f"step {step}: channel {channel['ChannelName']} is not an S3Prefix channel")
        job.s3.download(s3_source["S3Uri"], base_dir / "input/data" / channel["ChannelName"])
        channels.append(channel["ChannelName"])
    config_dir = base_dir / "input/config"
    config_dir.mkdir(parents=True, exist_ok=True)
    for name, document in _training_config(arguments, submit_directory, channels).items():
        (config_dir / name).write_text(json.dumps(document), encoding="utf-8")
    model_dir = base_dir / "model"
    for folder in (model_dir, base_dir / "output/data"):
        folder.mkdir(parents=True, exist_ok=True)

    job_name = job.job_name(step)
    env = {
        **arguments.get("Environment", {}),
        "SAGEMAKER_BASE_DIR": str(base_dir),  # the toolkit's own way to name /opt/ml outside a container
        "TRAINING_JOB_NAME": job_name,
        # The hosts (algo-1) have no DNS entry here; this is the toolkit's switch to skip waiting for one.
        "SM_STUDIO_LOCAL_MODE": "true",
    }
    # The image's `train` command: the sagemaker-training toolkit, which runs the entry point with the
    # hyperparameters as command-line arguments. (SAGEMAKER_TRAINING_MODULE stays unset: the image's
    # sagemaker_sklearn_container.training, not on PyPI, makes the same entry_point.run call.)
    command = [str(job.toolchain.image_python), "-m", "sagemaker_training.cli.train"]
    try:
        _run(step, command, sandbox, job.image_env(env), sandbox / "log.txt", job)
    except StepFailed as failed:
        # The toolkit writes the job's FailureReason to /opt/ml/output/failure, as SageMaker reports it.
        failure = base_dir / "output/failure"
        if failure.is_file():
            raise StepFailed(step, failure.read_text(encoding="utf-8", errors="replace").strip(), failed.log) from None
        raise

    artifact_uri = f"{arguments['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{job_name}/output/model.tar.gz"
    artifact = job.s3.path(artifact_uri)
    artifact.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(artifact, "w:gz") as archive:
        for path in sorted(model_dir.rglob("*")):
            archive.add(path, arcname=path.relative_to(model_dir).as_posix(), recursive=False)
    return {
        "TrainingJobName": job_name,
        "TrainingJobStatus": "Completed",
        "ModelArtifacts": {"S3ModelArtifacts": artifact_uri},
    }


def _spark_submit_command(step: str, args: list[str], job: JobContext, sandbox: Path) -> list[str]:
    """The EMR step's spark-submit arguments, re-aimed at Spark's local mode and the local S3 folder."""
    if not args or args[0] != "spark-submit":
        raise UnsupportedDefinition(
            f"step {step}: only command-runner.jar spark-submit steps run locally, got {args[:1]}"
        )
    command = [
        str(job.toolchain.spark_submit),
        "--master",
        job.toolchain.spark_master,
        "--driver-memory",
        job.toolchain.driver_memory,
        "--conf",
        "spark.ui.enabled=false",
    ]
    options_with_value = {
        "--deploy-mode",
        "--py-files",
        "--conf",
        "--files",
        "--name",
        "--driver-memory",
        "--executor-memory",
        "--num-executors",
        "--executor-cores",
        "--jars",
        "--packages",
    }
    remaining = list(args[1:])
    while remaining and remaining[0].startswith("--"):
        option = remaining.pop(0)
        if option not in options_with_value or not remaining:
            raise UnsupportedDefinition(f"step {step}: spark-submit option {option} is not supported locally")
        value = remaining.pop(0)
        if option == "--deploy-mode" or option.endswith("-memory") or option in ("--num-executors", "--executor-cores"):
            continue  # cluster sizing: Spark's local mode has one JVM
        if option in ("--py-files", "--files"):
            value = ",".join(_fetch(step, uri, job, sandbox / "spark-files") for uri in value.split(","))
        command += [option, value]
    if not remaining:
        raise UnsupportedDefinition(f"step {step}: spark-submit has no application file")
    application, *app_args = remaining
    command.append(_fetch(step, application, job, sandbox / "spark-files"))
    command += [str(job.s3.path(a)) if isinstance(a, str) and a.startswith("s3://") else str(a) for a in app_args]
    return command


def _fetch(step: str, uri: str, job: JobContext, destination: Path) -> str:
    if not uri.startswith("s3://"):
        raise UnsupportedDefinition(f"step {step}: {uri} is not in S3")
    job.s3.download(uri, destination)
    return str(destination / uri.rsplit("/", 1)[-1])


def run_emr(step: str, arguments: Mapping[str, Any], job: JobContext, standing_release: str) -> dict[str, Any]:
    """`standing_release`: the release of the stack's standing cluster, for steps that name it by ID only."""
    _check_keys(step, "Arguments", arguments, {"StepConfig", "ClusterConfig", "ClusterId"})
    hadoop_step = arguments["StepConfig"]["HadoopJarStep"]
    if hadoop_step.get("Jar") != "command-runner.jar":
        raise UnsupportedDefinition(f"step {step}: jar {hadoop_step.get('Jar')} is not command-runner.jar")
    release = arguments["ClusterConfig"]["ReleaseLabel"] if "ClusterConfig" in arguments else standing_release
    expected_spark = SPARK_VERSION_OF_EMR_RELEASE.get(release)
    if expected_spark is None:
        raise UnsupportedDefinition(f"step {step}: EMR release {release} has no known Spark version to mirror locally")
    if pyspark.__version__ != expected_spark:
        raise UnsupportedDefinition(
            f"step {step}: {release} runs Spark {expected_spark} but this machine has pyspark {pyspark.__version__}"
        )
    sandbox = job.sandbox(step)
    command = _spark_submit_command(step, list(hadoop_step["Args"]), job, sandbox)
    env = job.process_env({"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable})
    _run(step, command, sandbox, env, sandbox / "log.txt", job)
    return {"ClusterId": arguments.get("ClusterId", f"local-{release}"), "StepId": job.job_name(step)}


def register_model(step: str, arguments: Mapping[str, Any], job: JobContext) -> dict[str, Any]:
    _check_keys(
        step,
        "Arguments",
        arguments,
        {
            "ModelPackageGroupName",
            "ModelPackageDescription",
            "ModelMetrics",
            "InferenceSpecification",
            "ModelApprovalStatus",
            "SkipModelValidation",
            "CustomerMetadataProperties",
            "DriftCheckBaselines",
        },
    )
    containers = arguments["InferenceSpecification"]["Containers"]
    if len(containers) != 1:
        raise UnsupportedDefinition(
            f"step {step}: {len(containers)} inference containers; the local registry holds one"
        )
    _check_image(step, containers[0]["Image"], job.toolchain)
    model_data_uri = containers[0]["ModelDataUrl"]
    metrics_uri = arguments.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
    for uri in filter(None, (model_data_uri, metrics_uri)):
        if not job.s3.path(uri).is_file():
            raise StepFailed(step, f"{uri} does not exist (local file {job.s3.path(uri)})")
    arn = LocalRegistry(job.registry_file, str(job.s3.root)).add_model_package(
        arguments["ModelPackageGroupName"],
        model_data_uri=model_data_uri,
        metrics_uri=metrics_uri,
        approval_status=arguments.get("ModelApprovalStatus", "PendingManualApproval"),
        region=_region_of(containers[0]["Image"]),
        customer_metadata=arguments.get("CustomerMetadataProperties"),
        environment=containers[0].get("Environment"),
    )
    return {"ModelPackageArn": arn, "ModelApprovalStatus": arguments.get("ModelApprovalStatus")}


def _region_of(image_uri: str) -> str:
    # <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>
    parts = image_uri.split(".")
    return parts[3] if len(parts) > 3 else "local"
