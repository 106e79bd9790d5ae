"""Predict at any size: wall time, titles per second per core and peak memory of the predict steps, per input size.

    .venv/bin/python benchmarks/predict_scale.py [--sizes 10000 100000 1000000 5000000] [--onet-dir DIR]
        [--known-shares 0.5 1 0] [--unlisted-from DIR] [--work-dir DIR] [--steps-from DIR]

Trains the default model on the O*NET files once (the local run's train branch), writes N titles to
classify, and runs PreprocessPredict and BatchPredict as one processing instance runs them
(`python -m pipeline_steps <step> ...`, one process each). Per size and step it prints the wall
time, the CPU time, titles per second per core (titles per CPU second) and the step's peak RSS
(its process's ru_maxrss).

The titles are a realistic mix: a share (--known-shares, default 0.5) of O*NET alternate titles drawn
with replacement, which the model answers from their O*NET evidence, and the rest titles O*NET does
not list, which go to the statistical model: the alternate titles of another release (--unlisted-from,
the 27.0 release beside the project) that this one lacks, and O*NET titles as job boards write them
(a seniority word, a shift, a typo, a word left out), kept only when their normalized form is not an
O*NET title. 1 in 50 rows is empty, 1 in 10 has no id. A second table gives each path's rate from
BatchPredict's report: titles per CPU second in that path's probabilities, the rest of the step
(reading, ranking, writing) shared; a share of 1 or 0 measures one path end to end.

--steps-from DIR runs another copy of pipeline_steps (e.g. `git archive <commit> pipeline_steps`
unpacked in DIR) for a before/after comparison; it must accept the same arguments, or be the
pre-streaming version (detected by its missing --execution-id), which reads DIR/titles.parquet.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ONET = ROOT.parent / "shared" / "onet" / "db_28_1_excel"
DEFAULT_UNLISTED = ROOT.parent / "shared" / "onet" / "db_27_0_text"
# How job boards write an O*NET title that O*NET does not list.
PREFIXES = ("Senior", "Sr.", "Junior", "Lead", "Assistant", "Night Shift", "Remote", "Entry Level", "Trainee", "Relief")
SUFFIXES = (
    " II",
    " III",
    " - Remote",
    " (Contract)",
    " - Part Time",
    ", Nights",
    " / Days",
    " - Bilingual",
    " PRN",
    " 2nd Shift",
)
GROUP = "jobclf-develop"

# Run a command and print the child's peak RSS (KiB) and CPU seconds: measured in this wrapper, so
# that only the step's own process counts (ru_maxrss of RUSAGE_CHILDREN is the largest child's).
_MEASURE = """
import json, resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": code, "max_rss_kib": usage.ru_maxrss, "cpu_seconds": usage.ru_utime + usage.ru_stime}))
"""


@dataclass(frozen=True)
class Measured:
    seconds: float
    cpu_seconds: float
    max_rss_mib: float


def measure(command: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT) -> Measured:
    """Run `command` in its own process from `cwd` (`python -m` imports from there first); wall
    seconds, CPU seconds and peak RSS. Raises on failure."""
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as sink:
        result = subprocess.run(
            [sys.executable, "-c", _MEASURE, *command],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=sink,
            text=True,
            check=False,
        )
    seconds = time.perf_counter() - started
    lines = result.stdout.strip().splitlines()
    usage = json.loads(lines[-1])
    if usage["code"] != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed ({usage['code']}): see {log}\n" + "\n".join(lines[:-1]))
    return Measured(seconds, usage["cpu_seconds"], usage["max_rss_kib"] / 1024)


def write_titles(
    known: list[str], unlisted: list[str], known_share: float, count: int, destination: Path, seed: int = 0
) -> None:
    """`count` rows of id,title: `known_share` of them drawn from `known`, the rest from `unlisted`;
    every 50th title empty, every 10th id missing."""
    rng = random.Random(seed)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with destination.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title"])
        for start in range(0, count, 100_000):
            rows = []
            for number in range(start, min(count, start + 100_000)):
                pool = known if rng.random() < known_share else unlisted
                title = "" if number % 50 == 49 else rng.choice(pool)
                rows.append(("" if number % 10 == 9 else f"t{number}", title))
            writer.writerows(rows)


def as_job_boards_write(title: str, rng: random.Random) -> str:
    """An O*NET title with one or two of: a seniority or shift word, a suffix, a typo, a word left out."""
    for change in rng.sample(range(4), rng.choice((1, 2))):
        words = title.split()
        if change == 0:
            title = f"{rng.choice(PREFIXES)} {title}"
        elif change == 1:
            title += rng.choice(SUFFIXES)
        elif change == 2 and len(title) > 4:
            at = rng.randrange(1, len(title) - 2)
            title = title[:at] + title[at + 1] + title[at] + title[at + 2 :]  # two letters swapped
        elif len(words) > 2:
            del words[rng.randrange(len(words))]
            title = " ".join(words)
    return title


def unlisted_titles(known: list[str], other_release: Path | None, count: int = 50_000, seed: int = 0) -> list[str]:
    """Titles whose normalized form O*NET does not list: another release's own, then job-board variants."""
    sys.path.insert(0, str(ROOT))
    from pipeline_steps.text import normalize_title

    listed = {normalize_title(title) for title in known}
    found: dict[str, str] = {}

    def add(title: str) -> None:
        normalized = normalize_title(title)
        if normalized and normalized not in listed:
            found.setdefault(normalized, title)

    if other_release and (other_release / "Alternate Titles.txt").is_file():
        with (other_release / "Alternate Titles.txt").open(encoding="utf-8", errors="replace") as handle:
            for line in list(handle)[1:]:
                add(line.split("\t")[1])
    rng = random.Random(seed)
    while len(found) < count:
        add(as_job_boards_write(rng.choice(known), rng))
    return list(found.values())


