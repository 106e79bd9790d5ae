"""`jobclf classify` and `jobclf serve`: ask the endpoint (or the local server) for the top 3 major groups of titles.

The request and response are the serving handlers' (pipeline_steps/inference.py): a JSON body
{"titles": [...]}, answered by {"predictions": [record, ...]} in the same order, where a record has title,
major_group, major_group_title, confidence, top3 [{major_group, major_group_title, probability}] and
rejection_reason. The client reads those fields and ignores any other (a model may add some, such as
`answered_by`, which is shown when present).
"""

from __future__ import annotations

import csv
import io
import json
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import click

from jobclf_cli.aws import CliError, Deployment, error_code, one_line
from jobclf_cli.options import env_option, local_option, work_dir_option

JSON = "application/json"
# Titles per request: well under serverless inference's 4 MB payload limit (a title is at most 200 characters)
# and the handlers' MAX_TITLES_PER_REQUEST.
BATCH_SIZE = 1000
LOCAL_URL = "http://127.0.0.1:8080"


# -- reading titles ---------------------------------------------------------------------------------


def read_titles(arguments: Sequence[str], file: BinaryIO | None, stdin: BinaryIO) -> list[str]:
    """Titles from the arguments, else from --file, else standard input (both read as bytes).

    A file is one title a line, unless its first line is a header that names a `title` column: then it is a
    CSV read as a predict input is (pipeline_steps/titles_input.py: csv_dialect's RFC 4180 and UTF-8, the
    header rules, an empty title kept), and a record whose field count is not the header's is refused with
    its row, since its title would be a guess. CliError names the source and what is wrong.
    """
    from pipeline_steps import csv_dialect, titles_input
    from pipeline_steps.errors import InputError

    if arguments:
        if file is not None:
            raise click.UsageError("give titles as arguments or with --file, not both")
        return list(arguments)
    if file is None and stdin.isatty():
        raise click.UsageError("give titles as arguments, with --file, or on standard input")
    source = file or stdin
    name = "standard input" if source is stdin or getattr(source, "name", "-") in ("-", "<stdin>") else source.name
    data = source.read()
    problem = csv_dialect.encoding_problem(data[: titles_input.START_BYTES])
    if problem:
        raise CliError(f"{name} {problem}")
    lines = list(csv_dialect.file_lines(io.BytesIO(data)))
    while lines and not lines[0].strip():
        del lines[0]
    try:
        header = next(csv_dialect.reader(lines[:1]), [])
    except csv.Error:  # a first title with a stray quote: no header
        header = []
    if titles_input.TITLE_COLUMN not in (cell.strip().lower() for cell in header):
        return [line.rstrip("\r\n") for line in lines if line.strip()]
    titles: list[str] = []
    try:
        for batch in titles_input.csv_row_batches(lines, name, batch_rows=BATCH_SIZE):
            for row, problem in enumerate(batch.problems, start=len(titles) + 1):
                if problem:
                    raise CliError(
                        f"{name}, row {row}: {problem}: the record's field count is not the header's "
                        "(quote a title that holds a comma)"
                    )
            titles.extend(batch.titles)
    except InputError as error:
        raise CliError(str(error)) from None
    return titles


def batches(titles: Sequence[str], size: int = BATCH_SIZE) -> Iterator[list[str]]:
    for start in range(0, len(titles), size):
        yield list(titles[start : start + size])


# -- asking -----------------------------------------------------------------------------------------


def _predictions(body: bytes | str, count: int, where: str) -> list[dict[str, Any]]:
    try:
        predictions = json.loads(body)["predictions"]
    except (ValueError, KeyError, TypeError) as error:
        raise CliError(
            f'{where} answered something that is not {{"predictions": [...]}}: {one_line(str(body)[:200])}'
        ) from error
    if not isinstance(predictions, list) or len(predictions) != count:
        raise CliError(
            f"{where} answered {len(predictions) if isinstance(predictions, list) else 'no list of'} "
            f"predictions for {count} titles"
        )
    return predictions


def ask_local(url: str, titles: list[str]) -> list[dict[str, Any]]:
    """POST /invocations of a local server (`jobclf serve --local`)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"{url.rstrip('/')}/invocations",
        data=json.dumps({"titles": titles}).encode("utf-8"),
        headers={"Content-Type": JSON, "Accept": JSON},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 (a URL the user gives, default loopback)
            return _predictions(response.read(), len(titles), url)
    except urllib.error.HTTPError as error:
        raise CliError(f"{url} refused the request ({error.code}): {_error_message(error.read())}") from None
    except (urllib.error.URLError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise CliError(
            f"no server answers at {url} ({reason}): start one with `jobclf serve --local --env <env>`"
        ) from None


def ask_endpoint(deployment: Deployment, titles: list[str]) -> list[dict[str, Any]]:
    """InvokeEndpoint (sagemaker-runtime) on the environment's endpoint."""
    name = deployment.endpoint_name
    try:
        response = deployment.client("sagemaker-runtime").invoke_endpoint(
            EndpointName=name, ContentType=JSON, Accept=JSON, Body=json.dumps({"titles": titles}).encode("utf-8")
        )
    except Exception as error:
        code, message = error_code(error), str(error)
        if code in {"ValidationError", "ValidationException"} and "not found" in message.lower():
            raise CliError(
                f"endpoint {name} not found in {deployment.region}: it is created when a model version is "
                f"approved (`jobclf endpoint show --env {deployment.config.name}`)"
            ) from None
        if code == "ModelError":  # the container answered 4xx or 5xx
            original = getattr(error, "response", {}).get("OriginalMessage") or message
            raise CliError(f"endpoint {name} refused the request: {_error_message(original)}") from None
        raise
    return _predictions(response["Body"].read(), len(titles), f"endpoint {name}")


