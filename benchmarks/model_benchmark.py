"""Candidate models and existing SOC coders, scored on unseen titles and unseen occupations over several seeds.

    .venv/bin/python benchmarks/model_benchmark.py [--onet-dir ../shared/onet/db_28_1_excel]
        [--etl-dir DIR] [--seeds 42,1,2,3,4] [--models default,previous] [--peers simplesoc]
        [--throughput-titles 50000] [--json results.json]

Everything goes through the pipeline's own code: the ETL (`pipeline_steps.etl`, Spark in local
mode, unless --etl-dir names an ETL output made with the current `text.normalize_title`), the splits
(`preprocess_train.run`: by title and by occupation), training (`train.train`, with the occupations
channel: the two held-out models and the served one), scoring (`evaluate.evaluate`: accuracy,
macro-F1, per-group F1, expected calibration error of the top-1 probability) and prediction
(`ranking.classify`: normalize + predict_proba + top-3 records, as the batch predict step and the
endpoint do, with the served model). Each seed gives different splits. Two figures, as the
pipeline's evaluation reports them:
    unseen titles       (the headline) split by title, every occupation in training, no test title
                        with a near-duplicate in training: the by-title model on title_test.
    unseen occupations  (the stress figure, the quality gate's) split by occupation: the
                        by-occupation model on the test occupations.
The table shows mean ± standard deviation over the seeds, the worst seed's macro-F1 and the worst
major group's F1 on unseen occupations (mean over seeds of each seed's lowest group F1). Validation
macro-F1 is printed beside test macro-F1: choose models by validation, report test.

Throughput is measured on one core (OMP/OPENBLAS/MKL threads set to 1 before numpy loads) by
classifying `--throughput-titles` raw test titles (repeated as needed) end to end.

Peers (existing SOC coders on PyPI) are scored on the same test rows: their SOC code's first two
digits are the major group. They are benchmark-only extras, installed on demand with pip into the
running interpreter, never project dependencies:
    simplesoc       GPL-3.0. Its published wheels (0.5.0-0.5.3) lack the data module they import,
                    so it cannot run; the table says so.
    sockit          RIPL's license: free only for non-profit / government use and academic research;
                    a for-profit entity needs a paid license. Only run when named in --peers.
    occupationcoder GPL-3.0; codes UK SOC 2010 (not US SOC 2018) and downloads NLTK corpora at run
                    time: not comparable, listed in the notes only.
A benchmark, not a test: nothing fails on a slow machine.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import importlib  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from pipeline_steps import evaluate, preprocess_train, ranking, train  # noqa: E402
from pipeline_steps import model as model_lib  # noqa: E402
from pipeline_steps.dataio import read_parquet_table  # noqa: E402
from pipeline_steps.known_titles import KNOWN_TITLE, KnownTitleClassifier, KnownTitles  # noqa: E402

DEFAULT = model_lib.Hyperparameters()
# The default before issue 4: char_wb 2-5, balanced class weights, titles only (with today's normalize_title).
PREVIOUS = replace(
    DEFAULT,
    model_c=0.3,
    word_ngram_max=2,
    char_ngram_min=2,
    char_ngram_max=5,
    class_weight="balanced",
    occupation_descriptions=0,
    short_titles=0,
)
CANDIDATES: dict[str, model_lib.Hyperparameters] = {
    "default": DEFAULT,
    "previous": PREVIOUS,
    "previous+descriptions+short": replace(PREVIOUS, occupation_descriptions=1, short_titles=1),
    "default-balanced": replace(DEFAULT, class_weight="balanced"),
    "default-char2-5": replace(DEFAULT, char_ngram_min=2, char_ngram_max=5),
    "default-logreg": replace(DEFAULT, classifier="logreg", model_c=20.0),
    # Issue 20: each alternate-title row weighs 1, as before evidence weights.
    "default-unweighted": replace(DEFAULT, source_weights="none"),
}
PEER_NOTES = {
    "simplesoc": "simplesoc 0.5.3 (GPL-3.0)",
    "sockit": "sockit 0.3.1 (RIPL license: non-profit/government/academic only; for-profit use needs a paid license)",
    "occupationcoder": "occupationcoder 0.2.0 (GPL-3.0): UK SOC 2010 and NLTK downloads at run time; not comparable",
}
PEER_PINS = {"simplesoc": "simplesoc==0.5.3", "sockit": "sockit==0.3.1"}


@dataclass
class Row:
    name: str
    note: str = ""
    # Unseen titles of known occupations (split by title): the headline.
    title_accuracy: list = field(default_factory=list)
    title_macro_f1: list = field(default_factory=list)
    title_validation_macro_f1: list = field(default_factory=list)
    title_ece: list = field(default_factory=list)
    # Unseen occupations (split by occupation): the stress figure.
    accuracy: list = field(default_factory=list)
    macro_f1: list = field(default_factory=list)
    validation_macro_f1: list = field(default_factory=list)
    worst_group_f1: list = field(default_factory=list)
    worst_group: list = field(default_factory=list)
    ece: list = field(default_factory=list)
    # Issue 20: the served model on its own training titles, statistical model alone (top-1 in the
    # title's group, or best-attested group when O*NET lists it under several), and the share of each
    # figure's test titles answered from the known titles.
    training_unambiguous_model_alone: list = field(default_factory=list)
    training_ambiguous_model_alone: list = field(default_factory=list)
    title_known_share: list = field(default_factory=list)
    known_share: list = field(default_factory=list)
    train_seconds: list = field(default_factory=list)
    titles_per_second: list = field(default_factory=list)
    size_bytes: int | None = None
    failed: str | None = None


# ------------------------------------------------------------------------------------------ data


def run_etl(onet_dir: Path, output: Path) -> None:
    """The ETL step itself (Spark local mode) in a child process, so its JVM ends with it."""
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    code = "import sys; from pipeline_steps import etl; sys.exit(etl.main(sys.argv[1:]))"
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", code, "--input", str(onet_dir), "--output", str(output)],
        env=env,
        cwd=str(ROOT),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"ETL failed:\n{result.stderr[-4000:]}")
    print(f"ETL: {result.stdout.strip().splitlines()[-1]} ({time.perf_counter() - started:.0f}s)", flush=True)


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """The options every model benchmark shares: where O*NET (or an ETL output) is, and the seeds."""
    parser.add_argument("--onet-dir", type=Path, default=ROOT.parent / "shared" / "onet" / "db_28_1_excel")
    parser.add_argument("--etl-dir", type=Path, help="reuse an ETL output (titles/, occupations/) of the current code")
    parser.add_argument("--seeds", default="42,1,2,3,4", type=lambda text: [int(s) for s in comma_list(text)])


def comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def splits_by_occupation(options: argparse.Namespace, work: Path) -> Iterator[tuple[int, Path, Path]]:
    """(seed, split directory (by occupation and by title), ETL directory) per seed of `options.seeds`.

    The ETL runs once, unless --etl-dir names an output; each seed then gets its own split by
    occupation (test 20%, validation 10% of each major group's occupations) under `work`.
    """
    etl_dir = options.etl_dir
    if etl_dir is None:
        etl_dir = work / "etl"
        run_etl(options.onet_dir, etl_dir)
    for seed in options.seeds:
        split_dir = work / f"split-{seed}"
        preprocess_train.run(etl_dir / "titles", split_dir, seed, 0.1, 0.2)
        yield seed, split_dir, etl_dir


def test_rows(split_dir: Path, split: str = "occupation_test") -> tuple[list[str], list[str], list[str]]:
    """(raw titles, normalized titles, major groups) of a test split, as evaluate reads them."""
    table = read_parquet_table(split_dir / split, ("title", "title_normalized", "major_group"))
    rows = [
        (raw, normalized, str(group))
        for raw, normalized, group in zip(
            table.column("title").to_pylist(),
            table.column("title_normalized").to_pylist(),
            table.column("major_group").to_pylist(),
            strict=False,
        )
        if normalized and normalized.strip() and group
    ]
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def repeated(values: list, count: int) -> list:
    return (values * (count // max(len(values), 1) + 1))[:count]


def worst_group(metrics: dict) -> tuple[str, float]:
    groups = {g: v for g, v in metrics["per_major_group"].items() if v["support"] > 0}
    group = min(groups, key=lambda g: groups[g]["f1"])
    return group, groups[group]["f1"]


# ---------------------------------------------------------------------------------------- models


def score_candidate(row: Row, hp, split_dir: Path, occupations_dir: Path, work: Path, throughput_titles: int):
    model_dir = work / "model"
    channels = train.Channels(**{name: split_dir / name for name in train.SPLIT_CHANNELS}, occupations=occupations_dir)
    info = train.train(channels, model_dir, hp)
    by_title, _ = model_lib.load_model(model_dir, model_file=model_lib.EVALUATED_MODELS["by_title"])
    _, normalized, labels = test_rows(split_dir, "title_test")
    titles_metrics = evaluate.evaluate(by_title, normalized, labels)
    row.title_accuracy.append(titles_metrics["accuracy"])
    row.title_macro_f1.append(titles_metrics["macro_f1"])
    row.title_validation_macro_f1.append(info["evaluated_models"]["by_title"]["validation"]["macro_f1"])
    row.title_ece.append(titles_metrics["expected_calibration_error"])
    by_occupation, _ = model_lib.load_model(model_dir, model_file=model_lib.EVALUATED_MODELS["by_occupation"])
    raw, normalized, labels = test_rows(split_dir)
    metrics = evaluate.evaluate(by_occupation, normalized, labels)
    model, _ = model_lib.load_model(model_dir)
    fidelity = evaluate.training_title_fidelity(model)
    row.training_unambiguous_model_alone.append(fidelity["unambiguous"]["model_alone"])
    row.training_ambiguous_model_alone.append(fidelity["ambiguous"]["model_alone"])
    row.title_known_share.append(titles_metrics["answered_by"][KNOWN_TITLE])
    row.known_share.append(metrics["answered_by"][KNOWN_TITLE])
    # Throughput of the served model's statistical path (every test title is a known title of the
    # served model, which answers those from its table: see predict_scale.py for both paths).
    statistical = KnownTitleClassifier(model.model, KnownTitles({}))
    titles = repeated(raw, throughput_titles)
    ranking.classify(statistical, titles[:1000])  # warm-up
    started = time.perf_counter()
    ranking.classify(statistical, titles)
    row.titles_per_second.append(len(titles) / (time.perf_counter() - started))
    row.accuracy.append(metrics["accuracy"])
    row.macro_f1.append(metrics["macro_f1"])
    row.validation_macro_f1.append(info["validation"]["macro_f1"])
    group, f1 = worst_group(metrics)
    row.worst_group.append(group)
    row.worst_group_f1.append(f1)
    row.ece.append(metrics["expected_calibration_error"])
    row.train_seconds.append(info["training_seconds"])
    row.size_bytes = (model_dir / model_lib.MODEL_FILE).stat().st_size


# ----------------------------------------------------------------------------------------- peers


# Peers go to a folder of their own, never into the running venv: sockit's requirements would upgrade
# numpy past what scikit-learn 1.2.1 (the serving image's) runs with. The folder is searched after
# the venv, and the pip resolve is held to the venv's versions of these, so a peer uses them.
PEERS_DIR = ROOT / ".work" / "benchmark-peers"
VENV_PINNED = ("numpy", "scipy", "scikit-learn", "pandas", "joblib")


def ensure_installed(peer: str) -> None:
    module = {"simplesoc": "simplesoc", "sockit": "sockit"}[peer]
    target = PEERS_DIR / peer
    if str(target) not in sys.path:
        sys.path.append(str(target))
    try:
        importlib.import_module(module)
        return
    except ModuleNotFoundError as error:
        if error.name != module:  # installed, but broken: the caller reports it
            raise
    print(f"installing benchmark-only peer {PEER_PINS[peer]} into {target} ({PEER_NOTES[peer]})", flush=True)
    target.mkdir(parents=True, exist_ok=True)
    constraints = target / "venv-constraints.txt"
    constraints.write_text("".join(f"{name}=={importlib.metadata.version(name)}\n" for name in VENV_PINNED))
    command = [sys.executable, "-m", "pip", "install", "-q", "--target", str(target), "-c", str(constraints)]
    subprocess.run([*command, PEER_PINS[peer]], check=True)
    importlib.invalidate_caches()


def peer_predictor(peer: str) -> Callable[[str], tuple[str | None, float]]:
    """title -> (major group or None, probability of that group)."""
    ensure_installed(peer)
    if peer == "simplesoc":
        from simplesoc import find_soc_code  # the published wheels fail here

        def predict(title: str):
            best = find_soc_code(title, year="US.2018", n_socs=1)
            socs = best[0]["socs"] if best else []
            code = socs[0] if socs else None
            return (str(code)[:2], 1.0) if code else (None, 0.0)

        return predict
    if peer == "sockit":
        import sockit.title

        def predict(title: str):
            ranked = sockit.title.sort(sockit.title.search(sockit.title.clean(title)))
            if not ranked:
                return None, 0.0
            # sockit's probabilities are per SOC code: a major group's is the sum over its codes.
            groups: dict[str, float] = {}
            for item in ranked:
                groups[str(item["soc"])[:2]] = groups.get(str(item["soc"])[:2], 0.0) + float(item["prob"])
            group = min(groups, key=lambda g: (-groups[g], g))
            return group, groups[group]

        return predict
    raise ValueError(f"unknown peer {peer!r}; known: simplesoc, sockit")


def peer_metrics(predict, split_dir: Path, split: str) -> tuple[dict, float, float]:
    """(metrics, seconds, share unanswered) of a peer on a test split's raw titles."""
    raw, _, labels = test_rows(split_dir, split)
    started = time.perf_counter()
    answers = [predict(title) for title in raw]
    seconds = time.perf_counter() - started
    predicted = [group or "none" for group, _ in answers]
    metrics = evaluate.compute_metrics(labels, predicted, [p for _, p in answers])
    metrics["per_major_group"].pop("none", None)
    return metrics, seconds, sum(1 for g, _ in answers if g is None) / len(raw)


def score_peer(row: Row, predict, split_dir: Path, throughput_titles: int) -> None:
    titles_metrics, _, _ = peer_metrics(predict, split_dir, "title_test")
    row.title_accuracy.append(titles_metrics["accuracy"])
    row.title_macro_f1.append(titles_metrics["macro_f1"])
    row.title_ece.append(titles_metrics["expected_calibration_error"])
    metrics, seconds, unanswered = peer_metrics(predict, split_dir, "occupation_test")
    row.accuracy.append(metrics["accuracy"])
    row.macro_f1.append(metrics["macro_f1"])
    group, f1 = worst_group(metrics)
    row.worst_group.append(group)
    row.worst_group_f1.append(f1)
    row.ece.append(metrics["expected_calibration_error"])
    row.titles_per_second.append(metrics["rows"] / seconds)
    row.note = f"{unanswered:.1%} of unseen-occupation test titles unanswered (counted wrong)"


# ----------------------------------------------------------------------------------------- table


def mean_sd(values: list, digits: int = 3) -> str:
    if not values:
        return "n/a"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f}"


