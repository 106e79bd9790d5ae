"""train: the model directory it writes, its CLI, and serving the result as the container would."""

from __future__ import annotations

import ast
import csv
import io
import json
import subprocess
import sys
import tarfile
import textwrap

import pytest
import steps_fixtures as fx

from pipeline_steps import model as model_lib
from pipeline_steps import preprocess_train, train
from pipeline_steps.baseline import TrainingBaseline
from pipeline_steps.text import normalize_title


@pytest.fixture(scope="module")
def split_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("split")
    fx.write_etl(root / "etl")
    preprocess_train.run(root / "etl", root / "out", seed=1, validation_fraction=0.1, test_fraction=0.2)
    return root / "out"


CHANNEL_NAMES = ("occupation_train", "occupation_validation", "occupation_test", "title_train", "title_validation")


def channel_args(split_dir) -> list[str]:
    return [arg for name in CHANNEL_NAMES for arg in (f"--{name.replace('_', '-')}", str(split_dir / name))]


@pytest.fixture(scope="module")
def model_dir(split_dir, tmp_path_factory):
    target = tmp_path_factory.mktemp("model") / "model"
    args = channel_args(split_dir)
    assert train.main(args + ["--model-dir", str(target), "--model_c", "1.0", "--word_ngram_max", "2"]) == 0
    return target


def test_model_dir_layout_and_info(model_dir):
    names = sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file())
    assert names == [
        "code/inference.py",
        "code/pipeline_steps/__init__.py",
        "code/pipeline_steps/contract.py",
        "code/pipeline_steps/csv_cells.py",
        "code/pipeline_steps/csv_dialect.py",
        "code/pipeline_steps/known_titles.py",
        "code/pipeline_steps/ranking.py",
        "code/pipeline_steps/soc.py",
        "code/pipeline_steps/text.py",
        "evaluated/by_occupation.joblib",
        "evaluated/by_occupation.known_titles.json",
        "evaluated/by_title.joblib",
        "evaluated/by_title.known_titles.json",
        "model.baseline.json",
        "model.joblib",
        "model.known_titles.json",
        "model_info.json",
    ]
    info = json.loads((model_dir / "model_info.json").read_text())
    assert info["classes"] == ["15", "29", "35", "47", "53"]
    assert info["major_group_titles"]["29"] == "Healthcare Practitioners and Technical Occupations"
    assert info["hyperparameters"]["model_c"] == 1.0 and info["hyperparameters"]["classifier"] == "linearsvc"
    assert info["train_rows"] > 0
    assert 0.0 <= info["validation"]["macro_f1"] <= 1.0 and info["validation"]["rows"] > 0
    for evaluated in info["evaluated_models"].values():
        assert 0 < evaluated["train_rows"] < info["train_rows"] and evaluated["validation"]["rows"] > 0
    import sklearn

    assert info["sklearn_version"] == sklearn.__version__


def test_the_baseline_counts_the_served_models_title_rows_by_major_group(model_dir):
    """Every O*NET title of the fixtures (occupation titles and alternate titles, all splits) once, by major
    group; short titles and descriptions, extra training text, are not job titles the model is asked for."""
    baseline = TrainingBaseline.read(model_dir / "model.baseline.json")
    expected: dict[str, int] = {}
    for code, (_, alternates) in fx.OCCUPATIONS.items():
        expected[code[:2]] = expected.get(code[:2], 0) + 1 + len(alternates)
    assert dict(baseline.major_groups) == expected
    assert json.loads((model_dir / "model_info.json").read_text())["baseline_file"] == "model.baseline.json"


def test_main_prints_validation_metrics(split_dir, tmp_path, capsys, monkeypatch):
    for name in CHANNEL_NAMES:
        monkeypatch.setenv(f"SM_CHANNEL_{name.upper()}", str(split_dir / name))
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "m"))
    assert train.main(["--classifier", "logreg", "--model_c", "5"]) == 0  # data and model dirs from the env
    out = capsys.readouterr().out
    assert "occupation_validation_macro_f1=" in out and "occupation_validation_accuracy=" in out
    assert "title_validation_macro_f1=" in out
    assert (tmp_path / "m" / "model.joblib").is_file()


