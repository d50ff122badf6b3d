"""Notebooks run headless with nbclient: the solutions cleanly, the blank release readably."""
import pytest

from autograder import notebooks, release

ASSIGNMENTS = release.assignments()


def _run(path, tmp_path):
    return notebooks.execute(notebooks.read(path), cwd=tmp_path)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_runs_headless_without_errors(repo, tmp_path, assignment):
    nb = _run(repo / "solutions" / assignment / f"{assignment}.ipynb", tmp_path)
    failures = [(index, error.ename, error.evalue) for index, cell in enumerate(nb.cells)
                if cell.cell_type == "code" for error in notebooks.errors(cell)]
    assert not failures, f"cells raising in the solution notebook: {failures}"
    noisy = [notebooks.grade_id(cell) for cell in nb.cells
             if notebooks.is_test(cell) and notebooks.stderr_text(cell)]
    assert not noisy, f"test cells writing to stderr (nbgrader counts that as a failure): {noisy}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_blank_release_fails_every_test_cell_readably(repo, tmp_path, assignment):
    """A student who runs the untouched release sees each test fail on the stub, no NameError."""
    nb = _run(repo / "notebooks" / assignment / f"{assignment}.ipynb", tmp_path)
    name_errors = [cell.source.splitlines()[0] for cell in nb.cells if cell.cell_type == "code"
                   and any(e.ename == "NameError" for e in notebooks.errors(cell))]
    assert not name_errors, f"NameError in cells starting with {name_errors}"
    for cell in nb.cells:
        if not notebooks.is_test(cell):
            continue
        errors = notebooks.errors(cell)
        assert errors, f"{notebooks.grade_id(cell)} passes on the blank release"
        error = errors[0]
        readable = error.ename == "NotImplementedError" or (
            error.ename == "CheckFailure" and "not implemented yet" in error.evalue)
        assert readable, (f"{notebooks.grade_id(cell)} fails with {error.ename}: {error.evalue}; "
                          "expected the stub's NotImplementedError")
