"""preprocess-train: the grouped, stratified, seeded split and its files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import steps_fixtures as fx
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_steps import preprocess_train as pt
from pipeline_steps.errors import InputError


def read_split(output: Path, split: str):
    files = list((output / split).glob("*.parquet"))
    assert len(files) == 1, f"{split} must be one Parquet file"
    return pq.read_table(str(files[0]))


def test_split_keeps_every_row_and_each_occupation_in_one_split(tmp_path):
    fx.write_etl(tmp_path / "etl")
    report = pt.run(tmp_path / "etl", tmp_path / "out", seed=1, validation_fraction=0.25, test_fraction=0.25)

    tables = {split: read_split(tmp_path / "out", split) for split in pt.OCCUPATION_SPLITS}
    codes = {split: set(t.column("onet_soc_code").to_pylist()) for split, t in tables.items()}
    assert not (codes["occupation_train"] & codes["occupation_test"])
    assert not (codes["occupation_train"] & codes["occupation_validation"])
    assert not (codes["occupation_validation"] & codes["occupation_test"])
    assert set().union(*codes.values()) == set(fx.OCCUPATIONS)
    assert sum(t.num_rows for t in tables.values()) == len(fx.etl_rows()["title"])
    for table in tables.values():
        assert table.column_names == list(fx.COLUMNS)
    # Every major group (4 occupations each) has an occupation in test and in validation.
    groups = {code[:2] for code in fx.OCCUPATIONS}
    for split in pt.OCCUPATION_SPLITS:
        assert {c[:2] for c in codes[split]} == groups

    saved = json.loads((tmp_path / "out" / "split_report.json").read_text())
    assert saved == report
    assert saved["input_rows"] == sum(t.num_rows for t in tables.values())
    assert saved["input_occupations"] == len(fx.OCCUPATIONS)
    assert saved["splits"]["occupation_test"]["occupations"] == len(codes["occupation_test"])
    assert saved["splits"]["occupation_test"]["major_groups"]["15"]["occupations"] == 1


def test_same_seed_same_files_other_seed_other_split(tmp_path):
    fx.write_etl(tmp_path / "etl", parts=3)
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        pt.run(tmp_path / "etl", tmp_path / name, seed=seed, validation_fraction=0.25, test_fraction=0.25)
    for split in pt.OCCUPATION_SPLITS:
        assert read_split(tmp_path / "a", split).equals(read_split(tmp_path / "b", split))
    test_a = set(read_split(tmp_path / "a", "occupation_test").column("onet_soc_code").to_pylist())
    test_c = set(read_split(tmp_path / "c", "occupation_test").column("onet_soc_code").to_pylist())
    assert test_a != test_c


def test_split_does_not_depend_on_part_order(tmp_path):
    rows = fx.etl_rows()
    reversed_rows = {name: list(reversed(values)) for name, values in rows.items()}
    fx.write_etl(tmp_path / "one", rows=rows)
    fx.write_etl(tmp_path / "two", rows=reversed_rows, parts=4)
    pt.run(tmp_path / "one", tmp_path / "a", seed=3, validation_fraction=0.1, test_fraction=0.2)
    pt.run(tmp_path / "two", tmp_path / "b", seed=3, validation_fraction=0.1, test_fraction=0.2)
    for split in pt.OCCUPATION_SPLITS:
        assert read_split(tmp_path / "a", split).equals(read_split(tmp_path / "b", split))


@pytest.mark.parametrize(
    "n, expected",
    [
        (0, (0, 0, 0)),
        (1, (1, 0, 0)),
        (2, (2, 0, 0)),
        (3, (1, 1, 1)),
        (4, (2, 1, 1)),
        (10, (7, 1, 2)),
        (100, (70, 10, 20)),
    ],
)
def test_split_counts(n, expected):
    assert pt.split_counts(n, 0.1, 0.2) == expected


def test_split_counts_without_validation():
    assert pt.split_counts(5, 0.0, 0.2) == (4, 0, 1)


@pytest.mark.parametrize("validation, test", [(-0.1, 0.2), (0.5, 0.5), (0.1, 1.0), (float("nan"), 0.2)])
def test_bad_fractions_are_refused(validation, test):
    with pytest.raises(ValueError, match="fraction"):
        pt.check_fractions(validation, test)


codes_strategy = st.dictionaries(
    keys=st.from_regex(r"(1[13579]|2[13579]|3[13579]|4[13579]|5[135])-\d{4}\.\d{2}", fullmatch=True),
    values=st.just(None),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(codes=codes_strategy, seed=st.integers(min_value=0, max_value=2**31 - 1))
def test_assignment_properties(codes, seed):
    by_group = {}
    for code in codes:
        by_group.setdefault(code[:2], []).append(code)
    assignment = pt.assign_splits(by_group, seed, 0.1, 0.2)
    assert set(assignment) == set(codes)  # every occupation in exactly one split
    assert set(assignment.values()) <= set(pt.ROLES)
    # Deterministic, and independent of the order the codes come in.
    shuffled = {group: list(reversed(group_codes)) for group, group_codes in by_group.items()}
    assert pt.assign_splits(shuffled, seed, 0.1, 0.2) == assignment
    for group_codes in by_group.values():
        splits = [assignment[c] for c in group_codes]
        if len(group_codes) >= 3:
            assert "test" in splits and "train" in splits
        else:
            assert set(splits) == {"train"}


def test_empty_input_directory_is_named(tmp_path):
    (tmp_path / "etl").mkdir()
    (tmp_path / "etl" / "_SUCCESS").write_bytes(b"")
    with pytest.raises(InputError, match=str(tmp_path / "etl")):
        pt.run(tmp_path / "etl", tmp_path / "out", 1, 0.1, 0.2)


def test_missing_directory_is_named(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        pt.run(tmp_path / "nowhere", tmp_path / "out", 1, 0.1, 0.2)


def test_missing_column_is_named(tmp_path):
    rows = fx.etl_rows()
    del rows["major_group"]
    target = tmp_path / "etl"
    target.mkdir()
    import pyarrow as pa

    pq.write_table(pa.table(rows), str(target / "part-0.parquet"))
    with pytest.raises(InputError, match="major_group"):
        pt.run(target, tmp_path / "out", 1, 0.1, 0.2)


def test_parts_without_rows_are_an_error(tmp_path):
    rows = {name: [] for name in fx.COLUMNS}
    fx.write_etl(tmp_path / "etl", parts=1, rows=rows)
    with pytest.raises(InputError, match="no rows"):
        pt.run(tmp_path / "etl", tmp_path / "out", 1, 0.1, 0.2)


def test_code_with_two_major_groups_is_an_error():
    with pytest.raises(InputError, match="15-1252.00"):
        pt.codes_by_major_group(["15-1252.00", "15-1252.00"], ["15", "29"])


def test_main_prints_a_summary(tmp_path, capsys):
    fx.write_etl(tmp_path / "etl")
    assert pt.main(["--input", str(tmp_path / "etl"), "--output", str(tmp_path / "out"), "--seed", "2"]) == 0
    assert "test:" in capsys.readouterr().out
    assert (tmp_path / "out" / "split_report.json").is_file()


@pytest.mark.parametrize(
    "title, key",
    [
        ("senior accountants", "accountant"),
        ("sr accountant", "accountant"),
        ("accountant ii", "accountant"),
        ("lead nurse staff", "nurse"),
        ("sales manager", "manager sale"),
        ("manager sales", "manager sale"),
        ("business", "business"),  # -ss is no plural
        ("nurses aides", "aide nurse"),
        ("glass", "glass"),
        ("senior", "senior"),  # nothing left: the title itself
    ],
)
def test_near_duplicate_key(title, key):
    assert pt.near_duplicate_key(title) == key


def test_split_by_title_trains_every_occupation_and_tests_no_near_duplicate(tmp_path):
    rows = fx.etl_rows()
    # Near-duplicates of fixture titles: whichever split their key lands in, they land together.
    for code, title in (("29-1141.00", "Senior Registered Nurses"), ("47-2111.00", "Electrician II")):
        for column in rows.values():
            column.append(column[0])
        rows["onet_soc_code"][-1], rows["title"][-1] = code, title
        rows["title_normalized"][-1], rows["major_group"][-1] = fx.normalize_title(title), code[:2]
        rows["source"][-1], rows["source_row"][-1] = "alternate_title", 1000 + len(rows["title"])
    fx.write_etl(tmp_path / "etl", rows=rows)
    report = pt.run(tmp_path / "etl", tmp_path / "out", seed=3, validation_fraction=0.1, test_fraction=0.2)

    tables = {split: read_split(tmp_path / "out", split) for split in pt.TITLE_SPLITS}
    assert sum(t.num_rows for t in tables.values()) == len(rows["title"]) == report["input_rows"]
    keys = {
        split: {pt.near_duplicate_key(t) for t in table.column("title_normalized").to_pylist()}
        for split, table in tables.items()
    }
    assert not (keys["title_train"] & keys["title_test"]) and not (keys["title_train"] & keys["title_validation"])
    assert keys["title_test"] and keys["title_validation"]
    train = tables["title_train"]
    assert set(train.column("onet_soc_code").to_pylist()) == set(fx.OCCUPATIONS)  # every occupation trains
    occupation_titles = [t for t, s in zip(rows["title"], rows["source"], strict=True) if s == "occupation_title"]
    assert set(occupation_titles) <= set(train.column("title").to_pylist())
    for split in pt.TITLE_SPLITS:
        assert report["splits"][split]["rows"] == tables[split].num_rows
    # Registered Nurse (an alternate title) and Senior Registered Nurses share a split.
    nurse = {
        s
        for s, t in tables.items()
        if {"Registered Nurse", "Senior Registered Nurses"} & set(t.column("title").to_pylist())
    }
    assert len(nurse) == 1
