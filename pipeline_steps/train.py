"""Train the job-title classifier (SageMaker training-toolkit conventions).

    python -m pipeline_steps train [--model_c 0.3] [--word_ngram_max 2] [--char_ngram_min 1] [--char_ngram_max 4]
        [--min_df 1] [--classifier linearsvc|logreg] [--class_weight none|balanced]
        [--max_iter 2000] [--random_state 0] [--occupation_descriptions 1|0] [--short_titles 1|0]
        [--occupation_title_weight 5.0]
        [--occupation-train DIR] [--occupation-validation DIR] [--occupation-test DIR]
        [--title-train DIR] [--title-validation DIR]
        [--occupations DIR] [--model-dir DIR]

Hyperparameters arrive as CLI arguments (underscored names); the data directories default to
SM_CHANNEL_<NAME> (PreprocessTrain's splits by occupation and by title; the occupations channel, the
ETL's occupations/ dataset, is optional: the descriptions of a model's occupations become extra
training rows), the model directory to SM_MODEL_DIR.

Fits three models (`train`): two evaluated ones that Evaluate scores (by occupation: the quality
gate; by title: the headline) and the served one, refit on every accepted row. Writes
MODEL_DIR/model.joblib (served), MODEL_DIR/evaluated/*.joblib, each with the known titles of its own
training rows beside it (known_titles.table_file), the served model's training baseline
(MODEL_DIR/model.baseline.json: its titles by major group, baseline.py), MODEL_DIR/model_info.json, and the
serving code: MODEL_DIR/code/inference.py with the MODEL_DIR/code/pipeline_steps/ modules it imports (SERVING_MODULES).

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
from typing import Optional, Union

from pipeline_steps import known_titles
from pipeline_steps import model as model_lib
from pipeline_steps.baseline import TrainingBaseline, baseline_file
from pipeline_steps.dataio import labeled_rows, read_labeled_titles, read_parquet_table, write_json
from pipeline_steps.errors import InputError
from pipeline_steps.etl_tables import (
    DESCRIPTION,
    MAJOR_GROUP,
    OCCUPATION_TITLE_SOURCE,
    OCCUPATIONS_DATASET,
    ONET_SOC_CODE,
    SHORT_TITLE,
    SOURCE,
    SOURCE_COUNT,
    TITLE_NORMALIZED,
)
from pipeline_steps.preprocess_train import OCCUPATION_SPLITS, TITLE_SPLITS
from pipeline_steps.soc import MAJOR_GROUPS
from pipeline_steps.text import normalize_title

PathLike = Union[str, Path]
# What the serving container needs beside code/inference.py (it imports these, nothing else of ours).
SERVING_MODULES = ("__init__", "contract", "text", "soc", "ranking", "csv_cells", "csv_dialect", "known_titles")


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
    weights: list[float] = field(default_factory=list)  # each row's sample weight
    # The titles (occupations' own and alternate) with their O*NET evidence: answered without the model.
    known: known_titles.KnownTitles = field(default_factory=lambda: known_titles.KnownTitles({}))

    def add(self, source: str, text: str, label: str, occupation: str, weight: float = 1.0) -> None:
        self.texts.append(text)
        self.labels.append(label)
        self.occupations.append(occupation)
        self.sources.append(source)
        self.weights.append(weight)

    @property
    def counts(self) -> dict[str, int]:
        return {source: self.sources.count(source) for source in SOURCES}


def _table(directories: Sequence, columns: Sequence[str]):
    import pyarrow as pa

    tables = [read_parquet_table(directory, columns) for directory in directories]
    return pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]


def evidence_weight(own_title: bool, source_count: Optional[int], hp: model_lib.Hyperparameters) -> float:
    """What one title row says for its occupation: an occupation's own O*NET title weighs
    occupation_title_weight, an alternate title the number of sources that list it (at least 1: O*NET
    lists it)."""
    return hp.occupation_title_weight if own_title else float(max(1, source_count or 0))


def training_rows(
    train_dirs, occupations_dir, hp: model_lib.Hyperparameters, described: Optional[set] = None
) -> TrainingRows:
    """The rows to fit on, and the known titles among them.

    The titles under `train_dirs` (one split directory or several), each weighing its evidence_weight
    (alternate titles 1 each with source_weights "none"), plus (by hyperparameter) their short titles
    and the descriptions of the `described` occupations (default: the occupations those titles belong
    to), each as one more row labeled with its occupation's major group. The known titles are the
    title rows with their evidence weights (short titles and descriptions explain a title; they are
    no title O*NET lists).
    """
    directories = [train_dirs] if isinstance(train_dirs, (str, Path)) else list(train_dirs)
    rows = TrainingRows()
    table = _table(directories, (TITLE_NORMALIZED, ONET_SOC_CODE, MAJOR_GROUP, SOURCE_COUNT))
    codes = table.column(ONET_SOC_CODE).to_pylist()
    groups = table.column(MAJOR_GROUP).to_pylist()
    extra = (ONET_SOC_CODE, SOURCE_COUNT) + ((SOURCE,) if SOURCE in table.column_names else ())
    evidence: list[float] = []
    for text, group, code, source_count, *source in labeled_rows(table, directories[0], extra):
        own_title = source == [OCCUPATION_TITLE_SOURCE]
        weight = evidence_weight(own_title, source_count, hp)
        evidence.append(weight)
        rows.add("titles", text, group, code, weight if hp.source_weights == "count" or own_title else 1.0)
    rows.known = known_titles.KnownTitles.from_rows(rows.texts, rows.labels, evidence)
    if hp.short_titles and SHORT_TITLE in table.column_names:
        for short, code, group in zip(table.column(SHORT_TITLE).to_pylist(), codes, groups):
            text = normalize_title(short) if short and group else ""
            if text:
                rows.add("short_titles", text, str(group), code)
    if hp.occupation_descriptions and occupations_dir:
        trained = set(codes) if described is None else described
        occupations = read_parquet_table(occupations_dir, (ONET_SOC_CODE, DESCRIPTION, MAJOR_GROUP))
        for code, description, group in zip(
            occupations.column(ONET_SOC_CODE).to_pylist(),
            occupations.column(DESCRIPTION).to_pylist(),
            occupations.column(MAJOR_GROUP).to_pylist(),
        ):
            text = normalize_title(description) if code in trained and description and group else ""
            if text:
                rows.add("occupation_descriptions", text, str(group), code)
    return rows


def training_baseline(rows: TrainingRows) -> TrainingBaseline:
    """The major groups of the O*NET title rows among `rows` (not the short titles and descriptions)."""
    return TrainingBaseline.from_labels(label for label, source in zip(rows.labels, rows.sources) if source == "titles")


@dataclass(frozen=True)
class Channels:
    """The training job's input directories (PreprocessTrain's splits; the ETL's occupations)."""

    occupation_train: PathLike  # by occupation: the gated model's rows
    occupation_validation: PathLike  # by occupation: calibrates the gated model
    occupation_test: PathLike  # by occupation: Evaluate scores the gated model on it; here, part of every row
    title_train: PathLike  # by title (every occupation): the headline model's rows
    title_validation: PathLike  # by title: calibrates the headline model, and through it the served model
    occupations: Optional[PathLike] = None

    def check(self) -> None:
        for name in CHANNELS:
            directory = getattr(self, name)
            if name != OCCUPATIONS_DATASET and not directory:
                raise InputError(f"no {name} channel")
            if directory and not Path(directory).is_dir():
                raise InputError(f"{name} directory {directory} does not exist")


