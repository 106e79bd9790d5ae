"""Schedules may only set parameters the pipeline declares; a config error is one clear line."""

from __future__ import annotations

import dataclasses

import aws_cdk as cdk
import pytest
from infra_support import cdk_context, offline

import app as app_module
from config import ConfigError, ScheduleConfig
from stacks.schedule import check_schedule_parameters

DECLARED = {"use_type": "train", "execution_date": ""}


def test_known_parameters_pass() -> None:
    schedules = (ScheduleConfig(name="daily", expression="rate(1 day)", parameters={"use_type": "predict"}),)
    check_schedule_parameters(schedules, DECLARED, environment="develop")


def test_unknown_parameter_names_the_schedule_the_parameter_and_the_declared_ones() -> None:
    schedules = (
        ScheduleConfig(name="daily", expression="rate(1 day)", parameters={"use_type": "predict"}),
        ScheduleConfig(name="weekly", expression="rate(7 days)", parameters={"usetype": "train"}),
    )
    with pytest.raises(ConfigError) as error:
        check_schedule_parameters(schedules, DECLARED, environment="develop")
    message = str(error.value)
    assert "environments.develop.schedules[1].parameters.usetype" in message
    assert "'weekly'" in message and "'usetype'" in message
    assert "declared: execution_date, use_type" in message


def test_synth_fails_for_a_schedule_with_an_unknown_parameter(configs, tmp_path) -> None:
    develop = configs["develop"]
    bad = dataclasses.replace(
        develop,
        schedules=(
            *develop.schedules,
            ScheduleConfig(name="typo", expression="rate(1 day)", parameters={"use_typ": "predict"}),
        ),
    )
    with offline(), pytest.raises(ConfigError, match=r"schedule 'typo' sets parameter 'use_typ'.*declared: .*use_type"):
        from stacks import JobClfStack

        JobClfStack(cdk.App(context=cdk_context(), outdir=str(tmp_path)), config=bad)


def test_app_reports_a_config_error_in_one_line(monkeypatch, capsys) -> None:
    def broken():
        raise ConfigError("environments.develop.emr.core_instance_count: 0 must be from 1 to 20")

    monkeypatch.setattr(app_module, "load_all", broken)
    assert app_module.main() == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "JobClf configuration error: environments.develop.emr.core_instance_count: 0 must be from 1 to 20"
    ]
