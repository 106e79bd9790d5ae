"""TokenPlaceholders: CDK tokens out of the SageMaker SDK's way and back into the template."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest

from stacks.placeholders import ROLE_ARN_SHAPE, PlaceholderError, TokenPlaceholders


@pytest.fixture
def stack() -> cdk.Stack:
    return cdk.Stack(cdk.App(), "Placeholders")


def test_plain_strings_pass_through() -> None:
    placeholders = TokenPlaceholders()
    assert placeholders.sub("eu-west-1", label="region") == "eu-west-1"
    assert placeholders.entries == ()
    assert placeholders.restore('{"a": "b"}') == '{"a": "b"}'


def test_tokens_become_unique_lowercase_bucket_safe_placeholders(stack: cdk.Stack) -> None:
    placeholders = TokenPlaceholders(resolve=stack.resolve)
    raw = placeholders.sub(cdk.Fn.ref("RawBucket"), label="raw-bucket")
    models = placeholders.sub(cdk.Fn.ref("ModelsBucket"), label="models-bucket")
    assert raw == "jobclf-token-0001"
    assert models == "jobclf-token-0002"
    for placeholder in (raw, models):
        assert placeholder == placeholder.lower() and "${" not in placeholder


def test_the_same_token_keeps_its_placeholder(stack: cdk.Stack) -> None:
    placeholders = TokenPlaceholders(resolve=stack.resolve)
    first = placeholders.sub(cdk.Fn.ref("RawBucket"), label="raw-bucket")
    # A different token string that resolves to the same CloudFormation value (like each asset's bucket).
    again = placeholders.sub(cdk.Fn.ref("RawBucket"), label="raw-bucket")
    assert first == again
    assert len(placeholders.entries) == 1


def test_a_label_stands_for_one_token_only(stack: cdk.Stack) -> None:
    placeholders = TokenPlaceholders(resolve=stack.resolve)
    placeholders.sub(cdk.Fn.ref("RawBucket"), label="bucket")
    with pytest.raises(PlaceholderError, match="bucket"):
        placeholders.sub(cdk.Fn.ref("OtherBucket"), label="bucket")


def test_restore_joins_the_text_around_the_tokens(stack: cdk.Stack) -> None:
    placeholders = TokenPlaceholders(resolve=stack.resolve)
    bucket = placeholders.sub(cdk.Fn.ref("RawBucket"), label="raw-bucket")
    role = placeholders.sub(cdk.Fn.get_att("Role", "Arn").to_string(), label="role", shape=ROLE_ARN_SHAPE)
    assert role == "arn:aws:iam::000000000000:role/jobclf-token-0002"
    text = json.dumps({"Uri": f"s3://{bucket}/onet/", "Role": role, "Again": bucket})
    restored = stack.resolve(placeholders.restore(text))
    assert restored == {
        "Fn::Join": [
            "",
            [
                '{"Uri": "s3://',
                {"Ref": "RawBucket"},
                '/onet/", "Role": "',
                {"Fn::GetAtt": ["Role", "Arn"]},
                '", "Again": "',
                {"Ref": "RawBucket"},
                '"}',
            ],
        ]
    }
    assert json.loads(placeholders.fake(text)) == {
        "Uri": "s3://raw-bucket/onet/",
        "Role": "arn:aws:iam::000000000000:role/role",
        "Again": "raw-bucket",
    }


def test_a_token_in_the_sdk_output_is_refused(stack: cdk.Stack) -> None:
    placeholders = TokenPlaceholders(resolve=stack.resolve)
    with pytest.raises(PlaceholderError, match="reached the SageMaker SDK"):
        placeholders.restore(f"s3://{cdk.Fn.ref('RawBucket')}/x")


def test_an_altered_placeholder_is_refused(stack: cdk.Stack) -> None:
    placeholders = TokenPlaceholders(resolve=stack.resolve)
    placeholder = placeholders.sub(cdk.Fn.ref("RawBucket"), label="raw-bucket")
    with pytest.raises(PlaceholderError, match="survived"):
        placeholders.restore(f"s3://{placeholder}/a and s3://jobclf-token-0099/b")
    with pytest.raises(PlaceholderError, match="survived"):
        placeholders.fake("jobclf-token-0042")
