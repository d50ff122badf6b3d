"""Check a notebook before submitting it: its visible tests, run afresh, in one table.

    python -m autograder.selfcheck notebooks/01_convolution/01_convolution.ipynb

or, in a notebook's last cell, ``selfcheck()`` (it checks the saved notebook it runs in). The
saved notebook runs top to bottom in a fresh kernel, as the grader will run it; then every test
cell is listed: passed, failed or not implemented, with the first line of its message and the
points at stake. Passing here means the visible checks pass; the hidden tests, run at grading,
decide the points.
"""
import argparse
import os
import sys
import tempfile
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

NESTED = "CNN_COURSE_SELFCHECK"
TIMEOUT_SECONDS = 120


def _status(cell):
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if not errors:
        return "passed", ""
    message = (errors[0].get("evalue") or errors[0].get("ename") or "").strip()
    first = message.splitlines()[0] if message else errors[0].get("ename", "")
    if "not implemented yet" in message or errors[0].get("ename") == "NotImplementedError":
        return "not implemented", first
    return "failed", f"{errors[0].get('ename')}: {first}"


def check(path, timeout=TIMEOUT_SECONDS):
    """``[(grade_id, points, status, message)]`` for the test cells of the notebook at ``path``."""
    path = Path(path)
    nb = nbformat.read(str(path), as_version=4)
    os.environ[NESTED] = "1"
    try:
        with tempfile.TemporaryDirectory(prefix="selfcheck", dir="/tmp") as scratch:
            km = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=f"{scratch}/k")
            NotebookClient(nb, km=km, timeout=timeout, allow_errors=True,
                           resources={"metadata": {"path": str(path.parent)}},
                           extra_arguments=["--HistoryManager.hist_file=:memory:"]).execute()
    finally:
        os.environ.pop(NESTED, None)
    rows = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            rows.append((meta.get("grade_id", "?"), float(meta.get("points", 0)), *_status(cell)))
    return rows


def table(rows, width=70):
    """The rows as a plain-text table, with a one-line summary."""
    header = ("test cell", "points", "result", "first line of the message")
    name_width = max([len(header[0])] + [len(r[0]) for r in rows])
    lines = [f"{header[0]:<{name_width}}  {header[1]:>6}  {header[2]:<15}  {header[3]}"]
    for grade_id, points, status, message in rows:
        text = message if len(message) <= width else message[:width - 3] + "..."
        lines.append(f"{grade_id:<{name_width}}  {points:>6g}  {status:<15}  {text}")
    passed = sum(points for _, points, status, _ in rows if status == "passed")
    total = sum(points for _, points, _, _ in rows)
    done = sum(status == "passed" for _, _, status, _ in rows)
    lines.append(f"{done} of {len(rows)} test cells pass their visible checks "
                 f"({passed:g} of {total:g} points at stake; hidden tests decide the grade).")
    return "\n".join(lines)


def selfcheck(path=None):
    """Print the table for the saved notebook ``path`` (default: the notebook running this)."""
    if os.environ.get(NESTED):
        print("(the self-check itself is skipped while the self-check runs this notebook)")
        return
    path = path or os.environ.get("JPY_SESSION_NAME")
    if not path:
        raise ValueError("give the notebook's path: selfcheck('01_convolution.ipynb')")
    print("Running the saved notebook in a fresh kernel (save it first: the self-check reads "
          "the file) ...")
    print(table(check(path)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", help="the notebook to check (saved)")
    parser.add_argument("--timeout", type=int, default=TIMEOUT_SECONDS, help="seconds per cell")
    args = parser.parse_args(argv)
    rows = check(args.notebook, timeout=args.timeout)
    print(table(rows))
    return 0 if all(status == "passed" for _, _, status, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
