"""The predict input contract's own rules (titles_input.py) and its CSV dialect (csv_dialect.py), without
Spark: test_predict_engines.py runs both engines over a corpus; these pin the rules one by one."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_steps import csv_dialect, titles_input
from pipeline_steps.errors import InputError
from pipeline_steps.titles_input import RowBatch

TROUBLEMAKERS = [
    b",",
    b'"',
    b"\\",
    b"\r",
    b"\n",
    b"\r\n",
    b" ",
    b"a",
    b"title",
    b"id",
    b"\xff",
    b"\xc3\xa9",
    b"\x00",
    b"\xef\xbb\xbf",
]
csv_bytes = st.lists(st.sampled_from(TROUBLEMAKERS), max_size=30).map(b"".join)


def rows(data: bytes, name: str = "t.csv") -> list[tuple]:
    """(id, title, problem) of each data row, read as PreprocessPredict reads a file."""
    batches = titles_input.csv_row_batches(csv_dialect.file_lines(io.BytesIO(data)), name, batch_rows=2)
    return [row for batch in batches for row in zip(*batch, strict=True)]


def records(lines) -> list[list[str]] | str:
    """The records that are rows (blank lines are not), or the error and the line it names."""
    reader = csv_dialect.reader(lines)
    try:
        return [record for record in reader if record]
    except csv.Error as error:
        return f"error at line {reader.line_num}: {error}"


def spark_lines(data: bytes) -> list[bytes]:
    """The lines Spark's text source gives with lineSep LF: the bytes between LFs, none after a final LF."""
    pieces = data.split(b"\n")
    return pieces[:-1] if pieces[-1] == b"" else pieces


@settings(max_examples=2000, deadline=None)
@given(csv_bytes)
def test_both_engines_lines_give_the_same_records(data: bytes) -> None:
    """PreprocessPredict reads a file in text mode (file_lines); the EMR job gets its lines from Spark and
    decodes and splits them itself (text_lines, each line with an LF put back): the same records, the
    same errors at the same line."""
    by_file = records(csv_dialect.file_lines(io.BytesIO(data)))
    assert records(csv_dialect.text_lines(line + b"\n" for line in spark_lines(data))) == by_file


def test_a_file_that_is_only_a_byte_order_mark_has_no_lines() -> None:
    assert list(csv_dialect.file_lines(io.BytesIO(b"\xef\xbb\xbf"))) == []
    assert list(csv_dialect.text_lines([b"\xef\xbb\xbf"])) == []


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list('a ,"\r\n\\é')), max_size=6), min_size=1, max_size=5))
def test_a_record_written_back_reads_as_the_same_fields(record: list[str]) -> None:
    line = (csv_dialect.record_text(record) + "\n").encode()
    assert list(csv_dialect.reader(csv_dialect.file_lines(io.BytesIO(line)))) == [record]


def outcome(check) -> str | None:
    try:
        check()
    except InputError as error:
        return str(error)
    return None


@settings(max_examples=1000, deadline=None)
@given(csv_bytes)
def test_the_check_before_anything_runs_judges_a_whole_file_as_reading_it_does(data: bytes) -> None:
    """check_csv_start refuses a (whole) file for its header exactly as reading it does (and for its
    encoding, which only the start check judges)."""
    reading = outcome(lambda: rows(data))
    checking = outcome(lambda: titles_input.check_csv_start(data, "t.csv", whole_file=True))
    if checking is not None and "encoded" not in checking and "archive" not in checking and "gzip" not in checking:
        assert reading == checking
    elif checking is None and reading is not None:  # refused by a data row, which the start check does not read
        assert "not valid CSV" in reading


def test_a_start_cut_off_inside_a_quoted_header_is_not_judged() -> None:
    titles_input.check_csv_start(b'id,"title\nof the job"\n1,Nurse\n'[:12], "t.csv", whole_file=False)
    with pytest.raises(InputError, match="has no 'title' column"):
        titles_input.check_csv_start(b"id,job\n1,Nu", "t.csv", whole_file=False)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (["title", "Title"], "has 2 'title' columns: 'title' (column 1), 'Title' (column 2)"),
        (["id", " TITLE ", "title"], "has 2 'title' columns"),
        (["Id", "title", "ID"], "has 2 'id' columns"),
        (["job", "name"], "has no 'title' column; columns found: ['job', 'name']"),
        (
            [f"c{n}" for n in range(30)],
            "columns found: ['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8', 'c9', 'c10', 'c11'] and 18 more",
        ),
    ],
)
def test_ambiguous_or_missing_columns_are_refused_naming_them(header, message) -> None:
    with pytest.raises(InputError) as error:
        titles_input.column_positions(header, "t.csv")
    assert message in str(error.value)


def test_names_compare_without_case_and_surrounding_spaces() -> None:
    assert titles_input.column_positions([" Notes", " ID ", "TiTle\t"], "t.csv") == (2, 1)
    assert titles_input.column_positions(["title", "identifier"], "t.csv") == (0, None)


def test_a_row_with_more_or_fewer_fields_than_the_header_is_kept_whole_as_wrong_field_count() -> None:
    assert rows(b"id,title\n1,Manager, Sales\n2\n3,Nurse\n") == [
        ("1", "1,Manager, Sales", "wrong_field_count"),
        ("2", "2", "wrong_field_count"),
        ("3", "Nurse", None),
    ]
    assert rows(b'title,id\n"a ""b"", c",1,x\n') == [("1", '"a ""b"", c",1,x', "wrong_field_count")]


def test_prepared_columns_keep_the_shape_problem_before_the_title_checks() -> None:
    batch = RowBatch(["7", None], ["7,Manager, Sales", "Sr. Mgr"], ["wrong_field_count", None])
    assert titles_input.prepared_columns("t.csv", 3, batch) == (
        ["7", "t.csv#4"],
        [False, True],
        [None, "senior manager"],
        ["wrong_field_count", None],
    )


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        (["_a.csv"], "_a.csv: '_a.csv' starts with '_'"),
        (["sub/.hidden.parquet"], "sub/.hidden.parquet: '.hidden.parquet' starts with '.'"),
        (["_temporary/0/part-0.csv"], "'_temporary' starts with '_'"),
        (["a.csv", "a.parquet"], "a.csv and a.parquet differ only in suffix"),
        (["caf\udce9.csv"], "caf\\udce9.csv: the name is not valid UTF-8"),
    ],
)
def test_file_names_the_engines_cannot_read_alike_are_refused(paths, message) -> None:
    with pytest.raises(InputError) as error:
        titles_input.check_file_names(paths)
    assert message in str(error.value)


def test_other_files_are_not_input_and_bookkeeping_without_an_input_suffix_is_fine() -> None:
    titles_input.check_file_names(["_SUCCESS", ".part-0.csv.crc", "notes.txt", "a.csv", "b/c.PARQUET"])
    assert [titles_input.is_input_file(p) for p in ("a.CSV", "a.csv.gz", "b.parquet", "c.txt")] == [
        True,
        False,
        True,
        False,
    ]


@pytest.mark.parametrize(
    ("kind", "role", "refused"),
    [("text", "title", False), ("integer", "title", True), ("integer", "id", False), ("boolean", "id", True)],
)
def test_parquet_column_kinds(kind, role, refused) -> None:
    assert (titles_input.parquet_column_problem("t.parquet", role, role, kind) is not None) == refused
