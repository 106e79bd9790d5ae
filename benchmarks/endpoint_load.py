"""Load test of the local server on loopback: latency percentiles and errors of N requests at concurrency C.

    .venv/bin/python benchmarks/endpoint_load.py [--work-dir .work/local] [--requests 10000] [--concurrency 16]
        [--titles-per-request 1 10] [--workers N] [--onet-dir DIR] [--known-share 0.5]

Serves the latest approved model of the local registry in --work-dir (train one first: `make run`, or
`python -m workflow.local --use-type train ...`) exactly as `jobclf serve --local` does
(workflow/local/serving.py: the scikit-learn image's serving stack behind gunicorn with gevent workers,
in .venv-image, on 127.0.0.1), then sends it --requests POST /invocations from --concurrency threads,
each with its own keep-alive connection, JSON bodies of --titles-per-request titles drawn with a fixed seed:
--known-share of them titles O*NET lists (answered from their evidence), the rest titles it does not (the
model's path), the same mix as benchmarks/predict_scale.py (examples/titles.csv when there are no O*NET files). 200 warm-up
requests come first and are not counted. A request is an error when it is not a 200 whose predictions
match its titles one for one.

It prints, per size: wall time, requests/s, titles/s, latency p50, p90, p99 and max (client side, the
full HTTP round trip), errors, and the server's resident memory at the end (gunicorn's master and workers
together, from /proc). A benchmark, not a test: nothing fails on a slow machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from predict_scale import DEFAULT_ONET, DEFAULT_UNLISTED, onet_titles, unlisted_titles  # noqa: E402

from config import load_environment  # noqa: E402
from pipeline_steps.registry import LocalRegistry  # noqa: E402
from workflow.local.serving import LOOPBACK, free_loopback_port, latest_approved_local_model, serve_local_model  # noqa: E402

WARM_UP_REQUESTS = 200
EXAMPLE_TITLES = ROOT / "examples" / "titles.csv"


def title_pools(onet_dir: Path) -> tuple[list[str], list[str]]:
    """(titles O*NET lists, titles it does not); the example titles for both without the O*NET files."""
    if (onet_dir / "Alternate Titles.xlsx").is_file():
        known = onet_titles(onet_dir)
        return known, unlisted_titles(known, DEFAULT_UNLISTED)
    import csv

    with EXAMPLE_TITLES.open(newline="", encoding="utf-8") as handle:
        examples = [row["title"] for row in csv.DictReader(handle)]
    return examples, examples


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    index = max(0, min(len(sorted_values) - 1, int(round(share * len(sorted_values) + 0.5)) - 1))
    return sorted_values[index]


def server_rss_mib(pid: int) -> float:
    """Resident memory of the server's process group (gunicorn's master and its workers)."""
    total_kib = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if os.getpgid(int(status.parent.name)) != pid:
                continue
            text = status.read_text()
        except (OSError, ProcessLookupError):
            continue
        for line in text.splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
    return total_kib / 1024


class Load:
    """`requests` POSTs from `concurrency` threads, one keep-alive connection per thread."""

    def __init__(self, port: int, bodies: list[bytes], counts: list[int]) -> None:
        self.port, self.bodies, self.counts = port, bodies, counts
        self.local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        if not hasattr(self.local, "connection"):
            self.local.connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=120)
        return self.local.connection

    def send(self, index: int) -> tuple[float, str | None]:
        """(seconds, None) for a good answer, (seconds, why) for an error."""
        body, count = self.bodies[index % len(self.bodies)], self.counts[index % len(self.counts)]
        started = time.perf_counter()
        try:
            connection = self._connection()
            connection.request(
                "POST",
                "/invocations",
                body=body,
                headers={"Content-Type": "application/json", "Accept": "application/json"},
            )
            response = connection.getresponse()
            payload = response.read()
            seconds = time.perf_counter() - started
            if response.status != 200:
                return seconds, f"HTTP {response.status}"
            if len(json.loads(payload)["predictions"]) != count:
                return seconds, "predictions do not match the titles"
            return seconds, None
        except (OSError, http.client.HTTPException, ValueError, KeyError) as error:
            self.local.__dict__.pop("connection", None)
            return time.perf_counter() - started, type(error).__name__

    def run(self, requests: int, concurrency: int, offset: int = 0) -> tuple[float, list[float], dict[str, int]]:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            results = list(pool.map(self.send, range(offset, offset + requests)))
        wall = time.perf_counter() - started
        errors: dict[str, int] = {}
        for _, why in results:
            if why:
                errors[why] = errors.get(why, 0) + 1
        return wall, sorted(seconds for seconds, _ in results), errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=ROOT / ".work" / "local")
    parser.add_argument("--env", default="develop")
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--titles-per-request", type=int, nargs="+", default=[1])
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: the image's, one per CPU)")
    parser.add_argument("--onet-dir", type=Path, default=DEFAULT_ONET)
    parser.add_argument("--known-share", type=float, default=0.5, help="share of titles O*NET lists")
    options = parser.parse_args()

    group = load_environment(options.env).model_package_group_name
    model = latest_approved_local_model(
        LocalRegistry(options.work_dir / "registry.json", str(options.work_dir / "s3")), group
    )
    known, unlisted = title_pools(options.onet_dir)
    rng = random.Random(0)
    log = options.work_dir / "serving" / "endpoint_load.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    server = serve_local_model(model, options.work_dir, port=free_loopback_port(), workers=options.workers, log=log)
    print(
        f"Model version {model.version} of {group} ({model.archive}); titles drawn {options.known_share:.0%} from "
        f"{len(known):,} O*NET lists and the rest from {len(unlisted):,} it does not"
    )
    print(f"Server log: {log}")
    rows = []
    with server:
        for size in options.titles_per_request:
            batches = [
                [rng.choice(known if rng.random() < options.known_share else unlisted) for _ in range(size)]
                for _ in range(1000)
            ]
            load = Load(
                server.port, [json.dumps({"titles": batch}).encode("utf-8") for batch in batches], [size] * len(batches)
            )
            load.run(WARM_UP_REQUESTS, options.concurrency)
            wall, latencies, errors = load.run(options.requests, options.concurrency, offset=WARM_UP_REQUESTS)
            ms = [seconds * 1000 for seconds in latencies]
            rows.append(
                [
                    f"{options.requests:,}",
                    str(options.concurrency),
                    str(size),
                    f"{wall:.1f}",
                    f"{options.requests / wall:,.0f}",
                    f"{options.requests * size / wall:,.0f}",
                    f"{percentile(ms, 0.50):.1f}",
                    f"{percentile(ms, 0.90):.1f}",
                    f"{percentile(ms, 0.99):.1f}",
                    f"{ms[-1]:.1f}",
                    f"{statistics.fmean(ms):.1f}",
                    str(sum(errors.values())) + (f" {errors}" if errors else ""),
                    f"{server_rss_mib(server.process.pid):.0f}",
                ]
            )
    headers = [
        "requests",
        "concurrency",
        "titles/request",
        "wall s",
        "requests/s",
        "titles/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "mean ms",
        "errors",
        "server RSS MiB",
    ]
    print()
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---:" for _ in headers) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    workers = options.workers or "the image's default (one per CPU)"
    load_average = Path("/proc/loadavg").read_text().split()[0]
    print(f"\nworkers: {workers}; client and server on the same machine (load average at the end: {load_average})")


if __name__ == "__main__":
    main()
