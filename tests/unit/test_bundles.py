"""Step bundles: byte-for-byte reproducible, and holding exactly the code that ships."""

from __future__ import annotations

import tarfile
import zipfile

from workflow.definition.bundles import build_step_bundles, step_module_files


def test_bundles_are_identical_across_builds(tmp_path):
    first, second = build_step_bundles(tmp_path / "a"), build_step_bundles(tmp_path / "b")
    assert first.steps_archive.read_bytes() == second.steps_archive.read_bytes()
    assert first.training_source.read_bytes() == second.training_source.read_bytes()


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
    assert bundles.etl_script.name == "etl.py" and bundles.emr_bootstrap.name == "emr_bootstrap.sh"
