"""The request validator (workflow/contracts): a known-good and a known-bad request for each kind of constraint
that botocore's service models state, and the Java-regex reading of AWS's patterns."""

from __future__ import annotations

import datetime

import pytest

from workflow.contracts.java_regex import PatternError, matches, translate
from workflow.contracts.pipeline import pipeline_job_name, sagemaker_execution_id
from workflow.contracts.validator import ContractError, check_request, validate_request

GOOD_PACKAGE = {"ModelPackageGroupName": "jobclf-develop", "ModelApprovalStatus": "Approved"}


def violations(service: str, operation: str, params: dict) -> list[str]:
    return [str(v) for v in validate_request(service, operation, params)]


def test_a_request_the_model_accepts_has_no_violation() -> None:
    assert violations("sagemaker", "CreateModelPackage", GOOD_PACKAGE) == []


def test_the_real_defect_commas_and_parentheses_in_customer_metadata_are_refused() -> None:
    """CustomerMetadataValue's pattern is ([\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@]*)${1,256}: no ',', '(' or ')'."""
    found = violations(
        "sagemaker",
        "CreateModelPackage",
        {**GOOD_PACKAGE, "CustomerMetadataProperties": {"fitted_on": "every accepted row (all occupations)"}},
    )
    assert len(found) == 1
    assert found[0].startswith("CreateModelPackage.CustomerMetadataProperties.fitted_on: must match pattern")
    assert "CustomerMetadataValue" in found[0] and "every accepted row (all occupations)" in found[0]


def test_letters_outside_ascii_satisfy_a_p_l_pattern() -> None:
    metadata = {"fitted_on": "Søren Ørsted: café naïve 東京 0.75", "note": "every accepted row - all occupations"}
    assert violations("sagemaker", "CreateModelPackage", {**GOOD_PACKAGE, "CustomerMetadataProperties": metadata}) == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"ModelApprovalStatus": "Approved"}, None),  # CreateModelPackage requires nothing else
        ({**GOOD_PACKAGE, "Unknown": 1}, "CreateModelPackage.Unknown: unknown member of CreateModelPackageInput"),
        ({**GOOD_PACKAGE, "ModelApprovalStatus": "Maybe"}, "must be one of Approved, Rejected, PendingManualApproval"),
        ({**GOOD_PACKAGE, "ModelPackageDescription": "x" * 1025}, "length 1025 characters must be <= 1024"),
        ({**GOOD_PACKAGE, "ModelPackageGroupName": "has spaces"}, "must match pattern"),
        ({**GOOD_PACKAGE, "CustomerMetadataProperties": {}}, "length 0 entries must be >= 1"),
        ({**GOOD_PACKAGE, "CustomerMetadataProperties": {"k": ""}}, "length 0 characters must be >= 1"),
        ({**GOOD_PACKAGE, "CustomerMetadataProperties": {"bad,key": "v"}}, "key 'bad,key': must match pattern"),
        ({**GOOD_PACKAGE, "CertifyForMarketplace": "yes"}, "must be a boolean"),
        ({**GOOD_PACKAGE, "Tags": "k=v"}, "must be a list"),
        ({**GOOD_PACKAGE, "ModelMetrics": []}, "must be a structure"),
    ],
)
def test_each_constraint_kind_of_a_structure_is_checked(params: dict, expected: str | None) -> None:
    found = " | ".join(violations("sagemaker", "CreateModelPackage", params))
    if expected is None:
        assert found == ""
    else:
        assert expected in found


def test_required_members_numbers_and_list_lengths() -> None:
    job = {
        "ProcessingJobName": "pipelines-kytlemm1lvpq-Evaluate-akcuGrwcia",
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30}
        },
        "AppSpecification": {
            "ImageUri": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
        },
        "RoleArn": "arn:aws:iam::123456789012:role/PipelineRole",
        "StoppingCondition": {"MaxRuntimeInSeconds": 7200},
        "Environment": {"AWS_DEFAULT_REGION": "eu-west-1"},
    }
    assert violations("sagemaker", "CreateProcessingJob", job) == []
    bad = {
        **job,
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 101, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30.5}
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 0},
        "AppSpecification": {"ImageUri": job["AppSpecification"]["ImageUri"], "ContainerArguments": ["a" * 257]},
        "Environment": {"LONG": "v" * 257},
    }
    del bad["RoleArn"]
    found = " | ".join(violations("sagemaker", "CreateProcessingJob", bad))
    for expected in (
        "CreateProcessingJob.RoleArn: required member is missing",
        "ClusterConfig.InstanceCount: must be <= 100",
        "ClusterConfig.VolumeSizeInGB: must be an integer",
        "MaxRuntimeInSeconds: must be >= 1",
        "ContainerArguments[0]: length 257 characters must be <= 256",
        "Environment.LONG: length 257 characters must be <= 256",
    ):
        assert expected in found
    too_many = {**job, "AppSpecification": {**job["AppSpecification"], "ContainerArguments": ["a"] * 101}}
    assert "ContainerArguments: length 101 items must be <= 100" in " | ".join(
        violations("sagemaker", "CreateProcessingJob", too_many)
    )


