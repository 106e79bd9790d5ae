"""Every AWS request the endpoint deployer and the endpoint commands make, against AWS's own contracts.

conftest's `requests_within_aws_contracts` (issue 19's validator, workflow/contracts: every constraint of
botocore's service models, patterns read as Java reads them) checks each request this process's boto3
clients send, in every test of tests/cli: a request AWS would refuse fails before it is sent. moto checks
none of the services' patterns, lengths or enums, and botocore only some.

This test makes sure that check has seen every kind of request the deployer and the endpoint commands
make: it runs them through one scenario (the deployer creates, updates serverless then provisioned with
its deployment guardrails, rolls back, deletes and alerts; `jobclf endpoint show` and `jobclf classify`
read and invoke) and asserts that each operation was sent and none was refused.
"""

from __future__ import annotations

from cli_support import ACCOUNT, invoke, seed
from test_cli_endpoint import NURSE, queue_answers

from endpoint_deployer.deployer import Deployer, EndpointSettings, Variant

MODEL_ROLE = f"arn:aws:iam::{ACCOUNT}:role/jobclf-develop-endpoint-model"
ALARMS = ("jobclf-develop-endpoint-5xx", "jobclf-develop-endpoint-latency")
EXPECTED = {
    ("sagemaker", "ListModelPackages"),
    ("sagemaker", "DescribeModelPackage"),
    ("sagemaker", "DescribeEndpoint"),
    ("sagemaker", "DescribeModel"),
    ("sagemaker", "CreateModel"),
    ("sagemaker", "DescribeEndpointConfig"),
    ("sagemaker", "CreateEndpointConfig"),
    ("sagemaker", "CreateEndpoint"),
    ("sagemaker", "UpdateEndpoint"),
    ("sagemaker", "DeleteEndpoint"),
    ("sns", "Publish"),
    ("cloudwatch", "GetMetricData"),
    ("sagemaker-runtime", "InvokeEndpoint"),
    ("cloudformation", "DescribeStacks"),
}


def test_every_request_of_the_deployer_and_the_endpoint_commands_meets_awss_contracts(
    aws_env, runner, aws_requests, requests_within_aws_contracts
):
    seeded = seed(aws_env, "develop")
    sagemaker, sns = aws_env.client("sagemaker"), aws_env.client("sns")
    topic = sns.create_topic(Name="jobclf-develop-pipeline-alerts")["TopicArn"]
    made: set[tuple[str, str]] = set()  # the requests of the code under test, not of the test's own set-up

    def deploy(variant: Variant = Variant()) -> None:  # noqa: B008 (a frozen dataclass: the default is never changed)
        settings = EndpointSettings(
            "jobclf-develop", seeded.group_name, MODEL_ROLE, variant, ALARMS, alerts_topic_arn=topic
        )
        aws_requests.clear()
        Deployer(sagemaker, settings, sns=sns).handle({"action": "reconcile"})
        made.update((service, operation) for service, operation, _ in aws_requests)

    def run(*args: str) -> None:
        aws_requests.clear()
        result = invoke(runner, *args)
        assert result.exit_code == 0, result.output
        made.update((service, operation) for service, operation, _ in aws_requests)

    deploy()  # creates the serverless endpoint with v1
    run("endpoint", "show", "--env", "develop")
    queue_answers(aws_env, {"predictions": [NURSE]})
    run("classify", "Registered Nurse", "--env", "develop")
    sagemaker.update_model_package(ModelPackageArn=seeded.package_arns[1], ModelApprovalStatus="Approved")
    deploy(Variant(type="provisioned", instance_count=2))  # v2, with its deployment guardrails
    for arn in reversed(seeded.package_arns):  # reject v2 (rolls back to v1), then v1 (deletes, alerts)
        sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected")
        deploy(Variant(type="provisioned", instance_count=2))

    assert made >= EXPECTED, sorted(EXPECTED - made)
    assert requests_within_aws_contracts == []
