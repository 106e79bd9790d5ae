"""AWS's `pattern` constraints, read as the services read them: Java regular expressions, whole-value matches.

The patterns in botocore's service models are the services' own, and the services are Java: a value is
checked with `java.util.regex.Pattern.matches`, which must match the WHOLE value (not a part of it).
That is why an unanchored pattern such as CustomerMetadataValue's `([\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@]*)`
refuses `a,b`, although it matches the empty prefix of any text. IAM, for one, answered the unanchored
tag-value pattern `[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*` and the value `wd-audio-platform-dev,wd-talksport-dev`
with "failed to satisfy constraint: Member must satisfy regular expression pattern"
(https://github.com/hashicorp/terraform/issues/23489).

Python's `re` cannot read `\\p{L}`; the `regex` package can. What still differs from Java, and how each
difference is translated here (the translation leaves everything else as written):

- `\\w \\d \\s \\b` and their negations are ASCII-only in Java (without UNICODE_CHARACTER_CLASS) and
  Unicode-aware in Python. `\\w \\W \\d \\D \\s \\S` become explicit ASCII sets, inside and outside
  brackets. (`regex.ASCII` cannot be used instead: it also narrows `\\p{L}` to ASCII.) `\\b` is left as
  it is: no pattern of the services we validate uses it on non-ASCII text.
- Java's POSIX classes `\\p{Alnum}`, `\\p{Alpha}`, `\\p{Digit}`, ... are US-ASCII; `regex` reads the
  same names as Unicode properties. They become their ASCII sets.
- `.` in Java matches anything but a line terminator (`\\n \\r \\u0085 \\u2028 \\u2029`); in Python
  anything but `\\n`. Outside brackets it becomes the Java set.
- Java strings are UTF-16: `\\uD800\\uDC00-\\uDBFF\\uDFFF` (a surrogate pair, a dash, a pair) is the
  range U+10000..U+10FFFF. Python sees lone surrogates and a reversed range. A pair of `\\u` escapes
  that forms a surrogate pair becomes one `\\U` escape.
- Unicode versions: Java's and the `regex` package's Unicode tables can differ for the newest code
  points. Nothing here corrects for that.
"""

from __future__ import annotations

import functools

import regex

# Java's predefined classes (java.util.regex.Pattern, without UNICODE_CHARACTER_CLASS), as set contents.
_WORD = "A-Za-z0-9_"
_DIGIT = "0-9"
_SPACE = "\\t\\n\\x0B\\f\\r "
_NOT_WORD = "\\x00-\\x2F\\x3A-\\x40\\x5B-\\x5E\\x60\\x7B-\\U0010FFFF"
_NOT_DIGIT = "\\x00-\\x2F\\x3A-\\U0010FFFF"
_NOT_SPACE = "\\x00-\\x08\\x0E-\\x1F\\x21-\\U0010FFFF"
_CLASSES = {"w": _WORD, "d": _DIGIT, "s": _SPACE, "W": _NOT_WORD, "D": _NOT_DIGIT, "S": _NOT_SPACE}
_POSIX = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": "\\x00-\\x7F",
    "Alpha": "A-Za-z",
    "Digit": "0-9",
    "Alnum": "A-Za-z0-9",
    "Punct": "!-/:-@\\[-`{-~",
    "Graph": "!-~",
    "Print": " -~",
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1F\\x7F",
    "XDigit": "0-9a-fA-F",
    "Space": "\\t\\n\\x0B\\f\\r ",
}
_JAVA_DOT = "[^\\n\\r\\u0085\\u2028\\u2029]"


class PatternError(ValueError):
    """A pattern uses Java syntax this translation does not know; it is never silently approximated."""


def _hex4(pattern: str, position: int) -> int | None:
    """The code unit of a `\\uXXXX` escape at `position`, or None."""
    text = pattern[position : position + 6]
    if len(text) == 6 and text.startswith("\\u") and all(c in "0123456789abcdefABCDEF" for c in text[2:]):
        return int(text[2:], 16)
    return None


def translate(pattern: str) -> str:
    """The Java `pattern` as a pattern of the `regex` package with Java's meaning."""
    out: list[str] = []
    in_class = False
    position = 0
    while position < len(pattern):
        char = pattern[position]
        if char == "\\":
            if position + 1 >= len(pattern):
                raise PatternError(f"pattern {pattern!r} ends in a lone backslash")
            following = pattern[position + 1]
            high = _hex4(pattern, position)
            if high is not None:
                low = _hex4(pattern, position + 6)
                if 0xD800 <= high <= 0xDBFF and low is not None and 0xDC00 <= low <= 0xDFFF:
                    code_point = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                    out.append(f"\\U{code_point:08X}")
                    position += 12
                    continue
                out.append(pattern[position : position + 6])
                position += 6
                continue
            if following in _CLASSES:
                contents = _CLASSES[following]
                out.append(contents if in_class else f"[{contents}]")
                position += 2
                continue
            if following == "p" and pattern.startswith("{", position + 2):
                end = pattern.index("}", position)
                name = pattern[position + 3 : end]
                if name in _POSIX:
                    out.append(_POSIX[name] if in_class else f"[{_POSIX[name]}]")
                else:
                    out.append(pattern[position : end + 1])
                position = end + 1
                continue
            if following in "QE":
                raise PatternError(f"pattern {pattern!r}: \\Q...\\E quoting is not translated")
            out.append(pattern[position : position + 2])
            position += 2
            continue
        if in_class:
            if char == "[":
                raise PatternError(f"pattern {pattern!r}: Java's nested character classes are not translated")
            if char == "&" and pattern.startswith("&&", position):
                raise PatternError(f"pattern {pattern!r}: Java's class intersection && is not translated")
            if char == "]" and out[-1] not in ("[", "[^"):
                in_class = False
            out.append(char)
            position += 1
            continue
        if char == "[":
            in_class = True
            if pattern.startswith("[^", position):
                out.append("[^")
                position += 2
                continue
        if char == ".":
            out.append(_JAVA_DOT)
            position += 1
            continue
        out.append(char)
        position += 1
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def compiled(pattern: str) -> regex.Pattern:
    """The translated pattern, compiled once."""
    return regex.compile(translate(pattern), regex.VERSION0)


def matches(pattern: str, value: str) -> bool:
    """Whether `value` satisfies `pattern` as an AWS service checks it: the whole value must match."""
    return compiled(pattern).fullmatch(value) is not None
