"""Reading and running course notebooks: nbgrader cell roles, execution with nbclient."""
from pathlib import Path

import nbformat
from nbclient import NotebookClient

EXECUTION_TIMEOUT_SECONDS = 120


def read(path):
    """The notebook at ``path`` (nbformat v4 node)."""
    return nbformat.read(str(path), as_version=4)


def read_string(text):
    """The notebook in the JSON string ``text``."""
    return nbformat.reads(text, as_version=4)


def write(nb, path):
    """Write ``nb`` to ``path``."""
    nbformat.write(nb, str(path))


def nbgrader_meta(cell):
    """The cell's nbgrader metadata (empty dict for ordinary cells)."""
    return cell.metadata.get("nbgrader", {})


def grade_id(cell):
    return nbgrader_meta(cell).get("grade_id")


def is_solution(cell):
    return cell.cell_type == "code" and nbgrader_meta(cell).get("solution", False)


def is_test(cell):
    return cell.cell_type == "code" and nbgrader_meta(cell).get("grade", False)


def points(cell):
    return float(nbgrader_meta(cell).get("points", 0)) if is_test(cell) else 0.0


def solution_sources(nb):
    """``{grade_id: source}`` of the notebook's solution cells."""
    return {grade_id(c): c.source for c in nb.cells if is_solution(c)}


def solution_namespace(nb, namespace):
    """``namespace`` after running every solution cell of ``nb`` in it, in order."""
    for source in solution_sources(nb).values():
        exec(source, namespace)
    return namespace


def with_solutions(nb, sources):
    """A copy of ``nb`` whose solution cells have the given sources (by grade_id)."""
    filled = nbformat.from_dict(nb)
    for cell in filled.cells:
        if is_solution(cell) and grade_id(cell) in sources:
            cell.source = sources[grade_id(cell)]
    return filled


def execute(nb, cwd, *, allow_errors=True, timeout=EXECUTION_TIMEOUT_SECONDS):
    """Run every cell of ``nb`` in a fresh kernel started in ``cwd`` (in place); return ``nb``."""
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(Path(cwd))}})
    client.execute()
    return nb


def errors(cell):
    """The error outputs of an executed code cell."""
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


def stderr_text(cell):
    """What an executed code cell wrote to stderr."""
    return "".join(o.text for o in cell.get("outputs", [])
                   if o.output_type == "stream" and o.name == "stderr")
