"""The predictions' CSV cells: every cell JobClf writes to a CSV, safe to open in a spreadsheet.

Batch prediction (predict.py) and the endpoint's text/csv answers (inference.py) write through
write_csv. The rule and its inverse are in docs/pipeline.md ("The predictions CSV").
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline_steps import csv_dialect

# What makes a spreadsheet run a cell as a formula (OWASP "CSV Injection") when it comes first, after
# any spaces; and "'" itself, so that a cell starting with "'" always means "protected" and the rule
# can be undone exactly.
_FORMULA_STARTS = ("=", "+", "-", "@", "'")
# Characters that act instead of showing: control characters (C0, DEL, C1: ESC and CSI sequences,
# tabs, line breaks) act on terminals and split rows; format characters (direction overrides, zero-width
# spaces, soft hyphens) reorder or hide text, so a cell would read other than it is ("Trojan Source");
# line and paragraph separators break lines; lone surrogates cannot be written as UTF-8.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def spreadsheet_cell(text: str) -> str:
    """`text` as a CSV cell that no spreadsheet runs, no terminal obeys and no viewer shows other than
    it is, recoverable exactly.

    A cell that starts (after spaces) with = + - @ or ', or holds a hidden character
    (_HIDDEN_CATEGORIES) or ";", is written as "'" followed by `text` with each backslash doubled and
    each hidden character and ";" as \\xHH, \\uHHHH or \\UHHHHHHHH; a plain number such as -12 is
    left as it is. The rule and its inverse are in docs/pipeline.md ("The predictions CSV").
    """
    if not _needs_protection(text) or _PLAIN_NUMBER.fullmatch(text):
        return text
    return "'" + "".join(_escaped(character) for character in text)


def _needs_protection(text: str) -> bool:
    if text.lstrip().startswith(_FORMULA_STARTS) or ";" in text:
        return True
    # isprintable() is a fast scan in C; only a text with some unprintable character is scanned again
    # (batch prediction passes millions of cells, top3's JSON among them, through here).
    return not text.isprintable() and any(_hidden(character) for character in text)


def _hidden(character: str) -> bool:
    return unicodedata.category(character) in _HIDDEN_CATEGORIES


def _escaped(character: str) -> str:
    if character == "\\":
        return "\\\\"
    if character != ";" and not _hidden(character):
        return character
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def csv_column(field: str, values: Sequence[Any]) -> list:
    """One column's CSV cells: empty for nulls, top3 lists as JSON text, booleans as true/false, and
    every text through spreadsheet_cell.

    Every cell JobClf writes to a CSV passes through here, column by column (batch prediction
    writes millions of rows; a column at a time keeps that cheap)."""
    if field == "top3":
        cells = [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) if v else "" for v in values]
    elif any(isinstance(v, bool) for v in values):
        cells = ["" if v is None else ("true" if v else "false") if isinstance(v, bool) else v for v in values]
    else:
        cells = ["" if v is None else v for v in values]
    return [spreadsheet_cell(cell) if isinstance(cell, str) else cell for cell in cells]


def write_csv(handle, columns: Mapping[str, Sequence[Any]], fields: Sequence[str], header: bool = True) -> None:
    """Write `fields` of equally long `columns` as CSV rows (cells by csv_column, in csv_dialect's RFC 4180
    dialect) to an open text handle, with the header line unless `header` is False. Every CSV that
    JobClf writes goes through here."""
    writer = csv_dialect.writer(handle)
    if header:
        writer.writerow(fields)
    writer.writerows(zip(*(csv_column(field, columns[field]) for field in fields)))
