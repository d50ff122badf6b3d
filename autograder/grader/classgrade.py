"""Grade a whole class with nbgrader: one command, every notebook of every student.

    python -m autograder.grader.classgrade SUBMISSIONS --out RESULTS [--jobs 2] [--cell-timeout 60]

``SUBMISSIONS`` is either nbgrader's layout, ``<student>/<assignment>/<assignment>.ipynb``, or, for
LMS exports, ``<assignment>/*.zip`` archives collected with nbgrader's ``zip_collect`` (file names
matched by ``--zip-regexp``, which must name ``student_id`` and ``file_id``). Submissions are read,
never written: graders work on copies.

Students are graded in parallel, each worker in its own nbgrader course directory (its own
gradebook: no two processes write one database). Results are kept per student and notebook in
``RESULTS/results/<student>/<assignment>.json`` with a hash of what was graded, so a re-run grades
only what changed. ``RESULTS`` receives:

- ``grades.csv``: one row per student, one column per notebook, plus the total; a notebook that
  could not be graded says why (``missing``, ``unreadable``, ``not this notebook``,
  ``needs manual grade``), never a silent 0;
- ``summary.csv`` and ``summary.png``: per graded cell, the mean score and the failure rate;
- ``feedback/<student>/<assignment>/``: nbgrader's HTML feedback (hidden tests' source omitted).
"""
import argparse
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat

from autograder.grader import release

# nbgrader matches it against the extracted file's whole path.
DEFAULT_ZIP_REGEXP = r".*/(?P<student_id>[A-Za-z0-9]+)_(?P<file_id>\w+\.ipynb)$"
GRADED, MISSING, UNREADABLE, MANUAL = "graded", "missing", "unreadable", "needs manual grade"
FOREIGN = "not this notebook"


# ----------------------------------------------------------------------------- collecting

def collect_zips(submissions, workdir, regexp=DEFAULT_ZIP_REGEXP):
    """Run nbgrader's ``zip_collect`` on ``<assignment>/*.zip``; return the ``submitted/`` folder."""
    course = Path(workdir) / "zip-collect"
    for folder in sorted(p for p in Path(submissions).iterdir() if p.is_dir()):
        archives = sorted(folder.glob("*.zip"))
        if not archives:
            continue
        archive_dir = course / "downloaded" / folder.name / "archive"
        archive_dir.mkdir(parents=True, exist_ok=True)
        for archive in archives:
            shutil.copyfile(archive, archive_dir / archive.name)
        subprocess.run(
            [sys.executable, "-m", "nbgrader", "zip_collect", folder.name, "--force",
             f"--CourseDirectory.root={course}",
             f"--FileNameCollectorPlugin.named_regexp={regexp}"],
            check=True, capture_output=True, text=True, env=_env())
    return course / "submitted"


def has_zips(submissions):
    return any(Path(submissions).glob("*/*.zip"))


def students_in(submitted):
    """The student folders of an nbgrader ``submitted`` layout, sorted."""
    return sorted(p.name for p in Path(submitted).iterdir() if p.is_dir())


def submission_hash(folder, source_notebook):
    """SHA-256 over the submitted files and the source notebook they are graded against."""
    digest = hashlib.sha256(Path(source_notebook).read_bytes())
    if folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


# ----------------------------------------------------------------------------- grading

def _env():
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def _prepare(folder, assignment, target, grade_ids):
    """Copy a submission into ``target``; return (status, note).

    A single notebook under another name (``01_convolution (1).ipynb``) is graded as the
    expected one; an unreadable notebook, or one with none of the assignment's nbgrader cells
    (``grade_ids``), is not graded.
    """
    expected = f"{assignment}.ipynb"
    notebooks = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    if not notebooks:
        return MISSING, f"no notebook in {folder.name if folder.is_dir() else 'the submission'}"
    note = ""
    chosen = next((p for p in notebooks if p.name == expected), None)
    if chosen is None:
        if len(notebooks) > 1:
            return MISSING, f"no {expected}; found {', '.join(p.name for p in notebooks)}"
        chosen = notebooks[0]
        note = f"graded {chosen.name} as {expected}"
    try:
        nb = nbformat.read(str(chosen), as_version=4)
    except Exception as error:  # nbformat raises several types for broken files
        return UNREADABLE, f"{chosen.name} is not a readable notebook ({type(error).__name__})"
    if not grade_ids & {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}:
        return FOREIGN, f"{chosen.name} has none of the cells of {assignment}"
    target.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        if path.is_file() and path.suffix != ".ipynb":
            shutil.copyfile(path, target / path.name)
    shutil.copyfile(chosen, target / expected)
    return GRADED, note


