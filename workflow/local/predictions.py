"""The predictions of a local predict execution, gathered into one CSV file."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline_steps import prepared
from pipeline_steps.predict import output_folder
from workflow.local.s3 import LocalS3, replaced_atomically

# The predict branch's two BatchPredict steps, one per predict_engine (definition/builder.py).
BATCH_PREDICT_STEPS = ("BatchPredict", "BatchPredictAfterEtl")


def predictions_folder(
    step_properties: Mapping[str, Mapping[str, Any]], s3: LocalS3, execution_date: str, execution_id: str
) -> Path | None:
    """The local folder holding this execution's prediction parts, or None when no BatchPredict ran."""
    for name in BATCH_PREDICT_STEPS:
        if name in step_properties:
            uri = step_properties[name]["ProcessingOutputConfig"]["Outputs"]["predictions"]["S3Output"]["S3Uri"]
            return output_folder(s3.path(uri), execution_date, execution_id)
    return None


def concatenate_parts(folder: Path, output: Path) -> int:
    """Write the CSV parts of `folder` one after the other, in input order, with one header; the part count.

    Every part starts with the same one-line header (field names hold no line breaks), so each
    part after the first is copied from its second line on. `output` is replaced atomically: it is the
    earlier file or the whole new one, never a part (a signal, a full disk: NoSpace).
    """
    parts = prepared.ordered_files(folder, [".csv"])
    if not parts:
        raise FileNotFoundError(f"no prediction parts (*.csv) in {folder}")
    with replaced_atomically(output) as sink:
        for number, part in enumerate(parts):
            with part.open("rb") as source:
                header = source.readline()
                if number == 0:
                    sink.write(header)
                shutil.copyfileobj(source, sink)
    return len(parts)
