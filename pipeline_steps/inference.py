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

import codecs
import csv
import io
import json
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, NamedTuple, Optional, Union

from pipeline_steps import csv_dialect, known_titles
from pipeline_steps.contract import WRONG_FIELD_COUNT
from pipeline_steps.csv_cells import write_csv
from pipeline_steps.ranking import RECORD_FIELDS, classify

JSON = "application/json"
CSV = "text/csv"
# The serving container caps a request at 6 MB; this keeps one request's matrix small anyway.
MAX_TITLES_PER_REQUEST = 100000
# A valid body nests two deep ({"titles": [...]}); room for a client's own extra keys.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKETS = re.compile(r"[\[\]{}]")
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


class RequestTitles(NamedTuple):
    """A request's titles in order, and per title the problem of its CSV record (None: none)."""

    titles: list[Optional[str]]
    problems: list[Optional[str]]


def _media_type(content_type: Optional[str]) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _parameters(content_type: Optional[str]) -> dict[str, str]:
    """The parameters of a Content-Type ("text/csv; charset=latin-1" -> {"charset": "latin-1"})."""
    parameters = {}
    for part in (content_type or "").split(";")[1:]:
        name, _, value = part.partition("=")
        parameters[name.strip().lower()] = value.strip().strip('"')
    return parameters


def _text(request_body, content_type: Optional[str]) -> str:
    """The body as text, decoded by its declared charset (UTF-8 when it declares none); a byte the
    charset cannot decode becomes U+FFFD, which title_problem rejects per title. A charset Python does
    not know is refused (415)."""
    charset = _parameters(content_type).get("charset") or "utf-8"
    try:
        codecs.lookup(charset)
    except LookupError:
        raise UnsupportedContentType(f"unsupported charset {charset!r} in content type {content_type!r}") from None
    if isinstance(request_body, (bytes, bytearray, memoryview)):
        text = bytes(request_body).decode(charset, errors="replace")
    elif isinstance(request_body, str):  # the container decoded it, as UTF-8: a bare text/csv or application/json
        text = request_body
    else:
        raise RequestError(f"unsupported request body of type {type(request_body).__name__}")
    return text[1:] if text.startswith("\ufeff") else text


def _json_depth(text: str) -> int:
    """How deep a JSON text's arrays and objects nest (brackets inside strings do not count)."""
    depth = deepest = 0
    for bracket in _JSON_BRACKETS.findall(_JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _titles_from_json(text: str) -> RequestTitles:
    # A valid body nests two deep ({"titles": [...]}); Python's parser would recurse into a deeper one
    # until it fails, which the container answered with 500.
    depth = _json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise RequestError(f"JSON body nests {depth} levels deep; at most {MAX_JSON_DEPTH}")
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
    return RequestTitles(payload, [None] * len(payload))


def _titles_from_csv(text: str) -> RequestTitles:
    """The titles of a CSV body in csv_dialect's RFC 4180 dialect.

    With a header naming `title` (any case, once): that column of each record; a record with more or
    fewer fields than the header is rejected as wrong_field_count (its fields joined by commas stand for
    its title), and a blank line is no record. Without one: one title per record, its fields joined by
    commas ("Manager, Sales" stays whole; "Director, Operations" quoted is unquoted; a quoted title may
    span lines), and a blank line is an empty title."""
    records: list[list[str]] = []
    try:
        records.extend(csv_dialect.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        raise RequestError(f"CSV body cannot be parsed (record {len(records) + 1}): {error}") from error
    while records and not any(field.strip() for field in records[-1]):  # blank trailing lines
        records.pop()
    if not records:
        return RequestTitles([], [])
    names = [name.strip().lower() for name in records[0]]
    if "title" not in names:
        titles: list[Optional[str]] = [",".join(record) for record in records]
        return RequestTitles(titles, [None] * len(titles))
    if names.count("title") > 1:
        raise RequestError(f"CSV header names the title column {names.count('title')} times: {records[0]}")
    column = names.index("title")
    titles, problems = [], []
    for record in records[1:]:
        if not record:
            continue
        fits = len(record) == len(names)
        titles.append(record[column] if fits else ",".join(record))
        problems.append(None if fits else WRONG_FIELD_COUNT)
    return RequestTitles(titles, problems)


def read_titles(request_body, content_type: str = JSON) -> RequestTitles:
    """The request's titles, in order; a RequestError for a request the handlers refuse."""
    media = _media_type(content_type) or JSON
    if media not in (JSON, CSV):
        raise UnsupportedContentType(f"unsupported content type {content_type!r}; use {JSON} or {CSV}")
    text = _text(request_body, content_type)
    titles, problems = _titles_from_json(text) if media == JSON else _titles_from_csv(text)
    if len(titles) > MAX_TITLES_PER_REQUEST:
        raise RequestError(f"{len(titles)} titles in one request; at most {MAX_TITLES_PER_REQUEST}")
    # JSON's "\\ud800" is valid JSON text but half a UTF-16 pair, which no UTF-8 response can echo (the
    # container answered the whole request with 500): it becomes U+FFFD, as a bad byte does in _text.
    titles = [title if title is None or title.isascii() else _LONE_SURROGATE.sub("\ufffd", title) for title in titles]
    return RequestTitles(titles, problems)


# The container (sagemaker_containers' Transformer) turns anything input_fn, predict_fn or output_fn
# raises into a ClientError, which its Flask worker answers with 500, whatever the exception was. Only a
# response that output_fn returns can carry another status, so a refused request travels from input_fn
# through predict_fn to output_fn as its RequestError.


def input_fn(request_body, content_type: str = JSON) -> Union[RequestTitles, RequestError]:
    """The request's titles, in order, or the RequestError that refuses the request."""
    try:
        return read_titles(request_body, content_type)
    except RequestError as refusal:
        return refusal


def predict_fn(
    data: Union[RequestTitles, Sequence[Optional[str]], RequestError], model
) -> Union[list[dict[str, Any]], RequestError]:
    if isinstance(data, RequestError):
        return data
    if isinstance(data, RequestTitles):
        return classify(model, data.titles, data.problems)
    return classify(model, list(data))


def _quality(parameters: dict[str, str]) -> Optional[float]:
    """A media range's q (RFC 9110 section 12.4.2: 0 to 1, default 1); None when it is not a number there."""
    try:
        q = float(parameters.get("q", "1"))
    except ValueError:
        return None
    return q if 0.0 <= q <= 1.0 else None


def _response_type(accept: Optional[str]) -> str:
    """The response type an Accept header prefers (RFC 9110 section 12.5.1): for JSON and CSV, the q of
    the most specific media range that matches it (type/subtype over type/* over */*); the higher q
    wins, a tie goes to the type whose range comes first (JSON for */*), and q=0 means "not this one".
    JSON for no Accept."""
    if not (accept or "").strip():
        return JSON
    ranges = []
    for position, part in enumerate(accept.split(",")):
        media, q = _media_type(part), _quality(_parameters(part))
        if media and q is not None:
            ranges.append((media, q, position))
    offers = []
    for preference, offered in enumerate((JSON, CSV)):
        kind = offered.split("/")[0]
        for pattern in (offered, f"{kind}/*", "*/*"):  # the most specific range that matches decides
            matching = [(q, position) for media, q, position in ranges if media == pattern]
            if matching:
                q, position = max(matching, key=lambda found: found[0])
                if q > 0:
                    offers.append((-q, position, preference, offered))
                break
    if not offers:
        raise UnsupportedAccept(f"unsupported Accept type {accept!r}; use {JSON} or {CSV}")
    return min(offers)[3]


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
