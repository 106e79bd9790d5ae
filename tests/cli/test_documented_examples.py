"""Every `jobclf` and `python -m workflow.local` command that README.md and docs/ show runs as shown.

The command lines are read from the documents, fenced code blocks and inline code that names an
environment (or asks for --help), so a new or changed example is tested as written. Placeholders get
real values (`concrete`). Commands for AWS run against moto's server on loopback, seeded with both
environments' pipelines and model package groups and an execution of each, and each environment's
endpoint made by the deployer from its approved version (moto answers InvokeEndpoint with queued
bodies, one record per title); `--local` commands and `python -m workflow.local` run in a local work
folder, trained on the fixture O*NET files with the quality gate lowered (their few dozen titles cannot
pass it); `jobclf serve --local` runs until Ctrl-C, on a free port, and `jobclf classify --local` asks
it. Each must succeed (exit 0). And every `make` target the documents name is one that `make help` lists.

What this cannot prove: what test_cli_aws.py and test_cli_local.py say they cannot (moto is not
SageMaker; a fixture-trained model is not a good one), nor that the prose around an example is right.
"""

from __future__ import annotations

import io
import json
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_support import (
    ACCOUNT,
    FIXTURE_ONET,
    LOCAL_TRAIN,
    REGION,
    ROOT,
    LocalServe,
    evaluation,
    invoke,
    prediction,
    queue_answers,
    seed,
)
from click.testing import CliRunner

from workflow.local.executions import LOCK_FILE
from workflow.local.processes import RUNNING_STEPS_FILE

DOCUMENTS = ("README.md", *(f"docs/{path.name}" for path in sorted((ROOT / "docs").glob("*.md"))))
EXAMPLE_TITLES = ROOT / "examples" / "titles.csv"
_FENCED = re.compile(r"^```[\w-]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`([^`\n]+)`")
_COMMAND = re.compile(r"^(?:\.venv/bin/)?(?:jobclf\b|python -m (?:jobclf_cli|workflow\.local)\b)")
_MAKE = re.compile(r"(?:^|`)make ([a-z][\w-]*)", re.MULTILINE)
_LOCAL_EXECUTION_ID = re.compile(r"^local-\d{8}T\d{6}-[0-9a-f]{6}$")
# What the user's shell does with the rest of the line, not the command: `> answers.jsonl`, `| head`.
_SHELL_OPERATORS = {">", ">>", "|", "2>", "&&", ";"}


@dataclass(frozen=True)
class Example:
    document: str
    line: str  # as the document writes it (continuation lines joined)

    @property
    def words(self) -> list[str]:
        return shlex.split(self.line, comments=True)

    @property
    def program(self) -> str:
        return "workflow.local" if "workflow.local" in self.words[:3] else "jobclf"

    @property
    def arguments(self) -> list[str]:
        """What follows the program's name (`jobclf`, `python -m jobclf_cli` or `python -m workflow.local`), up to
        a redirection or pipe of the shell's."""
        words = self.words[3:] if self.words[1:2] == ["-m"] else self.words[1:]
        ends = [position for position, word in enumerate(words) if word in _SHELL_OPERATORS]
        return words[: ends[0]] if ends else words

    @property
    def local(self) -> bool:
        return self.program == "workflow.local" or "--local" in self.words


def documented_examples() -> list[Example]:
    examples = []
    for document in DOCUMENTS:
        text = (ROOT / document).read_text(encoding="utf-8")
        for block in _FENCED.findall(text):
            for line in block.replace("\\\n", " ").splitlines():
                if _COMMAND.match(line.strip()):
                    examples.append(Example(document, " ".join(line.split())))
        prose = _FENCED.sub("", text)
        for code in _INLINE.findall(prose):
            if _COMMAND.match(code) and (" --env " in code or code.endswith("--help")):
                examples.append(Example(document, code))
    return list(dict.fromkeys(examples))


EXAMPLES = documented_examples()


def test_the_documents_have_the_examples_this_test_expects():
    """Guards the parser: an empty or truncated list would pass every case below."""
    assert len(EXAMPLES) >= 20
    assert {e.document for e in EXAMPLES} >= {"README.md", "docs/operating.md", "docs/quickstart.md"}
    commands = {" ".join(e.arguments[:2]) for e in EXAMPLES if e.program == "jobclf"}
    assert commands >= {
        "executions start",
        "executions list",
        "executions show",
        "executions stop",
        "models list",
        "models show",
        "models approve",
        "models reject",
        "endpoint show",
    }
    assert {"classify", "serve"} <= {e.arguments[0] for e in EXAMPLES if e.program == "jobclf"}
    for command in ("executions list", "executions show", "executions stop", "models list", "models show"):
        assert any(" ".join(e.arguments[:2]) == command and e.local for e in EXAMPLES), f"no local example of {command}"
    assert any(e.program == "workflow.local" for e in EXAMPLES)


# -- placeholders ---------------------------------------------------------------------------------


