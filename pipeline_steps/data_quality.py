"""Data-quality checks of the ETL's accepted titles: shares computed in Spark, each with a maximum.

Rows that pass every per-row check can still be bad data as a whole: junk titles ("Xqzvk Plmtr")
or labels that contradict each other. Two shares measure that; the ETL fails when one is over its
maximum, naming the check, the share, the maximum and a few rows with their file and row.

- **titles_without_known_word**: accepted titles none of whose words is known, over all accepted
  titles. A word is a token of the normalized title with a letter in it, its plural `s` folded
  (`nurses` -> `nurse`); it is *known* when at least two documents of the accepted data have it,
  a document being an accepted title or an accepted occupation's description. So a title's word
  is known when another title or a description has it too: random junk almost never is, and real
  O*NET titles almost always are (1.5% of 28.1's and 27.0's titles are not, such as "Congressman").
- **titles_in_several_major_groups**: distinct normalized titles accepted under more than one major
  group, over all distinct normalized titles: labels the model cannot all get right, and many of
  them mean mixed-up codes. O*NET has some ("Case Manager" is in 11, 21, 29 and 43): 5.8% of the
  titles of 28.1 and of 27.0.

The defaults leave real O*NET well inside and fail 10% of random junk added to it (10.4% without a
known word) or to the fixtures (14.5%); docs/pipeline.md has the measurements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

TITLES_WITHOUT_KNOWN_WORD = "titles_without_known_word"
TITLES_IN_SEVERAL_MAJOR_GROUPS = "titles_in_several_major_groups"
DEFAULT_MAX_SHARES = {TITLES_WITHOUT_KNOWN_WORD: 0.08, TITLES_IN_SEVERAL_MAJOR_GROUPS: 0.10}
# A word is known when this many documents (accepted titles, occupation descriptions) have it.
MIN_DOCUMENTS_PER_KNOWN_WORD = 2
EXAMPLES = 5
MESSAGE_TITLE_CHARS = 60
SHARE_DIGITS = 6

_ROW = ("source_file", "source_row")
# A plural `s` after at least three characters, not `ss`: "nurses" -> "nurse", "boss" and "bus" stay.
_PLURAL = r"^(.{2,}[^s])s$"


@dataclass(frozen=True)
class Check:
    """One measured share against its maximum, with a few of the rows it counts."""

    name: str
    count: int
    of: int
    max_share: float
    examples: tuple[dict[str, Any], ...]

    @property
    def share(self) -> float:
        return self.count / self.of if self.of else 0.0

    @property
    def failed(self) -> bool:
        return self.share > self.max_share

    def as_report(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "of": self.of,
            "share": round(self.share, SHARE_DIGITS),
            "max_share": self.max_share,
            "examples": list(self.examples),
        }

    def failure_message(self) -> str:
        rows = ", ".join(
            f"{example['source_file']} row {example['source_row']} {_shortened(example['title'])!r} (major group "
            f"{example['major_group']})"
            for example in self.examples
        )
        return (
            f"data quality check {self.name} failed: {self.count} of {self.of} ({self.share:.1%}) over the "
            f"maximum share {self.max_share:.1%}; e.g. {rows}"
        )


def check_quality(accepted: DataFrame, max_shares: dict[str, float]) -> list[Check]:
    """Both checks over the accepted rows of validate() (titles, and occupations with descriptions)."""
    return [
        titles_without_known_word(accepted, max_shares[TITLES_WITHOUT_KNOWN_WORD]),
        titles_in_several_major_groups(accepted, max_shares[TITLES_IN_SEVERAL_MAJOR_GROUPS]),
    ]


def titles_without_known_word(accepted: DataFrame, max_share: float) -> Check:
    # One row per (document, word): a title's own words and each accepted occupation's description.
    no_text = F.lit(None).cast("string")
    titles = accepted.select(F.lit(True).alias("is_title"), *_ROW, "title", "major_group", _words("title_normalized"))
    descriptions = accepted.filter(F.col("description_normalized").isNotNull()).select(
        F.lit(False).alias("is_title"),
        *_ROW,
        no_text.alias("title"),
        no_text.alias("major_group"),
        _words("description_normalized"),
    )
    documents = titles.unionByName(descriptions).select("*", F.explode("words").alias("word")).drop("words")
    documents_with_word = F.count("*").over(Window.partitionBy("word"))
    # Every accepted title has a word with a letter (title_problem), so each is one row here.
    per_title = (
        documents.withColumn("documents", documents_with_word)
        .filter(F.col("is_title"))
        .groupBy(*_ROW, "title", "major_group")
        .agg(F.max("documents").alias("documents"))
    )
    without = F.col("documents") < MIN_DOCUMENTS_PER_KNOWN_WORD
    totals = per_title.agg(F.count("*").alias("of"), F.count(F.when(without, 1)).alias("count"), _first_rows(without))
    return _check(TITLES_WITHOUT_KNOWN_WORD, totals, max_share)


def titles_in_several_major_groups(accepted: DataFrame, max_share: float) -> Check:
    by_title = Window.partitionBy("title_normalized")
    rows = accepted.select(
        "title_normalized",
        *_ROW,
        "title",
        "major_group",
        F.size(F.collect_set("major_group").over(by_title)).alias("groups"),
        (F.row_number().over(by_title.orderBy(*_ROW)) == 1).alias("first_of_title"),
    )
    several = F.col("groups") > 1
    totals = rows.agg(
        F.count(F.when(F.col("first_of_title"), 1)).alias("of"),
        F.count(F.when(F.col("first_of_title") & several, 1)).alias("count"),
        _first_rows(several, "title_normalized", "major_group"),
    )
    return _check(TITLES_IN_SEVERAL_MAJOR_GROUPS, totals, max_share)


def report_section(checks: Sequence[Check]) -> dict[str, Any]:
    return {check.name: check.as_report() for check in checks}


def _shortened(title: str) -> str:
    return title if len(title) <= MESSAGE_TITLE_CHARS else title[: MESSAGE_TITLE_CHARS - 3] + "..."


def _words(text_column: str) -> Column:
    """The distinct words of a normalized text: tokens with a letter, plural `s` folded."""
    tokens = F.split(F.col(text_column), " ")
    words = F.transform(
        F.filter(tokens, lambda token: token.rlike("[a-z]")), lambda w: F.regexp_replace(w, _PLURAL, "$1")
    )
    return F.array_distinct(words).alias("words")


def _first_rows(counted: Column, *order: str) -> Column:
    """The first EXAMPLES rows that `counted`, ordered by `order` then file and row, as an aggregate:
    the driver receives these few, never the rows themselves."""
    row = F.struct(*order, *_ROW, "title", "major_group")
    return F.slice(F.array_sort(F.collect_list(F.when(counted, row))), 1, EXAMPLES).alias("examples")


def _check(name: str, totals: DataFrame, max_share: float) -> Check:
    """The Check of a one-row aggregate with `count`, `of` and `examples` (one Spark job)."""
    result = totals.first()
    examples = tuple({key: row[key] for key in (*_ROW, "title", "major_group")} for row in result["examples"])
    return Check(name, result["count"], result["of"], max_share, examples)
