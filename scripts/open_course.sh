#!/usr/bin/env bash
# Set up the environment (first run only) and open the student notebooks in JupyterLab.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/jupyter lab --ServerApp.root_dir="$PWD/notebooks" "$@"
