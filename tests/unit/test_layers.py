"""The import graph of the project's own code: where code runs decides what it may import.

pipeline_steps/ runs in the containers (Python 3.9, shipped as a bundle) and endpoint_deployer/ in AWS
Lambda (shipped as the function's asset): both sit at the bottom and import nothing of the rest;
workflow/definition/ runs at synth, workflow/local/ on a laptop, stacks/ at synth; config/ is read by
all but the cloud runtime code. Read from the source (every import statement, also those inside functions),
so a lazy import cannot hide an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline_steps", "endpoint_deployer", "workflow", "stacks", "config", "jobclf_cli")
# What each layer may import of the others (its own package is always allowed).
ALLOWED = {
    "pipeline_steps": set(),
    "endpoint_deployer": set(),
    # The allowed values the steps agree on (approval statuses, predict engines): the config checks against them.
    "config": {"pipeline_steps.contract"},
    "workflow": set(),  # the namespace's docstring only
    "workflow.definition": {"config", "pipeline_steps"},
    # AWS's contracts, checked offline: botocore's models only, nothing of the project.
    "workflow.contracts": set(),
    "workflow.local": {"config", "pipeline_steps", "workflow.definition", "workflow.contracts"},
    # The stacks take the definition builder (plain values in, JSON out) and the S3 layout the steps
    # write (pipeline_steps.contract), never a step's internals; and the endpoint deployer's settings and event
    # names, so that the function's environment and rule are the ones its code reads.
    "stacks": {"config", "pipeline_steps.contract", "workflow.definition", "endpoint_deployer.deployer"},
    # The CLI reads what the endpoint serves the way the deployer reads it (endpoint_deployer.deployer).
    "jobclf_cli": {"config", "pipeline_steps", "workflow.local", "workflow.contracts", "endpoint_deployer.deployer"},
    "app": {"config", "stacks", "jsii_node"},
    # Which Node.js the CDK's jsii runtime runs on: app.py calls it before importing aws_cdk.
    "jsii_node": set(),
}


def module_files() -> dict[str, Path]:
    files = {"app": ROOT / "app.py", "jsii_node": ROOT / "jsii_node.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


MODULES = module_files()


def imported_modules(module: str) -> set[str]:
    """The project's modules that `module` imports; `from package import submodule` is an edge to the submodule."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            submodules = {f"{base}.{alias.name}" for alias in node.names} & MODULES.keys()
            targets.update(submodules or {base})
    return {target for target in targets if target in MODULES}


GRAPH = {module: imported_modules(module) for module in MODULES}


def layer(module: str) -> str:
    return ".".join(module.split(".")[:2]) if module.startswith("workflow.") else module.split(".")[0]


def allowed(source: str, target: str) -> bool:
    return layer(source) == layer(target) or any(
        target == rule or target.startswith(rule + ".") or layer(target) == rule for rule in ALLOWED[layer(source)]
    )


def test_the_graph_sees_every_layer_and_known_edges():
    """Guards the parser itself: a graph that found no imports would pass every check below."""
    assert {layer(module) for module in MODULES} == set(ALLOWED)
    assert "pipeline_steps.spark_files" in GRAPH["pipeline_steps.titles_etl"]
    assert "workflow.definition.spec" in GRAPH["workflow.definition"]
    assert "pipeline_steps.contract" in GRAPH["stacks.storage"]
    assert "endpoint_deployer.deployer" in GRAPH["stacks.endpoint"]
    assert "endpoint_deployer.deployer" in GRAPH["endpoint_deployer.handler"]


@pytest.mark.parametrize("source", sorted(ALLOWED))
def test_each_layer_imports_only_the_layers_below_it(source):
    crossing = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if layer(module) == source
        for target in targets
        if not allowed(module, target)
    )
    assert crossing == []


def test_no_module_imports_itself_through_others():
    cycles: list[list[str]] = []
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = "open"
        path.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == "open":
                cycles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)
    assert cycles == []