def _scored_calibration(model, calibration_dir) -> tuple[object, dict]:
    titles, labels = read_labeled_titles(calibration_dir)
    calibrated = model_lib.calibrate(model, titles, labels)
    return calibrated, scores(calibrated, titles, labels)


def _summary(rows: TrainingRows) -> dict:
    return {
        "train_rows": len(rows.labels),
        "train_rows_by_source": rows.counts,
        "occupations": len(set(rows.occupations)),
        "known_titles": len(rows.known),
        "ambiguous_known_titles": sum(rows.known.ambiguous(title) for title in rows.known.evidence),
    }


def train(channels: Channels, model_dir, hp: model_lib.Hyperparameters) -> dict:
    """Fit the three models, save them, their info and the serving code; return the info.

    - evaluated by occupation (EVALUATED_MODELS["by_occupation"]): the train split, calibrated on the
      validation split; Evaluate scores it on the test split's unseen occupations (the quality gate).
    - evaluated by title (EVALUATED_MODELS["by_title"]): every occupation, the title_train split,
      calibrated on title_validation; Evaluate scores it on title_test's unseen titles (the headline).
    - served (MODEL_FILE): every accepted row (the three splits by occupation: all occupations, their
      titles, short titles and descriptions), with the by-title model's calibration: it has no unseen
      rows left to calibrate on, and its decision values are on the scale of a model fitted on 80% of them.
    One job writes all three: a second training job would add its start-up (minutes) for seconds of
    fitting, and the registered archive carries the very models its metrics were measured on. The
    three fits are independent and run side by side, one process per core (up to 3).
    """
    import joblib
    import numpy
    import sklearn

    channels.check()
    every_split = [channels.occupation_train, channels.occupation_validation, channels.occupation_test]
    all_occupations = set(_table(every_split, (ONET_SOC_CODE,)).column(ONET_SOC_CODE).to_pylist())
    rows = {
        "by_occupation": training_rows(channels.occupation_train, channels.occupations, hp),
        "by_title": training_rows(channels.title_train, channels.occupations, hp, all_occupations),
        "served": training_rows(every_split, channels.occupations, hp, all_occupations),
    }
    started = time.perf_counter()
    fitted = joblib.Parallel(n_jobs=min(len(rows), os.cpu_count() or 1))(
        joblib.delayed(model_lib.fit)(hp, part.texts, part.labels, part.weights) for part in rows.values()
    )
    models = dict(zip(rows, fitted))
    by_occupation, by_occupation_validation = _scored_calibration(
        models["by_occupation"], channels.occupation_validation
    )
    by_title, by_title_validation = _scored_calibration(models["by_title"], channels.title_validation)
    served = model_lib.calibrated_like(models["served"], by_title)
    training_seconds = time.perf_counter() - started
    evaluated = {
        "by_occupation": {**_summary(rows["by_occupation"]), "validation": by_occupation_validation},
        "by_title": {**_summary(rows["by_title"]), "validation": by_title_validation},
    }
    served_info = _summary(rows["served"])

    output = Path(model_dir)
    output.mkdir(parents=True, exist_ok=True)
    # Each model with the known titles of its own training rows: the evaluated ones never see their test rows.
    for name, model, model_file in (
        ("served", served, model_lib.MODEL_FILE),
        ("by_occupation", by_occupation, model_lib.EVALUATED_MODELS["by_occupation"]),
        ("by_title", by_title, model_lib.EVALUATED_MODELS["by_title"]),
    ):
        target = output / model_file
        target.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, str(target), compress=3)
        rows[name].known.write(output / known_titles.table_file(model_file))
    # What each predict execution's major groups are compared with (baseline.py): the served model's titles.
    training_baseline(rows["served"]).write(output / baseline_file(model_lib.MODEL_FILE))
    classes = [str(c) for c in served.classes_]
    info = {
        "model_file": model_lib.MODEL_FILE,
        "input": "normalized title (pipeline_steps.text.normalize_title)",
        "classes": classes,
        "major_group_titles": {c: MAJOR_GROUPS.get(c, "") for c in classes},
        "hyperparameters": hp.as_dict(),
        # The served model: fitted on every accepted row. Its quality is measured on the evaluated models.
        "fitted_on": "every accepted row (all occupations: titles, short titles, descriptions)",
        "train_rows": served_info["train_rows"],
        "train_rows_by_source": served_info["train_rows_by_source"],
        "occupations": served_info["occupations"],
        # Answered from O*NET's evidence, not by the model (known_titles.py).
        "known_titles": served_info["known_titles"],
        "ambiguous_known_titles": served_info["ambiguous_known_titles"],
        "known_titles_file": known_titles.table_file(model_lib.MODEL_FILE),
        "baseline_file": baseline_file(model_lib.MODEL_FILE),
        "calibration": "one sigmoid shared by the major groups, learned by the by-title model on title_validation",
        "evaluated_models": {name: {"file": model_lib.EVALUATED_MODELS[name], **evaluated[name]} for name in evaluated},
        "validation": by_occupation_validation,
        "training_seconds": round(training_seconds, 3),
        "trained_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sklearn_version": sklearn.__version__,
        "numpy_version": numpy.__version__,
        "python_version": platform.python_version(),
    }
    write_json(info, output / model_lib.MODEL_INFO_FILE)
    copy_serving_code(output)
    return info


