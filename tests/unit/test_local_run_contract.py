"""The local run keeps the predict input contract and its own state in order (issue 25), in process:
nothing outside the work dir is touched, bad requests and damaged state are named in one line before
any step runs, and --output is replaced whole or not at all.

What these cannot prove: how a real disk behaves when it fills under the steps themselves (the steps'
own writes are the jobs' business; tests/e2e/test_local_run_outputs.py fills a small tmpfs under
--output through the whole run).
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import steps_fixtures as fx

from workflow.local.request import LocalRunRequest, UsageError
from workflow.local.run import run_local
from workflow.local.runner import ParameterError

ROOT = Path(__file__).parents[2]
FIXTURE_ONET = ROOT / "tests" / "fixtures" / "onet"
GROUP = "jobclf-develop"


def quiet(_: str) -> None:
    pass


def no_step_ran(work_dir: Path) -> bool:
    return not (work_dir / "jobs").exists()


@pytest.fixture
def titles(tmp_path: Path) -> Path:
    path = tmp_path / "titles.csv"
    path.write_text("id,title\n1,Registered Nurse\n")
    return path


# --- No URI parameter maps outside the work dir ---------------------------------------------------

# <tmp>/deep/work/s3/<bucket>/ is four levels below <tmp>, where the user's folder `keep` is.
ESCAPES = [
    "s3://jobclf-develop-raw/../../../../keep/",
    "s3://../../../keep/",
    "s3://jobclf-develop-raw/{keep}/",  # an absolute key: s3://bucket//tmp/.../keep/
    "s3://jobclf-develop-raw/./onet/",
    "s3://jobclf-develop-raw/link-out/",  # a symbolic link in the local S3 that points at `keep`
    "{keep}/",
    "file://{keep}/",
]


@pytest.mark.parametrize("parameter", ["onet_input_uri", "input_titles_uri"])
@pytest.mark.parametrize("escape", ESCAPES)
def test_a_file_outside_the_work_dir_survives_every_uri_parameter(tmp_path, parameter, escape) -> None:
    work_dir = tmp_path / "deep" / "work"
    outside = tmp_path / "keep"
    outside.mkdir()
    (outside / "Occupation Data.txt").write_text("mine\n")
    (outside / "notes.txt").write_text("mine too\n")
    (work_dir / "s3" / "jobclf-develop-raw").mkdir(parents=True)
    (work_dir / "s3" / "jobclf-develop-raw" / "link-out").symlink_to(outside)
    value = escape.format(keep=outside)
    # A train run: it stages --onet-dir at onet_input_uri and checks every URI parameter (a local
    # predict run refuses input_titles_uri beside --input before that).
    run = LocalRunRequest("develop", "train", params={parameter: value}, onet_dir=FIXTURE_ONET, work_dir=work_dir)
    with pytest.raises(ParameterError) as error:
        run_local(run, report=quiet)
    assert "\n" not in str(error.value)
    assert {p.name: p.read_text() for p in outside.iterdir()} == {
        "Occupation Data.txt": "mine\n",
        "notes.txt": "mine too\n",
    }
    assert no_step_ran(work_dir)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("/data/onet/", "parameter onet_input_uri: not an s3:// URI: '/data/onet/'"),
        (
            "s3://jobclf-develop-raw/../x/",
            "parameter onet_input_uri: 's3://jobclf-develop-raw/../x/' has a bucket or key segment '..'",
        ),
    ],
)
def test_a_uri_parameter_is_refused_in_one_line_naming_it(tmp_path, value, message) -> None:
    run = LocalRunRequest(
        "develop", "train", params={"onet_input_uri": value}, onet_dir=FIXTURE_ONET, work_dir=tmp_path / "w"
    )
    with pytest.raises(ParameterError) as error:
        run_local(run, report=quiet)
    assert str(error.value).startswith(message)
    assert "name an s3:// prefix of the work dir's local S3" in str(error.value)


def test_staging_onet_replaces_the_tables_and_nothing_else(tmp_path) -> None:
    """onet_input_uri may name a prefix that holds other things: they stay (the run used to empty it)."""
    from workflow.local.run import stage_onet
    from workflow.local.s3 import LocalS3

    s3 = LocalS3(tmp_path / "s3")
    prefix = tmp_path / "s3" / "jobclf-develop-models" / "training"
    prefix.mkdir(parents=True)
    (prefix / "model.tar.gz").write_bytes(b"a model")
    (prefix / "Occupation Data.xlsx").write_bytes(b"an older release")
    staged = stage_onet(FIXTURE_ONET, s3, "s3://jobclf-develop-models/training/")
    assert sorted(staged) == ["Alternate Titles.txt", "Occupation Data.txt"]
    assert sorted(p.name for p in prefix.iterdir()) == ["Alternate Titles.txt", "Occupation Data.txt", "model.tar.gz"]


# --- The request: refused in one line before anything runs ---------------------------------------


def test_input_and_input_titles_uri_together_are_a_usage_error(tmp_path, titles) -> None:
    run = LocalRunRequest(
        "develop",
        "predict",
        params={"input_titles_uri": "s3://jobclf-develop-raw/titles/other/"},
        input=titles,
        output=tmp_path / "p.csv",
        work_dir=tmp_path / "w",
    )
    with pytest.raises(
        UsageError, match="--param input_titles_uri: a local predict run classifies the titles of --input"
    ):
        run_local(run, report=quiet)


def test_an_output_that_is_a_hard_link_to_the_input_is_refused(tmp_path, titles) -> None:
    output = tmp_path / "predictions.csv"
    os.link(titles, output)
    with pytest.raises(UsageError, match=r"is the --input file \(.*titles\.csv, by another name or a link\)"):
        run_local(
            LocalRunRequest("develop", "predict", input=titles, output=output, work_dir=tmp_path / "w"), report=quiet
        )
    assert titles.read_text() == "id,title\n1,Registered Nurse\n"


def test_a_file_name_that_is_not_utf8_is_refused(tmp_path, titles) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / os.fsdecode(b"caf\xe9.csv")).write_text("title\nNurse\n")
    with pytest.raises(UsageError, match=r"caf\\udce9\.csv: the name is not valid UTF-8; rename it"):
        run_local(
            LocalRunRequest("develop", "predict", input=folder, output=tmp_path / "p.csv", work_dir=tmp_path / "w"),
            report=quiet,
        )
    output = tmp_path / os.fsdecode(b"p\xe9.csv")
    with pytest.raises(UsageError, match=r"--output .*p\\udce9\.csv: the path is not valid UTF-8"):
        run_local(
            LocalRunRequest("develop", "predict", input=titles, output=output, work_dir=tmp_path / "w"), report=quiet
        )


@pytest.mark.parametrize("name", ["_titles.csv", ".titles.csv"])
def test_a_single_input_file_named_like_bookkeeping_is_refused_before_anything_runs(tmp_path, name) -> None:
    single = tmp_path / name
    single.write_text("title\nNurse\n")
    with pytest.raises(UsageError) as error:
        run_local(
            LocalRunRequest("develop", "predict", input=single, output=tmp_path / "p.csv", work_dir=tmp_path / "w"),
            report=quiet,
        )
    assert f"{name}: '{name}' starts with '{name[0]}', which marks Spark's and Hadoop's bookkeeping" in str(error.value)
    assert not (tmp_path / "w" / "s3").exists()


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("wrongcol.csv", b"id,job\n1,Nurse\n", " has no 'title' column; columns found: ['id', 'job']"),
        ("twice.csv", b"title,Title\nNurse,Chef\n", " has 2 'title' columns: 'title' (column 1), 'Title' (column 2);"),
        ("utf16.csv", "title\nNurse\n".encode("utf-16"), " is UTF-16 encoded; save it as UTF-8"),
        ("book.csv", b"PK\x03\x04\x14\x00", " is a zip archive (an .xlsx workbook?), not CSV text"),
        (
            "flags.parquet",
            pa.table({"title": [True]}),
            ": column 'title' holds boolean values; the title column must hold text",
        ),
    ],
)
def test_the_header_and_first_bytes_are_checked_before_anything_runs_naming_the_users_file(
    tmp_path, name, data, problem
) -> None:
    """Issue 24, item 4: the error names the file the user passed, not the job's copy, and no step starts."""
    path = tmp_path / "mine" / name
    path.parent.mkdir()
    if isinstance(data, pa.Table):
        pq.write_table(data, str(path))
    else:
        path.write_bytes(data)
    with pytest.raises(UsageError) as error:
        run_local(
            LocalRunRequest("develop", "predict", input=path, output=tmp_path / "p.csv", work_dir=tmp_path / "w"),
            report=quiet,
        )
    assert str(error.value).startswith(f"--input: input file {path}{problem}")
    assert "/opt/ml/" not in str(error.value)
    assert not (tmp_path / "w" / "s3").exists()


