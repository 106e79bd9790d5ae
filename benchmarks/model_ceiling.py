"""How far other model families get on the split by occupation: the evidence behind the model choice.

    .venv/bin/python benchmarks/model_ceiling.py [--onet-dir ../shared/onet/db_28_1_excel]
        [--etl-dir DIR] [--seeds 42,1,2,3,4] [--variants reference,minor-group-labels,...]

`model_benchmark.py` scores the pipeline's own models end to end (calibrated, through inference).
This script asks a different question: does anything in reach of the SageMaker scikit-learn CPU
container beat the default model's family by a margin worth its cost? Each variant is fitted on
the pipeline's own training rows (`train.training_rows`: titles, short titles and the train
occupations' descriptions) and scored by the argmax of its decision function on the same test
rows, one split by occupation per seed. No calibration: calibration changes the argmax little and
triples the fitting time, and every variant is compared with the same uncalibrated reference.

Variants (each one differs from `reference` in one thing):
    reference               the default model's features (`model.build_pipeline`) + LinearSVC
    minor-group-labels      fitted on SOC minor groups (29-1), answer = the minor group's major group
    broad-occupation-labels fitted on SOC broad occupations (29-114), same mapping
    occupation-balanced     sample weights so each occupation's rows weigh about the same (1/sqrt n)
    head-word-markers       extra tokens for the last word (the head noun) and the first word of titles
                            (and short titles; not of descriptions)
    validation-bias         per-group offsets tuned on validation for macro-F1, half applied to test
    word-char-ensemble      one LinearSVC on the word view, one on the character view, decisions averaged
    mlp                     one hidden layer of 128 ReLU units on the same features (scikit-learn MLP)
A benchmark, not a test: nothing fails on a slow machine. About 40 minutes for all variants and seeds
on 2 cores, most of it the MLP.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from model_benchmark import add_data_options, comma_list, mean_sd, splits_by_occupation  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

from pipeline_steps import model as model_lib  # noqa: E402
from pipeline_steps import train  # noqa: E402
from pipeline_steps.dataio import read_labeled_titles  # noqa: E402

DEFAULT = model_lib.Hyperparameters()


@dataclass
class Split:
    rows: train.TrainingRows
    validation: tuple[list[str], list[str]]
    test: tuple[list[str], list[str]]


def features():
    """The default model's feature union, unfitted."""
    return model_lib.build_pipeline(DEFAULT).named_steps["features"]


def linear_fit_predict(texts, labels, test_texts, sample_weight=None):
    union = features()
    classifier = LinearSVC(C=DEFAULT.model_c, max_iter=DEFAULT.max_iter, random_state=DEFAULT.random_state)
    classifier.fit(union.fit_transform(texts), labels, sample_weight=sample_weight)
    return list(classifier.predict(union.transform(test_texts)))


def reference(split: Split) -> list[str]:
    return linear_fit_predict(split.rows.texts, split.rows.labels, split.test[0])


def fine_labels(length: int) -> Callable[[Split], list[str]]:
    def fit_predict(split: Split) -> list[str]:
        fine = [code[:length] for code in split.rows.occupations]
        return [label[:2] for label in linear_fit_predict(split.rows.texts, fine, split.test[0])]

    return fit_predict


def occupation_balanced(split: Split) -> list[str]:
    sizes = Counter(split.rows.occupations)
    weights = np.array([(10.0 / sizes[code]) ** 0.5 for code in split.rows.occupations])
    return linear_fit_predict(split.rows.texts, split.rows.labels, split.test[0], weights)


def with_head_words(text: str) -> str:
    words = text.split()
    return f"{text} headword{words[-1]} firstword{words[0]}" if words else text


def head_word_markers(split: Split) -> list[str]:
    rows = split.rows
    marked = [
        with_head_words(t) if s != "occupation_descriptions" else t
        for t, s in zip(rows.texts, rows.sources, strict=True)
    ]
    return linear_fit_predict(marked, rows.labels, [with_head_words(t) for t in split.test[0]])


