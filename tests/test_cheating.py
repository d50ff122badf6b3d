"""Cheating through the real pipeline: nothing earned for what was tampered with, and flagged.

Each cheat of ``tests/submissions/cheats.py`` is submitted and graded with nbgrader's own
``autograde`` (this repository's configuration: the sandboxed kernel and the grader-side checks),
for a NumPy notebook and a notebook of ``nn.Module`` exercises.
"""
import subprocess
import time

import pytest

from autograder.grader import notebooks
from submissions import cheats

ASSIGNMENTS = ["05_pooling", "08_residual"]


@pytest.mark.parametrize("assignment", [
    pytest.param(a, marks=pytest.mark.xdist_group("cheating")) for a in ASSIGNMENTS])
def test_cheats_earn_nothing_and_are_flagged(course, repo, tmp_path, assignment):
    filename = f"{assignment}.ipynb"
    release = notebooks.read(course.release(assignment) / filename)
    solution = notebooks.read(repo / "solutions" / assignment / filename)
    marker = tmp_path / "written-by-a-submission.txt"
    gradebook = course.root / "gradebook.db"
    wrong = []
    for student, cheat in cheats.build(assignment, release, solution, course.root, marker).items():
        folder = tmp_path / student
        folder.mkdir()
        files = {filename: folder / filename}
        notebooks.write(cheat.nb, files[filename])
        for name, text in cheat.files.items():
            (folder / name).write_text(text)
            files[name] = folder / name
        submitted = course.submit(assignment, student, files)
        result = course.autograde(assignment, student)
        graded = notebooks.read(course.root / "autograded" / student / assignment / filename)
        review = graded.metadata.get("cnn_course", {}).get("review", [])
        if result.score != cheat.score:
            wrong.append(f"{student}: scored {result.score}, expected {cheat.score}")
        if cheat.flagged and not (review and result.needs_manual_grade):
            wrong.append(f"{student}: not flagged for review")
        for name, text in cheat.files.items():
            if (submitted / name).read_text() != text:
                wrong.append(f"{student}: the submitted {name} was changed")
    time.sleep(6)  # what a process left behind would have done by now
    assert not marker.exists(), "a submission wrote outside its sandbox"
    assert gradebook.read_bytes()[:16] == b"SQLite format 3\x00", "the gradebook was overwritten"
    left = subprocess.run(["pgrep", "-f", str(marker)], capture_output=True, text=True).stdout
    assert not left, f"a process started by a submission outlived grading: {left}"
    assert not wrong, "\n".join(wrong)