# PreprocessTrain's splits the job reads (title_test is Evaluate's alone), and the ETL's occupations.
SPLIT_CHANNELS = (*OCCUPATION_SPLITS, *TITLE_SPLITS[:2])
CHANNELS = (*SPLIT_CHANNELS, OCCUPATIONS_DATASET)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="train", description=__doc__.split("\n\n")[0])
    # One option per hyperparameter, named as SageMaker passes it (`--name value`); Hyperparameters checks the values.
    for hyperparameter in fields(model_lib.Hyperparameters):
        parser.add_argument(
            f"--{hyperparameter.name}", type=type(hyperparameter.default), default=hyperparameter.default
        )
    # One option per channel, defaulting to the directory SageMaker names in SM_CHANNEL_<NAME>.
    for channel in CHANNELS:
        variable = f"SM_CHANNEL_{channel.upper()}"
        parser.add_argument(
            f"--{channel.replace('_', '-')}", default=os.environ.get(variable), help=f"default: ${variable}"
        )
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"), help="default: $SM_MODEL_DIR")
    args = parser.parse_args(argv)
    try:
        args.hyperparameters = hyperparameters_from(args)
    except ValueError as error:
        parser.error(f"bad hyperparameters: {error}")
    missing = [channel for channel in CHANNELS[:-1] if not getattr(args, channel)]
    if missing:
        parser.error(
            "no "
            + ", ".join(missing)
            + " data: pass --"
            + " DIR, --".join(m.replace("_", "-") for m in missing)
            + " DIR or set "
            + ", ".join(f"SM_CHANNEL_{m.upper()}" for m in missing)
        )
    if not args.model_dir:
        parser.error("no model directory: pass --model-dir DIR or set SM_MODEL_DIR")
    args.channels = Channels(**{channel: getattr(args, channel) for channel in CHANNELS})
    return args


def hyperparameters_from(args: argparse.Namespace) -> model_lib.Hyperparameters:
    return model_lib.Hyperparameters(**{f.name: getattr(args, f.name) for f in fields(model_lib.Hyperparameters)})


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    hp = args.hyperparameters
    info = train(args.channels, args.model_dir, hp)
    print(f"hyperparameters: {json.dumps(hp.as_dict(), sort_keys=True)}")
    print(
        f"served model: train_rows={info['train_rows']}; occupations={info['occupations']}; "
        f"training_seconds={info['training_seconds']:.1f};"
    )
    print(f"train rows by source: {json.dumps(info['train_rows_by_source'], sort_keys=True)}")
    if hp.occupation_descriptions and not args.occupations:
        print("note: no occupations channel: occupation descriptions not used")
    # One line per evaluated model that SageMaker metric definitions can match, e.g. "occupation_validation_macro_f1=([0-9.]+)".
    for name, prefix in (("by_occupation", "occupation_validation"), ("by_title", "title_validation")):
        validation = info["evaluated_models"][name]["validation"]
        print(
            f"{prefix}_rows={validation['rows']}; {prefix}_accuracy={validation['accuracy']:.4f}; "
            f"{prefix}_macro_f1={validation['macro_f1']:.4f};"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
