"""The pipeline definition each environment deploys: built from config, tokens restored correctly."""

from __future__ import annotations

import json
import re

import pytest
from infra_support import Synth, all_steps

from pipeline_steps import preprocess_train, train
from pipeline_steps.model import Hyperparameters
from workflow.local.expressions import EvaluationContext

ENVIRONMENTS = ["develop", "production"]
ENVIRONMENT_BUCKETS = {"raw-bucket", "processed-bucket", "models-bucket", "predictions-bucket"}
# A comma separates spark-submit's --py-files URIs.
S3_URI = re.compile(r"s3://([^/\"\\\s,]+)/?([^\"\\\s,]*)")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_definition_parses_and_declares_use_type(synth: Synth, env: str) -> None:
    definition = synth.stacks[env].pipeline.fake_definition()
    parameters = {p["Name"]: p for p in definition["Parameters"]}
    assert parameters["use_type"]["Type"] == "String"
    assert parameters["use_type"]["DefaultValue"] in {"train", "predict"}
    # What the schedule check reads: the declared names (defaults still carry placeholders there).
    assert set(synth.stacks[env].pipeline.parameters) == set(parameters)


def steps_on_path(steps: list[dict], parameters: dict) -> list[dict]:
    """The steps an execution with `parameters` can run: conditions on parameters alone are decided
    as SageMaker decides them; a condition on step results would keep both branches."""
    context = EvaluationContext(parameters=parameters, execution={})
    found = []
    for step in steps:
        if step["Type"] != "Condition":
            found.append(step)
            continue
        arguments = step["Arguments"]
        if "Steps." in json.dumps(arguments["Conditions"]):
            found += steps_on_path(arguments.get("IfSteps", []) + arguments.get("ElseSteps", []), parameters)
        else:
            chosen = all(context.condition(c) for c in arguments["Conditions"])
            found += steps_on_path(arguments.get("IfSteps" if chosen else "ElseSteps", []), parameters)
    return found


