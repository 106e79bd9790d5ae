"""Validate a request against an AWS operation's input shape, with every constraint botocore's service model states.

botocore's own `ParamValidator` checks required members, unknown members, types, `min` of numbers and
lengths, but not `max`, enums or patterns: those the service checks, after the request (or, for a
pipeline step, the whole execution up to that step) has been paid for. This walks the same shapes
from the installed botocore's models and checks all of them: required and unknown members, types,
32- and 64-bit integer ranges, `min`/`max` of numbers, lengths of strings, blobs, lists and maps,
enums, and patterns (as the services read them: `java_regex`). Nothing is copied by hand: every
limit comes from the model.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import botocore.model
import botocore.session

from workflow.contracts.java_regex import matches

# Smithy's integer is 32-bit and long 64-bit (https://smithy.io/2.0/spec/simple-types.html).
_INTEGER_RANGE = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_VALUE_SHOWN = 120  # characters of a value a violation shows


@dataclass(frozen=True)
class Violation:
    """One broken constraint: where (`CreateModelPackage.CustomerMetadataProperties.fitted_on`), which, the value."""

    path: str
    constraint: str
    value: Any

    def __str__(self) -> str:
        shown = json.dumps(self.value, default=str, ensure_ascii=False)
        if len(shown) > _VALUE_SHOWN:
            shown = shown[:_VALUE_SHOWN] + f"... ({len(shown)} characters)"
        return f"{self.path}: {self.constraint} (value {shown})"


class ContractError(ValueError):
    """A request or definition that AWS would refuse; the message is one line per violation."""

    def __init__(self, what: str, violations: Sequence[Violation]):
        self.what = what
        self.violations = list(violations)
        super().__init__(f"{what}: " + "; ".join(map(str, self.violations)))


@functools.cache
def service_model(service: str) -> botocore.model.ServiceModel:
    """The installed botocore's model of `service` (read from botocore's data files; no AWS call)."""
    return botocore.session.get_session().get_service_model(service)


def shape(service: str, name: str) -> botocore.model.Shape:
    return service_model(service).shape_for(name)


def validate_request(service: str, operation: str, params: Mapping[str, Any]) -> list[Violation]:
    """Every violation of `operation`'s input shape by `params` (empty when AWS's model accepts them)."""
    input_shape = service_model(service).operation_model(operation).input_shape
    if input_shape is None:
        return [] if not params else [Violation(operation, "the operation takes no input", dict(params))]
    return validate_value(input_shape, params, operation)


def check_request(service: str, operation: str, params: Mapping[str, Any], what: str = "") -> None:
    """Raise ContractError naming every violation of `operation`'s input shape by `params`."""
    violations = validate_request(service, operation, params)
    if violations:
        raise ContractError(what or f"{service} {operation}", violations)


def validate_value(shape: botocore.model.Shape, value: Any, path: str) -> list[Violation]:
    """Every violation of `shape` by `value`, `path` naming where the value sits."""
    check = _CHECKS.get(shape.type_name)
    if check is None:
        return [Violation(path, f"shape type {shape.type_name!r} is not validated", value)]
    return check(shape, value, path)


def _structure(shape: botocore.model.StructureShape, value: Any, path: str) -> list[Violation]:
    if shape.metadata.get("document"):  # botocore's document type: any JSON value
        return _document(shape, value, path)
    if not isinstance(value, Mapping):
        return [Violation(path, f"must be a structure ({shape.name})", value)]
    found: list[Violation] = []
    members = shape.members
    for name in shape.required_members:
        if name not in value:
            found.append(Violation(f"{path}.{name}", "required member is missing", None))
    for name, member_value in value.items():
        if name not in members:
            found.append(Violation(f"{path}.{name}", f"unknown member of {shape.name}", member_value))
        elif member_value is not None:
            found += validate_value(members[name], member_value, f"{path}.{name}")
        elif name in shape.required_members:
            found.append(Violation(f"{path}.{name}", "required member is null", None))
    if shape.metadata.get("union") and sum(v is not None for v in value.values()) != 1:
        found.append(Violation(path, f"union {shape.name} must set exactly one member", dict(value)))
    return found


def _list(shape: botocore.model.ListShape, value: Any, path: str) -> list[Violation]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        return [Violation(path, f"must be a list ({shape.name})", value)]
    members = [(shape.member, item, f"{path}[{index}]") for index, item in enumerate(value)]
    return _collection(shape, value, path, "items", members)


