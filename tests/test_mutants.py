"""Every mutant of every graded function loses points; a sample agrees with nbgrader autograde.

In the same grading session, the reference then passes the hidden tests under fresh seeds: they
draw new cases in every grading run.
"""
import pytest

import mutant_runner
import mutants
from autograder.grader import notebooks, release
from contract import GRADED_FUNCTIONS
from feedback_leaks import leaks

# All tests of one notebook run on one xdist worker (--dist loadgroup): its mutants run once.
ASSIGNMENTS = [pytest.param(a, marks=pytest.mark.xdist_group(f"mutants-{a}"))
               for a in release.assignments()]
SAMPLE_PER_NOTEBOOK = 1
FRESH_SEEDS = 2


def _sample(count):
    """Positions of the sampled mutants, spread evenly over a catalogue of ``count`` mutants."""
    return [(2 * k + 1) * count // (2 * SAMPLE_PER_NOTEBOOK) for k in range(SAMPLE_PER_NOTEBOOK)]


def _paths(repo, assignment):
    filename = f"{assignment}.ipynb"
    return repo / "solutions" / assignment / filename, repo / "notebooks" / assignment / filename


@pytest.fixture(scope="module")
def outcomes(repo, tmp_path_factory):
    """``outcomes(assignment)`` -> its ``mutant_runner.Run``; each notebook run once."""
    results = {}

    def run(assignment):
        if assignment not in results:
            nb = notebooks.read(_paths(repo, assignment)[0])
            catalogue = mutants.for_assignment(assignment)
            found = mutant_runner.run(nb, catalogue, complete=_sample(len(catalogue)),
                                      seeds=FRESH_SEEDS)
            results[assignment] = found
            tables = repo / "test-artifacts" / "mutants"
            tables.mkdir(parents=True, exist_ok=True)
            (tables / f"{assignment}.txt").write_text(
                mutant_runner.table(assignment, found.outcomes) + "\n")
        return results[assignment]
    return run


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_graded_function_has_three_mutants(assignment):
    counts = {name: 0 for name in GRADED_FUNCTIONS[assignment]}
    for mutant in mutants.for_assignment(assignment):
        counts[mutant.function] = counts.get(mutant.function, 0) + 1
    short = {name: count for name, count in counts.items() if count < 3}
    assert not short, f"{assignment}: graded functions with fewer than 3 mutants: {short}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_passes_every_test_cell(outcomes, assignment):
    baseline = outcomes(assignment).baseline
    assert not baseline, f"the reference solution fails {baseline}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_passes_the_hidden_tests_under_fresh_seeds(outcomes, assignment):
    failures = outcomes(assignment).seed_failures
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_mutant_loses_points(outcomes, assignment):
    found = outcomes(assignment).outcomes
    survivors = [f"{o.mutant.function}: {o.mutant.description}" for o in found if o.points_lost == 0]
    assert not survivors, f"{assignment}: mutants that keep full marks: {survivors}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_sample_of_mutants_agrees_with_nbgrader_autograde(outcomes, course, repo, tmp_path,
                                                          assignment):
    solution, release_path = _paths(repo, assignment)
    found = outcomes(assignment).outcomes
    # Evenly spread over the catalogue (one sample: its middle, not always the first function).
    sample = [found[position] for position in _sample(len(found))]
    for number, outcome in enumerate(sample):
        mutant = outcome.mutant
        submission = tmp_path / f"{assignment}.ipynb"
        notebooks.write(mutant.submission(notebooks.read(release_path), notebooks.read(solution)),
                        submission)
        student = f"mutant{number}"
        course.submit(assignment, student, {submission.name: submission})
        result = course.autograde(assignment, student)
        failed = {cell for cell, (score, maximum) in result.cells.items() if score < maximum}
        assert failed == set(outcome.failed), (
            f"{mutant.description}: nbgrader failed {sorted(failed)}, the mutant run "
            f"{sorted(outcome.failed)}")
        assert result.max_score - result.score == outcome.points_lost
        page = (course.feedback(assignment, student) / f"{assignment}.ipynb").with_suffix(".html")
        assert not leaks(page.read_text(), notebooks.read(solution)), (
            f"{mutant.description}: the feedback shows {leaks(page.read_text(), notebooks.read(solution))}")
