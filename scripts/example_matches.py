"""How many titles of an examples file the predictions put in the major group a person expected.

    python scripts/example_matches.py examples/titles.csv .work/predictions.csv

`make run` prints it after predicting examples/titles.csv, e.g.

    examples/titles.csv: 25 of 26 titles in their expected major group; not: 5 Forklift Operator -> 47 (expected 53)

Rows are matched by id; a row without an expected group (the file's deliberately unclassifiable
titles) is not counted. A titles file without the `expected_major_group` column has nothing to compare.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

EXPECTED_COLUMN = "expected_major_group"
SHOWN_MISSES = 3


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def summary(titles_path: Path, predictions_path: Path) -> str:
    titles = read_rows(titles_path)
    if not titles or EXPECTED_COLUMN not in titles[0]:
        return f"{titles_path}: no {EXPECTED_COLUMN} column, nothing to compare the predictions with"
    predicted = {row["id"]: row for row in read_rows(predictions_path)}
    expected = [row for row in titles if row[EXPECTED_COLUMN].strip()]
    missing = [row["id"] for row in expected if row["id"] not in predicted]
    if missing:
        raise SystemExit(f"{predictions_path}: no prediction for id {', '.join(missing)} of {titles_path}")
    misses = [row for row in expected if predicted[row["id"]]["major_group"] != row[EXPECTED_COLUMN].strip()]
    line = f"{titles_path}: {len(expected) - len(misses)} of {len(expected)} titles in their expected major group"
    shown = [
        f"{row['id']} {row['title']} -> {predicted[row['id']]['major_group'] or predicted[row['id']]['rejection_reason']}"
        f" (expected {row[EXPECTED_COLUMN].strip()})"
        for row in misses[:SHOWN_MISSES]
    ]
    if len(misses) > SHOWN_MISSES:
        shown.append(f"{len(misses) - SHOWN_MISSES} more")
    return line + ("; not: " + ", ".join(shown) if shown else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("titles", type=Path, help="the predict input, with an expected_major_group column")
    parser.add_argument("predictions", type=Path, help="the local run's --output")
    args = parser.parse_args()
    print(summary(args.titles, args.predictions))


if __name__ == "__main__":
    main()
