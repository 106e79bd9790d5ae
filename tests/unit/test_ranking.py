"""ranking: the top-k major groups of a probability matrix, as records and as CSV columns."""

from __future__ import annotations

import json

import numpy as np

from pipeline_steps import ranking


def top_k(probabilities, classes):
    [best] = ranking.top_k_records(np.asarray([probabilities], dtype=float), classes)
    return best


def test_top_k_orders_ties_by_group_code():
    best = top_k([0.2, 0.4, 0.4, 0.0], ["53", "47", "15", "29"])
    assert [b["major_group"] for b in best] == ["15", "47", "53"]


def test_top_k_with_fewer_classes_than_k():
    assert len(top_k([0.7, 0.3], ["15", "29"])) == 2


def test_ranking_is_the_k_most_probable_groups_ties_lower_code_first():
    rng = np.random.default_rng(1)
    classes = ["53", "11", "29", "15", "47"]
    probabilities = np.round(rng.dirichlet(np.ones(len(classes)), size=300), 2)  # rounding makes ties
    for row, best in zip(probabilities, ranking.top_k_records(probabilities, classes), strict=True):
        expected = sorted(zip(classes, row, strict=True), key=lambda pair: (-pair[1], pair[0]))[: ranking.TOP_K]
        assert [(b["major_group"], b["probability"]) for b in best] == [(c, round(p, 6)) for c, p in expected]


def test_top_k_columns_are_top_k_as_the_csv_writes_it():
    rng = np.random.default_rng(0)
    classes = ["53", "11", "29", "99"]  # not in code order; "99" is no SOC major group (empty title)
    probabilities = rng.dirichlet(np.ones(len(classes)), size=200)
    probabilities[0] = [0.25, 0.25, 0.25, 0.25]  # ties: lower code first
    probabilities[1] = [1 / 3, 1 / 3, 1 / 3, 0.0]
    groups, titles, confidences, top_json = ranking.top_k_columns(probabilities, classes)
    for row, probability in enumerate(probabilities):
        best = top_k(probability, classes)
        assert top_json[row] == json.dumps(best, ensure_ascii=False)
        assert (groups[row], titles[row], confidences[row]) == (
            best[0]["major_group"],
            best[0]["major_group_title"],
            best[0]["probability"],
        )
    assert ranking.top_k_columns(np.zeros((0, 4)), classes) == ([], [], [], [])
