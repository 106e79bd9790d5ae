"""Build the SageMaker pipeline definition JSON with the real `sagemaker` SDK, offline.

The SDK is given a session that cannot reach AWS: explicit region and dummy credentials, a
default bucket that is already known (so `default_bucket()` makes no call), telemetry opted
out through an in-memory SDK config (which also skips the SDK's config-file lookups), and code
that is already in S3 (so nothing is uploaded). Every value comes from `PipelineSpec`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import warnings
from collections.abc import Iterator

# Set before the SDK is imported: it prints a v2 deprecation banner, and at import it creates a
# JumpStart session whose credential lookup, with no AWS credentials, ends at the EC2 instance
# metadata endpoint (a network call). Building a definition never needs instance credentials.
os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
# The SDK logs, at INFO and WARNING, choices we make on purpose (no SDK config file, job names
# left to execution time); only its errors are news at synth time. Set before import: it logs then.
for _logger in ("sagemaker", "sagemaker.config", "sagemaker.workflow"):
    logging.getLogger(_logger).setLevel(logging.ERROR)

import boto3  # noqa: E402
from sagemaker import image_uris  # noqa: E402
from sagemaker.model import Model  # noqa: E402
from sagemaker.model_metrics import MetricsSource, ModelMetrics  # noqa: E402
from sagemaker.network import NetworkConfig  # noqa: E402
from sagemaker.processing import ProcessingInput, ProcessingOutput  # noqa: E402
from sagemaker.sklearn.estimator import SKLearn  # noqa: E402
from sagemaker.sklearn.processing import SKLearnProcessor  # noqa: E402
from sagemaker.workflow.condition_step import ConditionStep  # noqa: E402
from sagemaker.workflow.conditions import (  # noqa: E402
    ConditionEquals,
    ConditionGreaterThanOrEqualTo,
    ConditionLessThanOrEqualTo,
)
from sagemaker.workflow.emr_step import EMRStep, EMRStepConfig  # noqa: E402
from sagemaker.workflow.execution_variables import ExecutionVariables  # noqa: E402
from sagemaker.workflow.fail_step import FailStep  # noqa: E402
from sagemaker.workflow.functions import Join, JsonGet  # noqa: E402
from sagemaker.workflow.model_step import ModelStep  # noqa: E402
from sagemaker.workflow.parameters import Parameter, ParameterFloat, ParameterInteger, ParameterString  # noqa: E402
from sagemaker.workflow.pipeline import Pipeline  # noqa: E402
from sagemaker.workflow.pipeline_context import PipelineSession  # noqa: E402
from sagemaker.workflow.properties import PropertyFile  # noqa: E402
from sagemaker.workflow.retry import (  # noqa: E402
    SageMakerJobExceptionTypeEnum,
    SageMakerJobStepRetryPolicy,
    StepExceptionTypeEnum,
    StepRetryPolicy,
)
from sagemaker.workflow.steps import ProcessingStep, TrainingStep  # noqa: E402

from pipeline_steps.contract import (  # noqa: E402
    BASELINE_MACRO_F1_PATH,
    EVALUATION_FILE,
    EVALUATIONS_PREFIX,
    EXECUTIONS_PREFIX,
    MACRO_F1_PATH,
    MODEL_ARTIFACTS_PREFIX,
    ONET_INPUT_PREFIX,
    PREDICTIONS_PREFIX,
    TITLES_INPUT_PREFIX,
    UNSEEN_TITLES_MACRO_F1_PATH,
)
from pipeline_steps.model import CHOICES, RANGE, pipeline_hyperparameters  # noqa: E402
from pipeline_steps.preprocess_train import SPLITS, TITLE_SPLITS  # noqa: E402
from workflow.definition.bundles import TRAINING_ENTRY_POINT  # noqa: E402
from workflow.definition.spec import PipelineSpec  # noqa: E402

# Telemetry opt-out as an in-memory SDK config. Telemetry would call STS and S3. The SDK
# re-validates a non-empty config against its JSON schema on every one of its ~100 lookups
# (0.16 s each), so the session's config stays empty and this one is applied only around the
# one telemetry-emitting call we make, `estimator.fit`.
_TELEMETRY_OPT_OUT = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}

# Container conventions: where processing jobs find their inputs and leave their outputs, and
# where SageMaker tells each instance of a job its host name and the job's hosts.
_INPUT = "/opt/ml/processing/input"
_OUTPUT = "/opt/ml/processing/output"
_RESOURCE_CONFIG = "/opt/ml/config/resourceconfig.json"

PREDICT_ENGINES = ("processing", "emr")
MAX_PREDICT_INSTANCES = 100  # config.PredictConfig allows as many

# Throttling and capacity shortfalls are worth retrying; a failing script is not.
_STEP_RETRIES = StepRetryPolicy(
    exception_types=[StepExceptionTypeEnum.THROTTLING, StepExceptionTypeEnum.SERVICE_FAULT],
    interval_seconds=30,
    backoff_rate=2.0,
    max_attempts=3,
)
_JOB_RETRIES = SageMakerJobStepRetryPolicy(
    exception_types=[SageMakerJobExceptionTypeEnum.CAPACITY_ERROR, SageMakerJobExceptionTypeEnum.RESOURCE_LIMIT],
    interval_seconds=60,
    backoff_rate=2.0,
    max_attempts=3,
)


class _Parameters:
    """The pipeline's parameters: what a schedule or a user may set per execution, and their allowed ranges."""

    def __init__(self, spec: PipelineSpec):
        raw = spec.buckets.raw
        # Inclusive (minimum, maximum) of each numeric parameter, checked before any step runs.
        self.ranges: dict[str, tuple[Parameter, float, float]] = {}
        self.use_type = ParameterString("use_type", default_value="train", enum_values=["train", "predict"])
        self.onet_input_uri = ParameterString("onet_input_uri", default_value=f"s3://{raw}/{ONET_INPUT_PREFIX}")
        self.input_titles_uri = ParameterString("input_titles_uri", default_value=f"s3://{raw}/{TITLES_INPUT_PREFIX}")
        self.execution_date = ParameterString("execution_date", default_value="")
        # numpy's RandomState takes seeds below 2**32.
        self.split_seed = self._ranged(ParameterInteger("split_seed", default_value=42), 0, 2**32 - 1)
        # Each at most 0.45, so that at least 10% of the occupations train whatever both are.
        self.validation_fraction = self._ranged(ParameterFloat("validation_fraction", default_value=0.1), 0.05, 0.45)
        self.test_fraction = self._ranged(ParameterFloat("test_fraction", default_value=0.2), 0.05, 0.45)
        # One parameter per tunable hyperparameter, same name, the training step's own default (the
        # model chosen by benchmarks/model_benchmark.py): the pipeline trains exactly what was benchmarked.
        self.hyperparameters = {}
        for hyperparameter in pipeline_hyperparameters():
            parameter = _parameter_of(hyperparameter)
            if hyperparameter.metadata[RANGE]:
                self._ranged(parameter, *hyperparameter.metadata[RANGE])
            self.hyperparameters[hyperparameter.name] = parameter
        self.min_macro_f1 = self._ranged(
            ParameterFloat("min_macro_f1", default_value=spec.model.min_macro_f1), 0.0, 1.0
        )
        self.predict_engine = ParameterString(
            "predict_engine", default_value=spec.predict.engine, enum_values=list(PREDICT_ENGINES)
        )
        self.predict_instance_count = self._ranged(
            ParameterInteger("predict_instance_count", default_value=spec.predict.instance_count),
            1,
            MAX_PREDICT_INSTANCES,
        )
        self.model_approval_status = ParameterString(
            "model_approval_status",
            default_value=spec.model.approval_status,
            enum_values=["Approved", "PendingManualApproval", "Rejected"],
        )

    def _ranged(self, parameter, minimum: float, maximum: float):
        self.ranges[parameter.name] = (parameter, minimum, maximum)
        return parameter

    def all(self) -> list:
        return [
            self.use_type,
            self.onet_input_uri,
            self.input_titles_uri,
            self.execution_date,
            self.split_seed,
            self.validation_fraction,
            self.test_fraction,
            *self.hyperparameters.values(),
            self.min_macro_f1,
            self.model_approval_status,
            self.predict_engine,
            self.predict_instance_count,
        ]

    def range_conditions(self) -> list:
        """Every numeric parameter within its range (NaN fails both sides), and char n-grams not inverted."""
        conditions = []
        for parameter, minimum, maximum in self.ranges.values():
            conditions.append(ConditionGreaterThanOrEqualTo(left=parameter, right=minimum))
            conditions.append(ConditionLessThanOrEqualTo(left=parameter, right=maximum))
        hyperparameters = self.hyperparameters
        conditions.append(
            ConditionLessThanOrEqualTo(left=hyperparameters["char_ngram_min"], right=hyperparameters["char_ngram_max"])
        )
        return conditions

    def range_message(self) -> Join:
        allowed = "; ".join(f"{name} {minimum}..{maximum}" for name, (_, minimum, maximum) in self.ranges.items())
        given = []
        for name, (parameter, _, _) in self.ranges.items():
            given += [f"{name}=", parameter, ","]
        return Join(
            on="",
            values=[
                f"A pipeline parameter is out of range; nothing ran. Allowed: {allowed}; char_ngram_min <= "
                "char_ngram_max. Given: ",
                *given[:-1],
            ],
        )


