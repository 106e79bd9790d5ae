"""The trained model.tar.gz, served through the scikit-learn image's serving stack as `jobclf serve --local` serves
it (workflow/local/serving.py starts workflow/local/serving_app.py in .venv-image: sagemaker-containers
2.8.6.post2's transformer and Flask worker, as the image's sagemaker_sklearn_container.serving builds them,
behind gunicorn with gevent workers as the image starts it), answers JSON and CSV requests over HTTP on
loopback and refuses bad ones with a 4xx.

What it cannot prove: the image's nginx in front of gunicorn (it only proxies), and its pip install of the
model's code folder (the module is imported from the same folder instead).
"""

from __future__ import annotations

import csv
import http.client
import io
import json
from pathlib import Path

import pytest
from image_jobs import ImageJobs

from workflow.local.serving import LocalServer, free_loopback_port, prepare_base_dir

JSON, CSV = "application/json", "text/csv"
REQUESTS = {
    "json": {
        "content_type": JSON,
        "accept": JSON,
        "body": json.dumps({"titles": ["Registered Nurse", "", "Truck Driver"]}),
    },
    "csv": {"content_type": CSV, "accept": CSV, "body": "id,title\n1,Registered Nurse\n2,Software Engineer\n"},
    "json list, any accept": {"content_type": JSON, "accept": "*/*", "body": json.dumps(["Line Cook"])},
    "unsupported content type": {"content_type": "application/x-protobuf", "accept": JSON, "body": "Nurse"},
    "unsupported accept": {"content_type": JSON, "accept": "application/x-protobuf", "body": json.dumps(["Nurse"])},
    "malformed json": {"content_type": JSON, "accept": JSON, "body": "{not json"},
    "json without titles": {"content_type": JSON, "accept": JSON, "body": json.dumps({"title": "Nurse"})},
    # Valid JSON text whose escape is half a UTF-16 pair: no UTF-8 response can echo that title as it is.
    "json lone surrogate": {"content_type": JSON, "accept": JSON, "body": '{"titles": ["\\ud800Nurse", "Line Cook"]}'},
    "csv lone surrogate": {"content_type": JSON, "accept": CSV, "body": '["\\udfffNurse", "Line Cook"]'},
    "csv hidden characters": {
        "content_type": CSV,
        "accept": CSV,
        "body": "title\nRegistered\u200b Nurse\n\u202eNurse\n",
    },
    # The handlers' contract (issue 25): each of these got a 500 or a wrong answer before.
    "deeply nested json": {"content_type": JSON, "accept": JSON, "body": "[" * 100_000 + "]" * 100_000},
    "csv latin-1": {
        "content_type": f"{CSV}; charset=latin-1",
        "accept": JSON,
        "body": "title\nSaut\xe9 Cook\n",
        "encoding": "latin-1",
    },
    "csv unknown charset": {"content_type": f"{CSV}; charset=klingon", "accept": JSON, "body": "title\nCook\n"},
    "csv comma under a header": {
        "content_type": CSV,
        "accept": JSON,
        "body": "id,title\n1,Manager, Sales\n2,Line Cook\n",
    },
    "csv quoted title over two lines": {"content_type": CSV, "accept": JSON, "body": '"Line\nCook"\nElectrician\n'},
    "accept json q=0": {
        "content_type": JSON,
        "accept": "application/json;q=0, text/csv",
        "body": json.dumps(["Line Cook"]),
    },
    "accept nothing we have": {
        "content_type": JSON,
        "accept": "application/json;q=0",
        "body": json.dumps(["Line Cook"]),
    },
    # A title the training data lists, and one it does not.
    "known and unknown": {
        "content_type": JSON,
        "accept": CSV,
        "body": json.dumps(["Registered Nurse", "Night Shift Registered Nurse Supervisor"]),
    },
}


def post(port: int, request: dict) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": request["content_type"]}
    if request.get("accept"):
        headers["Accept"] = request["accept"]
    connection.request(
        "POST", "/invocations", body=request["body"].encode(request.get("encoding", "utf-8")), headers=headers
    )
    response = connection.getresponse()
    answer = {
        "status": response.status,
        "content_type": response.getheader("Content-Type"),
        "body": response.read().decode("utf-8"),
    }
    connection.close()
    return answer


