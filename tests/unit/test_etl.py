"""The ETL step: parsing, per-row and cross-row validation, accounting, and a full main() run.

The fixture cases are listed in tests/fixtures/README.md; EXPECTED_REJECTIONS below is that list.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import steps_fixtures as fx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pipeline_steps import data_quality, etl
from pipeline_steps.soc import code_problem
from pipeline_steps.text import title_problem

FIXTURES = Path(__file__).parents[1] / "fixtures" / "onet"
OCCUPATIONS_TXT = "Occupation Data.txt"
ALTERNATES_TXT = "Alternate Titles.txt"

# (file, row) -> reason, for every row the fixtures reject; every other row is accepted.
EXPECTED_REJECTIONS = {
    (OCCUPATIONS_TXT, 13): "unknown_major_group",
    (OCCUPATIONS_TXT, 14): "malformed_onet_soc_code",
    (OCCUPATIONS_TXT, 15): "duplicate_occupation_code",
    (OCCUPATIONS_TXT, 16): "empty_title",
    (ALTERNATES_TXT, 4): "duplicate_title",
    (ALTERNATES_TXT, 5): "duplicate_title",
    (ALTERNATES_TXT, 8): "empty_title",
    (ALTERNATES_TXT, 11): "empty_title",
    (ALTERNATES_TXT, 16): "duplicate_title",
    (ALTERNATES_TXT, 17): "title_too_long",
    (ALTERNATES_TXT, 20): "undecodable_title",
    (ALTERNATES_TXT, 21): "title_without_letters",
    (ALTERNATES_TXT, 26): "duplicate_title",
    (ALTERNATES_TXT, 33): "unknown_occupation",
    (ALTERNATES_TXT, 34): "unknown_major_group",
    (ALTERNATES_TXT, 35): "malformed_onet_soc_code",
    (ALTERNATES_TXT, 36): "unknown_occupation",
    (ALTERNATES_TXT, 38): "duplicate_title",
    (ALTERNATES_TXT, 60): "unsupported_script",
}
FIXTURE_ROWS_IN = {OCCUPATIONS_TXT: 16, ALTERNATES_TXT: 59}


# --- helpers ------------------------------------------------------------------------------------


def fixture_table(table: str) -> etl.SourceTable:
    name = etl.table_file_name(table, "txt")
    return etl.parse_table(table, name, (FIXTURES / name).read_bytes())


def txt_lines(path: Path) -> list[list[str]]:
    text = path.read_bytes().decode("utf-8", errors="replace")
    return [line.split("\t") for line in text.rstrip("\n").split("\n")]


def txt_to_xlsx(txt: Path, xlsx: Path) -> None:
    """The .txt fixture as O*NET's workbook has it: empty cells where the text file says `n/a`."""
    lines = txt_lines(txt)
    xlsx.write_bytes(
        fx.xlsx_bytes([lines[0]] + [[None if cell in ("", "n/a") else cell for cell in line] for line in lines[1:]])
    )


def validated_rows(spark: SparkSession, occupations: etl.SourceTable, alternates: etl.SourceTable) -> list[dict]:
    frame = etl.validate(etl.candidates_frame(spark, occupations, alternates))
    return [row.asDict() for row in frame.collect()]


def rejections(rows: list[dict]) -> dict[tuple[str, int], str]:
    return {(row["source_file"], row["source_row"]): row["reason"] for row in rows if row["reason"]}


def accepted_by_key(rows: list[dict]) -> dict[tuple[str, int], dict]:
    return {(row["source_file"], row["source_row"]): row for row in rows if row["reason"] is None}


@pytest.fixture(scope="module")
def fixture_rows(spark: SparkSession) -> list[dict]:
    return validated_rows(spark, fixture_table(etl.OCCUPATION_TABLE), fixture_table(etl.ALTERNATE_TABLE))


# --- locating and parsing files -----------------------------------------------------------------


def test_locate_tables_accepts_one_format_per_table() -> None:
    located = etl.locate_tables("s3://raw/onet/", ["Occupation Data.xlsx", "Alternate Titles.txt", "Read Me.txt"])
    assert located == {etl.OCCUPATION_TABLE: "Occupation Data.xlsx", etl.ALTERNATE_TABLE: "Alternate Titles.txt"}


def test_locate_tables_names_the_directory_and_files_when_a_table_is_missing() -> None:
    with pytest.raises(etl.InputError) as error:
        etl.locate_tables("s3://raw/onet/", ["Occupation Data.txt", "Read Me.txt"])
    message = str(error.value)
    assert "s3://raw/onet/" in message
    assert "'Alternate Titles.xlsx' or 'Alternate Titles.txt'" in message
    assert "Read Me.txt" in message


