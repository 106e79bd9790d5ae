"""`jobclf endpoint show` and `jobclf classify --env` against moto's server on loopback.

The endpoint is made by the deployer (endpoint_deployer) from the seeded registry, as in AWS; its
CloudWatch figures are put by the test (moto serves GetMetricData from what was put); InvokeEndpoint's
answers are queued through moto's API for sagemaker-runtime (moto returns queued bodies, one per distinct
request, and runs no model).

What this cannot prove: that the real endpoint answers these bodies (tests/runtime and test_cli_local.py
serve the real model through the real serving stack, with the same contract); that AWS publishes the
figures under these names and dimensions (the developer guide's "SageMaker AI endpoint invocation
metrics" says so); that an operator's IAM identity may make these calls (docs/operating.md lists them).
"""

from __future__ import annotations

import datetime
import io
import json

import pytest
from cli_support import ACCOUNT, REGION, invoke, labelled_values, one_error_line, prediction, queue_answers, seed

from endpoint_deployer.deployer import Deployer, EndpointSettings
from jobclf_cli.serving import read_titles

MODEL_ROLE = f"arn:aws:iam::{ACCOUNT}:role/jobclf-develop-endpoint-model"
SETTINGS = EndpointSettings("jobclf-develop", "jobclf-develop", MODEL_ROLE)


def deploy(endpoint) -> Deployer:
    deployer = Deployer(endpoint.client("sagemaker"), SETTINGS)
    deployer.handle({"action": "reconcile"})
    return deployer


def put_figures(endpoint, invocations: int, client_errors: int, latencies_us: list[float]) -> None:
    dimensions = [{"Name": "EndpointName", "Value": "jobclf-develop"}, {"Name": "VariantName", "Value": "AllTraffic"}]
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    data = [
        {"MetricName": "Invocations", "Dimensions": dimensions, "Timestamp": now, "Value": invocations},
        {"MetricName": "Invocation4XXErrors", "Dimensions": dimensions, "Timestamp": now, "Value": client_errors},
        {"MetricName": "Invocation5XXErrors", "Dimensions": dimensions, "Timestamp": now, "Value": 0},
    ]
    data += [
        {
            "MetricName": "ModelLatency",
            "Dimensions": dimensions,
            "Timestamp": now,
            "Value": value,
            "Unit": "Microseconds",
        }
        for value in latencies_us
    ]
    endpoint.client("cloudwatch").put_metric_data(Namespace="AWS/SageMaker", MetricData=data)


# -- endpoint show ----------------------------------------------------------------------------------


def test_show_names_the_served_version_since_when_its_capacity_figures_and_metrics(aws_env, runner):
    seeded = seed(aws_env, "develop")
    deploy(aws_env)
    put_figures(aws_env, invocations=42, client_errors=1, latencies_us=[10_000, 30_000])
    result = invoke(runner, "endpoint", "show", "--env", "develop")
    assert result.exit_code == 0, result.output
    shown = labelled_values(result.stdout)
    assert result.stdout.startswith(f"Endpoint jobclf-develop ({REGION}): InService")
    assert shown["serving"] == "model version 1 of group jobclf-develop (Approved)"
    assert shown["package"] == seeded.package_arns[0]
    assert shown["capacity"] == "serverless, 2048 MB, at most 10 concurrent invocations"
    assert shown["configuration"].startswith("jobclf-develop-v1-")
    assert datetime.datetime.strptime(shown["since"], "%Y-%m-%d %H:%M:%SZ")
    assert shown["last 24 h"] == "42 invocations, 1 4xx, 0 5xx; model latency 20.0 ms on average, 30.0 ms at most"
    assert shown["model metrics"] == f"s3://{seeded.bucket}/evaluations/execution1/evaluation.json"
    assert shown["macro_f1"] == "0.7100"


def test_show_during_an_update_names_the_version_it_moves_to(aws_env, runner):
    seeded = seed(aws_env, "develop")
    deploy(aws_env)
    aws_env.hold_endpoint_operations = True
    aws_env.client("sagemaker").update_model_package(
        ModelPackageArn=seeded.package_arns[1], ModelApprovalStatus="Approved"
    )
    deploy(aws_env)
    result = invoke(runner, "endpoint", "show", "--env", "develop")
    assert result.exit_code == 0, result.output
    shown = labelled_values(result.stdout)
    assert "Updating" in result.stdout.splitlines()[0] and shown["serving"].startswith("model version 1 ")
    assert shown["updating to"].startswith("model version 2 of group jobclf-develop (Approved)")
    assert shown["last 24 h"] == "no invocations"


def test_show_without_an_endpoint_says_when_it_is_created(aws_env, runner):
    seed(aws_env, "develop")
    line = one_error_line(invoke(runner, "endpoint", "show", "--env", "develop"))
    assert "endpoint jobclf-develop not found in eu-west-1" in line
    assert "it is created when a model version of group jobclf-develop is approved" in line


# -- classify --env ---------------------------------------------------------------------------------


NURSE = prediction(
    "Registered Nurse",
    [
        ("29", "Healthcare Practitioners and Technical Occupations", 0.91),
        ("31", "Healthcare Support Occupations", 0.05),
        ("11", "Management Occupations", 0.01),
    ],
    answered_by="known_title",
)
EMPTY = {
    "title": "",
    "major_group": None,
    "major_group_title": None,
    "confidence": None,
    "top3": [],
    "rejection_reason": "empty_title",
}


