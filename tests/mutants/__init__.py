"""Mutants: plausible wrong implementations of every graded function, one module per notebook.

A mutant rewrites one solution cell of the reference notebook by replacing ``old`` (which must
occur exactly once in that cell) with ``new``. The mutant tests inject it into the release's
solution cell and require that the notebook's test cells take points away.
"""
import importlib
from dataclasses import dataclass

from autograder.grader import notebooks


@dataclass(frozen=True)
class Mutant:
    function: str  # the graded function the mutant breaks
    cell: str  # grade_id of the solution cell it rewrites
    description: str
    old: str
    new: str

    def apply(self, source):
        """The mutated cell source; fails loudly if the catalogue went stale."""
        count = source.count(self.old)
        if count != 1:
            raise AssertionError(
                f"mutant '{self.description}': {self.old!r} occurs {count} times in cell "
                f"{self.cell}; update tests/mutants to the current solution"
            )
        return source.replace(self.old, self.new)

    def submission(self, release, source):
        """The release notebook with every reference solution of ``source``, this one mutated."""
        sources = notebooks.solution_sources(source)
        sources[self.cell] = self.apply(sources[self.cell])
        return notebooks.with_solutions(release, sources)


def for_assignment(assignment):
    """The mutants of ``assignment`` (e.g. "01_convolution" -> module ``mutants.nb01``)."""
    return importlib.import_module(f"mutants.nb{assignment[:2]}").MUTANTS
