"""The step processes of a local run: each in its own process group, recorded in the work dir, stopped together.

A step (spark-submit and its JVM and Python workers, or a training job and the script it starts)
is a tree of processes. Each step's tree gets its own process group, so that a signal to the run
reaches the whole tree, and every group is recorded in the work dir while it runs: if the run
itself is killed (SIGKILL cannot be forwarded), the next run in that work dir stops what is left.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

RUNNING_STEPS_FILE = ".running-steps"
# Lets `clean_orphans` tell a recorded group from an unrelated one that reuses its number.
WORK_DIR_MARKER = "JOBCLF_LOCAL_WORK_DIR"
STOP_GRACE_SECONDS = 5.0
_PR_SET_PDEATHSIG = 1


class Interrupted(Exception):
    """The local run got a signal; its step processes have been stopped."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, get SIGTERM when the run dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_group(group: int) -> None:
    """SIGTERM the group, then SIGKILL what is left after a grace period."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while _group_alive(group) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


def _belongs_to(group: int, work_dir: Path) -> bool:
    """Whether a process of `group` was started for `work_dir` (where /proc shows environments)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    marker = f"{WORK_DIR_MARKER}={work_dir}".encode()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) == group and marker in (entry / "environ").read_bytes().split(b"\0"):
                return True
        except (OSError, ProcessLookupError):
            continue
    return False


class StepProcesses:
    """Runs step commands for one work dir and keeps track of their process groups."""

    def __init__(self, work_dir: Path):
        self.work_dir = work_dir
        self._record = work_dir / RUNNING_STEPS_FILE
        self._running: set[int] = set()

    def clean_orphans(self) -> int:
        """Stop the process groups an earlier, killed run left running in this work dir; how many there were."""
        if not self._record.exists():
            return 0
        groups = {int(line) for line in self._record.read_text().split() if line.isdigit()}
        orphans = [g for g in groups if _group_alive(g) and _belongs_to(g, self.work_dir)]
        for group in orphans:
            _stop_group(group)
        self._record.unlink()
        return len(orphans)

    def env(self, base: Mapping[str, str]) -> dict[str, str]:
        return {**base, WORK_DIR_MARKER: str(self.work_dir)}

    def run(self, command: list[str], cwd: Path, env: Mapping[str, str], log: Path) -> int:
        """Run `command` in a new process group, output to `log`; its return code. Nothing of it outlives the call."""
        return self.run_together([(command, cwd, env, log)])[0]

    def run_together(self, commands: list[tuple[list[str], Path, Mapping[str, str], Path]]) -> list[int]:
        """Run (command, cwd, env, log) side by side, as the instances of one processing job run, each in
        its own process group with its output to its log; their return codes. Nothing of them outlives the call."""
        processes: list[subprocess.Popen] = []
        try:
            for command, cwd, env, log in commands:
                with log.open("a", encoding="utf-8") as sink:
                    process = subprocess.Popen(
                        command,
                        cwd=cwd,
                        env=self.env(env),
                        stdout=sink,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        preexec_fn=_die_with_parent,  # noqa: PLW1509 (the run is single-threaded)
                    )
                processes.append(process)
                self._add(process.pid)
            return [process.wait() for process in processes]
        finally:
            # Whatever the steps left behind (daemons, workers), or all of it when the run is interrupted.
            for process in processes:
                _stop_group(process.pid)
                process.wait()
                self._remove(process.pid)

    def forward(self, signum: int) -> None:
        for group in list(self._running):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signum)

    @contextlib.contextmanager
    def forwarding_signals(self, on_signal: Callable[[int], None] = lambda _: None) -> Iterator[None]:
        """While the run lasts, SIGINT, SIGTERM and SIGHUP go to the running steps and end the run (Interrupted),
        once `on_signal` has been told."""

        def handler(signum, _frame) -> None:
            self.forward(signum)
            on_signal(signum)
            raise Interrupted(signum)

        signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        try:
            previous = {s: signal.signal(s, handler) for s in signals}
        except ValueError:  # not the main thread: signals stay with whoever owns them
            yield
            return
        try:
            yield
        finally:
            for s, old in previous.items():
                signal.signal(s, old)

    def _add(self, group: int) -> None:
        self._running.add(group)
        self._write()

    def _remove(self, group: int) -> None:
        self._running.discard(group)
        self._write()

    def _write(self) -> None:
        if self._running:
            self._record.write_text("".join(f"{group}\n" for group in sorted(self._running)))
        else:  # nothing left to stop: no record left behind
            self._record.unlink(missing_ok=True)
