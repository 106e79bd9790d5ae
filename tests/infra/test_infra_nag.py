"""cdk-nag AwsSolutions and NIST 800-53 rev 5: no unacknowledged finding, every acknowledgment specific and still needed."""

from __future__ import annotations

from collections.abc import Iterator

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from infra_support import Synth, cdk_context, offline

import app as app_module
from stacks import nag

GENERIC_REASONS = {"ok", "n/a", "na", "todo", "fine", "acceptable", "not needed", "suppressed", "false positive"}


def findings(app: cdk.App) -> list[tuple[str, str, str]]:
    """(rule, severity, construct path) of every unacknowledged finding of every pack the app registers."""
    return sorted(
        (violation.rule_name, violation.severity, resource.construct_path)
        for pack in app_module.nag_packs()
        for violation in pack.validate_scope(app).violations
        for resource in violation.violating_resources
    )


def test_the_app_registers_both_packs() -> None:
    packs = app_module.nag_packs()
    assert [type(pack).__name__ for pack in packs] == ["AwsSolutionsChecks", "NIST80053R5Checks"]
    assert nag.NAG_PACKS == ("AwsSolutions", "NIST.800.53.R5")


def test_a_new_finding_of_either_pack_fails_the_synth(tmp_path) -> None:
    """The packs run at synth exactly as `cdk synth` registers them: an unencrypted, unlogged bucket fails both."""
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Probe")
    s3.CfnBucket(stack, "Bare")
    cdk.Validations.of(app).add_plugins(*app_module.nag_packs(app))
    with pytest.raises(RuntimeError, match="ValidationFailed") as error:
        app.synth()
    report = str(error.value)
    assert "AwsSolutions-S1" in report  # server access logs
    assert "NIST.800.53.R5-S3BucketLoggingEnabled" in report


# aws-cdk-lib's own constructs acknowledge some of CDK's built-in CloudFormation checks themselves.
CDK_INTERNAL_NAMESPACES = ("CloudFormation-Validate::",)


def acknowledgments(app: cdk.App) -> Iterator[tuple[str, str, str]]:
    """(construct path, rule id, reason) of every acknowledgment this project recorded in the construct tree."""
    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule_id, reason in entry.data.items():
                    if not rule_id.startswith(CDK_INTERNAL_NAMESPACES):
                        yield construct.node.path, rule_id, reason


def test_environments_have_no_unacknowledged_finding(synth: Synth) -> None:
    assert findings(synth.app) == []


def test_variants_have_no_unacknowledged_finding(variant_synth: Synth) -> None:
    assert findings(variant_synth.app) == []


@pytest.mark.parametrize("which", ["synth", "variant_synth"])
def test_every_acknowledgment_has_a_specific_reason(which: str, request: pytest.FixtureRequest) -> None:
    app = request.getfixturevalue(which).app
    recorded = list(acknowledgments(app))
    assert recorded, "the stacks acknowledge their known findings"
    for path, rule_id, reason in recorded:
        assert rule_id.startswith("Annotation::"), (path, rule_id)  # how CDK stores ids without a namespace
        assert len(reason) >= nag.MIN_REASON_LENGTH, (path, rule_id, reason)
        assert reason.strip().lower().rstrip(".") not in GENERIC_REASONS, (path, rule_id, reason)


@pytest.mark.parametrize("which", ["synth", "variant_synth"])
def test_no_unacknowledged_construct_warning(which: str, request: pytest.FixtureRequest) -> None:
    """Construct annotations (CDK's own warnings) are fixed or acknowledged with a reason, never left."""
    synth: Synth = request.getfixturevalue(which)
    messages = [
        (stack.stack_name, message.id, message.level.value, str(message.entry.data))
        for stack in synth.stacks.values()
        for message in synth.assembly.get_stack_by_name(stack.stack_name).messages
        if message.level.value.lower() in {"warning", "error"}
    ]
    assert messages == []


def test_an_acknowledgment_needs_a_reason() -> None:
    stack = cdk.Stack(cdk.App(), "Reasons")
    with pytest.raises(nag.NagReasonError, match="specific reason"):
        nag.acknowledge(stack, "AwsSolutions-S1", "ok")
    with pytest.raises(nag.NagReasonError, match="wildcard needs a reason"):
        nag.acknowledge_wildcards(stack, ["s3:GetObject"], ["arn:aws:s3:::bucket/*"], None)


def test_every_acknowledgment_matches_a_finding(configs, variant_configs, monkeypatch, tmp_path) -> None:
    """Build every stack with acknowledgments recorded but not applied: each must match a real finding
    (none is stale), and the findings are exactly the acknowledged ones."""
    recorded: list[tuple[str, str]] = []

    class Recorder:
        def __init__(self, construct):
            self.construct = construct

        @classmethod
        def of(cls, construct):
            return cls(construct)

        def acknowledge(self, *rules):
            recorded.extend((self.construct.node.path, rule.id) for rule in rules)

    monkeypatch.setattr(nag, "Validations", Recorder)
    with offline():
        from app import build_app

        app = build_app({**configs, **variant_configs}, context=cdk_context(), outdir=str(tmp_path))
    raw = findings(app)
    assert raw, "without acknowledgments there are findings"

    def covers(ack_path: str, finding_path: str) -> bool:
        return finding_path == ack_path or finding_path.startswith(ack_path + "/")

    recorded = [(p, r) for p, r in recorded if r.startswith(tuple(f"{pack}-" for pack in nag.NAG_PACKS))]
    assert {r.split("-", 1)[0] for _, r in recorded} == set(nag.NAG_PACKS), "both packs have acknowledged findings"
    stale = [(p, r) for p, r in recorded if not any(rule == r and covers(p, path) for rule, _, path in raw)]
    unacknowledged = [
        (rule, path) for rule, _, path in raw if not any(r == rule and covers(p, path) for p, r in recorded)
    ]
    assert stale == []
    assert unacknowledged == []
