"""Hidden tests draw new cases in every grading run: the reference passes whatever the seed."""
import numpy as np
import pytest

import mutant_runner
from autograder import checking
from autograder.grader import notebooks, release

SEEDS = 4


@pytest.mark.parametrize("assignment", [
    pytest.param(a, marks=pytest.mark.xdist_group(f"seeds-{a}")) for a in release.assignments()])
def test_reference_passes_the_hidden_tests_under_fresh_seeds(repo, assignment):
    nb = notebooks.read(repo / "solutions" / assignment / f"{assignment}.ipynb")
    failures = []
    with mutant_runner.session_for(nb) as session:
        session.run_notebook()
        for seed in np.random.default_rng().integers(2 ** 48, size=SEEDS):
            checking.set_grading_seed(int(seed))
            for cell in filter(notebooks.is_test, session.nb.cells):
                outcome = session.run_test(notebooks.grade_id(cell))
                if not outcome.passed:
                    failures.append(f"seed {seed}, {notebooks.grade_id(cell)}: {outcome.error}")
    assert not failures, "\n".join(failures)