def test_locate_tables_rejects_a_table_in_both_formats() -> None:
    names = ["Occupation Data.txt", "Occupation Data.xlsx", "Alternate Titles.txt"]
    with pytest.raises(etl.InputError, match=r"s3://raw/onet/: both 'Occupation Data.xlsx' and 'Occupation Data.txt'"):
        etl.locate_tables("s3://raw/onet/", names)


def test_txt_rows_are_numbered_like_lines_with_the_header_as_row_1() -> None:
    occupations = fixture_table(etl.OCCUPATION_TABLE)
    alternates = fixture_table(etl.ALTERNATE_TABLE)
    assert [row.number for row in occupations.rows] == list(range(2, 18))
    assert [row.number for row in alternates.rows] == list(range(2, 61))
    assert (occupations.file_format, alternates.file_format) == ("txt", "txt")
    assert alternates.rows[0].values[etl.ALTERNATE_TITLE_COLUMN] == "Chief Executive Officer (CEO)"


def test_a_byte_that_is_not_utf8_becomes_a_row_problem_not_a_file_error() -> None:
    row_20 = fixture_table(etl.ALTERNATE_TABLE).rows[18]
    assert row_20.number == 20
    assert row_20.values[etl.ALTERNATE_TITLE_COLUMN] == "Caf\ufffd Nurse"


@pytest.mark.parametrize(
    ("table", "dropped"),
    [
        (etl.OCCUPATION_TABLE, "Description"),
        (etl.ALTERNATE_TABLE, "Alternate Title"),
        (etl.ALTERNATE_TABLE, "Short Title"),
        (etl.ALTERNATE_TABLE, "Source(s)"),
    ],
)
@pytest.mark.parametrize("file_format", ["txt", "xlsx"])
def test_missing_column_error_names_the_file_the_column_and_the_header(
    table: str, dropped: str, file_format: str
) -> None:
    lines = txt_lines(FIXTURES / etl.table_file_name(table, "txt"))
    keep = [index for index, column in enumerate(lines[0]) if column != dropped]
    lines = [[line[index] for index in keep] for line in lines]
    file_name = etl.table_file_name(table, file_format)
    data = fx.xlsx_bytes(lines) if file_format == "xlsx" else ("\n".join("\t".join(line) for line in lines)).encode()
    with pytest.raises(etl.InputError) as error:
        etl.parse_table(table, file_name, data)
    message = str(error.value)
    assert message.startswith(f"{file_name}: missing column(s) ['{dropped}']")
    assert "O*NET-SOC Code" in message  # the columns found


def test_extra_columns_are_ignored_and_columns_are_matched_by_name() -> None:
    data = b"Extra\tDescription\tTitle\tO*NET-SOC Code\nx\tWrites code.\tProgrammers\t15-1251.00\n"
    (row,) = etl.parse_table(etl.OCCUPATION_TABLE, OCCUPATIONS_TXT, data).rows
    (candidate,) = etl.to_candidates(etl.SourceTable(OCCUPATIONS_TXT, "txt", (row,), 0), etl.OCCUPATION_TITLE_SOURCE)
    assert (candidate.onet_soc_code, candidate.title, candidate.description) == (
        "15-1251.00",
        "Programmers",
        "Writes code.",
    )


def test_a_required_column_twice_is_an_error() -> None:
    data = b"O*NET-SOC Code\tTitle\tTitle\tDescription\n15-1251.00\tA\tB\tC\n"
    with pytest.raises(etl.InputError, match=r"Occupation Data.txt: column\(s\) \['Title'\] appear more than once"):
        etl.parse_table(etl.OCCUPATION_TABLE, OCCUPATIONS_TXT, data)


@pytest.fixture(scope="module")
def good_xlsx() -> bytes:
    return fx.xlsx_bytes(txt_lines(FIXTURES / OCCUPATIONS_TXT))


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda good: good[: len(good) // 2], id="truncated"),
        pytest.param(lambda good: good[:-40], id="central-directory-cut"),
        pytest.param(lambda good: (FIXTURES / OCCUPATIONS_TXT).read_bytes(), id="text-renamed-xlsx"),
        pytest.param(lambda good: b"", id="zero-bytes"),
    ],
)
def test_an_unreadable_workbook_is_an_error_naming_the_file(good_xlsx: bytes, damage: Callable[[bytes], bytes]) -> None:
    with pytest.raises(etl.InputError, match=r"^Occupation Data\.xlsx: not a readable \.xlsx workbook \("):
        etl.parse_table(etl.OCCUPATION_TABLE, "Occupation Data.xlsx", damage(good_xlsx))


