"""Serving handlers for the SageMaker scikit-learn container, and the prediction format they share
with the batch `predict` step.

Training copies this file to MODEL_DIR/code/inference.py, next to MODEL_DIR/code/pipeline_steps/
with the modules imported below (train.SERVING_MODULES); the container puts /opt/ml/model/code on
sys.path and runs it with SAGEMAKER_PROGRAM=inference.py. Keep its imports to the standard library,
numpy, joblib and those modules.

Request bodies:
    application/json  {"titles": ["Registered Nurse", ...]} or ["Registered Nurse", ...]
    text/csv          a CSV with a `title` header column, or one title per line
Response (application/json): {"predictions": [record, ...]}; (text/csv): CSV_FIELDS columns, each
cell made safe for spreadsheets by spreadsheet_cell (JSON carries the values as they are).
A request the handlers refuse gets a JSON {"error", "error-message"} body and its RequestError's
status: 415 for an unsupported Content-Type, 406 for an unsupported Accept, 400 for a malformed body.
A record: {"title", "major_group", "major_group_title", "confidence", "top3": [{"major_group",
"major_group_title", "probability"}, ...], "rejection_reason"}; a title that `title_problem`
rejects has null prediction fields, an empty top3 and its rejection_reason.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import unicodedata
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, Optional, Union

import numpy as np

from pipeline_steps.soc import MAJOR_GROUPS
from pipeline_steps.text import checked_title

MODEL_FILE = "model.joblib"
TOP_K = 3
PROBABILITY_DIGITS = 6
JSON = "application/json"
CSV = "text/csv"
CSV_FIELDS = ("title", "major_group", "major_group_title", "confidence", "top3", "rejection_reason")
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


# ---------------------------------------------------------------- shared prediction format


def top_k(probabilities: Sequence[float], classes: Sequence[str], k: int = TOP_K) -> list[dict[str, Any]]:
    """The k most probable major groups, most probable first (ties: lower group code first)."""
    order = sorted(range(len(classes)), key=lambda i: (-float(probabilities[i]), str(classes[i])))[:k]
    return [
        {
            "major_group": str(classes[i]),
            "major_group_title": MAJOR_GROUPS.get(str(classes[i]), ""),
            "probability": round(float(probabilities[i]), PROBABILITY_DIGITS),
        }
        for i in order
    ]


def rejected_record(title: Optional[str], reason: str) -> dict[str, Any]:
    return {
        "title": title,
        "major_group": None,
        "major_group_title": None,
        "confidence": None,
        "top3": [],
        "rejection_reason": reason,
    }


def predicted_record(title: Optional[str], probabilities: Sequence[float], classes: Sequence[str]) -> dict[str, Any]:
    best = top_k(probabilities, classes)
    return {
        "title": title,
        "major_group": best[0]["major_group"],
        "major_group_title": best[0]["major_group_title"],
        "confidence": best[0]["probability"],
        "top3": best,
        "rejection_reason": None,
    }


def classify(model, titles: Sequence[Optional[str]], batch_size: int = 20000) -> list[dict[str, Any]]:
    """One record per title, in order: a prediction, or a rejection for titles title_problem refuses."""
    records: list[Optional[dict[str, Any]]] = [None] * len(titles)
    valid_positions: list[int] = []
    valid_normalized: list[str] = []
    for position, title in enumerate(titles):
        problem, normalized = checked_title(title)
        if problem:
            records[position] = rejected_record(title, problem)
        else:
            valid_positions.append(position)
            valid_normalized.append(normalized)
    classes = [str(c) for c in model.classes_]
    for start in range(0, len(valid_normalized), batch_size):
        probabilities = np.asarray(model.predict_proba(valid_normalized[start : start + batch_size]))
        for offset, best in enumerate(_top_k_rows(probabilities, classes)):
            position = valid_positions[start + offset]
            records[position] = {
                "title": titles[position],
                "major_group": best[0]["major_group"],
                "major_group_title": best[0]["major_group_title"],
                "confidence": best[0]["probability"],
                "top3": best,
                "rejection_reason": None,
            }
    return records  # type: ignore[return-value]


def _top_k_indices(probabilities: np.ndarray, classes: Sequence[str], k: int = TOP_K):
    """(class codes in code order, the k best of each row as indices into them, their probabilities):
    top_k's choice and order (ties: lower code first) for every row at once, one stable numpy sort."""
    # A stable sort of -p over the classes in ascending code order puts ties lower code first.
    by_code = sorted(range(len(classes)), key=lambda i: str(classes[i]))
    ordered = probabilities[:, by_code]
    best = np.argsort(-ordered, axis=1, kind="stable")[:, :k]
    return [str(classes[i]) for i in by_code], best.tolist(), np.take_along_axis(ordered, best, axis=1).tolist()


