"""Each processing step of the synthesized definition runs as its ContainerEntrypoint and
ContainerArguments state, with the steps zip synth ships, in the image environment (Python 3.9,
pandas 1.1.3, pyarrow 17, scikit-learn 1.2.1), on the fixtures.

What it cannot prove: the container's file system and user; the processing inputs and outputs are
copied under the job's folder by the local run, where SageMaker mounts them at /opt/ml/processing.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import steps_fixtures as fx
from image_jobs import EXAMPLE_TITLES, PREDICT_BRANCH, TRAIN_BRANCH, ImageJobs, steps_by_name

PROCESSING_STEPS = [
    "PreprocessTrain",
    "Evaluate",
    "PreprocessPredict",
    "BatchPredict",
    "PredictionReport",
    "BatchPredictAfterEtl",
    "PredictionReportAfterEtl",
]


def test_every_processing_step_of_the_definition_is_run_here(image_jobs: ImageJobs) -> None:
    steps = steps_by_name(image_jobs.definition["Steps"]).values()
    assert sorted(s["Name"] for s in steps if s["Type"] == "Processing") == sorted(PROCESSING_STEPS)
    assert set(PROCESSING_STEPS) <= set(TRAIN_BRANCH + PREDICT_BRANCH)


@pytest.mark.parametrize("name", PROCESSING_STEPS)
def test_the_step_runs_its_command_line_with_the_shipped_zip_in_the_image_environment(
    image_jobs: ImageJobs, image_python: Path, name: str
) -> None:
    image_jobs.succeeded(name)
    app = image_jobs.arguments[name]["AppSpecification"]
    sandbox = image_jobs.job.sandbox(name) / "algo-1"  # one instance: the definition's default count
    command = (sandbox / "log.txt").read_text(encoding="utf-8").splitlines()[0].removeprefix("$ ").split(" ")
    in_sandbox = [
        str(sandbox) + a if a.startswith("/opt/ml/") else a
        for a in app["ContainerEntrypoint"][1:] + app["ContainerArguments"]
    ]
    assert app["ContainerEntrypoint"][0] == "python3"
    assert command == [str(image_python), *in_sandbox]
    [code] = [i["S3Input"] for i in image_jobs.arguments[name]["ProcessingInputs"] if i["InputName"] == "code"]
    assert Path(command[1]).read_bytes() == image_jobs.path(code["S3Uri"]).read_bytes()  # the asset synth staged
    for output in image_jobs.arguments[name]["ProcessingOutputConfig"]["Outputs"]:
        assert any(image_jobs.path(output["S3Output"]["S3Uri"]).rglob("*.*")), (
            f"{name} wrote nothing to {output['OutputName']}"
        )


def test_the_jobs_results_are_those_of_the_step_code(image_jobs: ImageJobs) -> None:
    outputs = {
        (name, o["OutputName"]): image_jobs.path(o["S3Output"]["S3Uri"])
        for name in PROCESSING_STEPS
        for o in image_jobs.arguments[name]["ProcessingOutputConfig"]["Outputs"]
    }
    assert {p.name for p in outputs["PreprocessTrain", "occupation_train"].rglob("*.parquet")} == {
        "occupation_train.parquet"
    }
    evaluation = json.loads((outputs["Evaluate", "evaluation"] / "evaluation.json").read_text())
    assert 0.0 <= evaluation["multiclass_classification_metrics"]["macro_f1"]["value"] <= 1.0
    [predictions] = outputs["BatchPredict", "predictions"].rglob("execution_id=*/titles.csv")
    with (
        predictions.open(newline="", encoding="utf-8") as handle,
        EXAMPLE_TITLES.open(newline="", encoding="utf-8") as titles,
    ):
        assert [row["title"] for row in csv.DictReader(handle)] == [row["title"] for row in csv.DictReader(titles)]
    # The prediction report, beside the predictions, with the training baseline the model archive carries.
    [report_file] = outputs["PredictionReport", "report"].rglob("execution_id=*/prediction-report.json")
    assert report_file.parent == predictions.parent
    report = json.loads(report_file.read_text())
    assert report["rows"]["input"] == report["rows"]["output"] == 29
    assert report["major_groups"]["training_rows"] == len(fx.etl_rows()["title"])
