"""known_titles: a title the training data lists answered from its evidence, any other by the model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline_steps import ranking
from pipeline_steps.known_titles import KNOWN_TITLE, MODEL, KnownTitleClassifier, KnownTitles, load, table_file


class ConstantModel:
    """A fitted model's contract: every title 0.6 for 11, 0.3 for 47, 0.1 for 53."""

    classes_ = np.array(["11", "47", "53"])

    def __init__(self):
        self.asked: list[str] = []

    def predict_proba(self, titles):
        self.asked += list(titles)
        return np.tile([0.6, 0.3, 0.1], (len(titles), 1))


FORKLIFT = KnownTitles.from_rows(
    ["forklift operator", "forklift operator", "forklift operator", "carpenter"],
    ["47", "47", "53", "47"],
    [1, 1, 5, 1],  # two 47 occupations from one source each, 53-7051 from five
)


def test_evidence_is_summed_per_major_group():
    assert FORKLIFT.evidence == {"forklift operator": {"47": 2.0, "53": 5.0}, "carpenter": {"47": 1.0}}
    assert FORKLIFT.best_attested("forklift operator") == {"53"} and FORKLIFT.ambiguous("forklift operator")
    assert not FORKLIFT.ambiguous("carpenter")


def test_known_titles_are_answered_from_their_evidence_and_only_the_others_by_the_model():
    model = ConstantModel()
    classifier = KnownTitleClassifier(model, FORKLIFT)
    probabilities, answered_by = classifier.predict_proba_and_paths(["forklift operator", "night baker", "carpenter"])
    assert answered_by == [KNOWN_TITLE, MODEL, KNOWN_TITLE]
    assert model.asked == ["night baker"]
    np.testing.assert_allclose(probabilities, [[0, 2 / 7, 5 / 7], [0.6, 0.3, 0.1], [0, 1, 0]])
    np.testing.assert_array_equal(classifier.predict_proba(["carpenter"]), [[0, 1, 0]])
    records = ranking.top_k_records(probabilities, [str(c) for c in classifier.classes_])
    # The better-attested group first; groups without evidence are not ranked.
    assert [[(b["major_group"], b["probability"]) for b in best] for best in records] == [
        [("53", round(5 / 7, 6)), ("47", round(2 / 7, 6))],
        [("11", 0.6), ("47", 0.3), ("53", 0.1)],
        [("47", 1.0)],
    ]


def test_an_empty_table_sends_every_title_to_the_model():
    probabilities, answered_by = KnownTitleClassifier(ConstantModel(), KnownTitles({})).predict_proba_and_paths(["a"])
    assert answered_by == [MODEL]


def test_a_table_naming_a_group_the_model_lacks_is_refused():
    with pytest.raises(ValueError, match=r"major groups \['29'\] that the model lacks"):
        KnownTitleClassifier(ConstantModel(), KnownTitles({"nurse": {"29": 1.0}}))


def test_weights_must_be_evidence():
    with pytest.raises(ValueError, match="evidence weight of 'x' under 47 is 0"):
        KnownTitles.from_rows(["x"], ["47"], [0])


def test_the_table_sits_beside_its_model_file_and_reads_back(tmp_path):
    import joblib

    assert table_file("model.joblib") == "model.known_titles.json"
    assert table_file("evaluated/by_title.joblib") == "evaluated/by_title.known_titles.json"
    joblib.dump(ConstantModel(), str(tmp_path / "model.joblib"))
    FORKLIFT.write(tmp_path / table_file())
    assert json.loads((tmp_path / table_file()).read_text())["format"] == "jobclf-known-titles/1"
    assert load(tmp_path).known.evidence == FORKLIFT.evidence
    (tmp_path / table_file()).unlink()  # an archive from before the table: every title to the model
    assert len(load(tmp_path).known) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not a known-titles table"),
        ('{"format": "jobclf-known-titles/9", "titles": {}}', "format 'jobclf-known-titles/9'"),
        ('{"format": "jobclf-known-titles/1", "titles": {"x": {"47": -1}}}', "weight above 0"),
        ('{"format": "jobclf-known-titles/1", "titles": {"x": {}}}', "weight above 0"),
    ],
)
def test_a_damaged_table_is_named(tmp_path, text, message):
    (tmp_path / "t.json").write_text(text)
    with pytest.raises(ValueError, match=message) as error:
        KnownTitles.read(tmp_path / "t.json")
    assert str(tmp_path / "t.json") in str(error.value)
