"""Train the job-title classifier (SageMaker training-toolkit conventions).

    python -m pipeline_steps train [--model_c 0.3] [--word_ngram_max 2] [--char_ngram_min 1] [--char_ngram_max 4]
        [--min_df 1] [--classifier linearsvc|logreg] [--class_weight none|balanced]
        [--calibration_folds 5] [--max_iter 2000] [--random_state 0]
        [--occupation_descriptions 1|0] [--short_titles 1|0]
        [--train DIR] [--validation DIR] [--occupations DIR] [--model-dir DIR]

Hyperparameters arrive as CLI arguments (underscored names); the data directories default to
SM_CHANNEL_TRAIN, SM_CHANNEL_VALIDATION and SM_CHANNEL_OCCUPATIONS (validation and occupations are
optional), the model directory to SM_MODEL_DIR. The occupations channel is the ETL's occupations/
dataset: the descriptions of the occupations in the train split become extra training rows (the
other occupations' descriptions are never read, so nothing of validation or test leaks in). Writes MODEL_DIR/model.joblib, MODEL_DIR/model_info.json, and the serving code:
MODEL_DIR/code/inference.py with MODEL_DIR/code/pipeline_steps/{__init__,text,soc}.py.

Runs as `python -m pipeline_steps train ...`; in the training job, the source archive's root
`train.py` (definition/bundles.py) imports this module's main.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from pipeline_steps import model as model_lib
from pipeline_steps.dataio import InputError, labeled_rows, read_labeled_titles, read_parquet_table, write_json
from pipeline_steps.soc import MAJOR_GROUPS
from pipeline_steps.text import normalize_title

# What the serving container needs beside code/inference.py (it imports these, nothing else of ours).
SERVING_MODULES = ("__init__", "text", "soc")


def scores(model, titles: Sequence[str], labels: Sequence[str]) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    probabilities = model_lib.predict_proba(model, titles)
    predicted = [str(model.classes_[i]) for i in probabilities.argmax(axis=1)]
    return {
        "accuracy": float(accuracy_score(labels, predicted)),
        "macro_f1": float(f1_score(labels, predicted, average="macro", zero_division=0)),
        "rows": len(labels),
    }


def copy_serving_code(model_dir) -> Path:
    """MODEL_DIR/code/inference.py plus the pipeline_steps modules it imports."""
    import pipeline_steps.inference as inference
    import pipeline_steps.text as text

    source_dir = Path(text.__file__).resolve().parent
    code_dir = Path(model_dir) / "code"
    package_dir = code_dir / "pipeline_steps"
    package_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(str(Path(inference.__file__).resolve()), str(code_dir / "inference.py"))
    for name in SERVING_MODULES:
        source = source_dir / f"{name}.py"
        target = package_dir / f"{name}.py"
        if source.is_file():
            shutil.copyfile(str(source), str(target))
        elif name == "__init__":
            target.write_text('"""Modules the serving code imports."""\n', "utf-8")
        else:
            raise FileNotFoundError(f"serving module {source} is missing")
    return code_dir


SOURCES = ("titles", "short_titles", "occupation_descriptions")


@dataclass
class TrainingRows:
    """What the model is fitted on: one normalized text per row, its major group, occupation and source."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    # The O*NET-SOC code and the source (one of SOURCES) of each row: the model is not fitted on
    # them; model_info reports the sources and the benchmarks group by occupation.
    occupations: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def add(self, source: str, text: str, label: str, occupation: str) -> None:
        self.texts.append(text)
        self.labels.append(label)
        self.occupations.append(occupation)
        self.sources.append(source)

    @property
    def counts(self) -> dict[str, int]:
        return {source: self.sources.count(source) for source in SOURCES}


def training_rows(train_dir, occupations_dir, hp: model_lib.Hyperparameters) -> TrainingRows:
    """The rows to fit on.

    The train split's titles, plus (by hyperparameter) its short titles and the descriptions of its
    occupations, each as one more row labeled with its occupation's major group.
    """
    rows = TrainingRows()
    table = read_parquet_table(train_dir, ("title_normalized", "onet_soc_code", "major_group"))
    codes = table.column("onet_soc_code").to_pylist()
    groups = table.column("major_group").to_pylist()
    for text, group, code in labeled_rows(table, train_dir, ("onet_soc_code",)):
        rows.add("titles", text, group, code)
    if hp.short_titles and "short_title" in table.column_names:
        for short, code, group in zip(table.column("short_title").to_pylist(), codes, groups):
            text = normalize_title(short) if short and group else ""
            if text:
                rows.add("short_titles", text, str(group), code)
    if hp.occupation_descriptions and occupations_dir:
        trained = set(codes)
        occupations = read_parquet_table(occupations_dir, ("onet_soc_code", "description", "major_group"))
        for code, description, group in zip(
            occupations.column("onet_soc_code").to_pylist(),
            occupations.column("description").to_pylist(),
            occupations.column("major_group").to_pylist(),
        ):
            text = normalize_title(description) if code in trained and description and group else ""
            if text:
                rows.add("occupation_descriptions", text, str(group), code)
    return rows