def _top_k_rows(probabilities: np.ndarray, classes: Sequence[str], k: int = TOP_K) -> list[list[dict[str, Any]]]:
    """top_k of every row at once."""
    if probabilities.shape[0] == 0:
        return []
    codes, best, values = _top_k_indices(probabilities, classes, k)
    titles = [MAJOR_GROUPS.get(code, "") for code in codes]
    return [
        [
            {"major_group": codes[j], "major_group_title": titles[j], "probability": round(p, PROBABILITY_DIGITS)}
            for j, p in zip(row, row_values)
        ]
        for row, row_values in zip(best, values)
    ]


def top_k_columns(probabilities: np.ndarray, classes: Sequence[str], k: int = TOP_K) -> tuple[list, list, list, list]:
    """top_k of every row as CSV columns: (best major group, its title, its probability, the top k as
    the JSON text json.dumps writes for top_k's list). Batch prediction writes millions of rows; this
    skips building a dict per group and serializing it."""
    if probabilities.shape[0] == 0:
        return [], [], [], []
    codes, best, values = _top_k_indices(probabilities, classes, k)
    titles = [MAJOR_GROUPS.get(code, "") for code in codes]
    opening = [
        f'{{"major_group": {json.dumps(code)}, "major_group_title": {json.dumps(title, ensure_ascii=False)}, '
        '"probability": '
        for code, title in zip(codes, titles)
    ]
    rounded = [[round(p, PROBABILITY_DIGITS) for p in row_values] for row_values in values]
    top_json = [
        "[" + ", ".join(opening[j] + repr(p) + "}" for j, p in zip(row, row_values)) + "]"
        for row, row_values in zip(best, rounded)
    ]
    return [codes[row[0]] for row in best], [titles[row[0]] for row in best], [row[0] for row in rounded], top_json


# What makes a spreadsheet run a cell as a formula (OWASP "CSV Injection") when it comes first, after
# any spaces; and "'" itself, so that a cell starting with "'" always means "protected" and the rule
# can be undone exactly.
_FORMULA_STARTS = ("=", "+", "-", "@", "'")
# Characters that act instead of showing: control characters (C0, DEL, C1: ESC and CSI sequences,
# tabs, line breaks) act on terminals and split rows; format characters (direction overrides, zero-width
# spaces, soft hyphens) reorder or hide text, so a cell would read other than it is ("Trojan Source");
# line and paragraph separators break lines; lone surrogates cannot be written as UTF-8.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def spreadsheet_cell(text: str) -> str:
    """`text` as a CSV cell that no spreadsheet runs, no terminal obeys and no viewer shows other than
    it is, recoverable exactly.

    A cell that starts (after spaces) with = + - @ or ', or holds a hidden character
    (_HIDDEN_CATEGORIES) or ";", is written as "'" followed by `text` with each backslash doubled and
    each hidden character and ";" as \\xHH, \\uHHHH or \\UHHHHHHHH; a plain number such as -12 is
    left as it is. The rule and its inverse are in docs/pipeline.md ("The predictions CSV").
    """
    if not _needs_protection(text) or _PLAIN_NUMBER.fullmatch(text):
        return text
    return "'" + "".join(_escaped(character) for character in text)


def _needs_protection(text: str) -> bool:
    if text.lstrip().startswith(_FORMULA_STARTS) or ";" in text:
        return True
    # isprintable() is a fast scan in C; only a text with some unprintable character is scanned again
    # (batch prediction passes millions of cells, top3's JSON among them, through here).
    return not text.isprintable() and any(_hidden(character) for character in text)


def _hidden(character: str) -> bool:
    return unicodedata.category(character) in _HIDDEN_CATEGORIES


def _escaped(character: str) -> str:
    if character == "\\":
        return "\\\\"
    if character != ";" and not _hidden(character):
        return character
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def csv_column(field: str, values: Sequence[Any]) -> list:
    """One column's CSV cells: empty for nulls, top3 lists as JSON text, booleans as true/false, and
    every text through spreadsheet_cell.

    Every cell JobClf writes to a CSV passes through here, column by column (batch prediction
    writes millions of rows; a column at a time keeps that cheap)."""
    if field == "top3":
        cells = [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) if v else "" for v in values]
    elif any(isinstance(v, bool) for v in values):
        cells = ["" if v is None else ("true" if v else "false") if isinstance(v, bool) else v for v in values]
    else:
        cells = ["" if v is None else v for v in values]
    return [spreadsheet_cell(cell) if isinstance(cell, str) else cell for cell in cells]


# ---------------------------------------------------------------- SageMaker handlers


def model_fn(model_dir: str):
    import joblib

    return joblib.load(os.path.join(model_dir, MODEL_FILE))


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


def write_csv(handle, columns: Mapping[str, Sequence[Any]], fields: Sequence[str], header: bool = True) -> None:
    """Write `fields` of equally long `columns` as CSV rows (cells by csv_column) to an open text
    handle, with the header line unless `header` is False. Every CSV that JobClf writes goes through here."""
    writer = csv.writer(handle, lineterminator="\n")
    if header:
        writer.writerow(fields)
    writer.writerows(zip(*(csv_column(field, columns[field]) for field in fields)))


def to_csv(records: Sequence[dict[str, Any]], fields: Sequence[str] = CSV_FIELDS) -> str:
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
