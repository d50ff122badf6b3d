"""nbgrader configuration of the course, shared by ``nbgrader_config.py`` and the tests.

Layout: one nbgrader assignment per notebook. ``solutions/<assignment>/<assignment>.ipynb`` is the
source (nbgrader's ``source`` directory) and ``notebooks/<assignment>/<assignment>.ipynb`` the
student release (nbgrader's ``release`` directory).
"""
import copy
from pathlib import Path

from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    IncludeHeaderFooter,
    InstantiateTests,
    LockCells,
    NbGraderPreprocessor,
    SaveCells,
)
from nbgrader.preprocessors import (
    AssignLatePenalties, GetGrades, IgnorePattern, LimitOutput, SaveAutoGrades,
)
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor

from autograder.grader import feedback, lockedcells
from autograder.grader.execute import CourseExecute, FlagForReview, ShowStudentErrors

COURSE_ID = "cnn-course"
SOURCE_DIRECTORY = "solutions"
RELEASE_DIRECTORY = "notebooks"
CELL_TIMEOUT_SECONDS = 60
STAMP_KEY = "generated_from"


class StampGenerated(NbGraderPreprocessor):
    """Record in the release notebook's metadata which source it was generated from."""

    def preprocess(self, nb, resources):
        assignment = resources["nbgrader"]["assignment"]
        notebook = resources["nbgrader"]["notebook"]
        nb.metadata[STAMP_KEY] = (
            f"{SOURCE_DIRECTORY}/{assignment}/{notebook}.ipynb by nbgrader generate_assignment; "
            "course maintainers edit that file, not this one"
        )
        return nb, resources


class StampLanguageInfo(NbGraderPreprocessor):
    """Store in the release the ``language_info`` its kernel reports (ipykernel on the Python
    that generates the release, the course's environment). JupyterLab replaces a notebook's
    ``language_info`` by its kernel's as soon as the kernel connects, so a notebook that stores
    another one (``{"name": "python", "version": "3.11"}``) opens as modified."""

    def preprocess(self, nb, resources):
        from ipykernel.ipkernel import IPythonKernel

        nb.metadata["language_info"] = copy.deepcopy(IPythonKernel.language_info)
        return nb, resources


class TagTestCells(NbGraderPreprocessor):
    """Tag the release's test cells ``raises-exception``: JupyterLab's and nbclient's "run all"
    then goes on past a test that fails (an exercise not done yet) to the widgets and figures
    below it. Grading ignores the tag (autograder/grader/session.py)."""

    def preprocess_cell(self, cell, resources, index):
        nbgrader = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and nbgrader.get("grade") and not nbgrader.get("solution"):
            tags = cell.metadata.setdefault("tags", [])
            if "raises-exception" not in tags:
                tags.append("raises-exception")
        return cell, resources


def configure(c, root):
    """Fill the traitlets config ``c`` for a course directory at ``root`` (a path)."""
    c.CourseDirectory.root = str(Path(root).resolve())
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.source_directory = SOURCE_DIRECTORY
    c.CourseDirectory.release_directory = RELEASE_DIRECTORY

    # nbgrader's own pipeline, plus the stamps and the test cells' tags.
    c.GenerateAssignment.preprocessors = [
        IncludeHeaderFooter, InstantiateTests, LockCells, ClearSolutions, ClearOutput,
        CheckCellMetadata, ComputeChecksums, SaveCells, ClearHiddenTests, ClearMarkScheme,
        ComputeChecksums, CheckCellMetadata, StampGenerated, StampLanguageInfo, TagTestCells,
    ]
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

    # nbgrader's execute step is replaced: the student's cells run in a sandboxed kernel, the
    # test cells (the instructor's source) in nbgrader's own process; a cell that runs longer
    # than the timeout fails alone; what grading cannot prevent is flagged for review
    # (autograder/grader/execute.py).
    c.Autograde.autograde_preprocessors = [
        CourseExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
        FlagForReview, AssignLatePenalties, CheckCellMetadata,
    ]
    c.CourseExecute.timeout = CELL_TIMEOUT_SECONDS
    c.CourseExecute.sandbox = "bwrap"  # "none" grades with the grader's own rights
    # A resubmission that deleted a test cell gets it back and graded.
    c.OverwriteCells.add_missing_cells = True
    # Locked cells are restored as nbgrader does; only a student's edit is reported.
    c.Autograde.sanitize_preprocessors = lockedcells.SANITIZE_PREPROCESSORS
    # Feedback shows that hidden tests exist, not their source, and a failing test shows only
    # its visible line, the student's own lines and the message; its outputs name no folder of
    # the instructor's machine and its formulas are MathML, so the page works offline (no
    # MathJax from a CDN: TEMPLATE_BASEDIRS). Preprocessors that rewrite outputs go before
    # StripInstructorPaths.
    c.GenerateFeedback.preprocessors = [
        GetGrades, ClearHiddenTests, ShowStudentErrors,
        feedback.StripInstructorPaths, feedback.MathToMathML, CSSHTMLHeaderPreprocessor,
    ]
    c.GenerateFeedback.HTMLExporter.extra_template_basedirs = feedback.TEMPLATE_BASEDIRS
    return c
