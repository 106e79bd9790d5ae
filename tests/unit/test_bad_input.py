"""Bad input, for every step and the local run: the one place that lists each case.

Every case ends in one of two ways, never in a crash or a silent loss of rows:
- **error**: the step stops with an InputError (as a processing job: one line on stderr and exit 1)
  whose message names the file, row, column or parameter;
- **quarantine**: the row is kept out of the model's data with its reason, and the step's report
  balances: rows in = rows out + rows rejected (the ETL's quarantine/, preprocess-predict's and
  predict's rejection_reason column).

Cases marked *elsewhere* are already tested in the module named; they are listed here, not repeated.

| Case | Step | Outcome | Test |
|---|---|---|---|
| truncated .xlsx, central directory cut, text renamed .xlsx, zero bytes | ETL | error naming the file | elsewhere: test_etl.py::test_an_unreadable_workbook_is_an_error_naming_the_file |
| a zip that is not a workbook; an empty first sheet; title rows above the header | ETL | error naming the file | here: test_etl_file_errors |
| malformed .xlsx through the whole step and through the local run | ETL, local run | exit 1, one line naming the file | elsewhere: test_etl.py::test_main_exits_non_zero_with_a_one_line_input_error; e2e: tests/e2e/test_local_run_bad_input.py::test_local_run_stops_at_the_etl_naming_the_bad_workbook |
| .txt delimited by commas or semicolons instead of tabs; a UTF-16 .txt | ETL | error naming the file and the header it found | here: test_etl_file_errors, test_etl_step_refuses_a_comma_delimited_txt_in_one_line |
| CSV delimited by semicolons or tabs | preprocess-predict | error naming the file and its header | here: test_preprocess_predict_file_errors |
| unbalanced quote in a CSV | preprocess-predict | error naming the file and line | here: test_preprocess_predict_file_errors |
| missing columns | ETL / preprocess-predict / preprocess-train / predict | error naming the file and column | elsewhere: test_etl.py::test_missing_column_error_names_the_file_the_column_and_the_header, test_preprocess_predict.py::test_missing_title_column_names_file_and_columns, test_preprocess_train.py::test_missing_column_is_named, test_dataio.py::test_errors_name_what_is_wrong; here: test_processing_job_prints_one_line_and_exits_1 |
| extra columns | ETL, preprocess-predict | ignored, matched by name | elsewhere: test_etl.py::test_extra_columns_are_ignored_and_columns_are_matched_by_name, test_preprocess_predict.py::test_every_row_kept_in_order_with_reasons; here: ETL_CASES "extra header column" |
| rows with too few or too many fields | ETL | quarantine: wrong_field_count | elsewhere: test_etl.py::test_a_txt_row_with_too_few_or_too_many_fields_is_rejected_as_wrong_field_count; here: ETL_CASES through the whole step |
| duplicated rows (exact, and by normalized title) | ETL | quarantine: duplicate_title / duplicate_occupation_code | elsewhere: fixture rows in test_etl.py; here: ETL_CASES (exact duplicate lines) |
| duplicated rows | preprocess-predict, predict | kept: one output row per input row | here: test_preprocess_predict_titles, test_predict_answers_duplicates_and_all_rejected_batches |
| unknown or malformed SOC codes (10 shapes) | ETL | quarantine: unknown_major_group / malformed_onet_soc_code / unknown_occupation | elsewhere: fixture rows in test_etl.py; here: CODE_CASES |
| empty, whitespace-only, 10,000-character, non-UTF-8, NUL/control, digits-only, symbols-only titles | ETL, preprocess-predict, predict | quarantine with the title reason | elsewhere: test_etl.py fixture rows and test_any_title_bytes_give_one_candidate_accepted_or_with_a_reason, test_preprocess_predict.py, test_predict.py; here: TITLE_CASES through both steps |
| titles wholly in Chinese, Cyrillic or Arabic (issue 14, item 7); a Latin word among Chinese ones | ETL, preprocess-predict, the EMR titles job, predict | quarantine: unsupported_script (not title_without_letters); the mixed title is classified | here: TITLE_CASES "chinese", "cyrillic", "arabic-with-digits", "latin-words-among-chinese", and the reports list the reason (test_etl_report_balances_over_every_bad_row, test_preprocess_predict_keeps_duplicates_and_balances, test_the_emr_titles_job_gives_every_title_case_the_same_reason); test_text.py |
| 10% random junk titles ("Xqzvk Plmtr") added to the fixtures; titles labelled under two major groups (issue 14, item 8) | ETL, local run | error naming the data-quality check, its share, its maximum and example rows (file, row); nothing written, nothing trained | e2e: tests/e2e/test_local_run_bad_input.py::test_local_run_stops_at_the_etl_when_a_tenth_of_the_titles_is_junk; elsewhere: test_etl.py::test_ten_percent_random_junk_titles_fail_the_run_naming_the_check_share_maximum_and_rows, test_titles_under_several_major_groups_fail_the_run, test_report_has_the_data_quality_shares_with_their_maximums, test_the_maximum_shares_are_etl_arguments, test_a_word_is_known_when_another_title_or_a_description_has_it |
| empty file; header but no data rows | ETL | error naming the file | elsewhere: test_etl.py::test_a_file_without_data_rows_is_an_error_naming_the_file |
| empty file (0 bytes, blanks, BOM only); UTF-16 | preprocess-predict | error naming the file | elsewhere: test_preprocess_predict.py::test_empty_file_is_named, test_utf16_file_is_explained |
| header but no data rows | preprocess-predict | error naming the files | here: test_preprocess_predict_file_errors |
| ids and titles starting with = + - @ (`=HYPERLINK(...)`, `+cmd...`), holding ESC sequences, tabs or `;` (issue 14, item 1) | predict, endpoint text/csv | each cell protected by spreadsheet_cell (a leading `'`, escapes) and undone exactly by docs/pipeline.md's rule; JSON stays raw | here: test_predictions_csv_cells_cannot_run_as_formulas_and_undo_exactly; elsewhere: test_csv_cells.py::test_spreadsheet_cell_*, test_inference.py::test_output_fn_csv_protects_cells_and_json_stays_raw |
| batch where every title is rejected | predict | every row answered with its reason | here: test_predict_answers_duplicates_and_all_rejected_batches |
| unknown pipeline parameter, wrong type, not in the allowed values | local run | error naming the parameter | here: test_bad_pipeline_parameters_are_refused_naming_them (the real definition); elsewhere: test_local_runner.py::test_parameters_are_typed_and_checked, tests/e2e/test_local_pipeline.py::test_wrong_parameters_are_refused_before_anything_runs |
| parameter of the right type but a bad value: fractions, hyperparameters, execution_date | preprocess-train, train, predict | error naming the value | elsewhere: test_preprocess_train.py::test_bad_fractions_are_refused, test_train.py::test_bad_hyperparameters_are_refused, test_predict.py::test_bad_execution_dates |
| a schedule setting an undeclared parameter | cdk synth | error naming schedule and parameter | elsewhere: tests/infra/test_infra_schedule.py |
| no BatchPredict report to merge; a report that is not JSON or lacks a count; instance reports of two executions or two models (a model approved during the execution) | prediction-report | error naming the folder, file or the instances' values | here: STEP_ERRORS; elsewhere: test_prediction_report.py::test_instances_of_another_model_or_execution_are_refused |
| predict input that is neither .csv nor .parquet | local run | error before anything runs | e2e: tests/e2e/test_local_run_bad_input.py::test_local_run_refuses_a_predict_input_that_is_not_csv_or_parquet |
| a CSV row with more or fewer fields than its header (`1,Manager, Sales` under `id,title`) (issue 25) | preprocess-predict, the EMR titles job | quarantine: wrong_field_count, the whole record as its title | elsewhere: test_titles_input.py::test_a_row_with_more_or_fewer_fields_than_the_header_is_kept_whole_as_wrong_field_count, test_preprocess_predict.py::test_every_row_kept_in_order_with_reasons, test_predict_engines.py (both engines) |
| doubled quotes, a title ending in a backslash, lone CR, BOM, NUL, bytes that are not UTF-8, a 30,000-column file, an unclosed quote, text after a closing quote (issue 25) | preprocess-predict, the EMR titles job | the same rows, field by field, or the same error naming file and line | elsewhere: test_predict_engines.py (by hand and by hypothesis), test_titles_input.py |
| two `title` (or `id`) columns, in any case or spacing; Parquet title or id columns that are not text (booleans, floats, lists, binary, dates) (issue 25) | both engines, local run | error naming the file and the columns | elsewhere: test_titles_input.py::test_ambiguous_or_missing_columns_are_refused_naming_them, test_predict_engines.py, test_local_run_contract.py::test_the_header_and_first_bytes_are_checked_before_anything_runs_naming_the_users_file |
| input files named `_x.csv` or `.x.csv` (Spark never reads them), names not UTF-8, names differing only in suffix (issue 25) | both engines, local run | error naming the file, before anything runs | elsewhere: test_titles_input.py::test_file_names_the_engines_cannot_read_alike_are_refused, test_predict_engines.py, test_local_run_contract.py::test_a_single_input_file_named_like_bookkeeping_is_refused_before_anything_runs, test_a_file_name_that_is_not_utf8_is_refused |
| a URI parameter outside the work dir (`..`, absolute key, symbolic link) or not s3://; `--input` with `input_titles_uri`; `--output` a hard link to `--input`; `execution_date` padded or empty (issue 25) | local run | error naming the parameter before anything runs (the date: used as the steps read it) | elsewhere: test_local_run_contract.py |
| truncated or wrong-shaped registry.json or evaluation.json, truncated or garbage model.tar.gz (issue 25) | local run, CLI | error naming the file, the problem and the fix, before any step | elsewhere: test_local_run_contract.py::test_a_damaged_state_file_is_named_with_its_fix_before_any_step, test_a_damaged_model_archive_is_named_before_a_predict_run_and_no_hindrance_to_training, test_the_cli_names_a_damaged_registry_in_one_line |

Title normalization's properties (idempotent, output alphabet, never raises) are hypothesis tests at the end.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import steps_fixtures as fx
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline_steps import __main__ as dispatcher
from pipeline_steps import data_quality, etl, predict, prepared, preprocess_predict, titles_etl
from pipeline_steps.errors import InputError
from pipeline_steps.soc import MALFORMED_CODE, UNKNOWN_MAJOR_GROUP
from pipeline_steps.text import (  # noqa: E402
    EMPTY_TITLE,
    MAX_TITLE_CHARS,
    NO_LETTERS,
    TITLE_TOO_LONG,
    UNDECODABLE_TITLE,
    UNSUPPORTED_SCRIPT,
    normalize_title,
    title_problem,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "onet"
OCCUPATION_HEADER = b"O*NET-SOC Code\tTitle\tDescription"
ALTERNATE_HEADER = b"O*NET-SOC Code\tAlternate Title\tShort Title\tSource(s)"
GROUP = "jobclf-bad-input"


@dataclass(frozen=True)
class TitleCase:
    id: str
    raw: bytes  # the title's bytes as they are in the file (UTF-8 unless the case is about encoding)
    reason: str | None  # None: accepted


TITLE_CASES = [
    TitleCase("empty", b"", EMPTY_TITLE),
    TitleCase("spaces-only", b"     ", EMPTY_TITLE),
    TitleCase("unicode-whitespace-only", "\u00a0\u2003\u3000".encode(), EMPTY_TITLE),
    TitleCase("10000-characters", b"Engineer " * 1111 + b"E", TITLE_TOO_LONG),
    TitleCase("one-over-the-limit", b"a" * (MAX_TITLE_CHARS + 1), TITLE_TOO_LONG),
    TitleCase("exactly-the-limit", b"a" * MAX_TITLE_CHARS, None),
    TitleCase("latin-1-byte", b"Caf\xe9 Nurse", UNDECODABLE_TITLE),
    TitleCase("invalid-utf8-sequence", b"\xff\xfe\xfd Driver", UNDECODABLE_TITLE),
    TitleCase("nul-byte", b"Co\x00ok", UNDECODABLE_TITLE),
    TitleCase("control-character", b"Nurse\x07", UNDECODABLE_TITLE),
    TitleCase("digits-only", b"12345", NO_LETTERS),
    TitleCase("symbols-only", b"+#-/ ()", NO_LETTERS),
    TitleCase("emoji-only", "\U0001f469\u200d\u2695\ufe0f".encode(), NO_LETTERS),
    TitleCase("chinese", "软件工程师".encode(), UNSUPPORTED_SCRIPT),
    TitleCase("cyrillic", "Программист".encode(), UNSUPPORTED_SCRIPT),
    TitleCase("arabic-with-digits", "مهندس 2".encode(), UNSUPPORTED_SCRIPT),
    TitleCase("latin-words-among-chinese", "Senior 软件 Engineer".encode(), None),
    TitleCase("accented", "Sauté Chef".encode(), None),
    TitleCase("c-plus-plus", b"C++ Programmer", None),
]


# --- ETL: one whole step run (Spark, local files) over every row-level case ---------------------


@dataclass(frozen=True)
class EtlCase:
    id: str
    table: str  # etl.OCCUPATION_TABLE or etl.ALTERNATE_TABLE
    line: bytes  # the row as it is in the .txt file
    reason: str | None


VALID_CODE = b"15-1252.00"
CODE_CASES = [
    EtlCase("unknown-major-group", etl.ALTERNATE_TABLE, b"99-1111.00\tGhost Writer\tn/a", UNKNOWN_MAJOR_GROUP),
    EtlCase("truncated-code", etl.ALTERNATE_TABLE, b"11-101\tTruncated Coder\tn/a", MALFORMED_CODE),
    EtlCase("code-without-suffix", etl.ALTERNATE_TABLE, b"15-1252\tSuffixless Coder\tn/a", MALFORMED_CODE),
    EtlCase("code-without-dash", etl.ALTERNATE_TABLE, b"151252.00\tDashless Coder\tn/a", MALFORMED_CODE),
    EtlCase("letters-for-digits", etl.ALTERNATE_TABLE, b"AB-CDEF.GH\tLettered Coder\tn/a", MALFORMED_CODE),
    EtlCase("empty-code", etl.ALTERNATE_TABLE, b"\tCodeless Coder\tn/a", MALFORMED_CODE),
    EtlCase("en-dash", etl.ALTERNATE_TABLE, "15–1252.00\tDashed Coder\tn/a".encode(), MALFORMED_CODE),
    EtlCase("arabic-indic-digits", etl.ALTERNATE_TABLE, "١٥-١٢٥٢.٠٠\tIndic Coder\tn/a".encode(), MALFORMED_CODE),
    EtlCase("trailing-junk", etl.ALTERNATE_TABLE, b"15-1252.00x\tJunk Coder\tn/a", MALFORMED_CODE),
    EtlCase("padded-code-is-fine", etl.ALTERNATE_TABLE, b" 15-1252.00 \tPadded Coder\tn/a", None),
    EtlCase("no-such-occupation", etl.ALTERNATE_TABLE, b"53-3099.00\tOrphan Driver\tn/a", "unknown_occupation"),
]
STRUCTURE_CASES = [
    EtlCase("too-few-fields", etl.ALTERNATE_TABLE, VALID_CODE + b"\tHalf Row", etl.WRONG_FIELD_COUNT),
    EtlCase("too-many-fields", etl.ALTERNATE_TABLE, VALID_CODE + b"\tLong Row\tn/a\tstray", etl.WRONG_FIELD_COUNT),
    EtlCase("exact-duplicate-line", etl.ALTERNATE_TABLE, VALID_CODE + b"\tSoftware Engineer\tn/a", etl.DUPLICATE_TITLE),
    EtlCase(
        "duplicate-by-normalization",
        etl.ALTERNATE_TABLE,
        VALID_CODE + b"\t SOFTWARE  engineer!\tn/a",
        etl.DUPLICATE_TITLE,
    ),
    EtlCase(
        "exact-duplicate-occupation",
        etl.OCCUPATION_TABLE,
        VALID_CODE + b"\tSoftware Developers\tWrite software.",
        etl.DUPLICATE_OCCUPATION_CODE,
    ),
]
TITLE_ETL_CASES = [
    EtlCase(f"title-{case.id}", etl.ALTERNATE_TABLE, VALID_CODE + b"\t" + case.raw + b"\tn/a", case.reason)
    for case in TITLE_CASES
]
ETL_CASES = CODE_CASES + STRUCTURE_CASES + TITLE_ETL_CASES


def etl_input(directory: Path) -> dict[str, tuple[str, int]]:
    """Write the two .txt tables with every ETL case; return case id -> (file name, row number)."""
    directory.mkdir(parents=True, exist_ok=True)
    # An extra header column (ignored) and a blank line (skipped, counted) come for free.
    lines = {
        etl.OCCUPATION_TABLE: [
            OCCUPATION_HEADER + b"\tNotes",
            VALID_CODE + b"\tSoftware Developers\tWrite software.\tx",
            b"",
        ],
        etl.ALTERNATE_TABLE: [ALTERNATE_HEADER, VALID_CODE + b"\tSoftware Engineer\tn/a\t08"],
    }
    positions = {}
    for case in ETL_CASES:
        line = case.line + (b"\tx" if case.table == etl.OCCUPATION_TABLE else b"\t08")  # Notes, Source(s)
        lines[case.table].append(line)
        positions[case.id] = (etl.table_file_name(case.table, "txt"), len(lines[case.table]))
    for table, table_lines in lines.items():
        (directory / etl.table_file_name(table, "txt")).write_bytes(b"\n".join(table_lines) + b"\n")
    return positions


@pytest.fixture(scope="module")
def etl_outcome(spark, tmp_path_factory) -> tuple[dict, dict[tuple[str, int], dict], dict[str, tuple[str, int]]]:
    """(report, quarantined rows by (file, row), case positions) of one ETL run over every case."""
    root = tmp_path_factory.mktemp("etl-bad-input")
    positions = etl_input(root / "onet")
    shuffle_partitions = spark.conf.get("spark.sql.shuffle.partitions")
    try:
        # A handful of odd rows, not a dataset: most of its few accepted titles share no word with another,
        # so the data-quality maximums are lifted here (test_etl.py tests them on the fixtures).
        no_maximums = dict.fromkeys(data_quality.DEFAULT_MAX_SHARES, 1.0)
        report = etl.run(spark, str(root / "onet"), str(root / "out"), no_maximums)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", shuffle_partitions)
    quarantine = pq.read_table(str(root / "out" / "quarantine")).to_pylist()
    titles = pq.read_table(str(root / "out" / "titles")).to_pylist()
    assert len(quarantine) + len(titles) == report["rows_in"]
    return report, {(row["source_file"], row["source_row"]): row for row in quarantine}, positions


@pytest.mark.parametrize("case", ETL_CASES, ids=lambda case: case.id)
def test_etl_quarantines_each_bad_row_with_its_reason(etl_outcome, case: EtlCase) -> None:
    _, quarantined, positions = etl_outcome
    row = quarantined.get(positions[case.id])
    assert (row["reason"] if row else None) == case.reason


def test_etl_report_balances_over_every_bad_row(etl_outcome) -> None:
    report, quarantined, _ = etl_outcome
    assert report["rows_in"] == report["rows_out"] + report["rows_rejected"]
    assert report["rows_in"] == 2 + len(ETL_CASES)  # a valid row per table, plus the cases
    assert report["rows_rejected"] == len(quarantined) == sum(case.reason is not None for case in ETL_CASES)
    assert report["files"]["Occupation Data.txt"]["blank_rows"] == 1
    expected = {}
    for case in ETL_CASES:
        if case.reason:
            expected[case.reason] = expected.get(case.reason, 0) + 1
    assert {reason: n for reason, n in report["rejected_by_reason"].items() if n} == expected
    assert set(expected) <= set(etl.REJECTION_REASONS)
    assert list(report["rejected_by_reason"]) == list(etl.REJECTION_REASONS)


def a_zip_that_is_no_workbook() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


OCCUPATION_ROWS = [["O*NET-SOC Code", "Title", "Description"], ["15-1252.00", "Software Developers", "Write software."]]


@pytest.mark.parametrize(
    ("table", "file_name", "data", "message"),
    [
        pytest.param(
            etl.OCCUPATION_TABLE,
            "Occupation Data.txt",
            b"O*NET-SOC Code,Title,Description\n15-1252.00,Software Developers,Write software.\n",
            r"^Occupation Data\.txt: missing column\(s\) \['O\*NET-SOC Code', 'Title', 'Description'\]; "
            r"the header has \['O\*NET-SOC Code,Title,Description'\]",
            id="txt-comma-delimited",
        ),
        pytest.param(
            etl.ALTERNATE_TABLE,
            "Alternate Titles.txt",
            b"O*NET-SOC Code;Alternate Title;Short Title\n15-1252.00;Coder;n/a\n",
            r"^Alternate Titles\.txt: missing column\(s\).*'O\*NET-SOC Code;Alternate Title;Short Title'",
            id="txt-semicolon-delimited",
        ),
        pytest.param(
            etl.OCCUPATION_TABLE,
            "Occupation Data.txt",
            "O*NET-SOC Code\tTitle\tDescription\n15-1252.00\tSoftware Developers\tx\n".encode("utf-16"),
            r"^Occupation Data\.txt: missing column\(s\)",
            id="txt-utf16",
        ),
        pytest.param(
            etl.OCCUPATION_TABLE,
            "Occupation Data.xlsx",
            a_zip_that_is_no_workbook(),
            r"^Occupation Data\.xlsx: not a readable \.xlsx workbook \(",
            id="xlsx-zip-that-is-no-workbook",
        ),
        pytest.param(
            etl.OCCUPATION_TABLE,
            "Occupation Data.xlsx",
            fx.xlsx_bytes([], OCCUPATION_ROWS),
            r"^Occupation Data\.xlsx: empty file, no header row",
            id="xlsx-first-sheet-empty",
        ),
        pytest.param(
            etl.OCCUPATION_TABLE,
            "Occupation Data.xlsx",
            fx.xlsx_bytes([["O*NET 28.1 Occupation Data"], *OCCUPATION_ROWS]),
            r"^Occupation Data\.xlsx: missing column\(s\).*the header has \['O\*NET 28\.1 Occupation Data'\]",
            id="xlsx-title-row-above-the-header",
        ),
    ],
)
def test_etl_file_errors(table: str, file_name: str, data: bytes, message: str) -> None:
    with pytest.raises(etl.InputError, match=message):
        etl.parse_table(table, file_name, data)


def test_etl_step_refuses_a_comma_delimited_txt_in_one_line(spark, tmp_path, capsys) -> None:
    (tmp_path / "Occupation Data.txt").write_bytes(b"O*NET-SOC Code,Title,Description\n15-1252.00,Coders,Code.\n")
    (tmp_path / "Alternate Titles.txt").write_bytes((FIXTURES / "Alternate Titles.txt").read_bytes())
    shuffle_partitions = spark.conf.get("spark.sql.shuffle.partitions")
    try:
        assert etl.main(["--input", str(tmp_path), "--output", str(tmp_path / "out")]) == 1
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", shuffle_partitions)
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"etl: error: {tmp_path}: Occupation Data.txt: missing column(s)")
    assert "\n" not in error
    assert not (tmp_path / "out").exists()


# --- preprocess-predict and predict ------------------------------------------------------------


def csv_line(raw: bytes) -> bytes:
    """A CSV field holding `raw` as is (quoted: commas, quotes and spaces survive)."""
    return b'"' + raw.replace(b'"', b'""') + b'"'


@pytest.fixture(scope="module")
def preprocessed(tmp_path_factory) -> tuple[Path, dict, dict]:
    """preprocess-predict over one CSV holding every title case (plus a duplicated row); (output, rows, report)."""
    root = tmp_path_factory.mktemp("preprocess-bad-input")
    (root / "in").mkdir()
    lines = [b"id,title"] + [case.id.encode() + b"," + csv_line(case.raw) for case in TITLE_CASES]
    lines += [b"dup-1,Registered Nurse", b"dup-2,Registered Nurse"]
    (root / "in" / "titles.csv").write_bytes(b"\n".join(lines) + b"\n")
    report = preprocess_predict.run(root / "in", root / "out")
    rows = pq.read_table(str(root / "out" / "titles" / "titles.parquet")).to_pylist()
    return root / "out" / "titles", {row["id"]: row for row in rows}, report


@pytest.mark.parametrize("case", TITLE_CASES, ids=lambda case: case.id)
def test_preprocess_predict_titles(preprocessed, case: TitleCase) -> None:
    _, rows, _ = preprocessed
    row = rows[case.id]
    assert row["rejection_reason"] == case.reason
    assert row["title"] == case.raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    if case.reason is None:
        assert row["title_normalized"] == normalize_title(row["title"])


def test_preprocess_predict_keeps_duplicates_and_balances(preprocessed) -> None:
    _, rows, report = preprocessed
    assert rows["dup-1"]["title_normalized"] == rows["dup-2"]["title_normalized"] == "registered nurse"
    assert report["input_rows"] == len(TITLE_CASES) + 2 == len(rows)
    assert report["input_rows"] == report["valid_rows"] + report["rejected_rows"]
    assert report["rejected_rows"] == sum(case.reason is not None for case in TITLE_CASES)
    # Every reason is listed (zero or not), so a report's reader sees all the reasons there are.
    assert {case.reason for case in TITLE_CASES if case.reason} <= set(preprocess_predict.REASONS)
    assert list(report["rejections_by_reason"]) == list(preprocess_predict.REASONS)


def test_the_emr_titles_job_gives_every_title_case_the_same_reason(spark, preprocessed, tmp_path) -> None:
    """The predict branch's EMR engine (titles_etl.py) on the same CSV: the same reason per
    row, and a report that knows every reason (it refuses a reason it does not know)."""
    titles_dir, rows, _ = preprocessed
    report = titles_etl.run(spark, str(titles_dir.parent.parent / "in"), str(tmp_path / "out"))
    parts = prepared.ordered_files(tmp_path / "out" / prepared.TITLES_DIR, [".parquet"])
    reasons = {row["id"]: row["rejection_reason"] for part in parts for row in pq.read_table(str(part)).to_pylist()}
    assert reasons == {row_id: row["rejection_reason"] for row_id, row in rows.items()}
    assert list(report["rejections_by_reason"]) == list(titles_etl.REASONS)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(
            b"id;title\n1;Nurse\n", r"jobs\.csv has no 'title' column; columns found: \['id;title'\]", id="semicolons"
        ),
        pytest.param(
            b"id\ttitle\n1\tNurse\n", r"jobs\.csv has no 'title' column; columns found: \['id\\ttitle'\]", id="tabs"
        ),
        pytest.param(
            b'id,title\n1,"Nurse\n2,Chef\n',
            r"jobs\.csv is not valid CSV \(line \d+\): unexpected end of data",
            id="unbalanced-quote",
        ),
        pytest.param(
            b"id,title\n",
            r"no titles to classify: \[.jobs\.csv.\] have a header but no data rows",
            id="header-only",
        ),
        pytest.param(b"", r"jobs\.csv is empty", id="zero-bytes"),
    ],
)
def test_preprocess_predict_file_errors(tmp_path, data: bytes, message: str) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "jobs.csv").write_bytes(data)
    with pytest.raises(InputError, match=message):
        preprocess_predict.run(tmp_path / "in", tmp_path / "out")
    assert not list((tmp_path / "out").rglob("*.parquet"))


@pytest.fixture(scope="module")
def model_archive(tmp_path_factory) -> Path:
    return fx.make_model_archive(tmp_path_factory.mktemp("bad-input-model"))["archive"]


@pytest.fixture
def registered_model(local_registry, model_archive) -> None:
    fx.register_local(*local_registry, GROUP, model_archive)


def read_predictions(path: Path) -> list[dict]:
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_predict_answers_duplicates_and_all_rejected_batches(preprocessed, registered_model, tmp_path) -> None:
    titles_dir, rows, _ = preprocessed
    summary = predict.run(titles_dir, tmp_path / "out", GROUP, "2026-11-23", "run1")
    predictions = read_predictions(predict.output_folder(tmp_path / "out", "2026-11-23", "run1") / "titles.csv")
    assert [p["id"] for p in predictions] == list(rows)  # one row per input row, in order
    by_id = {p["id"]: p for p in predictions}
    assert by_id["dup-1"]["top3"] == by_id["dup-2"]["top3"] and by_id["dup-1"]["major_group"]
    for case in TITLE_CASES:
        assert (by_id[case.id]["rejection_reason"] or None) == case.reason, case.id
    assert summary["input_rows"] == summary["predicted_rows"] + summary["rejected_rows"]

    # A batch of nothing but bad titles: every row answered with its reason, none predicted.
    (tmp_path / "bad").mkdir()
    bad = [case for case in TITLE_CASES if case.reason]
    lines = [b"id,title"] + [case.id.encode() + b"," + csv_line(case.raw) for case in bad]
    (tmp_path / "bad" / "t.csv").write_bytes(b"\n".join(lines) + b"\n")
    preprocess_predict.run(tmp_path / "bad", tmp_path / "bad-pre")
    summary = predict.run(tmp_path / "bad-pre" / "titles", tmp_path / "bad-out", GROUP, "2026-11-23", "run1")
    assert (summary["input_rows"], summary["predicted_rows"], summary["rejected_rows"]) == (len(bad), 0, len(bad))
    predictions = read_predictions(predict.output_folder(tmp_path / "bad-out", "2026-11-23", "run1") / "t.csv")
    assert [p["rejection_reason"] for p in predictions] == [case.reason for case in bad]


# Issue 14, item 1: ids and titles a spreadsheet would run as formulas, or a terminal would obey.
INJECTED_CELLS = [
    ('=HYPERLINK("http://attacker.example","Click")', "=1+1"),
    ("+cmd|' /C calc'!A0", "-1+cmd|' /C calc'!A0"),
    ("@SUM(1+1)", "Nurse;=1+1"),
    ("-", "\x1b]0;pwned\x07\x1b[2J Chef"),
    ("-12", "'Til Death"),
    ("\tid", "Registered Nurse"),
]


def test_predictions_csv_cells_cannot_run_as_formulas_and_undo_exactly(
    registered_model, tmp_path, original_cell
) -> None:
    (tmp_path / "in").mkdir()
    lines = [b"id,title"] + [csv_line(i.encode()) + b"," + csv_line(t.encode()) for i, t in INJECTED_CELLS]
    (tmp_path / "in" / "=1+1.csv").write_bytes(b"\n".join(lines) + b"\n")  # the file name is a cell too
    preprocess_predict.run(tmp_path / "in", tmp_path / "pre")
    predict.run(tmp_path / "pre" / "titles", tmp_path / "out", GROUP, "2026-11-23", "run1")
    path = predict.output_folder(tmp_path / "out", "2026-11-23", "run1") / "=1+1.csv"
    text = path.read_text(encoding="utf-8")
    assert "\x1b" not in text and "\x07" not in text and "\t" not in text
    rows = read_predictions(path)
    for row in rows:
        for name, cell in row.items():
            assert not cell.startswith(("=", "+", "@")) and (not cell.startswith("-") or cell == "-12"), (name, cell)
    assert [(original_cell(r["id"]), original_cell(r["title"])) for r in rows] == INJECTED_CELLS
    assert rows[4]["id"] == "-12" and rows[3]["id"] == "'-"  # a plain number stays a number
    assert {r["source_file"] for r in rows} == {"'=1+1.csv"}


# --- every processing step, as its job runs it: one line on stderr, exit 1 ------------------------


def write_parquet(directory: Path, columns: dict[str, list]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), str(directory / "part-0.parquet"))
    return directory


def csv_dir(directory: Path, data: bytes) -> Path:
    (directory / "in").mkdir(parents=True, exist_ok=True)
    (directory / "in" / "t.csv").write_bytes(data)
    return directory / "in"


STEP_ERRORS: list[tuple[str, Callable[[Path], list[str]], str]] = [
    (
        "preprocess-predict",
        lambda d: ["--input", str(csv_dir(d, b"")), "--output", str(d / "out")],
        "t.csv is empty",
    ),
    (
        "preprocess-predict",
        lambda d: ["--input", str(csv_dir(d, b"title;id\nNurse;1\n")), "--output", str(d / "out")],
        "has no 'title' column",
    ),
    (
        "preprocess-train",
        lambda d: [
            "--input", str(write_parquet(d / "etl", {"onet_soc_code": ["15-1252.00"], "title_normalized": ["coder"]})),
            "--output", str(d / "out"),
        ],
        "lacks column(s) ['major_group']",
    ),
    (
        "predict",
        lambda d: [
            "--input", str(write_parquet(d / "pre", {"source_file": ["t.csv"], "source_row": [1], "id": ["1"],
                                                     "title": ["Nurse"]})),
            "--output", str(d / "out"), "--model-package-group", GROUP, "--execution-date", "2026-11-23",
            "--execution-id", "run1",
        ],
        "lacks column(s) ['id_generated', 'title_normalized', 'rejection_reason']",
    ),
    ("prediction-report", lambda d: report_args(d, {}), "no BatchPredict reports (report-*.json) under"),
    ("prediction-report", lambda d: report_args(d, {"report-algo-1.json": "{not json"}), "report-algo-1.json: not a JSON report"),
    (
        "prediction-report",
        lambda d: report_args(d, {"report-algo-1.json": json.dumps({"host": "algo-1", "execution_id": "a"})}),
        "report-algo-1.json: not a BatchPredict instance report (it lacks ['answered_by', 'baseline',",
    ),
    (
        "prediction-report",
        lambda d: report_args(d, {"report-algo-1.json": instance_part("algo-1", "a"),
                                  "report-algo-2.json": instance_part("algo-2", "b")}),
        "the BatchPredict instances disagree on the execution (algo-1: 'a', algo-2: 'b')",
    ),
]  # fmt: skip


def instance_part(host: str, execution: str) -> str:
    """An instance report with every key PredictionReport reads, of `host` in `execution` (values but those: None)."""
    from pipeline_steps.prediction_report import PART_KEYS

    return json.dumps({**dict.fromkeys(PART_KEYS), "host": host, "execution_id": execution})


def report_args(directory: Path, parts: dict[str, str]) -> list[str]:
    """prediction-report's arguments, its --parts folder holding `parts` (file name -> text)."""
    (directory / "parts").mkdir()
    for name, text in parts.items():
        (directory / "parts" / name).write_text(text)
    from config import load_environment
    from pipeline_steps.contract import PredictionReportLimits

    limits = PredictionReportLimits.of(load_environment("develop").monitoring)
    return ["--parts", str(directory / "parts"), "--output", str(directory / "out"), *limits.arguments()]