def _parameter_of(hyperparameter: dataclasses.Field):
    """A pipeline parameter declaring a hyperparameter: its type, default and (for strings) allowed values."""
    default = hyperparameter.default
    if isinstance(default, str):
        return ParameterString(
            hyperparameter.name, default_value=default, enum_values=list(hyperparameter.metadata[CHOICES]) or None
        )
    kind = {int: ParameterInteger, float: ParameterFloat}[type(default)]
    return kind(hyperparameter.name, default_value=default)


def _offline_boto_session(region: str) -> boto3.Session:
    # Explicit dummy credentials: botocore never walks its credential chain (which ends at the
    # instance metadata endpoint, a network call) and no client it creates can sign a real request.
    return boto3.Session(region_name=region, aws_access_key_id="offline-synth", aws_secret_access_key="offline-synth")


@contextlib.contextmanager
def _offline_default_boto_session(region: str) -> Iterator[None]:
    """Make boto3's module-level default session offline while the SDK builds steps.

    The estimator constructor creates a TensorBoard helper with `boto3.client(...)`, which ignores
    the session it was given; with no AWS credentials that probes the instance metadata endpoint.
    """
    previous = boto3.DEFAULT_SESSION
    boto3.DEFAULT_SESSION = _offline_boto_session(region)
    try:
        yield
    finally:
        boto3.DEFAULT_SESSION = previous


