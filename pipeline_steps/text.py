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
# Letters, but none the model can read: O*NET's titles are English, and normalization keeps only the
# letters of the Latin alphabets of Europe (Latin-1 and Latin Extended-A, written in ASCII), so a title
# wholly in Chinese, Cyrillic, Arabic... or in African and phonetic Latin letters has no word left.
UNSUPPORTED_SCRIPT = "unsupported_script"
# Every reason title_problem gives, in the order it checks them; the steps' reports list each one.
TITLE_REASONS = (EMPTY_TITLE, TITLE_TOO_LONG, UNDECODABLE_TITLE, NO_LETTERS, UNSUPPORTED_SCRIPT)

_NOT_WORD = re.compile(r"[^a-z0-9+#]+")

# Abbreviations and acronyms that stand for one job-title phrase, expanded word by word after
# lowercasing ("Sr. Mgr" -> "senior manager", "RN" -> "registered nurse"). Training and prediction
# both normalize with this function, so a title reads the same whichever form it is written in.
# Only unambiguous forms: "it", "pa", "pt" and "admin" mean different things in different titles.
ABBREVIATIONS = {
    "acct": "accounting",
    "asst": "assistant",
    "assoc": "associate",
    "ceo": "chief executive officer",
    "cfo": "chief financial officer",
    "cio": "chief information officer",
    "cna": "certified nursing assistant",
    "coo": "chief operating officer",
    "coord": "coordinator",
    "cpa": "certified public accountant",
    "cto": "chief technology officer",
    "dept": "department",
    "dir": "director",
    "emt": "emergency medical technician",
    "eng": "engineer",
    "engr": "engineer",
    "evp": "executive vice president",
    "hr": "human resources",
    "instr": "instructor",
    "jr": "junior",
    "lpn": "licensed practical nurse",
    "lvn": "licensed vocational nurse",
    "maint": "maintenance",
    "med": "medical",
    "mfg": "manufacturing",
    "mgmt": "management",
    "mgr": "manager",
    "mktg": "marketing",
    "ops": "operations",
    "qa": "quality assurance",
    "rep": "representative",
    "rn": "registered nurse",
    "sr": "senior",
    "supt": "superintendent",
    "supv": "supervisor",
    "supvr": "supervisor",
    "svc": "service",
    "svp": "senior vice president",
    "tchr": "teacher",
    "tech": "technician",
    "techs": "technicians",
    "vp": "vice president",
}
# Latin letters that NFKD does not split into a base letter and an accent (after casefold), written as
# English text writes them: "Søren" reads "soren", "Encyclopædia" "encyclopaedia", "Łódź" "lodz".
_LATIN_WITHOUT_DECOMPOSITION = str.maketrans(
    {
        "ø": "o",
        "æ": "ae",
        "œ": "oe",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
        "ħ": "h",
        "ŧ": "t",
        "ŋ": "ng",
        "ĸ": "k",
    }
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def title_problem(title: Optional[str]) -> Optional[str]:
    """Why `title` cannot be classified, or None when it can."""
    return checked_title(title)[0]


def checked_title(title: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """(why `title` cannot be classified, None) or (None, its normalized form): one normalization."""
    if title is None or not title.strip():
        return EMPTY_TITLE, None
    if len(title) > MAX_TITLE_CHARS:
        return TITLE_TOO_LONG, None
    # U+FFFD is what a wrong-encoding read leaves behind; control characters mean binary garbage.
    if "\ufffd" in title or _CONTROL.search(title):
        return UNDECODABLE_TITLE, None
    normalized = normalize_title(title)
    if not normalized.strip("+# 0123456789"):
        return (UNSUPPORTED_SCRIPT if any(c.isalpha() for c in title) else NO_LETTERS), None
    return None, normalized


def normalize_title(title: str) -> str:
    """Lowercase ASCII words separated by single spaces; `&` becomes `and`, accents are dropped,
    and the abbreviations of ABBREVIATIONS are written out.

    `+` and `#` survive so that "C++ Developer" and "C# Developer" stay apart.
    """
    # NFKD leaves ASCII as it is: most titles skip the character scan.
    folded = title.casefold() if title.isascii() else _folded_latin_letters(title)
    lowered = folded.replace("&", " and ")
    return " ".join([ABBREVIATIONS.get(word, word) for word in _NOT_WORD.sub(" ", lowered).split()])


def _folded_latin_letters(title: str) -> str:
    """`title` casefolded, with accents dropped, the Latin letters that have no accent to drop written
    in ASCII, and invisible format characters removed.

    Text copied from web pages carries soft hyphens, zero-width spaces and direction marks inside
    words (a soft hyphen in "Engineer"): they are removed, not read as word breaks.
    """
    decomposed = unicodedata.normalize("NFKD", title)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c) and unicodedata.category(c) != "Cf")
    return kept.casefold().translate(_LATIN_WITHOUT_DECOMPOSITION)