class Worker:
    """One process's nbgrader course directory, created on first use."""

    course = None

    @classmethod
    def get(cls, scratch, cell_timeout):
        if cls.course is None:
            from autograder.grader.grading import Course
            root = Path(tempfile.mkdtemp(prefix="worker-", dir=scratch))
            cls.course = Course(root, release.REPO_ROOT / "solutions",
                                overrides={"Execute": {"timeout": cell_timeout}})
        return cls.course


def grade_student(student, submitted, assignments, scratch, cell_timeout):
    """Grade every assignment of one student; return ``{assignment: result dict}``."""
    course = Worker.get(scratch, cell_timeout)
    results = {}
    for assignment in assignments:
        folder = Path(submitted) / student / assignment
        release_dir = course.release(assignment)
        target = course.root / "submitted" / student / assignment
        if target.exists():
            shutil.rmtree(target)
        status, note = _prepare(folder, assignment, target, _grade_ids(release_dir / f"{assignment}.ipynb"))
        result = {"student": student, "assignment": assignment, "status": status, "note": note,
                  "score": 0.0, "max_score": None, "cells": {}}
        if status == GRADED:
            graded = course.autograde(assignment, student)
            result.update(score=graded.score, max_score=graded.max_score, cells=graded.cells)
            if graded.needs_manual_grade:
                result["status"] = MANUAL
                result["note"] = (note + "; " if note else "") + _reason(graded.log)
            else:
                result["feedback"] = str(course.feedback(assignment, student))
        results[assignment] = result
    return results


def _grade_ids(path):
    return {c.metadata.get("nbgrader", {}).get("grade_id") for c in nbformat.read(str(path), 4).cells
            } - {None}


def _reason(log):
    """The most telling line of an nbgrader log, for the CSV."""
    for marker in ("DeadKernelError", "Kernel died", "CellTimeoutError", "Timeout",
                   "NotJSONError", "Error"):
        for line in log.splitlines():
            if marker in line:
                return line.strip()[:200]
    return "nbgrader could not grade this notebook"


# ----------------------------------------------------------------------------- reports

def write_grades(out, students, assignments, results):
    """``grades.csv``: student, one column per notebook (score or status), total, notes."""
    with open(out / "grades.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *assignments, "total", "max_total", "notes"])
        for student in students:
            row, total, notes = [student], 0.0, []
            for assignment in assignments:
                result = results[student][assignment]
                if result["status"] == GRADED:
                    row.append(f"{result['score']:g}")
                    total += result["score"]
                else:
                    row.append(result["status"])
                if result["note"]:
                    notes.append(f"{assignment}: {result['note']}")
            writer.writerow([*row, f"{total:g}", f"{100 * len(assignments):g}", "; ".join(notes)])


def summarize(assignments, results):
    """Rows (assignment, cell, max points, mean score, failure rate, graded notebooks)."""
    rows = []
    for assignment in assignments:
        graded = [r[assignment] for r in results.values() if r[assignment]["status"] == GRADED]
        cells = {}
        for result in graded:
            for cell, (score, maximum) in result["cells"].items():
                cells.setdefault(cell, (maximum, []))[1].append(score)
        for cell, (maximum, scores) in cells.items():
            failures = sum(score < maximum for score in scores)
            rows.append((assignment, cell, maximum, sum(scores) / len(scores),
                         failures / len(scores), len(scores)))
    return rows


def write_summary(out, rows, results, assignments):
    with open(out / "summary.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["assignment", "cell", "points", "mean_score", "failure_rate", "graded"])
        for assignment, cell, points, mean, rate, count in rows:
            writer.writerow([assignment, cell, f"{points:g}", f"{mean:.2f}", f"{rate:.3f}", count])
        for assignment in assignments:
            for status in (MISSING, UNREADABLE, FOREIGN, MANUAL):
                count = sum(r[assignment]["status"] == status for r in results.values())
                if count:
                    writer.writerow([assignment, f"({status})", "", "", "", count])
    _plot_summary(out / "summary.png", rows)


def _plot_summary(path, rows):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        return
    labels = [f"{a[:2]} {cell}" for a, cell, *_ in rows]
    fig, ax = plt.subplots(figsize=(8, max(2.0, 0.25 * len(rows))))
    ax.barh(labels, [rate for *_, rate, _ in rows], color="tab:red")
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("failure rate (share of graded notebooks below full marks)")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, total, stream=sys.stderr):
        self.total, self.done, self.stream = total, 0, stream

    def step(self, label):
        self.done += 1
        filled = int(30 * self.done / max(self.total, 1))
        self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} {label:<30}")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