def train(train_dir, validation_dir, model_dir, hp: model_lib.Hyperparameters, occupations_dir=None) -> dict:
    """Fit, score on validation, save the model, its info and the serving code; return the info."""
    import joblib
    import numpy
    import sklearn

    if occupations_dir is not None and not Path(occupations_dir).is_dir():
        raise InputError(f"occupations directory {occupations_dir} does not exist")
    rows = training_rows(train_dir, occupations_dir, hp)
    started = time.perf_counter()
    model = model_lib.fit(hp, rows.texts, rows.labels)
    training_seconds = time.perf_counter() - started

    validation = None
    if validation_dir:
        validation_titles, validation_labels = read_labeled_titles(validation_dir)
        validation = scores(model, validation_titles, validation_labels)

    output = Path(model_dir)
    output.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, str(output / model_lib.MODEL_FILE), compress=3)
    classes = [str(c) for c in model.classes_]
    info = {
        "model_file": model_lib.MODEL_FILE,
        "input": "normalized title (pipeline_steps.text.normalize_title)",
        "classes": classes,
        "major_group_titles": {c: MAJOR_GROUPS.get(c, "") for c in classes},
        "hyperparameters": hp.as_dict(),
        "train_rows": len(rows.labels),
        "train_rows_by_source": rows.counts,
        "validation": validation,
        "training_seconds": round(training_seconds, 3),
        "trained_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sklearn_version": sklearn.__version__,
        "numpy_version": numpy.__version__,
        "python_version": platform.python_version(),
    }
    write_json(info, output / model_lib.MODEL_INFO_FILE)
    copy_serving_code(output)
    return info


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="train", description=__doc__.split("\n\n")[0])
    # One option per hyperparameter, named as SageMaker passes it (`--name value`); Hyperparameters checks the values.
    for hyperparameter in fields(model_lib.Hyperparameters):
        parser.add_argument(
            f"--{hyperparameter.name}", type=type(hyperparameter.default), default=hyperparameter.default
        )
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"), help="default: $SM_CHANNEL_TRAIN")
    parser.add_argument(
        "--validation", default=os.environ.get("SM_CHANNEL_VALIDATION"), help="default: $SM_CHANNEL_VALIDATION"
    )
    parser.add_argument(
        "--occupations",
        default=os.environ.get("SM_CHANNEL_OCCUPATIONS"),
        help="the ETL's occupations/ dataset (optional); default: $SM_CHANNEL_OCCUPATIONS",
    )
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"), help="default: $SM_MODEL_DIR")
    args = parser.parse_args(argv)
    if not args.train:
        parser.error("no training data: pass --train DIR or set SM_CHANNEL_TRAIN")
    if not args.model_dir:
        parser.error("no model directory: pass --model-dir DIR or set SM_MODEL_DIR")
    try:
        args.hyperparameters = hyperparameters_from(args)
    except ValueError as error:
        parser.error(f"bad hyperparameters: {error}")
    return args


def hyperparameters_from(args: argparse.Namespace) -> model_lib.Hyperparameters:
    return model_lib.Hyperparameters(**{f.name: getattr(args, f.name) for f in fields(model_lib.Hyperparameters)})


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    hp = args.hyperparameters
    info = train(args.train, args.validation, args.model_dir, hp, args.occupations)
    print(f"hyperparameters: {json.dumps(hp.as_dict(), sort_keys=True)}")
    print(f"train_rows={info['train_rows']}; training_seconds={info['training_seconds']:.1f};")
    print(f"train rows by source: {json.dumps(info['train_rows_by_source'], sort_keys=True)}")
    if hp.occupation_descriptions and not args.occupations:
        print("note: no occupations channel: occupation descriptions not used")
    if info["validation"]:
        # One line SageMaker metric definitions can match, e.g. "validation_macro_f1=([0-9.]+)".
        print(
            f"validation_rows={info['validation']['rows']}; "
            f"validation_accuracy={info['validation']['accuracy']:.4f}; "
            f"validation_macro_f1={info['validation']['macro_f1']:.4f};"
        )
    else:
        print("no validation data: validation metrics skipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
