"""Autograding with nbgrader in a course directory: submit, autograde, read the scores back."""
import shutil
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import MissingEntry

from autograder.grader.release import nbgrader_api


@dataclass
class Result:
    """A student's autograded notebook: total, per-cell scores and nbgrader's own flags."""

    score: float
    max_score: float
    needs_manual_grade: bool
    cells: dict  # grade_id -> (score, max_score)
    log: str


class Course:
    """An nbgrader course directory at ``root`` holding a copy of ``solutions/``."""

    def __init__(self, root, solutions_dir, overrides=None):
        """``overrides``: ``{section: {trait: value}}`` on top of the course configuration."""
        self.root = Path(root)
        self.solutions_dir = Path(solutions_dir)
        (self.root / "solutions").mkdir(parents=True, exist_ok=True)
        self.api = nbgrader_api(self.root, overrides)
        self._released = set()

    def release(self, assignment):
        """Copy the assignment's source in and ``nbgrader generate_assignment`` it, once.

        Returns the release directory of ``assignment``.
        """
        if assignment not in self._released:
            shutil.copytree(self.solutions_dir / assignment, self.root / "solutions" / assignment,
                            dirs_exist_ok=True)
            result = self.api.generate_assignment(assignment, force=True)
            if not result["success"]:
                raise RuntimeError(f"generate_assignment {assignment} failed:\n{result['log']}")
            self._released.add(assignment)
        return self.root / "notebooks" / assignment

    def submit(self, assignment, student, notebooks):
        """Place ``{filename: notebook path}`` as ``student``'s submission of ``assignment``."""
        self.release(assignment)
        folder = self.root / "submitted" / student / assignment
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for filename, source in notebooks.items():
            shutil.copyfile(source, folder / filename)
        return folder

    def autograde(self, assignment, student):
        """``nbgrader autograde`` of one submission; return its ``Result`` (never raises)."""
        outcome = self.api.autograde(assignment, student, force=True, create=True)
        log = f"{outcome.get('log', '')}\n{outcome.get('error', '') or ''}"
        with self.api.gradebook as gradebook:
            try:
                submission = gradebook.find_submission(assignment, student)
            except MissingEntry:
                return Result(score=0.0, max_score=None, needs_manual_grade=True, cells={}, log=log)
            cells = {}
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    cells[grade.name] = (grade.score, grade.max_score)
            return Result(score=submission.score, max_score=submission.max_score,
                          needs_manual_grade=submission.needs_manual_grade, cells=cells, log=log)

    def feedback(self, assignment, student):
        """``nbgrader generate_feedback`` of one submission; return its feedback folder."""
        self.api.generate_feedback(assignment, student, force=True)
        return self.root / "feedback" / student / assignment
