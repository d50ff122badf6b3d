"""Run a notebook's test cells against many mutants in one kernel (nbclient).

The source notebook (solutions and hidden tests: what nbgrader autograde executes) is run once;
then, per mutant, its solution cell is replaced, the test cells after it run again (those before
it ran before it in nbgrader's top-to-bottom execution and cannot see it), and the reference cell
is executed back.
"""
import copy
from dataclasses import dataclass
from pathlib import Path

from nbclient import NotebookClient

from autograder.grader import notebooks


@dataclass
class Outcome:
    mutant: object
    failed: dict  # grade_id of each failing test cell -> its points

    @property
    def points_lost(self):
        return sum(self.failed.values())


def _failed_tests(client, nb, start=0):
    """Points of the test cells from index ``start`` on that raise, by grade_id."""
    failed = {}
    for index, cell in enumerate(nb.cells):
        if index >= start and notebooks.is_test(cell):
            trial = copy.deepcopy(cell)
            client.execute_cell(trial, index)
            if notebooks.errors(trial):
                failed[notebooks.grade_id(cell)] = notebooks.points(cell)
    return failed


def run(nb, mutants, cwd):
    """``(baseline_failures, [Outcome])`` for ``mutants`` applied to the notebook ``nb``."""
    nb = copy.deepcopy(nb)
    by_id = {notebooks.grade_id(c): (i, c) for i, c in enumerate(nb.cells) if notebooks.is_solution(c)}
    client = NotebookClient(nb, timeout=notebooks.EXECUTION_TIMEOUT_SECONDS, kernel_name="python3",
                            allow_errors=True, resources={"metadata": {"path": str(Path(cwd))}})
    outcomes = []
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        baseline = _failed_tests(client, nb)
        for mutant in mutants:
            index, reference = by_id[mutant.cell]
            mutated = copy.deepcopy(reference)
            mutated.source = mutant.apply(reference.source)
            client.execute_cell(mutated, index)
            outcomes.append(Outcome(mutant, _failed_tests(client, nb, start=index)))
            client.execute_cell(copy.deepcopy(reference), index)
    return baseline, outcomes


def table(assignment, outcomes):
    """A plain-text table: function, mutant, points lost, failing test cells."""
    rows = [("function", "mutant", "lost", "failing test cells")]
    rows += [(o.mutant.function, o.mutant.description, f"{o.points_lost:g}",
              ", ".join(o.failed)) for o in outcomes]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}" for r in rows]
    return f"{assignment}\n" + "\n".join(lines)
