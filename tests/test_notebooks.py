"""Notebooks run headless with nbclient, as a student runs them.

The solutions run without an error and without noise; the blank release runs top to bottom as a
student's "Run All" does: only its test cells fail (tagged ``raises-exception``), each demo that
needs an exercise says which, and every widget appears. Its grading is in tests/test_pipeline.py.
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


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_blank_release_runs_top_to_bottom(repo, tmp_path, assignment):
    nb = notebooks.read(repo / "notebooks" / assignment / f"{assignment}.ipynb")
    notebooks.execute(nb, cwd=tmp_path, allow_errors=False)  # stops at an untagged error
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if notebooks.is_test(cell):
            assert "raises-exception" in cell.metadata.get("tags", []), notebooks.grade_id(cell)
            assert notebooks.errors(cell), f"{notebooks.grade_id(cell)} passes on the blank release"
        elif "interact" in cell.source or "_explorer(" in cell.source:
            kinds = {o.get("output_type") for o in cell.outputs}
            data = [o.get("data", {}) for o in cell.outputs]
            assert any("application/vnd.jupyter.widget-view+json" in d for d in data), (
                f"the widget cell of {assignment} shows no widget: {kinds}")
