"""Grade a whole class with nbgrader: one command, every submitted notebook of every student.

    python -m autograder.grader.classgrade SUBMISSIONS --out RESULTS [--roster ROSTER.csv]
        [--assignment 01_convolution ...] [--jobs 2 | --scheduler tcp://HOST:PORT]
        [--cell-timeout 60] [--force] [--zip-regexp REGEXP] [--course-dir COURSE]

``SUBMISSIONS`` is either nbgrader's layout, ``<student>/<assignment>/<assignment>.ipynb``, or an
LMS export: ``<assignment>/`` folders holding ``.zip`` archives and/or the notebooks themselves,
named ``<student>_<assignment>.ipynb`` (``--zip-regexp``, matched against each file's path in its
archive, names ``student_id`` and ``file_id``). Student ids may hold dots, underscores, spaces
and non-ASCII letters. Every file of the input ends up in ``grades.csv`` or in the list of files
that could not be matched, printed and written to ``unmatched.csv`` with the reason.

The assignments graded are those named by ``--assignment``, or else those present in the
submissions. With ``--roster`` (a CSV of student ids: an ``id``, ``student_id``, ``username``
or ``login`` column, or ids alone), a student without a submission is ``missing`` and a file
whose id is not on the roster is not graded but listed (the command then exits with status 1).

Submissions are read, never written. Students are graded in parallel on Dask (``distributed``):
one task per student carries the student's files (bytes) and returns the results, feedback and
graded notebooks (bytes), which only this process writes into ``RESULTS``; each worker grades in
its own nbgrader course directory, in its own folder (no disk shared with this process, no two
processes writing one gradebook). By default the workers are a ``LocalCluster`` of ``--jobs``
processes on this machine; ``--scheduler`` sends the same tasks to a running Dask cluster whose
workers have this course's code and environment. A worker that dies while grading has its task
retried on another; a student whose task kills ``ALLOWED_FAILURES + 1`` workers is graded once more
alone, and if that kills them as well, is ``needs manual grade`` with the reason.
``RESULTS/results/<student>/<assignment>.json`` keeps each result, as it arrives, with a key over
everything that decides the grade: the submitted files, the assignment's source folder (its
hidden tests), every file of this package (the checks and the grading code), the nbgrader
configuration and the installed packages. A re-run (after an interruption too) grades only what
changed or is missing; ``--force`` regrades everything. ``RESULTS`` receives:

- ``grades.csv``: one row per student, one column per assignment, the total, its maximum,
  notes and ``review`` (what the grader flagged for the instructor's review, by assignment); a
  notebook that could not be graded says why (``missing``, ``unreadable``, ``not this notebook``,
  ``needs manual grade``), never a silent 0;
- ``summary.csv`` and ``summary.png``: per graded cell, the mean score and the failure rate,
  with the number of notebooks behind them, how many were handed in blank and how many were
  flagged for review;
- ``feedback/<student>/<assignment>/``: nbgrader's HTML feedback (hidden tests' source omitted);
- ``autograded/<student>/<assignment>/``: the graded notebooks.

These results live outside the course's own gradebook. ``--course-dir COURSE`` records them in
the nbgrader course directory ``COURSE`` (its ``gradebook.db``, ``autograded/`` and ``feedback/``)
as ``nbgrader autograde`` and ``generate_feedback`` would have: the formgrader then shows them,
``nbgrader export`` exports them and ``nbgrader release_feedback`` hands the feedback out.
"""
import argparse
import contextlib
import csv
import difflib
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import sys
import sysconfig
import tempfile
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import dask
import nbformat
from distributed import Client, KilledWorker, LocalCluster, as_completed, get_worker

import autograder
from autograder.grader import release
from autograder.grader.execute import FlagForReview, METADATA_KEY
from autograder.grader.lockedcells import EDITED_LOCKED_CELL