@pytest.mark.parametrize(
    ("step", "make_args", "message"), STEP_ERRORS, ids=[f"{s}-{i}" for i, (s, _, _) in enumerate(STEP_ERRORS)]
)
def test_processing_job_prints_one_line_and_exits_1(tmp_path, capsys, step: str, make_args, message: str) -> None:
    assert dispatcher.main([step, *make_args(tmp_path)]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"{step}: error: ") and message in error
    assert "\n" not in error and "Traceback" not in error


# --- pipeline parameters, against the real definition ---------------------------------------------


@pytest.fixture(scope="module")
def declared_parameters() -> list[dict]:
    from config import load_environment
    from workflow.definition import StepCode
    from workflow.definition.builder import build_definition
    from workflow.local.run import local_spec

    code = StepCode(
        steps_archive_uri="s3://jobclf-develop-assets/steps.zip",
        etl_script_uri="s3://jobclf-develop-assets/etl.py",
        training_source_uri="s3://jobclf-develop-assets/training.tar.gz",
        etl_dependencies_uri="s3://jobclf-develop-assets/etl-dependencies.zip",
    )
    return json.loads(build_definition(local_spec(load_environment("develop"), code)))["Parameters"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(
            {"seed": "1"}, r"unknown parameter 'seed'; the definition declares: .*split_seed", id="unknown-name"
        ),
        pytest.param({"usetype": "train"}, r"unknown parameter 'usetype'; .*use_type", id="misspelt-name"),
        pytest.param(
            {"split_seed": "abc"}, r"parameter split_seed: 'abc' is not a valid Integer", id="integer-not-a-number"
        ),
        pytest.param(
            {"split_seed": "1.5"}, r"parameter split_seed: '1\.5' is not a valid Integer", id="integer-given-a-float"
        ),
        pytest.param(
            {"word_ngram_max": ""}, r"parameter word_ngram_max: '' is not a valid Integer", id="integer-empty"
        ),
        pytest.param(
            {"validation_fraction": "10%"},
            r"parameter validation_fraction: '10%' is not a valid Float",
            id="float-with-percent",
        ),
        pytest.param(
            {"use_type": "deploy"},
            r"parameter use_type: 'deploy' is not one of train, predict",
            id="use-type-not-allowed",
        ),
        pytest.param(
            {"model_approval_status": "approved"},
            r"parameter model_approval_status: 'approved' is not one of Approved, PendingManualApproval, Rejected",
            id="approval-status-wrong-case",
        ),
    ],
)
def test_bad_pipeline_parameters_are_refused_naming_them(declared_parameters, overrides, message) -> None:
    from workflow.local.runner import ParameterError, resolve_parameters

    with pytest.raises(ParameterError, match=message):
        resolve_parameters(declared_parameters, overrides)


