"""Run one pipeline step: `python -m pipeline_steps <step> [args...]`, or `python3 <steps.zip> <step> ...`.

Processing jobs run the zipped package (definition/bundles.py), whose root `__main__.py` runs this
module. Step modules are imported only when chosen, so a step never pays for (or depends on)
another step's imports.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Optional

from pipeline_steps.errors import StepError, error_line

STEPS = {
    "preprocess-train": "preprocess_train",
    "preprocess-predict": "preprocess_predict",
    "train": "train",
    "evaluate": "evaluate",
    "predict": "predict",
    "prediction-report": "prediction_report",
}


def usage() -> str:
    return "usage: python -m pipeline_steps <step> [args...]\nsteps: " + ", ".join(STEPS)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args: list[str] = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage(), file=sys.stderr if not args else sys.stdout)
        return 2 if not args else 0
    step, rest = args[0], args[1:]
    if step not in STEPS:
        print(f"unknown step {step!r}\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"pipeline_steps.{STEPS[step]}")
    try:
        return int(module.main(rest) or 0)
    except StepError as error:
        print(error_line(step, error), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