def test_integers_fit_their_width_and_booleans_are_not_numbers() -> None:
    step = {"JobFlowId": "j-ABC", "Steps": [{"Name": "s", "HadoopJarStep": {"Jar": "command-runner.jar"}}]}
    assert violations("emr", "AddJobFlowSteps", step) == []
    found = violations(
        "emr", "RunJobFlow", {"Name": "c", "Instances": {"InstanceCount": 2**31}, "StepConcurrencyLevel": True}
    )
    assert any("must fit a integer" in v for v in found)
    assert any("StepConcurrencyLevel: must be an integer" in v for v in found)


def test_timestamps_and_blobs() -> None:
    schedule = {
        "Name": "jobclf-develop-weekly-train",
        "ScheduleExpression": "cron(0 3 ? * MON *)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {
            "Arn": "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/jobclf",
            "RoleArn": "arn:aws:iam::123456789012:role/r",
        },
        "StartDate": datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC),
    }
    assert violations("scheduler", "CreateSchedule", schedule) == []
    assert "must be a timestamp" in " ".join(
        violations("scheduler", "CreateSchedule", {**schedule, "StartDate": "soon"})
    )
    assert violations("kms", "Encrypt", {"KeyId": "alias/k", "Plaintext": b"x"}) == []
    assert "length 0 bytes must be >= 1" in " ".join(
        violations("kms", "Encrypt", {"KeyId": "alias/k", "Plaintext": b""})
    )


def test_the_schedulers_pipeline_parameter_patterns() -> None:
    start = {"Name": "s", "ScheduleExpression": "rate(1 day)", "FlexibleTimeWindow": {"Mode": "OFF"}}
    target = {
        "Arn": "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/p",
        "RoleArn": "arn:aws:iam::123456789012:role/r",
    }

    def with_parameter(name: str, value: str) -> list[str]:
        parameters = {"PipelineParameterList": [{"Name": name, "Value": value}]}
        return violations(
            "scheduler", "CreateSchedule", {**start, "Target": {**target, "SageMakerPipelineParameters": parameters}}
        )

    assert with_parameter("use_type", "predict") == []
    assert "must match pattern" in " ".join(with_parameter("use type", "predict"))
    assert "length 0 characters must be >= 1" in " ".join(with_parameter("execution_date", ""))


def test_check_request_raises_one_line_per_violation() -> None:
    with pytest.raises(ContractError) as raised:
        check_request(
            "sagemaker", "CreateModelPackage", {**GOOD_PACKAGE, "ModelApprovalStatus": "Maybe"}, "step RegisterModel"
        )
    assert str(raised.value).startswith("step RegisterModel: CreateModelPackage.ModelApprovalStatus: must be one of")
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        (r"[a-z]+", "abc", True),
        (r"[a-z]+", "abc1", False),  # the whole value must match, as the services match
        (r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)", "a,b", False),  # unanchored, yet refused (IAM tag values)
        (r"\w+", "café", False),  # Java's \w is ASCII
        (r"[\w-]+", "a-b_c", True),
        (r"\S+", "ab\u00a0c", True),  # Java's \S: anything but ASCII whitespace
        (r"\d+", "١٢", False),  # Arabic-Indic digits are not Java's \d
        (r".*", "line\rbreak", False),  # Java's . stops at \r, Python's does not
        (r".*", "a\u2028b", False),
        (r".*(?:[ \r\n\t].*)*", "line\r\nbreak", True),
        (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\r\n\t]*", "emoji 😀\n", True),  # UTF-16 pairs
        (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\r\n\t]*", "bell \x07", False),
        (r"arn:[\p{Alnum}\-]+:lambda", "arn:aws-ü:lambda", False),  # Java's \p{Alnum} is ASCII
        (r"arn:[\p{Alnum}\-]+:lambda", "arn:aws-cn:lambda", True),
    ],
)
def test_patterns_are_read_as_java_reads_them(pattern: str, value: str, expected: bool) -> None:
    assert matches(pattern, value) is expected


def test_java_syntax_that_is_not_translated_is_an_error_not_a_guess() -> None:
    for pattern in (r"\Qa.b\E", "[a-z&&[^e]]", "[a[b]]"):
        with pytest.raises(PatternError):
            translate(pattern)


def test_job_names_have_sagemakers_shape() -> None:
    assert sagemaker_execution_id("kytlemm1lvpq") == "kytlemm1lvpq"
    derived = sagemaker_execution_id("local-20261203T101112-a1b2c3")
    assert len(derived) == 12 and derived.isalnum() and derived == derived.lower()
    name = pipeline_job_name("kytlemm1lvpq", "PreprocessPredict")
    assert name.startswith("pipelines-kytlemm1lvpq-PreprocessPredict-") and len(name) == 51
    assert name == pipeline_job_name("kytlemm1lvpq", "PreprocessPredict")
