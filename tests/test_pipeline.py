"""The real nbgrader pipeline on every notebook: generate, autograde the solution and the blank."""
import pytest

from autograder.grader import notebooks, release
from feedback_leaks import leaks

ASSIGNMENTS = release.assignments()


def test_committed_release_is_what_nbgrader_generates(repo):
    stale = release.out_of_date(repo)
    assert not stale, (f"notebooks/ is out of date for {stale}: run `python -m autograder.grader.release` "
                       "and commit the result")


def test_release_is_stamped_and_has_no_solution_or_hidden_test(repo):
    for assignment in ASSIGNMENTS:
        nb = notebooks.read(repo / "notebooks" / assignment / f"{assignment}.ipynb")
        assert nb.metadata["generated_from"].startswith(f"solutions/{assignment}/")
        text = "\n".join(cell.source for cell in nb.cells)
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            assert marker not in text, f"{assignment}: release contains '{marker}'"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_scores_full_marks(course, repo, assignment):
    filename = f"{assignment}.ipynb"
    course.submit(assignment, "reference", {filename: repo / "solutions" / assignment / filename})
    result = course.autograde(assignment, "reference")
    assert not result.needs_manual_grade, result.log
    failed = {cell: score for cell, score in result.cells.items() if score[0] != score[1]}
    assert not failed, f"cells below full marks: {failed}\n{result.log}"
    assert result.score == result.max_score == 100


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_blank_release_scores_zero_and_fails_every_test_cell_readably(course, assignment):
    """The untouched release earns 0, and each test fails on the stub, not with a NameError."""
    filename = f"{assignment}.ipynb"
    course.submit(assignment, "blank", {filename: course.release(assignment) / filename})
    result = course.autograde(assignment, "blank")
    assert not result.needs_manual_grade, f"the blank notebook was not graded:\n{result.log}"
    assert result.max_score == 100
    assert result.score == 0, f"a blank notebook earned points: {result.cells}"
    nb = notebooks.read(course.root / "autograded" / "blank" / assignment / filename)
    name_errors = [cell.source.splitlines()[0] for cell in nb.cells if cell.cell_type == "code"
                   and any(e.ename == "NameError" for e in notebooks.errors(cell))]
    assert not name_errors, f"NameError in cells starting with {name_errors}"
    for cell in filter(notebooks.is_test, nb.cells):
        errors = notebooks.errors(cell)
        assert errors, f"{notebooks.grade_id(cell)} passes on the blank release"
        readable = errors[0].ename == "CheckFailure" and "not implemented yet" in errors[0].evalue
        assert readable, (f"{notebooks.grade_id(cell)} fails with {errors[0].ename}: "
                          f"{errors[0].evalue}; expected 'not implemented yet'")
    page = (course.feedback(assignment, "blank") / f"{assignment}.html").read_text()
    solution = notebooks.read(course.solutions_dir / assignment / filename)
    assert not leaks(page, solution), f"the feedback shows: {leaks(page, solution)}"
