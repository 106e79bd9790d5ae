#!/usr/bin/env bash
# Prints the path of a Python 3.9 interpreter, the Python of the SageMaker scikit-learn 1.2-1 image
# (the Makefile builds .venv-image with it), or says how to get one and exits 1.
# Looks at PATH first, then at pyenv's and uv's installed interpreters (neither is downloaded here).
set -uo pipefail

is_python39() { [ -x "$1" ] && "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 9))' 2>/dev/null; }

candidates=()
if command -v python3.9 >/dev/null 2>&1; then candidates+=("$(command -v python3.9)"); fi
pyenv_root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
for installed in "$pyenv_root"/versions/3.9*/bin/python3.9; do candidates+=("$installed"); done
if command -v uv >/dev/null 2>&1; then candidates+=("$(uv python find 3.9 2>/dev/null)"); fi

for candidate in "${candidates[@]}"; do
  if is_python39 "$candidate"; then echo "$candidate"; exit 0; fi
done
cat >&2 <<'MESSAGE'
No Python 3.9 found (on PATH as python3.9, in pyenv, or in uv). The SageMaker scikit-learn 1.2-1 image
runs Python 3.9, and .venv-image mirrors it. Install one, for example:
  uv python install 3.9        (or: pyenv install 3.9)
then run make again.
MESSAGE
exit 1
