"""The classifier: TF-IDF word and character n-grams of the normalized title, then a linear model.

The fitted object is a plain scikit-learn Pipeline (no custom classes or functions inside), so
`joblib.load` works in the SageMaker serving container without any of our code. It takes a list of
*normalized* titles (`text.normalize_title`) and exposes `predict_proba` and `classes_`.

Also here: packing and unpacking a model directory as SageMaker's `model.tar.gz`.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Sequence
from dataclasses import Field, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Optional

import numpy as np

MODEL_FILE = "model.joblib"
MODEL_INFO_FILE = "model_info.json"
MODEL_ARCHIVE = "model.tar.gz"

CLASSIFIERS = ("linearsvc", "logreg")
CLASS_WEIGHTS = ("none", "balanced")
# Tokens are the space-separated words of normalize_title's output, so "c++" and "c#" survive
# (scikit-learn's default pattern would drop them to "c").
TOKEN_PATTERN = r"[^ ]+"


# Field metadata: CHOICES are a hyperparameter's allowed values, RANGE its inclusive (minimum, maximum);
# PIPELINE_PARAMETER marks one the pipeline exposes as a pipeline parameter of the same name (a schedule
# or a user sets it per execution). The definition builder declares those parameters, and checks their
# ranges before any step runs, from this metadata.
PIPELINE_PARAMETER = "pipeline_parameter"
CHOICES = "choices"
RANGE = "range"


def _hyperparameter(default, *, choices: Sequence = (), value_range=None, pipeline_parameter: bool = False):
    metadata = {PIPELINE_PARAMETER: pipeline_parameter, CHOICES: tuple(choices), RANGE: value_range}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Hyperparameters:
    """What the training job's hyperparameters control (names as SageMaker passes them)."""

    # Not `c`: the SageMaker training toolkit passes a one-letter hyperparameter as `-c`, not `--c`.
    model_c: float = _hyperparameter(0.3, value_range=(1e-4, 1e4), pipeline_parameter=True)
    word_ngram_max: int = _hyperparameter(2, value_range=(1, 3), pipeline_parameter=True)
    char_ngram_min: int = _hyperparameter(1, value_range=(1, 6), pipeline_parameter=True)
    char_ngram_max: int = _hyperparameter(4, value_range=(1, 8), pipeline_parameter=True)
    min_df: int = _hyperparameter(1, value_range=(1, 1000))
    classifier: str = _hyperparameter("linearsvc", choices=CLASSIFIERS)
    class_weight: str = _hyperparameter("none", choices=CLASS_WEIGHTS, pipeline_parameter=True)
    calibration_folds: int = _hyperparameter(5, value_range=(2, 20))
    max_iter: int = _hyperparameter(2000, value_range=(1, 1_000_000))
    random_state: int = _hyperparameter(0, value_range=(0, 2**32 - 1))
    # Extra training rows (train.training_rows): the descriptions of the training occupations from the
    # occupations channel, and the short titles ("OTR Driver") of the training titles. 1 = use, 0 = don't.
    occupation_descriptions: int = _hyperparameter(1, value_range=(0, 1), pipeline_parameter=True)
    short_titles: int = _hyperparameter(1, value_range=(0, 1), pipeline_parameter=True)

    def __post_init__(self) -> None:
        problems = []
        for hyperparameter in fields(self):
            value = getattr(self, hyperparameter.name)
            choices, value_range = hyperparameter.metadata[CHOICES], hyperparameter.metadata[RANGE]
            if choices and value not in choices:
                problems.append(f"{hyperparameter.name} must be one of {', '.join(choices)}, got {value!r}")
            # `not (low <= value <= high)` also catches NaN.
            if value_range and not value_range[0] <= value <= value_range[1]:
                problems.append(f"{hyperparameter.name} must be from {value_range[0]} to {value_range[1]}, got {value}")
        if self.char_ngram_min > self.char_ngram_max:
            problems.append(f"char_ngram_min must be <= char_ngram_max, got {self.char_ngram_min}..{self.char_ngram_max}")
        if problems:
            raise ValueError("; ".join(problems))

    def as_dict(self) -> dict:
        return asdict(self)


def pipeline_hyperparameters() -> list[Field]:
    """The hyperparameters the pipeline exposes as parameters of the same name, in declaration order."""
    return [f for f in fields(Hyperparameters) if f.metadata.get(PIPELINE_PARAMETER)]


