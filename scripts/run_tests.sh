#!/usr/bin/env bash
# Set up the environment and the test tools (first run only) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The test tools (pytest, pytest-xdist, Playwright), which students never install.
stamp=.venv/.requirements-dev-installed
if ! { [ -f "$stamp" ] && cat requirements.txt requirements-dev.txt | cmp -s - "$stamp"; }; then
  .venv/bin/python -m pip install --quiet -r requirements-dev.txt
  cat requirements.txt requirements-dev.txt > "$stamp"
fi
# The browser tests drive Debian's Chromium (never a downloaded browser).
if [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    echo "error: the browser tests need /usr/bin/chromium (Debian/Ubuntu: apt-get install chromium)" >&2
    exit 1
  fi
fi
# The class-hub test runs the course as installed for JupyterHub (root: it adds Unix users).
hub_prefix=${CNN_COURSE_PREFIX:-/opt/cnn-course}
if [ "$(id -u)" = 0 ]; then
  bash deploy/install.sh "$hub_prefix"
fi
export PATH="$PWD/.venv/bin:$PATH" CNN_COURSE_PREFIX="$hub_prefix"
status=0
python -m pytest -n 2 --dist loadgroup -m "not browser and not hub" "$@" || status=$?
python -m pytest -p no:xdist -m browser "$@" || status=$?
python -m pytest -p no:xdist -m hub "$@" || status=$?
exit "$status"
