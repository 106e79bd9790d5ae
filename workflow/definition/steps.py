"""The pipeline's steps, built with the real `sagemaker` SDK from a PipelineSpec and the parameters.

Each step is what SageMaker runs; which steps an execution runs is decided in builder.py.
"""

from __future__ import annotations

from sagemaker.model import Model
from sagemaker.model_metrics import MetricsSource, ModelMetrics
from sagemaker.network import NetworkConfig
from sagemaker.processing import ProcessingInput, ProcessingOutput
from sagemaker.sklearn.estimator import SKLearn
from sagemaker.sklearn.processing import SKLearnProcessor
from sagemaker.workflow.emr_step import EMRStep, EMRStepConfig
from sagemaker.workflow.execution_variables import ExecutionVariables
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.model_step import ModelStep
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.retry import (
    SageMakerJobExceptionTypeEnum,
    SageMakerJobStepRetryPolicy,
    StepExceptionTypeEnum,
    StepRetryPolicy,
)
from sagemaker.workflow.steps import ProcessingStep, TrainingStep

from pipeline_steps.contract import (
    EVALUATION_FILE,
    EVALUATIONS_PREFIX,
    EXECUTIONS_PREFIX,
    GATE_APPROVAL_STATUS_PATH,
    GATE_REASON_PATH,
    MODEL_ARTIFACTS_PREFIX,
    PREDICTION_REPORT_PARTS,
    PREDICTIONS_PREFIX,
    UNSEEN_OCCUPATIONS_MACRO_F1_PATH,
    UNSEEN_TITLES_MACRO_F1_PATH,
)
from pipeline_steps.etl_tables import OCCUPATIONS_DATASET, TITLES_DATASET
from pipeline_steps.preprocess_train import OCCUPATION_SPLITS, TITLE_SPLITS
from pipeline_steps.train import SPLIT_CHANNELS
from workflow.definition.bundles import TRAINING_ENTRY_POINT
from workflow.definition.offline_sdk import telemetry_opted_out
from workflow.definition.parameters import PipelineParameters
from workflow.definition.spec import PipelineSpec

# Container conventions: where processing jobs find their inputs and leave their outputs, and
# where SageMaker tells each instance of a job its host name and the job's hosts.
_INPUT = "/opt/ml/processing/input"
_OUTPUT = "/opt/ml/processing/output"
_RESOURCE_CONFIG = "/opt/ml/config/resourceconfig.json"

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


def _options(options: dict) -> list:
    """A step's command line from its options, `--name value` each, in order: one option a line in the code."""
    return [part for option in options.items() for part in option]


