#!/usr/bin/env bash
# Install the course for a JupyterHub class into PREFIX (default /opt/cnn-course), as root:
#   PREFIX/venv     Python 3.11 with the course's pinned packages, JupyterHub and the course's
#                   student package; built from a Python every user can run (not one under /root)
#   PREFIX/course   the student bundle (release notebooks, checks, widgets, data): no solutions
#   PREFIX/proxy    configurable-http-proxy from npm
#   PREFIX/venv/etc/jupyter/nbgrader_config.py   course id and exchange, for every user
#   PREFIX/etc/jupyter-student   nbgrader's student side only (the hub gives it to students)
# Everything is readable, nothing writable, by the users. Safe to re-run: an up-to-date PREFIX is
# left as it is.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:-/opt/cnn-course}
python=${CNN_COURSE_PYTHON:-/usr/bin/python3}

if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
  echo "error: $python is not Python 3.11; set CNN_COURSE_PYTHON to a Python 3.11 every user can run" >&2
  exit 1
fi
command -v npm >/dev/null || { echo "error: npm is needed for configurable-http-proxy (apt-get install npm)" >&2; exit 1; }

stamp=$prefix/.installed
wanted=$(cd "$repo" && cat requirements.txt requirements-nodeps.txt deploy/requirements-hub.txt deploy/nbgrader_config.py deploy/install.sh \
         && git -C "$repo" rev-parse HEAD 2>/dev/null || true)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi

mkdir -p "$prefix"
[ -x "$prefix/venv/bin/python" ] || "$python" -m venv "$prefix/venv"
pip() {  # quiet, without the warnings about package index folders this machine lacks
  "$prefix/venv/bin/python" -m pip install --quiet "$@" 2>&1 | { grep -v "^WARNING: Location '" || true; }
}
pip --upgrade pip
pip -r "$repo/requirements.txt" -r "$repo/deploy/requirements-hub.txt"
pip --no-deps -r "$repo/requirements-nodeps.txt"

# The student bundle, installed in place: the package finds data/ beside it.
(cd "$repo" && "$prefix/venv/bin/python" -m autograder.grader.bundle "$prefix/course.new")
rm -rf "$prefix/course" && mv "$prefix/course.new" "$prefix/course"
pip --no-deps -e "$prefix/course"

npm install --silent --no-fund --no-audit --fetch-timeout=60000 --fetch-retries=2 \
  --prefix "$prefix/proxy" \
  "configurable-http-proxy@$(cat "$repo/deploy/configurable-http-proxy.version")"

install -D -m 644 "$repo/deploy/nbgrader_config.py" "$prefix/venv/etc/jupyter/nbgrader_config.py"

# Students get nbgrader's student side only (the Assignments tab and Validate): a configuration
# folder that switches off the instructor's tools, which jupyterhub_config.py puts first on the
# students' JUPYTER_CONFIG_PATH (instructors, without it, keep the formgrader).
student_config=$prefix/etc/jupyter-student
rm -rf "$student_config"
plugins=(@jupyter/nbgrader:formgrader @jupyter/nbgrader:course-list @jupyter/nbgrader:create-assignment)
JUPYTER_CONFIG_DIR=$student_config "$prefix/venv/bin/jupyter" labextension disable --level=user "${plugins[@]}" >/dev/null
JUPYTER_CONFIG_DIR=$student_config "$prefix/venv/bin/jupyter" labextension lock --level=user "${plugins[@]}" >/dev/null
# What `jupyter server extension disable` writes (it only toggles an extension that the target
# folder already lists, and this folder lists none).
mkdir -p "$student_config/jupyter_server_config.d"
cat > "$student_config/jupyter_server_config.d/nbgrader-student.json" <<'JSON'
{
  "ServerApp": {
    "jpserver_extensions": {
      "nbgrader.server_extensions.formgrader": false,
      "nbgrader.server_extensions.course_list": false
    }
  }
}
JSON
chmod -R go-w,a+rX "$prefix"
echo "$wanted" > "$stamp"
