"""The typed config: every environment loads, and a bad value is an error naming its key."""

from __future__ import annotations

import copy
import tomllib

import pytest

from config import ConfigError, load_all, load_environment
from config.settings import CONFIG_FILE, environments_from

SHIPPED = tomllib.loads(CONFIG_FILE.read_text())


def develop_with(section: str | None, **values) -> dict:
    """The shipped document with `values` set in environments.develop[.section]."""
    document = copy.deepcopy(SHIPPED)
    table = document["environments"]["develop"]
    if section:
        table = table.setdefault(section, {})
    table.update(values)
    return document


def test_the_shipped_environments_load_with_their_differences():
    configs = load_all()
    assert set(configs) == {"develop", "production"}
    develop, production = configs["develop"], configs["production"]
    assert (develop.model.approval_status, production.model.approval_status) == ("Approved", "PendingManualApproval")
    assert develop.resource_prefix == "jobclf-develop" and develop.stack_name == "JobClf-develop"
    assert develop.emr.release_label.startswith("emr-7.")
    assert {s.name for s in develop.schedules} == {"weekly-train", "daily-predict"}
    assert production.sagemaker.training_instance_type == "ml.m5.2xlarge"
    assert (develop.predict.engine, develop.predict.instance_count) == ("processing", 1)
    assert develop.endpoint_name == "jobclf-develop"
    assert (develop.endpoint.type, develop.endpoint.memory_size_mb, develop.endpoint.max_concurrency) == (
        "serverless",
        2048,
        10,
    )


def test_the_serverless_bounds_are_the_api_models():
    """config/settings.py states ProductionVariantServerlessConfig's documented bounds; botocore's model agrees."""
    import botocore.session

    from config.settings import SERVERLESS_MAX_CONCURRENCY, SERVERLESS_MEMORY_SIZES_MB

    members = (
        botocore.session.get_session()
        .get_service_model("sagemaker")
        .shape_for("ProductionVariantServerlessConfig")
        .members
    )
    memory, concurrency = members["MemorySizeInMB"].metadata, members["MaxConcurrency"].metadata
    assert (memory["min"], memory["max"]) == (SERVERLESS_MEMORY_SIZES_MB[0], SERVERLESS_MEMORY_SIZES_MB[-1])
    assert (concurrency["min"], concurrency["max"]) == (1, SERVERLESS_MAX_CONCURRENCY)


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("emr", {"core_instance_count": 0}, r"environments\.develop\.emr\.core_instance_count: 0 must be from 1 to 20"),
        (
            "emr",
            {"release_label": "emr-6.15.0"},
            r"environments\.develop\.emr\.release_label: 'emr-6\.15\.0' must be an EMR 7\.x release",
        ),
        ("emr", {"cluster_mod": "standing"}, r"environments\.develop\.emr\.cluster_mod: unknown key"),
        (
            "emr",
            {"cluster_mode": "always"},
            r"environments\.develop\.emr\.cluster_mode: 'always' is not one of 'transient', 'standing'",
        ),
        ("model", {"min_macro_f1": "high"}, r"environments\.develop\.model\.min_macro_f1: expected float, got str"),
        ("model", {"min_macro_f1": 1.5}, r"environments\.develop\.model\.min_macro_f1: 1\.5 must be between 0 and 1"),
        (
            "network",
            {"vpc_id": "vpc-0123456789abcdef0"},
            r"environments\.develop\.network\.private_subnet_ids: required when vpc_id is set",
        ),
        (None, {"region": "moon-1"}, r"environments\.develop\.region: 'moon-1' is not an AWS region"),
        (None, {"account": "12345"}, r"environments\.develop\.account: '12345' must be 12 digits"),
        ("sagemaker", {"sklearn_framework_version": "1.4-2"}, r"sklearn_framework_version: '1\.4-2'; only '1\.2-1'"),
        ("predict", {"instance_count": 0}, r"environments\.develop\.predict\.instance_count: 0 must be from 1 to 100"),
        (
            "monitoring",
            {"max_rejected_share": 2.0},
            r"environments\.develop\.monitoring: max_rejected_share must be from 0 to 1, got 2\.0",
        ),
        ("monitoring", {"low_confidence": -0.1}, r"environments\.develop\.monitoring\.low_confidence: -0\.1 must be"),
        (
            "predict",
            {"engine": "spark"},
            r"environments\.develop\.predict\.engine: 'spark' is not one of 'processing', 'emr'",
        ),
        (
            "sagemaker",
            {"processing_instance_count": 2},
            r"environments\.develop\.sagemaker\.processing_instance_count: unknown key",
        ),
        (
            "endpoint",
            {"memory_size_mb": 1536},
            r"environments\.develop\.endpoint\.memory_size_mb: 1536 must be one of 1024, 2048, 3072, 4096, 5120, 6144 \(MB\)",
        ),
        ("endpoint", {"memory_size_mb": 8192}, r"endpoint\.memory_size_mb: 8192 must be one of"),
        (
            "endpoint",
            {"max_concurrency": 0},
            r"environments\.develop\.endpoint\.max_concurrency: 0 must be from 1 to 200",
        ),
        ("endpoint", {"max_concurrency": 201}, r"endpoint\.max_concurrency: 201 must be from 1 to 200"),
        (
            "endpoint",
            {"type": "async"},
            r"environments\.develop\.endpoint\.type: 'async' is not one of 'serverless', 'provisioned'",
        ),
        (
            "endpoint",
            {"instance_type": "m5.large"},
            r"endpoint\.instance_type: 'm5\.large' is not a SageMaker instance type",
        ),
        ("endpoint", {"instance_count": 11}, r"endpoint\.instance_count: 11 must be from 1 to 10"),
        ("endpoint", {"max_model_latency_ms": 5}, r"endpoint\.max_model_latency_ms: 5 must be from 10 to 60000"),
    ],
)
def test_a_bad_value_names_its_key(section, values, message):
    with pytest.raises(ConfigError, match=message):
        environments_from(develop_with(section, **values))