@pytest.mark.parametrize(
    ("file_name", "data", "message"),
    [
        (OCCUPATIONS_TXT, b"", "Occupation Data.txt: empty file, no header row"),
        (OCCUPATIONS_TXT, b"O*NET-SOC Code\tTitle\tDescription\n", "Occupation Data.txt: no data rows"),
        (OCCUPATIONS_TXT, b"O*NET-SOC Code\tTitle\tDescription\n\n \t \n", "Occupation Data.txt: no data rows"),
        (
            "Occupation Data.xlsx",
            fx.xlsx_bytes([["O*NET-SOC Code", "Title", "Description"]]),
            "Occupation Data.xlsx: no data",
        ),
    ],
)
def test_a_file_without_data_rows_is_an_error_naming_the_file(file_name: str, data: bytes, message: str) -> None:
    with pytest.raises(etl.InputError, match="^" + message):
        etl.parse_table(etl.OCCUPATION_TABLE, file_name, data)


def test_blank_rows_are_skipped_counted_and_keep_row_numbers() -> None:
    data = b"O*NET-SOC Code\tTitle\tDescription\r\n\r\n15-1251.00\tProgrammers\tWrite code.\r\n"
    table = etl.parse_table(etl.OCCUPATION_TABLE, OCCUPATIONS_TXT, data)
    assert table.blank_rows == 1
    assert [(row.number, row.values["Description"]) for row in table.rows] == [(3, "Write code.")]


def test_a_txt_row_with_too_few_or_too_many_fields_is_rejected_as_wrong_field_count() -> None:
    data = (
        b"O*NET-SOC Code\tAlternate Title\tShort Title\tSource(s)\n"
        b"15-1252.00\tCoder\tn/a\t08\n"
        b"15-1252.00\tHacker\tn/a\n"
        b"15-1252.00\tDeveloper\tEngineer\tn/a\t08\n"
    )
    table = etl.parse_table(etl.ALTERNATE_TABLE, ALTERNATES_TXT, data)
    problems = [candidate.row_problem for candidate in etl.to_candidates(table, etl.ALTERNATE_TITLE_SOURCE)]
    assert problems == [None, etl.WRONG_FIELD_COUNT, etl.WRONG_FIELD_COUNT]


def test_an_xlsx_row_may_end_early_but_not_run_past_the_header() -> None:
    header = ["O*NET-SOC Code", "Alternate Title", "Short Title", "Source(s)"]
    data = fx.xlsx_bytes([header, ["15-1252.00", "Coder"], ["15-1252.00", "Hacker", None, "08", "stray"]])
    table = etl.parse_table(etl.ALTERNATE_TABLE, "Alternate Titles.xlsx", data)
    problems = [candidate.row_problem for candidate in etl.to_candidates(table, etl.ALTERNATE_TITLE_SOURCE)]
    assert problems == [None, etl.WRONG_FIELD_COUNT]


def test_xlsx_cells_that_are_not_text_are_read_as_text() -> None:
    data = fx.xlsx_bytes([["O*NET-SOC Code", "Title", "Description"], ["15-1251.00", 2024, 3.5]])
    (row,) = etl.parse_table(etl.OCCUPATION_TABLE, "Occupation Data.xlsx", data).rows
    assert row.values == {"O*NET-SOC Code": "15-1251.00", "Title": "2024", "Description": "3.5"}


@settings(max_examples=200, deadline=None)
@given(title=st.binary(max_size=60).filter(lambda raw: b"\t" not in raw and b"\n" not in raw))
def test_any_title_bytes_give_one_candidate_accepted_or_with_a_reason(title: bytes) -> None:
    data = b"O*NET-SOC Code\tAlternate Title\tShort Title\tSource(s)\n15-1252.00\t" + title + b"\tn/a\t08\n"
    table = etl.parse_table(etl.ALTERNATE_TABLE, ALTERNATES_TXT, data)
    (candidate,) = etl.to_candidates(table, etl.ALTERNATE_TITLE_SOURCE)
    assert candidate.row_problem in (None, *etl.REJECTION_REASONS)
    assert (candidate.row_problem is None) == (candidate.title_normalized is not None)


# --- per-row checks -----------------------------------------------------------------------------


def test_short_titles_are_null_for_n_a_and_empty() -> None:
    candidates = etl.to_candidates(fixture_table(etl.ALTERNATE_TABLE), etl.ALTERNATE_TITLE_SOURCE)
    short_titles = {candidate.source_row: candidate.short_title for candidate in candidates}
    assert short_titles[2] == "CEO"
    assert short_titles[3] is None  # `n/a`
    assert short_titles[12] is None  # empty
    assert short_titles[32] == "OTR Driver"


