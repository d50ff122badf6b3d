"""Lint of the nbgrader source notebooks and their releases: the rules every notebook follows."""
import ast
import re

import pytest

from autograder.grader import notebooks, release
from contract import GRADED_FUNCTIONS

ASSIGNMENTS = release.assignments()

def _source(repo, assignment):
    return notebooks.read(repo / "solutions" / assignment / f"{assignment}.ipynb")


def test_every_assignment_has_a_contract():
    assert set(ASSIGNMENTS) <= set(GRADED_FUNCTIONS), "add the new notebook to GRADED_FUNCTIONS"


@pytest.mark.parametrize("folder", ["solutions", "notebooks"])
def test_notebooks_are_stored_without_outputs(repo, folder):
    for path in (repo / folder).rglob("*.ipynb"):
        for cell in notebooks.read(path).cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path}: strip outputs"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_first_code_cell_is_the_locked_setup(repo, assignment):
    first = next(c for c in _source(repo, assignment).cells if c.cell_type == "code")
    assert notebooks.grade_id(first) == "setup" and notebooks.nbgrader_meta(first)["locked"]
    assert "start_notebook(" in first.source


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_test_cells_follow_the_template(repo, assignment):
    nb = _source(repo, assignment)
    ids = [notebooks.grade_id(c) for c in nb.cells if notebooks.nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), "grade_ids must be unique"
    for cell in filter(notebooks.is_test, nb.cells):
        name = notebooks.grade_id(cell)
        meta = notebooks.nbgrader_meta(cell)
        assert meta["locked"] and meta["points"] > 0, f"{name}: locked, with points"
        assert re.fullmatch(r"[a-z0-9_]+", name), f"{name}: a descriptive snake_case grade_id"
        tree = ast.parse(cell.source)
        docstring = ast.get_docstring(tree)
        assert docstring and docstring.startswith("Check that"), f"{name}: docstring 'Check that ...'"
        last = tree.body[-1]
        assert not (isinstance(last, ast.Expr) and not isinstance(last.value, ast.Call)), (
            f"{name}: a trailing expression is read by nbgrader as partial credit")
        visible = cell.source.split("### BEGIN HIDDEN TESTS")[0]
        assert len(ast.parse(visible).body) > 1, f"{name}: needs a visible check"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_points_total_100_and_hidden_tests_carry_most(repo, assignment):
    tests = [c for c in _source(repo, assignment).cells if notebooks.is_test(c)]
    assert sum(notebooks.points(c) for c in tests) == 100
    hidden = sum(notebooks.points(c) for c in tests if "### BEGIN HIDDEN TESTS" in c.source)
    assert hidden > 50, f"hidden tests carry only {hidden} points"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_graded_functions_are_solution_cells_with_docstrings_and_tests(repo, assignment):
    nb = _source(repo, assignment)
    defined = {}
    for cell in filter(notebooks.is_solution, nb.cells):
        assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
        for node in ast.parse(cell.source).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                defined[node.name] = ast.get_docstring(node) or ""
    tested = "\n".join(c.source for c in nb.cells if notebooks.is_test(c))
    for name in GRADED_FUNCTIONS[assignment]:
        assert name in defined, f"{name} is not defined in a solution cell"
        assert "Returns" in defined[name] and "(" in defined[name], (
            f"{name}: the docstring states what comes in and goes out, with shapes")
        assert re.search(rf"\b{name}\b", tested), f"{name} has no test cell"
