"""Solution notebooks run headless with nbclient, as a student runs them: no error, no noise.

The blank release is checked on its nbgrader autograde (tests/test_pipeline.py).
"""
import pytest

from autograder.grader import notebooks, release

ASSIGNMENTS = release.assignments()


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_runs_headless_without_errors(repo, tmp_path, assignment):
    nb = notebooks.execute(notebooks.read(repo / "solutions" / assignment / f"{assignment}.ipynb"),
                           cwd=tmp_path)
    failures = [(index, error.ename, error.evalue) for index, cell in enumerate(nb.cells)
                if cell.cell_type == "code" for error in notebooks.errors(cell)]
    assert not failures, f"cells raising in the solution notebook: {failures}"
    noisy = [notebooks.grade_id(cell) for cell in nb.cells
             if notebooks.is_test(cell) and notebooks.stderr_text(cell)]
    assert not noisy, f"test cells writing to stderr (nbgrader counts that as a failure): {noisy}"
