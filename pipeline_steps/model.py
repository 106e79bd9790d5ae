"""The classifier: TF-IDF word and character n-grams of the normalized title, then a linear model.

The fitted object is a plain scikit-learn Pipeline (no custom classes or functions inside), so
`joblib.load` works in the SageMaker serving container without any of our code. It takes a list of
*normalized* titles (`text.normalize_title`) and exposes `predict_proba` and `classes_`. What is
served and predicted with is that pipeline behind the known-titles table (known_titles.py, `load_model`).

Also here: packing and unpacking a model directory as SageMaker's `model.tar.gz`.
"""

from __future__ import annotations

import gzip
import os
import tarfile
import zlib
from collections.abc import Sequence
from dataclasses import Field, asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional

import numpy as np

from pipeline_steps.errors import StepError
from pipeline_steps.known_titles import MODEL_FILE, KnownTitleClassifier, load

MODEL_INFO_FILE = "model_info.json"
MODEL_ARCHIVE = "model.tar.gz"
# Beside the served MODEL_FILE in the archive: the models Evaluate scores (train.train says which is which).
EVALUATED_MODELS = {"by_occupation": "evaluated/by_occupation.joblib", "by_title": "evaluated/by_title.joblib"}

CLASSIFIERS = ("linearsvc", "logreg")
CLASS_WEIGHTS = ("none", "balanced")
SOURCE_WEIGHTS = ("count", "none")
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
    max_iter: int = _hyperparameter(2000, value_range=(1, 1_000_000))
    random_state: int = _hyperparameter(0, value_range=(0, 2**32 - 1))
    # Extra training rows (train.training_rows): the descriptions of the training occupations from the
    # occupations channel, and the short titles ("OTR Driver") of the training titles. 1 = use, 0 = don't.
    occupation_descriptions: int = _hyperparameter(1, value_range=(0, 1), pipeline_parameter=True)
    short_titles: int = _hyperparameter(1, value_range=(0, 1), pipeline_parameter=True)
    # The sample weight of each occupation's own O*NET title ("Range Managers") against 1 for the other
    # rows: with 1, the model refit on every row put 3 of the 1,016 occupations' own titles in another
    # major group; with 5, none (benchmarks/README.md), and both held-out figures stayed within 0.004.
    occupation_title_weight: float = _hyperparameter(5.0, value_range=(1.0, 100.0))
    # The sample weight of an alternate title: "count", the number of O*NET sources that list it under
    # its occupation (the ETL's source_count: "Forklift Operator" weighs 5 under 53-7051, 1 under each
    # of two 47 occupations), so ambiguous titles and their near variants lean toward the better-attested
    # occupation; "none", 1 per row (benchmarks/README.md compares the two).
    source_weights: str = _hyperparameter("count", choices=SOURCE_WEIGHTS)

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
            problems.append(
                f"char_ngram_min must be <= char_ngram_max, got {self.char_ngram_min}..{self.char_ngram_max}"
            )
        if problems:
            raise ValueError("; ".join(problems))

    def as_dict(self) -> dict:
        return asdict(self)


def pipeline_hyperparameters() -> list[Field]:
    """The hyperparameters the pipeline exposes as parameters of the same name, in declaration order."""
    return [f for f in fields(Hyperparameters) if f.metadata.get(PIPELINE_PARAMETER)]


def build_pipeline(hp: Hyperparameters):
    """An unfitted Pipeline: FeatureUnion(word TF-IDF, char_wb TF-IDF) -> classifier."""
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
        # No probabilities until calibrate() maps its decision values on held-out rows.
        classifier = LinearSVC(
            C=hp.model_c, class_weight=class_weight, max_iter=hp.max_iter, random_state=hp.random_state
        )
    else:
        classifier = LogisticRegression(
            C=hp.model_c, class_weight=class_weight, max_iter=hp.max_iter, random_state=hp.random_state
        )
    return Pipeline([("features", features), ("classifier", classifier)])


def _labels(labels: Sequence[str]) -> np.ndarray:
    return np.asarray(list(labels), dtype=object)  # scikit-learn 1.2's calibration check needs an array