def test_major_group_is_the_first_two_digits_of_a_valid_code() -> None:
    candidates = etl.to_candidates(fixture_table(etl.OCCUPATION_TABLE), etl.OCCUPATION_TITLE_SOURCE)
    groups = {candidate.onet_soc_code: candidate.major_group for candidate in candidates}
    assert groups["11-3031.01"] == "11"
    assert groups["29-2061.00"] == "29"
    assert groups["55-1011.00"] == "55"
    assert groups["99-1111.00"] is None  # not a SOC 2018 major group
    assert groups["11-101"] is None


def test_titles_are_stripped_and_normalized_with_the_shared_function() -> None:
    candidates = etl.to_candidates(fixture_table(etl.ALTERNATE_TABLE), etl.ALTERNATE_TITLE_SOURCE)
    by_row = {candidate.source_row: candidate for candidate in candidates}
    assert (by_row[16].raw_title, by_row[16].title) == (" Software  Engineer ", "Software  Engineer")
    assert by_row[16].title_normalized == "software engineer"
    assert by_row[25].title_normalized == "saute cook"  # "Sauté Cook"
    assert by_row[13].title_normalized == "c++ developer"


# --- validation across rows (Spark) -------------------------------------------------------------


def test_every_fixture_rejection_has_its_reason_and_row(fixture_rows: list[dict]) -> None:
    assert rejections(fixture_rows) == EXPECTED_REJECTIONS
    assert set(EXPECTED_REJECTIONS.values()) == set(etl.REJECTION_REASONS) - {etl.WRONG_FIELD_COUNT}


def test_fixture_accounting_balances(fixture_rows: list[dict]) -> None:
    tables = [fixture_table(etl.OCCUPATION_TABLE), fixture_table(etl.ALTERNATE_TABLE)]
    counts: dict = {}
    for row in fixture_rows:
        key = (row["reason"], row["major_group"])
        counts[key] = counts.get(key, 0) + 1
    report = etl.build_report("fixtures", tables, counts)
    assert (report["rows_in"], report["rows_out"], report["rows_rejected"]) == (75, 56, 19)
    assert report["rejected_by_reason"]["duplicate_title"] == 5
    assert report["rows_out_by_major_group"]["11"] == 6
    assert report["rows_out_by_major_group"]["17"] == 0


def test_duplicates_keep_the_earliest_row_occupation_titles_first(fixture_rows: list[dict]) -> None:
    accepted = accepted_by_key(fixture_rows)
    # "chief executive officer (ceo)" (row 4) repeats row 2; "Chief Executives" (row 5) the occupation title.
    assert accepted[(ALTERNATES_TXT, 2)]["title"] == "Chief Executive Officer (CEO)"
    assert accepted[(OCCUPATIONS_TXT, 2)]["title"] == "Chief Executives"
    assert accepted[(ALTERNATES_TXT, 25)]["title"] == "Sauté Cook"  # row 26 "Saute Cook" is its duplicate
    # The same title under another code is not a duplicate.
    assert accepted[(ALTERNATES_TXT, 39)]["onet_soc_code"] == "47-2031.00"
    assert accepted[(ALTERNATES_TXT, 39)]["title"] == "Sales Associate"


def test_each_accepted_title_counts_the_distinct_sources_of_every_row_that_lists_it(fixture_rows: list[dict]) -> None:
    counts = {key: row["source_count"] for key, row in accepted_by_key(fixture_rows).items()}
    assert counts[(ALTERNATES_TXT, 2)] == 3  # 02,04 and its duplicate row 4's 08
    assert counts[(ALTERNATES_TXT, 3)] == 1
    assert counts[(OCCUPATIONS_TXT, 2)] == 1  # "Chief Executives": Alternate Titles row 5 lists it, from 01
    assert counts[(OCCUPATIONS_TXT, 3)] == 0  # an occupation's own title that no alternate row lists
    assert counts[(ALTERNATES_TXT, 15)] == 3  # 01,08 and row 16's 09
    assert counts[(ALTERNATES_TXT, 27)] == 2  # 02 and row 38's 09, under 41-2031.00
    assert counts[(ALTERNATES_TXT, 39)] == 1  # 09 under 47-2031.00: another code, its own evidence
    assert all(row["source_count"] is None for row in fixture_rows if row["reason"] is not None)


