"""Serve a model on this machine as its endpoint would: the local registry's latest approved version, through the
scikit-learn image's serving stack (workflow/local/serving_app.py in .venv-image), on 127.0.0.1.

What SageMaker does with a model package, done here with the local registry's entry: the archive
(model_data_uri) is extracted into <base>/model, and the server runs with the package's container
Environment (SAGEMAKER_PROGRAM, SAGEMAKER_SUBMIT_DIRECTORY, /opt/ml mapped to <base>). `jobclf serve --local`,
tests/runtime and benchmarks/endpoint_load.py start it through `LocalServer`; `jobclf classify --local`
sends it requests. The request/response contract is pipeline_steps/inference.py's (JSON and CSV, 4xx for
requests it refuses).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline_steps.contract import APPROVED
from pipeline_steps.registry import LocalRegistry, RegistryError
from workflow.local.executors import IMAGE_PYTHON
from workflow.local.processes import _die_with_parent, _stop_group

SERVING_APP = Path(__file__).with_name("serving_app.py")
LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 8080  # the port SageMaker's containers serve on
CONTAINER_ROOT = "/opt/ml"
READY_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class LocalModel:
    """A model package of the local registry, as an endpoint serves it."""

    arn: str
    version: int
    archive: Path
    environment: Mapping[str, str]


def latest_approved_local_model(registry: LocalRegistry, group: str) -> LocalModel:
    """The group's last Approved entry (what a predict execution uses too); RegistryError when there is none."""
    approved = [entry for entry in registry.entries(group) if entry.get("approval_status") == APPROVED]
    if not approved:
        raise RegistryError(
            f"local registry {registry.registry_path}: group {group} has no approved model version "
            "(train one with `jobclf executions start --local --use-type train`, or approve one)"
        )
    entry = approved[-1]
    if not entry.get("environment"):
        raise RegistryError(
            f"local registry {registry.registry_path}: version {entry.get('version')} of {group} has no "
            "container environment (it was registered before serving existed): train it again"
        )
    archive = registry.local_path(entry["model_data_uri"])
    if not archive.is_file():
        raise RegistryError(
            f"model archive of version {entry.get('version')} not found: {entry['model_data_uri']} ({archive})"
        )
    return LocalModel(entry["model_package_arn"], int(entry["version"]), archive, dict(entry["environment"]))


def prepare_base_dir(archive: Path, base_dir: Path) -> Path:
    """<base_dir>/model holds the extracted archive, as SageMaker extracts ModelDataUrl into /opt/ml/model."""
    model_dir = base_dir / "model"
    if model_dir.exists():
        shutil.rmtree(model_dir)
    model_dir.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(model_dir, filter="data")
    return base_dir


def server_environment(base_dir: Path, container_environment: Mapping[str, str]) -> dict[str, str]:
    """The server process's environment: the container's, with /opt/ml at `base_dir`, and no Python path of this
    machine (the model's code must import the pipeline_steps its archive carries, as in the image)."""
    environment = {
        name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }
    environment.update(
        {name: value.replace(CONTAINER_ROOT, str(base_dir)) for name, value in container_environment.items()}
    )
    environment.update({"SAGEMAKER_BASE_DIR": str(base_dir), "PYTHONUNBUFFERED": "1"})
    return environment


def free_loopback_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


class ServerFailed(RuntimeError):
    """The server exited or did not answer /ping in time; the message ends with the end of its log."""


class LocalServer:
    """The serving stack in its own process group on 127.0.0.1:`port`; a context manager that stops it on exit."""

    def __init__(
        self,
        base_dir: Path,
        container_environment: Mapping[str, str],
        *,
        port: int = DEFAULT_PORT,
        workers: int | None = None,
        log: Path | None = None,
        image_python: Path = IMAGE_PYTHON,
    ) -> None:
        # Absolute: the server runs in `base_dir`, and the container environment names folders under it.
        self.base_dir, self.port, self.log, self.image_python = base_dir.resolve(), port, log, image_python
        self.environment = server_environment(self.base_dir, container_environment)
        self.workers = workers
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> LocalServer:
        if not self.image_python.is_file():
            raise ServerFailed(f"{self.image_python} is missing: `make setup` makes the image environment")
        command = [str(self.image_python), str(SERVING_APP), "--port", str(self.port)]
        if self.workers:
            command += ["--workers", str(self.workers)]
        output = open(self.log, "ab") if self.log else None  # noqa: SIM115 (the server writes to it until stopped)
        try:
            self.process = subprocess.Popen(
                command,
                cwd=self.base_dir,
                env=self.environment,
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            if output:
                output.close()
        return self

    def wait_until_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Until GET /ping answers 200 (the model is loaded in a worker); ServerFailed if it exits or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise ServerFailed(
                    f"the server exited ({self.process.returncode if self.process else 'not started'})"
                    f"{self._log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=5) as response:  # noqa: S310 (loopback)
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise ServerFailed(f"the server did not answer {self.url}/ping within {timeout:.0f} s{self._log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            _stop_group(self.process.pid)
            self.process.wait()

    def _log_tail(self) -> str:
        if self.log and self.log.is_file():
            lines = self.log.read_text("utf-8", errors="replace").splitlines()
            return ": " + " | ".join(line.strip() for line in lines[-5:])
        return ""

    def __enter__(self) -> LocalServer:
        self.start()
        try:
            self.wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def serve_local_model(model: LocalModel, work_dir: Path, **options) -> LocalServer:
    """A LocalServer (not started) for `model`, with its archive extracted under <work_dir>/serving/."""
    base_dir = prepare_base_dir(model.archive, work_dir / "serving" / f"v{model.version}" / "opt" / "ml")
    return LocalServer(base_dir, model.environment, **options)
