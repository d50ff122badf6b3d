#!/usr/bin/env bash
# Create .venv (Python 3.11) with the course's pinned dependencies (requirements.txt, what students
# need) and the autograder package installed; scripts/run_tests.sh adds the test tools.
# Safe to re-run: an up-to-date environment is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

python=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    python="$candidate"; break
  fi
done
if [ -z "$python" ]; then
  echo "error: the course needs Python 3.11 (python3.11 or python3 on PATH)" >&2
  exit 1
fi

stamp=.venv/.requirements-installed
if [ -f "$stamp" ] && cat requirements.txt requirements-nodeps.txt | cmp -s - "$stamp" &&
   [ pyproject.toml -ot "$stamp" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements.txt
.venv/bin/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
.venv/bin/python -m pip install --quiet --no-deps -e .
cat requirements.txt requirements-nodeps.txt > "$stamp"
