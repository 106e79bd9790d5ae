"""registry: the local backend for real, the SageMaker backend against botocore's Stubber."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from pipeline_steps import registry

GROUP = "jobclf-titles"
ARN = "arn:aws:sagemaker:eu-west-1:000000000000:model-package/jobclf-titles/{}"


def evaluation(macro_f1):
    return {"multiclass_classification_metrics": {"macro_f1": {"value": macro_f1, "standard_deviation": "NaN"}}}


def entry(version, status, metrics=True):
    item = {
        "model_package_arn": ARN.format(version),
        "version": version,
        "approval_status": status,
        "model_data_uri": f"s3://models/jobclf/{version}/model.tar.gz",
        "created": "2026-11-23T10:00:00Z",
    }
    if metrics:
        item["metrics_uri"] = f"s3://models/jobclf/{version}/evaluation.json"
    return item


@pytest.fixture
def local(tmp_path, monkeypatch):
    """A local registry with S3 root; returns a function writing the registry's entries."""
    s3_root = tmp_path / "s3"
    registry_file = tmp_path / "registry.json"
    monkeypatch.setenv(registry.LOCAL_REGISTRY_ENV, str(registry_file))
    monkeypatch.setenv(registry.LOCAL_S3_ROOT_ENV, str(s3_root))

    def write(entries, f1_by_version=None):
        registry_file.write_text(
            json.dumps({"model_package_groups": {GROUP: entries, "other": [entry(9, "Approved")]}})
        )
        for version, f1 in (f1_by_version or {}).items():
            path = s3_root / "models" / "jobclf" / str(version) / "evaluation.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(evaluation(f1)))
            (path.parent / "model.tar.gz").write_bytes(b"archive %d" % version)

    return write


def test_local_missing_registry_file_is_an_empty_registry(local):
    assert registry.latest_approved_model(GROUP) is None


def test_local_group_without_approved_model(local):
    local([entry(1, "PendingManualApproval"), entry(2, "Rejected")])
    assert registry.latest_approved_model(GROUP) is None
    assert registry.latest_approved_model("unknown-group") is None


def test_local_latest_approved_is_the_last_approved_entry(local):
    local(
        [entry(1, "Approved"), entry(2, "Approved"), entry(3, "Rejected"), entry(4, "PendingManualApproval")],
        {1: 0.5, 2: 0.61},
    )
    record = registry.latest_approved_model(GROUP)
    assert record == registry.ModelRecord(
        model_package_arn=ARN.format(2),
        version=2,
        model_data_uri="s3://models/jobclf/2/model.tar.gz",
        macro_f1=0.61,
        metrics_uri="s3://models/jobclf/2/evaluation.json",
    )


def test_local_entry_without_metrics_has_no_macro_f1(local):
    local([entry(1, "Approved", metrics=False)])
    assert registry.latest_approved_model(GROUP).macro_f1 is None


def test_local_missing_metrics_file_is_an_error(local):
    local([entry(1, "Approved")])
    with pytest.raises(registry.RegistryError, match="evaluation.json"):
        registry.latest_approved_model(GROUP)


def test_local_fetch_maps_s3_uris_under_the_root(local, tmp_path):
    local([entry(1, "Approved")], {1: 0.5})
    target = registry.fetch("s3://models/jobclf/1/model.tar.gz", tmp_path / "dl" / "model.tar.gz")
    assert target.read_bytes() == b"archive 1"
    plain = registry.fetch(str(target), tmp_path / "copy.bin")
    assert plain.read_bytes() == b"archive 1"
    with pytest.raises(FileNotFoundError, match="nothing.tar.gz"):
        registry.fetch("s3://models/nothing.tar.gz", tmp_path / "x")


def test_local_fetch_needs_the_s3_root(local, monkeypatch, tmp_path):
    monkeypatch.delenv(registry.LOCAL_S3_ROOT_ENV)
    with pytest.raises(registry.RegistryError, match=registry.LOCAL_S3_ROOT_ENV):
        registry.fetch("s3://models/x", tmp_path / "x")


def test_local_bad_registry_json_is_named(local, tmp_path):
    (tmp_path / "registry.json").write_text("{oops")
    with pytest.raises(registry.RegistryError, match="registry.json"):
        registry.latest_approved_model(GROUP)


def test_backend_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(registry.LOCAL_REGISTRY_ENV, raising=False)
    assert isinstance(registry.backend(), registry.SageMakerRegistry)
    monkeypatch.setenv(registry.LOCAL_REGISTRY_ENV, str(tmp_path / "r.json"))
    assert isinstance(registry.backend(), registry.LocalRegistry)


