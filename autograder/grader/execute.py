"""nbgrader's execute step, replaced: verdicts are computed where student code never runs.

``CourseExecute`` takes the place of nbgrader's ``Execute`` in the autograde pipeline
(``autograder.grader.course_config``). For each submitted notebook it reads, from the gradebook,
the instructor's test cells and set-up cell, then runs a :class:`~autograder.grader.session.
GradingSession`: the student's cells in a sandboxed kernel, the test cells in this process. The
outputs it writes are what nbgrader's ``SaveAutoGrades``, feedback, the formgrader and
``classgrade`` read, unchanged. It then reads the student's own cells for what grading cannot
prevent (:mod:`autograder.grader.scan`) and records the findings, with the engine's own events (a
cell that killed the kernel), in the notebook's metadata (``cnn_course.review``).

``FlagForReview``, after nbgrader's ``SaveAutoGrades``, turns those findings into nbgrader's own
"needs manual grade" flag and a comment on the cell concerned, which the formgrader shows.

``ShowStudentErrors``, in the feedback step, replaces each failing test cell's traceback (which
the instructor keeps in the graded notebook: hidden tests' lines, the checks' internals) with
what a student may see: the visible line that failed, their own code's lines, and the message.
"""
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Enum, Integer

from autograder import checking
from autograder.grader import notebooks, scan
from autograder.grader.session import METADATA_KEY, GradingSession, sandbox_or_refuse

SETUP_CELL = "setup"


def instructor_cells(db_url, notebook_id, assignment_id):
    """``(tests, setup)``: the test cells' sources by grade_id and the set-up cell's source."""
    with Gradebook(db_url) as gradebook:
        notebook = gradebook.find_notebook(notebook_id, assignment_id)
        sources = {cell.name: cell.source for cell in notebook.source_cells}
        solutions = {cell.name for cell in notebook.solution_cells}
        tests = {cell.name: sources[cell.name] for cell in notebook.grade_cells
                 if cell.cell_type == "code" and cell.name not in solutions}
    return tests, sources.get(SETUP_CELL, "")


# Engine events that need the instructor's eyes (a cell killed the kernel, the kernel was given
# up after repeated restarts, the notebook tampered with the grading link).
REVIEW_EVENTS = ("killed the kernel", "the remaining tests are not run", "changed the grading link")


class CourseExecute(NbGraderPreprocessor):
    """Run a submission: the student's cells in a sandboxed kernel, the test cells here."""

    timeout = Integer(60, help="Seconds a cell (a test cell: all its calls) may take.").tag(config=True)
    sandbox = Enum(
        ["bwrap", "none"], default_value="bwrap",
        help="'bwrap': the student's kernel runs in bubblewrap (required unless the instructor "
             "chooses 'none', which runs it with the grader's rights).").tag(config=True)
    seed = Integer(
        None, allow_none=True,
        help="The hidden tests' seed; by default drawn anew for each notebook graded (and "
             "recorded in the graded notebook's metadata, cnn_course.grading_seed).").tag(config=True)
    memory_limit = Integer(8 * 2 ** 30, help="Bytes of address space the kernel may use.").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        try:
            tests, setup = instructor_cells(info["db_url"], info["notebook"], info["assignment"])
        except MissingEntry:
            raise RuntimeError(f"{info['notebook']} of {info['assignment']} is not in the gradebook: "
                               "run nbgrader generate_assignment first") from None
        sandboxed = sandbox_or_refuse(self.sandbox)
        with GradingSession(nb, tests, setup, timeout=self.timeout, seed=self.seed,
                            sandboxed=sandboxed, memory_limit=self.memory_limit) as session:
            report = session.run_notebook()
            forbidden = checking.forbidden_seen()
        for event in report.events:
            self.log.warning("%s: %s", info["notebook"], event)
        flags = [str(f) for f in scan.scan(nb, self._instructor_sources(info), forbidden)]
        flags += [event for event in report.events
                  if any(sign in event for sign in REVIEW_EVENTS)]
        nb.metadata[METADATA_KEY]["review"] = flags
        for flag in flags:
            self.log.warning("%s: flagged for review: %s", info["notebook"], flag)
        return nb, resources

    def _instructor_sources(self, info):
        """The code cells of the instructor's source notebook but its test cells (demos and the
        instructor's lines; a test cell's line copied into a student's cell is the student's)."""
        coursedir = CourseDirectory(config=self.config)
        path = Path(coursedir.format_path(coursedir.source_directory, ".", info["assignment"]))
        source = path / f"{info['notebook']}.ipynb"
        if not source.exists():
            return []
        return [c.source for c in notebooks.read(source).cells
                if c.cell_type == "code" and not notebooks.is_test(c)]


class FlagForReview(NbGraderPreprocessor):
    """Mark a submission with review findings as needing a manual grade, and say why."""

    def preprocess(self, nb, resources):
        flags = nb.metadata.get(METADATA_KEY, {}).get("review", [])
        if not flags:
            return nb, resources
        info = resources["nbgrader"]
        solution_ids = [notebooks.grade_id(c) for c in nb.cells if notebooks.is_solution(c)]
        with Gradebook(info["db_url"]) as gradebook:
            submitted = gradebook.find_submission_notebook(info["notebook"], info["assignment"],
                                                            info["student"])
            for grade in submitted.grades:
                grade.needs_manual_grade = True
            by_cell = {}
            for flag in flags if solution_ids else ():
                cell = flag.split(":", 1)[0]
                by_cell.setdefault(cell if cell in solution_ids else solution_ids[0], []).append(flag)
            for cell, reasons in by_cell.items():
                comment = gradebook.find_comment(cell, info["notebook"], info["assignment"],
                                                 info["student"])
                comment.auto_comment = "Flagged for review: " + "; ".join(reasons)
            gradebook.db.commit()
        return nb, resources


class ShowStudentErrors(NbGraderPreprocessor):
    """Feedback: a test cell's error shows the student-safe traceback the grader recorded."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not notebooks.is_test(cell):
            return cell, resources
        safe = cell.metadata.get(METADATA_KEY, {}).get("feedback_traceback")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = list(safe) if safe else [f"{output.get('ename')}: "
                                                               f"{output.get('evalue')}"]
        cell.metadata.pop(METADATA_KEY, None)
        return cell, resources