def onet_titles(onet_dir: Path) -> list[str]:
    import openpyxl

    titles = []
    for table, column in (("Alternate Titles", 2), ("Occupation Data", 1)):
        workbook = openpyxl.load_workbook(onet_dir / f"{table}.xlsx", read_only=True)
        try:
            rows = workbook.active.iter_rows(min_row=2, values_only=True)
            titles += [row[column] for row in rows if isinstance(row[column], str)]
        finally:
            workbook.close()
    return titles


def train_model(onet_dir: Path, work_dir: Path) -> dict[str, str]:
    """Train and register the default model with the local run; the steps' registry environment."""
    if not (work_dir / "registry.json").is_file():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "workflow.local",
                "--env",
                "develop",
                "--use-type",
                "train",
                "--onet-dir",
                str(onet_dir),
                "--work-dir",
                str(work_dir),
            ],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return {"JOBCLF_LOCAL_REGISTRY": str(work_dir / "registry.json"), "JOBCLF_LOCAL_S3_ROOT": str(work_dir / "s3")}


def step_commands(steps_from: Path | None, input_dir: Path, work: Path) -> tuple[list[str], list[str], Path]:
    """(preprocess command, predict command, predictions folder) for the steps being measured."""
    python = [sys.executable, "-m", "pipeline_steps"]
    old = steps_from is not None and "--execution-id" not in (steps_from / "pipeline_steps" / "predict.py").read_text()
    preprocess = [*python, "preprocess-predict", "--input", str(input_dir), "--output", str(work / "prepared")]
    predict = [
        *python,
        "predict",
        "--output",
        str(work / "predictions"),
        "--model-package-group",
        GROUP,
        "--execution-date",
        "2026-12-01",
    ]
    if old:
        return preprocess, [*predict, "--input", str(work / "prepared")], work / "predictions"
    predict += ["--input", str(work / "prepared" / "titles"), "--execution-id", "benchmark"]
    return preprocess, predict, work / "predictions"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000, 5_000_000])
    parser.add_argument("--onet-dir", type=Path, default=DEFAULT_ONET)
    parser.add_argument("--known-shares", type=float, nargs="+", default=[0.5], help="share of O*NET's own titles")
    parser.add_argument("--unlisted-from", type=Path, default=DEFAULT_UNLISTED, help="another release's O*NET files")
    parser.add_argument("--work-dir", type=Path, help="keep the trained model here between runs")
    parser.add_argument("--steps-from", type=Path, help="a folder holding another pipeline_steps to measure")
    options = parser.parse_args()
    work_dir = options.work_dir or Path(tempfile.mkdtemp(prefix="jobclf-predict-scale-"))
    env = {**os.environ, **train_model(options.onet_dir, work_dir), "PYTHONDONTWRITEBYTECODE": "1"}
    known = onet_titles(options.onet_dir)
    unlisted = unlisted_titles(known, options.unlisted_from)
    rows, paths = [], []
    try:
        for size in options.sizes:
            for share in options.known_shares:
                run_dir = work_dir / f"run-{size}-{share}"
                shutil.rmtree(run_dir, ignore_errors=True)
                write_titles(known, unlisted, share, size, run_dir / "input" / "titles.csv")
                preprocess, predict, predictions = step_commands(options.steps_from, run_dir / "input", run_dir)
                steps_root = options.steps_from or ROOT
                measured = {
                    "PreprocessPredict": measure(preprocess, env, run_dir / "preprocess.log", steps_root),
                    "BatchPredict": measure(predict, env, run_dir / "predict.log", steps_root),
                }
                reports = [json.loads(r.read_text()) for r in predictions.rglob("report*.json")]
                written = sum(report["input_rows"] for report in reports)
                for step, m in measured.items():
                    rows.append((size, share, step, m, written))
                for path, counted in (reports[0].get("answered_by") or {}).items() if reports else ():
                    paths.append((size, share, path, counted["rows"], counted["cpu_seconds"]))
                shutil.rmtree(run_dir, ignore_errors=True)
                print(f"{size:>9,} titles, known share {share}: done", file=sys.stderr)
    finally:
        if options.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)

    cores = os.cpu_count()
    print(
        f"\nPredict steps, one instance each ({cores} cores here; steps from {options.steps_from or 'this checkout'})\n"
    )
    print("| titles | known share | step | wall s | CPU s | titles/s per core | peak RSS MiB | rows predicted |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    for size, share, step, m, written in rows:
        per_core = size / m.cpu_seconds if m.cpu_seconds else float("nan")
        print(
            f"| {size:,} | {share:g} | {step} | {m.seconds:.1f} | {m.cpu_seconds:.1f} | {per_core:,.0f} | {m.max_rss_mib:,.0f} | {written:,} |"
        )
    if paths:
        print(
            "\nBatchPredict per path: rows answered, CPU seconds in that path's probabilities (distinct titles of a batch once)\n"
        )
        print("| titles | known share | answered by | rows | CPU s | titles/s per core in the path |")
        print("|---:|---:|---|---:|---:|---:|")
        for size, share, path, answered, seconds in paths:
            rate = f"{answered / seconds:,.0f}" if seconds else "n/a"
            print(f"| {size:,} | {share:g} | {path} | {answered:,} | {seconds:.2f} | {rate} |")


if __name__ == "__main__":
    main()
