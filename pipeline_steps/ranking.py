"""What JobClf answers for a title: its top-k major groups with probabilities.

One ranking (`ranked`), presented two ways: as records (the endpoint's JSON, `classify`) and as
columns (the CSVs batch prediction writes millions of rows of, `top_k_columns`). A group with
probability 0 is not ranked: a title O*NET lists under one major group has a top3 of one.

A record: {"title", "major_group", "major_group_title", "confidence", "top3": [{"major_group",
"major_group_title", "probability"}, ...], "rejection_reason", "answered_by"}; a title that
`title_problem` rejects has null prediction fields, an empty top3, its rejection_reason and a null
answered_by; any other says which path of the model answered it (known_titles.ANSWERED_BY).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple, Optional

import numpy as np

from pipeline_steps.soc import MAJOR_GROUPS
from pipeline_steps.text import checked_title

TOP_K = 3
PROBABILITY_DIGITS = 6
RECORD_FIELDS = ("title", "major_group", "major_group_title", "confidence", "top3", "rejection_reason", "answered_by")


class Ranked(NamedTuple):
    """The k best major groups of each distinct row of a probability matrix."""

    codes: list[str]  # the classes in code order
    best: list[list[int]]  # per distinct row: the k best with a probability above 0, as indices into codes
    probabilities: list[list[float]]  # per distinct row: their probabilities, rounded to PROBABILITY_DIGITS
    rows: list[int]  # per row of the matrix: its distinct row


def ranked(probabilities: np.ndarray, classes: Sequence[str], k: int = TOP_K) -> Ranked:
    """The k most probable major groups of every row (those above 0, and always the first), most
    probable first, ties lower code first."""
    by_code = sorted(range(len(classes)), key=lambda i: str(classes[i]))
    codes = [str(classes[i]) for i in by_code]
    if probabilities.shape[0] == 0:
        return Ranked(codes, [], [], [])
    # Rows repeat (every known title of one major group has the same row): each distinct one is ranked
    # once. A dict of the rows' bytes finds them in a tenth of np.unique's time (it sorts the rows).
    ordered = np.ascontiguousarray(probabilities[:, by_code])
    first_of: dict[bytes, int] = {}
    rows = [first_of.setdefault(row.tobytes(), len(first_of)) for row in ordered]
    distinct = ordered[np.unique(rows, return_index=True)[1]]
    # A stable sort of -p over the classes in ascending code order puts ties lower code first.
    best = np.argsort(-distinct, axis=1, kind="stable")[:, :k]
    values = np.take_along_axis(distinct, best, axis=1)
    best_rows, value_rows = best.tolist(), values.tolist()
    kept = np.count_nonzero(values[:, 1:] > 0, axis=1) + 1  # zeros sort last; the first group always stays
    for row in np.flatnonzero(kept < values.shape[1]).tolist():
        best_rows[row], value_rows[row] = best_rows[row][: kept[row]], value_rows[row][: kept[row]]
    rounded = [[round(p, PROBABILITY_DIGITS) for p in row] for row in value_rows]
    return Ranked(codes, best_rows, rounded, rows)


def top_k_records(probabilities: np.ndarray, classes: Sequence[str], k: int = TOP_K) -> list[list[dict[str, Any]]]:
    """The ranking of every row as top3 lists of {"major_group", "major_group_title", "probability"}."""
    rank = ranked(probabilities, classes, k)
    titles = [MAJOR_GROUPS.get(code, "") for code in rank.codes]
    return [
        [
            {"major_group": rank.codes[j], "major_group_title": titles[j], "probability": p}
            for j, p in zip(rank.best[row], rank.probabilities[row])
        ]
        for row in rank.rows
    ]


def top_k_columns(probabilities: np.ndarray, classes: Sequence[str], k: int = TOP_K) -> tuple[list, list, list, list]:
    """The ranking of every row as CSV columns: (best major group, its title, its probability, the
    top k as the JSON text json.dumps writes for top_k_records' list). Batch prediction writes
    millions of rows; this skips building a dict per group and serializing it, and builds each
    distinct row's text once."""
    rank = ranked(probabilities, classes, k)
    titles = [MAJOR_GROUPS.get(code, "") for code in rank.codes]
    opening = [
        f'{{"major_group": {json.dumps(code)}, "major_group_title": {json.dumps(title, ensure_ascii=False)}, '
        '"probability": '
        for code, title in zip(rank.codes, titles)
    ]
    top_json = [
        "[" + ", ".join(opening[j] + repr(p) + "}" for j, p in zip(row, row_values)) + "]"
        for row, row_values in zip(rank.best, rank.probabilities)
    ]
    groups = [rank.codes[row[0]] for row in rank.best]
    group_titles = [titles[row[0]] for row in rank.best]
    confidences = [row[0] for row in rank.probabilities]
    return (
        [groups[row] for row in rank.rows],
        [group_titles[row] for row in rank.rows],
        [confidences[row] for row in rank.rows],
        [top_json[row] for row in rank.rows],
    )


def rejected_record(title: Optional[str], reason: str) -> dict[str, Any]:
    return {
        "title": title,
        "major_group": None,
        "major_group_title": None,
        "confidence": None,
        "top3": [],
        "rejection_reason": reason,
        "answered_by": None,
    }


def classify(
    model,
    titles: Sequence[Optional[str]],
    problems: Optional[Sequence[Optional[str]]] = None,
    batch_size: int = 20000,
) -> list[dict[str, Any]]:
    """One record per title, in order: a prediction, or a rejection for titles title_problem refuses and
    for those whose `problems` entry names one (a CSV record of the wrong shape).
    `model` is a known_titles.KnownTitleClassifier (model.load_model's, the endpoint's model_fn's)."""
    records: list[Optional[dict[str, Any]]] = [None] * len(titles)
    valid_positions: list[int] = []
    valid_normalized: list[str] = []
    for position, title in enumerate(titles):
        problem, normalized = checked_title(title)
        problem = (problems[position] if problems else None) or problem
        if problem:
            records[position] = rejected_record(title, problem)
        else:
            valid_positions.append(position)
            valid_normalized.append(normalized)
    classes = [str(c) for c in model.classes_]
    for start in range(0, len(valid_normalized), batch_size):
        probabilities, answered_by = model.predict_proba_and_paths(valid_normalized[start : start + batch_size])
        for offset, best in enumerate(top_k_records(probabilities, classes)):
            position = valid_positions[start + offset]
            records[position] = {
                "title": titles[position],
                "major_group": best[0]["major_group"],
                "major_group_title": best[0]["major_group_title"],
                "confidence": best[0]["probability"],
                "top3": best,
                "rejection_reason": None,
                "answered_by": answered_by[offset],
            }
    return records  # type: ignore[return-value]
