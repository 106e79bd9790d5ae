"""Job-title validation and normalization: one function used by the ETL, training and prediction alike."""

from __future__ import annotations

import re
import unicodedata
from typing import Optional

MAX_TITLE_CHARS = 200

# Rejection reasons for titles.
EMPTY_TITLE = "empty_title"
TITLE_TOO_LONG = "title_too_long"
UNDECODABLE_TITLE = "undecodable_title"
NO_LETTERS = "title_without_letters"

_NOT_WORD = re.compile(r"[^a-z0-9+#]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def title_problem(title: Optional[str]) -> Optional[str]:
    """Why `title` cannot be classified, or None when it can."""
    if title is None or not title.strip():
        return EMPTY_TITLE
    if len(title) > MAX_TITLE_CHARS:
        return TITLE_TOO_LONG
    # U+FFFD is what a wrong-encoding read leaves behind; control characters mean binary garbage.
    if "\ufffd" in title or _CONTROL.search(title):
        return UNDECODABLE_TITLE
    if not normalize_title(title).strip("+# 0123456789"):
        return NO_LETTERS
    return None


def normalize_title(title: str) -> str:
    """Lowercase ASCII words separated by single spaces; `&` becomes `and`, accents are dropped.

    `+` and `#` survive so that "C++ Developer" and "C# Developer" stay apart.
    """
    decomposed = unicodedata.normalize("NFKD", title)
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    lowered = ascii_only.casefold().replace("&", " and ")
    return " ".join(_NOT_WORD.sub(" ", lowered).split())
