"""Split the ETL's titles into train / validation / test, grouped by occupation.

Every title of an occupation (`onet_soc_code`) lands in the same split, so the test set measures
how well the model generalizes to occupations it never saw, not how well it remembers sibling
titles. Occupations are shuffled within each major group (stratified), with a seeded
numpy RandomState per group: the same seed gives the same split on any machine.

    python -m pipeline_steps preprocess-train --input DIR --output DIR [--seed 1]
        [--validation-fraction 0.1] [--test-fraction 0.2]

writes OUTPUT/{train,validation,test}/<split>.parquet (the input's columns) and
OUTPUT/split_report.json.
"""

from __future__ import annotations

import argparse
import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Optional

import numpy as np

from pipeline_steps.dataio import InputError, count_by, read_parquet_table, write_json, write_parquet

SPLITS = ("train", "validation", "test")
REQUIRED_COLUMNS = ("onet_soc_code", "major_group", "title_normalized")
# Output rows are sorted by these (the ones present) so the files do not depend on part order.
SORT_COLUMNS = ("onet_soc_code", "source", "source_file", "source_row", "title_normalized")
# A major group needs this many occupations before it gives one to validation and test.
MIN_OCCUPATIONS_TO_HOLD_OUT = 3


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
    """{onet_soc_code: split} for every code; depends only on the code sets and the seed."""
    check_fractions(validation_fraction, test_fraction)
    assignment: dict[str, str] = {}
    for group in sorted(codes_by_group):
        codes = sorted(set(codes_by_group[group]))
        order = np.random.RandomState(_group_seed(seed, group)).permutation(len(codes))
        shuffled = [codes[i] for i in order]
        _, n_validation, n_test = split_counts(len(codes), validation_fraction, test_fraction)
        for position, code in enumerate(shuffled):
            if position < n_test:
                split = "test"
            elif position < n_test + n_validation:
                split = "validation"
            else:
                split = "train"
            if code in assignment:
                raise InputError(f"onet_soc_code {code} is listed under two major groups")
            assignment[code] = split
    return assignment


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


def split_table(table, seed: int, validation_fraction: float, test_fraction: float):
    """{split: pyarrow Table} (rows sorted by SORT_COLUMNS) and the {code: split} assignment."""
    import pyarrow as pa
    import pyarrow.compute as pc

    codes = table.column("onet_soc_code").to_pylist()
    groups = table.column("major_group").to_pylist()
    assignment = assign_splits(codes_by_major_group(codes, groups), seed, validation_fraction, test_fraction)
    labels = pa.array([assignment[code] for code in codes])
    sort_keys = [(name, "ascending") for name in SORT_COLUMNS if name in table.column_names]
    parts = {}
    for split in SPLITS:
        part = table.filter(pc.equal(labels, split))
        indices = pc.sort_indices(part, sort_keys=sort_keys, null_placement="at_end")
        parts[split] = part.take(indices)
    return parts, assignment


def split_report(parts, seed: int, validation_fraction: float, test_fraction: float) -> dict:
    report = {
        "seed": seed,
        "validation_fraction": validation_fraction,
        "test_fraction": test_fraction,
        "input_rows": sum(part.num_rows for part in parts.values()),
        "input_occupations": 0,
        "splits": {},
    }
    for split, part in parts.items():
        codes = part.column("onet_soc_code").to_pylist()
        groups = part.column("major_group").to_pylist()
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
        report["input_occupations"] += len(set(codes))
    return report


def run(input_dir, output_dir, seed: int, validation_fraction: float, test_fraction: float) -> dict:
    check_fractions(validation_fraction, test_fraction)
    table = read_parquet_table(input_dir, REQUIRED_COLUMNS)
    parts, _ = split_table(table, seed, validation_fraction, test_fraction)
    output = Path(output_dir)
    for split, part in parts.items():
        write_parquet(part, output / split / f"{split}.parquet")
    report = split_report(parts, seed, validation_fraction, test_fraction)
    write_json(report, output / "split_report.json")
    return report


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="preprocess-train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", default="/opt/ml/processing/input", help="ETL output: a directory of Parquet parts")
    parser.add_argument("--output", default="/opt/ml/processing/output", help="where train/, validation/, test/ go")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    parser.add_argument("--test-fraction", type=float, default=0.2)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    report = run(args.input, args.output, args.seed, args.validation_fraction, args.test_fraction)
    for split in SPLITS:
        part = report["splits"][split]
        print(
            f"{split}: {part['rows']} rows, {part['occupations']} occupations, {len(part['major_groups'])} major groups"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