def validation_bias(split: Split) -> list[str]:
    union = features()
    classifier = LinearSVC(C=DEFAULT.model_c, max_iter=DEFAULT.max_iter, random_state=DEFAULT.random_state)
    classifier.fit(union.fit_transform(split.rows.texts), split.rows.labels)
    classes = classifier.classes_
    scores = classifier.decision_function(union.transform(split.validation[0]))
    truth = split.validation[1]
    offsets = np.zeros(len(classes))

    def macro_f1(candidate):
        return f1_score(truth, classes[(scores + candidate).argmax(axis=1)], average="macro")

    best = macro_f1(offsets)
    for _ in range(2):  # coordinate ascent over the groups' offsets
        for index in range(len(classes)):
            for step in (-0.3, -0.2, -0.1, 0.1, 0.2, 0.3):
                candidate = offsets.copy()
                candidate[index] += step
                value = macro_f1(candidate)
                if value > best + 1e-4:
                    best, offsets = value, candidate
    # Half the offsets: the validation split holds a tenth of the occupations, so the full ones overfit it.
    return list(classes[(classifier.decision_function(union.transform(split.test[0])) + offsets / 2).argmax(axis=1)])


def word_char_ensemble(split: Split) -> list[str]:
    """One LinearSVC per view (word n-grams, character n-grams), their decision values averaged."""
    total, classes = 0.0, None
    for _, view in features().transformer_list:
        classifier = LinearSVC(C=DEFAULT.model_c, max_iter=DEFAULT.max_iter, random_state=DEFAULT.random_state)
        classifier.fit(view.fit_transform(split.rows.texts), split.rows.labels)
        total = total + classifier.decision_function(view.transform(split.test[0]))
        classes = classifier.classes_
    return list(classes[total.argmax(axis=1)])


def mlp(split: Split) -> list[str]:
    union = features()
    network = MLPClassifier(hidden_layer_sizes=(128,), early_stopping=True, max_iter=30, random_state=0)
    network.fit(union.fit_transform(split.rows.texts), split.rows.labels)
    return list(network.predict(union.transform(split.test[0])))


VARIANTS: dict[str, Callable[[Split], list[str]]] = {
    "reference": reference,
    "minor-group-labels": fine_labels(4),
    "broad-occupation-labels": fine_labels(6),
    "occupation-balanced": occupation_balanced,
    "head-word-markers": head_word_markers,
    "validation-bias": validation_bias,
    "word-char-ensemble": word_char_ensemble,
    "mlp": mlp,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_options(parser)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of {', '.join(VARIANTS)}")
    options = parser.parse_args()
    names = comma_list(options.variants)
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; known: {list(VARIANTS)}")
    results: dict[str, dict[str, list[float]]] = {n: {"macro_f1": [], "accuracy": [], "seconds": []} for n in names}
    with tempfile.TemporaryDirectory(prefix="jobclf-model-ceiling-") as temporary:
        for seed, split_dir, etl_dir in splits_by_occupation(options, Path(temporary)):
            split = Split(
                rows=train.training_rows(split_dir / "occupation_train", etl_dir / "occupations", DEFAULT),
                validation=read_labeled_titles(split_dir / "occupation_validation"),
                test=read_labeled_titles(split_dir / "occupation_test"),
            )
            for name in names:
                started = time.perf_counter()
                predicted = VARIANTS[name](split)
                result = results[name]
                result["seconds"].append(time.perf_counter() - started)
                result["macro_f1"].append(f1_score(split.test[1], predicted, average="macro"))
                result["accuracy"].append(accuracy_score(split.test[1], predicted))
                print(f"seed {seed} {name}: macro-F1 {result['macro_f1'][-1]:.4f}", flush=True)
    base = statistics.mean(results["reference"]["macro_f1"]) if "reference" in results else None
    print(
        f"\nSplit by occupation, seeds {', '.join(map(str, options.seeds))}; argmax of the decision function, uncalibrated.\n"
    )
    print("| variant | macro-F1 | Δ vs reference | accuracy | fit + predict s |")
    print("|---|---|---|---|---|")
    for name, result in results.items():
        delta = f"{statistics.mean(result['macro_f1']) - base:+.3f}" if base is not None else "n/a"
        print(
            f"| {name} | {mean_sd(result['macro_f1'])} | {delta} | {mean_sd(result['accuracy'])} | "
            f"{statistics.mean(result['seconds']):.0f} |"
        )


if __name__ == "__main__":
    main()
