#!/usr/bin/env bash
# Set up the environment (first run only) and open the student notebooks in JupyterLab, with
# nbgrader's student side only: the Assignments tab and Validate. The instructor's tools (the
# Formgrader, Course List and Create Assignment) are switched off in a configuration folder that
# only this script points JupyterLab at; `.venv/bin/jupyter lab` from the repository root (the
# instructor's course directory) keeps them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

student_config=$PWD/.venv/etc/jupyter-student
if [ ! -f "$student_config/jupyter_server_config.d/nbgrader-student.json" ]; then
  plugins=(@jupyter/nbgrader:formgrader @jupyter/nbgrader:course-list @jupyter/nbgrader:create-assignment)
  JUPYTER_CONFIG_DIR=$student_config .venv/bin/jupyter labextension disable --level=user "${plugins[@]}"
  JUPYTER_CONFIG_DIR=$student_config .venv/bin/jupyter labextension lock --level=user "${plugins[@]}"
  # What `jupyter server extension disable` writes (it only toggles an extension that the
  # target folder already lists, and this folder lists none).
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
fi
export JUPYTER_CONFIG_PATH=$student_config${JUPYTER_CONFIG_PATH:+:$JUPYTER_CONFIG_PATH}

as_root=()
if [ "$(id -u)" = 0 ]; then
  as_root=(--allow-root)  # JupyterLab refuses to run as root (a container's user) without it
fi
root_dir=(--ServerApp.root_dir="$PWD/notebooks")
for arg in "$@"; do
  case $arg in --ServerApp.root_dir=*|--notebook-dir=*) root_dir=() ;; esac  # yours instead
done
exec .venv/bin/jupyter lab ${as_root[@]+"${as_root[@]}"} ${root_dir[@]+"${root_dir[@]}"} "$@"