class PipelineSteps:
    """Builds each step of the environment's pipeline; the train and predict paths as step lists."""

    def __init__(self, spec: PipelineSpec, parameters: PipelineParameters, session: PipelineSession):
        self.spec = spec
        self.params = parameters
        self.session = session

    def execution_uri(self, *parts: str) -> Join:
        """s3://<processed>/executions/<execution id>/<parts>: one folder per execution, so re-runs never mix.

        The processed bucket expires these folders (storage.intermediate_expiry_days).
        """
        return Join(
            on="/",
            values=[
                f"s3://{self.spec.buckets.processed}/{EXECUTIONS_PREFIX.rstrip('/')}",
                ExecutionVariables.PIPELINE_EXECUTION_ID,
                *parts,
            ],
        )

    def evaluation_uri(self) -> Join:
        """Kept with the models, not with the expiring intermediate data: a registered model's metrics
        must outlive its execution, since later gates compare against them."""
        return Join(
            on="/",
            values=[
                f"s3://{self.spec.buckets.models}/{EVALUATIONS_PREFIX.rstrip('/')}",
                ExecutionVariables.PIPELINE_EXECUTION_ID,
            ],
        )

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
        """spark-submit of etl_main.py with `job_arguments`, on the standing cluster or a transient one.

        The ETL's pure-Python dependencies travel in `--py-files` beside the step code, so EMR nodes need
        neither a bootstrap action nor access to PyPI.
        """
        emr, code = self.spec.emr, self.spec.code
        spark_submit = [
            "spark-submit",
            "--deploy-mode",
            "cluster",
            "--py-files",
            f"{code.steps_archive_uri},{code.etl_dependencies_uri}",
            code.etl_script_uri,
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

    def train_steps(self) -> list:
        """O*NET ETL, the two splits, training, evaluation with the gate's verdict, registration."""
        p = self.params
        etl = self.emr_step(
            name="ETL",
            display_name="ONET-ETL-on-EMR",
            description="PySpark: validate, normalize and de-duplicate the O*NET titles; quarantine rejected rows.",
            job_arguments=["--input", p.onet_input_uri, "--output", self.execution_uri("etl")],
        )
        preprocess = self.processing_step(
            name="PreprocessTrain",
            description="Split the ETL titles into train, validation and test twice: by O*NET-SOC occupation and by title.",
            step="preprocess-train",
            arguments=_options(
                {
                    "--input": f"{_INPUT}/titles",
                    "--output": _OUTPUT,
                    "--seed": p.split_seed.to_string(),
                    "--validation-fraction": p.validation_fraction.to_string(),
                    "--test-fraction": p.test_fraction.to_string(),
                }
            ),
            inputs=[ProcessingInput(source=self.execution_uri("etl", TITLES_DATASET), destination=f"{_INPUT}/titles")],
            outputs=[
                ProcessingOutput(
                    output_name=split,
                    source=f"{_OUTPUT}/{split}",
                    destination=self.execution_uri("preprocess", split),
                )
                for split in OCCUPATION_SPLITS + TITLE_SPLITS
            ],
            depends_on=[etl],
        )
        train = self.training_step(preprocess)
        evaluation_file = PropertyFile(name="EvaluationReport", output_name="evaluation", path=EVALUATION_FILE)
        evaluate = self.processing_step(
            name="Evaluate",
            description="Score the held-out models on unseen titles and unseen occupations; decide the quality gate.",
            step="evaluate",
            arguments=_options(
                {
                    "--model": f"{_INPUT}/model",
                    "--occupation-test": f"{_INPUT}/occupation_test",
                    "--title-test": f"{_INPUT}/title_test",
                    "--output": f"{_OUTPUT}/evaluation",
                    "--model-package-group": self.spec.model_package_group_name,
                    "--min-macro-f1": p.min_macro_f1.to_string(),
                    "--approval-status": p.model_approval_status,
                }
            ),
            inputs=[
                ProcessingInput(source=train.properties.ModelArtifacts.S3ModelArtifacts, destination=f"{_INPUT}/model"),
                *(
                    ProcessingInput(
                        source=preprocess.properties.ProcessingOutputConfig.Outputs[split].S3Output.S3Uri,
                        destination=f"{_INPUT}/{split}",
                    )
                    for split in (OCCUPATION_SPLITS[-1], TITLE_SPLITS[-1])
                ),
            ],
            outputs=[
                ProcessingOutput(
                    output_name="evaluation",
                    source=f"{_OUTPUT}/evaluation",
                    destination=self.evaluation_uri(),
                )
            ],
            property_files=[evaluation_file],
        )
        register = self.register_step(train, evaluate, evaluation_file)
        return [etl, preprocess, train, evaluate, register]

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
        with telemetry_opted_out(self.session):
            step_args = estimator.fit(
                inputs={
                    # The held-out models' rows and calibration rows; the served model is fitted on every
                    # split by occupation (together they are every accepted row).
                    **{channel: outputs[channel].S3Output.S3Uri for channel in SPLIT_CHANNELS},
                    # Descriptions of the occupations: extra training text.
                    OCCUPATIONS_DATASET: self.execution_uri("etl", OCCUPATIONS_DATASET),
                }
            )
        return TrainingStep(
            name="Train",
            description="TF-IDF word and character n-grams with a linear classifier: two held-out models, "
            "and the served model refit on every accepted row.",
            step_args=step_args,
            retry_policies=[_STEP_RETRIES, _JOB_RETRIES],
        )

    def register_step(self, train: TrainingStep, evaluate: ProcessingStep, evaluation_file: PropertyFile) -> ModelStep:
        """The model refit on every row, registered with the status the gate decided (Rejected if it failed).

        Every CustomerMetadataProperties value must match `[\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@]*` (CreateModelPackage):
        no commas or parentheses. The workflow.contracts validator holds every value to that pattern.
        """

        def evaluated(json_path: str) -> JsonGet:
            return JsonGet(step_name=evaluate.name, property_file=evaluation_file, json_path=json_path)

        model = Model(
            image_uri=self.processor("register").image_uri,
            model_data=train.properties.ModelArtifacts.S3ModelArtifacts,
            role=self.spec.role_arn,
            # The model archive carries its own code/inference.py; the serving container runs it from there.
            env={"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"},
            sagemaker_session=self.session,
        )
        return ModelStep(
            name="RegisterModel",
            description="Register the model refit on every accepted row, with its held-out evaluation and the "
            "quality gate's verdict as its approval status.",
            step_args=model.register(
                content_types=["application/json", "text/csv"],
                response_types=["application/json", "text/csv"],
                inference_instances=["ml.m5.large"],
                transform_instances=["ml.m5.large"],
                model_package_group_name=self.spec.model_package_group_name,
                approval_status=evaluated(GATE_APPROVAL_STATUS_PATH),
                model_metrics=ModelMetrics(
                    model_statistics=MetricsSource(
                        s3_uri=Join(on="/", values=[self.evaluation_uri(), EVALUATION_FILE]),
                        content_type="application/json",
                    )
                ),
                # The registered model is refit on every row; its metrics are of held-out models (evaluate.py).
                customer_metadata_properties={
                    "fitted_on": "every accepted row: all occupations",
                    "metrics": "held-out: models of the same job and hyperparameters fitted without the scored rows",
                    "held_out_macro_f1_unseen_titles": Join(on="", values=[evaluated(UNSEEN_TITLES_MACRO_F1_PATH)]),
                    "held_out_macro_f1_unseen_occupations": Join(
                        on="", values=[evaluated(UNSEEN_OCCUPATIONS_MACRO_F1_PATH)]
                    ),
                    "quality_gate": evaluated(GATE_REASON_PATH),
                },
                description="Job title to SOC major group classifier",
            ),
        )

    def predictions_uri(self) -> str:
        """s3://<predictions>/predictions: the steps write execution_date=<date>/execution_id=<id>/ under it."""
        return f"s3://{self.spec.buckets.predictions}/{PREDICTIONS_PREFIX.rstrip('/')}"

    def processing_predict_steps(self) -> list:
        """PreprocessPredict (a processing job, no EMR), then BatchPredict and its PredictionReport."""
        p = self.params
        preprocess = self.processing_step(
            name="PreprocessPredict",
            description="Validate and normalize the titles to classify, streaming; every input row is kept.",
            step="preprocess-predict",
            arguments=_options(
                {
                    "--input": f"{_INPUT}/titles",
                    "--output": f"{_OUTPUT}/prepared",
                    "--resource-config": _RESOURCE_CONFIG,
                    "--execution-date": p.execution_date,
                }
            ),
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
                    destination=self.execution_uri("predict-input"),
                )
            ],
            instance_count=p.predict_instance_count,
        )
        prepared = preprocess.properties.ProcessingOutputConfig.Outputs["prepared"].S3Output.S3Uri
        predict = self.batch_predict_step("BatchPredict", Join(on="/", values=[prepared, "titles"]))
        return [preprocess, predict, self.prediction_report_step("PredictionReport", predict)]

    def emr_predict_steps(self) -> list:
        """PredictEtl (the titles ETL on EMR, for tens of millions of titles), then BatchPredictAfterEtl and
        its PredictionReportAfterEtl."""
        titles_etl = self.emr_step(
            name="PredictEtl",
            display_name="Titles-ETL-on-EMR",
            description="PySpark: validate and normalize the titles to classify at any size; quarantine rejected rows.",
            job_arguments=_options(
                {
                    "--dataset": "titles",
                    "--input": self.params.input_titles_uri,
                    "--output": self.execution_uri("predict-input"),
                    "--execution-date": self.params.execution_date,
                }
            ),
        )
        predict = self.batch_predict_step(
            "BatchPredictAfterEtl", self.execution_uri("predict-input", "titles"), depends_on=[titles_etl]
        )
        return [titles_etl, predict, self.prediction_report_step("PredictionReportAfterEtl", predict)]

    def batch_predict_step(self, name: str, prepared_titles, **kwargs) -> ProcessingStep:
        """Each predict path ends in its own BatchPredict: no step may belong to two condition branches.

        Besides the predictions, each instance writes its report to the execution's report-parts folder, which
        the path's PredictionReport merges."""
        p = self.params
        return self.processing_step(
            name=name,
            description="Top-3 major groups per title with the latest approved model, keyed by date and execution.",
            step="predict",
            arguments=_options(
                {
                    "--input": f"{_INPUT}/titles",
                    "--output": f"{_OUTPUT}/predictions",
                    "--model-package-group": self.spec.model_package_group_name,
                    "--execution-id": ExecutionVariables.PIPELINE_EXECUTION_ID,
                    "--execution-date": p.execution_date,
                    "--resource-config": _RESOURCE_CONFIG,
                    "--low-confidence": str(self.spec.monitoring.low_confidence),
                    "--report-parts": f"{_OUTPUT}/report-parts",
                }
            ),
            inputs=[
                ProcessingInput(
                    source=prepared_titles,
                    destination=f"{_INPUT}/titles",
                    s3_data_distribution_type="ShardedByS3Key",
                )
            ],
            outputs=[
                ProcessingOutput(
                    output_name="predictions", source=f"{_OUTPUT}/predictions", destination=self.predictions_uri()
                ),
                ProcessingOutput(
                    output_name="report-parts",
                    source=f"{_OUTPUT}/report-parts",
                    destination=self.execution_uri(PREDICTION_REPORT_PARTS),
                ),
            ],
            instance_count=p.predict_instance_count,
            **kwargs,
        )

    def prediction_report_step(self, name: str, batch_predict: ProcessingStep) -> ProcessingStep:
        """The execution's prediction report from BatchPredict's instance reports (one small instance: it adds up
        counts), beside the predictions, and its figures put in the environment's CloudWatch namespace."""
        monitoring = self.spec.monitoring
        parts = batch_predict.properties.ProcessingOutputConfig.Outputs["report-parts"].S3Output.S3Uri
        return self.processing_step(
            name=name,
            description="Merge BatchPredict's instance reports: counts, answer paths, low-confidence and unknown-word "
            "shares, drift from the model's training titles; JSON and PNG beside the predictions, CloudWatch metrics.",
            step="prediction-report",
            arguments=[
                *_options(
                    {
                        "--parts": f"{_INPUT}/report-parts",
                        "--output": f"{_OUTPUT}/report",
                        "--metrics-namespace": monitoring.metrics_namespace,
                    }
                ),
                *monitoring.limits.arguments(),
            ],
            inputs=[ProcessingInput(source=parts, destination=f"{_INPUT}/report-parts")],
            outputs=[
                ProcessingOutput(output_name="report", source=f"{_OUTPUT}/report", destination=self.predictions_uri())
            ],
        )
