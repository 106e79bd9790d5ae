"""Step bundles: byte-for-byte reproducible, and holding exactly the code that ships."""

from __future__ import annotations

import importlib.metadata
import subprocess
import tarfile
import zipfile
from pathlib import Path

import steps_fixtures as fx

from workflow.definition.bundles import ETL_DEPENDENCIES, build_step_bundles, step_module_files
from workflow.local.executors import IMAGE_PYTHON


def test_bundles_are_identical_across_builds(tmp_path):
    first, second = build_step_bundles(tmp_path / "a"), build_step_bundles(tmp_path / "b")
    assert first.steps_archive.read_bytes() == second.steps_archive.read_bytes()
    assert first.training_source.read_bytes() == second.training_source.read_bytes()
    assert first.etl_dependencies.read_bytes() == second.etl_dependencies.read_bytes()


def test_archives_hold_the_step_modules_and_entry_points_and_nothing_else(tmp_path):
    bundles = build_step_bundles(tmp_path)
    modules = {f"pipeline_steps/{p.name}" for p in step_module_files()}
    assert {"pipeline_steps/etl.py", "pipeline_steps/text.py", "pipeline_steps/train.py"} <= modules
    with zipfile.ZipFile(bundles.steps_archive) as archive:
        assert set(archive.namelist()) == modules | {"__main__.py"}
    with tarfile.open(bundles.training_source) as archive:
        names = set(archive.getnames())
        assert names == modules | {"train.py"}
        assert all(member.mtime == 0 and member.uid == 0 for member in archive.getmembers())
    assert not any(name.startswith("workflow/") for name in modules)
    assert bundles.etl_script.name == "etl_main.py" and bundles.etl_dependencies.name == "etl-dependencies.zip"


def test_the_etl_dependencies_read_a_workbook_with_nothing_installed(tmp_path):
    """EMR nodes get openpyxl only through --py-files: a Python 3.9 (EMR 7's, and the image venv's) with no
    site-packages reads an .xlsx with the zip on its path alone, so no bootstrap action or PyPI is needed."""
    bundles = build_step_bundles(tmp_path)
    workbook = tmp_path / "titles.xlsx"
    workbook.write_bytes(fx.xlsx_bytes([["O*NET-SOC Code", "Title"], ["29-1141.00", "Registered Nurses"]]))
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import openpyxl; "
        "assert openpyxl.__file__.startswith(sys.argv[1]), openpyxl.__file__; "
        "book = openpyxl.load_workbook(sys.argv[2], read_only=True, data_only=True); "
        "print(sys.version_info[:2], [list(row) for row in book.worksheets[0].iter_rows(values_only=True)])"
    )
    # -S: no site-packages, -E: no PYTHON* variables; the interpreter has only its standard library and the zip.
    result = subprocess.run(
        [str(IMAGE_PYTHON), "-S", "-E", "-c", script, str(bundles.etl_dependencies), str(workbook)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(3, 9) [['O*NET-SOC Code', 'Title'], ['29-1141.00', 'Registered Nurses']]"
    with zipfile.ZipFile(bundles.etl_dependencies) as archive:
        names = archive.namelist()
    licences = [name for name in names if "LICENCE" in name]
    assert {"openpyxl-3.1.5.dist-info/LICENCE.rst", "et_xmlfile-2.0.0.dist-info/LICENCE.rst"} <= set(licences)
    assert not [name for name in names if name.endswith(".pyc")]


def test_the_etl_dependencies_are_the_pinned_versions():
    requirements = (Path(__file__).parents[2] / "requirements.txt").read_text(encoding="utf-8")
    for distribution in ETL_DEPENDENCIES:
        assert f"{distribution}=={importlib.metadata.version(distribution)}" in requirements, distribution