# ----------------------------------------------------------------------------- the command

def grade_class(submissions, out, *, jobs=2, cell_timeout=60, zip_regexp=DEFAULT_ZIP_REGEXP,
                assignments=None, progress=True):
    """Grade every student in ``submissions`` into ``out``; return ``{student: {assignment: result}}``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    assignments = assignments or release.assignments()
    scratch = Path(tempfile.mkdtemp(prefix="classgrade-", dir=out))
    try:
        submitted = (collect_zips(submissions, scratch, zip_regexp) if has_zips(submissions)
                     else Path(submissions))
        students = students_in(submitted) if submitted.is_dir() else []
        results, todo = {}, {}
        for student in students:
            results[student] = {}
            for assignment in assignments:
                cached = _cached(out, student, assignment, submitted)
                if cached is None:
                    todo.setdefault(student, []).append(assignment)
                else:
                    results[student][assignment] = cached
        bar = Progress(len(students)) if progress else None
        for student in students:
            if student not in todo and bar:
                bar.step(f"{student} (unchanged)")
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(grade_student, student, str(submitted), names, str(scratch),
                                   cell_timeout): student for student, names in todo.items()}
            for future in as_completed(futures):
                student = futures[future]
                for assignment, result in future.result().items():
                    _store(out, result, submitted)
                    results[student][assignment] = result
                if bar:
                    bar.step(student)
        write_grades(out, students, assignments, results)
        write_summary(out, summarize(assignments, results), results, assignments)
        return results
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _result_path(out, student, assignment):
    return out / "results" / student / f"{assignment}.json"


def _source(assignment):
    return release.REPO_ROOT / "solutions" / assignment / f"{assignment}.ipynb"


def _cached(out, student, assignment, submitted):
    path = _result_path(out, student, assignment)
    if not path.exists():
        return None
    result = json.loads(path.read_text())
    folder = Path(submitted) / student / assignment
    return result if result.get("hash") == submission_hash(folder, _source(assignment)) else None


def _store(out, result, submitted):
    student, assignment = result["student"], result["assignment"]
    result["hash"] = submission_hash(Path(submitted) / student / assignment, _source(assignment))
    feedback = result.pop("feedback", None)
    target = out / "feedback" / student / assignment
    if target.exists():
        shutil.rmtree(target)
    if feedback and Path(feedback).is_dir():
        shutil.copytree(feedback, target)
    path = _result_path(out, student, assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, sort_keys=True))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", help="nbgrader layout <student>/<assignment>/ or <assignment>/*.zip")
    parser.add_argument("--out", required=True, help="folder for grades.csv, summary, feedback")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="students graded at once")
    parser.add_argument("--cell-timeout", type=int, default=60, help="seconds per cell")
    parser.add_argument("--zip-regexp", default=DEFAULT_ZIP_REGEXP,
                        help="regexp naming student_id and file_id in LMS file names")
    parser.add_argument("--assignment", action="append", help="grade only these (repeatable)")
    args = parser.parse_args(argv)
    results = grade_class(args.submissions, args.out, jobs=args.jobs, cell_timeout=args.cell_timeout,
                          zip_regexp=args.zip_regexp, assignments=args.assignment)
    flagged = sum(r["status"] != GRADED for by in results.values() for r in by.values())
    print(f"graded {len(results)} students; {flagged} notebooks flagged; see {args.out}/grades.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
