"""model: hyperparameter checks, the plain-sklearn pickle, and model archives."""

from __future__ import annotations

import io
import pickle
import pickletools
import tarfile

import joblib
import pytest
import steps_fixtures as fx

from pipeline_steps import model as model_lib


def test_pickle_holds_only_library_classes(tmp_path):
    titles = ["registered nurse", "staff nurse", "charge nurse", "truck driver", "bus driver", "cdl driver"]
    labels = ["29"] * 3 + ["53"] * 3
    fitted = model_lib.calibrate(model_lib.fit(model_lib.Hyperparameters(), titles, labels), titles, labels)
    # Protocol 2 names every class with a GLOBAL opcode ("module name"); joblib pickles the same classes.
    modules = {
        arg.split(" ")[0] for op, arg, _ in pickletools.genops(pickle.dumps(fitted, protocol=2)) if op.name == "GLOBAL"
    }
    assert any(m.startswith("sklearn.") for m in modules)
    assert not [m for m in modules if m.startswith(("pipeline_steps", "__main__"))]
    path = tmp_path / "m.joblib"
    joblib.dump(fitted, str(path))
    assert list(joblib.load(str(path)).classes_) == ["29", "53"]


def test_c_plus_plus_keeps_its_token():
    pipeline = model_lib.build_pipeline(model_lib.Hyperparameters())
    word = pipeline.named_steps["features"].transformer_list[0][1]
    assert word.build_analyzer()("c++ developer") == ["c++", "developer", "c++ developer"]


def test_hyperparameter_problems_are_listed():
    with pytest.raises(ValueError) as error:
        model_lib.Hyperparameters(model_c=-1, min_df=0, classifier="x")
    assert str(error.value) == (
        "model_c must be from 0.0001 to 10000.0, got -1; min_df must be from 1 to 1000, got 0; "
        "classifier must be one of linearsvc, logreg, got 'x'"
    )


def test_fit_needs_two_groups():
    with pytest.raises(ValueError, match="at least 2"):
        model_lib.fit(model_lib.Hyperparameters(), ["a", "b"], ["15", "15"])


def test_archive_round_trip_and_lookup(tmp_path):
    (tmp_path / "m" / "code").mkdir(parents=True)
    (tmp_path / "m" / "model.joblib").write_bytes(b"model")
    (tmp_path / "m" / "code" / "inference.py").write_text("x = 1\n")
    archive = model_lib.pack_model_dir(tmp_path / "m", tmp_path / "out" / "model.tar.gz")
    with tarfile.open(str(archive)) as packed:
        assert sorted(packed.getnames()) == ["code", "code/inference.py", "model.joblib"]
    assert model_lib.locate_model(tmp_path / "out") == archive
    assert model_lib.locate_model(tmp_path / "m") == tmp_path / "m"
    extracted = model_lib.extract_archive(archive, tmp_path / "x")
    assert (extracted / "code" / "inference.py").read_text() == "x = 1\n"


def test_extract_refuses_paths_outside(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(str(archive), "w:gz") as packed:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 1
        packed.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ValueError, match="outside"):
        model_lib.extract_archive(archive, tmp_path / "dest")
    assert not (tmp_path / "escape.txt").exists()


def test_locate_model_names_the_directory(tmp_path):
    (tmp_path / "other.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="other.txt"):
        model_lib.locate_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        model_lib.locate_model(tmp_path / "missing")


def test_calibration_keeps_the_svcs_ranking_and_the_refit_model_borrows_it():
    """One sigmoid shared by the groups: the most probable group is the SVC's best, for the calibrated
    model and for a model refit on more rows that borrows its calibration."""
    import numpy as np

    rows = fx.etl_rows()
    titles, labels = rows["title_normalized"], rows["major_group"]
    hp = model_lib.Hyperparameters(model_c=0.05)
    part = model_lib.fit(hp, titles[::2], labels[::2])
    calibrated = model_lib.calibrate(part, titles[1::2], labels[1::2])
    refit = model_lib.calibrated_like(model_lib.fit(hp, titles, labels), calibrated)
    probes = titles + ["nurse driver", "cook electrician", "database pilot", "staff", "senior"]
    for model in (calibrated, refit):
        probabilities = model.predict_proba(probes)
        assert np.allclose(probabilities.sum(axis=1), 1.0)
        classifier = model.named_steps["classifier"]
        decisions = classifier.estimator.decision_function(model.named_steps["features"].transform(probes))
        assert (probabilities.argmax(axis=1) == decisions.argmax(axis=1)).all()
    mapping = calibrated.named_steps["classifier"].calibrated_classifiers_[0].calibrators
    assert refit.named_steps["classifier"].calibrated_classifiers_[0].calibrators == mapping
    assert refit.named_steps["classifier"].estimator is not calibrated.named_steps["classifier"].estimator