# --- title normalization: properties -------------------------------------------------------------

NORMALIZED_ALPHABET = set("abcdefghijklmnopqrstuvwxyz0123456789+# ")


@settings(max_examples=500, deadline=None)
@given(title=st.text())
@example(title="Sauté  Cook & Chef")
@example(title="ＣＥＯ")  # full-width letters fold to ASCII
@example(title="ß")  # casefolds to two letters
@example(title="\u0130stanbul")  # İ decomposes with a combining dot
@example(title="C++ / C# Developer")
def test_normalize_title_is_idempotent_ascii_single_spaced_and_total(title: str) -> None:
    normalized = normalize_title(title)
    assert normalize_title(normalized) == normalized
    assert set(normalized) <= NORMALIZED_ALPHABET
    assert "  " not in normalized and normalized == normalized.strip()


@settings(max_examples=300, deadline=None)
@given(title=st.one_of(st.none(), st.text(), st.binary().map(lambda b: b.decode("utf-8", errors="replace"))))
def test_title_problem_never_raises_and_agrees_with_normalization(title: str | None) -> None:
    problem = title_problem(title)
    assert problem in (None, EMPTY_TITLE, TITLE_TOO_LONG, UNDECODABLE_TITLE, NO_LETTERS, UNSUPPORTED_SCRIPT)
    if problem is None:
        assert any(c.isalpha() for c in normalize_title(title))
    # title_without_letters only for titles with no letter in any script; letters the model cannot read
    # (no Latin letter survives normalization) are unsupported_script.
    if problem == NO_LETTERS:
        assert not any(c.isalpha() for c in title)
    if problem == UNSUPPORTED_SCRIPT:
        assert any(c.isalpha() for c in title) and not any(c.isalpha() for c in normalize_title(title))