# Matched (re.fullmatch) against each file's path inside its archive or folder: the student id is
# everything before the ``_`` that precedes ``NN_name...ipynb``.
DEFAULT_ZIP_REGEXP = r"(?:.*/)?(?P<student_id>[^/]+?)_(?P<file_id>\d\d_[^/]*\.ipynb)"
GRADED, MISSING, UNREADABLE, MANUAL = "graded", "missing", "unreadable", "needs manual grade"
FOREIGN = "not this notebook"
FLAGS = (MISSING, UNREADABLE, FOREIGN, MANUAL)
# Characters nbgrader cannot have in a student id (it builds paths and glob patterns from it).
UNUSABLE_ID = re.compile(r"[/\\*?\[\]\x00-\x1f]|^\.|^$")
ARCHIVE_JUNK = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|Thumbs\.db$|desktop\.ini$)")
ROSTER_COLUMNS = ("id", "student_id", "student", "username", "login", "user")
NBGRADER_MISSING_CELL = re.compile(r"Missing grade cell (\S+) encountered")
# Every file of this folder is part of what decides a grade (``grading_context``).
PACKAGE_DIR = Path(autograder.__file__).resolve().parent
# Workers that may die while running one student's task before Dask gives up on it (KilledWorker),
# and, for tasks queued on the scheduler (more than twice the cluster's threads), one task handed
# to a worker per free thread: a worker's death then counts against the task it was running only.
ALLOWED_FAILURES = 2
SCHEDULER_CONFIG = {"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                    "distributed.scheduler.worker-saturation": 1.0}


@dataclass(frozen=True)
class Unmatched:
    """A file of the input that is in no student's submission, and why."""

    path: str
    reason: str
    junk: bool = False  # archive metadata (``__MACOSX/``, ``.DS_Store``): listed, not an error


class InputError(Exception):
    """The submissions folder or the roster cannot be read as the command expects."""


# ----------------------------------------------------------------------------- collecting

def nfc(text):
    return unicodedata.normalize("NFC", text).strip()


def read_roster(path):
    """The student ids of a roster CSV, in order (NFC-normalised, stripped)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = [row for row in csv.reader(handle) if any(cell.strip() for cell in row)]
    if not rows:
        raise InputError(f"roster {path} is empty")
    header = [nfc(cell).lower() for cell in rows[0]]
    column = next((header.index(name) for name in ROSTER_COLUMNS if name in header), None)
    if column is not None:
        rows = rows[1:]
    elif len(header) == 1:
        column = 0
    else:
        raise InputError(f"roster {path}: no column named {', '.join(ROSTER_COLUMNS)}")
    ids = [nfc(row[column]) for row in rows if len(row) > column and row[column].strip()]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise InputError(f"roster {path} lists {', '.join(duplicates)} more than once")
    return ids


def _member_name(info):
    """A zip member's name, decoded as the archiver meant (UTF-8 without the UTF-8 flag too)."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("utf-8")
        except UnicodeError:
            pass
    return nfc(name)


class Collector:
    """Gathers the submissions of an input folder into nbgrader's layout under ``submitted``."""

    def __init__(self, submitted, assignments, regexp, roster=None, wanted=None):
        self.submitted = Path(submitted)
        self.assignments = set(assignments)  # the course's assignments
        self.wanted = set(wanted) if wanted else None  # --assignment
        self.regexp = re.compile(regexp)
        self.roster = roster
        self.unmatched = []
        self.origin = {}  # (student, assignment, file name) -> input path

    def skip(self, path, reason, junk=False):
        self.unmatched.append(Unmatched(str(path), reason, junk))

    def _student_problem(self, student):
        if UNUSABLE_ID.search(student):
            return f"student id {student!r} cannot be used by nbgrader (/, \\, *, ?, [, ], a leading dot)"
        if self.roster is not None and student not in self.roster:
            close = difflib.get_close_matches(student, self.roster, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"student id {student!r} is not on the roster{hint}"
        return None

    def _assignment_problem(self, assignment):
        if assignment not in self.assignments:
            return f"{assignment!r} is not an assignment of this course"
        if self.wanted is not None and assignment not in self.wanted:
            return f"{assignment} was not asked for (--assignment)"
        return None

    def add(self, origin, student, assignment, filename, data):
        """Place one file; return False (and list it) if it cannot be placed."""
        problem = self._student_problem(student) or self._assignment_problem(assignment)
        if problem:
            self.skip(origin, problem)
            return False
        key = (student, assignment, filename)
        if key in self.origin:
            self.skip(origin, f"a second {filename} for {student}; the one graded is "
                              f"{self.origin[key]}")
            return False
        target = self.submitted / student / assignment / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.origin[key] = str(origin)
        return True

    def collect_nbgrader_layout(self, folder):
        for student_dir in sorted(folder.iterdir()):
            if not student_dir.is_dir():
                self.skip(student_dir.name, "not in a <student>/<assignment>/ folder")
                continue
            student = nfc(student_dir.name)
            for item in sorted(student_dir.iterdir()):
                relative = item.relative_to(folder)
                if not item.is_dir():
                    self.skip(relative, "not in a <student>/<assignment>/ folder")
                    continue
                files = sorted(p for p in item.rglob("*") if p.is_file())
                if not files:
                    self.add_empty(relative, student, item.name)
                for path in files:
                    name = str(path.relative_to(item))
                    self.add(path.relative_to(folder), student, item.name, name, path.read_bytes())

    def add_empty(self, relative, student, assignment):
        problem = self._student_problem(student) or self._assignment_problem(assignment)
        if problem:
            self.skip(relative, problem)
        else:
            (self.submitted / student / assignment).mkdir(parents=True, exist_ok=True)

    def collect_lms_export(self, folder):
        for assignment_dir in sorted(folder.iterdir()):
            if not assignment_dir.is_dir():
                self.skip(assignment_dir.name, "not in an <assignment>/ folder")
                continue
            for path in sorted(p for p in assignment_dir.rglob("*") if p.is_file()):
                relative = path.relative_to(folder)
                if path.suffix.lower() == ".zip":
                    self._collect_archive(path, relative, assignment_dir.name)
                else:
                    self._collect_file(relative, str(path.relative_to(assignment_dir)),
                                       assignment_dir.name, path.read_bytes())

    def _collect_archive(self, path, relative, assignment):
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            self.skip(relative, "not a readable zip archive")
            return
        with archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                name = _member_name(info)
                self._collect_file(f"{relative}:{name}", name, assignment,
                                   lambda info=info: archive.read(info))

    def _collect_file(self, origin, name, assignment, data):
        if ARCHIVE_JUNK.search(name):
            self.skip(origin, "archive metadata (macOS or Windows), not a submission", junk=True)
            return
        match = self.regexp.fullmatch(nfc(name))
        if not match:
            self.skip(origin, f"the name does not match --zip-regexp {self.regexp.pattern}")
            return
        student = nfc(match.group("student_id"))
        filename = nfc(match.group("file_id")).rsplit("/", 1)[-1]
        self.add(origin, student, assignment, filename, data() if callable(data) else data)


def is_lms_export(folder, assignments):
    """True if ``folder``'s sub-folders are named after assignments (an LMS export)."""
    return any(p.is_dir() and p.name in assignments for p in Path(folder).iterdir())


def collect(submissions, submitted, *, regexp=DEFAULT_ZIP_REGEXP, roster=None, wanted=None):
    """Copy the submissions into nbgrader's layout under ``submitted``; return the unmatched."""
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise InputError(f"{submissions} is not a folder")
    course = release.assignments()
    collector = Collector(submitted, course, regexp, roster, wanted)
    Path(submitted).mkdir(parents=True, exist_ok=True)
    if is_lms_export(submissions, course):
        collector.collect_lms_export(submissions)
    else:
        collector.collect_nbgrader_layout(submissions)
    return collector.unmatched


def students_in(submitted):
    """The student folders of an nbgrader ``submitted`` layout, sorted."""
    return sorted(p.name for p in Path(submitted).iterdir() if p.is_dir())


# ----------------------------------------------------------------------------- what decides a grade

def _digest_files(digest, folder):
    folder = Path(folder)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(b"\0" + path.read_bytes() + b"\0")


def grading_context(overrides):
    """A digest of what decides every grade beside the submission and the assignment.

    Every file of this package (the checks students see, the grader's oracles, the nbgrader
    configuration, the grading code), the overrides on top of that configuration and the
    distributions installed in this Python's site-packages, with their versions.
    """
    digest = hashlib.sha256()
    _digest_files(digest, PACKAGE_DIR)
    digest.update(json.dumps(overrides, sort_keys=True).encode())
    site_packages = sorted({sysconfig.get_paths()[key] for key in ("purelib", "platlib")})
    installed = sorted({f"{d.metadata['Name'] or ''}=={d.version}"
                        for d in importlib.metadata.distributions(path=site_packages)})
    digest.update("\n".join(installed).encode())
    return digest.hexdigest()


def grading_key(context, folder, assignment):
    """The cache key of one submission: ``context``, the submitted files, the assignment's source."""
    digest = hashlib.sha256(context.encode())
    _digest_files(digest, _source_dir(assignment))
    digest.update(b"submission")
    if Path(folder).is_dir():
        _digest_files(digest, folder)
    return digest.hexdigest()


def _source_dir(assignment):
    return release.REPO_ROOT / release.SOURCE_DIRECTORY / assignment


# ----------------------------------------------------------------------------- grading

def _solution_sources(nb):
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def _prepare(folder, assignment, target, release_nb):
    """Copy a submission into ``target``; return (status, notes, blank).

    A single notebook under another name (``01_convolution (1).ipynb``) is graded as the
    expected one; an unreadable notebook, or one with none of the assignment's nbgrader cells,
    is not graded. ``blank``: no solution cell differs from the release.
    """
    expected = f"{assignment}.ipynb"
    notebooks = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    if not notebooks:
        return MISSING, ["no notebook submitted" if folder.is_dir() else "no submission"], False
    notes = []
    chosen = next((p for p in notebooks if p.name == expected), None)
    if chosen is None:
        if len(notebooks) > 1:
            return MISSING, [f"no {expected}; found {', '.join(p.name for p in notebooks)}"], False
        chosen = notebooks[0]
        notes.append(f"graded {chosen.name} as {expected}")
    others = [p.name for p in notebooks if p != chosen]
    if others:
        notes.append(f"not graded: {', '.join(others)}")
    try:
        nb = nbformat.read(str(chosen), as_version=4)
    except Exception as error:  # nbformat raises several types for broken files
        return UNREADABLE, [f"{chosen.name} is not a readable notebook ({type(error).__name__})"], False
    grade_ids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in release_nb.cells} - {None}
    if not grade_ids & {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}:
        return FOREIGN, [f"{chosen.name} has none of the cells of {assignment}"], False
    released = _solution_sources(release_nb)
    submitted = _solution_sources(nb)
    blank = all(submitted.get(name, source) == source for name, source in released.items())
    target.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        if path.is_file() and path.suffix != ".ipynb":
            shutil.copyfile(path, target / path.name)
    shutil.copyfile(chosen, target / expected)
    return GRADED, notes, blank


def source_digest(assignment):
    """A digest of the assignment's source folder (its notebook with the hidden tests)."""
    digest = hashlib.sha256()
    _digest_files(digest, _source_dir(assignment))
    return digest.hexdigest()


class UnfitWorker(Exception):
    """A worker that would not grade as the command does: another version of the course, or more
    than one thread (the grading engine keeps per-process state, e.g. the forbidden calls seen)."""


def _dask_worker():
    """The Dask worker running this task, or ``None`` outside Dask."""
    try:
        return get_worker()
    except ValueError:
        return None


class Worker:
    """This process's nbgrader course directory, made on first use in the worker's own folder.

    A new one is made when the overrides change or an assignment's source changed since it was
    released here (a long-lived worker of a cluster grading after the course was updated).
    """

    course = overrides = None
    released = {}  # {assignment: source digest} of the assignments graded by ``course``

    @classmethod
    def get(cls, overrides, sources):
        stale = any(cls.released.get(name, digest) != digest for name, digest in sources.items())
        if cls.course is None or cls.overrides != overrides or stale:
            from autograder.grader.grading import Course
            if cls.course is not None:
                shutil.rmtree(cls.course.root, ignore_errors=True)
            worker = _dask_worker()  # its own folder, which Dask removes with the worker
            root = Path(tempfile.mkdtemp(prefix="classgrade-course-",
                                         dir=worker.local_directory if worker else None))
            cls.course = Course(root, release.REPO_ROOT / release.SOURCE_DIRECTORY,
                                overrides=overrides)
            cls.overrides, cls.released = overrides, {}
        cls.released.update(sources)
        return cls.course


def new_result(student, assignment, status, notes):
    return {"student": student, "assignment": assignment, "status": status, "notes": notes,
            "score": 0.0, "max_score": None, "cells": {}, "blank": False, "review": []}


def submission_files(folder):
    """``{file name: bytes}`` of a submission folder, or ``None`` if there is no such folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


def _folder_files(folder):
    """``{relative path: bytes}`` of every file under ``folder`` (empty if it does not exist)."""
    folder = Path(folder)
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def grade_student(student, files, assignments, overrides, sources):
    """Grade every assignment of one student: the task a Dask worker runs.

    ``files``: ``{assignment: {file name: bytes}}`` (an assignment absent: nothing handed in);
    ``sources``: the client's ``source_digest`` of each assignment, which must be this worker's.
    Returns ``{assignment: result dict}``, each with its feedback and graded notebook folders as
    ``{relative path: bytes}`` under ``"feedback"`` and ``"autograded"``. Nothing is left behind
    but the worker's gradebook entries.
    """
    worker = _dask_worker()
    where = f"worker {worker.address}" if worker else "here"
    if worker and worker.state.nthreads != 1:
        raise UnfitWorker(f"{where} has {worker.state.nthreads} threads: start the workers with "
                          "--nthreads 1")
    mine = {assignment: source_digest(assignment) for assignment in assignments}
    differing = sorted(a for a in assignments if mine[a] != sources[a])
    if differing:
        raise UnfitWorker(f"{where}: its solutions/ {', '.join(differing)} differ from the "
                          "command's; check out the same commit on the workers and restart them")
    course = Worker.get(overrides, mine)
    received = Path(tempfile.mkdtemp(prefix="received-", dir=course.root))
    results = {}
    try:
        for assignment in assignments:
            folder = received / student / assignment
            if assignment in files:
                folder.mkdir(parents=True)
                for name, data in files[assignment].items():
                    (folder / name).write_bytes(data)
            results[assignment] = _grade(course, student, assignment, folder)
    finally:
        shutil.rmtree(received, ignore_errors=True)
        for kind in ("submitted", "autograded", "feedback"):
            shutil.rmtree(course.root / kind / student, ignore_errors=True)
    return results


def _grade(course, student, assignment, folder):
    """One assignment of one student, graded in ``course`` from the submission in ``folder``."""
    release_dir = course.release(assignment)
    target = course.root / "submitted" / student / assignment
    if target.exists():
        shutil.rmtree(target)
    release_nb = nbformat.read(str(release_dir / f"{assignment}.ipynb"), 4)
    status, notes, blank = _prepare(folder, assignment, target, release_nb)
    result = new_result(student, assignment, status, notes)
    if status != GRADED:
        return result
    graded = course.autograde(assignment, student)
    result.update(score=graded.score, max_score=graded.max_score, cells=graded.cells, blank=blank)
    if blank:
        result["notes"].append("blank: no answer differs from the release")
    result["notes"] += _log_notes(graded.log)
    autograded = course.root / "autograded" / student / assignment
    result["autograded"] = _folder_files(autograded)
    result["review"] = _review_flags(autograded / f"{assignment}.ipynb")
    if graded.needs_manual_grade:
        result["status"] = MANUAL
        result["notes"].append("flagged for review: " + "; ".join(result["review"])
                               if result["review"] else _reason(graded.log))
    else:
        result["feedback"] = _folder_files(course.feedback(assignment, student))
    return result


def killed_results(student, assignments, deaths):
    """The results of a student whose task killed ``deaths`` workers, alone too: not graded."""
    note = (f"the grading worker died {deaths} times on this submission, also when graded alone; "
            "not graded")
    return {assignment: new_result(student, assignment, MANUAL, [note]) for assignment in assignments}


def _review_flags(path):
    """What the grader flagged for the instructor's review in a graded notebook."""
    if not path.exists():
        return []
    return list(nbformat.read(str(path), 4).metadata.get(METADATA_KEY, {}).get("review", []))


def _log_notes(log):
    """What nbgrader repaired in a submission, from its log: edited and deleted locked cells."""
    notes = []
    edited = re.findall(re.escape(EDITED_LOCKED_CELL) + r" (\S+):", log)
    if edited:
        notes.append(f"edited locked cells (the originals were graded): {', '.join(edited)}")
    deleted = NBGRADER_MISSING_CELL.findall(log)
    if deleted:
        notes.append(f"deleted test cells (put back and graded): {', '.join(deleted)}")
    return notes


def _reason(log):
    """The most telling line of an nbgrader log, for the CSV."""
    for marker in ("DeadKernelError", "Kernel died", "CellTimeoutError", "Timeout",
                   "NotJSONError", "Error"):
        for line in log.splitlines():
            if marker in line:
                return line.strip()[:200]
    return "nbgrader could not grade this notebook"


# ----------------------------------------------------------------------------- reports

def max_points(assignment):
    """The points of an assignment: the sum over its graded cells in the source notebook."""
    nb = nbformat.read(str(_source_dir(assignment) / f"{assignment}.ipynb"), 4)
    return sum(float(c.metadata["nbgrader"].get("points", 0)) for c in nb.cells
               if c.metadata.get("nbgrader", {}).get("grade"))


def _cell(result):
    return f"{result['score']:g}" if result["status"] == GRADED else result["status"]


def _total(by_assignment, assignments):
    return f"{sum(by_assignment[a]['score'] for a in assignments if by_assignment[a]['status'] == GRADED):g}"


def _max_total(by_assignment, assignments):
    return f"{sum(max_points(a) for a in assignments):g}"


def _notes(by_assignment, assignments):
    return "; ".join(f"{a}: {', '.join(by_assignment[a]['notes'])}" for a in assignments
                     if by_assignment[a]["notes"])


def _review(by_assignment, assignments):
    """What the grader flagged for review: ``assignment: reason; reason``, assignments by `` | ``."""
    return " | ".join(f"{a}: {'; '.join(by_assignment[a]['review'])}" for a in assignments
                      if by_assignment[a].get("review"))


# The columns after the per-assignment ones: (header, function of a student's results).
ROW_COLUMNS = (("total", _total), ("max_total", _max_total), ("notes", _notes),
               ("review", _review))


def write_grades(out, students, assignments, results):
    """``grades.csv``: student, one column per assignment (score or status), ``ROW_COLUMNS``."""
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *assignments, *(name for name, _ in ROW_COLUMNS)])
        for student in students:
            by_assignment = results[student]
            writer.writerow([student, *(_cell(by_assignment[a]) for a in assignments),
                             *(column(by_assignment, assignments) for _, column in ROW_COLUMNS)])


