"""The Train step of the synthesized definition runs through the real SageMaker training toolkit.

The training source archive synth ships (workflow/definition/bundles.py) is the submit directory; the
hyperparameters are the definition's, evaluated with the parameters' defaults, and the toolkit
(sagemaker-training 4.8.0 in .venv-image, as in the scikit-learn 1.2-1 image) turns them into train.py's
command line. A hyperparameter train.py does not accept fails the job as it fails in the cloud: a
one-letter name, for one, arrives as `-c 0.3` and train.py exits with "unrecognized arguments".

What it cannot prove: the image's own training module (sagemaker_sklearn_container.training, not on
PyPI) is not installed, so the toolkit runs its default entry point, which makes the same
entry_point.run call with the same arguments; and the /opt/ml tree is laid out by the local run.
"""

from __future__ import annotations

import json
import tarfile

from image_jobs import ImageJobs


def user_hyperparameters(arguments: dict) -> dict[str, str]:
    return {name: value for name, value in arguments["HyperParameters"].items() if not name.startswith("sagemaker_")}


def decoded(value: str):
    """A hyperparameter's value as train.py should see it: JSON where it parses ("0.3" -> 0.3), else the text."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def test_the_toolkit_trains_the_shipped_source_with_the_definitions_hyperparameters(image_jobs: ImageJobs) -> None:
    properties = image_jobs.succeeded("Train")
    hyperparameters = user_hyperparameters(image_jobs.arguments["Train"])
    assert "model_c" in hyperparameters

    log = image_jobs.job.sandbox("Train").joinpath("log.txt").read_text(encoding="utf-8")
    invoked = log.split("Invoking script with the following command:", 1)[1].strip().splitlines()[0].split()
    assert invoked[1] == json.loads(image_jobs.arguments["Train"]["HyperParameters"]["sagemaker_program"])
    arguments = dict(zip(invoked[2::2], invoked[3::2], strict=True))
    assert arguments == {f"--{name}": value for name, value in hyperparameters.items()}

    artifact = image_jobs.path(properties["ModelArtifacts"]["S3ModelArtifacts"])
    with tarfile.open(artifact) as archive:
        names = set(archive.getnames())
        info = json.load(archive.extractfile("model_info.json"))
    assert {"model.joblib", "model_info.json", "code/inference.py"} <= names
    # One job writes the served model and the two held-out models Evaluate scores.
    assert {"evaluated/by_occupation.joblib", "evaluated/by_title.joblib"} <= names
    assert {name: decoded(value) for name, value in hyperparameters.items()}.items() <= info["hyperparameters"].items()
    assert (info["python_version"][:4], info["sklearn_version"]) == ("3.9.", "1.2.1")