@pytest.mark.parametrize("given", [" 2026-01-02 ", "2026-01-02\t", "", "   "])
def test_execution_date_reaches_the_steps_as_the_steps_read_it(tmp_path, given) -> None:
    """Empty is today (UTC) and spaces go, once, in the local run, with contract.execution_date, the
    function the steps use: the steps and the local run name the same predictions folder (the run used
    to look for `execution_date= 2026-01-02 /` or `execution_date=/` and fail after both steps)."""
    from config import load_environment
    from pipeline_steps.contract import execution_date
    from workflow.definition import StepCode
    from workflow.definition.builder import build_definition
    from workflow.local.run import _checked_parameters, local_spec
    from workflow.local.s3 import LocalS3

    code = StepCode("s3://a/steps.zip", "s3://a/etl.py", "s3://a/source.tar.gz", "s3://a/bootstrap.sh")
    definition = build_definition(local_spec(load_environment("develop"), code))
    run = LocalRunRequest("develop", "predict", params={"execution_date": given})
    passed = _checked_parameters(run, definition, LocalS3(tmp_path / "s3"))["execution_date"]
    assert passed == execution_date(given) == execution_date(passed)
    assert passed == passed.strip() != ""


# --- Damaged state: named in one line, before any step -------------------------------------------


@pytest.fixture(scope="module")
def model_archive(tmp_path_factory) -> Path:
    return fx.make_model_archive(tmp_path_factory.mktemp("contract-model"))["archive"]


