"""dataio: reading Spark-style Parquet directories, writing Parquet and JSON."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline_steps import dataio


def test_reads_all_parts_and_ignores_bookkeeping(tmp_path):
    pq.write_table(pa.table({"a": [1, 2]}), str(tmp_path / "part-0.parquet"))
    (tmp_path / "nested").mkdir()
    pq.write_table(pa.table({"a": [3]}), str(tmp_path / "nested" / "part-1.parquet"))
    (tmp_path / "_temporary").mkdir()
    pq.write_table(pa.table({"a": [99]}), str(tmp_path / "_temporary" / "part-9.parquet"))
    (tmp_path / "_SUCCESS").write_bytes(b"")
    (tmp_path / ".part-0.parquet.crc").write_bytes(b"x")
    table = dataio.read_parquet_table(tmp_path)
    assert sorted(table.column("a").to_pylist()) == [1, 2, 3]


def test_parts_with_an_all_null_column_combine(tmp_path):
    pq.write_table(pa.table({"a": ["x"], "s": pa.array([None], pa.null())}), str(tmp_path / "p0.parquet"))
    pq.write_table(pa.table({"a": ["y"], "s": ["short"]}), str(tmp_path / "p1.parquet"))
    frame = dataio.read_parquet_dir(tmp_path, ["a", "s"])
    assert sorted(frame["a"].tolist()) == ["x", "y"]


def test_errors_name_what_is_wrong(tmp_path):
    with pytest.raises(dataio.InputError, match="does not exist"):
        dataio.read_parquet_table(tmp_path / "missing")
    (tmp_path / "_SUCCESS").write_bytes(b"")
    with pytest.raises(dataio.InputError, match=r"no Parquet files .*_SUCCESS"):
        dataio.read_parquet_table(tmp_path)
    pq.write_table(pa.table({"a": [1]}), str(tmp_path / "p.parquet"))
    with pytest.raises(dataio.InputError, match=r"lacks column\(s\) \['title'\]"):
        dataio.read_parquet_table(tmp_path, ["a", "title"])
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(dataio.InputError, match="broken.parquet"):
        dataio.read_parquet_table(tmp_path)


def test_read_labeled_titles_skips_rows_without_title(tmp_path):
    pq.write_table(
        pa.table({"title_normalized": ["nurse", None, " ", "chef"], "major_group": ["29", "29", "35", "35"]}),
        str(tmp_path / "p.parquet"),
    )
    assert dataio.read_labeled_titles(tmp_path) == (["nurse", "chef"], ["29", "35"])


def test_write_parquet_and_json(tmp_path):
    import pandas as pd

    path = dataio.write_parquet(pd.DataFrame({"a": [1, 2]}, index=[5, 6]), tmp_path / "x" / "f.parquet")
    table = pq.read_table(str(path))
    assert table.column_names == ["a"] and table.schema.metadata is None
    target = dataio.write_json({"b": 1, "a": "é"}, tmp_path / "y" / "r.json")
    assert json.loads(target.read_text("utf-8")) == {"a": "é", "b": 1}
    assert not list((tmp_path / "y").glob("*.tmp"))


def test_count_by():
    assert dataio.count_by(["b", "a", "b"]) == {"a": 1, "b": 2}
