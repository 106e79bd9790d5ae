"""How far one distribution of major groups is from another: the population stability index and the
Jensen-Shannon distance, over the same bins (the major groups).

Both compare an *expected* distribution (the model's own training titles, by major group) with an
*actual* one (the major groups a predict execution answered), from counts:

- Population stability index (PSI): sum over the groups of (a - e) * ln(a / e), with a and e the
  actual and expected shares: the symmetric Kullback-Leibler divergence (Jeffreys' J-divergence) of the
  two (Yurdakul, B., 2018, "Statistical Properties of Population Stability Index", PhD dissertation,
  Western Michigan University; the rule of thumb of credit scoring reads below 0.1 as stable and above
  0.25 as a significant shift: Siddiqi, N., 2006, "Credit Risk Scorecards", Wiley). A group with no row on
  one side makes ln(a / e) infinite, so both sides' counts are smoothed first: SMOOTHING rows are added
  to every group (Lidstone's law with lambda = 0.5, the Jeffreys-Perks law: Manning, C. and Schütze, H.,
  1999, "Foundations of Statistical Natural Language Processing", MIT Press, section 6.2.2). Against a
  training baseline of tens of thousands of rows this changes the expected shares by less than 0.001.
- Jensen-Shannon distance: the square root of the Jensen-Shannon divergence with base-2 logarithms,
  a metric between 0 (the same distribution) and 1 (no group in common) (Lin, J., 1991, "Divergence
  measures based on the Shannon entropy", IEEE Transactions on Information Theory 37(1); Endres, D. and
  Schindelin, J., 2003, "A new metric for probability distributions", IEEE Transactions on Information
  Theory 49(7)), computed by scipy.spatial.distance.jensenshannon on the unsmoothed shares: it is
  finite with empty groups.

Sampling alone moves both, and the rule of thumb ignores the sample's size (Potgieter, C. J. et al., 2023,
"The Population Resemblance Statistic: A Chi-Square Measure of Fit for Banking", arXiv:2307.11878): with
B groups and n actual rows drawn from a known expected distribution, n times the PSI is asymptotically
chi-squared with B - 1 degrees of freedom, as Pearson's statistic is, so its mean is about (B - 1) / n
(0.022 for 23 groups and 1,000 rows). The prediction report judges drift only from a configured number of
rows on (config `monitoring.min_rows_for_drift`), and the thresholds come from measured samples
(benchmarks/drift_thresholds.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Optional

SMOOTHING = 0.5  # rows added to every group before the PSI's logarithms (Jeffreys-Perks)


def shares(counts: Mapping[str, float], groups: Iterable[str], smoothing: float = 0.0) -> list[float]:
    """The share of each of `groups` (in that order) in `counts`, with `smoothing` rows added to each."""
    ordered = list(groups)
    total = sum(counts.get(group, 0) for group in ordered) + smoothing * len(ordered)
    if total <= 0:
        raise ValueError("a distribution needs at least one row")
    return [(counts.get(group, 0) + smoothing) / total for group in ordered]


def bins(expected: Mapping[str, float], actual: Mapping[str, float]) -> list[str]:
    """The groups both distributions are compared over: every group either side names, sorted."""
    return sorted(set(expected) | set(actual), key=str)


def population_stability_index(expected: Mapping[str, float], actual: Mapping[str, float]) -> Optional[float]:
    """PSI of the actual counts against the expected counts (smoothed); None when either side is empty."""
    groups = bins(expected, actual)
    if not sum(expected.values()) or not sum(actual.values()):
        return None
    e, a = shares(expected, groups, SMOOTHING), shares(actual, groups, SMOOTHING)
    return sum((a_i - e_i) * math.log(a_i / e_i) for e_i, a_i in zip(e, a))


def jensen_shannon_distance(expected: Mapping[str, float], actual: Mapping[str, float]) -> Optional[float]:
    """Jensen-Shannon distance (base 2, from 0 to 1) of the two distributions; None when either side is empty."""
    from scipy.spatial.distance import jensenshannon

    groups = bins(expected, actual)
    if not sum(expected.values()) or not sum(actual.values()):
        return None
    # scipy returns a numpy float; a distance of identical inputs can come out as a tiny NaN-free negative zero.
    return abs(float(jensenshannon(shares(expected, groups), shares(actual, groups), base=2)))