def test_classify_prints_the_top_3_and_tolerates_fields_the_contract_does_not_name(aws_env, runner, aws_requests):
    queue_answers(aws_env, {"predictions": [NURSE, EMPTY]})
    result = invoke(runner, "classify", "Registered Nurse", "", "--env", "develop")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Registered Nurse",
        "  1. 29  Healthcare Practitioners and Technical Occupations         0.910",
        "  2. 31  Healthcare Support Occupations                             0.050",
        "  3. 11  Management Occupations                                     0.010",
        "  (answered by: known_title)",
        '""',
        "  rejected: empty_title",
    ]
    [(service, operation, parameters)] = [request for request in aws_requests if request[0] == "sagemaker-runtime"]
    assert operation == "InvokeEndpoint"
    assert parameters["EndpointName"] == "jobclf-develop" and parameters["ContentType"] == "application/json"
    assert json.loads(parameters["Body"]) == {"titles": ["Registered Nurse", ""]}


def test_classify_json_prints_each_answer_as_the_endpoint_gave_it(aws_env, runner):
    queue_answers(aws_env, {"predictions": [NURSE]})
    result = invoke(runner, "classify", "Registered Nurse", "--env", "develop", "--json")
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.stdout.splitlines()] == [NURSE]


def test_classify_sends_a_file_in_batches_of_1000(aws_env, runner, tmp_path, aws_requests):
    titles = [f"Title {i}" for i in range(2500)]
    (tmp_path / "titles.txt").write_text("\n".join(titles) + "\n", encoding="utf-8")
    answers = [
        {"predictions": [dict(NURSE, title=t) for t in titles[start : start + 1000]]} for start in (0, 1000, 2000)
    ]
    queue_answers(aws_env, *answers)
    result = invoke(runner, "classify", "--file", str(tmp_path / "titles.txt"), "--env", "develop", "--json")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["title"] for line in result.stdout.splitlines()] == titles
    invocations = [p for service, _, p in aws_requests if service == "sagemaker-runtime"]
    assert [len(json.loads(p["Body"])["titles"]) for p in invocations] == [1000, 1000, 500]


def test_classify_refuses_an_answer_that_does_not_match_the_request(aws_env, runner):
    queue_answers(aws_env, {"predictions": [NURSE]})
    line = one_error_line(invoke(runner, "classify", "Registered Nurse", "Truck Driver", "--env", "develop"))
    assert "endpoint jobclf-develop answered 1 predictions for 2 titles" in line


def test_classify_needs_an_environment_or_local(runner):
    result = invoke(runner, "classify", "Registered Nurse")
    assert result.exit_code == 2 and "give --env" in result.stderr


class Pipe(io.BytesIO):
    """Standard input that is not a terminal."""

    def isatty(self) -> bool:
        return False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Registered Nurse\n\nTruck Driver\n", ["Registered Nurse", "Truck Driver"]),
        ("Registered Nurse\r\nTruck Driver\rLine Cook", ["Registered Nurse", "Truck Driver", "Line Cook"]),
        ('id,title\n1,Registered Nurse\n2,"Manager, Sales"\n3,\n', ["Registered Nurse", "Manager, Sales", ""]),
        ("Title\nLine Cook\n", ["Line Cook"]),
        ('\ufeffid, Title \r\n1,"Chef\r\nde Cuisine"\r\n', ["Chef\r\nde Cuisine"]),
        ("Manager, Sales\n", ["Manager, Sales"]),
        ('5" Pipe Fitter\n"Quoted" Nurse\n', ['5" Pipe Fitter', '"Quoted" Nurse']),
    ],
    ids=[
        "lines",
        "any line break",
        "csv with a title column",
        "a title header",
        "bom, spaces, crlf, quoted line break",
        "a comma in a plain title",
        "quotes in plain titles",
    ],
)
def test_titles_come_from_lines_or_a_csv_title_column(text, expected, tmp_path):
    """A CSV reads as a predict input reads (titles_input.py, csv_dialect.py); other text, a title a line."""
    assert read_titles((), None, Pipe(text.encode("utf-8"))) == expected
    (tmp_path / "titles").write_bytes(text.encode("utf-8"))
    with open(tmp_path / "titles", "rb") as file:
        assert read_titles((), file, Pipe(b"")) == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"id,title\n1,Registered Nurse\n2,Manager, Sales\n",
            "row 2: wrong_field_count: the record's field count is not the header's (quote a title that holds a comma)",
        ),
        (b"title,Title \nNurse,Nurse\n", "has 2 'title' columns"),
        (b'id,title\n1,"Nurse\n', "is not valid CSV (line 2): unexpected end of data"),
        ("title\nNurse\n".encode("utf-16"), "is UTF-16 encoded; save it as UTF-8"),
    ],
    ids=["wrong field count", "two title columns", "unclosed quote", "utf-16"],
)
def test_a_csv_the_predict_input_contract_refuses_is_refused_naming_the_file(data, message, runner, tmp_path):
    path = tmp_path / "titles.csv"
    path.write_bytes(data)
    line = one_error_line(invoke(runner, "classify", "--local", "--file", str(path)))
    assert str(path) in line and message in line
