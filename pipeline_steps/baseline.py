"""The training baseline: the major groups of the titles a model was trained on, stored with the model.

Train writes it beside the served model in the archive (`model.baseline.json`, baseline_file); BatchPredict
reads the one of the model it predicts with and passes it on in its report, so every predict execution's
major groups are compared with the training data of the very model that answered them (drift.py), not
with a fixed reference that the next model would outdate.

The distribution counts the rows the served model was fitted on that are O*NET titles (an occupation's own
title or an alternate title, one row per title and occupation), unweighted: what BatchPredict's inputs
are, job titles. Short titles and occupation descriptions, which are extra training text, are left out.
An archive without the file (a model registered before it) has no baseline: the report says so and
judges no drift.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Optional

from pipeline_steps.known_titles import MODEL_FILE, check_format, companion_file, read_companion

FORMAT = "jobclf-training-baseline/1"
SOURCE = "the served model's O*NET title rows, one per title and occupation, by major group"


def baseline_file(model_file: str = MODEL_FILE) -> str:
    """model.joblib -> model.baseline.json."""
    return companion_file(model_file, "baseline")


@dataclass(frozen=True)
class TrainingBaseline:
    """Rows per major group of a model's training titles."""

    major_groups: Mapping[str, int]

    @classmethod
    def from_labels(cls, labels: Iterable[str]) -> TrainingBaseline:
        counts: dict[str, int] = {}
        for label in labels:
            counts[str(label)] = counts.get(str(label), 0) + 1
        return cls({group: counts[group] for group in sorted(counts)})

    @property
    def rows(self) -> int:
        return sum(self.major_groups.values())

    def document(self) -> dict[str, Any]:
        return {"format": FORMAT, "source": SOURCE, "rows": self.rows, "major_groups": dict(self.major_groups)}

    def write(self, path) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.document(), handle, indent=1, sort_keys=True)

    @classmethod
    def of_document(cls, document: Any, where: str) -> TrainingBaseline:
        """The baseline in a document (a file's, or a report's copy); ValueError naming `where` when it is none."""
        check_format(document, FORMAT, where)
        groups = document.get("major_groups")
        if (
            not isinstance(groups, dict)
            or not groups
            or not all(
                isinstance(count, int) and not isinstance(count, bool) and count >= 0 for count in groups.values()
            )
        ):
            raise ValueError(f"{where}: `major_groups` must map each major group to a row count")
        return cls({str(group): groups[group] for group in sorted(groups)})

    @classmethod
    def read(cls, path) -> TrainingBaseline:
        return cls.of_document(read_companion(path, FORMAT, "training baseline"), str(path))


def read_baseline(model_dir, model_file: str = MODEL_FILE) -> Optional[TrainingBaseline]:
    """The baseline beside a model file of an extracted archive; None when the archive has none."""
    path = os.path.join(str(model_dir), baseline_file(model_file))
    return TrainingBaseline.read(path) if os.path.isfile(path) else None