def test_the_served_model_is_fitted_on_every_occupation_and_evaluated_ones_are_not(split_dir, model_dir):
    """The registered model has seen every occupation of every split; the by-occupation model has not
    seen the validation and test occupations, the by-title model not the title_test titles."""
    import joblib
    import pyarrow.parquet as pq

    def read(name, column):
        return set(pq.read_table(str(split_dir / name)).column(column).to_pylist())

    every_occupation = set().union(*(read(name, "onet_soc_code") for name in preprocess_train.OCCUPATION_SPLITS))
    info = json.loads((model_dir / "model_info.json").read_text())
    assert info["occupations"] == len(every_occupation) == len(fx.OCCUPATIONS)
    assert info["train_rows_by_source"]["titles"] == sum(
        pq.read_table(str(split_dir / name)).num_rows for name in preprocess_train.OCCUPATION_SPLITS
    )
    by_occupation = info["evaluated_models"]["by_occupation"]
    assert by_occupation["occupations"] == len(read("occupation_train", "onet_soc_code")) < len(every_occupation)
    assert info["evaluated_models"]["by_title"]["occupations"] == len(every_occupation)
    # Each occupation's own title comes back in its major group from the served model.
    served = joblib.load(str(model_dir / "model.joblib"))
    titles = [normalize_title(title) for title, _ in fx.OCCUPATIONS.values()]
    predicted = [str(served.classes_[i]) for i in served.predict_proba(titles).argmax(axis=1)]
    assert predicted == [code[:2] for code in fx.OCCUPATIONS]
    # ...which the by-occupation model, which never saw the test occupations, does not all do.
    held_out = joblib.load(str(model_dir / "evaluated" / "by_occupation.joblib"))
    assert [str(held_out.classes_[i]) for i in held_out.predict_proba(titles).argmax(axis=1)] != predicted


def test_every_split_is_a_required_channel(split_dir, tmp_path, monkeypatch, capsys):
    for name in CHANNEL_NAMES:
        monkeypatch.delenv(f"SM_CHANNEL_{name.upper()}", raising=False)
    with pytest.raises(SystemExit):
        train.parse_args(
            ["--occupation-train", str(split_dir / "occupation_train"), "--model-dir", str(tmp_path / "m")]
        )
    assert "no occupation_validation, occupation_test, title_train, title_validation data" in capsys.readouterr().err


def test_occupation_descriptions_of_train_occupations_only_become_rows(split_dir, tmp_path):
    descriptions = fx.write_occupations(tmp_path / "occupations")
    hp = model_lib.Hyperparameters()
    rows = train.training_rows(split_dir / "occupation_train", tmp_path / "occupations", hp)
    titles, labels, counts = rows.texts, rows.labels, rows.counts
    import pyarrow.parquet as pq

    train_codes = set(pq.read_table(str(split_dir / "occupation_train")).column("onet_soc_code").to_pylist())
    held_out = set(descriptions) - train_codes
    assert held_out, "the fixture split holds occupations out"
    assert counts["occupation_descriptions"] == len(train_codes)
    described = {t for t in titles if "description marker" in t}
    assert described == {normalize_title(descriptions[c]) for c in train_codes}
    assert not any(f"{c[:2]}x{c[3:7]}" in t for c in held_out for t in titles)  # validation/test never leak in
    assert len(titles) == len(labels) == counts["titles"] + counts["short_titles"] + counts["occupation_descriptions"]
    assert len(rows.occupations) == len(titles) == len(rows.weights)
    own_titles = {normalize_title(occupation) for occupation, _ in fx.OCCUPATIONS.values()}
    weighted = {t for t, w, s in zip(titles, rows.weights, rows.sources, strict=True) if s == "titles" and w == 5.0}
    assert weighted and weighted <= own_titles  # an occupation's own O*NET title weighs occupation_title_weight
    assert all(w == 1.0 for t, w in zip(titles, rows.weights, strict=True) if t not in own_titles)
    assert all(code[:2] == label for code, label in zip(rows.occupations, labels, strict=True))
    # the fixture's titles of four letters or fewer are also short titles ("RN", "DBA")
    assert counts["short_titles"] > 0
    plain = train.training_rows(
        split_dir / "occupation_train",
        tmp_path / "occupations",
        model_lib.Hyperparameters(occupation_descriptions=0, short_titles=0),
    )
    assert plain.counts == {"titles": counts["titles"], "short_titles": 0, "occupation_descriptions": 0}


