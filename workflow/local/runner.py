"""Execute a SageMaker pipeline definition JSON on this machine, step by step, as SageMaker would."""

from __future__ import annotations

import datetime
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflow.contracts.pipeline import ExecutionNames, check_definition, check_step
from workflow.contracts.validator import ContractError
from workflow.local.executors import JobContext, StepFailed, register_model, run_emr, run_processing, run_training
from workflow.local.expressions import EvaluationContext, ExpressionError, UnsupportedDefinition
from workflow.local.s3 import LocalS3

KNOWN_STEP_KEYS = {
    "Name",
    "Type",
    "Arguments",
    "DependsOn",
    "Description",
    "DisplayName",
    "PropertyFiles",
    "RetryPolicies",
    "ErrorMessage",
}
_STEP_REFERENCE = re.compile(r'"Steps\.([A-Za-z0-9_-]+)[."]')


class ParameterError(ValueError):
    """A --param override names an undeclared parameter or has a value of the wrong type."""


@dataclass
class StepOutcome:
    name: str
    type: str
    status: str  # Succeeded | Failed | Skipped
    seconds: float = 0.0
    detail: str = ""


@dataclass
class ExecutionOutcome:
    execution_id: str
    status: str  # Succeeded | Failed
    steps: list[StepOutcome] = field(default_factory=list)
    failure_step: str | None = None
    failure_reason: str | None = None
    failure_log: Path | None = None
    step_properties: dict[str, dict[str, Any]] = field(default_factory=dict)


def resolve_parameters(declared: list[Mapping[str, Any]], overrides: Mapping[str, str]) -> dict[str, Any]:
    """Defaults of the definition's parameters, overridden (with type checks) by `overrides`."""
    by_name = {p["Name"]: p for p in declared}
    unknown = sorted(set(overrides) - set(by_name))
    if unknown:
        raise ParameterError(f"unknown parameter {unknown[0]!r}; the definition declares: {', '.join(sorted(by_name))}")
    values: dict[str, Any] = {}
    for name, parameter in by_name.items():
        kind = parameter["Type"]
        if name not in overrides:
            values[name] = parameter.get("DefaultValue")
            continue
        raw = overrides[name]
        try:
            value: Any = {"Integer": int, "Float": float, "String": str}[kind](raw)
        except KeyError:
            raise UnsupportedDefinition(f"parameter {name}: type {kind} is not supported locally") from None
        except ValueError:
            raise ParameterError(f"parameter {name}: {raw!r} is not a valid {kind}") from None
        allowed = parameter.get("EnumValues")
        if allowed and value not in allowed:
            raise ParameterError(f"parameter {name}: {raw!r} is not one of {', '.join(allowed)}")
        values[name] = value
    missing = [name for name, value in values.items() if value is None]
    if missing:
        raise ParameterError(f"parameter {missing[0]} has no default: pass --param {missing[0]}=VALUE")
    return values


_SYMBOLS = {
    "GreaterThanOrEqualTo": ">=",
    "LessThanOrEqualTo": "<=",
    "GreaterThan": ">",
    "LessThan": "<",
    "Equals": "==",
}


def _operand(expression: Any, context: EvaluationContext) -> str:
    reference = expression.get("Get", "") if isinstance(expression, dict) else ""
    if reference.startswith("Parameters."):
        return f"{reference.removeprefix('Parameters.')}={context.evaluate(expression)!r}"
    return repr(context.evaluate(expression))


def describe_condition(condition: Mapping[str, Any], context: EvaluationContext) -> str:
    """A condition as a person reads it, e.g. `model_c=-5.0 must be >= 0.0001`."""
    kind = condition.get("Type", "")
    if kind == "Or":
        return f"one of {len(condition['Conditions'])} conditions must hold"
    if kind == "Not":
        return f"not ({describe_condition(condition['Condition'], context)})"
    symbol = _SYMBOLS.get(kind)
    if symbol is None:
        return json.dumps(condition)
    return f"{_operand(condition['LeftValue'], context)} must be {symbol} {_operand(condition['RightValue'], context)}"


def _violations(condition: Mapping[str, Any], context: EvaluationContext) -> list[str]:
    """Why a condition that detects bad values holds: each violated requirement under its Or and Not."""
    kind = condition.get("Type")
    if kind == "Or":
        return [text for c in condition["Conditions"] if context.condition(c) for text in _violations(c, context)]
    if kind == "Not":
        return [describe_condition(condition["Condition"], context)]
    return [f"{describe_condition(condition, context)} does not hold"]


