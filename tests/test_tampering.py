"""Hidden tests hold up against a student notebook that tampers with what the checks use.

nbgrader's checksums protect the test cells, not the code they call: these submissions go through
the real ``nbgrader autograde``.
"""
import pytest

import submissions
from autograder import notebooks

ASSIGNMENT = "01_convolution"
FILENAME = f"{ASSIGNMENT}.ipynb"


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    """Autograde each submission once: {name: Result}."""
    release = course.release(ASSIGNMENT) / FILENAME
    reference = notebooks.solution_sources(notebooks.read(course.root / "solutions" / ASSIGNMENT / FILENAME))
    variants = {
        "wrong": submissions.WRONG_01,
        "wrong_patched_in_cell": submissions.patched_in_cell(submissions.WRONG_01),
        "wrong_patched_inside_function": submissions.patched_inside_function(submissions.WRONG_01),
        "reference_with_exit": dict(reference, sobel_kernels_solution=reference["sobel_kernels_solution"]
                                    + "\n\nimport os\nos._exit(0)"),
    }
    folder = tmp_path_factory.mktemp("tampering")
    results = {}
    for name, sources in variants.items():
        path = folder / name / FILENAME
        path.parent.mkdir()
        notebooks.write(submissions.with_cells(release, sources), path)
        course.submit(ASSIGNMENT, name, {FILENAME: path})
        results[name] = course.autograde(ASSIGNMENT, name)
    skipping = notebooks.read(release)
    for cell in skipping.cells:
        if notebooks.is_test(cell):
            cell.metadata["tags"] = ["skip-execution", "raises-exception"]
    path = folder / "skip_tags" / FILENAME
    path.parent.mkdir()
    notebooks.write(notebooks.with_solutions(skipping, submissions.WRONG_01), path)
    course.submit(ASSIGNMENT, "skip_tags", {FILENAME: path})
    results["skip_tags"] = course.autograde(ASSIGNMENT, "skip_tags")
    return results


def test_wrong_answers_score_nothing(graded):
    result = graded["wrong"]
    assert not result.needs_manual_grade, result.log
    assert result.score == 0, result.cells


@pytest.mark.parametrize("variant", ["wrong_patched_in_cell", "wrong_patched_inside_function"])
def test_monkey_patching_earns_nothing(graded, variant):
    result = graded[variant]
    assert not result.needs_manual_grade, result.log
    assert result.score == graded["wrong"].score == 0, result.cells


def test_skip_execution_tags_do_not_skip_test_cells(graded):
    result = graded["skip_tags"]
    assert not result.needs_manual_grade, result.log
    assert result.score == 0, result.cells


def test_os_exit_in_a_student_cell_keeps_the_grade(graded):
    result = graded["reference_with_exit"]
    assert not result.needs_manual_grade, f"the kernel died and the notebook was lost:\n{result.log}"
    assert result.score == 100, result.cells
