"""spark-submit's main file for both EMR steps: `etl_main.py [--dataset onet|titles] <the job's own options>`.

    spark-submit --py-files steps.zip etl_main.py --input <O*NET tables> --output <dir>             (etl.py)
    spark-submit --py-files steps.zip etl_main.py --dataset titles --input <prefix> --output <dir>  (titles_etl.py)

It only picks the job: each job parses its own options, and its module is imported only when chosen.
The steps archive (`--py-files`) puts `pipeline_steps` on the path.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Optional

JOBS = {"onet": "etl", "titles": "titles_etl"}  # --dataset -> the job's module in pipeline_steps


def main(argv: Optional[Sequence[str]] = None) -> int:
    chooser = argparse.ArgumentParser(prog="etl_main.py", add_help=False, allow_abbrev=False)
    chooser.add_argument("--dataset", choices=JOBS, default="onet", help="onet: the train branch; titles: predict")
    chosen, job_arguments = chooser.parse_known_args(argv)
    job = importlib.import_module(f"pipeline_steps.{JOBS[chosen.dataset]}")
    return int(job.main(job_arguments) or 0)


if __name__ == "__main__":
    sys.exit(main())