def _map(shape: botocore.model.MapShape, value: Any, path: str) -> list[Violation]:
    if not isinstance(value, Mapping):
        return [Violation(path, f"must be a map ({shape.name})", value)]
    members = []
    for key, item in value.items():
        members += [(shape.key, key, f"{path} key {key!r}"), (shape.value, item, f"{path}.{key}")]
    return _collection(shape, value, path, "entries", members)


def _collection(shape: botocore.model.Shape, value: Any, path: str, unit: str, members: list) -> list[Violation]:
    found = _length(shape, len(value), value, path, unit)
    for member_shape, item, member_path in members:
        found += validate_value(member_shape, item, member_path)
    return found


def _string(shape: botocore.model.Shape, value: Any, path: str) -> list[Violation]:
    if not isinstance(value, str):
        return [Violation(path, f"must be a string ({shape.name})", value)]
    # Smithy measures a string's length in Unicode scalar values (code points), as len() does.
    found = _length(shape, len(value), value, path, "characters")
    allowed = shape.enum
    if allowed and value not in allowed:
        found.append(Violation(path, f"must be one of {', '.join(allowed)} ({shape.name})", value))
    pattern = shape.metadata.get("pattern")
    if pattern is not None and not matches(pattern, value):
        found.append(Violation(path, f"must match pattern {pattern} ({shape.name})", value))
    return found


def _blob(shape: botocore.model.Shape, value: Any, path: str) -> list[Violation]:
    if hasattr(value, "read"):  # a file object, as botocore takes for a blob: its length is not read here
        return []
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes | bytearray):
        return [Violation(path, f"must be bytes ({shape.name})", value)]
    return _length(shape, len(value), value, path, "bytes")


def _number(shape: botocore.model.Shape, value: Any, path: str) -> list[Violation]:
    integral = shape.type_name in _INTEGER_RANGE
    kinds: tuple[type, ...] = (int,) if integral else (int, float, decimal.Decimal)
    if isinstance(value, bool) or not isinstance(value, kinds):
        return [
            Violation(
                path, f"must be {'an integer' if integral else 'a number'} ({shape.name}: {shape.type_name})", value
            )
        ]
    found = []
    if integral:
        low, high = _INTEGER_RANGE[shape.type_name]
        if not low <= value <= high:
            found.append(Violation(path, f"must fit a {shape.type_name} ({low}..{high})", value))
    minimum, maximum = shape.metadata.get("min"), shape.metadata.get("max")
    if minimum is not None and value < minimum:
        found.append(Violation(path, f"must be >= {minimum} ({shape.name})", value))
    if maximum is not None and value > maximum:
        found.append(Violation(path, f"must be <= {maximum} ({shape.name})", value))
    return found


def _boolean(shape: botocore.model.Shape, value: Any, path: str) -> list[Violation]:
    return [] if isinstance(value, bool) else [Violation(path, f"must be a boolean ({shape.name})", value)]


def _timestamp(shape: botocore.model.Shape, value: Any, path: str) -> list[Violation]:
    if isinstance(value, datetime.datetime | int | float) and not isinstance(value, bool):
        return []
    if isinstance(value, str):
        try:
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return []
        except ValueError:
            pass
    return [Violation(path, f"must be a timestamp ({shape.name})", value)]


def _document(shape: botocore.model.Shape, value: Any, path: str) -> list[Violation]:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return [Violation(path, f"must be a JSON document ({shape.name})", value)]
    return []


def _length(shape: botocore.model.Shape, length: int, value: Any, path: str, unit: str) -> list[Violation]:
    minimum, maximum = shape.metadata.get("min"), shape.metadata.get("max")
    if minimum is not None and length < minimum:
        return [Violation(path, f"length {length} {unit} must be >= {minimum} ({shape.name})", value)]
    if maximum is not None and length > maximum:
        return [Violation(path, f"length {length} {unit} must be <= {maximum} ({shape.name})", value)]
    return []


_CHECKS = {
    "structure": _structure,
    "list": _list,
    "map": _map,
    "string": _string,
    "blob": _blob,
    "integer": _number,
    "long": _number,
    "float": _number,
    "double": _number,
    "boolean": _boolean,
    "timestamp": _timestamp,
    "document": _document,
}
