"""csv_cells: every CSV cell safe to open in a spreadsheet, and undone exactly by the documented rule."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline_steps.csv_cells import spreadsheet_cell


@pytest.mark.parametrize(
    "value, cell",
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("  =1+1", "'  =1+1"),
        ("\t=1+1", "'\\x09=1+1"),
        ("\r=1+1", "'\\x0d=1+1"),
        ("\x00", "'\\x00"),
        ("Nurse;=1+1", "'Nurse\\x3b=1+1"),
        ("\x1b[31mRed\x1b[0m", "'\\x1b[31mRed\\x1b[0m"),
        ("\x9b2J", "'\\x9b2J"),
        ("Two\nLines", "'Two\\x0aLines"),
        ("C:\\jobs\x07", "'C:\\\\jobs\\x07"),
        ("-", "'-"),
        ("-Nurse", "'-Nurse"),
        ("'Til Death", "''Til Death"),
        ("'", "''"),
        ("\u202eesruN", "'\\u202eesruN"),  # shows as "Nurse"
        ("Engi\xadneer", "'Engi\\xadneer"),
        ("Nurse\u200b", "'Nurse\\u200b"),
        ("\ufeffid-7", "'\\ufeffid-7"),
        ("One\u2028Line", "'One\\u2028Line"),
        ("Flag\U000e0067", "'Flag\\U000e0067"),
        ("\ud800", "'\\ud800"),
    ],
)
def test_spreadsheet_cell_protects_formulas_control_characters_and_separators(value, cell, original_cell):
    assert spreadsheet_cell(value) == cell
    assert original_cell(cell) == value


@pytest.mark.parametrize(
    "value",
    [
        "Registered Nurse",
        "",
        "-12",
        "-0.5",
        "12",
        "0.934512",
        "C++ Developer",
        "Manager, Sales",
        'The "Boss"',
        "AR\\AP Clerk",
        "Sauté Cook",
        "软件工程师",
        "Nurse's Aide",
        "e-mail Clerk",
        "15-0000",
        "Søren\xa0Olsen",
    ],
)
def test_spreadsheet_cell_leaves_safe_values_and_plain_numbers_as_they_are(value, original_cell):
    assert spreadsheet_cell(value) == value
    assert original_cell(value) == value


@settings(max_examples=500, deadline=None)
@given(value=st.text())
@example(value="\\x1b")  # looks like an escape: protected only when the cell is
@example(value="'\\x41")
@example(value="-1\n")
@example(value="\\u202e")
@example(value="=\\U000e0067\u202e")
def test_spreadsheet_cell_is_safe_and_undone_exactly_by_the_documented_rule(value, original_cell):
    cell = spreadsheet_cell(value)
    assert original_cell(cell) == value
    assert ";" not in cell
    assert not [c for c in cell if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs")]
    starts_safe = cell.startswith("'") or not cell.lstrip().startswith(("=", "+", "-", "@", "'"))
    assert starts_safe or re.fullmatch(r"-[0-9]+(\.[0-9]+)?", cell)


def test_cells_written_before_unicode_escapes_still_decode_to_their_value(original_cell):
    # The earlier rule wrote only \\ and \xHH: a value's own backslash before "u" was doubled.
    assert original_cell("'=C:\\\\u202e\\x09") == "=C:\\u202e\t"