@pytest.mark.parametrize(
    ("cell", "sources"),
    [("02,04", "02,04"), ("04, 02,04", "02,04"), ("8", "08"), ("", None), (None, None), ("n/a,10", "10")],
)
def test_a_sources_cell_becomes_its_distinct_codes(cell: str | None, sources: str | None) -> None:
    row = etl.SourceRow(
        2, {etl.CODE_COLUMN: "15-1252.00", etl.ALTERNATE_TITLE_COLUMN: "Coder", "Source(s)": cell}, True
    )
    (candidate,) = etl.to_candidates(etl.SourceTable(ALTERNATES_TXT, "txt", (row,), 0), etl.ALTERNATE_TITLE_SOURCE)
    assert candidate.sources == sources


def test_alternate_titles_carry_their_occupation_title(fixture_rows: list[dict]) -> None:
    accepted = accepted_by_key(fixture_rows)
    assert accepted[(ALTERNATES_TXT, 13)]["occupation_title"] == "Software Developers"  # not the duplicate row 15's
    assert accepted[(ALTERNATES_TXT, 37)]["occupation_title"] == "Air Crew Officers"
    assert accepted[(OCCUPATIONS_TXT, 5)]["occupation_title"] == "Software Developers"


def comparable(rows: list[dict], file_format: str) -> dict[tuple[str, int], dict]:
    """Rows as a .txt and an .xlsx run can agree on: keyed without the file extension, and with no
    empty strings, which a workbook cannot hold (its empty cells read as None)."""
    return {
        (row["source_file"].removesuffix(f".{file_format}"), row["source_row"]): {
            column: None if value == "" else value for column, value in row.items() if column != "source_file"
        }
        for row in rows
    }


def test_xlsx_and_txt_give_the_same_rows(spark: SparkSession, fixture_rows: list[dict], tmp_path: Path) -> None:
    tables = {}
    for table in (etl.OCCUPATION_TABLE, etl.ALTERNATE_TABLE):
        xlsx = tmp_path / etl.table_file_name(table, "xlsx")
        txt_to_xlsx(FIXTURES / etl.table_file_name(table, "txt"), xlsx)
        tables[table] = etl.parse_table(table, xlsx.name, xlsx.read_bytes())
    xlsx_rows = validated_rows(spark, tables[etl.OCCUPATION_TABLE], tables[etl.ALTERNATE_TABLE])
    assert comparable(xlsx_rows, "xlsx") == comparable(fixture_rows, "txt")


def test_the_27_0_layout_without_a_title_column_gives_the_same_rows(
    spark: SparkSession, fixture_rows: list[dict], tmp_path: Path
) -> None:
    # Bytes, not text: the fixture's bad byte must stay as it is.
    lines = [line.split(b"\t") for line in (FIXTURES / ALTERNATES_TXT).read_bytes().split(b"\n")]
    title_index = lines[0].index(b"Title")
    release_27 = b"\n".join(b"\t".join(line[:title_index] + line[title_index + 1 :]) for line in lines)
    alternates = etl.parse_table(etl.ALTERNATE_TABLE, ALTERNATES_TXT, release_27)
    assert "Title" not in alternates.rows[0].values
    rows = validated_rows(spark, fixture_table(etl.OCCUPATION_TABLE), alternates)
    assert comparable(rows, "txt") == comparable(fixture_rows, "txt")


# The property test's row pool: mostly valid codes and near-duplicate titles, so that collisions
# (repeated codes, repeated normalized titles) are common, plus one of each kind of invalid value.
CODES = ["11-1011.00", "11-1011.00", "15-1252.00", "15-1252.00", "53-3099.00", "99-1111.00", "11-101", ""]
TITLES = ["Nurse", " nurse ", "NURSE!", "Chief Executives", "chief  executives", "C++ Dev", "C# Dev", "", "   ", "123"]
TITLES.append("x" * 201)
source_rows = st.lists(st.tuples(st.sampled_from(CODES), st.sampled_from(TITLES)), max_size=10)


def source_table(file_name: str, title_column: str, rows: list[tuple[str, str]]) -> etl.SourceTable:
    values = [
        {etl.CODE_COLUMN: code, title_column: title, "Description": "d", "Short Title": "n/a"} for code, title in rows
    ]
    return etl.SourceTable(file_name, "txt", tuple(etl.SourceRow(n, v, True) for n, v in enumerate(values, 2)), 0)


