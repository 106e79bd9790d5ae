"""The local run's request checks, in process: paths and parameters are refused before anything runs.

Each case names what a user got wrong; nothing is staged, built into jobs or written to --output.
The parameter ranges are the definition's own CheckParameters conditions, so the same values are
also shown to fail the check the deployed pipeline runs first (what that cannot prove: that
SageMaker evaluates NaN and infinities in a condition as Python does).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from config import load_environment
from workflow.definition import StepCode
from workflow.definition.builder import build_definition
from workflow.local.expressions import EvaluationContext
from workflow.local.processes import RUNNING_STEPS_FILE, StepProcesses
from workflow.local.request import LocalRunRequest, UsageError
from workflow.local.run import LOCK_FILE, local_spec, run_local
from workflow.local.runner import ParameterError, failed_parameter_checks, resolve_parameters

ROOT = Path(__file__).parents[2]
FIXTURE_ONET = ROOT / "tests" / "fixtures" / "onet"


@pytest.fixture
def titles(tmp_path: Path) -> Path:
    path = tmp_path / "titles.csv"
    path.write_text("id,title\n1,Registered Nurse\n")
    return path


def nothing_ran(work_dir: Path) -> bool:
    return not (work_dir / "jobs").exists() and not (work_dir / "s3").exists()


@pytest.mark.parametrize(
    ("make_run", "message"),
    [
        pytest.param(
            lambda t, w: LocalRunRequest("develop", "predict", input=t, output=t.parent, work_dir=w),
            "is a folder; name the predictions file",
            id="output-is-a-folder",
        ),
        pytest.param(
            lambda t, w: LocalRunRequest("develop", "predict", input=t, output=t, work_dir=w),
            "is the --input file; the predictions would overwrite the titles",
            id="output-is-the-input",
        ),
        pytest.param(
            lambda t, w: LocalRunRequest("develop", "predict", input=t, output=t.parent / "." / t.name, work_dir=w),
            "is the --input file",
            id="output-is-the-input-by-another-path",
        ),
        pytest.param(
            lambda t, w: LocalRunRequest(
                "develop", "predict", params={"use_type": "train"}, input=t, output=t.with_name("p.csv"), work_dir=w
            ),
            "--param use_type=train contradicts --use-type predict",
            id="use-type-twice",
        ),
        pytest.param(
            lambda t, w: LocalRunRequest("develop", "predict", input=t, output=Path("/proc/version/p.csv"), work_dir=w),
            "--output /proc/version/p.csv: cannot write into /proc/version",
            id="output-under-a-file",
        ),
        pytest.param(
            lambda t, w: LocalRunRequest("develop", "train", onet_dir=FIXTURE_ONET, work_dir=Path("/proc/jobclf-work")),
            "--work-dir /proc/jobclf-work: cannot write there",
            id="work-dir-not-writable",
        ),
    ],
)
def test_bad_paths_are_refused_before_anything_runs(tmp_path, titles, make_run, message) -> None:
    work_dir = tmp_path / "work"
    with pytest.raises(UsageError) as error:
        run_local(make_run(titles, work_dir), report=lambda _: None)
    assert message in str(error.value)
    assert nothing_ran(work_dir)
    assert titles.read_text() == "id,title\n1,Registered Nurse\n"


BAD_PARAMETERS = [
    ({"model_c": "-5"}, "model_c=-5.0 must be >= 0.0001"),
    ({"model_c": "nan"}, "model_c=nan must be >= 0.0001"),
    ({"validation_fraction": "1e308"}, "validation_fraction=1e+308 must be <= 0.45"),
    ({"test_fraction": "0.99"}, "test_fraction=0.99 must be <= 0.45"),
    ({"min_macro_f1": "-inf"}, "min_macro_f1=-inf must be >= 0.0"),
    ({"split_seed": "-1"}, "split_seed=-1 must be >= 0"),
    ({"split_seed": str(2**31)}, f"split_seed={2**31} must be <= {2**31 - 1}"),
    ({"char_ngram_min": "5", "char_ngram_max": "3"}, "char_ngram_min=5 must be <= char_ngram_max=3"),
    ({"predict_instance_count": "0"}, "predict_instance_count=0 must be >= 1"),
    ({"predict_instance_count": "101"}, "predict_instance_count=101 must be <= 100"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_PARAMETERS, ids=lambda v: str(v))
def test_out_of_range_parameters_are_refused_before_anything_runs(tmp_path, overrides, message) -> None:
    work_dir = tmp_path / "work"
    with pytest.raises(ParameterError, match="parameter out of range") as error:
        run_local(
            LocalRunRequest("develop", "train", params=overrides, onet_dir=FIXTURE_ONET, work_dir=work_dir),
            report=lambda _: None,
        )
    assert message in str(error.value)
    assert not (work_dir / "jobs").exists() and not (work_dir / "s3" / "jobclf-develop-raw").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"execution_date": "2026-02-30"},
            "parameter execution_date: execution date '2026-02-30' is not a calendar date",
        ),
        ({"split_seed": "1e23"}, "parameter split_seed: '1e23' is not a valid Integer"),
    ],
)
def test_unparseable_parameters_are_refused_before_anything_runs(tmp_path, titles, overrides, message) -> None:
    run = LocalRunRequest(
        "develop", "predict", params=overrides, input=titles, output=tmp_path / "p.csv", work_dir=tmp_path / "w"
    )
    with pytest.raises(ParameterError) as error:
        run_local(run, report=lambda _: None)
    assert message in str(error.value)
    assert not (tmp_path / "w" / "jobs").exists()


@pytest.fixture(scope="module")
def definition() -> dict:
    code = StepCode("s3://a/steps.zip", "s3://a/etl.py", "s3://a/source.tar.gz", "s3://a/etl-dependencies.zip")
    return json.loads(build_definition(local_spec(load_environment("develop"), code)))


def chosen_paths(definition: dict, values: dict) -> list[str]:
    """The top-level condition steps whose steps an execution with `values` runs."""
    context = EvaluationContext(parameters=values, execution={})
    return [
        step["Name"] for step in definition["Steps"] if all(map(context.condition, step["Arguments"]["Conditions"]))
    ]


@pytest.mark.parametrize(("overrides", "message"), BAD_PARAMETERS, ids=lambda v: str(v))
def test_the_deployed_definition_fails_the_same_values_before_any_job(definition, overrides, message) -> None:
    """Every top-level step is a condition on parameters alone; out of range, only CheckParameters chooses its
    steps, and they are its Fail step: no job and no cluster starts."""
    assert {step["Type"] for step in definition["Steps"]} == {"Condition"}
    values = resolve_parameters(definition["Parameters"], overrides)
    assert message in failed_parameter_checks(definition, values)
    for use_type, engine in (("train", "processing"), ("predict", "processing"), ("predict", "emr")):
        chosen = chosen_paths(definition, {**values, "use_type": use_type, "predict_engine": engine})
        assert chosen == ["CheckParameters"]
    (check,) = [step for step in definition["Steps"] if step["Name"] == "CheckParameters"]
    assert [s["Type"] for s in check["Arguments"]["IfSteps"]] == ["Fail"]


@pytest.mark.parametrize(
    ("use_type", "engine", "path"),
    [
        ("train", "processing", "UseTypeTrain"),
        ("train", "emr", "UseTypeTrain"),
        ("predict", "processing", "UseTypePredict"),
        ("predict", "emr", "UseTypePredictOnEmr"),
    ],
)
def test_parameters_in_range_choose_exactly_one_path(definition, use_type, engine, path) -> None:
    values = resolve_parameters(definition["Parameters"], {"use_type": use_type, "predict_engine": engine})
    assert chosen_paths(definition, values) == [path]


def test_the_default_parameters_pass_the_check(definition) -> None:
    assert failed_parameter_checks(definition, resolve_parameters(definition["Parameters"], {})) == []


def test_a_work_dir_another_run_holds_is_refused(tmp_path) -> None:
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'a'); f.write('4242'); f.flush();"
            "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
            str(work_dir / LOCK_FILE),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UsageError, match=r"is in use by another local run \(process 4242\)"):
            run_local(
                LocalRunRequest("develop", "train", onet_dir=FIXTURE_ONET, work_dir=work_dir), report=lambda _: None
            )
        assert not (work_dir / "s3").exists()
    finally:
        holder.kill()
        holder.wait()
    with (work_dir / LOCK_FILE).open("a") as lock:  # the holder's death released it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_orphans_of_a_killed_run_are_stopped_and_strangers_are_left_alone(tmp_path) -> None:
    processes = StepProcesses(tmp_path)
    orphan = subprocess.Popen(["sleep", "60"], start_new_session=True, env=processes.env(os.environ))
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)  # same shape, another work dir's
    try:
        (tmp_path / RUNNING_STEPS_FILE).write_text(f"{orphan.pid}\n{stranger.pid}\n")
        assert StepProcesses(tmp_path).clean_orphans() == 1
        assert orphan.wait(timeout=10) == -signal.SIGTERM
        time.sleep(0.2)
        assert stranger.poll() is None
        assert not (tmp_path / RUNNING_STEPS_FILE).exists()
    finally:
        for process in (orphan, stranger):
            process.kill()
            process.wait()


def test_a_step_leaves_no_process_behind(tmp_path) -> None:
    processes = StepProcesses(tmp_path)
    pid_file = tmp_path / "daemon.pid"
    # The step starts a background child that would outlive it, then exits.
    script = f"import subprocess; p = subprocess.Popen(['sleep', '60']); open({str(pid_file)!r}, 'w').write(str(p.pid))"
    assert processes.run([sys.executable, "-c", script], tmp_path, os.environ, tmp_path / "log.txt") == 0
    daemon = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{daemon}").exists() and "Z" not in _state(daemon):
        time.sleep(0.1)
    assert not Path(f"/proc/{daemon}").exists() or "Z" in _state(daemon)
    assert not (tmp_path / RUNNING_STEPS_FILE).exists()  # nothing running: no record left behind


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_the_first_step_of_each_predict_path_checks_the_execution_date(definition) -> None:
    """No condition can check a calendar date, so each predict path's first step does, before reading input."""
    paths = {step["Name"]: step["Arguments"]["IfSteps"] for step in definition["Steps"]}
    first_steps = [paths["UseTypePredictOnEmr"][0], paths["UseTypePredict"][0]]
    assert [s["Type"] for s in first_steps] == ["EMR", "Processing"]
    emr_args = first_steps[0]["Arguments"]["StepConfig"]["HadoopJarStep"]["Args"]
    processing_args = first_steps[1]["Arguments"]["AppSpecification"]["ContainerArguments"]
    for args in (emr_args, processing_args):
        assert args[args.index("--execution-date") + 1] == {"Get": "Parameters.execution_date"}


def test_preprocess_predict_refuses_a_bad_execution_date_before_reading_input(tmp_path, capsys) -> None:
    from pipeline_steps import preprocess_predict

    with pytest.raises(SystemExit):
        preprocess_predict.main(
            ["--input", str(tmp_path / "missing"), "--output", str(tmp_path), "--execution-date", "2026-02-30"]
        )
    assert "execution date '2026-02-30' is not a calendar date" in capsys.readouterr().err


def test_the_emr_titles_job_refuses_a_bad_execution_date_before_spark_starts(capsys) -> None:
    from pipeline_steps import etl_main

    with pytest.raises(SystemExit):
        etl_main.main(
            ["--dataset", "titles", "--input", "s3://b/t/", "--output", "s3://b/o/", "--execution-date", "2026-13-01"]
        )
    assert "execution date '2026-13-01' is not a calendar date" in capsys.readouterr().err
