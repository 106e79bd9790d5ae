"""What a local run is asked to do, checked before anything runs; light to import (no SDK, no Spark).

`python -m workflow.local` and `jobclf executions start --local` build a `LocalRun` from their
options; `workflow.local.run.run_local` executes it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

USE_TYPES = ("train", "predict")
DEFAULT_WORK_DIR = Path(".work/local")


class UsageError(Exception):
    """Bad input to the local run: the message says what to change. Nothing has run."""


def parse_param(pair: str) -> tuple[str, str]:
    """`Name=Value` -> (name, value)."""
    name, separator, value = pair.partition("=")
    if not separator or not name.strip():
        raise UsageError(f"--param {pair!r}: expected Name=Value, e.g. min_macro_f1=0.6")
    return name.strip(), value


@dataclass(frozen=True)
class LocalRun:
    """One local execution: the environment, the branch, parameter overrides and the files it reads and writes."""

    env: str
    use_type: str
    params: Mapping[str, str] = field(default_factory=dict)
    onet_dir: Path | None = None  # train: the O*NET tables to stage as the ETL's input
    input: Path | None = None  # predict: CSV of titles
    output: Path | None = None  # predict: where the predictions CSV goes
    work_dir: Path = DEFAULT_WORK_DIR

    def check(self) -> None:
        """Everything about the request that can be wrong, before anything runs."""
        if self.use_type not in USE_TYPES:
            raise UsageError(f"use type {self.use_type!r}: choose one of {', '.join(USE_TYPES)}")
        if "use_type" in self.params and self.params["use_type"] != self.use_type:
            raise UsageError(
                f"--param use_type={self.params['use_type']} contradicts --use-type {self.use_type}; pass one of them"
            )
        if self.onet_dir is not None and not self.onet_dir.is_dir():
            raise UsageError(f"--onet-dir {self.onet_dir}: no such folder")
        if self.use_type == "train":
            if self.input is not None or self.output is not None:
                raise UsageError("--input and --output are for --use-type predict")
            return
        self._check_predict_files()

    def _check_predict_files(self) -> None:
        if self.input is None or self.output is None:
            raise UsageError("--use-type predict needs --input titles.csv and --output predictions.csv")
        if not self.input.is_file():
            raise UsageError(f"--input {self.input}: no such file")
        if self.input.suffix.lower() != ".csv":
            # The PreprocessPredict step reads *.csv only: say so now, not after the other steps have run.
            raise UsageError(f"--input {self.input}: must be a .csv file with a title column (and optional id)")
        if self.output.is_dir():
            raise UsageError(f"--output {self.output}: is a folder; name the predictions file, e.g. {self.output / 'predictions.csv'}")
        if self.output.exists() and self.output.resolve() == self.input.resolve():
            raise UsageError(f"--output {self.output} is the --input file; the predictions would overwrite the titles")
        folder = self.output.resolve().parent
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK):
            raise UsageError(f"--output {self.output}: cannot write into {existing}")
