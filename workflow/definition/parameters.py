"""The pipeline's parameters: what a schedule or a user may set per execution, and their allowed ranges.

SageMaker checks a parameter's type and enum values when an execution starts, not its range; the
range conditions here are evaluated by the definition's top-level condition steps before any job or
cluster starts (builder.py).
"""

from __future__ import annotations

import dataclasses

from sagemaker.workflow.conditions import (
    ConditionGreaterThanOrEqualTo,
    ConditionLessThanOrEqualTo,
    ConditionNot,
    ConditionOr,
)
from sagemaker.workflow.functions import Join
from sagemaker.workflow.parameters import Parameter, ParameterFloat, ParameterInteger, ParameterString

from config.settings import MAX_PREDICT_INSTANCES
from pipeline_steps.contract import (
    MODEL_APPROVAL_STATUSES,
    ONET_INPUT_PREFIX,
    PREDICT_ENGINES,
    TITLES_INPUT_PREFIX,
    USE_TYPES,
)
from pipeline_steps.model import CHOICES, RANGE, pipeline_hyperparameters
from pipeline_steps.preprocess_train import DEFAULT_SEED, DEFAULT_TEST_FRACTION, DEFAULT_VALIDATION_FRACTION
from workflow.definition.spec import PipelineSpec

# Integer parameters stay within a signed 32-bit integer: the SageMaker guide and the definition schema
# give Integer parameters no range of their own, and this is one every reading of "Integer" accepts
# (numpy's RandomState, which the split seeds, takes anything below 2**32).
MAX_INTEGER_PARAMETER = 2**31 - 1


class PipelineParameters:
    """The declared parameters, their defaults from the spec, and the ranges the conditions check."""

    def __init__(self, spec: PipelineSpec):
        raw = spec.buckets.raw
        # Inclusive (minimum, maximum) of each numeric parameter.
        self.ranges: dict[str, tuple[Parameter, float, float]] = {}
        self.use_type = ParameterString("use_type", default_value="train", enum_values=list(USE_TYPES))
        self.onet_input_uri = ParameterString("onet_input_uri", default_value=f"s3://{raw}/{ONET_INPUT_PREFIX}")
        self.input_titles_uri = ParameterString("input_titles_uri", default_value=f"s3://{raw}/{TITLES_INPUT_PREFIX}")
        self.execution_date = ParameterString("execution_date", default_value="")
        # The split's parameters default to the preprocess-train step's own defaults.
        self.split_seed = self._ranged(
            ParameterInteger("split_seed", default_value=DEFAULT_SEED), 0, MAX_INTEGER_PARAMETER
        )
        # Each at most 0.45, so that at least 10% of the occupations train whatever both are.
        self.validation_fraction = self._ranged(
            ParameterFloat("validation_fraction", default_value=DEFAULT_VALIDATION_FRACTION), 0.05, 0.45
        )
        self.test_fraction = self._ranged(
            ParameterFloat("test_fraction", default_value=DEFAULT_TEST_FRACTION), 0.05, 0.45
        )
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
        # The status a model that passes the quality gate is registered with; one that fails it is Rejected.
        self.model_approval_status = ParameterString(
            "model_approval_status",
            default_value=spec.model.approval_status,
            enum_values=list(MODEL_APPROVAL_STATUSES),
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

    def in_range(self) -> list:
        """Every numeric parameter within its range (NaN fails both sides), and char n-grams not inverted.

        A condition step ANDs its conditions: each branch's step lists these before its own.
        """
        conditions = []
        for parameter, minimum, maximum in self.ranges.values():
            conditions.append(ConditionGreaterThanOrEqualTo(left=parameter, right=minimum))
            conditions.append(ConditionLessThanOrEqualTo(left=parameter, right=maximum))
        hyperparameters = self.hyperparameters
        conditions.append(
            ConditionLessThanOrEqualTo(left=hyperparameters["char_ngram_min"], right=hyperparameters["char_ngram_max"])
        )
        return conditions

    def out_of_range(self) -> ConditionOr:
        """True when any condition of `in_range` is false (NaN included): their exact negation."""
        return ConditionOr(conditions=[ConditionNot(expression=condition) for condition in self.in_range()])

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