@dataclass
class Values:
    """What the placeholders of an example stand for where it runs."""

    work_dir: Path
    predictions: Path
    execution_id: str
    version: str


def concrete(example: Example, values: Values) -> list[str]:
    """The example's arguments with its placeholders replaced, ready to run here."""
    replace = {
        "ENV": "develop",
        "DIR": str(FIXTURE_ONET),
        "../shared/onet/db_28_1_excel": str(FIXTURE_ONET),
        "titles.csv": str(EXAMPLE_TITLES),
        "examples/titles.csv": str(EXAMPLE_TITLES),
        "titles.txt": str(EXAMPLE_TITLES),  # classify --file: a title a line, or a CSV with a title column
        "predictions.csv": str(values.predictions),
        ".work/local": str(values.work_dir),
        "ID": values.execution_id,
        "1a2b3c4d5e6f": values.execution_id,
        "VERSION": values.version,
    }
    arguments = [
        replace.get(word, values.execution_id if _LOCAL_EXECUTION_ID.match(word) else word)
        for word in example.arguments
    ]
    if example.local and "--work-dir" not in arguments and "--help" not in arguments:
        arguments += ["--work-dir", str(values.work_dir)]
    if example.local and _use_type(arguments) == "train":
        arguments += ["--param", "min_macro_f1=0.0"]  # the fixture titles cannot pass the real gate
    return arguments


def _use_type(arguments: list[str]) -> str | None:
    return arguments[arguments.index("--use-type") + 1] if "--use-type" in arguments else None


def run(example: Example, arguments: list[str]) -> tuple[int, str]:
    """Exit status and output of the example, as a user would run it (`python -m workflow.local` in a process)."""
    if example.program == "workflow.local":
        done = subprocess.run(
            [sys.executable, "-m", "workflow.local", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=900
        )
        return done.returncode, done.stdout + done.stderr
    result = invoke(CliRunner(), *arguments)
    return result.exit_code, result.output


# -- the examples ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def definitions() -> dict[str, dict]:
    """Each environment's pipeline definition as synth builds it: the parameters the examples set are checked
    against what the real pipeline declares."""
    from config import load_all
    from workflow.definition import StepCode
    from workflow.definition.builder import build_definition
    from workflow.local.run import local_spec

    code = StepCode("s3://a/steps.zip", "s3://a/etl.py", "s3://a/source.tar.gz", "s3://a/bootstrap.sh")
    return {env: json.loads(build_definition(local_spec(config, code))) for env, config in load_all().items()}


def seed_aws(endpoint, definitions: dict[str, dict]) -> str:
    """Both environments as the examples expect them (three model versions each, the endpoint serving the approved
    one); the ID of a develop execution."""
    from endpoint_deployer.deployer import Deployer, EndpointSettings

    sagemaker = endpoint.client("sagemaker")
    for env in ("develop", "production"):
        seeded = seed(endpoint, env, definition=definitions[env])
        model_role = f"arn:aws:iam::{ACCOUNT}:role/jobclf-{env}-endpoint-model"
        Deployer(sagemaker, EndpointSettings(f"jobclf-{env}", seeded.group_name, model_role)).handle(
            {"action": "reconcile"}
        )
        key = "evaluations/execution3/evaluation.json"
        endpoint.client("s3").put_object(Bucket=seeded.bucket, Key=key, Body=json.dumps(evaluation(0.8)).encode())
        sagemaker.create_model_package(
            ModelPackageGroupName=seeded.group_name,
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/x:1",
                        "ModelDataUrl": f"s3://{seeded.bucket}/model.tar.gz",
                    }
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            ModelMetrics={
                "ModelQuality": {
                    "Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{seeded.bucket}/{key}"}
                }
            },
        )
    response = sagemaker.start_pipeline_execution(PipelineName="jobclf-develop", ClientRequestToken="d" * 32)
    return response["PipelineExecutionArn"]


@pytest.mark.parametrize("example", [e for e in EXAMPLES if not e.local], ids=lambda e: e.line)
def test_aws_example(example, aws_env, definitions, tmp_path):
    arn = seed_aws(aws_env, definitions)
    values = Values(tmp_path / "unused", tmp_path / "predictions.csv", arn.rsplit("/", 1)[-1], version="2")
    arguments = concrete(example, values)
    if arguments[:2] == ["executions", "stop"]:
        aws_env.set_execution(arn, "Executing")  # what stopping needs: a running execution
    if arguments[0] == "classify":
        queue_answers(aws_env, *answers_to(arguments))
    status, output = run(example, arguments)
    assert status == 0, f"{example.document}: {example.line}\n{output}"


def answers_to(arguments: list[str]) -> list[dict]:
    """The endpoint's answer to each request of a `classify` command: one record per title it sends."""
    from jobclf_cli.serving import batches, classify, read_titles

    context = classify.make_context("classify", arguments[1:])
    with context:
        titles = read_titles(context.params["titles"], context.params["file"], io.BytesIO())
    nurse = [("29", "Healthcare Practitioners and Technical Occupations", 0.9)]
    return [{"predictions": [prediction(title, nurse) for title in batch]} for batch in batches(titles)]


