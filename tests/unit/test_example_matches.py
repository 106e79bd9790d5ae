"""scripts/example_matches.py: the line `make run` ends with, counted from the predictions file."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
spec = importlib.util.spec_from_file_location("example_matches", ROOT / "scripts" / "example_matches.py")
example_matches = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example_matches)

HEADER = "id,id_generated,title,major_group,major_group_title,confidence,top3,rejection_reason,source_file,source_row\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def titles(tmp_path) -> Path:
    return write(
        tmp_path / "titles.csv",
        "id,title,expected_major_group\n1,Registered Nurse,29\n2,Forklift Operator,53\n3,Roofer,47\n4,,\n",
    )


def test_counts_the_titles_in_their_expected_group_and_names_the_others(titles, tmp_path):
    predictions = write(
        tmp_path / "p.csv",
        HEADER + "1,false,Registered Nurse,29,,0.9,[],,t,2\n"
        "2,false,Forklift Operator,47,,0.5,[],,t,3\n"
        "3,false,Roofer,47,,0.8,[],,t,4\n4,false,,,,,[],empty_title,t,5\n",
    )
    assert example_matches.summary(titles, predictions) == (
        f"{titles}: 2 of 3 titles in their expected major group; not: 2 Forklift Operator -> 47 (expected 53)"
    )


def test_a_rejected_title_shows_its_reason(titles, tmp_path):
    predictions = write(
        tmp_path / "p.csv",
        HEADER + "1,false,Registered Nurse,29,,0.9,[],,t,2\n"
        "2,false,Forklift Operator,,,,[],title_too_long,t,3\n"
        "3,false,Roofer,47,,0.8,[],,t,4\n",
    )
    assert example_matches.summary(titles, predictions).endswith(
        "not: 2 Forklift Operator -> title_too_long (expected 53)"
    )


def test_a_missing_prediction_is_an_error_and_no_expected_column_is_said(titles, tmp_path):
    predictions = write(tmp_path / "p.csv", HEADER + "1,false,Registered Nurse,29,,0.9,[],,t,2\n")
    with pytest.raises(SystemExit, match=r"no prediction for id 2, 3 of"):
        example_matches.summary(titles, predictions)
    plain = write(tmp_path / "plain.csv", "id,title\n1,Nurse\n")
    assert "no expected_major_group column" in example_matches.summary(plain, predictions)


def test_the_shipped_examples_have_an_expected_group_for_each_classifiable_title():
    rows = example_matches.read_rows(ROOT / "examples" / "titles.csv")
    expected = [row for row in rows if row["expected_major_group"]]
    assert len(expected) >= 20 and all(len(row["expected_major_group"]) == 2 for row in expected)
    assert all(row["title"].strip() and any(c.isalpha() for c in row["title"]) for row in expected)
