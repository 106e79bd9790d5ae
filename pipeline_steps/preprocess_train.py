"""Split the ETL's titles twice into train / validation / test: by occupation and by title.

By occupation (train, validation, test): every title of an occupation (`onet_soc_code`) lands in
the same split, so the test set measures how well the model does on occupations it never saw (the
stress figure, and the quality gate's). Occupations are shuffled within each major group
(stratified), with a seeded numpy RandomState per group: the same seed gives the same split on any
machine.

By title (title_train, title_validation, title_test): every occupation stays in training (its
O*NET occupation title always trains), and the alternate titles are split by their near-duplicate
key (`near_duplicate_key`: the same words after dropping a plural s and seniority words), so no
test title has a near-duplicate in training. It measures what users mostly send: new titles of
known occupations (the headline figure). Keys are shuffled within the major group of their first
row, with the same seeded shuffle and shares as the occupations.

    python -m pipeline_steps preprocess-train --input DIR --output DIR [--seed 42]
        [--validation-fraction 0.1] [--test-fraction 0.2]

writes OUTPUT/<split>/<split>.parquet (the input's columns) for each of OCCUPATION_SPLITS and TITLE_SPLITS,
and OUTPUT/split_report.json.
"""

from __future__ import annotations

import argparse
import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Optional

import numpy as np

from pipeline_steps.dataio import count_by, read_parquet_table, write_json, write_parquet
from pipeline_steps.errors import InputError
from pipeline_steps.etl_tables import (
    MAJOR_GROUP,
    OCCUPATION_TITLE_SOURCE,
    ONET_SOC_CODE,
    SOURCE,
    SOURCE_FILE,
    SOURCE_ROW,
    TITLE_NORMALIZED,
)

# What a split's rows are for; the data are split twice, so each split is named by what it splits on.
ROLES = ("train", "validation", "test")
OCCUPATION_SPLITS = tuple(f"occupation_{role}" for role in ROLES)  # unseen occupations: the quality gate's
TITLE_SPLITS = tuple(f"title_{role}" for role in ROLES)  # unseen titles of known occupations: the headline
# Words that say how senior, not what the job is: "Senior Accountant" is a near-duplicate of "Accountant".
SENIORITY_WORDS = frozenset(
    [
        "senior",
        "sr",
        "junior",
        "jr",
        "lead",
        "principal",
        "staff",
        "entry",
        "level",
        "trainee",
        "apprentice",
        "journeyman",
        "master",
        "i",
        "ii",
        "iii",
        "iv",
        "1",
        "2",
        "3",
    ]
)
REQUIRED_COLUMNS = (ONET_SOC_CODE, MAJOR_GROUP, TITLE_NORMALIZED)
# Output rows are sorted by these (the ones present) so the files do not depend on part order.
SORT_COLUMNS = (ONET_SOC_CODE, SOURCE, SOURCE_FILE, SOURCE_ROW, TITLE_NORMALIZED)
# A major group needs this many occupations before it gives one to validation and test.
MIN_OCCUPATIONS_TO_HOLD_OUT = 3
# The split's defaults, which the pipeline's split_seed, validation_fraction and test_fraction parameters
# declare as theirs (workflow/definition/parameters.py): the step run by hand splits as the pipeline does.
DEFAULT_SEED = 42
DEFAULT_VALIDATION_FRACTION = 0.1
DEFAULT_TEST_FRACTION = 0.2