def local_execution_id(work_dir: Path) -> str:
    [record] = (work_dir / "executions").glob("*.json")
    return record.stem


def _runs_until_stopped(example: Example) -> bool:
    """A local command that runs until stopped (`executions stop --local` needs a run; `serve --local` is one)."""
    return " stop " in f" {example.line} " or example.arguments[:1] == ["serve"]


@pytest.mark.parametrize(
    "example", [e for e in EXAMPLES if e.local and not _runs_until_stopped(e)], ids=lambda e: e.line
)
def test_local_example(example, trained, work_copy, tmp_path):
    """In a copy of the session's trained work dir; a train example in a fresh one, unless it is the session's run."""
    values = Values(work_copy, tmp_path / "predictions.csv", local_execution_id(work_copy), version="1")
    arguments = concrete(example, values)
    if _use_type(arguments) == "train":
        values.work_dir = tmp_path / "fresh"
        arguments = concrete(example, values)
        without_work_dir = arguments[: arguments.index("--work-dir")] + arguments[arguments.index("--work-dir") + 2 :]
        if example.program == "jobclf" and sorted(without_work_dir) == sorted(LOCAL_TRAIN):
            work_dir, result = trained  # the session ran exactly this
            assert result.exit_code == 0, f"{example.document}: {example.line}\n{result.output}"
            return
    status, output = run(example, arguments)
    assert status == 0, f"{example.document}: {example.line}\n{output}"
    if _use_type(arguments) == "predict":
        assert values.predictions.is_file()


@pytest.mark.parametrize(
    "example", [e for e in EXAMPLES if e.local and " stop " in f" {e.line} "], ids=lambda e: e.line
)
def test_local_stop_example(example, tmp_path):
    """From another terminal, while a local run executes: it stops its running step (Spark) and records Stopped."""
    work_dir = tmp_path / "work"
    run_ = subprocess.Popen(
        [sys.executable, "-m", "jobclf_cli", *LOCAL_TRAIN, "--work-dir", str(work_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while "ETL" not in running_steps(work_dir) and run_.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        execution_id = local_execution_id(work_dir)
        status, output = run(example, concrete(example, Values(work_dir, tmp_path / "unused", execution_id, "1")))
        assert status == 0 and f"Stopping execution {execution_id} (was Executing)" in output, output
        _, stderr = run_.communicate(timeout=120)
    finally:
        run_.kill()
        run_.wait()
    assert run_.returncode == 128 + signal.SIGTERM, stderr
    record = json.loads((work_dir / "executions" / f"{execution_id}.json").read_text())
    assert record["PipelineExecutionStatus"] == "Stopped"
    assert {s["StepName"]: s["StepStatus"] for s in record["PipelineExecutionSteps"]}["ETL"] == "Stopped"
    assert (work_dir / LOCK_FILE).read_text() == "" and not (work_dir / RUNNING_STEPS_FILE).exists()


@pytest.mark.parametrize(
    "example", [e for e in EXAMPLES if e.local and e.arguments[:1] == ["serve"]], ids=lambda e: e.line
)
def test_local_serve_example(example, work_copy, tmp_path):
    """Until Ctrl-C, on a free port (the documented 8080 may be taken): `jobclf classify --local` gets its answer."""
    arguments = concrete(example, Values(work_copy, tmp_path / "unused", local_execution_id(work_copy), "1"))
    server = LocalServe(*arguments)
    try:
        asked = invoke(CliRunner(), "classify", "--local", "--url", server.url, "Line Cook")
    finally:
        status, stdout, stderr = server.stop()
    assert asked.exit_code == 0 and asked.stdout.startswith("Line Cook\n  1. "), asked.output
    assert status == 0 and f"at {server.url}" in stdout, f"{example.document}: {example.line}\n{stdout}{stderr}"


def running_steps(work_dir: Path) -> list[str]:
    records = list((work_dir / "executions").glob("*.json")) if (work_dir / "executions").is_dir() else []
    steps = json.loads(records[0].read_text())["PipelineExecutionSteps"] if records else []
    return [step["StepName"] for step in steps if step["StepStatus"] == "Executing"]


# -- make targets ---------------------------------------------------------------------------------


def test_make_help_lists_every_target_the_documents_name():
    named = {
        target for document in DOCUMENTS for target in _MAKE.findall((ROOT / document).read_text(encoding="utf-8"))
    }
    named.discard("help")  # the listing itself
    assert {"run", "test", "setup"} <= named
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    listed = subprocess.run(
        [make, "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    missing = sorted(t for t in named if not re.search(rf"^make {re.escape(t)}\b", listed, re.MULTILINE))
    assert missing == [], f"make help does not list: {missing}"
