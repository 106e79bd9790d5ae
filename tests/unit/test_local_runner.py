"""The local run's interpreter on small hand-written definitions: real processes, no SageMaker."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from workflow.local.executors import JobContext, Toolchain
from workflow.local.expressions import (
    EvaluationContext,
    ExpressionError,
    UnsupportedDefinition,
    split_property_path,
)
from workflow.local.processes import StepProcesses
from workflow.local.runner import DefinitionInterpreter, ParameterError, execution_order, resolve_parameters
from workflow.local.s3 import LocalS3

IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"

# Writes {"score": <its --score argument>} to its output folder, like an evaluation step.
SCORE_SCRIPT = """
import json, sys, pathlib
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
out = pathlib.Path(args["--output"]); out.mkdir(parents=True, exist_ok=True)
seen = sorted(p.name for p in pathlib.Path(args["--input"]).iterdir())
(out / "score.json").write_text(json.dumps({"metrics": {"score": float(args["--score"])}, "inputs": seen}))
"""


def parameters(**defaults):
    kinds = {int: "Integer", float: "Float", str: "String"}
    return [{"Name": n, "Type": kinds[type(v)], "DefaultValue": v} for n, v in defaults.items()]


def score_step(name="Score", score_expression=None):
    return {
        "Name": name,
        "Type": "Processing",
        "Arguments": {
            "ProcessingResources": {
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30}
            },
            "AppSpecification": {
                "ImageUri": IMAGE,
                "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/score.py"],
                "ContainerArguments": [
                    "--input",
                    "/opt/ml/processing/input/data",
                    "--output",
                    "/opt/ml/processing/output/result",
                    "--score",
                    score_expression or {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.score"}]}},
                ],
            },
            "RoleArn": "arn:aws:iam::000000000000:role/test",
            "ProcessingInputs": [
                {
                    "InputName": "data",
                    "S3Input": {
                        "S3Uri": "s3://raw/data/",
                        "LocalPath": "/opt/ml/processing/input/data",
                        "S3DataType": "S3Prefix",
                        "S3InputMode": "File",
                    },
                },
                {
                    "InputName": "code",
                    "S3Input": {
                        "S3Uri": "s3://assets/score.py",
                        "LocalPath": "/opt/ml/processing/input/code",
                        "S3DataType": "S3Prefix",
                        "S3InputMode": "File",
                    },
                },
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "result",
                        "S3Output": {
                            "S3Uri": {
                                "Std:Join": {
                                    "On": "/",
                                    "Values": ["s3://processed", {"Get": "Execution.PipelineExecutionId"}, "result"],
                                }
                            },
                            "LocalPath": "/opt/ml/processing/output/result",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
        },
        "PropertyFiles": [{"PropertyFileName": "Score", "OutputName": "result", "FilePath": "score.json"}],
    }


def gate(threshold_expression):
    score = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Score.PropertyFiles.Score"}, "Path": "metrics.score"}}
    fail = {
        "Name": "Rejected",
        "Type": "Fail",
        "Arguments": {
            "ErrorMessage": {"Std:Join": {"On": " ", "Values": ["score", score, "below", threshold_expression]}}
        },
    }
    ok = {"Name": "Accepted", "Type": "Fail", "Arguments": {"ErrorMessage": "accepted"}}
    return {
        "Name": "Gate",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [{"Type": "GreaterThanOrEqualTo", "LeftValue": score, "RightValue": threshold_expression}],
            "IfSteps": [ok],
            "ElseSteps": [fail],
        },
    }


@pytest.fixture
def job(tmp_path: Path) -> JobContext:
    s3 = LocalS3(tmp_path / "s3")
    (tmp_path / "s3/assets").mkdir(parents=True)
    (tmp_path / "s3/assets/score.py").write_text(SCORE_SCRIPT)
    (tmp_path / "s3/raw/data").mkdir(parents=True)
    (tmp_path / "s3/raw/data/a.csv").write_text("title\nx\n")
    return JobContext(
        "exec-1",
        "jobclf-test",
        tmp_path,
        s3,
        Toolchain("1.2-1", Path(sys.executable), image_python=Path(sys.executable)),
        tmp_path / "registry.json",
        StepProcesses(tmp_path),
    )


def run(definition: dict, job: JobContext, **params):
    lines: list[str] = []
    outcome = DefinitionInterpreter(json.dumps(definition), job, params, "emr-7.9.0", report=lines.append).run()
    return outcome, lines


def test_processing_step_runs_the_script_with_mapped_paths_and_uploads_its_output(job):
    definition = {"Version": "2020-12-01", "Parameters": parameters(score=0.7), "Steps": [score_step()]}
    outcome, lines = run(definition, job)
    assert outcome.status == "Succeeded", outcome.failure_reason
    written = json.loads((job.s3.root / "processed/exec-1/result/score.json").read_text())
    assert written == {"metrics": {"score": 0.7}, "inputs": ["a.csv"]}
    assert (
        outcome.step_properties["Score"]["ProcessingOutputConfig"]["Outputs"]["result"]["S3Output"]["S3Uri"]
        == "s3://processed/exec-1/result"
    )
    assert any("Score (Processing) succeeded" in line for line in lines)


@pytest.mark.parametrize(
    ("score", "expected_step", "message"), [("0.9", "Accepted", "accepted"), ("0.3", "Rejected", "score 0.3 below 0.5")]
)
def test_condition_reads_the_property_file_and_takes_one_branch(job, score, expected_step, message):
    definition = {
        "Version": "2020-12-01",
        "Parameters": parameters(score=0.7, threshold=0.5),
        "Steps": [score_step(), gate({"Get": "Parameters.threshold"})],
    }
    outcome, _ = run(definition, job, score=score)
    assert outcome.status == "Failed"  # both branches end in a Fail step here, with different messages
    assert (outcome.failure_step, outcome.failure_reason) == (expected_step, message)
    skipped = {s.name for s in outcome.steps if s.status == "Skipped"}
    assert skipped == ({"Accepted", "Rejected"} - {expected_step})


def test_a_failing_script_fails_its_step_with_the_log(job):
    (job.s3.root / "assets/score.py").write_text("raise SystemExit('bad input: row 3')\n")
    outcome, _ = run({"Version": "2020-12-01", "Parameters": parameters(score=0.7), "Steps": [score_step()]}, job)
    assert (outcome.status, outcome.failure_step) == ("Failed", "Score")
    assert "bad input: row 3" in outcome.failure_log.read_text()


def test_unknown_step_type_and_unknown_keys_are_errors_not_skips(job):
    with pytest.raises(UnsupportedDefinition, match="type Lambda"):
        run({"Version": "2020-12-01", "Steps": [{"Name": "L", "Type": "Lambda", "Arguments": {}}]}, job)
    step = score_step()
    step["CacheConfig"] = {"Enabled": True, "ExpireAfter": "P30D"}
    with pytest.raises(UnsupportedDefinition, match="CacheConfig"):
        run({"Version": "2020-12-01", "Parameters": parameters(score=0.7), "Steps": [step]}, job)


def test_an_image_other_than_the_mirrored_one_is_refused(job):
    step = score_step()
    step["Arguments"]["AppSpecification"]["ImageUri"] = IMAGE.replace("1.2-1", "1.4-2")
    with pytest.raises(UnsupportedDefinition, match="1.2-1"):
        run({"Version": "2020-12-01", "Parameters": parameters(score=0.7), "Steps": [step]}, job)


def test_parameters_are_typed_and_checked():
    declared = parameters(seed=42, rate=0.1, mode="train") + [
        {"Name": "use", "Type": "String", "DefaultValue": "a", "EnumValues": ["a", "b"]}
    ]
    assert resolve_parameters(declared, {"seed": "7", "rate": "0.5"}) == {
        "seed": 7,
        "rate": 0.5,
        "mode": "train",
        "use": "a",
    }
    with pytest.raises(ParameterError, match="unknown parameter 'sed'.*declares: mode, rate, seed, use"):
        resolve_parameters(declared, {"sed": "1"})
    with pytest.raises(ParameterError, match="seed: 'x' is not a valid Integer"):
        resolve_parameters(declared, {"seed": "x"})
    with pytest.raises(ParameterError, match="use: 'c' is not one of a, b"):
        resolve_parameters(declared, {"use": "c"})


def test_steps_run_after_the_steps_they_refer_to():
    steps = [
        {"Name": "C", "Type": "Fail", "Arguments": {"ErrorMessage": {"Get": "Steps.B.Outcome"}}},
        {"Name": "A", "Type": "Fail", "Arguments": {}},
        {"Name": "B", "Type": "Fail", "Arguments": {}, "DependsOn": ["A"]},
    ]
    assert [s["Name"] for s in execution_order(steps)] == ["A", "B", "C"]
    with pytest.raises(UnsupportedDefinition, match="cycle"):
        execution_order([{"Name": "X", "DependsOn": ["Y"]}, {"Name": "Y", "DependsOn": ["X"]}])


def test_expressions_evaluate_as_sagemaker_does():
    context = EvaluationContext(
        parameters={"seed": 42, "rate": 0.1},
        execution={"PipelineExecutionId": "e1"},
        step_properties={
            "Prep": {"ProcessingOutputConfig": {"Outputs": {"test": {"S3Output": {"S3Uri": "s3://b/t"}}}}}
        },
    )
    join = {
        "Std:Join": {
            "On": "/",
            "Values": ["s3://b", {"Get": "Execution.PipelineExecutionId"}, {"Get": "Parameters.seed"}],
        }
    }
    assert context.evaluate(join) == "s3://b/e1/42"
    assert context.evaluate({"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"}) == "s3://b/t"
    assert context.condition({"Type": "GreaterThan", "LeftValue": "0.2", "RightValue": {"Get": "Parameters.rate"}})
    assert context.condition({"Type": "In", "QueryValue": 42, "Values": [1, {"Get": "Parameters.seed"}]})
    assert not context.condition({"Type": "Not", "Condition": {"Type": "Equals", "LeftValue": 1, "RightValue": 1}})
    with pytest.raises(ExpressionError, match="unknown parameter 'nope'"):
        context.evaluate({"Get": "Parameters.nope"})
    with pytest.raises(UnsupportedDefinition, match="Std:Select"):
        context.evaluate({"Std:Select": {}})
    assert split_property_path("A.B['x y'][2].C") == ["A", "B", "x y", 2, "C"]


# Reports which input files its instance got, under its host name.
SHARD_SCRIPT = """
import json, sys, pathlib
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
config = json.loads(pathlib.Path(args["--resource-config"]).read_text())
root = pathlib.Path(args["--input"])
seen = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
if "fail.csv" in seen:
    raise SystemExit("cannot read fail.csv")