def build_pipeline(hp: Hyperparameters):
    """An unfitted Pipeline: FeatureUnion(word TF-IDF, char_wb TF-IDF) -> classifier."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.svm import LinearSVC

    features = FeatureUnion(
        [
            (
                "word",
                TfidfVectorizer(
                    analyzer="word",
                    token_pattern=TOKEN_PATTERN,
                    ngram_range=(1, hp.word_ngram_max),
                    min_df=hp.min_df,
                    sublinear_tf=True,
                    dtype=np.float32,
                ),
            ),
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(hp.char_ngram_min, hp.char_ngram_max),
                    min_df=hp.min_df,
                    sublinear_tf=True,
                    dtype=np.float32,
                ),
            ),
        ]
    )
    class_weight = None if hp.class_weight == "none" else hp.class_weight
    if hp.classifier == "linearsvc":
        # LinearSVC has no probabilities: Platt scaling fitted on `calibration_folds` cross-validated
        # decision values gives them. ensemble=False keeps one SVC fitted on all rows (not one per
        # fold): on O*NET it was as accurate, better calibrated and a quarter of the size.
        classifier = CalibratedClassifierCV(
            LinearSVC(C=hp.model_c, class_weight=class_weight, max_iter=hp.max_iter, random_state=hp.random_state),
            cv=hp.calibration_folds,
            method="sigmoid",
            ensemble=False,
        )
    else:
        classifier = LogisticRegression(
            C=hp.model_c, class_weight=class_weight, max_iter=hp.max_iter, random_state=hp.random_state
        )
    return Pipeline([("features", features), ("classifier", classifier)])


def fit(hp: Hyperparameters, titles_normalized: Sequence[str], labels: Sequence[str]):
    """Fit a pipeline; with the linearsvc classifier every class needs at least 2 rows.

    Calibration uses `calibration_folds` stratified folds, or fewer when the smallest major group
    has fewer rows than that (a small group is valid data; a note says so).
    """
    y = np.asarray(list(labels), dtype=object)  # scikit-learn 1.2's calibration check needs an array
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"training data has {len(classes)} major group(s); need at least 2")
    if hp.classifier == "linearsvc":
        single = [str(c) for c, n in zip(classes, counts) if n < 2]
        if single:
            raise ValueError(f"major group(s) {single} have a single training row; calibration needs at least 2")
        if counts.min() < hp.calibration_folds:
            smallest = str(classes[counts.argmin()])
            print(
                f"note: calibrating with {counts.min()} folds, not {hp.calibration_folds}: major group {smallest} has {counts.min()} training rows"
            )
            hp = replace(hp, calibration_folds=int(counts.min()))
    pipeline = build_pipeline(hp)
    pipeline.fit(list(titles_normalized), y)
    return pipeline


def predict_proba(model, titles_normalized: Sequence[str], batch_size: int = 20000) -> np.ndarray:
    """Class probabilities (columns in `model.classes_` order), in batches to bound memory."""
    titles = list(titles_normalized)
    n_classes = len(model.classes_)
    if not titles:
        return np.zeros((0, n_classes))
    parts = [model.predict_proba(titles[i : i + batch_size]) for i in range(0, len(titles), batch_size)]
    return np.vstack(parts)


def pack_model_dir(model_dir, archive_path) -> Path:
    """Tar a model directory the way SageMaker does (its contents at the archive root)."""
    target = Path(archive_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(str(target), "w:gz") as archive:
        for entry in sorted(Path(model_dir).iterdir()):
            archive.add(str(entry), arcname=entry.name)
    return target


def extract_archive(archive_path, dest_dir) -> Path:
    """Extract a model.tar.gz, refusing members that would land outside `dest_dir`."""
    dest = Path(dest_dir).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(str(archive_path), "r:*") as archive:
        members = archive.getmembers()
        for member in members:
            target = (dest / member.name).resolve()
            if not (target == dest or str(target).startswith(str(dest) + os.sep)):
                raise ValueError(f"{archive_path}: member {member.name!r} points outside the archive")
            if member.issym() or member.islnk():
                raise ValueError(f"{archive_path}: member {member.name!r} is a link; refusing it")
        archive.extractall(str(dest), members=members)
    return dest


def locate_model(path) -> Path:
    """Where the model is: `path` if it holds model.joblib, else the model.tar.gz at or under `path`.

    SageMaker delivers a training job's output as model.tar.gz; a local copy may already be extracted.
    """
    root = Path(path)
    if (root / MODEL_FILE).is_file():
        return root
    archive = root / MODEL_ARCHIVE if root.is_dir() else root
    if root.is_dir() and not archive.is_file():
        archives = sorted(root.rglob(MODEL_ARCHIVE))
        if not archives:
            found = sorted(p.name for p in root.iterdir())[:10]
            raise FileNotFoundError(f"no {MODEL_FILE} or {MODEL_ARCHIVE} in {root}; found: {found or 'nothing'}")
        archive = archives[0]
    if not archive.is_file():
        raise FileNotFoundError(f"model path {root} does not exist")
    return archive


def load_model(path, work_dir: Optional[str] = None):
    """(model, model_info or {}) from a model directory, a directory with model.tar.gz, or the archive.

    An archive is extracted into `work_dir` (required then).
    """
    import joblib

    from pipeline_steps.dataio import read_json

    found = locate_model(path)
    if found.is_file():
        if work_dir is None:
            raise ValueError("load_model needs a work_dir to extract an archive into")
        found = extract_archive(found, work_dir)
    model_file = found / MODEL_FILE
    if not model_file.is_file():
        raise FileNotFoundError(f"the model archive under {path} holds no {MODEL_FILE}")
    info_file = found / MODEL_INFO_FILE
    info = read_json(info_file) if info_file.is_file() else {}
    return joblib.load(str(model_file)), info
