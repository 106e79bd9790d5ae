"""Synth time of each JobClf environment next to a bare two-stack CDK app, measured in the same run.

    .venv/bin/python benchmarks/synth_time.py [--repeat 3]

Each case is a fresh Python process (imports, the jsii/node runtime and synth included), run
`--repeat` times; the table gives the median and the ratio to the bare app. The last rows time
the pinned CLI (`npx cdk synth --quiet`) on both apps. A benchmark, not a test: nothing fails.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]

# One trivial resource per stack: CloudFormation (and cdk.json's validation rules) refuse empty stacks.
BARE_APP = """
import aws_cdk as cdk
app = cdk.App(outdir={outdir!r})
for name in ("BareOne", "BareTwo"):
    cdk.CfnWaitConditionHandle(cdk.Stack(app, name), "Placeholder")
app.synth()
"""

# The CLI passes cdk.json's context (feature flags) to the app; in-process synth passes the same.
JOBCLF_APP = """
import json
from app import build_app
from config import load_all
configs = load_all()
selected = {{name: c for name, c in configs.items() if {envs!r} is None or name in {envs!r}}}
context = json.load(open("cdk.json"))["context"]
build_app(selected, context=context, outdir={outdir!r}).synth()
"""


def timed(command: list[str], repeat: int) -> list[float]:
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat
    rows: list[tuple[str, list[float]]] = []
    with tempfile.TemporaryDirectory() as outdir:
        rows.append(("bare two-stack app (python)", timed([sys.executable, "-c", BARE_APP.format(outdir=outdir)], repeat)))
        for label, envs in (("JobClf-develop", ["develop"]), ("JobClf-production", ["production"]), ("both environments", None)):
            code = JOBCLF_APP.format(outdir=outdir, envs=envs)
            rows.append((f"{label} (python)", timed([sys.executable, "-c", code], repeat)))
        bare_file = Path(outdir) / "bare_app.py"
        bare_file.write_text(BARE_APP.format(outdir=None))  # the CLI chooses the output folder
        npx = ["npx", "cdk", "synth", "--quiet", "--no-notices", "-o", str(Path(outdir) / "cli.out")]
        rows.append(("bare two-stack app (npx cdk synth)", timed([*npx, "--app", f"{sys.executable} {bare_file}"], repeat)))
        rows.append(("both environments (npx cdk synth)", timed(npx, repeat)))

    bare = {"python": statistics.median(rows[0][1]), "npx": statistics.median(rows[4][1])}
    print(f"Synth time, median of {repeat} runs (seconds)\n")
    print(f"| {'case':<38} | {'median':>7} | {'min':>7} | {'× bare':>7} |")
    print(f"|{'-' * 40}|{'-' * 9}|{'-' * 9}|{'-' * 9}|")
    for label, seconds in rows:
        baseline = bare["npx"] if "npx" in label else bare["python"]
        median = statistics.median(seconds)
        print(f"| {label:<38} | {median:7.2f} | {min(seconds):7.2f} | {median / baseline:7.2f} |")


if __name__ == "__main__":
    main()