def _error_message(body: bytes | str) -> str:
    """The handlers' {"error", "error-message"} body as one line, or the body as it is."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else str(body)
    try:
        document = json.loads(text)
        return f"{document['error']}: {document['error-message']}"
    except (ValueError, KeyError, TypeError):
        return one_line(text[:300])


# -- showing ----------------------------------------------------------------------------------------


def render_prediction(prediction: dict[str, Any]) -> list[str]:
    """A title and its top 3 (or its rejection reason); fields other than the contract's are ignored, except
    `answered_by`, which is shown when the model says which path answered."""
    title = prediction.get("title")
    lines = [title if title else '""' if title == "" else "(no title)"]
    if prediction.get("rejection_reason"):
        return lines + [f"  rejected: {prediction['rejection_reason']}"]
    for rank, group in enumerate(prediction.get("top3") or [], start=1):
        lines.append(
            f"  {rank}. {group.get('major_group')}  {group.get('major_group_title', ''):<58} {group.get('probability', 0):.3f}"
        )
    if prediction.get("answered_by"):
        lines.append(f"  (answered by: {prediction['answered_by']})")
    return lines


# -- commands ---------------------------------------------------------------------------------------


@click.command()
@click.argument("titles", nargs=-1)
@click.option(
    "--file",
    "file",
    type=click.File("rb"),
    help="Titles, one per line, or a CSV with a title column, read as a predict input ('-' for standard input).",
)
@click.option(
    "--env",
    "env",
    envvar="JOBCLF_ENV",
    show_envvar=True,
    metavar="NAME",
    help="Environment of config/environments.toml whose endpoint answers (not needed with --local).",
)
@local_option
@click.option(
    "--url", default=LOCAL_URL, show_default=True, help="With --local: the local server (`jobclf serve --local`)."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print each prediction as a JSON line, as the endpoint answered it."
)
def classify(titles, file, env, local, url, as_json) -> None:
    """Classify job titles: the top 3 major groups of each, with probabilities.

    On AWS it calls the environment's endpoint (InvokeEndpoint); with --local, the local server that
    `jobclf serve --local` runs. Titles come from the arguments, from --file, or from standard input.

    \b
    Examples:
      jobclf classify "Registered Nurse" "Truck Driver" --env develop
      jobclf classify --env production --file titles.txt --json
      cut -d, -f2 postings.csv | jobclf classify --local
    """
    if not local and not env:
        raise click.UsageError("give --env (the environment whose endpoint answers), or --local")
    wanted = read_titles(titles, file, sys.stdin.buffer)
    if not wanted:
        raise click.UsageError("no titles to classify")
    deployment = None if local else Deployment(env)
    for batch in batches(wanted):
        predictions = ask_local(url, batch) if local else ask_endpoint(deployment, batch)
        for prediction in predictions:
            click.echo(
                json.dumps(prediction, ensure_ascii=False) if as_json else "\n".join(render_prediction(prediction))
            )


@click.command()
@env_option
@local_option
@work_dir_option
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="The port on 127.0.0.1.")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="Model server workers (default: the image's, one per CPU; serverless endpoints run one).",
)
def serve(env, local, work_dir, port, workers) -> None:
    """Serve the latest approved model of the local registry on http://127.0.0.1:PORT until Ctrl-C.

    The model runs as its endpoint runs it: the scikit-learn image's serving stack (.venv-image), the model
    archive extracted as SageMaker extracts it, the container environment it was registered with. The
    contract is the endpoint's: POST /invocations with JSON or CSV, GET /ping. On AWS the endpoint
    jobclf-<env> serves instead (`jobclf endpoint show`).
    """
    if not local:
        raise click.UsageError(
            "serve runs a local server (--local); on AWS the environment's endpoint serves: "
            "`jobclf endpoint show --env ENV`"
        )
    from config import load_environment
    from pipeline_steps.registry import LocalRegistry
    from workflow.local.serving import ServerFailed, latest_approved_local_model, serve_local_model

    group = load_environment(env).model_package_group_name
    registry = LocalRegistry(Path(work_dir) / "registry.json", str(Path(work_dir) / "s3"))
    model = latest_approved_local_model(registry, group)
    server = serve_local_model(model, Path(work_dir), port=port, workers=workers)
    # SIGTERM (kill, a service manager) stops the server as Ctrl-C does, through the `finally` below.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        server.start()
        server.wait_until_ready()
        click.echo(f"Serving model version {model.version} of group {group} ({model.arn}) at {server.url}")
        click.echo(f'Try: jobclf classify --local --url {server.url} "Registered Nurse"   (Ctrl-C stops)')
        server.process.wait()
        raise CliError(f"the server stopped ({server.process.returncode})")
    except ServerFailed as error:
        raise CliError(str(error)) from None
    except KeyboardInterrupt:
        click.echo("Stopping the server.", err=True)
    finally:
        server.stop()