def split_counts(n: int, validation_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """(train, validation, test) occupation counts for a major group of `n` occupations.

    Groups of 3 or more occupations give at least one to test (and to validation when its
    fraction is above zero) and always keep at least one for training.
    """
    if n < MIN_OCCUPATIONS_TO_HOLD_OUT:
        return n, 0, 0

    def share(fraction: float) -> int:
        return max(1, int(math.floor(n * fraction + 0.5))) if fraction > 0 else 0

    n_test, n_validation = share(test_fraction), share(validation_fraction)
    while n - n_test - n_validation < 1:
        if n_validation > 0:
            n_validation -= 1
        else:
            n_test -= 1
    return n - n_test - n_validation, n_validation, n_test


def _group_seed(seed: int, major_group: str) -> int:
    return zlib.crc32(f"{seed}:{major_group}".encode())


def assign_splits(
    codes_by_group: Mapping[str, Iterable[str]],
    seed: int,
    validation_fraction: float,
    test_fraction: float,
) -> dict[str, str]:
    """{code: role} for every code (a role of ROLES); depends only on the code sets and the seed."""
    check_fractions(validation_fraction, test_fraction)
    assignment: dict[str, str] = {}
    for group in sorted(codes_by_group):
        codes = sorted(set(codes_by_group[group]))
        order = np.random.RandomState(_group_seed(seed, group)).permutation(len(codes))
        shuffled = [codes[i] for i in order]
        _, n_validation, n_test = split_counts(len(codes), validation_fraction, test_fraction)
        for position, code in enumerate(shuffled):
            if position < n_test:
                role = "test"
            elif position < n_test + n_validation:
                role = "validation"
            else:
                role = "train"
            if code in assignment:
                raise InputError(f"onet_soc_code {code} is listed under two major groups")
            assignment[code] = role
    return assignment


def near_duplicate_key(title_normalized: str) -> str:
    """The words of a normalized title, sorted, without seniority words and with a plural s dropped
    ("sr accountants" and "accountant" share "accountant"); the title itself when nothing is left."""
    words = []
    for word in title_normalized.split():
        if word in SENIORITY_WORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.append(word)
    return " ".join(sorted(words)) or title_normalized


def assign_title_splits(
    keys: Sequence[str],
    groups: Sequence[str],
    sources: Sequence[str],
    seed: int,
    validation_fraction: float,
    test_fraction: float,
) -> list[str]:
    """The split of each row (by title): rows of one near-duplicate key share a split, and a key that
    holds an occupation's own title trains, so every occupation is in training."""
    check_fractions(validation_fraction, test_fraction)
    training_keys = {key for key, source in zip(keys, sources) if source == OCCUPATION_TITLE_SOURCE}
    group_of_key: dict[str, str] = {}
    for key, group in zip(keys, groups):
        group_of_key.setdefault(key, group)
    keys_by_group: dict[str, list[str]] = {}
    for key, group in group_of_key.items():
        if key not in training_keys:
            keys_by_group.setdefault(group, []).append(key)
    assignment = assign_splits(keys_by_group, seed, validation_fraction, test_fraction)
    return ["title_" + (assignment.get(key) or "train") for key in keys]


def check_fractions(validation_fraction: float, test_fraction: float) -> None:
    for name, value in (("validation fraction", validation_fraction), ("test fraction", test_fraction)):
        if not (0.0 <= value < 1.0) or math.isnan(value):
            raise ValueError(f"{name} must be in [0, 1), got {value}")
    if validation_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"validation fraction + test fraction must be below 1, got {validation_fraction} + {test_fraction}"
        )


def codes_by_major_group(codes: Sequence[str], groups: Sequence[str]) -> dict[str, list[str]]:
    """Group the codes; a code that carries two different major groups is an input error."""
    group_of: dict[str, str] = {}
    for code, group in zip(codes, groups):
        if code is None or group is None:
            raise InputError("onet_soc_code and major_group must not be null")
        known = group_of.setdefault(code, group)
        if known != group:
            raise InputError(f"onet_soc_code {code} has two major groups: {known} and {group}")
    result: dict[str, list[str]] = {}
    for code, group in group_of.items():
        result.setdefault(group, []).append(code)
    return result


