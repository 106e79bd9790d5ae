"""The Node.js that the CDK's jsii runtime runs on, and how that runtime's own messages are printed.

`aws_cdk` (through the jsii package) starts a Node.js process when it is first imported: the `node` on
PATH, or the program the JSII_NODE variable names (https://github.com/aws/jsii/pull/4024). `make
setup` installs a maintained Node into node_modules/.bin when PATH has none (scripts/node.sh), and
the Makefile and `npx` put that folder first on PATH. What runs outside them (pytest, mkdocs, the
app run by hand) calls `prepare()` before importing aws_cdk, so that it uses the same Node.

jsii's Python runtime prints each line of that process's stderr that is not one of its JSON console
messages as a Python bytes literal (`print(line)` on bytes, in jsii._kernel.providers.process; seen
as `b'!!  Node 20 is end-of-life ...'`, aws/jsii#3171). `prepare()` has such lines written as text.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

PROJECT_NODE = Path(__file__).resolve().parent / "node_modules" / ".bin" / "node"


def node_executable() -> str:
    """The Node.js for the project's own Node programs: the one the set-up installed, else the `node` on PATH."""
    return str(PROJECT_NODE) if PROJECT_NODE.is_file() else "node"


def prepare() -> None:
    """Run jsii on the project's Node (when the set-up installed one and JSII_NODE names none), and have
    its plain stderr lines printed as text. Call before the first import of aws_cdk or constructs."""
    if "JSII_NODE" not in os.environ and PROJECT_NODE.is_file():
        os.environ["JSII_NODE"] = node_executable()
    from jsii._kernel.providers import process

    if not getattr(process.stderr_sink, "writes_plain_lines_as_text", False):
        process.stderr_sink = _plain_lines_as_text(process.stderr_sink)


class _ConsoleMessagesOnly:
    """The runtime's stderr as jsii's reader sees it: its JSON console messages are handed on, and any
    other line (Node's warnings, jsii's version banner) is written to stderr as text instead."""

    def __init__(self, stream: IO[bytes]):
        self._stream = stream

    def readline(self) -> bytes:
        while True:
            line = self._stream.readline()
            if not line or line.lstrip().startswith(b"{"):
                return line
            sys.stderr.write(line.decode("utf-8", errors="replace"))
            sys.stderr.flush()


def _plain_lines_as_text(jsii_sink):
    def sink(stream: IO[bytes]) -> None:
        jsii_sink(_ConsoleMessagesOnly(stream))

    sink.writes_plain_lines_as_text = True
    return sink
