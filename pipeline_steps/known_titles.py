"""Known titles: a title the training data lists is answered from that data's own evidence; only the
others go to the statistical model.

The evidence for a normalized title is, per major group, the summed weight of the training rows that
list it (train.evidence_weight: the number of O*NET sources of an alternate title, an occupation's own
title weighing occupation_title_weight). Its probabilities are those weights over their sum:
"Forklift Operator", listed under 47 twice from one source each and under 53 from five, is 53 with
5/7 and 47 with 2/7. An unambiguous title is its group with probability 1.

`KnownTitleClassifier` puts the table and the fitted scikit-learn pipeline behind one contract:
`classes_`, `predict_proba(normalized titles)` (one probability row per title, whichever path
answered it), and `predict_proba_and_paths`, which also says, per title, which path answered
(`answered_by`: KNOWN_TITLE or MODEL).

How it travels: the pipeline stays in MODEL_FILE as a plain scikit-learn pickle, and the table is a
JSON file beside it (`table_file`), read by this module, which the archive ships with the serving code
(train.SERVING_MODULES). So the pickle still unpickles without our code, the table is data that any
version of this module can read (FORMAT), and a model archive from before the table answers every
title by the model.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

KNOWN_TITLE = "known_title"
MODEL = "model"
ANSWERED_BY = (KNOWN_TITLE, MODEL)
FORMAT = "jobclf-known-titles/1"
MODEL_FILE = "model.joblib"


def companion_file(model_file: str, kind: str) -> str:
    """A JSON file that travels beside a model file: (model.joblib, "known_titles") -> model.known_titles.json."""
    stem = model_file[: -len(".joblib")] if model_file.endswith(".joblib") else model_file
    return f"{stem}.{kind}.json"


def check_format(document: Any, format_name: str, where: str) -> None:
    """ValueError naming `where` unless `document` is a JSON object of `format_name` (its "format" key)."""
    if not isinstance(document, dict) or document.get("format") != format_name:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise ValueError(f"{where}: format {found!r}, expected {format_name!r}; retrain the model")


def read_companion(path, format_name: str, what: str) -> dict:
    """The document of a companion file (companion_file) of `format_name`; ValueError naming the file and
    `what` it should be when it is not one."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except ValueError as error:
        raise ValueError(f"{path}: not a {what} ({error})") from error
    check_format(document, format_name, str(path))
    return document


def table_file(model_file: str = MODEL_FILE) -> str:
    """The known-titles table that goes with a model file: model.joblib -> model.known_titles.json."""
    return companion_file(model_file, "known_titles")


class KnownTitles:
    """{normalized title: {major group: evidence weight}}."""

    def __init__(self, evidence: Mapping[str, Mapping[str, float]]):
        self.evidence = {title: dict(groups) for title, groups in evidence.items()}

    @classmethod
    def from_rows(cls, titles: Iterable[str], groups: Iterable[str], weights: Iterable[float]) -> KnownTitles:
        evidence: dict[str, dict[str, float]] = {}
        for title, group, weight in zip(titles, groups, weights):
            if weight <= 0:
                raise ValueError(f"evidence weight of {title!r} under {group} is {weight}; it must be above 0")
            listed = evidence.setdefault(title, {})
            listed[group] = listed.get(group, 0.0) + float(weight)
        return cls(evidence)

    def __len__(self) -> int:
        return len(self.evidence)

    def __contains__(self, title: object) -> bool:
        return title in self.evidence

    def best_attested(self, title: str) -> set[str]:
        """The major groups with the most evidence for a known title (several on a tie)."""
        groups = self.evidence[title]
        top = max(groups.values())
        return {group for group, weight in groups.items() if weight == top}

    def ambiguous(self, title: str) -> bool:
        return len(self.evidence[title]) > 1

    def document(self) -> dict[str, Any]:
        return {"format": FORMAT, "titles": {title: self.evidence[title] for title in sorted(self.evidence)}}

    def write(self, path) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.document(), handle, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def read(cls, path) -> KnownTitles:
        """The table in `path`; ValueError naming the file when it is not a known-titles table."""
        titles = read_companion(path, FORMAT, "known-titles table").get("titles")
        if not isinstance(titles, dict) or not all(
            isinstance(groups, dict) and groups and all(isinstance(w, (int, float)) and w > 0 for w in groups.values())
            for groups in titles.values()
        ):
            raise ValueError(f"{path}: `titles` must map each title to {{major group: weight above 0}}")
        return cls(titles)


class KnownTitleClassifier:
    """A known title answered from its evidence, any other by the model, behind the model's contract."""

    def __init__(self, model, known: KnownTitles):
        self.model = model
        self.known = known
        self.classes_ = model.classes_
        position = {str(group): index for index, group in enumerate(model.classes_)}
        unknown_groups = {g for groups in known.evidence.values() for g in groups} - set(position)
        if unknown_groups:
            raise ValueError(f"known titles name major groups {sorted(unknown_groups)} that the model lacks")
        # Titles share few distinct rows (an unambiguous title is its group's one-hot row): one matrix
        # of the distinct rows, and each title's row number.
        distinct: dict[tuple, int] = {}
        self._row_of: dict[str, int] = {}
        for title, groups in known.evidence.items():
            total = sum(groups.values())
            key = tuple(sorted((position[group], weight / total) for group, weight in groups.items()))
            self._row_of[title] = distinct.setdefault(key, len(distinct))
        self._rows = np.zeros((len(distinct), len(position)))
        for key, row in distinct.items():
            for index, probability in key:
                self._rows[row, index] = probability
        # CPU seconds spent in each path, for the predict step's report.
        self.seconds = dict.fromkeys(ANSWERED_BY, 0.0)

    def predict_proba_and_paths(self, titles: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        """(probabilities with columns in classes_ order, answered_by) of normalized titles."""
        started = time.process_time()
        rows = [self._row_of.get(title) for title in titles]
        probabilities = np.empty((len(rows), len(self.classes_)))
        known = [position for position, row in enumerate(rows) if row is not None]
        unknown = [position for position, row in enumerate(rows) if row is None]
        if known:
            probabilities[known] = self._rows[[rows[position] for position in known]]
        answered_by = [MODEL if row is None else KNOWN_TITLE for row in rows]
        self.seconds[KNOWN_TITLE] += time.process_time() - started
        if unknown:
            started = time.process_time()
            probabilities[unknown] = self.model.predict_proba([titles[position] for position in unknown])
            self.seconds[MODEL] += time.process_time() - started
        return probabilities, answered_by

    def predict_proba(self, titles: Sequence[str]) -> np.ndarray:
        return self.predict_proba_and_paths(titles)[0]


def load(model_dir, model_file: str = MODEL_FILE) -> KnownTitleClassifier:
    """The model file of a model directory with its known-titles table (none: every title to the model)."""
    import joblib

    model = joblib.load(os.path.join(str(model_dir), model_file))
    table = os.path.join(str(model_dir), table_file(model_file))
    known = KnownTitles.read(table) if os.path.isfile(table) else KnownTitles({})
    return KnownTitleClassifier(model, known)