@pytest.mark.parametrize("uri", ["s3://bucket", "s3:///key", "https://x/y"])
def test_bad_s3_uris(uri):
    with pytest.raises(ValueError):
        registry.parse_s3_uri(uri)


# ------------------------------------------------------------------ SageMaker backend


@pytest.fixture
def clients(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    sagemaker = boto3.client("sagemaker", region_name="eu-west-1")
    s3 = boto3.client("s3", region_name="eu-west-1")
    with Stubber(sagemaker) as sm_stub, Stubber(s3) as s3_stub:
        yield registry.SageMakerRegistry(sagemaker, s3), sm_stub, s3_stub
        sm_stub.assert_no_pending_responses()
        s3_stub.assert_no_pending_responses()


LIST_PARAMS = {
    "ModelPackageGroupName": GROUP,
    "ModelApprovalStatus": "Approved",
    "SortBy": "CreationTime",
    "SortOrder": "Descending",
    "MaxResults": 1,
}
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def describe_response(version, metrics_uri=None):
    response = {
        "ModelPackageName": GROUP,
        "ModelPackageGroupName": GROUP,
        "ModelPackageVersion": version,
        "ModelPackageArn": ARN.format(version),
        "CreationTime": NOW,
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
        "ModelApprovalStatus": "Approved",
        "InferenceSpecification": {
            "Containers": [{"Image": "sklearn:1.2-1", "ModelDataUrl": f"s3://models/jobclf/{version}/model.tar.gz"}],
            "SupportedContentTypes": ["application/json", "text/csv"],
            "SupportedResponseMIMETypes": ["application/json", "text/csv"],
        },
    }
    if metrics_uri:
        response["ModelMetrics"] = {
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": metrics_uri}}
        }
    return response


def test_sagemaker_latest_approved_model(clients):
    """The stub proves the request parameters and the parsing of responses shaped like the API's
    (botocore validates both against the service model). It cannot prove what SageMaker really
    returns: that the sort puts the newest approved package first, that a missing group answers
    with an empty list rather than an error, or that the role may call these APIs and read S3."""
    backend, sm_stub, s3_stub = clients
    summary = {
        "ModelPackageArn": ARN.format(3),
        "CreationTime": NOW,
        "ModelPackageStatus": "Completed",
        "ModelPackageVersion": 3,
    }
    sm_stub.add_response("list_model_packages", {"ModelPackageSummaryList": [summary]}, LIST_PARAMS)
    metrics_uri = "s3://models/jobclf/3/evaluation.json"
    sm_stub.add_response(
        "describe_model_package", describe_response(3, metrics_uri), {"ModelPackageName": ARN.format(3)}
    )
    s3_stub.add_response(
        "get_object",
        {"Body": body(json.dumps(evaluation(0.72)).encode())},
        {"Bucket": "models", "Key": "jobclf/3/evaluation.json"},
    )
    assert backend.latest_approved_model(GROUP) == registry.ModelRecord(
        model_package_arn=ARN.format(3),
        version=3,
        model_data_uri="s3://models/jobclf/3/model.tar.gz",
        macro_f1=0.72,
        metrics_uri=metrics_uri,
    )


def test_sagemaker_no_approved_model(clients):
    backend, sm_stub, _ = clients
    sm_stub.add_response("list_model_packages", {"ModelPackageSummaryList": []}, LIST_PARAMS)
    assert backend.latest_approved_model(GROUP) is None


def test_sagemaker_package_without_metrics(clients):
    backend, sm_stub, _ = clients
    summary = {"ModelPackageArn": ARN.format(1), "CreationTime": NOW, "ModelPackageStatus": "Completed"}
    sm_stub.add_response("list_model_packages", {"ModelPackageSummaryList": [summary]}, LIST_PARAMS)
    sm_stub.add_response("describe_model_package", describe_response(1), {"ModelPackageName": ARN.format(1)})
    record = backend.latest_approved_model(GROUP)
    assert record.macro_f1 is None and record.version == 1


def test_sagemaker_errors_propagate(clients):
    backend, sm_stub, _ = clients
    sm_stub.add_client_error("list_model_packages", "AccessDeniedException", "not allowed", expected_params=LIST_PARAMS)
    with pytest.raises(Exception, match="not allowed"):
        backend.latest_approved_model(GROUP)


def test_sagemaker_fetch_streams_the_object(clients, tmp_path):
    backend, _, s3_stub = clients
    data = bytes(range(256)) * 5000
    s3_stub.add_response("get_object", {"Body": body(data)}, {"Bucket": "models", "Key": "jobclf/3/model.tar.gz"})
    target = backend.fetch("s3://models/jobclf/3/model.tar.gz", tmp_path / "a" / "model.tar.gz")
    assert target.read_bytes() == data
    assert not list((tmp_path / "a").glob("*.part"))