def write_unmatched(out, unmatched):
    with open(out / "unmatched.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "reason"])
        writer.writerows((item.path, item.reason) for item in unmatched)


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


def counts(assignment, results):
    """``{status: notebooks}`` of one assignment, with ``"blank"`` among the graded."""
    found = {status: 0 for status in (GRADED, "blank", *FLAGS)}
    for by_assignment in results.values():
        result = by_assignment[assignment]
        found[result["status"]] += 1
        found["blank"] += result["status"] == GRADED and result["blank"]
    return found


def flagged_for_review(assignment, results):
    """How many notebooks of ``assignment`` the grader flagged for the instructor's review."""
    return sum(bool(by_assignment[assignment].get("review")) for by_assignment in results.values())


def write_summary(out, rows, results, assignments):
    with open(out / "summary.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["assignment", "cell", "points", "mean_score", "failure_rate", "graded"])
        for assignment, cell, points, mean, rate, count in rows:
            writer.writerow([assignment, cell, f"{points:g}", f"{mean:.2f}", f"{rate:.3f}", count])
        for assignment in assignments:
            for status, count in counts(assignment, results).items():
                if status != GRADED and count:
                    label = "(blank, among the graded)" if status == "blank" else f"({status})"
                    writer.writerow([assignment, label, "", "", "", count])
            flagged = flagged_for_review(assignment, results)
            if flagged:
                writer.writerow([assignment, "(flagged for review)", "", "", "", flagged])
    _plot_summary(out / "summary.png", rows, results, assignments)


def summary_titles(assignments, results):
    """One line per assignment: how many notebooks the summary covers, blank ones included."""
    titles = []
    for assignment in assignments:
        found = counts(assignment, results)
        flagged = sum(found[s] for s in FLAGS)
        titles.append(f"{assignment}: {found[GRADED]} graded notebooks ({found['blank']} blank, "
                      f"counted as failing every cell); {flagged} not graded")
    return titles


def _plot_summary(path, rows, results, assignments):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        return
    labels = [f"{a[:2]} {cell}" for a, cell, *_ in rows]
    titles = summary_titles(assignments, results)
    fig, (left, right) = plt.subplots(
        1, 2, sharey=True, figsize=(11, 1.2 + 0.25 * len(rows) + 0.2 * len(titles)))
    left.barh(labels, [mean / points if points else 0 for _, _, points, mean, *_ in rows],
              color="tab:blue")
    left.set_xlabel("mean score (share of the cell's points)")
    right.barh(labels, [rate for *_, rate, _ in rows], color="tab:red")
    right.set_xlabel("failure rate (share of notebooks below full marks)")
    for ax in (left, right):
        ax.set_xlim(0, 1)
        ax.grid(axis="x", alpha=0.3)
    left.invert_yaxis()
    left.tick_params(axis="y", labelsize=7)
    fig.suptitle("\n".join(titles), fontsize=9)
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

@dataclass
class ClassResults:
    """What ``grade_class`` did: results by student and assignment, and what it left out."""

    results: dict  # {student: {assignment: result}}
    assignments: list
    unmatched: list
    regraded: int
    reused: int
    recorded: int = 0  # results recorded in a course directory (``course_dir``)


def grade_class(submissions, out, *, jobs=2, scheduler=None, cell_timeout=60,
                zip_regexp=DEFAULT_ZIP_REGEXP, assignments=None, roster=None, force=False,
                course_dir=None, progress=True):
    """Grade the students of ``submissions`` into ``out``; return a ``ClassResults``.

    The students are graded on a ``LocalCluster`` of ``jobs`` worker processes started here and
    shut down at the end, or with ``scheduler`` (``tcp://HOST:PORT``) on that Dask cluster. With
    ``course_dir``, the results are also recorded in that nbgrader course directory
    (``record_in_course``).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    course = release.assignments()
    unknown = sorted(set(assignments or ()) - set(course))
    if unknown:
        raise InputError(f"not assignments of this course: {', '.join(unknown)}")
    roster_ids = read_roster(roster) if roster else None
    overrides = {"CourseExecute": {"timeout": cell_timeout}}
    scratch = Path(tempfile.mkdtemp(prefix="classgrade-", dir=out))
    try:
        submitted = scratch / "submitted"
        unmatched = collect(submissions, submitted, regexp=zip_regexp, roster=roster_ids,
                            wanted=assignments)
        present = {p.name for p in submitted.glob("*/*") if p.is_dir()}
        assignments = sorted(assignments or present)
        students = sorted(set(students_in(submitted)) | set(roster_ids or ()), key=str.casefold)
        context = grading_context(overrides)
        results, todo, keys = {}, {}, {}
        for student in students:
            results[student] = {}
            for assignment in assignments:
                key = grading_key(context, submitted / student / assignment, assignment)
                keys[student, assignment] = key
                cached = None if force else _cached(out, student, assignment, key)
                if cached is None:
                    todo.setdefault(student, []).append(assignment)
                else:
                    results[student][assignment] = cached
        bar = Progress(len(students)) if progress else None
        for student in students:
            if student not in todo and bar:
                bar.step(f"{student} (unchanged)")
        sources = {assignment: source_digest(assignment) for assignment in assignments}
        tasks = {student: _task(submitted, student, names, overrides, sources)
                 for student, names in todo.items()}

        def arrived(student, by_assignment):
            for assignment, result in by_assignment.items():
                result["key"] = keys[student, assignment]
                _store(out, result)
                results[student][assignment] = result
            if bar:
                bar.step(student)

        if tasks:
            with dask_client(jobs, scheduler) as client:
                run_on_dask(client, tasks, arrived)
        write_grades(out, students, assignments, results)
        write_summary(out, summarize(assignments, results), results, assignments)
        write_unmatched(out, unmatched)
        regraded = sum(len(names) for names in todo.values())
        graded = ClassResults(results, assignments, unmatched, regraded,
                              len(students) * len(assignments) - regraded)
        if course_dir:
            graded.recorded = record_in_course(course_dir, out, graded, submitted)
        return graded
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _task(submitted, student, assignments, overrides, sources):
    """The arguments of ``grade_student`` for one student: the files handed in, as bytes."""
    files = {}
    for assignment in assignments:
        handed_in = submission_files(submitted / student / assignment)
        if handed_in is not None:
            files[assignment] = handed_in
    return (student, files, assignments, overrides,
            {assignment: sources[assignment] for assignment in assignments})


@contextlib.contextmanager
def dask_client(jobs=2, scheduler=None):
    """A Dask client of ``scheduler``, or of a ``LocalCluster`` of ``jobs`` processes started here.

    The local cluster (shut down on leaving, errors and interruptions included) has the
    scheduler settings ``SCHEDULER_CONFIG`` and workers with one grading thread each and no Dask
    memory limit: the grading kernel has its own, and Dask's, a share of the machine's memory,
    would pause or restart a worker whose grader holds more.
    """
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with dask.config.set(SCHEDULER_CONFIG):
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                               memory_limit=0, dashboard_address=":0")
    with cluster, Client(cluster) as client:
        yield client


def run_on_dask(client, tasks, arrived):
    """Run ``grade_student(*tasks[student])`` for every student; ``arrived(student, results)`` each.

    Results are handled as they complete. A task that killed workers until Dask gave up on it
    (``KilledWorker``: a worker's death counts against every task it held) is run again alone
    once the others are done; if it kills its workers alone too, the student's assignments are
    ``needs manual grade`` (``killed_results``).
    """
    run = f"classgrade-{uuid.uuid4().hex[:12]}"
    students = list(tasks)
    killed = []
    # One graph, its keys one task group: with more tasks than twice the cluster's threads, Dask
    # queues them on the scheduler and hands a worker a new one only when its thread is free.
    for future in as_completed(client.map(grade_student, *zip(*tasks.values()),
                                          key=[(run, s) for s in students], pure=False)):
        student = future.key[1]
        try:
            by_assignment = future.result()
        except KilledWorker:
            killed.append(student)
            continue
        finally:
            future.release()
        arrived(student, by_assignment)
    for student in killed:
        future = client.submit(grade_student, *tasks[student], key=(f"{run}-alone", student),
                               pure=False)
        try:
            by_assignment = future.result()
        except KilledWorker as error:
            by_assignment = killed_results(student, tasks[student][2], error.allowed_failures + 1)
        finally:
            future.release()
        arrived(student, by_assignment)


def _result_path(out, student, assignment):
    return out / "results" / student / f"{assignment}.json"


def _cached(out, student, assignment, key):
    path = _result_path(out, student, assignment)
    if not path.exists():
        return None
    result = json.loads(path.read_text(encoding="utf-8"))
    return result if result.get("key") == key else None


def _store(out, result):
    """Keep a result, its feedback and its graded notebook (``{relative path: bytes}``) in ``out``."""
    student, assignment = result["student"], result["assignment"]
    for kind in ("feedback", "autograded"):
        files = result.pop(kind, None) or {}
        target = out / kind / student / assignment
        if target.exists():
            shutil.rmtree(target)
        for relative, data in files.items():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            (target / relative).write_bytes(data)
    path = _result_path(out, student, assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, sort_keys=True, ensure_ascii=False),
                    encoding="utf-8")


# ----------------------------------------------------------------------------- the course's gradebook

def record_in_course(course_dir, out, graded, submitted):
    """Record the graded notebooks of ``graded`` (a ``ClassResults``) in an nbgrader course.

    For each: the submission in ``COURSE/submitted/`` unless one is there already (so that
    ``nbgrader autograde`` can regrade it), its graded notebook in ``COURSE/autograded/``, its
    feedback in ``COURSE/feedback/`` and its scores in ``COURSE``'s gradebook, read from the
    graded notebook by nbgrader's own ``SaveAutoGrades`` and the review flags by ``FlagForReview``,
    as ``nbgrader autograde`` records them. Returns the number recorded.
    """
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import SaveAutoGrades

    course_dir, out = Path(course_dir).resolve(), Path(out)
    api = release.nbgrader_api(course_dir)
    db_url = api.coursedir.db_url
    release.register(course_dir, graded.assignments, only_missing=True)
    recorded = 0
    for student, by_assignment in graded.results.items():
        for assignment, result in by_assignment.items():
            source = out / "autograded" / student / assignment
            if result["status"] not in (GRADED, MANUAL) or not source.is_dir():
                continue
            target = course_dir / "autograded" / student / assignment
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(source, target)
            handed_in = course_dir / "submitted" / student / assignment
            if not handed_in.exists():
                shutil.copytree(Path(submitted) / student / assignment, handed_in)
            timestamp_file = target / "timestamp.txt"
            timestamp = ({"timestamp": timestamp_file.read_text().strip()}
                         if timestamp_file.exists() else {})
            with Gradebook(db_url) as gradebook:
                gradebook.update_or_create_student(student)
                gradebook.update_or_create_submission(assignment, student, **timestamp)
            for path in sorted(target.glob("*.ipynb")):
                nb = nbformat.read(str(path), 4)
                resources = {"nbgrader": {"notebook": path.stem, "assignment": assignment,
                                          "student": student, "db_url": db_url}}
                for preprocessor in (SaveAutoGrades, FlagForReview):
                    nb, resources = preprocessor().preprocess(nb, resources)
            feedback = out / "feedback" / student / assignment
            feedback_target = course_dir / "feedback" / student / assignment
            if feedback_target.exists():
                shutil.rmtree(feedback_target)
            if feedback.is_dir():
                shutil.copytree(feedback, feedback_target)
            recorded += 1
    return recorded


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions",
                        help="nbgrader layout <student>/<assignment>/, or an LMS export "
                             "<assignment>/*.zip")
    parser.add_argument("--out", required=True, help="folder for grades.csv, summary, feedback")
    parser.add_argument("--assignment", action="append",
                        help="grade this assignment (repeatable; default: those submitted)")
    parser.add_argument("--roster", help="CSV of student ids: the class list")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                       help="worker processes of the local Dask cluster: students graded at once")
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="grade on this running Dask cluster instead of local processes")
    parser.add_argument("--cell-timeout", type=int, default=60, help="seconds per cell")
    parser.add_argument("--zip-regexp", default=DEFAULT_ZIP_REGEXP,
                        help="regexp naming student_id and file_id in LMS file names")
    parser.add_argument("--force", action="store_true", help="regrade every notebook")
    parser.add_argument("--course-dir",
                        help="also record the results in this nbgrader course directory")
    args = parser.parse_args(argv)
    try:
        graded = grade_class(args.submissions, args.out, jobs=args.jobs, scheduler=args.scheduler,
                             cell_timeout=args.cell_timeout, zip_regexp=args.zip_regexp,
                             assignments=args.assignment, roster=args.roster, force=args.force,
                             course_dir=args.course_dir)
    except InputError as error:
        parser.error(str(error))
    except UnfitWorker as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    flagged = sum(r["status"] != GRADED for by in graded.results.values() for r in by.values())
    review = ", ".join(f"{a} {flagged_for_review(a, graded.results)}" for a in graded.assignments)
    print(f"{len(graded.results)} students, assignments {', '.join(graded.assignments) or 'none'}: "
          f"{graded.regraded} graded, {graded.reused} unchanged since the last run; "
          f"{flagged} flagged; for review: {review or 'none'}; see {Path(args.out) / 'grades.csv'}")
    if graded.unmatched:
        print(f"{len(graded.unmatched)} files could not be matched to a student's submission "
              f"({Path(args.out) / 'unmatched.csv'}):", file=sys.stderr)
        for item in graded.unmatched:
            print(f"  {item.path}: {item.reason}", file=sys.stderr)
    if args.course_dir:
        print(f"recorded {graded.recorded} graded notebooks in {args.course_dir} (gradebook.db, "
              "submitted/, autograded/, feedback/)")
    return 1 if any(not item.junk for item in graded.unmatched) else 0


if __name__ == "__main__":
    # The tasks sent to Dask must name this module, not ``__main__``.
    from autograder.grader.classgrade import main as command
    sys.exit(command())
