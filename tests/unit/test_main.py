"""The step dispatcher: `python -m pipeline_steps <step>` and `python3 <steps.zip> <step>`."""

from __future__ import annotations

import json
import subprocess
import sys

import steps_fixtures as fx

from pipeline_steps import __main__ as dispatcher


def test_steps_map_to_modules_with_main():
    import importlib

    assert set(dispatcher.STEPS) == {
        "preprocess-train",
        "preprocess-predict",
        "evaluate",
        "predict",
        "train",
        "prediction-report",
    }
    for module in dispatcher.STEPS.values():
        assert callable(importlib.import_module(f"pipeline_steps.{module}").main)


def test_unknown_step_gets_usage(capsys):
    assert dispatcher.main(["preprocess"]) == 2
    err = capsys.readouterr().err
    assert "unknown step 'preprocess'" in err and "preprocess-train" in err


def test_no_step_gets_usage(capsys):
    assert dispatcher.main([]) == 2
    assert "usage:" in capsys.readouterr().err
    assert dispatcher.main(["--help"]) == 0


def test_step_errors_are_one_line(tmp_path, capsys):
    assert (
        dispatcher.main(["preprocess-train", "--input", str(tmp_path / "none"), "--output", str(tmp_path / "o")]) == 1
    )
    assert capsys.readouterr().err.startswith("preprocess-train: error: input directory")


def test_dispatches_with_arguments(tmp_path):
    fx.write_etl(tmp_path / "etl")
    assert (
        dispatcher.main(["preprocess-train", "--input", str(tmp_path / "etl"), "--output", str(tmp_path / "out")]) == 0
    )
    assert (tmp_path / "out" / "split_report.json").is_file()


def test_runs_from_the_published_steps_zip(tmp_path):
    """`python3 steps.zip <step> ...` as a processing job runs it, with the archive the stack publishes."""
    from workflow.definition.bundles import steps_zip_bytes

    fx.write_etl(tmp_path / "etl")
    steps = tmp_path / "steps.zip"
    steps.write_bytes(steps_zip_bytes())
    result = subprocess.run(
        [
            sys.executable,
            "-E",
            "-s",
            str(steps),
            "preprocess-train",
            "--input",
            str(tmp_path / "etl"),
            "--output",
            str(tmp_path / "out"),
            "--seed",
            "4",
        ],
        cwd=str(tmp_path),
        env=fx.subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "out" / "split_report.json").read_text())["seed"] == 4
    bad = subprocess.run(
        [sys.executable, "-E", "-s", str(steps), "nope"],
        cwd=str(tmp_path),
        env=fx.subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "unknown step" in bad.stderr