def failed_parameter_checks(definition: Mapping[str, Any], parameters: Mapping[str, Any]) -> list[str]:
    """What the definition's parameter checks reject: its top-level condition steps that read only parameters
    and lead to a Fail step when they hold, each violated requirement described. Empty when every parameter
    is in range."""
    context = EvaluationContext(parameters=parameters, execution={})
    failed = []
    for step in definition.get("Steps", []):
        arguments = step.get("Arguments", {})
        if step["Type"] != "Condition" or "Steps." in json.dumps(arguments.get("Conditions", [])):
            continue
        if not any(s["Type"] == "Fail" for s in arguments.get("IfSteps", [])):
            continue
        for condition in arguments["Conditions"]:
            if context.condition(condition):
                failed += _violations(condition, context)
    return failed


def execution_order(steps: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Steps sorted so that each comes after the steps it depends on or refers to; definition order otherwise."""
    names = [s["Name"] for s in steps]
    depends = {}
    for step in steps:
        referenced = set(_STEP_REFERENCE.findall(json.dumps(step))) | set(step.get("DependsOn", []))
        depends[step["Name"]] = {n for n in referenced if n in names and n != step["Name"]}
    ordered: list[Mapping[str, Any]] = []
    done: set[str] = set()
    while len(ordered) < len(steps):
        ready = [s for s in steps if s["Name"] not in done and depends[s["Name"]] <= done]
        if not ready:
            cycle = sorted(set(names) - done)
            raise UnsupportedDefinition(f"steps {', '.join(cycle)} depend on each other in a cycle")
        ordered.append(ready[0])
        done.add(ready[0]["Name"])
    return ordered


class DefinitionInterpreter:
    """Interprets one pipeline definition JSON, step by step, as one local execution of it: what
    `run_local` drives once it has staged a `LocalRunRequest`'s inputs."""

    def __init__(
        self,
        definition: str,
        job: JobContext,
        parameters: Mapping[str, str],
        standing_emr_release: str,
        report: Callable[[str], None] = print,
    ):
        self.definition = json.loads(definition)
        _check_keys_of_definition(self.definition)
        try:  # what AWS refuses of the whole definition, refused before anything runs
            check_definition(self.definition)
        except ContractError as refused:
            raise UnsupportedDefinition(f"AWS would refuse {refused}") from None
        self.job = job
        self.standing_emr_release = standing_emr_release
        self.report = report
        # Told of each step at its start (status Executing) and end, e.g. by the execution's record.
        self.on_step: Callable[[StepOutcome], None] = lambda _: None
        self.outcome = ExecutionOutcome(job.execution_id, "Succeeded")
        self.property_files: dict[str, list[Mapping[str, Any]]] = {}
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.context = EvaluationContext(
            parameters=resolve_parameters(self.definition.get("Parameters", []), parameters),
            execution={
                "PipelineExecutionId": job.execution_id,
                "PipelineExecutionArn": f"arn:aws:sagemaker:local:000000000000:pipeline/{job.pipeline_name}/execution/{job.execution_id}",
                "PipelineName": job.pipeline_name,
                "PipelineArn": f"arn:aws:sagemaker:local:000000000000:pipeline/{job.pipeline_name}",
                "StartDateTime": now,
                "CurrentDateTime": now,
            },
            step_properties=self.outcome.step_properties,
            load_property_file=self._load_property_file,
        )
        experiment = self.context.evaluate(self.definition.get("PipelineExperimentConfig") or {})
        self.names = ExecutionNames(job.execution_id, job.pipeline_name, experiment)

    @property
    def parameters(self) -> Mapping[str, Any]:
        return self.context.parameters

    def run(self) -> ExecutionOutcome:
        try:
            self._run_steps(self.definition["Steps"])
        except StepFailed as failure:
            self.outcome.status = "Failed"
            self.outcome.failure_step, self.outcome.failure_reason = failure.step, failure.message
            self.outcome.failure_log = failure.log
        return self.outcome

    def _run_steps(self, steps: list[Mapping[str, Any]]) -> None:
        for step in execution_order(steps):
            self._run_step(step)

    def _run_step(self, step: Mapping[str, Any]) -> None:
        name, kind = step["Name"], step["Type"]
        unknown = sorted(set(step) - KNOWN_STEP_KEYS)
        if unknown:
            raise UnsupportedDefinition(f"step {name}: {', '.join(unknown)} cannot be executed locally")
        if kind == "Condition":
            self._run_condition(step)
            return
        self.report(f"▶ {name} ({kind}) ...")
        self.on_step(StepOutcome(name, kind, "Executing"))
        start = time.perf_counter()
        try:
            properties = self._execute(name, kind, step)
        except (ExpressionError, OSError) as error:
            self._record(name, kind, "Failed", start, str(error))
            raise StepFailed(name, str(error)) from error
        except StepFailed as failure:
            self._record(name, kind, "Failed", start, failure.message)
            raise
        self.outcome.step_properties[name] = properties
        if step.get("PropertyFiles"):
            self.property_files[name] = step["PropertyFiles"]
        self._record(name, kind, "Succeeded", start)

    def _execute(self, name: str, kind: str, step: Mapping[str, Any]) -> dict[str, Any]:
        if kind == "Fail":
            message = self.context.evaluate(step["Arguments"].get("ErrorMessage", ""))
            raise StepFailed(name, str(message))
        arguments = self.context.evaluate(step["Arguments"])
        try:  # the requests SageMaker would send for the step, with the values of this execution
            check_step(name, kind, arguments, self.names)
        except ContractError as refused:
            raise StepFailed(name, f"AWS would refuse {refused}") from None
        if kind == "Processing":
            return run_processing(name, arguments, self.job)
        if kind == "Training":
            return run_training(name, arguments, self.job)
        if kind == "EMR":
            return run_emr(name, arguments, self.job, self.standing_emr_release)
        if kind == "RegisterModel":
            return register_model(name, arguments, self.job)
        raise UnsupportedDefinition(f"step {name}: type {kind} is not supported by the local run")

    def _run_condition(self, step: Mapping[str, Any]) -> None:
        name = step["Name"]
        start = time.perf_counter()
        arguments = step["Arguments"]
        failed = [describe_condition(c, self.context) for c in arguments["Conditions"] if not self.context.condition(c)]
        outcome = not failed
        self.outcome.step_properties[name] = {"Outcome": outcome}
        detail = "outcome true" if outcome else "outcome false: " + "; ".join(failed)
        self._record(name, "Condition", "Succeeded", start, detail)
        chosen, skipped = ("IfSteps", "ElseSteps") if outcome else ("ElseSteps", "IfSteps")
        for skipped_step in arguments.get(skipped, []):
            self.outcome.steps.append(
                StepOutcome(
                    skipped_step["Name"], skipped_step["Type"], "Skipped", 0.0, f"{name} chose the other branch"
                )
            )
        self._run_steps(arguments.get(chosen, []))

    def _record(self, name: str, kind: str, status: str, start: float, detail: str = "") -> None:
        seconds = time.perf_counter() - start
        self.outcome.steps.append(StepOutcome(name, kind, status, seconds, detail))
        self.on_step(self.outcome.steps[-1])
        mark = {"Succeeded": "✔", "Failed": "✘"}.get(status, "·")
        self.report(f"{mark} {name} ({kind}) {status.lower()} in {seconds:.1f}s" + (f": {detail}" if detail else ""))

    def _load_property_file(self, step_name: str, property_file: str) -> Any:
        return load_property_file(
            step_name, property_file, self.property_files.get(step_name, []), self.outcome.step_properties, self.job.s3
        )


def load_property_file(
    step_name: str,
    property_file: str,
    declared_files: list[Mapping[str, Any]],
    step_properties: Mapping[str, Any],
    s3: LocalS3,
) -> Any:
    """The parsed JSON of a step's property file (one of its declared `PropertyFiles`), read from where
    the step uploaded the output it names (`step_properties`: the properties of the steps that ran)."""
    for declared in declared_files:
        if declared["PropertyFileName"] == property_file and step_name in step_properties:
            outputs = step_properties[step_name]["ProcessingOutputConfig"]["Outputs"]
            uri = outputs[declared["OutputName"]]["S3Output"]["S3Uri"].rstrip("/") + "/" + declared["FilePath"]
            path = s3.path(uri)
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise ExpressionError(f"property file {property_file} of step {step_name} ({uri}): {error}") from error
    raise ExpressionError(f"step {step_name} has no property file {property_file!r} (or has not run)")


def _check_keys_of_definition(definition: Mapping[str, Any]) -> None:
    # PipelineExperimentConfig only names the experiment and trial SageMaker records runs under (null: none).
    unknown = sorted(set(definition) - {"Version", "Metadata", "Parameters", "PipelineExperimentConfig", "Steps"})
    if unknown:
        raise UnsupportedDefinition(f"the definition has {', '.join(unknown)}, which the local run cannot execute")