def _offline_session(spec: PipelineSpec) -> PipelineSession:
    session = PipelineSession(
        boto_session=_offline_boto_session(spec.region),
        default_bucket=spec.buckets.processed,
        sagemaker_config=_TELEMETRY_OPT_OUT,  # given, so the SDK reads no config file from disk or S3
    )
    session.sagemaker_config = {}
    return session


@contextlib.contextmanager
def _telemetry_opted_out(session: PipelineSession) -> Iterator[None]:
    session.sagemaker_config = _TELEMETRY_OPT_OUT
    try:
        yield
    finally:
        session.sagemaker_config = {}


def _execution_uri(spec: PipelineSpec, *parts: str) -> Join:
    """s3://<processed>/executions/<execution id>/<parts>: one folder per execution, so re-runs never mix.

    The processed bucket expires these folders (storage.intermediate_expiry_days).
    """
    return Join(
        on="/", values=[f"s3://{spec.buckets.processed}/{EXECUTIONS_PREFIX.rstrip('/')}", ExecutionVariables.PIPELINE_EXECUTION_ID, *parts]
    )


def _evaluation_uri(spec: PipelineSpec) -> Join:
    """Kept with the models, not with the expiring intermediate data: a registered model's metrics
    must outlive its execution, since later gates compare against them."""
    return Join(on="/", values=[f"s3://{spec.buckets.models}/{EVALUATIONS_PREFIX.rstrip('/')}", ExecutionVariables.PIPELINE_EXECUTION_ID])


