"""`npx cdk synth` of JobClf (both environments), with a warm and a cold definition cache, next to a bare
two-stack CDK app, measured side by side.

    .venv/bin/python benchmarks/synth_time.py [--repeat 3]

Each case runs the pinned CLI (`npx cdk synth --quiet`) in a fresh process tree `--repeat` times,
the cases interleaved so that a busy spell of the machine hits them alike, after one untimed run
each (the warm case's fills the cache). The table gives the medians of the wall time and of the
CPU time (user + system of the CLI, the app and its jsii runtime) and their ratios to the bare app;
on a machine shared with other work the CPU time is the steadier of the two. "Cold" bypasses the
cache (`JOBCLF_DEFINITION_CACHE=off`): the SDK is imported and both definitions are built, as on the
first synth after a change. A benchmark, not a test: nothing fails.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from workflow.definition.cache import BYPASS_VARIABLE  # noqa: E402

# One trivial resource per stack: CloudFormation (and cdk.json's validation rules) refuse empty stacks.
BARE_APP = """
import aws_cdk as cdk
app = cdk.App()
for name in ("BareOne", "BareTwo"):
    cdk.CfnWaitConditionHandle(cdk.Stack(app, name), "Placeholder")
app.synth()
"""


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(command: list[str], environment: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of `command` and every process under it (all are waited for)."""
    wall, cpu = time.perf_counter(), children_cpu_seconds()
    subprocess.run(command, cwd=ROOT, env=environment, check=True, capture_output=True)
    return time.perf_counter() - wall, children_cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat
    warm = {key: value for key, value in os.environ.items() if key != BYPASS_VARIABLE}
    with tempfile.TemporaryDirectory() as scratch:
        bare_file = Path(scratch) / "bare_app.py"
        bare_file.write_text(BARE_APP)

        def synth(name: str) -> list[str]:
            return ["npx", "cdk", "synth", "--quiet", "--no-notices", "-o", str(Path(scratch) / name)]

        cases = {
            "bare two-stack app": (synth("bare.out") + ["--app", f"{sys.executable} {bare_file}"], warm),
            "JobClf, cold cache": (synth("cold.out"), {**warm, BYPASS_VARIABLE: "off"}),
            "JobClf, warm cache": (synth("warm.out"), warm),
        }
        for command, environment in cases.values():
            run(command, environment)
        seconds: dict[str, list[tuple[float, float]]] = {label: [] for label in cases}
        for _ in range(repeat):
            for label, (command, environment) in cases.items():
                seconds[label].append(run(command, environment))
        templates = sorted(path.name for path in (Path(scratch) / "cold.out").glob("*.template.json"))
        _, mismatch, errors = filecmp.cmpfiles(Path(scratch) / "cold.out", Path(scratch) / "warm.out", templates, False)

    wall = {label: statistics.median(w for w, _ in runs) for label, runs in seconds.items()}
    cpu = {label: statistics.median(c for _, c in runs) for label, runs in seconds.items()}
    bare = "bare two-stack app"
    print(f"`npx cdk synth`, median of {repeat} runs (seconds; CPU = user + system of every process)\n")
    print("| case | wall | × bare | CPU | × bare |")
    print("|---|---:|---:|---:|---:|")
    for label in cases:
        print(
            f"| {label} | {wall[label]:.2f} | {wall[label] / wall[bare]:.2f} | {cpu[label]:.2f} | "
            f"{cpu[label] / cpu[bare]:.2f} |"
        )
    identical = "yes" if templates and not mismatch and not errors else f"NO: {mismatch + errors}"
    print(f"\nTemplates of the cold and the warm synth byte-identical ({', '.join(templates)}): {identical}")


if __name__ == "__main__":
    main()
