"""The errors the steps raise, and the one line a step prints for them.

Plain Python, imported by every step: the processing steps (pyarrow) and both EMR jobs (Spark) raise the
same classes and print them the same way, and importing this module loads neither Spark nor pyarrow.
"""

from __future__ import annotations


class StepError(Exception):
    """A failure the step explains in its message: printed as one line (error_line), without a traceback."""


class InputError(StepError, ValueError):
    """Input the step cannot use; the message names the file, directory, row, column or parameter."""


class AccountingError(RuntimeError):
    """Rows in differ from rows out plus rows rejected: a bug in the step, never an input problem."""


def error_line(program: str, error: BaseException) -> str:
    """`<program>: error: <message>` on one line: a line break inside the message is written `\\n`."""
    message = str(error).replace("\r", "\\r").replace("\n", "\\n")
    return f"{program}: error: {message}"
