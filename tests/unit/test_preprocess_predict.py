"""preprocess-predict: reading CSVs of titles, one output row per input row, clear errors."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from pipeline_steps import preprocess_predict as pp
from pipeline_steps.dataio import InputError


def run(tmp_path, files):
    source = tmp_path / "in"
    source.mkdir(exist_ok=True)
    for name, data in files.items():
        path = source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    summary = pp.run(source, tmp_path / "out")
    table = pq.read_table(str(tmp_path / "out" / "titles.parquet"))
    return table.to_pydict(), summary, table


def test_every_row_kept_in_order_with_reasons(tmp_path):
    long_title = "Engineer " * 30
    data = (
        "id,title,notes\n"
        "a1,Registered Nurse,x\n"
        "a2,,empty\n"
        "a3,   ,blank\n"
        f"a4,{long_title},long\n"
        "a5,1234,digits\n"
        "a6,Caf\xe9 Manager,accent\n"
        "a7\n"
    )
    rows, summary, table = run(tmp_path, {"titles.csv": data})
    assert table.schema.names == ["row_number", "id", "title", "title_normalized", "rejection_reason"]
    assert rows["row_number"] == list(range(7))
    assert rows["id"] == ["a1", "a2", "a3", "a4", "a5", "a6", "a7"]
    assert rows["title"] == ["Registered Nurse", "", "   ", long_title, "1234", "Caf\xe9 Manager", None]
    assert rows["rejection_reason"] == [
        None,
        "empty_title",
        "empty_title",
        "title_too_long",
        "title_without_letters",
        None,
        "empty_title",
    ]
    assert rows["title_normalized"][0] == "registered nurse" and rows["title_normalized"][5] == "cafe manager"
    assert summary["input_rows"] == 7 == summary["valid_rows"] + summary["rejected_rows"]
    assert summary["rejections_by_reason"] == {
        "empty_title": 3,
        "title_too_long": 1,
        "title_without_letters": 1,
        "undecodable_title": 0,
    }
    assert json.loads((tmp_path / "out" / "report.json").read_text()) == summary


def test_bad_bytes_become_rejections_not_crashes(tmp_path):
    data = b"title\nNurse\n\xff\xfe\xfd Driver\nCo\x00ok\nChef\n"
    rows, summary, _ = run(tmp_path, {"t.csv": data})
    assert rows["rejection_reason"] == [None, "undecodable_title", "undecodable_title", None]
    assert rows["title"][3] == "Chef"
    assert summary["rejections_by_reason"]["undecodable_title"] == 2


def test_bom_header_and_no_id_column(tmp_path):
    rows, _, _ = run(tmp_path, {"t.csv": "\ufeffTitle\r\nNurse\r\nChef\r\n"})
    assert rows["title"] == ["Nurse", "Chef"]
    assert rows["id"] == ["0", "1"]  # the row number when there is no id column


def test_several_files_numbered_in_path_order(tmp_path):
    rows, summary, _ = run(
        tmp_path,
        {
            "b.csv": "title,id\nChef,b1\n",
            "a.csv": "title\nNurse\nPilot\n",
            "sub/c.CSV": "ID,TITLE\n,Driver\n",
            "_SUCCESS": "",
            "notes.txt": "x",
        },
    )
    assert rows["title"] == ["Nurse", "Pilot", "Chef", "Driver"]
    assert rows["id"] == ["0", "1", "b1", "3"]  # an empty id cell falls back to the row number
    assert summary["input_files"] == ["a.csv", "b.csv", "sub/c.CSV"]


def test_quoted_fields_with_commas_and_newlines(tmp_path):
    rows, _, _ = run(tmp_path, {"t.csv": 'title,id\n"Manager, Sales",1\n"Two\nLines",2\n'})
    assert rows["title"] == ["Manager, Sales", "Two\nLines"]


def test_missing_title_column_names_file_and_columns(tmp_path):
    with pytest.raises(InputError) as error:
        run(tmp_path, {"jobs.csv": "id,job_name\n1,Nurse\n"})
    assert "jobs.csv" in str(error.value) and "'job_name'" in str(error.value)


@pytest.mark.parametrize("data", [b"", b"   \n\n", b"\xef\xbb\xbf"])
def test_empty_file_is_named(tmp_path, data):
    with pytest.raises(InputError, match=r"empty.csv is empty"):
        run(tmp_path, {"empty.csv": data})


def test_utf16_file_is_explained(tmp_path):
    with pytest.raises(InputError, match="UTF-16"):
        run(tmp_path, {"u.csv": "title\nNurse\n".encode("utf-16")})


def test_no_csv_files(tmp_path):
    with pytest.raises(InputError, match="no CSV files"):
        run(tmp_path, {"titles.txt": "title\nNurse\n"})


def test_a_huge_field_is_read(tmp_path):
    rows, _, _ = run(tmp_path, {"t.csv": "title\n" + "a" * 300000 + "\nNurse\n"})
    assert rows["rejection_reason"] == ["title_too_long", None]


def test_main(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "t.csv").write_text("title\nNurse\n\n")
    assert pp.main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")]) == 0
    assert "1 rows from 1 file(s)" in capsys.readouterr().out