def test_a_default_is_written_only_in_the_defaults_table():
    """settings.py has no default of its own: without the [defaults] value the key is missing, by name."""
    document = copy.deepcopy(SHIPPED)
    del document["defaults"]["model"]["min_macro_f1"]
    with pytest.raises(ConfigError, match=r"^environments\.develop\.model\.min_macro_f1: missing$"):
        environments_from(document)
    del document["defaults"]["emr"]
    with pytest.raises(ConfigError, match=r"^environments\.develop\.emr\.release_label: missing$"):
        environments_from(document)


def _leaves(table: dict, prefix: str = "") -> dict[str, object]:
    leaves = {}
    for name, value in table.items():
        if isinstance(value, dict):
            leaves.update(_leaves(value, f"{prefix}{name}."))
        else:
            leaves[f"{prefix}{name}"] = value
    return leaves


@pytest.mark.parametrize("env", sorted(SHIPPED["environments"]))
def test_an_environment_table_lists_only_what_differs_from_the_defaults(env):
    defaults = _leaves(SHIPPED["defaults"])
    repeated = {
        key: value
        for key, value in _leaves(SHIPPED["environments"][env]).items()
        if key in defaults and defaults[key] == value
    }
    assert not repeated, f"environments.{env} repeats [defaults]: {repeated}"


def test_an_approval_status_the_gate_alone_gives_is_refused():
    with pytest.raises(
        ConfigError, match=r"model\.approval_status: 'Rejected' is not one of 'Approved', 'PendingManualApproval'"
    ):
        environments_from(develop_with("model", approval_status="Rejected"))


def test_schedule_parameters_must_be_strings_and_names_unique():
    schedule = {"name": "x", "expression": "rate(1 day)", "parameters": {"split_seed": 3}}
    with pytest.raises(ConfigError, match=r"develop\.schedules\[0\]\.parameters\.split_seed: 3 must be a string"):
        environments_from(develop_with(None, schedules=[schedule]))
    twice = [{**schedule, "parameters": {}}] * 2
    with pytest.raises(ConfigError, match=r"develop\.schedules\[1\]\.name: 'x' is used twice"):
        environments_from(develop_with(None, schedules=twice))


def test_unknown_environment_and_broken_toml(tmp_path):
    with pytest.raises(ConfigError, match=r"environments\.staging: no such environment \(known: develop, production\)"):
        load_environment("staging")
    broken = tmp_path / "broken.toml"
    broken.write_text("[defaults\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_all(broken)