@pytest.fixture
def registered(tmp_path, model_archive) -> Path:
    """A work dir whose registry holds one approved model with its evaluation."""
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    fx.register_local(work_dir / "registry.json", work_dir / "s3", GROUP, model_archive, macro_f1=0.6)
    return work_dir


def damage_registry(work_dir: Path, how: str) -> Path:
    path = work_dir / "registry.json"
    text = path.read_text()
    path.write_text(
        {"truncated": text[: len(text) // 2], "list": "[]", "status": text.replace('"Approved"', '"Maybe"')}[how]
    )
    return path


def damage_model(work_dir: Path, how: str) -> Path:
    path = next((work_dir / "s3").rglob("model.tar.gz"))
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "garbage": b"not a tar.gz at all" * 10}[how])
    return path


def damage_evaluation(work_dir: Path, how: str) -> Path:
    path = next((work_dir / "s3").rglob("evaluation.json"))
    text = path.read_text()
    path.write_text({"truncated": text[: len(text) // 2], "string-f1": text.replace("0.6", '"high"')}[how])
    return path


@pytest.mark.parametrize(
    ("damage", "how", "message"),
    [
        (damage_registry, "truncated", "is not valid JSON (truncated?)"),
        (damage_registry, "list", "has no model_package_groups object"),
        (damage_registry, "status", "group jobclf-develop, entry 1: approval_status 'Maybe' is not one of"),
        (damage_evaluation, "truncated", "is not valid JSON (truncated?)"),
        (damage_evaluation, "string-f1", "macro_f1 value 'high' is not a number"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.__name__,
)
@pytest.mark.parametrize("use_type", ["train", "predict"])
def test_a_damaged_state_file_is_named_with_its_fix_before_any_step(
    tmp_path, titles, registered, damage, how, message, use_type
) -> None:
    path = damage(registered, how)
    if use_type == "train":
        run = LocalRunRequest("develop", "train", onet_dir=FIXTURE_ONET, work_dir=registered)
    else:
        run = LocalRunRequest("develop", "predict", input=titles, output=tmp_path / "p.csv", work_dir=registered)
    with pytest.raises(UsageError) as error:
        run_local(run, report=quiet)
    text = str(error.value)
    assert str(path) in text and message in text and "\n" not in text
    assert "restore it from a copy" in text
    assert no_step_ran(registered)


@pytest.mark.parametrize(
    ("how", "message"), [("truncated", "is truncated"), ("garbage", "is damaged or not a gzip-compressed tar")]
)
def test_a_damaged_model_archive_is_named_before_a_predict_run_and_no_hindrance_to_training(
    tmp_path, titles, registered, how, message
) -> None:
    from workflow.local.run import _check_registry
    from workflow.local.s3 import LocalS3

    path = damage_model(registered, how)
    run = LocalRunRequest("develop", "predict", input=titles, output=tmp_path / "p.csv", work_dir=registered)
    with pytest.raises(UsageError) as error:
        run_local(run, report=quiet)
    assert str(error.value).startswith(f"model archive {path} {message}")
    assert str(error.value).endswith(
        ": train again, or reject the model version it belongs to (jobclf models reject VERSION)"
    )
    assert no_step_ran(registered)
    _check_registry(
        registered / "registry.json", LocalS3(registered / "s3"), GROUP, with_archive=False
    )  # train may replace it


def test_the_cli_names_a_damaged_registry_in_one_line(registered) -> None:
    damage_registry(registered, "truncated")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobclf_cli",
            "models",
            "list",
            "--local",
            "--env",
            "develop",
            "--work-dir",
            str(registered),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Error: local registry {registered / 'registry.json'} is not valid JSON (truncated?)")


# --- The local registry: atomic read-modify-write --------------------------------------------------

_REJECT = textwrap.dedent(
    """
    import sys
    from pipeline_steps.registry import LocalRegistry
    LocalRegistry(sys.argv[1]).set_approval_status("g", int(sys.argv[2]), "Rejected", "race " + sys.argv[2])
    """
)
_REGISTER = textwrap.dedent(
    """
    import sys
    from pipeline_steps.registry import LocalRegistry
    LocalRegistry(sys.argv[1]).add_model_package("g", "s3://b/m.tar.gz", None, "Approved", "eu-west-1")
    """
)


def test_concurrent_writers_each_take_effect(tmp_path) -> None:
    """Twenty processes reject twenty versions while five register new ones, all at once: every change lands."""
    path = tmp_path / "registry.json"
    entries = [
        {"model_package_arn": f"arn:{v}", "version": v, "approval_status": "Approved", "model_data_uri": "s3://b/m"}
        for v in range(1, 21)
    ]
    path.write_text(json.dumps({"model_package_groups": {"g": entries}}))
    writers = [subprocess.Popen([sys.executable, "-c", _REJECT, str(path), str(v)], cwd=ROOT) for v in range(1, 21)]
    writers += [subprocess.Popen([sys.executable, "-c", _REGISTER, str(path)], cwd=ROOT) for _ in range(5)]
    assert [writer.wait(timeout=120) for writer in writers] == [0] * 25
    group = json.loads(path.read_text())["model_package_groups"]["g"]
    assert [(e["version"], e["approval_status"]) for e in group[:20]] == [(v, "Rejected") for v in range(1, 21)]
    assert [e["approval_description"] for e in group[:20]] == [f"race {v}" for v in range(1, 21)]
    assert [e["version"] for e in group[20:]] == [21, 22, 23, 24, 25]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.json", "registry.json.lock"]  # no temporary left


# --- --output: replaced whole, or left as it was -----------------------------------------------------

_WRITE_OUTPUT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from workflow.local.predictions import concatenate_parts
    from workflow.local.processes import Interrupted, StepProcesses
    from workflow.local.s3 import NoSpace
    try:
        with StepProcesses(Path(sys.argv[3])).forwarding_signals():  # as run_local writes --output
            concatenate_parts(Path(sys.argv[1]), Path(sys.argv[2]))
    except NoSpace as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except Interrupted as interrupted:
        sys.exit(128 + interrupted.signum)
    """
)
HEADER = b"id,id_generated,title,major_group\n"


def prediction_parts(folder: Path, parts: int, rows_per_part: int) -> int:
    folder.mkdir(parents=True)
    row = b"00000001,false,Registered Nurse,29\n"
    for number in range(parts):
        (folder / f"part-{number:05d}.csv").write_bytes(HEADER + row * rows_per_part)
    return len(HEADER) + parts * rows_per_part * len(row)


def test_sigterm_while_the_output_is_written_leaves_the_earlier_output_whole(tmp_path) -> None:
    prediction_parts(tmp_path / "parts", parts=15, rows_per_part=200_000)  # about 110 MB to write
    output = tmp_path / "out" / "predictions.csv"
    output.parent.mkdir()
    output.write_bytes(b"the earlier predictions\n")
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITE_OUTPUT, str(tmp_path / "parts"), str(output), str(tmp_path)], cwd=ROOT
    )
    try:
        while writer.poll() is None and not _being_written(output):
            time.sleep(0.001)
        writer.send_signal(signal.SIGTERM)
        assert writer.wait(timeout=60) == 128 + signal.SIGTERM, (
            "the write ended before the signal: make the parts larger"
        )
    finally:
        writer.kill()
    assert output.read_bytes() == b"the earlier predictions\n"
    assert [p.name for p in output.parent.iterdir()] == ["predictions.csv"]  # the temporary file went too


def _being_written(output: Path) -> bool:
    """A temporary file beside the output has bytes, or (as before atomic writes) the output changed."""
    siblings = [p for p in output.parent.iterdir() if p != output]
    return any(p.stat().st_size > 0 for p in siblings if p.exists()) or output.stat().st_size != 24


def test_a_file_size_limit_during_the_output_write_says_so_in_one_line_and_keeps_the_earlier_output(tmp_path) -> None:
    prediction_parts(tmp_path / "parts", parts=4, rows_per_part=10_000)  # 1.4 MB
    output = tmp_path / "predictions.csv"
    output.write_bytes(b"the earlier predictions\n")

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (512 * 1024, 512 * 1024))

    result = subprocess.run(
        [sys.executable, "-c", _WRITE_OUTPUT, str(tmp_path / "parts"), str(output), str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        preexec_fn=limit_file_size,
        check=False,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == (
        f"error: cannot write {output}: the file would be larger than this process may write (EFBIG): "
        "raise the limit (ulimit -f)"
    )
    assert output.read_bytes() == b"the earlier predictions\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts", "predictions.csv"]
