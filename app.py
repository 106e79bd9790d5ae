#!/usr/bin/env python3
"""The CDK app: one `JobClf-<env>` stack per environment of config/environments.toml, checked by cdk-nag
(the AwsSolutions and NIST 800-53 rev 5 packs).

`cdk synth` runs it (cdk.json); the tests call `build_app` directly. Synth is hermetic: no AWS
account, credentials or network (no lookups; the SageMaker SDK builds the definition offline).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import jsii_node

jsii_node.prepare()  # before aws_cdk starts its Node.js process

import aws_cdk as cdk  # noqa: E402
from cdk_nag import AwsSolutionsChecks, NIST80053R5Checks  # noqa: E402

from config import ConfigError, EnvironmentConfig, load_all  # noqa: E402
from stacks import JobClfStack  # noqa: E402


def build_app(
    configs: Mapping[str, EnvironmentConfig],
    *,
    context: Mapping[str, Any] | None = None,
    outdir: str | None = None,
) -> cdk.App:
    """An app with one stack per environment and the cdk-nag packs registered (they run at synth)."""
    app = cdk.App(context=dict(context) if context is not None else None, outdir=outdir)
    for config in configs.values():
        JobClfStack(app, config=config)
    cdk.Validations.of(app).add_plugins(*nag_packs(app))
    return app


def nag_packs(app: cdk.App | None = None) -> list:
    """The cdk-nag rule packs every stack must pass: AWS Solutions and NIST 800-53 rev 5 (stacks/nag.py NAG_PACKS)."""
    return [AwsSolutionsChecks(app), NIST80053R5Checks(app)]


def main() -> int:
    try:
        app = build_app(load_all())
    except ConfigError as error:
        print(f"JobClf configuration error: {error}", file=sys.stderr)
        return 1
    try:
        app.synth()
    except RuntimeError as error:
        # cdk-nag findings (and other validation failures) arrive as one report; print it without a traceback.
        if "ValidationFailed" not in str(error):
            raise
        print(f"JobClf synth failed validation: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
