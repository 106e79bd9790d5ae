"""The Lambda entry point: `handler.handler`, invoked by the EventBridge rule (or by hand with {"action": "reconcile"})."""

from __future__ import annotations

import logging
import os
from typing import Any

from endpoint_deployer.deployer import Deployer, EndpointSettings

logging.getLogger().setLevel(logging.INFO)
# Left for the last calls after the wait for a busy endpoint (describe, create, update: seconds each).
SAFETY_MARGIN_SECONDS = 60
POLL_SECONDS = 20


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    import boto3
    from botocore.config import Config

    settings = EndpointSettings.from_environment(os.environ)
    config = Config(retries={"mode": "standard", "max_attempts": 5})
    remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else 0
    deployer = Deployer(
        boto3.client("sagemaker", config=config),
        settings,
        sns=boto3.client("sns", config=config) if settings.alerts_topic_arn else None,
        busy_wait_seconds=max(0.0, remaining - SAFETY_MARGIN_SECONDS),
        poll_seconds=POLL_SECONDS,
    )
    return deployer.handle(event).as_dict()
