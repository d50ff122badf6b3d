"""The class-grading command on a corpus of good and bad submissions, through real nbgrader."""
import csv
import hashlib
import zipfile

import pytest

from autograder.grader import classgrade
from submissions import corpus

ASSIGNMENT = corpus.ASSIGNMENT
# One xdist worker runs this module, so the corpus is graded once (the command uses both cores).
pytestmark = pytest.mark.xdist_group("classgrade")


def _checksums(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _rows(out):
    with open(out / "grades.csv", newline="") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def graded(repo, tmp_path_factory):
    """The corpus, its checksums before grading, the output folder and the results."""
    submissions = tmp_path_factory.mktemp("submissions")
    expected = corpus.build(submissions, repo / "notebooks" / ASSIGNMENT / corpus.FILENAME,
                            repo / "solutions" / ASSIGNMENT / corpus.FILENAME)
    before = _checksums(submissions)
    out = tmp_path_factory.mktemp("results")
    results = classgrade.grade_class(submissions, out, jobs=2, cell_timeout=30,
                                     assignments=[ASSIGNMENT], progress=False)
    return submissions, expected, before, out, results


def test_corpus_is_large_enough(graded):
    _, expected, *_ = graded
    assert len(expected) >= 20


def test_every_student_appears_in_the_csv(graded):
    _, expected, _, out, _ = graded
    assert set(_rows(out)) == set(expected)


def test_each_submission_gets_its_expected_outcome(graded):
    _, expected, _, out, results = graded
    rows = _rows(out)
    wrong = {}
    for student, want in expected.items():
        result, row = results[student][ASSIGNMENT], rows[student]
        problems = []
        if result["status"] != want.status:
            problems.append(f"status {result['status']!r} ({result['note']})")
        if want.status == "graded" and want.score is not None and result["score"] != want.score:
            failing = {c: s for c, s in result["cells"].items() if s[0] < s[1]}
            problems.append(f"score {result['score']} (cells below full marks: {failing})")
        for cell in want.zero_cells:
            if result["cells"].get(cell, (None,))[0] != 0:
                problems.append(f"{cell} scored {result['cells'].get(cell)}")
        if want.status != "graded" and row[ASSIGNMENT] != want.status:
            problems.append(f"CSV says {row[ASSIGNMENT]!r}, not {want.status!r}")
        if want.note and want.note not in row["notes"]:
            problems.append(f"CSV notes {row['notes']!r} lack {want.note!r}")
        if problems:
            wrong[student] = problems
    assert not wrong, wrong


def test_submitted_files_are_byte_identical_after_grading(graded):
    submissions, _, before, *_ = graded
    assert _checksums(submissions) == before


def test_summary_has_mean_and_failure_rate_per_cell_and_flags(graded):
    _, _, _, out, _ = graded
    with open(out / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    cells = {row["cell"]: row for row in rows if not row["cell"].startswith("(")}
    assert "conv2d_matches_torch" in cells
    assert 0 < float(cells["conv2d_matches_torch"]["failure_rate"]) < 1
    flags = {row["cell"]: int(row["graded"]) for row in rows if row["cell"].startswith("(")}
    assert flags == {"(missing)": 1, "(unreadable)": 2, "(not this notebook)": 1,
                     "(needs manual grade)": 2}
    assert (out / "summary.png").stat().st_size > 1000
    assert (out / "feedback" / "reference" / ASSIGNMENT / corpus.FILENAME.replace(".ipynb", ".html")).exists()


def test_rerun_grades_nothing_new_and_gives_the_same_csv(graded):
    submissions, _, _, out, _ = graded
    stored = {p: p.stat().st_mtime_ns for p in (out / "results").rglob("*.json")}
    grades = (out / "grades.csv").read_text()
    classgrade.grade_class(submissions, out, jobs=2, cell_timeout=30, assignments=[ASSIGNMENT],
                           progress=False)
    assert {p: p.stat().st_mtime_ns for p in (out / "results").rglob("*.json")} == stored
    assert (out / "grades.csv").read_text() == grades


def test_lms_zip_exports_are_collected_and_graded(graded, tmp_path):
    submissions, _, _, out, results = graded
    archive_dir = tmp_path / "lms" / ASSIGNMENT
    archive_dir.mkdir(parents=True)
    with zipfile.ZipFile(archive_dir / "export.zip", "w") as archive:
        for student in ("reference", "wrong", "osexit"):
            archive.write(submissions / student / ASSIGNMENT / corpus.FILENAME,
                          f"{student}_{corpus.FILENAME}")
    zipped = classgrade.grade_class(tmp_path / "lms", tmp_path / "out", jobs=2, cell_timeout=30,
                                    assignments=[ASSIGNMENT], progress=False)
    assert {s: r[ASSIGNMENT]["score"] for s, r in zipped.items()} == {
        s: results[s][ASSIGNMENT]["score"] for s in ("reference", "wrong", "osexit")}
