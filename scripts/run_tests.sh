#!/usr/bin/env bash
# Set up the environment (first run only) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The browser tests drive Debian's Chromium (never a downloaded browser).
if [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  else
    echo "error: the browser tests need /usr/bin/chromium (Debian/Ubuntu: apt-get install chromium)" >&2
    exit 1
  fi
fi
export PATH="$PWD/.venv/bin:$PATH"
status=0
python -m pytest -n 2 --dist loadgroup -m "not browser" "$@" || status=$?
python -m pytest -p no:xdist -m browser "$@" || status=$?
exit "$status"
