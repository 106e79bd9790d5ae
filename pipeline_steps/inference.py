"""Serving handlers for the SageMaker scikit-learn container.

Training copies this file to MODEL_DIR/code/inference.py, next to MODEL_DIR/code/pipeline_steps/
with the modules imported below (train.SERVING_MODULES); the container puts /opt/ml/model/code on
sys.path and runs it with SAGEMAKER_PROGRAM=inference.py. Keep its imports to the standard library,
numpy, joblib and those modules.

Request bodies:
    application/json  {"titles": ["Registered Nurse", ...]} or ["Registered Nurse", ...]
    text/csv          a CSV with a `title` header column, or one title per line
Response (application/json): {"predictions": [record, ...]}; (text/csv): RECORD_FIELDS columns, each
cell made safe for spreadsheets by csv_cells.write_csv (JSON carries the values as they are).
A request the handlers refuse gets a JSON {"error", "error-message"} body and its RequestError's
status: 415 for an unsupported Content-Type, 406 for an unsupported Accept, 400 for a malformed body.
A record is ranking.py's.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, Optional, Union

from pipeline_steps import known_titles
from pipeline_steps.csv_cells import write_csv
from pipeline_steps.ranking import RECORD_FIELDS, classify

JSON = "application/json"
CSV = "text/csv"
# The serving container caps a request at 6 MB; this keeps one request's matrix small anyway.
MAX_TITLES_PER_REQUEST = 100000
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class RequestError(ValueError):
    """A request the handlers refuse, with the HTTP status the client gets for it."""

    status_code = HTTPStatus.BAD_REQUEST


class UnsupportedContentType(RequestError):
    status_code = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


class UnsupportedAccept(RequestError):
    status_code = HTTPStatus.NOT_ACCEPTABLE


def model_fn(model_dir: str) -> known_titles.KnownTitleClassifier:
    """model.joblib (a plain scikit-learn pipeline) behind the known titles of model.known_titles.json."""
    return known_titles.load(model_dir)


def _media_type(content_type: Optional[str]) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _text(request_body) -> str:
    """Bytes become text as UTF-8; a bad byte becomes U+FFFD, which title_problem rejects per title."""
    if isinstance(request_body, (bytes, bytearray, memoryview)):
        text = bytes(request_body).decode("utf-8", errors="replace")
    elif isinstance(request_body, str):
        text = request_body
    else:
        raise RequestError(f"unsupported request body of type {type(request_body).__name__}")
    return text[1:] if text.startswith("\ufeff") else text


def _titles_from_json(text: str) -> list[Optional[str]]:
    try:
        payload = json.loads(text)
    except ValueError as error:
        raise RequestError(f"request body is not valid JSON: {error}") from error
    if isinstance(payload, dict):
        if "titles" not in payload:
            raise RequestError(f'JSON object needs a "titles" list; got keys {sorted(payload)}')
        payload = payload["titles"]
    if not isinstance(payload, list):
        raise RequestError('JSON body must be {"titles": [...]} or a list of strings')
    for index, title in enumerate(payload):
        if title is not None and not isinstance(title, str):
            raise RequestError(f"titles[{index}] is {type(title).__name__}, expected a string")
    return payload


def _titles_from_csv(text: str) -> list[Optional[str]]:
    text = text.replace("\x00", "\ufffd")  # Python 3.9's csv refuses NUL; make it a per-title rejection
    lines = _LINE_BREAK.split(text)
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        return []
    try:
        header = next(csv.reader([lines[0]]))
    except csv.Error:
        header = []
    names = [name.strip().lower() for name in header]
    if "title" in names:
        column = names.index("title")
        titles: list[Optional[str]] = []
        try:
            for row in csv.reader(io.StringIO(text, newline="")):
                titles.append(row[column] if column < len(row) else None)
        except csv.Error as error:
            raise RequestError(f"CSV body cannot be parsed: {error}") from error
        titles = titles[1:]  # the header
        while titles and titles[-1] is None:  # blank trailing lines
            titles.pop()
        return titles
    # No header: one title per line. A line that is one quoted CSV field is unquoted; anything else
    # (including commas, as in "Manager, Sales") is the title as written.
    titles = []
    for line in lines:
        if line.startswith('"'):
            try:
                fields = next(csv.reader([line]))
            except csv.Error:
                fields = []
            titles.append(fields[0] if len(fields) == 1 else line)
        else:
            titles.append(line)
    return titles


def read_titles(request_body, content_type: str = JSON) -> list[Optional[str]]:
    """The request's titles, in order; a RequestError for a request the handlers refuse."""
    media = _media_type(content_type) or JSON
    text = _text(request_body)
    if media == JSON:
        titles = _titles_from_json(text)
    elif media == CSV:
        titles = _titles_from_csv(text)
    else:
        raise UnsupportedContentType(f"unsupported content type {content_type!r}; use {JSON} or {CSV}")
    if len(titles) > MAX_TITLES_PER_REQUEST:
        raise RequestError(f"{len(titles)} titles in one request; at most {MAX_TITLES_PER_REQUEST}")
    # JSON's "\\ud800" is valid JSON text but half a UTF-16 pair, which no UTF-8 response can echo (the
    # container answered the whole request with 500): it becomes U+FFFD, as a bad byte does in _text.
    return [title if title is None or title.isascii() else _LONE_SURROGATE.sub("\ufffd", title) for title in titles]


