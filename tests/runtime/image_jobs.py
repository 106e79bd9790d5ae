"""The SageMaker jobs of the synthesized definition, run in the image environment (conftest.py runs
them once per session).

`run_image_jobs` takes develop's definition as synth puts it into the CfnPipeline (fake bucket names in
place of tokens) and the step-code files as synth stages them as assets, then runs every SageMaker
step of both branches in order, with the parameters' defaults and the steps' arguments as the
definition states them: PreprocessTrain, Train (the real sagemaker-training toolkit), Evaluate,
RegisterModel, PreprocessPredict, BatchPredict, PredictionReport, BatchPredictAfterEtl and
PredictionReportAfterEtl. The EMR steps are not run: the O*NET ETL's outputs are the hand-written
fixtures (tests/fixtures/steps), written where the definition reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import steps_fixtures as fx

from workflow.local.executors import (
    JobContext,
    StepFailed,
    Toolchain,
    register_model,
    run_processing,
    run_training,
)
from workflow.local.expressions import EvaluationContext
from workflow.local.processes import StepProcesses
from workflow.local.runner import load_property_file, resolve_parameters
from workflow.local.s3 import LocalS3

ROOT = Path(__file__).resolve().parents[2]

EXECUTION_ID = "runtime-1"
EXAMPLE_TITLES = ROOT / "examples" / "titles.csv"
TRAIN_BRANCH = ("PreprocessTrain", "Train", "Evaluate", "RegisterModel-RegisterModel")
# BatchPredictAfterEtl reads the prepared titles where the EMR engine's titles job writes them, which is
# where PreprocessPredict has written them here: the same step code, run a second time.
PREDICT_BRANCH = (
    "PreprocessPredict",
    "BatchPredict",
    "PredictionReport",
    "BatchPredictAfterEtl",
    "PredictionReportAfterEtl",
)
EXECUTORS = {"Processing": run_processing, "Training": run_training, "RegisterModel": register_model}


def steps_by_name(steps: list[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Every step of a definition by name, including those in condition branches."""
    found = {}
    for step in steps:
        found[step["Name"]] = step
        for branch in ("IfSteps", "ElseSteps"):
            found.update(steps_by_name(step.get("Arguments", {}).get(branch, [])))
    return found


@dataclass
class ImageJobs:
    """What the jobs did: each step's evaluated arguments and properties, or the failure that stopped them."""

    definition: dict
    job: JobContext
    arguments: dict[str, dict] = field(default_factory=dict)
    properties: dict[str, dict] = field(default_factory=dict)
    failure: StepFailed | None = None

    def step(self, name: str) -> Mapping[str, Any]:
        return steps_by_name(self.definition["Steps"])[name]

    def succeeded(self, name: str) -> dict:
        """The step's properties; a test failure with the step's FailureReason and log if it did not run."""
        if name in self.properties:
            return self.properties[name]
        if self.failure is None:
            pytest.fail(f"step {name} did not run")
        log = (
            self.failure.log.read_text(encoding="utf-8", errors="replace").splitlines()[-25:]
            if self.failure.log
            else []
        )
        pytest.fail(
            f"step {self.failure.step} failed: {self.failure.message}\n--- end of its log ---\n" + "\n".join(log)
        )

    def path(self, uri: str) -> Path:
        return self.job.s3.path(uri)


def run_image_jobs(synth, image_python: Path, work_dir: Path) -> ImageJobs:
    """Run the SageMaker steps of develop's synthesized definition in `work_dir`; a failure stops them and is kept."""
    stack = synth.stacks["develop"]
    definition = stack.pipeline.fake_definition()
    s3 = LocalS3(work_dir / "s3")
    for asset in stack.code.all:  # the files synth staged, at the keys the definition names
        s3.put_file(Path(synth.assembly.directory) / asset.asset_path, f"s3://assets-bucket/{asset.s3_object_key}")
    etl_output = f"s3://processed-bucket/executions/{EXECUTION_ID}/etl"
    fx.write_etl(s3.path(f"{etl_output}/titles"))
    fx.write_occupations(s3.path(f"{etl_output}/occupations"))
    # The fixtures hold a few dozen titles: the gate's threshold is lowered so that RegisterModel registers the
    # model Approved (the gate's verdict is its status) and the predict steps find it.
    parameters = resolve_parameters(definition["Parameters"], {"min_macro_f1": "0.0"})
    s3.put_file(EXAMPLE_TITLES, f"{parameters['input_titles_uri'].rstrip('/')}/{EXAMPLE_TITLES.name}")
    job = JobContext(
        execution_id=EXECUTION_ID,
        pipeline_name=stack.pipeline.spec.pipeline_name,
        work_dir=work_dir,
        s3=s3,
        # spark_submit: no EMR step runs here.
        toolchain=Toolchain(stack.pipeline.spec.sklearn_framework_version, Path("spark-submit"), image_python),
        registry_file=work_dir / "registry.json",
        processes=StepProcesses(work_dir),
    )
    jobs = ImageJobs(definition, job)
    # RegisterModel's status and metadata read Evaluate's property file (JsonGet).
    context = EvaluationContext(
        parameters=parameters,
        execution={"PipelineExecutionId": EXECUTION_ID},
        step_properties=jobs.properties,
        load_property_file=lambda step, name: load_property_file(
            step, name, jobs.step(step).get("PropertyFiles", []), jobs.properties, s3
        ),
    )
    try:
        for name in TRAIN_BRANCH + PREDICT_BRANCH:
            step = jobs.step(name)
            jobs.arguments[name] = context.evaluate(step["Arguments"])
            jobs.properties[name] = EXECUTORS[step["Type"]](name, jobs.arguments[name], job)
    except StepFailed as failure:
        jobs.failure = failure
    return jobs