def test_alternate_titles_weigh_their_source_count_in_training_and_in_the_known_titles(tmp_path):
    rows = fx.etl_rows()
    # "Server" under 35 from one source; the same title under 15 from three (a made-up conflict).
    for name, value in zip(
        fx.COLUMNS, ["15-1244.00", "x", "Server", "server", None, "15", "alternate_title", "f", 999, 3], strict=True
    ):
        rows[name].append(value)
    rows["source_count"] = [
        4 if t == "plumber" else c for t, c in zip(rows["title_normalized"], rows["source_count"], strict=True)
    ]
    fx.write_etl(tmp_path / "etl", rows=rows)
    counted = train.training_rows(tmp_path / "etl", None, model_lib.Hyperparameters())
    weights = {
        (t, g): w
        for t, g, w, s in zip(counted.texts, counted.labels, counted.weights, counted.sources, strict=True)
        if s == "titles"
    }
    assert weights[("plumber", "47")] == 4.0 and weights[("server", "15")] == 3.0 and weights[("server", "35")] == 1.0
    assert weights[("registered nurses", "29")] == 5.0  # an occupation's own title: occupation_title_weight
    assert counted.known.evidence["server"] == {"35": 1.0, "15": 3.0}
    assert counted.known.best_attested("server") == {"15"}
    unweighted = train.training_rows(tmp_path / "etl", None, model_lib.Hyperparameters(source_weights="none"))
    weights = {
        (t, g): w
        for t, g, w, s in zip(unweighted.texts, unweighted.labels, unweighted.weights, unweighted.sources, strict=True)
        if s == "titles"
    }
    assert weights[("plumber", "47")] == 1.0 and weights[("registered nurses", "29")] == 5.0
    assert unweighted.known.evidence == counted.known.evidence  # the evidence is O*NET's either way


def test_occupations_channel_from_the_environment(split_dir, tmp_path, monkeypatch, capsys):
    fx.write_occupations(tmp_path / "occupations")
    monkeypatch.setenv("SM_CHANNEL_OCCUPATIONS", str(tmp_path / "occupations"))
    assert train.main(channel_args(split_dir) + ["--model-dir", str(tmp_path / "m")]) == 0
    info = json.loads((tmp_path / "m" / "model_info.json").read_text())
    # The served and by-title models describe every occupation, the by-occupation model its own only.
    assert info["train_rows_by_source"]["occupation_descriptions"] == len(fx.OCCUPATIONS)
    assert info["evaluated_models"]["by_title"]["train_rows_by_source"]["occupation_descriptions"] == len(
        fx.OCCUPATIONS
    )
    assert (
        0
        < info["evaluated_models"]["by_occupation"]["train_rows_by_source"]["occupation_descriptions"]
        < len(fx.OCCUPATIONS)
    )
    assert info["hyperparameters"]["occupation_descriptions"] == 1
    assert '"occupation_descriptions": ' in capsys.readouterr().out


def test_without_an_occupations_channel_training_says_so(split_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SM_CHANNEL_OCCUPATIONS", raising=False)
    assert train.main(channel_args(split_dir) + ["--model-dir", str(tmp_path / "m")]) == 0
    assert "no occupations channel" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--short_titles", "2"], "short_titles must be from 0 to 1, got 2"),
        (["--occupation_descriptions", "-1"], "occupation_descriptions must be from 0 to 1, got -1"),
        (["--model_c", "0"], "model_c must be from 0.0001 to 10000.0, got 0.0"),
        (["--model_c", "inf"], "model_c must be from 0.0001 to 10000.0, got inf"),
        (["--model_c", "nan"], "model_c must be from 0.0001 to 10000.0, got nan"),
        (["--char_ngram_min", "4", "--char_ngram_max", "3"], "char_ngram_min"),
        (["--classifier", "forest"], "classifier must be one of"),
        (["--min_df", "0"], "min_df"),
    ],
)
def test_bad_hyperparameters_are_refused(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit):
        train.parse_args(argv + ["--occupation-train", str(tmp_path), "--model-dir", str(tmp_path)])
    assert message in capsys.readouterr().err


def test_missing_train_channel_is_explained(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("SM_CHANNEL_OCCUPATION_TRAIN", raising=False)
    with pytest.raises(SystemExit):
        train.parse_args(["--model-dir", str(tmp_path)])
    assert "SM_CHANNEL_OCCUPATION_TRAIN" in capsys.readouterr().err


def test_serving_modules_cover_the_imports_of_inference():
    """code/inference.py and every pipeline_steps module it imports, directly or through another, ship."""

    def imported_by(path):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pipeline_steps."):
                names.add(node.module.split(".")[1])
            elif isinstance(node, ast.ImportFrom) and node.module == "pipeline_steps":
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.Import):
                names.update(a.name.split(".")[1] for a in node.names if a.name.startswith("pipeline_steps."))
        return names

    package = fx.PROJECT_ROOT / "pipeline_steps"
    needed, pending = set(), imported_by(package / "inference.py")
    while pending:
        name = pending.pop()
        needed.add(name)
        pending |= imported_by(package / f"{name}.py") - needed
    assert needed and needed <= set(train.SERVING_MODULES), needed - set(train.SERVING_MODULES)


