"""The pipeline definition JSON, built with the real `sagemaker` SDK, offline, from a PipelineSpec.

Which steps an execution runs is decided by four sibling condition steps at the top of the
definition, each reading only parameters. SageMaker does not support nested condition steps
("Pipelines doesn't support the use of nested condition steps. You can't pass a condition step as
the input for another condition step": SageMaker developer guide, Pipelines steps, "Condition step",
Limitations), so each path's condition step ANDs everything that selects it:

- CheckParameters: any parameter out of its range -> ParametersOutOfRange (a Fail step). The other
  three also require every parameter in range, so nothing else starts, no job and no cluster.
- UseTypeTrain: in range and use_type=train -> ETL, PreprocessTrain, Train, Evaluate, RegisterModel.
  The quality gate needs no condition step: Evaluate writes the verdict and RegisterModel takes its
  approval status from it (Rejected when the gate fails), so every trained model is on record.
- UseTypePredict: in range, use_type=predict and predict_engine=processing -> PreprocessPredict,
  BatchPredict.
- UseTypePredictOnEmr: in range, use_type=predict and predict_engine=emr -> PredictEtl,
  BatchPredictAfterEtl.

Exactly one of the four chooses its steps for any parameter values.
"""

from __future__ import annotations

import warnings

from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionEquals
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.pipeline import Pipeline

from pipeline_steps.contract import EMR_ENGINE, PROCESSING_ENGINE
from workflow.definition.offline_sdk import offline_default_boto_session, offline_session
from workflow.definition.parameters import PipelineParameters
from workflow.definition.spec import PipelineSpec
from workflow.definition.steps import PipelineSteps


def _pipeline(spec: PipelineSpec) -> Pipeline:
    parameters = PipelineParameters(spec)
    session = offline_session(spec.region, default_bucket=spec.buckets.processed)
    steps = PipelineSteps(spec, parameters, session)
    in_range = parameters.in_range()
    use_type, engine = parameters.use_type, parameters.predict_engine
    return Pipeline(
        name=spec.pipeline_name,
        parameters=parameters.all(),
        steps=[
            ConditionStep(
                name="CheckParameters",
                description="Any numeric parameter out of its range fails the execution before any step runs.",
                conditions=[parameters.out_of_range()],
                if_steps=[FailStep(name="ParametersOutOfRange", error_message=parameters.range_message())],
            ),
            ConditionStep(
                name="UseTypeTrain",
                description="use_type=train: the O*NET ETL, training, evaluation and registration.",
                conditions=[*in_range, ConditionEquals(left=use_type, right="train")],
                if_steps=steps.train_steps(),
            ),
            ConditionStep(
                name="UseTypePredict",
                description="use_type=predict, predict_engine=processing: prepare the titles in a processing job.",
                conditions=[
                    *in_range,
                    ConditionEquals(left=use_type, right="predict"),
                    ConditionEquals(left=engine, right=PROCESSING_ENGINE),
                ],
                if_steps=steps.processing_predict_steps(),
            ),
            ConditionStep(
                name="UseTypePredictOnEmr",
                description="use_type=predict, predict_engine=emr: prepare the titles on EMR, at any size.",
                conditions=[
                    *in_range,
                    ConditionEquals(left=use_type, right="predict"),
                    ConditionEquals(left=engine, right=EMR_ENGINE),
                ],
                if_steps=steps.emr_predict_steps(),
            ),
        ],
        # No SageMaker Experiments entities: nothing reads them, and they would need CreateExperiment,
        # CreateTrial and AssociateTrialComponent on the pipeline role and outlive the pipeline ("If you
        # don't want an experiment and run group created for the pipeline, set pipeline_experiment_config
        # to None": SageMaker developer guide, "Amazon SageMaker Experiments Integration").
        pipeline_experiment_config=None,
        sagemaker_session=session,
    )


def build_definition(spec: PipelineSpec) -> str:
    """The pipeline definition JSON for `spec`, exactly as the SDK writes it."""
    with offline_default_boto_session(spec.region), warnings.catch_warnings():
        # "Running within a PipelineSession ... No Job being started": exactly what we want.
        warnings.filterwarnings("ignore", message="Running within a PipelineSession")
        return _pipeline(spec).definition()
