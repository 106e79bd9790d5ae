"""drift: the population stability index and the Jensen-Shannon distance of two major-group distributions."""

from __future__ import annotations

import math
import random

import pytest

from pipeline_steps import drift


def test_the_same_distribution_is_no_drift_whatever_the_counts():
    expected = {"11": 200, "29": 600, "53": 200}
    actual = {"11": 2, "29": 6, "53": 2}  # the same shares from a hundredth of the rows
    assert drift.jensen_shannon_distance(expected, actual) == pytest.approx(0.0, abs=1e-12)
    # Smoothing adds 0.5 rows to each group of both sides, so the shares differ a little for 10 rows.
    assert drift.population_stability_index(expected, actual) == pytest.approx(0.0, abs=0.01)
    assert drift.population_stability_index(expected, expected) == pytest.approx(0.0, abs=1e-12)


def test_population_stability_index_is_the_documented_sum_over_smoothed_shares():
    expected, actual = {"a": 50, "b": 50}, {"a": 90, "b": 10}
    e = [(50 + 0.5) / 101, (50 + 0.5) / 101]
    a = [(90 + 0.5) / 101, (10 + 0.5) / 101]
    by_hand = sum((a_i - e_i) * math.log(a_i / e_i) for e_i, a_i in zip(e, a, strict=True))
    assert drift.population_stability_index(expected, actual) == pytest.approx(by_hand, rel=1e-12)
    assert by_hand == pytest.approx(0.396 * math.log(0.896 / 0.5) - 0.396 * math.log(0.104 / 0.5), abs=1e-3)


def test_an_empty_group_on_either_side_keeps_the_index_finite():
    """Without smoothing ln(a / e) of a group with no row on one side is infinite."""
    psi = drift.population_stability_index({"11": 100, "29": 100}, {"29": 40, "53": 60})
    assert math.isfinite(psi) and psi > 1.0


def test_jensen_shannon_distance_in_base_2_by_hand():
    # P = (1, 0), Q = (1/2, 1/2): M = (3/4, 1/4); KL(P||M) = log2(4/3); KL(Q||M) = (log2(2/3) + log2(2)) / 2.
    divergence = (math.log2(4 / 3) + (math.log2(2 / 3) + 1) / 2) / 2
    assert drift.jensen_shannon_distance({"a": 10, "b": 10}, {"a": 7}) == pytest.approx(math.sqrt(divergence))
    assert drift.jensen_shannon_distance({"a": 5}, {"b": 5}) == pytest.approx(1.0)  # nothing in common


def test_no_figure_for_an_empty_side():
    assert drift.population_stability_index({}, {"11": 3}) is None
    assert drift.jensen_shannon_distance({"11": 3}, {}) is None


def test_sampling_alone_gives_about_groups_minus_one_over_rows():
    """The module's claim: n times the PSI of a sample of n rows from the expected distribution is about
    chi-squared with B - 1 degrees of freedom (mean B - 1)."""
    rng = random.Random(3)
    groups = [f"{g:02d}" for g in range(11, 57, 2)]  # 23 groups
    weights = [rng.uniform(0.5, 3.0) for _ in groups]
    expected = {g: round(100_000 * w / sum(weights)) for g, w in zip(groups, weights, strict=True)}
    n, runs = 2000, 60
    mean = (
        sum(drift.population_stability_index(expected, _counts(rng.choices(groups, weights, k=n))) for _ in range(runs))
        / runs
    )
    assert n * mean == pytest.approx(len(groups) - 1, rel=0.25)


def _counts(values: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts
