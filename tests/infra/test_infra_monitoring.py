"""Watching the model: the prediction report's steps in both predict paths, their CloudWatch alarms with the
configured thresholds, and the pipeline role's PutMetricData scoped to the environment's namespace."""

from __future__ import annotations

import dataclasses

import pytest
from infra_support import Synth, all_steps

from pipeline_steps.contract import metrics_namespace
from pipeline_steps.prediction_report import CHECKS, Limits
from stacks.monitoring import ALARMS

ENVIRONMENTS = ["develop", "production"]


def alarms(synth: Synth, env: str) -> dict[str, dict]:
    """The properties of the alarms on the report's namespace, by metric name (the endpoint has alarms of its own)."""
    found = [
        r["Properties"] for r in synth.templates[env]["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    return {alarm["MetricName"]: alarm for alarm in found if alarm.get("Namespace") == metrics_namespace(env)}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_one_alarm_per_judged_figure_with_the_configured_maximum(synth: Synth, env: str, configs) -> None:
    monitoring = configs[env].monitoring
    found = alarms(synth, env)
    # Every figure the report judges has an alarm, and nothing else in its namespace has one.
    assert sorted(found) == sorted(figure for figure, *_ in CHECKS)
    for metric_name, maximum, suffix, _ in ALARMS:
        alarm = found[metric_name]
        assert alarm["AlarmName"] == f"jobclf-{env}-{suffix}"
        assert alarm["Namespace"] == metrics_namespace(env) == f"JobClf/{env}"
        assert alarm["Threshold"] == getattr(monitoring, maximum)
        assert "Dimensions" not in alarm  # the report puts each judged figure without dimensions
        assert (alarm["ComparisonOperator"], alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"]) == (
            "GreaterThanThreshold",
            "Maximum",
            3600,
            1,
        )
        assert alarm["TreatMissingData"] == "notBreaching"
        assert f"monitoring.{maximum}" in alarm["AlarmDescription"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_pipeline_role_puts_metrics_only_in_its_namespace(synth: Synth, env: str) -> None:
    stack = synth.stacks[env]
    role_id = stack.get_logical_id(stack.pipeline_role.role.node.default_child)
    statements = [
        statement
        for resource in synth.templates[env]["Resources"].values()
        if resource["Type"] == "AWS::IAM::ManagedPolicy" and {"Ref": role_id} in resource["Properties"]["Roles"]
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        if "cloudwatch:PutMetricData" in statement["Action"]
    ]
    assert {
        "Sid": "PredictionMetrics",
        "Effect": "Allow",
        "Action": "cloudwatch:PutMetricData",
        "Resource": "*",
        "Condition": {"StringEquals": {"cloudwatch:namespace": f"JobClf/{env}"}},
    } in statements
    # The only other one: SageMaker's own job metrics.
    assert [s["Condition"] for s in statements if s["Sid"] != "PredictionMetrics"] == [
        {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}}
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_predict_path_reports_after_its_batch_predict(synth: Synth, env: str, configs) -> None:
    definition = synth.stacks[env].pipeline.fake_definition()
    branches = {step["Name"]: [s["Name"] for s in step["Arguments"]["IfSteps"]] for step in definition["Steps"]}
    assert branches["UseTypePredict"] == ["PreprocessPredict", "BatchPredict", "PredictionReport"]
    assert branches["UseTypePredictOnEmr"] == ["PredictEtl", "BatchPredictAfterEtl", "PredictionReportAfterEtl"]
    steps = {step["Name"]: step for step in all_steps(definition["Steps"])}
    monitoring = configs[env].monitoring
    for predict, report in (("BatchPredict", "PredictionReport"), ("BatchPredictAfterEtl", "PredictionReportAfterEtl")):
        predict_arguments = steps[predict]["Arguments"]
        container = predict_arguments["AppSpecification"]["ContainerArguments"]
        assert container[container.index("--low-confidence") + 1] == str(monitoring.low_confidence)
        outputs = {o["OutputName"]: o["S3Output"] for o in predict_arguments["ProcessingOutputConfig"]["Outputs"]}
        arguments = steps[report]["Arguments"]
        (parts,) = [i for i in arguments["ProcessingInputs"] if i["InputName"] != "code"]
        # The report reads what its own BatchPredict wrote (a property reference: it runs after it).
        assert parts["S3Input"]["S3Uri"] == {
            "Get": f"Steps.{predict}.ProcessingOutputConfig.Outputs['report-parts'].S3Output.S3Uri"
        }
        assert outputs["report-parts"]["S3Uri"]["Std:Join"]["Values"][-1] == "prediction-report-parts"
        (written,) = arguments["ProcessingOutputConfig"]["Outputs"]
        assert written["S3Output"]["S3Uri"] == outputs["predictions"]["S3Uri"]  # beside the predictions
        assert arguments["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 1
        report_arguments = arguments["AppSpecification"]["ContainerArguments"]
        named = dict(zip(report_arguments[1::2], report_arguments[2::2], strict=False))
        assert named["--metrics-namespace"] == f"JobClf/{env}"
        for limit in dataclasses.fields(Limits):
            assert named[f"--{limit.name.replace('_', '-')}"] == str(getattr(monitoring, limit.name))