# The container (sagemaker_containers' Transformer) turns anything input_fn, predict_fn or output_fn
# raises into a ClientError, which its Flask worker answers with 500, whatever the exception was. Only a
# response that output_fn returns can carry another status, so a refused request travels from input_fn
# through predict_fn to output_fn as its RequestError.


def input_fn(request_body, content_type: str = JSON) -> Union[list[Optional[str]], RequestError]:
    """The request's titles, in order, or the RequestError that refuses the request."""
    try:
        return read_titles(request_body, content_type)
    except RequestError as refusal:
        return refusal


def predict_fn(data: Union[Sequence[Optional[str]], RequestError], model) -> Union[list[dict[str, Any]], RequestError]:
    if isinstance(data, RequestError):
        return data
    return classify(model, list(data))


def _response_type(accept: Optional[str]) -> str:
    """The first supported type of an Accept header; JSON for none or */*."""
    for part in (accept or "").split(","):
        media = _media_type(part)
        if media in (JSON, CSV):
            return media
        if media in ("", "*/*", "application/*"):
            return JSON
        if media == "text/*":
            return CSV
    raise UnsupportedAccept(f"unsupported Accept type {accept!r}; use {JSON} or {CSV}")


def to_csv(records: Sequence[dict[str, Any]], fields: Sequence[str] = RECORD_FIELDS) -> str:
    """Records as CSV text with a header."""
    buffer = io.StringIO()
    write_csv(buffer, {field: [record.get(field) for record in records] for field in fields}, fields)
    return buffer.getvalue()


def refusal_response(refusal: RequestError):
    """The container's response for a refused request: its status, and a JSON body shaped like the
    container's own error responses. Outside the container (no sagemaker_containers) the refusal is
    raised instead, carrying the same status_code."""
    try:
        from sagemaker_containers.beta.framework import worker
    except ImportError:
        raise refusal from None
    body = json.dumps({"error": type(refusal).__name__, "error-message": str(refusal)})
    return worker.Response(response=body, status=int(refusal.status_code), mimetype=JSON)


def output_fn(prediction: Union[Sequence[dict[str, Any]], RequestError], accept: Optional[str] = JSON):
    """(body, content type), which the container turns into a 200 response; or refusal_response."""
    try:
        if isinstance(prediction, RequestError):
            raise prediction
        media = _response_type(accept)
    except RequestError as refusal:
        return refusal_response(refusal)
    if media == CSV:
        return to_csv(prediction), CSV
    return json.dumps({"predictions": list(prediction)}, ensure_ascii=False), JSON
