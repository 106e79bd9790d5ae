#!/bin/bash
# EMR bootstrap action (runs on every node before the ETL): the Python packages etl.py needs
# that EMR's python3 lacks. Pinned; keep in step with requirements.txt.
set -euo pipefail
sudo python3 -m pip install --quiet --disable-pip-version-check "openpyxl==3.1.5"