def split_table_by_occupation(table, seed: int, validation_fraction: float, test_fraction: float):
    """{occupation split: pyarrow Table} (rows sorted by SORT_COLUMNS) and the {code: role} assignment."""
    import pyarrow as pa
    import pyarrow.compute as pc

    codes = table.column(ONET_SOC_CODE).to_pylist()
    groups = table.column(MAJOR_GROUP).to_pylist()
    assignment = assign_splits(codes_by_major_group(codes, groups), seed, validation_fraction, test_fraction)
    labels = pa.array(["occupation_" + assignment[code] for code in codes])
    sort_keys = [(name, "ascending") for name in SORT_COLUMNS if name in table.column_names]
    parts = {}
    for split in OCCUPATION_SPLITS:
        part = table.filter(pc.equal(labels, split))
        indices = pc.sort_indices(part, sort_keys=sort_keys, null_placement="at_end")
        parts[split] = part.take(indices)
    return parts, assignment


def split_table_by_title(table, seed: int, validation_fraction: float, test_fraction: float):
    """{title split: pyarrow Table} (rows sorted by SORT_COLUMNS)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    titles = table.column(TITLE_NORMALIZED).to_pylist()
    keys = [near_duplicate_key(title or "") for title in titles]
    groups = table.column(MAJOR_GROUP).to_pylist()
    sources = table.column(SOURCE).to_pylist() if SOURCE in table.column_names else [None] * len(keys)
    labels = pa.array(assign_title_splits(keys, groups, sources, seed, validation_fraction, test_fraction))
    sort_keys = [(name, "ascending") for name in SORT_COLUMNS if name in table.column_names]
    parts = {}
    for split in TITLE_SPLITS:
        part = table.filter(pc.equal(labels, split))
        parts[split] = part.take(pc.sort_indices(part, sort_keys=sort_keys, null_placement="at_end"))
    return parts


def split_report(parts, seed: int, validation_fraction: float, test_fraction: float) -> dict:
    report = {
        "seed": seed,
        "validation_fraction": validation_fraction,
        "test_fraction": test_fraction,
        "input_rows": sum(parts[split].num_rows for split in OCCUPATION_SPLITS),
        "input_occupations": 0,
        "splits": {},
    }
    for split, part in parts.items():
        codes = part.column(ONET_SOC_CODE).to_pylist()
        groups = part.column(MAJOR_GROUP).to_pylist()
        rows_by_group = count_by(groups)
        occupations_by_group = count_by(group for _, group in set(zip(codes, groups)))
        report["splits"][split] = {
            "rows": part.num_rows,
            "occupations": len(set(codes)),
            "major_groups": {
                group: {"rows": rows_by_group[group], "occupations": occupations_by_group[group]}
                for group in rows_by_group
            },
        }
        if split in OCCUPATION_SPLITS:
            report["input_occupations"] += len(set(codes))
    return report


def run(input_dir, output_dir, seed: int, validation_fraction: float, test_fraction: float) -> dict:
    check_fractions(validation_fraction, test_fraction)
    table = read_parquet_table(input_dir, REQUIRED_COLUMNS)
    parts, _ = split_table_by_occupation(table, seed, validation_fraction, test_fraction)
    parts.update(split_table_by_title(table, seed, validation_fraction, test_fraction))
    output = Path(output_dir)
    for split, part in parts.items():
        write_parquet(part, output / split / f"{split}.parquet")
    report = split_report(parts, seed, validation_fraction, test_fraction)
    write_json(report, output / "split_report.json")
    return report


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="preprocess-train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", default="/opt/ml/processing/input", help="ETL output: a directory of Parquet parts")
    parser.add_argument("--output", default="/opt/ml/processing/output", help="where the splits' folders go")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--validation-fraction", type=float, default=DEFAULT_VALIDATION_FRACTION)
    parser.add_argument("--test-fraction", type=float, default=DEFAULT_TEST_FRACTION)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    report = run(args.input, args.output, args.seed, args.validation_fraction, args.test_fraction)
    for split in OCCUPATION_SPLITS + TITLE_SPLITS:
        part = report["splits"][split]
        print(
            f"{split}: {part['rows']} rows, {part['occupations']} occupations, {len(part['major_groups'])} major groups"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
