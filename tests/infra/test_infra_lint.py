"""cfn-lint over every synthesized template: zero findings (errors, warnings and informational)."""

from __future__ import annotations

import pytest
from cfnlint.api import ManualArgs, lint_file
from infra_support import Synth


@pytest.mark.parametrize(
    ("which", "name"),
    [("synth", "develop"), ("synth", "production"), ("variant_synth", "standing"), ("variant_synth", "existingvpc")],
)
def test_template_passes_cfn_lint(which: str, name: str, request: pytest.FixtureRequest) -> None:
    synth: Synth = request.getfixturevalue(which)
    matches = lint_file(synth.template_path(name), ManualArgs(regions=[synth.configs[name].region]))
    assert [str(match) for match in matches] == []
