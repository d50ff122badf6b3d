"""nbgrader's execute step, replaced: verdicts are computed where student code never runs.

``CourseExecute`` takes the place of nbgrader's ``Execute`` in the autograde pipeline
(``autograder.grader.course_config``). For each submitted notebook it reads, from the gradebook,
the instructor's test cells and set-up cell, then runs a :class:`~autograder.grader.session.
GradingSession`: the student's cells in a sandboxed kernel, the test cells in this process. The
outputs it writes are what nbgrader's ``SaveAutoGrades``, feedback, the formgrader and
``classgrade`` read, unchanged.
"""
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Enum, Integer

from autograder.grader.session import GradingSession, sandbox_or_refuse

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
        for event in report.events:
            self.log.warning("%s: %s", info["notebook"], event)
        return nb, resources
