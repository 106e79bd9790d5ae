"""The prediction report's figures on samples that have not shifted and samples that have: where the default
alarm thresholds (config `[defaults.monitoring]`) come from.

    .venv/bin/python benchmarks/drift_thresholds.py [--work-dir .work/local] [--onet-dir DIR] [--seeds 20]
        [--sizes 100 300 1000 3000 10000]
    .venv/bin/python benchmarks/drift_thresholds.py --write-sample SCENARIO ROWS FILE

Uses the latest approved model of a local run's work dir (`make run` leaves one; otherwise this trains one
on --onet-dir first) and its training baseline. For each scenario, size and seed it draws titles, puts them
through the steps' own code in this process (PreprocessPredict's prepare_batch, BatchPredict's
prediction_columns and counts, PredictionReport's merge and build: the figures an execution of that input
gets) and prints, per scenario and size, the median and the largest (or smallest, for shifted samples) of
each figure over the seeds:

Not shifted:
- `onet`: O*NET titles (alternate and occupation titles) drawn uniformly with replacement: answered from
  their O*NET evidence;
- `unlisted`: titles O*NET does not list (another release's, and O*NET titles as job boards write them:
  benchmarks/predict_scale.py): answered by the model;
- `mixed`: half of each.
Shifted:
- `one-group-<G>`: O*NET titles of major group G only (the largest, a middle and the smallest group);
- `not-titles-<P>`: P% of the rows text that is no job title (NOT_TITLES: placeholder text and random
  letters), the rest the `mixed` sample.

A threshold separates the two when it is above every unshifted sample's figure and below every shifted
one's, at the sizes it is judged from.
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from predict_scale import DEFAULT_ONET, DEFAULT_UNLISTED, GROUP, train_model, unlisted_titles  # noqa: E402

from pipeline_steps import predict, prediction_report, preprocess_predict  # noqa: E402
from pipeline_steps.model import known_words  # noqa: E402
from pipeline_steps.titles_input import RowBatch  # noqa: E402

# Placeholder text ("lorem ipsum", Cicero's De finibus as typesetters scramble it) and random letters: what
# forms receive in a title field that is no job title.
LOREM = (
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "eiusmod",
    "tempor",
    "incididunt",
    "labore",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
    "laboris",
    "nisi",
    "aliquip",
    "commodo",
    "consequat",
    "duis",
    "aute",
    "irure",
    "reprehenderit",
    "voluptate",
    "velit",
    "esse",
    "cillum",
    "fugiat",
    "nulla",
    "pariatur",
)
FIGURES = (
    ("PSI", ("drift", "population_stability_index")),
    ("JS", ("drift", "jensen_shannon_distance")),
    ("low conf.", ("low_confidence", "share")),
    ("no known word", ("no_known_word", "share")),
    ("rejected", ("rejected", "share")),
)


def not_a_job_title(rng: random.Random) -> str:
    """One to four words of placeholder text, or of random letters (half each)."""
    count = rng.randint(1, 4)
    if rng.random() < 0.5:
        return " ".join(rng.choice(LOREM) for _ in range(count)).capitalize()
    return " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 9))) for _ in range(count))


def onet_rows(onet_dir: Path, table: str) -> list[dict]:
    """The data rows of one O*NET table (.xlsx or .txt), read without the ETL's code (no Spark)."""
    if (onet_dir / f"{table}.xlsx").is_file():
        import openpyxl

        workbook = openpyxl.load_workbook(onet_dir / f"{table}.xlsx", read_only=True)
        try:
            header, *rows = workbook.worksheets[0].iter_rows(values_only=True)
        finally:
            workbook.close()
        return [dict(zip(header, row, strict=False)) for row in rows]
    import csv

    with (onet_dir / f"{table}.txt").open(encoding="utf-8", errors="replace", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def onet_titles_by_group(onet_dir: Path) -> dict[str, list[str]]:
    """{major group: O*NET titles (alternate and occupation titles)} of an O*NET release (.xlsx or .txt)."""
    by_group: dict[str, list[str]] = {}
    for table, column in (("Alternate Titles", "Alternate Title"), ("Occupation Data", "Title")):
        for row in onet_rows(onet_dir, table):
            if isinstance(row.get(column), str):
                by_group.setdefault(str(row["O*NET-SOC Code"])[:2], []).append(row[column])
    return by_group


def report_of(model, record, baseline, titles: list[str], limits, low_confidence: float, group: str = GROUP) -> dict:
    """The prediction report an execution of `titles` gets (one instance, the model of `group`), through the steps'
    own functions."""
    columns = preprocess_predict.prepare_batch("sample.csv", 1, RowBatch.of([None] * len(titles), titles)).to_pydict()
    signals = predict.QualitySignals(low_confidence, known_words(model.model))
    counts = predict.PartCounts(signals)
    counts.add(columns, predict.prediction_columns(model, columns))
    summary = predict.summarize({"sample.csv": counts.result(0.0)}, None, signals)
    part = predict.instance_report("2026-12-04", "sample", "algo-1", group, record, baseline, summary)
    return prediction_report.build(prediction_report.merge([part]), limits)


def scenarios(by_group: dict[str, list[str]], unlisted: list[str]) -> dict[str, tuple[bool, callable]]:
    """name -> (shifted, draw(rng, n) -> titles)."""
    every = [title for titles in by_group.values() for title in titles]
    sizes = sorted(by_group, key=lambda group: len(by_group[group]))
    chosen = [sizes[-1], sizes[len(sizes) // 2], sizes[0]]

    def mixed(rng: random.Random, n: int) -> list[str]:
        return [rng.choice(every if rng.random() < 0.5 else unlisted) for _ in range(n)]

    def with_junk(share: float):
        return lambda rng, n: [not_a_job_title(rng) if rng.random() < share else title for title in mixed(rng, n)]

    found = {
        "onet": (False, lambda rng, n: [rng.choice(every) for _ in range(n)]),
        "unlisted": (False, lambda rng, n: [rng.choice(unlisted) for _ in range(n)]),
        "mixed": (False, mixed),
    }
    for group in chosen:
        found[f"one-group-{group}"] = (
            True,
            lambda rng, n, titles=by_group[group]: [rng.choice(titles) for _ in range(n)],
        )
    for percent in (10, 30):
        found[f"not-titles-{percent}%"] = (True, with_junk(percent / 100))
    return found


def write_sample(args: argparse.Namespace, scenario: str, rows: str, path: str) -> None:
    """One sample of `scenario` (seed 0), `rows` titles, as an RFC 4180 CSV (csv_dialect) with a title column."""
    from pipeline_steps import csv_dialect

    by_group = onet_titles_by_group(args.onet_dir)
    every = [title for titles in by_group.values() for title in titles]
    found = scenarios(by_group, unlisted_titles(every, args.unlisted_from, 20_000))
    if scenario not in found:
        raise SystemExit(f"--write-sample: no scenario {scenario!r}; there are {', '.join(found)}")
    titles = found[scenario][1](random.Random(0), int(rows))
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv_dialect.writer(handle).writerows([["title"], *([title] for title in titles)])
    print(f"{path}: {len(titles)} titles of scenario {scenario}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, default=ROOT / ".work" / "local")
    parser.add_argument("--onet-dir", type=Path, default=DEFAULT_ONET)
    parser.add_argument("--unlisted-from", type=Path, default=DEFAULT_UNLISTED)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000, 3000, 10000])
    parser.add_argument(
        "--write-sample",
        nargs=3,
        metavar=("SCENARIO", "ROWS", "FILE"),
        help="only write one sample (seed 0) of a scenario as a CSV with a title column, e.g. to "
        "run `python -m workflow.local --use-type predict` on it",
    )
    args = parser.parse_args()
    if args.write_sample:
        write_sample(args, *args.write_sample)
        return

    import os

    from config import load_environment

    monitoring = load_environment("develop").monitoring
    limits = prediction_report.Limits.of(monitoring)
    os.environ.update(train_model(args.onet_dir, args.work_dir))
    with tempfile.TemporaryDirectory() as work:
        model, record, baseline = predict.load_latest_model(GROUP, work)
    by_group = onet_titles_by_group(args.onet_dir)
    every = [title for titles in by_group.values() for title in titles]
    unlisted = unlisted_titles(every, args.unlisted_from, 20_000)
    print(
        f"model version {record.version}: {baseline.rows} training titles in {len(baseline.major_groups)} major groups; "
        f"{len(every)} O*NET titles, {len(unlisted)} unlisted; {args.seeds} seeds; thresholds {limits}"
    )
    print(f"{'scenario':<18}{'rows':>7}  " + "  ".join(f"{name + ' med/worst':>22}" for name, _ in FIGURES))
    for name, (shifted, draw) in scenarios(by_group, unlisted).items():
        for size in args.sizes:
            reports = [
                report_of(model, record, baseline, draw(random.Random(seed), size), limits, monitoring.low_confidence)
                for seed in range(args.seeds)
            ]
            cells = []
            for _, (section, key) in FIGURES:
                values = [r[section][key] for r in reports]
                worst = min(values) if shifted else max(values)  # the value nearest the wrong side of a threshold
                cells.append(f"{statistics.median(values):>10.4f}/{worst:<11.4f}")
            print(f"{name:<18}{size:>7}  " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
