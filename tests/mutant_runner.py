"""Run a notebook's test cells against many mutants, with the grading engine nbgrader uses.

The source notebook (solutions and hidden tests) is graded once in a ``GradingSession``: its
ordinary cells in the sandboxed kernel, its test cells in the checker. Then, per mutant, the
mutated solution cell runs in the kernel, the test cells after it run again in the checker (those
before it ran before it in nbgrader's top-to-bottom run and cannot see it) up to the first that
fails, or all of them for the mutants in ``complete``, and the reference cell runs back. The hidden
tests' seed is fixed, so a table is reproducible. Last, with the reference back in place, every
test cell runs again under fresh seeds (the hidden tests draw new cases in each grading run).
"""
import copy
from dataclasses import dataclass, field

import numpy as np

from autograder import checking
from autograder.grader import notebooks
from autograder.grader.session import GradingSession

SEED = 20261204
LIKELY = "Likely cause"


@dataclass
class Outcome:
    mutant: object
    failed: dict  # grade_id of each failing test cell -> its points
    first_message: str = ""  # the first failing test cell's message
    complete: bool = True  # False: the run stopped at the first failing test cell

    @property
    def points_lost(self):
        return sum(self.failed.values())

    @property
    def names_a_cause(self):
        return LIKELY in self.first_message


def _tests(nb):
    return {notebooks.grade_id(c): c.source for c in nb.cells if notebooks.is_test(c)}


def session_for(nb, seed=SEED, timeout=notebooks.EXECUTION_TIMEOUT_SECONDS):
    """A ``GradingSession`` on the solution notebook ``nb`` (its own copy), not yet run."""
    nb = copy.deepcopy(nb)
    setup = next(c.source for c in nb.cells if notebooks.grade_id(c) == "setup")
    return GradingSession(nb, _tests(nb), setup, timeout=timeout, seed=seed)


def _failed_tests(session, start=0, stop_at_first=False):
    """``({grade_id: points}, first message)`` of the test cells from index ``start`` on."""
    failed, first = {}, ""
    for index, cell in enumerate(session.nb.cells):
        if index >= start and notebooks.is_test(cell):
            outcome = session.run_test(notebooks.grade_id(cell))
            if not outcome.passed:
                failed[notebooks.grade_id(cell)] = notebooks.points(cell)
                first = first or str(outcome.error)
                if stop_at_first:
                    break
    return failed, first


@dataclass
class Run:
    """What ``run`` found on one notebook."""

    baseline: dict  # grade_id -> points of the test cells the reference fails
    outcomes: list  # one Outcome per mutant
    seed_failures: list = field(default_factory=list)  # "seed S, grade_id: message"


def run(nb, mutants, complete=(), seeds=0):
    """A ``Run`` of ``mutants`` applied to the notebook ``nb``.

    The mutants whose positions are in ``complete`` run every later test cell; the others stop at
    their first failing one. Then the reference runs every test cell under ``seeds`` fresh seeds.
    """
    with session_for(nb) as session:
        session.run_notebook()
        cells = session.nb.cells
        baseline = {notebooks.grade_id(c): notebooks.points(c) for c in cells
                    if notebooks.is_test(c) and notebooks.errors(c)}
        by_id = {notebooks.grade_id(c): (i, c) for i, c in enumerate(cells) if notebooks.is_solution(c)}
        outcomes = []
        for position, mutant in enumerate(mutants):
            index, reference = by_id[mutant.cell]
            session.run_source(mutant.apply(reference.source), index)
            whole = position in complete
            failed, first = _failed_tests(session, start=index, stop_at_first=not whole)
            outcomes.append(Outcome(mutant, failed, first, complete=whole))
            session.run_source(reference.source, index)
        seed_failures = []
        for seed in np.random.default_rng().integers(2 ** 48, size=seeds):
            checking.set_grading_seed(int(seed))
            for cell in filter(notebooks.is_test, cells):
                outcome = session.run_test(notebooks.grade_id(cell))
                if not outcome.passed:
                    seed_failures.append(f"seed {seed}, {notebooks.grade_id(cell)}: {outcome.error}")
        checking.set_grading_seed(None)
    return Run(baseline, outcomes, seed_failures)


def table(assignment, outcomes):
    """A plain-text table: function, mutant, points lost, cause named, failing test cells.

    A mutant whose run stopped at its first failing test cell shows its points as ``N+``.
    """
    rows = [("function", "mutant", "lost", "cause", "failing test cells")]
    rows += [(o.mutant.function, o.mutant.description,
              f"{o.points_lost:g}" + ("" if o.complete else "+"),
              "yes" if o.names_a_cause else "-", ", ".join(o.failed)) for o in outcomes]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:<{widths[3]}}  {r[4]}"
             for r in rows]
    named = sum(o.names_a_cause for o in outcomes)
    share = f"{named} of {len(outcomes)} mutants' first failure names a likely cause"
    note = "N+: at least N points (the run stopped at the first failing test cell)"
    return f"{assignment}\n" + "\n".join(lines) + f"\n{share}\n{note}"
