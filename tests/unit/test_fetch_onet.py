"""The O*NET download keeps only checksum-verified tables (tested on an in-memory release zip)."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import zipfile
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("fetch_onet", Path(__file__).parents[2] / "scripts" / "fetch_onet.py")
fetch_onet = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fetch_onet)


def release_zip(tables: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in tables.items():
            archive.writestr(f"db_28_1_excel/{name}", data)
    return buffer.getvalue()


def test_tables_matching_their_checksums_are_written(tmp_path, monkeypatch):
    tables = {"Occupation Data.xlsx": b"occupations", "Alternate Titles.xlsx": b"titles", "Skills.xlsx": b"other"}
    monkeypatch.setattr(
        fetch_onet, "TABLE_SHA256", {n: hashlib.sha256(d).hexdigest() for n, d in tables.items() if n != "Skills.xlsx"}
    )
    written = fetch_onet.extract_tables(release_zip(tables), tmp_path)
    assert sorted(p.name for p in written) == ["Alternate Titles.xlsx", "Occupation Data.xlsx"]
    assert (tmp_path / "Alternate Titles.xlsx").read_bytes() == b"titles"


def test_a_changed_or_missing_table_stops_the_download(tmp_path):
    with pytest.raises(SystemExit, match="Occupation Data.xlsx has SHA-256 .* expected c2692f33"):
        fetch_onet.extract_tables(
            release_zip({"Occupation Data.xlsx": b"tampered", "Alternate Titles.xlsx": b""}), tmp_path
        )
    with pytest.raises(SystemExit, match="no 'Occupation Data.xlsx'"):
        fetch_onet.extract_tables(release_zip({"Alternate Titles.xlsx": b""}), tmp_path)
    assert not (tmp_path / "Occupation Data.xlsx").exists()