out = pathlib.Path(args["--output"]); out.mkdir(parents=True, exist_ok=True)
(out / (config["current_host"] + ".json")).write_text(json.dumps({"hosts": config["hosts"], "inputs": seen}))
"""


def sharded_step(instance_count):
    step = score_step()
    arguments = step["Arguments"]
    arguments["ProcessingResources"]["ClusterConfig"]["InstanceCount"] = instance_count
    arguments["AppSpecification"]["ContainerArguments"] = [
        "--input", "/opt/ml/processing/input/data", "--output", "/opt/ml/processing/output/result",
        "--resource-config", "/opt/ml/config/resourceconfig.json",
    ]  # fmt: skip
    arguments["ProcessingInputs"][0]["S3Input"]["S3DataDistributionType"] = "ShardedByS3Key"
    del step["PropertyFiles"]
    return step


def test_a_sharded_input_is_dealt_out_to_the_instances_which_run_side_by_side(job):
    (job.s3.root / "assets/score.py").write_text(SHARD_SCRIPT)
    for name in ("b.csv", "sub/c.csv", "d.csv", "e.csv"):
        (job.s3.root / "raw/data" / name).parent.mkdir(parents=True, exist_ok=True)
        (job.s3.root / "raw/data" / name).write_text("title\nx\n")
    outcome, _ = run({"Version": "2020-12-01", "Parameters": parameters(score=0.7), "Steps": [sharded_step(3)]}, job)
    assert outcome.status == "Succeeded", outcome.failure_reason
    result = job.s3.root / "processed/exec-1/result"
    reports = {p.stem: json.loads(p.read_text()) for p in result.glob("*.json")}
    assert sorted(reports) == ["algo-1", "algo-2", "algo-3"]
    assert all(report["hosts"] == ["algo-1", "algo-2", "algo-3"] for report in reports.values())
    shares = [reports[host]["inputs"] for host in sorted(reports)]
    assert sorted(name for share in shares for name in share) == ["a.csv", "b.csv", "d.csv", "e.csv", "sub/c.csv"]
    assert all(shares), "five objects over three instances: each gets a share"


def test_an_instance_with_no_objects_gets_an_empty_folder_and_a_failing_instance_fails_the_step(job):
    (job.s3.root / "assets/score.py").write_text(SHARD_SCRIPT)
    outcome, _ = run({"Version": "2020-12-01", "Parameters": parameters(score=0.7), "Steps": [sharded_step(2)]}, job)
    assert outcome.status == "Succeeded", outcome.failure_reason
    reports = sorted((job.s3.root / "processed/exec-1/result").glob("*.json"))
    assert [json.loads(p.read_text())["inputs"] for p in reports] == [["a.csv"], []]

    (job.s3.root / "raw/data/fail.csv").write_text("title\nx\n")
    outcome, _ = run({"Version": "2020-12-01", "Parameters": parameters(score=0.7), "Steps": [sharded_step(2)]}, job)
    assert (outcome.status, outcome.failure_step) == ("Failed", "Score")
    assert "on algo-2" in outcome.failure_reason and "cannot read fail.csv" in outcome.failure_log.read_text()


def register_step(metadata: dict) -> dict:
    return {
        "Name": "Register",
        "Type": "RegisterModel",
        "Arguments": {
            "ModelPackageGroupName": "jobclf-test",
            "ModelApprovalStatus": "Approved",
            "CustomerMetadataProperties": metadata,
            "InferenceSpecification": {
                "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://models/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        },
    }


def test_a_step_whose_request_aws_refuses_fails_before_it_runs_naming_the_field_and_the_constraint(job):
    """Defect 1 of issue 19, locally: the model would be registered although CreateModelPackage refuses it."""
    definition = {
        "Version": "2020-12-01",
        "Parameters": parameters(score=0.7),
        "Steps": [score_step(), register_step({"fitted_on": "every accepted row (all occupations)"})],
    }
    outcome, _ = run(definition, job)
    assert (outcome.status, outcome.failure_step) == ("Failed", "Register")
    assert outcome.failure_reason.startswith(
        "AWS would refuse step Register: CreateModelPackage.CustomerMetadataProperties.fitted_on: must match pattern"
    )
    assert "\n" not in outcome.failure_reason
    assert not job.registry_file.exists(), "nothing was registered"
    assert [s.status for s in outcome.steps] == ["Succeeded", "Failed"]


def test_a_job_request_is_checked_with_the_executions_values(job):
    """A container argument that only an expression makes too long (CreateProcessingJob: 256 characters)."""
    step = score_step(score_expression={"Std:Join": {"On": "", "Values": [{"Get": "Parameters.score"}]}})
    step["Arguments"]["AppSpecification"]["ContainerArguments"].append({"Get": "Parameters.note"})
    definition = {"Version": "2020-12-01", "Parameters": parameters(score=0.7, note="short"), "Steps": [step]}
    assert run(definition, job)[0].status == "Succeeded"
    outcome, _ = run(definition, job, note="n" * 257)
    assert outcome.failure_step == "Score"
    assert "AppSpecification.ContainerArguments[6]: length 257 characters must be <= 256" in outcome.failure_reason


def test_the_local_jobs_are_named_as_sagemaker_names_them(job):
    definition = {"Version": "2020-12-01", "Parameters": parameters(score=0.7), "Steps": [score_step()]}
    outcome, _ = run(definition, job)
    name = outcome.step_properties["Score"]["ProcessingJobName"]
    assert name.startswith("pipelines-") and "-Score-" in name and len(name) <= 63


def test_a_definition_aws_refuses_is_refused_before_any_step_runs(job):
    """Defect 2 of issue 19, locally: a condition step in another's branch."""
    inner = gate({"Get": "Parameters.threshold"})
    outer = {
        "Name": "Outer",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 1}],
            "IfSteps": [inner],
            "ElseSteps": [],
        },
    }
    definition = {
        "Version": "2020-12-01",
        "Parameters": parameters(score=0.7, threshold=0.5),
        "Steps": [score_step(), outer],
    }
    with pytest.raises(
        UnsupportedDefinition,
        match=r"^AWS would refuse the definition: Steps/Outer.IfSteps/Gate: nested condition step",
    ):
        run(definition, job)
    assert not (job.s3.root / "processed").exists(), "no step ran"