def path_of(definition: dict, **overrides) -> list[dict]:
    parameters = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
    return steps_on_path(definition["Steps"], {**parameters, **overrides})


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_predict_execution_runs_no_emr_step_unless_its_engine_is_emr(synth: Synth, env: str) -> None:
    definition = synth.stacks[env].pipeline.fake_definition()
    parameters = {p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]}
    assert parameters["predict_engine"] == "processing", "config/environments.toml: [defaults.predict] engine"
    processing = path_of(definition, use_type="predict", predict_engine="processing")
    assert [s["Name"] for s in processing] == ["PreprocessPredict", "BatchPredict", "PredictionReport"]
    assert all(s["Type"] == "Processing" for s in processing), "no EMR cluster, no O*NET ETL"
    emr = path_of(definition, use_type="predict", predict_engine="emr")
    assert [(s["Name"], s["Type"]) for s in emr] == [
        ("PredictEtl", "EMR"), ("BatchPredictAfterEtl", "Processing"), ("PredictionReportAfterEtl", "Processing")
    ]  # fmt: skip
    spark_arguments = emr[0]["Arguments"]["StepConfig"]["HadoopJarStep"]["Args"]
    assert spark_arguments[6:10] == ["--dataset", "titles", "--input", {"Get": "Parameters.input_titles_uri"}]
    assert "onet_input_uri" not in json.dumps(emr), "a predict execution never reads O*NET"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_train_execution_starts_with_the_onet_etl(synth: Synth, env: str) -> None:
    definition = synth.stacks[env].pipeline.fake_definition()
    assert {s["Type"] for s in definition["Steps"]} == {"Condition"}, "use_type decides before any work"
    train = path_of(definition, use_type="train")
    assert [s["Name"] for s in train][:2] == ["ETL", "PreprocessTrain"]
    assert "Parameters.onet_input_uri" in json.dumps(train[0]["Arguments"])
    assert train[1]["DependsOn"] == ["ETL"]
    assert any(s["Type"] == "Training" for s in train), "the train branch trains a model"
    assert any(s["Type"] == "RegisterModel" for s in train), "the train branch can register the model"
    assert not [s for s in train if "Predict" in s["Name"]]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_predict_steps_scale_out_over_shards_and_key_output_by_execution(synth: Synth, env: str) -> None:
    definition = synth.stacks[env].pipeline.fake_definition()
    steps = [s for s in all_steps(definition["Steps"]) if s["Type"] == "Processing" and "Predict" in s["Name"]]
    # The prediction report adds up its BatchPredict's instance reports on one instance.
    predict_steps = [s for s in steps if not s["Name"].startswith("PredictionReport")]
    assert len(predict_steps) == 3 and len(steps) == 5
    for step in predict_steps:
        arguments = step["Arguments"]
        assert arguments["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == {
            "Get": "Parameters.predict_instance_count"
        }
        data = [i["S3Input"] for i in arguments["ProcessingInputs"] if i["InputName"] != "code"]
        assert [i["S3DataDistributionType"] for i in data] == ["ShardedByS3Key"], step["Name"]
    for step in [s for s in predict_steps if s["Name"].startswith("BatchPredict")]:
        container_arguments = step["Arguments"]["AppSpecification"]["ContainerArguments"]
        position = container_arguments.index("--execution-id")
        assert container_arguments[position + 1] == {"Get": "Execution.PipelineExecutionId"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_s3_uri_points_at_an_asset_or_an_environment_bucket(synth: Synth, env: str) -> None:
    stack = synth.stacks[env]
    asset_keys = {asset.s3_object_key for asset in stack.code.all}
    text = json.dumps(stack.pipeline.fake_definition())
    uris = S3_URI.findall(text)
    assert uris
    used_assets = set()
    for bucket, key in uris:
        if bucket == "assets-bucket":
            assert key in asset_keys, f"s3://{bucket}/{key} is not one of this stack's assets"
            used_assets.add(key)
        else:
            assert bucket in ENVIRONMENT_BUCKETS, f"s3://{bucket}/{key} is outside this environment's buckets"
    assert used_assets == asset_keys, "every step-code asset is used by the definition"
    # And each fake bucket stands for this stack's bucket of that name.
    fakes = {entry.fake: stack.resolve(entry.token) for entry in stack.pipeline.placeholders.entries}
    for name, bucket in stack.storage.data_buckets.items():
        assert fakes[f"{name}-bucket"] == stack.resolve(bucket.bucket_name)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_restored_definition_body_is_the_definition_with_its_tokens(synth: Synth, env: str) -> None:
    """Rebuild the deployed PipelineDefinitionBody from the template, each token read back as its fake value."""
    stack = synth.stacks[env]
    fake_by_identity = {
        json.dumps(stack.resolve(entry.token), sort_keys=True): entry.fake
        for entry in stack.pipeline.placeholders.entries
    }
    pipeline = next(r for r in synth.templates[env]["Resources"].values() if r["Type"] == "AWS::SageMaker::Pipeline")
    delimiter, parts = pipeline["Properties"]["PipelineDefinition"]["PipelineDefinitionBody"]["Fn::Join"]
    assert delimiter == ""
    text = []
    for part in parts:
        if isinstance(part, str):
            assert "jobclf-token" not in part and "${Token[" not in part
            text.append(part)
        else:
            identity = json.dumps(part, sort_keys=True)
            assert identity in fake_by_identity, f"unexpected intrinsic in the definition: {identity}"
            text.append(fake_by_identity[identity])
    assert json.loads("".join(text)) == stack.pipeline.fake_definition()


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_definition_is_built_from_the_environment_config(synth: Synth, env: str, configs) -> None:
    config = configs[env]
    spec = synth.stacks[env].pipeline.spec
    assert spec.pipeline_name == config.resource_prefix
    assert spec.model_package_group_name == config.resource_prefix
    assert spec.region == config.region
    assert spec.jobs.processing_instance_type == config.sagemaker.processing_instance_type
    assert spec.jobs.training_instance_type == config.sagemaker.training_instance_type
    assert spec.jobs.volume_size_gb == config.sagemaker.volume_size_gb
    assert spec.jobs.max_runtime_seconds == config.sagemaker.max_runtime_minutes * 60
    assert len(spec.jobs.subnet_ids) == config.network.max_azs
    assert len(spec.jobs.security_group_ids) == 1
    assert spec.sklearn_framework_version == config.sagemaker.sklearn_framework_version
    assert spec.model.approval_status == config.model.approval_status
    assert spec.model.min_macro_f1 == config.model.min_macro_f1
    parameters = synth.stacks[env].pipeline.parameters
    assert parameters["model_approval_status"] == config.model.approval_status
    assert parameters["min_macro_f1"] == config.model.min_macro_f1
    text = json.dumps(synth.stacks[env].pipeline.fake_definition())
    assert config.sagemaker.training_instance_type in text
    assert "arn:aws:kms:" in text and "data-key" in text, "job volumes and outputs use the environment's key"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_training_defaults_train_the_benchmarked_model(synth: Synth, env: str) -> None:
    """An execution with default parameters trains `Hyperparameters()`, the model the benchmark chose.

    The training step's hyperparameters, evaluated with the declared defaults by the local run's
    expression evaluator, and its channels go through the train script's own argument parser.
    """
    definition = synth.stacks[env].pipeline.fake_definition()
    defaults = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]}
    (training,) = [s for s in all_steps(definition["Steps"]) if s["Type"] == "Training"]
    context = EvaluationContext(parameters=defaults, execution={})
    hyperparameters = context.evaluate(training["Arguments"]["HyperParameters"])
    # Every channel the train script needs is one the step declares (it refuses to run without one).
    argv = ["--model-dir", "model-dir"]
    for channel in training["Arguments"]["InputDataConfig"]:
        argv += [f"--{channel['ChannelName'].replace('_', '-')}", f"{channel['ChannelName']}-channel"]
    for name, value in hyperparameters.items():
        if not name.startswith("sagemaker_"):
            argv += [f"--{name}", str(value)]
    assert train.parse_args(argv).hyperparameters == Hyperparameters()


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_split_defaults_are_the_preprocess_train_steps_own(synth: Synth, env: str) -> None:
    """The split parameters' defaults are those the step applies when run by hand without them (a seed of
    42 in the definition and 1 in the step once split the occupations two ways)."""
    definition = synth.stacks[env].pipeline.fake_definition()
    defaults = {p["Name"]: p["DefaultValue"] for p in definition["Parameters"]}
    by_hand = preprocess_train.parse_args([])
    assert (defaults["split_seed"], defaults["validation_fraction"], defaults["test_fraction"]) == (
        by_hand.seed,
        by_hand.validation_fraction,
        by_hand.test_fraction,
    )


def test_step_code_assets_are_deterministic(synth: Synth, variant_synth: Synth) -> None:
    """Two synths (two apps) give the same asset keys: the bundles' bytes do not change between builds."""
    keys = [asset.s3_object_key for asset in synth.stacks["develop"].code.all]
    assert keys == [asset.s3_object_key for asset in synth.stacks["production"].code.all]
    assert keys == [asset.s3_object_key for asset in variant_synth.stacks["standing"].code.all]


# SageMaker's published pattern for pipeline step names (PipelineExecutionStep / CreatePipeline validation).
STEP_NAME = re.compile(r"^[A-Za-z0-9\-_]{1,64}$")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_step_names_and_display_names_match_sagemakers_pattern(synth: Synth, env: str) -> None:
    steps = all_steps(synth.stacks[env].pipeline.fake_definition()["Steps"])
    names = [step["Name"] for step in steps] + [step["DisplayName"] for step in steps if "DisplayName" in step]
    assert len(names) > len(steps), "at least one step has a display name"
    assert [name for name in names if not STEP_NAME.fullmatch(name)] == []
