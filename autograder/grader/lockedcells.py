"""nbgrader's ``OverwriteCells`` without its false alarms about locked cells.

Before a submission runs, nbgrader puts back the source of every locked cell as the gradebook
holds it. For a test cell that is the instructor's version, hidden tests included, which the
release never had: so nbgrader warns ``Attribute 'checksum' for cell ... has changed!`` for every
test cell with hidden tests, even in an untouched notebook. ``RestoreLockedCells`` restores the
cells exactly as nbgrader does and warns only when the submitted source differs from the release
version of the cell (the gradebook's source without its hidden tests), i.e. when a student edited
a locked cell. That warning starts with ``EDITED_LOCKED_CELL`` so that tools can find it in a log.
"""
from nbformat import NotebookNode
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearOutput,
    DeduplicateIds,
    OverwriteCells,
    OverwriteKernelspec,
)

EDITED_LOCKED_CELL = "Edited locked cell"


def release_source(source):
    """The source of a gradebook cell as the student release has it (no hidden tests)."""
    cell = NotebookNode(source=source)
    ClearHiddenTests()._remove_hidden_test_region(cell)
    return cell.source


class RestoreLockedCells(OverwriteCells):
    """``OverwriteCells`` that warns about a locked cell only if the student changed it."""

    def preprocess_cell(self, cell, resources, cell_index):
        self._submitted_source = cell.source
        return super().preprocess_cell(cell, resources, cell_index)

    def report_change(self, name, attr, old, new):
        if attr != "checksum":
            return super().report_change(name, attr, old, new)
        source = self.gradebook.find_source_cell(name, self.notebook_id, self.assignment_id).source
        if self._submitted_source.rstrip() == release_source(source).rstrip():
            self.log.debug("Cell %s: hidden tests put back", name)
        else:
            self.log.warning("%s %s: the submitted source differs from the release; the original "
                             "is graded", EDITED_LOCKED_CELL, name)


# nbgrader's sanitize step with ``RestoreLockedCells`` in place of ``OverwriteCells``.
SANITIZE_PREPROCESSORS = [ClearOutput, DeduplicateIds, OverwriteKernelspec, RestoreLockedCells,
                          CheckCellMetadata]
