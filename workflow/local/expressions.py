"""Evaluate the expressions of a SageMaker pipeline definition as SageMaker does.

Supported: literals, `Get` of Parameters / Execution variables / step properties, `Std:Join`,
`Std:JsonGet` on a step's property file, and the condition types the SDK writes. Anything else
is an `UnsupportedDefinition` error naming it: the local run never guesses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class UnsupportedDefinition(Exception):
    """The definition uses something the local run cannot execute faithfully."""


class ExpressionError(Exception):
    """An expression refers to something that does not exist (a parameter, a step, a property)."""


_PATH_PART = re.compile(r"([^.\[\]]+)|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]|\[(\d+)\]")


def split_property_path(path: str) -> list[str | int]:
    """`ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri` -> ['ProcessingOutputConfig', 'Outputs', 'test', ...]."""
    parts: list[str | int] = []
    position = 0
    while position < len(path):
        if path[position] == ".":
            position += 1
            continue
        match = _PATH_PART.match(path, position)
        if not match:
            raise ExpressionError(f"cannot parse property path {path!r} at {path[position:]!r}")
        name, quoted, double_quoted, index = match.groups()
        parts.append(int(index) if index is not None else (name or quoted or double_quoted))
        position = match.end()
    return parts


def lookup(document: Any, parts: list[str | int], what: str) -> Any:
    value = document
    for part in parts:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            raise ExpressionError(f"{what}: no {part!r} in {json.dumps(value)[:200]}") from None
    return value


@dataclass
class EvaluationContext:
    """What expressions can refer to during one execution."""

    parameters: Mapping[str, Any]
    execution: Mapping[str, str]
    step_properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (step name, property file name) -> parsed JSON; loaded on first use by `load_property_file`.
    load_property_file: Callable[[str, str], Any] | None = None

    def get(self, reference: str) -> Any:
        scope, _, rest = reference.partition(".")
        if scope == "Parameters":
            if rest not in self.parameters:
                raise ExpressionError(f"unknown parameter {rest!r}")
            return self.parameters[rest]
        if scope == "Execution":
            if rest not in self.execution:
                raise UnsupportedDefinition(f"execution variable {rest!r} is not available locally")
            return self.execution[rest]
        if scope == "Steps":
            step_name, _, path = rest.partition(".")
            if step_name not in self.step_properties:
                raise ExpressionError(f"step {step_name!r} has not run (referenced as {reference!r})")
            return lookup(self.step_properties[step_name], split_property_path(path), reference)
        raise UnsupportedDefinition(f"reference {reference!r}: unknown scope {scope!r}")

    def evaluate(self, expression: Any) -> Any:
        if isinstance(expression, list):
            return [self.evaluate(item) for item in expression]
        if not isinstance(expression, dict):
            return expression
        if set(expression) == {"Get"}:
            return self.get(expression["Get"])
        if set(expression) == {"Std:Join"}:
            join = expression["Std:Join"]
            return join["On"].join(_as_text(self.evaluate(v)) for v in join["Values"])
        if set(expression) == {"Std:JsonGet"}:
            return self.json_get(expression["Std:JsonGet"])
        if len(expression) == 1 and next(iter(expression)).startswith("Std:"):
            raise UnsupportedDefinition(f"function {next(iter(expression))} is not supported by the local run")
        return {key: self.evaluate(value) for key, value in expression.items()}

    def json_get(self, spec: Mapping[str, Any]) -> Any:
        reference = spec["PropertyFile"].get("Get", "") if isinstance(spec["PropertyFile"], dict) else ""
        match = re.fullmatch(r"Steps\.([^.]+)\.PropertyFiles\.([^.]+)", reference)
        if not match or self.load_property_file is None:
            raise UnsupportedDefinition(f"Std:JsonGet on {spec['PropertyFile']!r} is not supported locally")
        document = self.load_property_file(match.group(1), match.group(2))
        path = self.evaluate(spec["Path"])
        return lookup(document, split_property_path(path), f"JsonGet {reference} {path}")

    def condition(self, condition: Mapping[str, Any]) -> bool:
        kind = condition.get("Type")
        if kind == "Not":
            return not self.condition(condition["Condition"])
        if kind == "Or":
            return any(self.condition(c) for c in condition["Conditions"])
        if kind == "In":
            value = self.evaluate(condition["QueryValue"])
            return any(value == self.evaluate(v) for v in condition["Values"])
        comparisons: dict[str, Callable[[Any, Any], bool]] = {
            "Equals": lambda a, b: a == b,
            "GreaterThan": lambda a, b: a > b,
            "GreaterThanOrEqualTo": lambda a, b: a >= b,
            "LessThan": lambda a, b: a < b,
            "LessThanOrEqualTo": lambda a, b: a <= b,
        }
        if kind not in comparisons:
            raise UnsupportedDefinition(f"condition type {kind!r} is not supported by the local run")
        left, right = self.evaluate(condition["LeftValue"]), self.evaluate(condition["RightValue"])
        return comparisons[kind](*_comparable(left, right))


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _comparable(left: Any, right: Any) -> tuple[Any, Any]:
    """SageMaker compares numbers as numbers even when one side came through JSON as text."""
    if (
        isinstance(left, int | float)
        and isinstance(right, str)
        or isinstance(right, int | float)
        and isinstance(left, str)
    ):
        try:
            return float(left), float(right)
        except ValueError:
            raise ExpressionError(f"cannot compare {left!r} with {right!r}") from None
    return left, right