def fit(
    hp: Hyperparameters,
    titles_normalized: Sequence[str],
    labels: Sequence[str],
    weights: Optional[Sequence[float]] = None,
):
    """Fit a pipeline on normalized titles (`weights`: one sample weight per row, default 1).
    A linearsvc pipeline has no predict_proba until calibrate()."""
    y = _labels(labels)
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(f"training data has {len(classes)} major group(s); need at least 2")
    pipeline = build_pipeline(hp)
    sample_weight = None if weights is None else np.asarray(list(weights), dtype=float)
    pipeline.fit(list(titles_normalized), y, classifier__sample_weight=sample_weight)
    return pipeline


def calibrate(fitted, titles_normalized: Sequence[str], labels: Sequence[str]):
    """The fitted pipeline with probabilities: a LinearSVC's decision values mapped by one sigmoid
    (Platt scaling), fitted on `titles_normalized`, rows the SVC was not fitted on, then normalized
    over the major groups. A logistic regression has its own probabilities and is returned as it is.

    Prefit calibration on a validation split replaces the 5-fold cross-validated calibration, which
    fitted the SVC five more times (93% of the Train step). One sigmoid shared by every major group
    (fitted on all groups' decision values, one-vs-rest targets) keeps the SVC's ranking of the groups:
    a sigmoid per group, fitted on a validation split of ~100 occupations, re-ranked them (macro-F1
    0.518 instead of 0.545 on unseen occupations, seed 42) for about the same calibration error (0.022
    against 0.024), and a group without validation rows would have had a flat, near-zero probability.
    """
    from sklearn.calibration import CalibratedClassifierCV, _SigmoidCalibration
    from sklearn.pipeline import Pipeline

    features, classifier = fitted.named_steps["features"], fitted.named_steps["classifier"]
    if not hasattr(classifier, "decision_function") or hasattr(classifier, "predict_proba"):
        return fitted
    y = _labels(labels)
    x = features.transform(list(titles_normalized))
    calibrated = CalibratedClassifierCV(classifier, cv="prefit", method="sigmoid").fit(x, y)
    if len(classifier.classes_) == 2:
        return Pipeline([("features", features), ("classifier", calibrated)])  # one sigmoid already
    # The same calibrator object for every group: plain scikit-learn objects, loadable by the serving image.
    decisions = classifier.decision_function(x)
    targets = (y[:, None] == classifier.classes_[None, :]).astype(float)
    shared = _SigmoidCalibration().fit(decisions.ravel(), targets.ravel())
    for one in calibrated.calibrated_classifiers_:
        one.calibrators = [shared] * len(classifier.classes_)
    return Pipeline([("features", features), ("classifier", calibrated)])


def calibrated_like(fitted, reference):
    """`fitted` (an uncalibrated pipeline) with the probability mapping of `reference` (a calibrate()d
    pipeline of the same hyperparameters and major groups, fitted on part of the same rows).

    The model refit on every row has no rows left that it was not fitted on; its decision values are
    on the scale of the reference's, whose sigmoids were fitted on rows it had not seen.
    """
    import copy

    from sklearn.pipeline import Pipeline

    classifier, mapping = fitted.named_steps["classifier"], reference.named_steps["classifier"]
    if not hasattr(mapping, "calibrated_classifiers_"):
        return fitted
    if [str(c) for c in classifier.classes_] != [str(c) for c in mapping.classes_]:
        raise ValueError(
            f"the refit model's major groups {list(classifier.classes_)} differ from the calibrated model's {list(mapping.classes_)}"
        )
    calibrated = copy.copy(mapping)
    calibrated.estimator = classifier
    calibrated.n_features_in_ = classifier.n_features_in_
    calibrated.calibrated_classifiers_ = []
    for one in mapping.calibrated_classifiers_:
        moved = copy.copy(one)
        moved.estimator = classifier
        calibrated.calibrated_classifiers_.append(moved)
    return Pipeline([("features", fitted.named_steps["features"]), ("classifier", calibrated)])


def predict_proba(model, titles_normalized: Sequence[str], batch_size: int = 20000) -> np.ndarray:
    """Class probabilities (columns in `model.classes_` order), in batches to bound memory."""
    titles = list(titles_normalized)
    n_classes = len(model.classes_)
    if not titles:
        return np.zeros((0, n_classes))
    parts = [model.predict_proba(titles[i : i + batch_size]) for i in range(0, len(titles), batch_size)]
    return np.vstack(parts)


