"""Wall time of each step of a full local train execution on the O*NET files, and batch-predict throughput.

    .venv/bin/python benchmarks/local_pipeline.py [--onet-dir ../shared/onet/db_28_1_excel] [--titles 50000]

Runs the local pipeline (the same definition `cdk synth` deploys) with use_type=train on every
O*NET row, then use_type=predict on `--titles` titles drawn from the O*NET alternate titles, and
prints a table. The BatchPredict throughput counts the step's own work (its report-<host>.json),
not process or Spark start-up. A benchmark, not a test: nothing fails on a slow machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from workflow.local.request import LocalRunRequest  # noqa: E402
from workflow.local.run import run_local  # noqa: E402


def timed_local_run(run: LocalRunRequest):
    start = time.perf_counter()
    result = run_local(run)
    outcome = result.outcome
    if outcome.status != "Succeeded":
        raise SystemExit(f"local run failed at {outcome.failure_step}: {outcome.failure_reason}")
    return outcome, result.s3, time.perf_counter() - start


def sample_titles(onet_dir: Path, count: int, destination: Path) -> int:
    import openpyxl

    workbook = openpyxl.load_workbook(onet_dir / "Alternate Titles.xlsx", read_only=True)
    rows = workbook.active.iter_rows(min_row=2, values_only=True)
    titles = [row[2] for row in rows if isinstance(row[2], str)]
    random.Random(0).shuffle(titles)
    chosen = (titles * (count // len(titles) + 1))[:count]
    with destination.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title"])
        writer.writerows(enumerate(chosen, start=1))
    return len(chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onet-dir", type=Path, default=ROOT.parent / "shared" / "onet" / "db_28_1_excel")
    parser.add_argument("--titles", type=int, default=50_000)
    options = parser.parse_args()
    work_dir = Path(tempfile.mkdtemp(prefix="jobclf-bench-"))
    try:
        sample_titles(options.onet_dir, options.titles, work_dir / "titles.csv")
        outcomes = {
            "train": timed_local_run(LocalRunRequest("develop", "train", onet_dir=options.onet_dir, work_dir=work_dir)),
            "predict": timed_local_run(
                LocalRunRequest(
                    "develop",
                    "predict",
                    input=work_dir / "titles.csv",
                    output=work_dir / "predictions.csv",
                    work_dir=work_dir,
                )
            ),
        }

        print("\nLocal pipeline on all O*NET rows (seconds, wall time)\n")
        print(f"| {'execution':<9} | {'step':<28} | {'seconds':>8} |")
        print(f"|{'-' * 11}|{'-' * 30}|{'-' * 10}|")
        for use_type, (outcome, _, total) in outcomes.items():
            for step in outcome.steps:
                if step.status == "Succeeded":
                    print(f"| {use_type:<9} | {step.name:<28} | {step.seconds:8.1f} |")
            print(f"| {use_type:<9} | {'whole execution (incl. build)':<28} | {total:8.1f} |")
        predict_outcome, s3, _ = outcomes["predict"]
        outputs = predict_outcome.step_properties["BatchPredict"]["ProcessingOutputConfig"]["Outputs"]
        predictions = s3.path(outputs["predictions"]["S3Output"]["S3Uri"])
        report = json.loads(
            next(predictions.rglob(f"execution_id={predict_outcome.execution_id}/report-*.json")).read_text()
        )
        print(f"\nBatch predict report: {json.dumps(report, sort_keys=True)}")
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