@pytest.fixture(scope="module")
def answers(image_jobs: ImageJobs, image_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    model_uri = image_jobs.succeeded("Train")["ModelArtifacts"]["S3ModelArtifacts"]
    base_dir = prepare_base_dir(image_jobs.path(model_uri), tmp_path_factory.mktemp("endpoint") / "opt" / "ml")
    [container] = image_jobs.arguments["RegisterModel-RegisterModel"]["InferenceSpecification"]["Containers"]
    log = base_dir.parent / "server.log"
    with LocalServer(
        base_dir, container["Environment"], port=free_loopback_port(), workers=1, log=log, image_python=image_python
    ) as server:
        answered = {name: post(server.port, request) for name, request in REQUESTS.items()}
    return {**answered, "log": {"port": server.port, "text": log.read_text("utf-8", errors="replace")}}


def test_the_server_listens_on_loopback_only_with_the_images_gevent_workers(answers: dict[str, dict]) -> None:
    log = answers["log"]["text"]
    assert f"Listening at: http://127.0.0.1:{answers['log']['port']} " in log
    assert "Using worker: gevent" in log


def test_json_request_gets_a_prediction_per_title(answers: dict[str, dict]) -> None:
    answer = answers["json"]
    assert (answer["status"], answer["content_type"]) == (200, JSON)
    predictions = json.loads(answer["body"])["predictions"]
    assert [p["title"] for p in predictions] == ["Registered Nurse", "", "Truck Driver"]
    assert predictions[0]["major_group"] == "29" and predictions[2]["major_group"] == "53"
    assert predictions[1]["rejection_reason"] == "empty_title" and predictions[1]["top3"] == []
    assert [p["answered_by"] for p in predictions] == ["known_title", None, "known_title"]
    assert json.loads(answers["json list, any accept"]["body"])["predictions"][0]["major_group"] == "35"


def test_csv_request_gets_csv_rows_in_order(answers: dict[str, dict]) -> None:
    answer = answers["csv"]
    assert answer["status"] == 200 and answer["content_type"].startswith(CSV)
    rows = list(csv.DictReader(io.StringIO(answer["body"])))
    assert [(r["title"], r["major_group"]) for r in rows] == [("Registered Nurse", "29"), ("Software Engineer", "15")]


@pytest.mark.parametrize(
    ("request_name", "status", "error"),
    [
        ("unsupported content type", 415, "UnsupportedContentType"),
        ("unsupported accept", 406, "UnsupportedAccept"),
        ("malformed json", 400, "RequestError"),
        ("json without titles", 400, "RequestError"),
        ("deeply nested json", 400, "RequestError"),
        ("csv unknown charset", 415, "UnsupportedContentType"),
        ("accept nothing we have", 406, "UnsupportedAccept"),
    ],
)
def test_bad_requests_get_a_4xx_with_the_reason(
    answers: dict[str, dict], request_name: str, status: int, error: str
) -> None:
    answer = answers[request_name]
    assert (answer["status"], answer["content_type"]) == (status, JSON), answer["body"][:300]
    assert json.loads(answer["body"])["error"] == error


@pytest.mark.parametrize("request_name", ["json lone surrogate", "csv lone surrogate"])
def test_a_title_with_a_lone_surrogate_is_undecodable_and_the_others_are_answered(
    answers: dict[str, dict], request_name: str
) -> None:
    answer = answers[request_name]
    assert answer["status"] == 200, answer["body"][:300]
    if answer["content_type"] == JSON:
        rows = json.loads(answer["body"])["predictions"]
    else:
        rows = list(csv.DictReader(io.StringIO(answer["body"])))
    reasons = [(row["title"], row["rejection_reason"] or "") for row in rows]  # JSON's null is CSV's empty cell
    assert reasons == [("\ufffdNurse", "undecodable_title"), ("Line Cook", "")]


def test_csv_answers_escape_characters_that_hide_or_reorder_text(answers: dict[str, dict]) -> None:
    answer = answers["csv hidden characters"]
    assert answer["status"] == 200, answer["body"][:300]
    rows = list(csv.DictReader(io.StringIO(answer["body"])))
    assert [(row["title"], row["major_group"]) for row in rows] == [
        ("'Registered\\u200b Nurse", "29"),
        ("'\\u202eNurse", "29"),
    ]


def test_answers_say_which_path_answered(answers: dict[str, dict]) -> None:
    answer = answers["known and unknown"]
    assert answer["status"] == 200 and answer["content_type"].startswith(CSV)
    rows = list(csv.DictReader(io.StringIO(answer["body"])))
    assert [(row["major_group"], row["answered_by"]) for row in rows] == [("29", "known_title"), ("29", "model")]
    assert json.loads(rows[0]["top3"]) == [
        {"major_group": "29", "major_group_title": rows[0]["major_group_title"], "probability": 1.0}
    ]
    assert len(json.loads(rows[1]["top3"])) == 3


def test_the_declared_charset_decodes_the_body(answers: dict[str, dict]) -> None:
    answer = answers["csv latin-1"]
    assert answer["status"] == 200, answer["body"][:300]
    assert [(p["title"], p["rejection_reason"]) for p in json.loads(answer["body"])["predictions"]] == [
        ("Saut\xe9 Cook", None)
    ]


def test_csv_bodies_are_read_in_the_rfc_4180_dialect(answers: dict[str, dict]) -> None:
    cut = json.loads(answers["csv comma under a header"]["body"])["predictions"]
    assert [(p["title"], p["major_group"], p["rejection_reason"]) for p in cut] == [
        ("1,Manager, Sales", None, "wrong_field_count"),  # not "Manager"
        ("Line Cook", "35", None),
    ]
    spanning = json.loads(answers["csv quoted title over two lines"]["body"])["predictions"]
    assert [p["title"] for p in spanning] == ["Line\nCook", "Electrician"]


def test_accept_q_values_count(answers: dict[str, dict]) -> None:
    answer = answers["accept json q=0"]
    assert (answer["status"], answer["content_type"].split(";")[0]) == (200, CSV), answer["body"][:300]
