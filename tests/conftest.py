"""Shared set-up: Jupyter and matplotlib write to a temporary home, never to ``~``.

The environment is set at import, before any kernel starts, in every xdist worker.
"""
import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"

_STARTED = time.time()
_home = Path(tempfile.mkdtemp(prefix="course-tests-home-"))
for variable, folder in [("IPYTHONDIR", "ipython"), ("JUPYTER_CONFIG_DIR", "jupyter-config"),
                         ("JUPYTER_DATA_DIR", "jupyter-data"),
                         ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"), ("MPLCONFIGDIR", "mpl")]:
    os.environ[variable] = str(_home / folder)
os.environ["JUPYTER_PLATFORM_DIRS"] = "1"
os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
# nbgrader creates its gradebook by running the ``alembic`` executable of this environment.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")


def pytest_terminal_summary(terminalreporter):
    """Print the mutant tables the mutant tests wrote (xdist workers cannot print)."""
    tables = sorted((ARTIFACTS / "mutants").glob("*.txt")) if ARTIFACTS.exists() else []
    for table in (t for t in tables if t.stat().st_mtime >= _STARTED):
        terminalreporter.write_sep("-", f"mutants: {table.stem}")
        terminalreporter.write_line(table.read_text())


@pytest.fixture(scope="session")
def repo():
    return REPO


@pytest.fixture(scope="session")
def course(tmp_path_factory):
    """An nbgrader course directory; assignments are generated when first used (per worker)."""
    from autograder.grader.grading import Course

    return Course(tmp_path_factory.mktemp("course"), REPO / "solutions")
