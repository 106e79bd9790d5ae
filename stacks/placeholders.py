"""CDK tokens out of the SageMaker SDK's way, and back into the template.

The SDK must never see a CDK token (`${Token[...]}` breaks its URL parsing), so every token goes in
as a unique placeholder (`TokenPlaceholders.sub`) and comes back out of the definition JSON as an
`Fn::Join` of the text around the placeholders and the tokens themselves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_cdk import Fn, Token

PLACEHOLDER_PREFIX = "jobclf-token"
# Shapes for values the SDK inspects: it expands a role "name" without "/" through IAM (a network call).
ROLE_ARN_SHAPE = "arn:aws:iam::000000000000:role/{}"


class PlaceholderError(ValueError):
    """A token reached the SDK, or a placeholder came back altered."""


@dataclass(frozen=True)
class _Placeholder:
    literal: str  # what the SDK sees, e.g. "jobclf-token-0003" or "arn:aws:iam::000000000000:role/jobclf-token-0001"
    token: str  # the CDK token string it stands for
    fake: str  # a readable stand-in for tests and snapshots, e.g. "raw-bucket"
    identity: str  # the token's resolved CloudFormation value, as canonical JSON


class TokenPlaceholders:
    """Swap CDK tokens for unique, lowercase, bucket-name-safe placeholders and back.

    `sub(token, label=...)` returns a placeholder (a plain string passes through unchanged);
    `restore(text)` splits text on the placeholders and returns an `Fn::Join` that puts the tokens
    back; `fake(text)` replaces the placeholders with their readable labels instead. Two token
    strings that resolve to the same CloudFormation value (e.g. the asset bucket of every asset)
    share one placeholder when `resolve` (e.g. `Stack.of(scope).resolve`) is given.
    """

    def __init__(self, prefix: str = PLACEHOLDER_PREFIX, *, resolve: Callable[[str], Any] | None = None) -> None:
        self._prefix = prefix
        self._resolve = resolve or (lambda value: value)
        self._entries: list[_Placeholder] = []

    @property
    def entries(self) -> tuple[_Placeholder, ...]:
        return tuple(self._entries)

    def sub(self, value: str, *, label: str, shape: str = "{}") -> str:
        if not Token.is_unresolved(value):
            return value
        fake = shape.format(label)
        identity = json.dumps(self._resolve(value), sort_keys=True)
        for entry in self._entries:
            if entry.identity == identity and entry.fake == fake:
                return entry.literal
            if entry.fake == fake:
                raise PlaceholderError(f"label {label!r} already stands for another token")
        literal = shape.format(f"{self._prefix}-{len(self._entries) + 1:04d}")
        self._entries.append(_Placeholder(literal=literal, token=value, fake=fake, identity=identity))
        return literal

    def _pattern(self) -> re.Pattern[str]:
        literals = sorted((e.literal for e in self._entries), key=len, reverse=True)
        return re.compile("|".join(re.escape(literal) for literal in literals))

    def _check(self, text: str) -> None:
        if "${Token[" in text:
            raise PlaceholderError("a CDK token reached the SageMaker SDK; pass it through TokenPlaceholders.sub")

    def restore(self, text: str) -> str:
        """`text` with every placeholder replaced by its token (an Fn::Join when there is any)."""
        self._check(text)
        if not self._entries:
            self._check_leftovers(text)
            return text
        by_literal = {e.literal: e.token for e in self._entries}
        parts: list[str] = []
        position = 0
        for match in self._pattern().finditer(text):
            parts.append(text[position : match.start()])
            parts.append(by_literal[match.group(0)])
            position = match.end()
        parts.append(text[position:])
        for part in parts[::2]:
            self._check_leftovers(part)
        return Fn.join("", [part for part in parts if part])

    def fake(self, text: str) -> str:
        """`text` with every placeholder replaced by its readable label (no tokens: plain JSON for tests)."""
        self._check(text)
        if not self._entries:
            return text
        by_literal = {e.literal: e.fake for e in self._entries}
        faked = self._pattern().sub(lambda m: by_literal[m.group(0)], text)
        self._check_leftovers(faked)
        return faked

    def _check_leftovers(self, text: str) -> None:
        if f"{self._prefix}-" in text:
            found = re.search(rf"{re.escape(self._prefix)}-[0-9a-z-]*", text)
            raise PlaceholderError(
                f"placeholder text {found.group(0) if found else self._prefix!r} survived in the definition: "
                "the SDK altered a placeholder, so its token cannot be restored"
            )