def gate_threshold(macro_f1s: list[float]) -> float:
    """The quality gate's default (`min_macro_f1`, config/environments.toml) from the default model's
    unseen-occupation macro-F1 over the seeds: mean - 2 sd, rounded down to 0.01. A model that does
    as well as the benchmarked default passes on almost any split; one clearly worse does not."""
    sd = statistics.stdev(macro_f1s) if len(macro_f1s) > 1 else 0.0
    return max(0.0, math.floor((statistics.mean(macro_f1s) - 2 * sd) * 100) / 100)


def table(rows: list[Row], seeds: list[int]) -> str:
    header = [
        "model",
        "unseen titles: macro-F1 (test)",
        "accuracy",
        "macro-F1 (validation)",
        "ECE top-1",
        "unseen occupations: macro-F1 (test)",
        "accuracy",
        "worst seed macro-F1",
        "macro-F1 (validation)",
        "worst group F1",
        "ECE top-1",
        "known share (titles / occupations)",
        "training titles, model alone (unambiguous / ambiguous)",
        "train s",
        "titles/s (1 core)",
        "model size",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if row.failed:
            lines.append(f"| {row.name} | " + " | ".join(["n/a"] * (len(header) - 1)) + " |")
            continue
        groups = sorted(set(row.worst_group))
        cells = [
            row.name,
            mean_sd(row.title_macro_f1),
            mean_sd(row.title_accuracy),
            mean_sd(row.title_validation_macro_f1) if row.title_validation_macro_f1 else "n/a",
            mean_sd(row.title_ece),
            mean_sd(row.macro_f1),
            mean_sd(row.accuracy),
            f"{min(row.macro_f1):.3f}",
            mean_sd(row.validation_macro_f1) if row.validation_macro_f1 else "n/a",
            f"{statistics.mean(row.worst_group_f1):.3f} ({', '.join(groups)})",
            mean_sd(row.ece),
            f"{statistics.mean(row.title_known_share):.3f} / {statistics.mean(row.known_share):.3f}"
            if row.known_share
            else "n/a",
            f"{statistics.mean(row.training_unambiguous_model_alone):.4f} / "
            f"{statistics.mean(row.training_ambiguous_model_alone):.4f}"
            if row.training_ambiguous_model_alone
            else "n/a",
            f"{statistics.mean(row.train_seconds):.0f}" if row.train_seconds else "n/a (pretrained)",
            f"{statistics.median(row.titles_per_second):,.0f}",
            f"{row.size_bytes / 1e6:.1f} MB" if row.size_bytes else "n/a",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- {r.name}: {r.failed or r.note}" for r in rows if r.failed or r.note]
    notes.append("- occupationcoder: " + PEER_NOTES["occupationcoder"])
    return (
        f"Seeds {', '.join(map(str, seeds))}; mean ± sd over seeds. Unseen titles (the headline): split by title, "
        "every occupation in training, test titles without a near-duplicate in training (test 20%, validation 10% "
        "of each major group's near-duplicate keys). Unseen occupations (the stress figure, the quality gate's): "
        "split by occupation (test 20%, validation 10% of each major group's occupations). Throughput: the served "
        "model's statistical path, one core. Known share: test titles answered from the known titles of the held-out "
        "model's own training rows. Training titles: the served model's statistical path alone on the titles it "
        "was fitted on (with the known titles, 1.000 by construction).\n\n"
        + "\n".join(lines)
        + "\n\nNotes:\n"
        + "\n".join(notes)
        + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_options(parser)
    parser.add_argument("--models", default="default,previous", help=f"comma list of {', '.join(CANDIDATES)}")
    parser.add_argument("--peers", default="simplesoc", help="comma list of simplesoc, sockit (or empty)")
    parser.add_argument("--throughput-titles", type=int, default=50_000)
    parser.add_argument("--json", type=Path, help="also write the raw per-seed numbers here")
    options = parser.parse_args()
    models = comma_list(options.models)
    unknown = [m for m in models if m not in CANDIDATES]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; known: {list(CANDIDATES)}")
    peers = comma_list(options.peers)

    with tempfile.TemporaryDirectory(prefix="jobclf-model-bench-") as temporary:
        work = Path(temporary)
        rows = [Row(name) for name in models]
        peer_rows, predictors = [], {}
        for peer in peers:
            row = Row(f"peer: {PEER_NOTES.get(peer, peer)}")
            try:
                predictors[peer] = peer_predictor(peer)
            except Exception as error:  # a broken or uninstallable peer is a result, not a crash
                row.failed = f"cannot run: {type(error).__name__}: {error}"
            peer_rows.append((peer, row))
        for seed, split_dir, etl_dir in splits_by_occupation(options, work):
            for name, row in zip(models, rows, strict=False):
                score_candidate(
                    row, CANDIDATES[name], split_dir, etl_dir / "occupations", work / name, options.throughput_titles
                )
                print(
                    f"seed {seed} {name}: unseen titles macro-F1 {row.title_macro_f1[-1]:.4f}, unseen occupations "
                    f"{row.macro_f1[-1]:.4f} (validation {row.validation_macro_f1[-1]:.4f}), "
                    f"{row.titles_per_second[-1]:,.0f} titles/s",
                    flush=True,
                )
            for peer, row in peer_rows:
                if not row.failed:
                    score_peer(row, predictors[peer], split_dir, options.throughput_titles)
                    print(
                        f"seed {seed} {peer}: unseen titles macro-F1 {row.title_macro_f1[-1]:.4f}, "
                        f"unseen occupations {row.macro_f1[-1]:.4f}",
                        flush=True,
                    )
        all_rows = rows + [row for _, row in peer_rows]
        print("\n" + table(all_rows, options.seeds))
        for name in models:
            print(f"{name}: {json.dumps(CANDIDATES[name].as_dict(), sort_keys=True)}")
        if "default" in models and not rows[models.index("default")].failed:
            threshold = gate_threshold(rows[models.index("default")].macro_f1)
            print(
                f"quality gate default (mean - 2 sd of default's unseen-occupation macro-F1): min_macro_f1 = {threshold:.2f}"
            )
        if options.json:
            options.json.write_text(json.dumps([vars(r) for r in all_rows], indent=2) + "\n")


if __name__ == "__main__":
    main()