class _Builder:
    def __init__(self, spec: PipelineSpec):
        self.spec = spec
        self.params = _Parameters(spec)
        self.session = _offline_session(spec)

    def processor(self, base_job_name: str, instance_count=1) -> SKLearnProcessor:
        jobs = self.spec.jobs
        return SKLearnProcessor(
            framework_version=self.spec.sklearn_framework_version,
            role=self.spec.role_arn,
            instance_type=jobs.processing_instance_type,
            instance_count=instance_count,
            volume_size_in_gb=jobs.volume_size_gb,
            volume_kms_key=jobs.kms_key_id,
            output_kms_key=jobs.kms_key_id,
            max_runtime_in_seconds=jobs.max_runtime_seconds,
            base_job_name=f"{self.spec.pipeline_name}-{base_job_name}",
            sagemaker_session=self.session,
            network_config=self.network_config(),
            # boto3 in the steps (model registry look-ups) needs the region; name it, don't rely on the host.
            env={"AWS_DEFAULT_REGION": self.spec.region},
        )

    def network_config(self) -> NetworkConfig | None:
        jobs = self.spec.jobs
        if not jobs.subnet_ids:
            return None
        return NetworkConfig(
            subnets=list(jobs.subnet_ids),
            security_group_ids=list(jobs.security_group_ids),
            encrypt_inter_container_traffic=True,
        )

    def processing_step(
        self, name: str, description: str, step: str, arguments: list, inputs, outputs, instance_count=1, **kwargs
    ):
        step_args = self.processor(step, instance_count).run(
            code=self.spec.code.steps_archive_uri,
            arguments=[step, *arguments],
            inputs=inputs,
            outputs=outputs,
        )
        return ProcessingStep(
            name=name,
            description=description,
            step_args=step_args,
            retry_policies=[_STEP_RETRIES, _JOB_RETRIES],
            **kwargs,
        )

    def emr_step(self, name: str, display_name: str, description: str, job_arguments: list) -> EMRStep:
        """spark-submit of etl.py with `job_arguments`, on the standing cluster or a transient one."""
        emr = self.spec.emr
        spark_submit = [
            "spark-submit",
            "--deploy-mode",
            "cluster",
            "--py-files",
            self.spec.code.steps_archive_uri,
            self.spec.code.etl_script_uri,
            *job_arguments,
        ]
        transient = emr.mode == "transient"
        return EMRStep(
            name=name,
            display_name=display_name,
            description=description,
            step_config=EMRStepConfig(jar="command-runner.jar", args=spark_submit),
            cluster_id=None if transient else emr.cluster_id,
            cluster_config=self.emr_cluster() if transient else None,
        )

    def etl_step(self) -> EMRStep:
        return self.emr_step(
            name="ETL",
            display_name="ONET-ETL-on-EMR",
            description="PySpark: validate, normalize and de-duplicate the O*NET titles; quarantine rejected rows.",
            job_arguments=["--input", self.params.onet_input_uri, "--output", _execution_uri(self.spec, "etl")],
        )

    def emr_cluster(self) -> dict:
        """RunJobFlow settings for a transient cluster that SageMaker starts for this step and terminates after."""
        emr = self.spec.emr
        return {
            "ReleaseLabel": emr.release_label,
            "Applications": [{"Name": "Spark"}],
            "LogUri": emr.log_uri,
            "JobFlowRole": emr.instance_profile_name,
            "ServiceRole": emr.service_role_name,
            "SecurityConfiguration": emr.security_configuration_name,
            "VisibleToAllUsers": True,
            "BootstrapActions": [
                {
                    "Name": "Install ETL Python packages",
                    "ScriptBootstrapAction": {"Path": self.spec.code.emr_bootstrap_uri},
                }
            ],
            "Instances": {
                "Ec2SubnetId": emr.subnet_id,
                "EmrManagedMasterSecurityGroup": emr.primary_security_group_id,
                "EmrManagedSlaveSecurityGroup": emr.core_security_group_id,
                "ServiceAccessSecurityGroup": emr.service_access_security_group_id,
                "InstanceGroups": [
                    {
                        "Name": "Primary",
                        "InstanceRole": "MASTER",
                        "InstanceType": emr.primary_instance_type,
                        "InstanceCount": 1,
                    },
                    {
                        "Name": "Core",
                        "InstanceRole": "CORE",
                        "InstanceType": emr.core_instance_type,
                        "InstanceCount": emr.core_instance_count,
                    },
                ],
            },
        }

    def train_branch(self) -> list:
        p = self.params
        etl = self.etl_step()
        preprocess = self.processing_step(
            name="PreprocessTrain",
            description="Split the ETL titles into train/validation/test twice: by O*NET-SOC occupation, and by title.",
            step="preprocess-train",
            arguments=[
                "--input", f"{_INPUT}/titles",
                "--output", _OUTPUT,
                "--seed", p.split_seed.to_string(),
                "--validation-fraction", p.validation_fraction.to_string(),
                "--test-fraction", p.test_fraction.to_string(),
            ],  # fmt: skip
            inputs=[ProcessingInput(source=_execution_uri(self.spec, "etl", "titles"), destination=f"{_INPUT}/titles")],
            outputs=[
                ProcessingOutput(
                    output_name=split,
                    source=f"{_OUTPUT}/{split}",
                    destination=_execution_uri(self.spec, "preprocess", split),
                )
                for split in SPLITS + TITLE_SPLITS
            ],
            depends_on=[etl],
        )
        train = self.training_step(preprocess)
        evaluation_file = PropertyFile(name="EvaluationReport", output_name="evaluation", path=EVALUATION_FILE)
        evaluate = self.processing_step(
            name="Evaluate",
            description="Score the held-out models on unseen titles and unseen occupations; compare with the latest approved.",
            step="evaluate",
            arguments=[
                "--model", f"{_INPUT}/model",
                "--test", f"{_INPUT}/test",
                "--title-test", f"{_INPUT}/title_test",
                "--output", f"{_OUTPUT}/evaluation",
                "--model-package-group", self.spec.model_package_group_name,
            ],  # fmt: skip
            inputs=[
                ProcessingInput(
                    source=train.properties.ModelArtifacts.S3ModelArtifacts, destination=f"{_INPUT}/model"
                ),
                *(
                    ProcessingInput(
                        source=preprocess.properties.ProcessingOutputConfig.Outputs[split].S3Output.S3Uri,
                        destination=f"{_INPUT}/{split}",
                    )
                    for split in ("test", "title_test")
                ),
            ],
            outputs=[
                ProcessingOutput(
                    output_name="evaluation",
                    source=f"{_OUTPUT}/evaluation",
                    destination=_evaluation_uri(self.spec),
                )
            ],
            property_files=[evaluation_file],
        )
        gate = self.quality_gate(train, evaluate, evaluation_file)
        return [etl, preprocess, train, evaluate, gate]

    def training_step(self, preprocess: ProcessingStep) -> TrainingStep:
        p, jobs = self.params, self.spec.jobs
        network = self.network_config()
        estimator = SKLearn(
            entry_point=TRAINING_ENTRY_POINT,
            source_dir=self.spec.code.training_source_uri,
            framework_version=self.spec.sklearn_framework_version,
            py_version="py3",
            role=self.spec.role_arn,
            instance_type=jobs.training_instance_type,
            instance_count=1,
            volume_size=jobs.volume_size_gb,
            volume_kms_key=jobs.kms_key_id,
            output_kms_key=jobs.kms_key_id,
            max_run=jobs.max_runtime_seconds,
            output_path=f"s3://{self.spec.buckets.models}/{MODEL_ARTIFACTS_PREFIX.rstrip('/')}",
            base_job_name=f"{self.spec.pipeline_name}-train",
            subnets=network.subnets if network else None,
            security_group_ids=network.security_group_ids if network else None,
            encrypt_inter_container_traffic=bool(network),
            disable_profiler=True,
            debugger_hook_config=False,
            hyperparameters=dict(p.hyperparameters),
            sagemaker_session=self.session,
        )
        outputs = preprocess.properties.ProcessingOutputConfig.Outputs
        with _telemetry_opted_out(self.session):
            step_args = estimator.fit(
                inputs={
                    # The held-out models' rows and calibration rows; the served model is fitted on every
                    # split by occupation (train, validation and test together are every accepted row).
                    **{split: outputs[split].S3Output.S3Uri for split in SPLITS + TITLE_SPLITS if split != "title_test"},
                    # Descriptions of the occupations: extra training text.
                    "occupations": _execution_uri(self.spec, "etl", "occupations"),
                }
            )
        return TrainingStep(
            name="Train",
            description="TF-IDF word and character n-grams with a linear classifier: two held-out models, "
            "and the served model refit on every accepted row.",
            step_args=step_args,
            retry_policies=[_STEP_RETRIES, _JOB_RETRIES],
        )

    def quality_gate(self, train: TrainingStep, evaluate: ProcessingStep, evaluation_file: PropertyFile):
        p = self.params
        macro_f1 = JsonGet(step_name=evaluate.name, property_file=evaluation_file, json_path=MACRO_F1_PATH)
        baseline = JsonGet(step_name=evaluate.name, property_file=evaluation_file, json_path=BASELINE_MACRO_F1_PATH)
        evaluation_uri = Join(on="/", values=[_evaluation_uri(self.spec), EVALUATION_FILE])
        model = Model(
            image_uri=self.processor("register").image_uri,
            model_data=train.properties.ModelArtifacts.S3ModelArtifacts,
            role=self.spec.role_arn,
            # The model archive carries its own code/inference.py; the serving container runs it from there.
            env={"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"},
            sagemaker_session=self.session,
        )
        unseen_titles = JsonGet(
            step_name=evaluate.name, property_file=evaluation_file, json_path=UNSEEN_TITLES_MACRO_F1_PATH
        )
        register = ModelStep(
            name="RegisterModel",
            description="Register the model refit on every accepted row, with its held-out evaluation.",
            step_args=model.register(
                content_types=["application/json", "text/csv"],
                response_types=["application/json", "text/csv"],
                inference_instances=["ml.m5.large"],
                transform_instances=["ml.m5.large"],
                model_package_group_name=self.spec.model_package_group_name,
                approval_status=p.model_approval_status,
                model_metrics=ModelMetrics(
                    model_statistics=MetricsSource(s3_uri=evaluation_uri, content_type="application/json")
                ),
                # The registered model is refit on every row; its metrics are of held-out models (evaluate.py).
                customer_metadata_properties={
                    "fitted_on": "every accepted row (all occupations)",
                    "metrics": "held-out: models of the same job and hyperparameters, fitted without the scored rows",
                    "held_out_macro_f1_unseen_titles": Join(on="", values=[unseen_titles]),
                    "held_out_macro_f1_unseen_occupations": Join(on="", values=[macro_f1]),
                },
                description="Job title to SOC major group classifier",
            ),
        )
        rejected = FailStep(
            name="ModelRejected",
            error_message=Join(
                on=" ",
                values=[
                    "Quality gate: the model is not registered. Its macro-F1",
                    macro_f1,
                    "must be at least the threshold",
                    p.min_macro_f1,
                    "and at least the latest approved model's",
                    baseline,
                ],
            ),
        )
        return ConditionStep(
            name="QualityGate",
            description="Register only if macro-F1 >= min_macro_f1 and >= the latest approved model's.",
            conditions=[
                ConditionGreaterThanOrEqualTo(left=macro_f1, right=p.min_macro_f1),
                ConditionGreaterThanOrEqualTo(left=macro_f1, right=baseline),
            ],
            if_steps=[register],
            else_steps=[rejected],
        )

    def predict_branch(self) -> list:
        """PredictEngine chooses how the titles are prepared; each choice ends in its own BatchPredict
        (a step cannot follow a ConditionStep's branches, so BatchPredict is built once per branch)."""
        return [
            ConditionStep(
                name="PredictEngine",
                description="predict_engine=emr prepares the titles on EMR; processing (no EMR) in a processing job.",
                conditions=[ConditionEquals(left=self.params.predict_engine, right="emr")],
                if_steps=self.emr_predict_steps(),
                else_steps=self.processing_predict_steps(),
            )
        ]

    def processing_predict_steps(self) -> list:
        p = self.params
        preprocess = self.processing_step(
            name="PreprocessPredict",
            description="Validate and normalize the titles to classify, streaming; every input row is kept.",
            step="preprocess-predict",
            arguments=[
                "--input", f"{_INPUT}/titles",
                "--output", f"{_OUTPUT}/prepared",
                "--resource-config", _RESOURCE_CONFIG,
                "--execution-date", p.execution_date,
            ],  # fmt: skip
            inputs=[
                ProcessingInput(
                    source=p.input_titles_uri,
                    destination=f"{_INPUT}/titles",
                    s3_data_distribution_type="ShardedByS3Key",
                )
            ],
            outputs=[
                ProcessingOutput(
                    output_name="prepared",
                    source=f"{_OUTPUT}/prepared",
                    destination=_execution_uri(self.spec, "predict-input"),
                )
            ],
            instance_count=p.predict_instance_count,
        )
        prepared = preprocess.properties.ProcessingOutputConfig.Outputs["prepared"].S3Output.S3Uri
        return [preprocess, self.batch_predict_step("BatchPredict", Join(on="/", values=[prepared, "titles"]))]

    def emr_predict_steps(self) -> list:
        titles_etl = self.emr_step(
            name="PredictEtl",
            display_name="Titles-ETL-on-EMR",
            description="PySpark: validate and normalize the titles to classify at any size; quarantine rejected rows.",
            job_arguments=[
                "--dataset", "titles",
                "--input", self.params.input_titles_uri,
                "--output", _execution_uri(self.spec, "predict-input"),
                "--execution-date", self.params.execution_date,
            ],  # fmt: skip
        )
        predict = self.batch_predict_step(
            "BatchPredictAfterEtl", _execution_uri(self.spec, "predict-input", "titles"), depends_on=[titles_etl]
        )
        return [titles_etl, predict]

    def batch_predict_step(self, name: str, prepared_titles, **kwargs) -> ProcessingStep:
        p = self.params
        return self.processing_step(
            name=name,
            description="Top-3 major groups per title with the latest approved model, keyed by date and execution.",
            step="predict",
            arguments=[
                "--input", f"{_INPUT}/titles",
                "--output", f"{_OUTPUT}/predictions",
                "--model-package-group", self.spec.model_package_group_name,
                "--execution-id", ExecutionVariables.PIPELINE_EXECUTION_ID,
                "--execution-date", p.execution_date,
                "--resource-config", _RESOURCE_CONFIG,
            ],  # fmt: skip
            inputs=[
                ProcessingInput(
                    source=prepared_titles,
                    destination=f"{_INPUT}/titles",
                    s3_data_distribution_type="ShardedByS3Key",
                )
            ],
            outputs=[
                ProcessingOutput(
                    output_name="predictions",
                    source=f"{_OUTPUT}/predictions",
                    destination=f"s3://{self.spec.buckets.predictions}/{PREDICTIONS_PREFIX.rstrip('/')}",
                )
            ],
            instance_count=p.predict_instance_count,
            **kwargs,
        )

    def pipeline(self) -> Pipeline:
        # The branch comes right after the parameter check: a predict execution never runs the O*NET
        # ETL, nor any EMR step unless predict_engine says so.
        branch = ConditionStep(
            name="UseType",
            description="use_type=train runs the train branch (O*NET ETL first); use_type=predict the batch-predict branch.",
            conditions=[ConditionEquals(left=self.params.use_type, right="train")],
            if_steps=self.train_branch(),
            else_steps=self.predict_branch(),
        )
        # SageMaker checks types and allowed values when an execution starts, not ranges: this first step
        # does, so that a bad value fails the execution before any cluster or job starts.
        checked = ConditionStep(
            name="CheckParameters",
            description="Every numeric parameter within its range; otherwise fail before any step runs.",
            conditions=self.params.range_conditions(),
            if_steps=[branch],
            else_steps=[FailStep(name="ParametersOutOfRange", error_message=self.params.range_message())],
        )
        return Pipeline(
            name=self.spec.pipeline_name,
            parameters=self.params.all(),
            steps=[checked],
            sagemaker_session=self.session,
        )


def build_definition(spec: PipelineSpec) -> str:
    """The pipeline definition JSON for `spec`, exactly as the SDK writes it."""
    with _offline_default_boto_session(spec.region), warnings.catch_warnings():
        # "Running within a PipelineSession ... No Job being started": exactly what we want.
        warnings.filterwarnings("ignore", message="Running within a PipelineSession")
        return _Builder(spec).pipeline().definition()


def sklearn_image_uri(region: str, framework_version: str, instance_type: str) -> str:
    """The SageMaker scikit-learn image's URI, from the SDK's bundled image table (offline, no AWS call)."""
    return image_uris.retrieve(
        "sklearn", region=region, version=framework_version, py_version="py3", instance_type=instance_type
    )
