"""What a local run is asked to do, checked before anything runs; light to import (no SDK, no Spark).

`python -m workflow.local` and `jobclf executions start --local` build a `LocalRunRequest` from their
options; `workflow.local.run.run_local` executes it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipeline_steps import titles_input
from pipeline_steps.contract import USE_TYPES
from pipeline_steps.errors import InputError

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
class LocalRunRequest:
    """What one local execution is asked to do: the environment, the branch, parameter overrides and the files
    it reads and writes (`run_local` executes it)."""

    env: str
    use_type: str
    params: Mapping[str, str] = field(default_factory=dict)
    onet_dir: Path | None = None  # train: the O*NET tables to stage as the ETL's input
    input: Path | None = None  # predict: a CSV or Parquet file of titles, or a folder of them
    output: Path | None = None  # predict: where the predictions CSV goes
    work_dir: Path = DEFAULT_WORK_DIR
    # train: run only if the definition, the O*NET files or the parameters differ from those the group's
    # latest version was trained with (else say so: `make run` twice does not train the same model twice)
    if_changed: bool = False

    def check(self) -> None:
        """Everything about the request that can be wrong, before anything runs."""
        if self.use_type not in USE_TYPES:
            raise UsageError(f"use type {self.use_type!r}: choose one of {', '.join(USE_TYPES)}")
        if "use_type" in self.params and self.params["use_type"] != self.use_type:
            raise UsageError(
                f"--param use_type={self.params['use_type']} contradicts --use-type {self.use_type}; pass one of them"
            )
        for option, path in (
            ("--onet-dir", self.onet_dir),
            ("--input", self.input),
            ("--output", self.output),
            ("--work-dir", self.work_dir),
        ):
            if path is not None and not _is_utf8(str(path)):
                raise UsageError(f"{option} {ascii(str(path))[1:-1]}: the path is not valid UTF-8; rename it")
        if self.onet_dir is not None and not self.onet_dir.is_dir():
            raise UsageError(f"--onet-dir {self.onet_dir}: no such folder")
        if self.use_type == "train":
            if self.input is not None or self.output is not None:
                raise UsageError("--input and --output are for --use-type predict")
            return
        if self.if_changed:
            raise UsageError("--if-changed is for --use-type train (a predict run always runs)")
        self._check_predict_files()

    def _check_predict_files(self) -> None:
        if self.input is None or self.output is None:
            raise UsageError("--use-type predict needs --input titles.csv and --output predictions.csv")
        if "input_titles_uri" in self.params:
            raise UsageError(
                "--param input_titles_uri: a local predict run classifies the titles of --input (copied under "
                "its execution's own prefix); drop the parameter"
            )
        if not (self.input.is_file() or self.input.is_dir()):
            raise UsageError(f"--input {self.input}: no such file or folder")
        if self.input.is_file() and not titles_input.is_input_file(self.input.name):
            # The predict branch reads *.csv and *.parquet only: say so now, not after a step has run.
            raise UsageError(
                f"--input {self.input}: must be a .csv or .parquet file with a title column (and optional id)"
            )
        if self.input.is_dir() and not self.input_files():
            raise UsageError(f"--input {self.input}: no .csv or .parquet files in the folder")
        if self.output.is_dir():
            raise UsageError(
                f"--output {self.output}: is a folder; name the predictions file, e.g. {self.output / 'predictions.csv'}"
            )
        if self.output.exists():
            output = self.output.stat()
            for path, _ in self.input_files():
                if os.path.samestat(output, path.stat()):  # the same file: by another path, a symbolic or a hard link
                    alias = "" if path == self.output else f" ({path}, by another name or a link)"
                    raise UsageError(
                        f"--output {self.output} is the --input file{alias}; the predictions would overwrite the titles"
                    )
        folder = self.output.resolve().parent
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK):
            raise UsageError(f"--output {self.output}: cannot write into {existing}")
        self._check_titles()

    def _check_titles(self) -> None:
        """The predict input contract's checks that need no step: the files' names, and each file's first
        bytes and header (CSV) or column types (Parquet), as both engines check them (titles_input)."""
        files = self.input_files()
        try:
            titles_input.check_file_names(key for _, key in files)
        except InputError as error:
            raise UsageError(f"--input {self.input}: {error}") from None
        from pipeline_steps.preprocess_predict import check_file_start  # pyarrow: only when there is input to check

        for path, _ in files:
            try:
                check_file_start(path, str(path))
            except InputError as error:
                raise UsageError(f"--input: {error}") from None

    def input_files(self) -> list[tuple[Path, str]]:
        """predict: (file, its key under the execution's titles prefix) of each input file."""
        if self.input is None:
            return []
        if self.input.is_file():
            return [(self.input, self.input.name)]
        files = sorted(p for p in self.input.rglob("*") if p.is_file() and titles_input.is_input_file(p.name))
        return [(path, path.relative_to(self.input).as_posix()) for path in files]

    def other_files(self) -> list[str]:
        """predict: the files in an --input folder that are not input (not .csv or .parquet), relative to it."""
        if self.input is None or not self.input.is_dir():
            return []
        return sorted(
            p.relative_to(self.input).as_posix()
            for p in self.input.rglob("*")
            if p.is_file() and not titles_input.is_input_file(p.name)
        )


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
