"""Predict in bounded memory: the predict steps' peak memory does not grow with the number of titles.

A behaviour test, not a timing one: each step runs as its processing job runs it (one process) on
100,000 and on 1,000,000 generated titles, and its peak RSS (the process's ru_maxrss) must stay under
a fixed bound and not grow with the input. Before streaming, the steps held every row in memory,
about 2.25 KB per title: 1M titles took 2.5 GB. Timing is left to benchmarks/predict_scale.py.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import predict_scale
import pytest
import steps_fixtures as fx

ROOT = Path(__file__).resolve().parents[2]

GROUP = "jobclf-develop"
# Far below the 2.5 GB the pre-streaming steps needed for 1M titles; well above the ~0.3 GB they need now.
MAX_RSS_MIB = 600
# Peak RSS at 1M titles may exceed the 100k peak by allocator noise only.
MAX_GROWTH = 1.3


@pytest.fixture(scope="module")
def registry_env(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("memory")
    archive = fx.make_model_archive(root / "model")["archive"]
    fx.register_local(root / "registry.json", root / "s3", GROUP, archive)
    return {
        **fx.subprocess_env(),
        "PYTHONPATH": str(ROOT),
        "JOBCLF_LOCAL_REGISTRY": str(root / "registry.json"),
        "JOBCLF_LOCAL_S3_ROOT": str(root / "s3"),
    }


def peak_rss_of_the_steps(count: int, work: Path, env: dict[str, str]) -> dict[str, float]:
    # Half the titles the model's training data lists (answered from it), half not (by the model),
    # distinct enough that each batch predicts thousands of different titles.
    unlisted = [f"{title} {number}" for title in fx.titles_of("") for number in range(1000)]
    predict_scale.write_titles(fx.titles_of(""), unlisted, 0.5, count, work / "input" / "titles.csv")
    preprocess, predict, predictions = predict_scale.step_commands(None, work / "input", work)
    peaks = {
        "preprocess": predict_scale.measure(preprocess, env, work / "preprocess.log").max_rss_mib,
        "predict": predict_scale.measure(predict, env, work / "predict.log").max_rss_mib,
    }
    [part] = list(predictions.rglob("*.csv"))
    with part.open(newline="", encoding="utf-8") as handle:
        assert sum(1 for _ in csv.reader(handle)) == count + 1, "one output row per input row"
    return peaks


def test_peak_memory_stays_bounded_from_100k_to_1m_titles(registry_env, tmp_path):
    small = peak_rss_of_the_steps(100_000, tmp_path / "100k", registry_env)
    large = peak_rss_of_the_steps(1_000_000, tmp_path / "1m", registry_env)
    print(f"peak RSS MiB: 100k {small}, 1M {large}", file=sys.stderr)
    for step in ("preprocess", "predict"):
        assert large[step] < MAX_RSS_MIB, (step, large)
        assert large[step] < small[step] * MAX_GROWTH, (step, small, large)