class KnownWords:
    """The single words of a fitted pipeline's word features, and whether a title has one of them.

    A title none of whose words the word vectorizer's vocabulary holds is answered from its characters
    alone: the prediction report counts such titles (text that is not a job title, or a vocabulary the
    model never saw). The words are read from the vocabulary (its n-grams of one word: scikit-learn joins
    longer n-grams with a space) and a title is split with the vectorizer's own preprocessor and
    tokenizer, so the check follows the model's settings; it costs a set look-up per word.
    """

    def __init__(self, vectorizer):
        self.words = frozenset(term for term in vectorizer.vocabulary_ if " " not in term)
        self._preprocess = vectorizer.build_preprocessor()
        self._tokenize = vectorizer.build_tokenizer()

    def __len__(self) -> int:
        return len(self.words)

    def knows_any(self, title_normalized: str) -> bool:
        words = self.words
        return any(token in words for token in self._tokenize(self._preprocess(title_normalized)))


def known_words(pipeline) -> Optional[KnownWords]:
    """The KnownWords of a pipeline built by build_pipeline (its "word" TF-IDF features); None without any."""
    features = getattr(pipeline, "named_steps", {}).get("features")
    for _, transformer in getattr(features, "transformer_list", []):
        if getattr(transformer, "analyzer", None) == "word" and hasattr(transformer, "vocabulary_"):
            return KnownWords(transformer)
    return None


def pack_model_dir(model_dir, archive_path) -> Path:
    """Tar a model directory the way SageMaker does (its contents at the archive root)."""
    target = Path(archive_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(str(target), "w:gz") as archive:
        for entry in sorted(Path(model_dir).iterdir()):
            archive.add(str(entry), arcname=entry.name)
    return target


class ModelArchiveError(StepError, ValueError):
    """A model archive that cannot be used; the message names the file, what is wrong and the fix."""


_ARCHIVE_FIX = "train again, or reject the model version it belongs to (jobclf models reject VERSION)"


def extract_archive(archive_path, dest_dir) -> Path:
    """Extract a model.tar.gz into `dest_dir`: every model archive is read here.

    ModelArchiveError names the archive when it is missing, truncated, not a gzip-compressed tar, or
    has a member that is a link or would land outside `dest_dir`.
    """
    dest = Path(dest_dir).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(str(archive_path), "r:*") as archive:
            members = archive.getmembers()
            for member in members:
                target = (dest / member.name).resolve()
                if not (target == dest or str(target).startswith(str(dest) + os.sep)):
                    raise ModelArchiveError(
                        f"model archive {archive_path}: member {member.name!r} points outside the archive"
                    )
                if member.issym() or member.islnk():
                    raise ModelArchiveError(
                        f"model archive {archive_path}: member {member.name!r} is a link; refusing it"
                    )
            archive.extractall(str(dest), members=members)
    except FileNotFoundError:
        raise ModelArchiveError(f"model archive {archive_path} does not exist: {_ARCHIVE_FIX}") from None
    except EOFError as error:
        raise ModelArchiveError(f"model archive {archive_path} is truncated ({error}): {_ARCHIVE_FIX}") from None
    except (tarfile.TarError, zlib.error, gzip.BadGzipFile) as error:
        raise ModelArchiveError(
            f"model archive {archive_path} is damaged or not a gzip-compressed tar ({error}): {_ARCHIVE_FIX}"
        ) from None
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


def load_model(path, work_dir: Optional[str] = None, model_file: str = MODEL_FILE) -> tuple[KnownTitleClassifier, dict]:
    """(model, model_info or {}) from a model directory, a directory with model.tar.gz, or the archive.

    An archive is extracted into `work_dir` (required then). `model_file` names which model of the
    directory: the served MODEL_FILE, or one of EVALUATED_MODELS; it comes with its known-titles table
    (known_titles.table_file) when the archive has one.
    """
    from pipeline_steps.dataio import read_json

    found = locate_model(path)
    if found.is_file():
        if work_dir is None:
            raise ValueError("load_model needs a work_dir to extract an archive into")
        found = extract_archive(found, work_dir)
    model_path = found / model_file
    if not model_path.is_file():
        raise FileNotFoundError(f"the model archive under {path} holds no {model_file}")
    info_file = found / MODEL_INFO_FILE
    info = read_json(info_file) if info_file.is_file() else {}
    return load(found, model_file), info
