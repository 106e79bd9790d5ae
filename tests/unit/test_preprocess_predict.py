"""preprocess-predict: reading CSV and Parquet files of titles, streaming, one output row per input row, clear errors."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline_steps import prepared
from pipeline_steps import preprocess_predict as pp
from pipeline_steps.errors import InputError


def run(tmp_path, files, **kwargs):
    source = tmp_path / "in"
    source.mkdir(exist_ok=True)
    for name, data in files.items():
        path = source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, pa.Table):
            pq.write_table(data, str(path))
        else:
            path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    summary = pp.run(source, tmp_path / "out", **kwargs)
    parts = prepared.ordered_files(tmp_path / "out" / prepared.TITLES_DIR, [".parquet"])
    table = pa.concat_tables([pq.read_table(str(p)) for p in parts]) if parts else pp.SCHEMA.empty_table()
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
        "a8,Manager, Sales,too many\n"
    )
    rows, summary, table = run(tmp_path, {"titles.csv": data})
    assert table.schema.names == list(prepared.COLUMNS)
    assert rows["source_file"] == ["titles.csv"] * 8 and rows["source_row"] == list(range(1, 9))
    assert rows["id"] == ["a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"] and not any(rows["id_generated"])
    # A row whose field count is not the header's keeps the whole record as its title, never a cut one.
    assert rows["title"] == [
        "Registered Nurse",
        "",
        "   ",
        long_title,
        "1234",
        "Caf\xe9 Manager",
        "a7",
        "a8,Manager, Sales,too many",
    ]
    assert rows["rejection_reason"] == [
        None,
        "empty_title",
        "empty_title",
        "title_too_long",
        "title_without_letters",
        None,
        "wrong_field_count",
        "wrong_field_count",
    ]
    assert rows["title_normalized"][0] == "registered nurse" and rows["title_normalized"][5] == "cafe manager"
    assert summary["input_rows"] == 8 == summary["valid_rows"] + summary["rejected_rows"]
    assert summary["rejections_by_reason"] == {
        "wrong_field_count": 2,
        "empty_title": 2,
        "title_too_long": 1,
        "title_without_letters": 1,
        "undecodable_title": 0,
        "unsupported_script": 0,
    }
    assert json.loads((tmp_path / "out" / "report-algo-1.json").read_text()) == summary
    quarantine = pq.read_table(str(tmp_path / "out" / prepared.QUARANTINE_DIR / "titles.parquet")).to_pydict()
    assert quarantine["source_row"] == [2, 3, 4, 5, 7, 8]
    assert quarantine["rejection_reason"] == [r for r in rows["rejection_reason"] if r]


def test_bad_bytes_become_rejections_not_crashes(tmp_path):
    data = b"title\nNurse\n\xff\xfe\xfd Driver\nCo\x00ok\nChef\n"
    rows, summary, _ = run(tmp_path, {"t.csv": data})
    assert rows["rejection_reason"] == [None, "undecodable_title", "undecodable_title", None]
    assert rows["title"][3] == "Chef"
    assert summary["rejections_by_reason"]["undecodable_title"] == 2


def test_bom_header_and_no_id_column(tmp_path):
    rows, _, _ = run(tmp_path, {"t.csv": "\ufeffTitle\r\nNurse\r\nChef\r\n"})
    assert rows["title"] == ["Nurse", "Chef"]
    assert rows["id"] == ["t.csv#1", "t.csv#2"] and rows["id_generated"] == [True, True]


def test_generated_ids_never_collide_with_given_ones(tmp_path):
    # Before: a missing id became the row number, here "1", which row 0 already uses.
    rows, _, _ = run(tmp_path, {"t.csv": "id,title\n1,Nurse\n,Chef\n2,Pilot\n,Driver\n"})
    assert rows["id"] == ["1", "t.csv#2", "2", "t.csv#4"]
    assert len(set(rows["id"])) == 4
    assert rows["id_generated"] == [False, True, False, True]


def test_several_files_in_path_order(tmp_path):
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
    assert rows["id"] == ["a.csv#1", "a.csv#2", "b1", "sub/c.CSV#1"]
    assert summary["input_files"] == ["a.csv", "b.csv", "sub/c.CSV"]
    names = sorted(
        p.relative_to(tmp_path / "out" / "titles").as_posix() for p in (tmp_path / "out" / "titles").rglob("*")
    )
    assert names == ["a.parquet", "b.parquet", "sub", "sub/c.parquet"]


def test_input_order_ignores_the_suffix(tmp_path):
    # "a" comes before "a-b", although "a-b.csv" sorts before "a.csv" as text.
    rows, summary, _ = run(tmp_path, {"a-b.csv": "title\nChef\n", "a.csv": "title\nNurse\n"})
    assert rows["title"] == ["Nurse", "Chef"] and summary["input_files"] == ["a.csv", "a-b.csv"]


def test_parquet_input_with_any_column_case_and_types(tmp_path):
    table = pa.table({"Title": ["Nurse", None, "Chef"], "ID": [7, None, 9], "other": [1, 2, 3]})
    rows, summary, _ = run(tmp_path, {"batch.parquet": table, "more.csv": "title\nPilot\n"})
    assert rows["title"] == ["Nurse", None, "Chef", "Pilot"]
    assert rows["id"] == ["7", "batch.parquet#2", "9", "more.csv#1"]
    assert rows["rejection_reason"] == [None, "empty_title", None, None]
    assert summary["input_files"] == ["batch.parquet", "more.csv"]


def test_files_that_differ_only_in_suffix_are_refused(tmp_path):
    with pytest.raises(InputError, match="differ only in suffix"):
        run(tmp_path, {"a.csv": "title\nNurse\n", "a.parquet": pa.table({"title": ["Chef"]})})


def test_batches_do_not_change_the_output(tmp_path):
    titles = [f"Title {i}" if i % 3 else "" for i in range(11)]
    data = "title\n" + "\n".join(f'"{t}"' for t in titles) + "\n"
    rows, summary, _ = run(tmp_path, {"t.csv": data}, batch_rows=4)
    assert rows["source_row"] == list(range(1, 12)) and rows["title"] == titles
    assert pq.ParquetFile(str(tmp_path / "out" / "titles" / "t.parquet")).num_row_groups == 3
    assert summary["input_rows"] == 11 and summary["rejected_rows"] == 4


def test_an_instance_with_an_empty_share_writes_only_its_report(tmp_path):
    config = tmp_path / "resourceconfig.json"
    config.write_text(json.dumps({"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]}))
    (tmp_path / "in").mkdir()
    summary = pp.run(tmp_path / "in", tmp_path / "out", resource_config=config)
    assert summary["host"] == "algo-2" and summary["input_rows"] == 0
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["report-algo-2.json"]
    with pytest.raises(InputError, match="no CSV or Parquet files"):  # alone, an empty input is an error
        pp.run(tmp_path / "in", tmp_path / "out2")


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


def test_no_input_files(tmp_path):
    with pytest.raises(InputError, match="no CSV or Parquet files"):
        run(tmp_path, {"titles.txt": "title\nNurse\n"})


def test_a_huge_field_is_read(tmp_path):
    rows, _, _ = run(tmp_path, {"t.csv": "title\n" + "a" * 300000 + "\nNurse\n"})
    assert rows["rejection_reason"] == ["title_too_long", None]


def test_main(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "t.csv").write_text("title\nNurse\n\n")
    assert pp.main(["--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")]) == 0
    assert "1 rows from 1 file(s) on algo-1" in capsys.readouterr().out