def reference_reasons(occupations: list[tuple[str, str]], alternates: list[tuple[str, str]]) -> list[str | None]:
    """The validation rules, restated row by row in plain Python: the oracle for validate()."""
    reasons: list[str | None] = []
    occupation_titles: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    for is_occupation, (code, title) in [(True, row) for row in occupations] + [(False, row) for row in alternates]:
        reason = code_problem(code) or title_problem(title.strip())
        if reason is None and is_occupation and code in occupation_titles:
            reason = etl.DUPLICATE_OCCUPATION_CODE
        if reason is None and not is_occupation and code not in occupation_titles:
            reason = etl.UNKNOWN_OCCUPATION
        key = (etl.normalize_title(title), code)
        if reason is None and key in seen:
            reason = etl.DUPLICATE_TITLE
        if reason is None:
            seen.add(key)
            if is_occupation:
                occupation_titles[code] = title.strip()
        reasons.append(reason)
    return reasons


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(occupations=source_rows, alternates=source_rows)
# Always tried: duplicates keep the earliest row, and a rejected row never takes a code or title first.
@example(
    occupations=[("11-1011.00", "Chief Executives"), ("15-1252.00", ""), ("15-1252.00", "C++ Dev")],
    alternates=[("11-1011.00", "Nurse"), ("11-1011.00", " nurse "), ("11-1011.00", "chief  executives")],
)
def test_validate_matches_the_rules_and_every_row_is_out_or_rejected(
    spark: SparkSession, occupations: list[tuple[str, str]], alternates: list[tuple[str, str]]
) -> None:
    occupation_table = source_table(OCCUPATIONS_TXT, "Title", occupations)
    alternate_table = source_table(ALTERNATES_TXT, "Alternate Title", alternates)
    rows = validated_rows(spark, occupation_table, alternate_table)

    ordered = sorted(rows, key=lambda row: (row["source"] != etl.OCCUPATION_TITLE_SOURCE, row["source_row"]))
    assert [row["reason"] for row in ordered] == reference_reasons(occupations, alternates)
    counts: dict = {}
    for row in rows:
        counts[(row["reason"], row["major_group"])] = counts.get((row["reason"], row["major_group"]), 0) + 1
    report = etl.build_report("generated", [occupation_table, alternate_table], counts)
    assert report["rows_in"] == len(occupations) + len(alternates) == report["rows_out"] + report["rows_rejected"]


def test_build_report_refuses_counts_that_do_not_add_up() -> None:
    tables = [fixture_table(etl.OCCUPATION_TABLE)]
    with pytest.raises(etl.AccountingError, match="rows_in 16 != rows_out 15 \\+ rows_rejected 0"):
        etl.build_report("fixtures", tables, {(None, "11"): 15})


# --- the whole step -----------------------------------------------------------------------------

TITLES_SCHEMA = pa.schema(
    [
        ("onet_soc_code", pa.string()),
        ("occupation_title", pa.string()),
        ("title", pa.string()),
        ("title_normalized", pa.string()),
        ("short_title", pa.string()),
        ("major_group", pa.string()),
        ("source", pa.string()),
        ("source_file", pa.string()),
        ("source_row", pa.int32()),
        ("source_count", pa.int32()),
    ]
)
OCCUPATIONS_SCHEMA = pa.schema(
    [("onet_soc_code", pa.string()), ("title", pa.string()), ("description", pa.string()), ("major_group", pa.string())]
)
QUARANTINE_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()),
        ("source_row", pa.int32()),
        ("reason", pa.string()),
        ("onet_soc_code", pa.string()),
        ("title", pa.string()),
    ]
)


def column_types(schema: pa.Schema) -> list[tuple[str, pa.DataType]]:
    return [(field.name, field.type) for field in schema]


def read_dataset(directory: Path) -> pa.Table:
    (part,) = directory.glob("part-*.parquet")  # one file per dataset
    return pq.read_table(part)


@pytest.fixture
def run_main(spark: SparkSession) -> Iterator[Callable[[list[str]], int]]:
    """etl.main() on the shared session, whose settings main() tunes and this puts back."""
    shuffle_partitions = spark.conf.get("spark.sql.shuffle.partitions")
    yield etl.main
    spark.conf.set("spark.sql.shuffle.partitions", shuffle_partitions)