CONTAINER_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import joblib
    model_dir = sys.argv[1]
    joblib.load(model_dir + "/model.joblib")      # a plain scikit-learn pickle: it needs no code of ours
    sys.path.insert(0, model_dir + "/code")      # what the serving container does
    import inference
    import pipeline_steps
    assert pipeline_steps.__file__.startswith(model_dir + "/code/"), pipeline_steps.__file__
    model = inference.model_fn(model_dir)
    assert not any(m in sys.modules for m in ("pipeline_steps.model", "pipeline_steps.train")), "pickle needs our code"
    out = {}
    data = inference.input_fn(json.dumps({"titles": ["Registered Nurse", "", "Night Shift Truck Driver"]}).encode(), "application/json")
    out["json"] = inference.output_fn(inference.predict_fn(data, model), "application/json")
    data = inference.input_fn("title,id\\nLine Cook,1\\nElectrician,2\\n", "text/csv")
    out["csv"] = inference.output_fn(inference.predict_fn(data, model), "text/csv")
    print(json.dumps(out))
    """
)


def test_packed_model_serves_from_code_dir_alone(model_dir, tmp_path):
    archive = model_lib.pack_model_dir(model_dir, tmp_path / "output" / "model.tar.gz")
    serving = tmp_path / "opt" / "ml" / "model"
    with tarfile.open(str(archive)) as packed:
        packed.extractall(str(serving))
    assert sorted(p.name for p in serving.iterdir()) == [
        "code", "evaluated", "model.baseline.json", "model.joblib", "model.known_titles.json", "model_info.json"
    ]  # fmt: skip
    # -E ignores PYTHONPATH; the working directory is not the project, so only code/ provides our modules.
    result = subprocess.run(
        [sys.executable, "-E", "-s", "-c", CONTAINER_SCRIPT, str(serving)],
        cwd=str(tmp_path),
        env=fx.subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    body, content_type = out["json"]
    assert content_type == "application/json"
    predictions = json.loads(body)["predictions"]
    assert [p["title"] for p in predictions] == ["Registered Nurse", "", "Night Shift Truck Driver"]
    assert predictions[1]["rejection_reason"] == "empty_title" and predictions[1]["major_group"] is None
    classes = {"15", "29", "35", "47", "53"}
    # A title of the training data from the known-titles table, another from the model: both in the archive.
    assert [p["answered_by"] for p in predictions] == ["known_title", None, "model"]
    assert predictions[0]["major_group"] == "29" and len(predictions[0]["top3"]) == 1
    assert predictions[2]["major_group"] in classes and len(predictions[2]["top3"]) == 3
    body, content_type = out["csv"]
    assert content_type == "text/csv"
    assert body.split("\n")[0] == "title,major_group,major_group_title,confidence,top3,rejection_reason,answered_by"
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["title"] for r in rows] == ["Line Cook", "Electrician"]
    assert all(
        r["major_group"] in classes and json.loads(r["top3"])[0]["major_group"] == r["major_group"] for r in rows
    )


def test_train_runs_from_the_published_training_source(split_dir, tmp_path):
    """The training toolkit extracts the source archive and runs `python train.py <hyperparameters>`
    with the channels and model directory in SM_* variables."""
    from workflow.definition.bundles import TRAINING_ENTRY_POINT, training_tar_bytes

    source = tmp_path / "code"
    source.mkdir()
    (tmp_path / "sourcedir.tar.gz").write_bytes(training_tar_bytes())
    with tarfile.open(str(tmp_path / "sourcedir.tar.gz")) as archive:
        archive.extractall(str(source))
    env = fx.subprocess_env()
    env.update({f"SM_CHANNEL_{name.upper()}": str(split_dir / name) for name in CHANNEL_NAMES})
    env.update(SM_MODEL_DIR=str(tmp_path / "model"))
    result = subprocess.run(
        [
            sys.executable,
            "-E",
            "-s",
            TRAINING_ENTRY_POINT,
            "--model_c",
            "1.0",
            "--char_ngram_max",
            "4",
        ],
        cwd=str(source),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "occupation_validation_macro_f1=" in result.stdout
    info = json.loads((tmp_path / "model" / "model_info.json").read_text())
    assert info["hyperparameters"]["char_ngram_max"] == 4
    assert (tmp_path / "model" / "code" / "pipeline_steps" / "text.py").is_file()