def test_main_writes_the_three_datasets_and_the_report(
    run_main: Callable[[list[str]], int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "executions" / "e-1" / "etl"
    for _ in range(2):  # a re-run of the same execution overwrites and gives the same result
        assert run_main(["--input", str(FIXTURES), "--output", f"{output}/", "--app-name", "test-etl"]) == 0

    titles = read_dataset(output / "titles")
    occupations = read_dataset(output / "occupations")
    quarantine = read_dataset(output / "quarantine")
    assert column_types(titles.schema) == column_types(TITLES_SCHEMA)
    assert column_types(occupations.schema) == column_types(OCCUPATIONS_SCHEMA)
    assert column_types(quarantine.schema) == column_types(QUARANTINE_SCHEMA)

    assert titles.num_rows == 56
    assert occupations.num_rows == 12
    assert {
        (row["source_file"], row["source_row"]): row["reason"] for row in quarantine.to_pylist()
    } == EXPECTED_REJECTIONS
    assert titles.column("source_row").to_pylist()[:3] == [2, 3, 4]  # input order, occupation titles first
    assert set(titles.column("major_group").to_pylist()) == {"11", "13", "15", "29", "35", "41", "47", "53", "55"}
    empty_title_row = next(row for row in quarantine.to_pylist() if row["source_row"] == 11)
    assert empty_title_row["title"] == "   "  # quarantine keeps the raw value

    report = json.loads((output / "report.json").read_text())
    assert report["input"] == str(FIXTURES)
    assert report["files"] == {
        name: {"format": "txt", "rows_in": rows_in, "blank_rows": 0} for name, rows_in in FIXTURE_ROWS_IN.items()
    }
    assert (report["rows_in"], report["rows_out"], report["rows_rejected"]) == (75, 56, 19)
    assert sum(report["rejected_by_reason"].values()) == 19
    assert sum(report["rows_out_by_major_group"].values()) == 56

    summary = capsys.readouterr().out.strip().splitlines()
    assert summary[-1] == summary[-2]
    assert summary[-1].startswith("etl: 75 rows in, 56 titles out, 19 rejected (malformed_onet_soc_code=2,")


def test_main_reads_xlsx_through_the_same_path(run_main: Callable[[list[str]], int], tmp_path: Path) -> None:
    input_dir = tmp_path / "onet"
    input_dir.mkdir()
    txt_to_xlsx(FIXTURES / OCCUPATIONS_TXT, input_dir / "Occupation Data.xlsx")
    shutil.copy(FIXTURES / ALTERNATES_TXT, input_dir / ALTERNATES_TXT)
    assert run_main(["--input", str(input_dir), "--output", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["files"]["Occupation Data.xlsx"] == {"format": "xlsx", "rows_in": 16, "blank_rows": 0}
    assert (report["rows_out"], report["rows_rejected"]) == (56, 19)


@pytest.mark.parametrize(
    ("present", "expected_message"),
    [
        ([OCCUPATIONS_TXT], "no 'Alternate Titles.xlsx' or 'Alternate Titles.txt'"),
        ([OCCUPATIONS_TXT, ALTERNATES_TXT, "Alternate Titles.xlsx"], "both 'Alternate Titles.xlsx' and"),
        (["Occupation Data.xlsx", ALTERNATES_TXT], "Occupation Data.xlsx: not a readable .xlsx workbook"),
    ],
)
def test_main_exits_non_zero_with_a_one_line_input_error(
    run_main: Callable[[list[str]], int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    present: list[str],
    expected_message: str,
) -> None:
    for name in present:  # an .xlsx gets the .txt fixture's bytes: that is no workbook
        (tmp_path / name).write_bytes((FIXTURES / name.replace(".xlsx", ".txt")).read_bytes())
    assert run_main(["--input", str(tmp_path), "--output", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"etl: error: {tmp_path}: ")
    assert expected_message in error
    assert "\n" not in error
    assert not (tmp_path / "out").exists()


def test_main_reports_a_missing_input_directory(
    run_main: Callable[[list[str]], int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(["--input", str(tmp_path / "nowhere"), "--output", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.strip() == f"etl: error: {tmp_path / 'nowhere'}: not a directory"


# --- data quality (issue 14, item 8) --------------------------------------------------------------

# The fixtures' own shares: 3 of 56 titles have no word another title or a description has
# ("Bank President", "Framer", "Aircraft Commander"); "sales associate" is in groups 41 and 47.
FIXTURE_QUALITY = {
    data_quality.TITLES_WITHOUT_KNOWN_WORD: (3, 56, [(ALTERNATES_TXT, 3), (ALTERNATES_TXT, 29), (ALTERNATES_TXT, 37)]),
    data_quality.TITLES_IN_SEVERAL_MAJOR_GROUPS: (1, 55, [(ALTERNATES_TXT, 27), (ALTERNATES_TXT, 39)]),
}


def test_report_has_the_data_quality_shares_with_their_maximums(
    run_main: Callable[[list[str]], int], tmp_path: Path
) -> None:
    assert run_main(["--input", str(FIXTURES), "--output", str(tmp_path / "out")]) == 0
    quality = json.loads((tmp_path / "out" / "report.json").read_text())["data_quality"]
    assert list(quality) == list(data_quality.DEFAULT_MAX_SHARES)
    for check, (count, of, rows) in FIXTURE_QUALITY.items():
        measured = quality[check]
        assert (measured["count"], measured["of"]) == (count, of), check
        assert (
            measured["share"] == round(count / of, 6)
            and measured["max_share"] == data_quality.DEFAULT_MAX_SHARES[check]
        )
        assert [(row["source_file"], row["source_row"]) for row in measured["examples"]] == rows


def test_ten_percent_random_junk_titles_fail_the_run_naming_the_check_share_maximum_and_rows(
    run_main: Callable[[list[str]], int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    onet, junk_rows = fx.fixtures_with_junk(FIXTURES, tmp_path / "onet", 0.10)
    assert len(junk_rows) == 6  # 10% of the 56 accepted titles
    assert run_main(["--input", str(onet), "--output", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error
    assert error.startswith(
        f"etl: error: {onet}: data quality check titles_without_known_word failed: 9 of 62 (14.5%) over the "
        "maximum share 8.0%; e.g. Alternate Titles.txt row 3 'Bank President' (major group 11), "
    )
    assert f"Alternate Titles.txt row {junk_rows[0]} " in error
    assert "titles_in_several_major_groups" not in error  # the other check passed
    assert not (tmp_path / "out").exists()  # nothing written, no report


def test_the_maximum_shares_are_etl_arguments(
    run_main: Callable[[list[str]], int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    onet, _ = fx.fixtures_with_junk(FIXTURES, tmp_path / "onet", 0.10)
    argv = ["--input", str(onet), "--output", str(tmp_path / "out"), "--max-titles-without-known-word", "0.15"]
    assert run_main(argv) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["data_quality"]["titles_without_known_word"]["max_share"] == 0.15
    for value in ("1.5", "-0.1", "nan", "ten percent"):
        with pytest.raises(SystemExit):
            run_main(argv[:-1] + [value])
        assert f"{value!r} is not a share from 0 to 1" in capsys.readouterr().err


def test_titles_under_several_major_groups_fail_the_run(
    run_main: Callable[[list[str]], int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Labels that contradict each other: the alternate titles of group 29 again, under a code of group 53."""
    onet = tmp_path / "onet"
    onet.mkdir()
    shutil.copy(FIXTURES / OCCUPATIONS_TXT, onet / OCCUPATIONS_TXT)
    lines = (FIXTURES / ALTERNATES_TXT).read_bytes().splitlines(keepends=True)
    relabeled = [b"53-3032.00\t" + line.split(b"\t", 1)[1] for line in lines if line.startswith(b"29-")]
    (onet / ALTERNATES_TXT).write_bytes(b"".join(lines + relabeled))
    assert run_main(["--input", str(onet), "--output", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert (
        "data quality check titles_in_several_major_groups failed: 13 of 55 (23.6%) over the maximum share 10.0%"
        in error
    )
    assert (
        "row 19 'Charge Nurse' (major group 29), Alternate Titles.txt row 62 'Charge Nurse' (major group 53)" in error
    )
    assert "titles_without_known_word" not in error


def test_a_word_is_known_when_another_title_or_a_description_has_it(spark: SparkSession) -> None:
    columns = ("source_file", "source_row", "title", "title_normalized", "description_normalized", "major_group")
    rows = [
        ("o", 2, "Registered Nurses", "registered nurses", "care for patients", "29"),
        ("a", 2, "Staff Nurse", "staff nurse", None, "29"),  # "nurse": the plural of row o2 folded
        ("a", 3, "Patient Sitter", "patient sitter", None, "29"),  # "patient": in a description
        ("a", 4, "Xqzvk Plmtr", "xqzvk plmtr", None, "29"),  # junk: no other document has its words
        ("a", 5, "Boss", "boss", None, "11"),  # "ss" is no plural: "boss" is not "bos"
        ("a", 6, "Bos", "bos", None, "11"),
        ("a", 7, "Bus", "bus", None, "11"),  # three letters are no plural: "bus" is not "bu"
        ("a", 8, "Bu", "bu", None, "11"),
        ("a", 9, "Abc 123", "abc 123", None, "11"),  # "123" is no word; nor is "abc" elsewhere
        ("a", 10, "Care 123", "care 123", None, "11"),
        ("a", 11, "Zorb Zorb", "zorb zorb", None, "11"),  # one document, however often it says "zorb"
    ]
    accepted = spark.createDataFrame(rows, columns).withColumn("description", F.col("description_normalized"))
    check = data_quality.titles_without_known_word(accepted, 0.64)
    assert [(row["source_file"], row["source_row"]) for row in check.examples] == [("a", n) for n in range(4, 9)]
    assert (check.count, check.of, check.failed) == (7, 11, False)
    assert data_quality.titles_without_known_word(accepted, 0.63).failed  # 7 of 11 is 0.636
