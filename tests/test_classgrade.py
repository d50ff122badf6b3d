"""The class-grading command on a corpus of good and bad submissions, through real nbgrader.

Four runs of real commands: the corpus in nbgrader's layout (``grade_class`` on its default local
Dask cluster of two worker processes), an LMS export with a roster (``python -m
autograder.grader.classgrade``, recorded in a course directory that ``nbgrader`` then uses), a
one-mistake submission graded again after a check is weakened in a copy of the package, and a
few students of the corpus with two that kill their workers, on a Dask scheduler and two workers
started apart (``--scheduler``).
"""
import csv
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile

import pytest

from autograder.grader import classgrade, feedback, notebooks
from submissions import corpus

ASSIGNMENT = corpus.ASSIGNMENT
HTML = corpus.FILENAME.replace(".ipynb", ".html")
# One xdist worker runs this module, so the corpus is graded once (the command uses both cores).
pytestmark = pytest.mark.xdist_group("classgrade")


def _checksums(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _rows(out):
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def _classgrade(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "autograder.grader.classgrade", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=env)


def _instructor_folders(repo, *more):
    return {str(repo), str(repo.resolve()), sys.prefix, os.path.expanduser("~"), *map(str, more)}


# ----------------------------------------------------------------------------- the corpus

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
    _, expected, _, out, results = graded
    assert set(_rows(out)) == set(expected)
    assert results.unmatched == []


def test_each_submission_gets_its_expected_outcome(graded):
    _, expected, _, out, graded_class = graded
    rows = _rows(out)
    wrong = {}
    for student, want in expected.items():
        result, row = graded_class.results[student][ASSIGNMENT], rows[student]
        problems = []
        if result["status"] != want.status:
            problems.append(f"status {result['status']!r} ({result['notes']})")
        if want.score is not None and result["score"] != want.score:
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


def test_only_the_graded_assignment_counts_towards_the_maximum(graded):
    _, _, _, out, _ = graded
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header == ["student", ASSIGNMENT, "total", "max_total", "notes", "review"]
    assert {row["max_total"] for row in _rows(out).values()} == {"100"}


def test_summary_has_mean_and_failure_rate_per_cell_and_flags(graded):
    _, expected, _, out, results = graded
    with open(out / "summary.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    cells = {row["cell"]: row for row in rows if not row["cell"].startswith("(")}
    assert "conv2d_matches_torch" in cells
    assert 0 < float(cells["conv2d_matches_torch"]["failure_rate"]) < 1
    assert 0 < float(cells["conv2d_matches_torch"]["mean_score"]) < float(cells["conv2d_matches_torch"]["points"])
    flags = {row["cell"]: int(row["graded"]) for row in rows if row["cell"].startswith("(")}
    statuses = [want.status for want in expected.values()]
    assert flags == {"(blank, among the graded)": 1, "(missing)": 1, "(unreadable)": 2,
                     "(not this notebook)": 1,
                     "(needs manual grade)": statuses.count("needs manual grade"),
                     "(flagged for review)": sum(bool(by[ASSIGNMENT]["review"])
                                                 for by in results.results.values())}
    assert (out / "summary.png").stat().st_size > 1000
    assert (out / "feedback" / "reference" / ASSIGNMENT / HTML).exists()
    assert (out / "autograded" / "reference" / ASSIGNMENT / corpus.FILENAME).exists()


def test_review_column_is_empty_for_honest_work_and_gives_the_reasons_for_tampering(graded):
    """Honest submissions (graded as they are, right or wrong) have no flag; the tampering ones
    (the corpus expects "flagged for review" in their notes) have the grader's reasons, by cell."""
    _, expected, _, out, results = graded
    rows = _rows(out)
    honest = [student for student, want in expected.items() if want.status == "graded"]
    tampering = [student for student, want in expected.items() if "flagged for review" in want.note]
    assert len(honest) >= 15 and len(tampering) >= 3
    assert {student: rows[student]["review"] for student in honest} == dict.fromkeys(honest, "")
    for student in tampering:
        flags = results.results[student][ASSIGNMENT]["review"]
        # the scan names the student's cell (the engine's own events may follow)
        assert any(flag.split(": ", 1)[0].endswith("_solution") for flag in flags), flags
        assert rows[student]["review"] == f"{ASSIGNMENT}: " + "; ".join(flags)
    assert "correlate1d_solution: imports the course's checking code (autograder.checking)" in \
        rows["patchchecks"]["review"]
    assert "replaces a library attribute (numpy.allclose)" in rows["patchlibraries"]["review"]
    assert "correlate1d_solution: refers to numpy.correlate, which correlate1d forbids" in \
        rows["forbidden"]["review"]


def test_the_summary_figure_says_how_many_notebooks_it_covers(graded):
    _, expected, _, _, results = graded
    graded_count = sum(want.status == "graded" for want in expected.values())
    assert classgrade.summary_titles([ASSIGNMENT], results.results) == [
        f"{ASSIGNMENT}: {graded_count} graded notebooks (1 blank, counted as failing every cell); "
        f"{len(expected) - graded_count} not graded"]


def test_rerun_grades_nothing_new_and_gives_the_same_csv(graded):
    submissions, _, _, out, _ = graded
    stored = {p: p.stat().st_mtime_ns for p in (out / "results").rglob("*.json")}
    grades = (out / "grades.csv").read_text()
    again = classgrade.grade_class(submissions, out, jobs=2, cell_timeout=30,
                                   assignments=[ASSIGNMENT], progress=False)
    assert again.regraded == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "results").rglob("*.json")} == stored
    assert (out / "grades.csv").read_text() == grades


def test_feedback_has_offline_formulas_and_no_instructor_path(graded, repo):
    _, _, _, out, _ = graded
    for student in ("reference", "wrong", "blank"):
        page = (out / "feedback" / student / ASSIGNMENT / HTML).read_text(encoding="utf-8")
        assert "<math" in page and "display=\"block\"" in page
        assert "cdnjs" not in page and not re.search(r"<script[^>]*mathjax", page, re.IGNORECASE)
        leaked = [folder for folder in _instructor_folders(repo, out) if folder in page]
        assert not leaked, (student, leaked)


# ----------------------------------------------------------------------------- an LMS export

@pytest.fixture(scope="module")
def lms(repo, tmp_path_factory):
    """An LMS export and roster graded by the command, recorded in a fresh course directory."""
    folder = tmp_path_factory.mktemp("lms")
    expected, unmatched, roster = corpus.build_lms(
        folder / "export", repo / "notebooks" / ASSIGNMENT / corpus.FILENAME,
        repo / "solutions" / ASSIGNMENT / corpus.FILENAME)
    course = folder / "course"
    shutil.copytree(repo / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT)
    shutil.copyfile(repo / "nbgrader_config.py", course / "nbgrader_config.py")
    out = folder / "out"
    run = _classgrade(folder / "export", "--out", out, "--roster", roster, "--jobs", 2,
                      "--cell-timeout", 30, "--course-dir", course, cwd=repo)
    return expected, unmatched, out, course, run


def test_every_roster_student_gets_a_row_with_dots_underscores_and_accents(lms):
    expected, _, out, _, run = lms
    rows = _rows(out)
    assert set(rows) == set(expected), run.stderr[-3000:]
    for student, want in expected.items():
        if want.status == "graded":
            assert rows[student][ASSIGNMENT] == f"{want.score:g}", (student, rows[student])
        else:
            assert rows[student][ASSIGNMENT] == want.status
        assert want.note in rows[student]["notes"]
    assert {row["max_total"] for row in rows.values()} == {"100"}


def test_the_command_says_how_many_notebooks_were_flagged_for_review(lms):
    *_, run = lms
    assert f"for review: {ASSIGNMENT} 0;" in run.stdout, run.stdout


def test_every_unmatched_file_is_listed_with_its_reason_and_the_unknown_id_fails(lms):
    _, unmatched, out, _, run = lms
    assert run.returncode == 1, run.stdout + run.stderr
    with open(out / "unmatched.csv", newline="", encoding="utf-8") as handle:
        listed = list(csv.DictReader(handle))
    assert len(listed) == len(unmatched)
    for fragment, reason in unmatched.items():
        assert any(fragment in row["file"] and reason in row["reason"] for row in listed), fragment
        assert fragment in run.stderr


def test_the_results_reach_the_course_gradebook_and_nbgrader_works_on_them(lms, repo):
    """The formgrader's view (nbgrader's API), ``nbgrader export`` and a regrade in the course."""
    expected, _, out, course, run = lms
    rows = _rows(out)
    env = dict(os.environ, PYTHONPATH=str(repo))
    listing = subprocess.run(
        [sys.executable, "-c",
         "import json\nfrom autograder.grader.release import nbgrader_api\n"
         f"print(json.dumps(nbgrader_api({str(course)!r}).get_submissions({ASSIGNMENT!r})))"],
        capture_output=True, text=True, cwd=course, env=env)
    submissions = {s["student"]: s for s in json.loads(listing.stdout.splitlines()[-1])}
    graded = {s for s, want in expected.items() if want.status == "graded"}
    assert {s for s, sub in submissions.items() if sub["autograded"]} == graded
    for student in graded:
        assert f"{submissions[student]['score']:g}" == rows[student][ASSIGNMENT]
        assert (course / "feedback" / student / ASSIGNMENT / HTML).exists()
    exported = subprocess.run(["nbgrader", "export"], capture_output=True, text=True, cwd=course,
                              env=env)
    assert exported.returncode == 0, exported.stderr[-2000:]
    with open(course / "grades.csv", newline="", encoding="utf-8") as handle:
        scores = {r["student_id"]: r["score"] for r in csv.DictReader(handle)}
    assert {s: float(scores[s]) for s in graded} == {s: float(rows[s][ASSIGNMENT]) for s in graded}
    # nbgrader autograde regrades a recorded submission in the course, with no checksum noise.
    regrade = subprocess.run(["nbgrader", "autograde", ASSIGNMENT, "--student", "Müller",
                              "--force"], capture_output=True, text=True, cwd=course, env=env)
    assert regrade.returncode == 0, regrade.stderr[-2000:]
    assert "checksum" not in regrade.stderr and "Edited locked cell" not in regrade.stderr


# ----------------------------------------------------------------------------- the cache key

def test_a_weakened_check_or_force_regrades_and_an_unchanged_rerun_does_not(repo, tmp_path,
                                                                           monkeypatch):
    """The key covers every file of the package: the package is hashed from a copy (so that edits
    made to the repository meanwhile do not count), and weakening a check in that copy makes a
    re-run regrade, as ``--force`` does; an unchanged re-run regrades nothing."""
    copy = tmp_path / "package"
    shutil.copytree(classgrade.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(classgrade, "PACKAGE_DIR", copy)
    release = notebooks.read(repo / "notebooks" / ASSIGNMENT / corpus.FILENAME)
    sources = notebooks.solution_sources(notebooks.read(repo / "solutions" / ASSIGNMENT / corpus.FILENAME))
    mistake = sources["gaussian_kernel_solution"].replace("(2 * sigma ** 2)", "(sigma ** 2)")
    assert mistake != sources["gaussian_kernel_solution"]
    submissions = tmp_path / "submissions"
    (submissions / "mistake" / ASSIGNMENT).mkdir(parents=True)
    notebooks.write(notebooks.with_solutions(release, dict(sources, gaussian_kernel_solution=mistake)),
                    submissions / "mistake" / ASSIGNMENT / corpus.FILENAME)
    out = tmp_path / "out"
    stored = out / "results" / "mistake" / f"{ASSIGNMENT}.json"

    def grade(**options):
        graded = classgrade.grade_class(submissions, out, jobs=1, cell_timeout=30, progress=False,
                                        **options)
        return graded.regraded, json.loads(stored.read_text())

    regraded, first = grade()
    assert regraded == 1 and first["status"] == "graded", first["notes"]
    assert {cell for cell, (score, points) in first["cells"].items() if score < points} == {
        "gaussian_kernel_matches_scipy"}
    assert grade() == (0, first)

    checks = copy / "grader" / "checks" / "convolution.py"
    header = "def check_gaussian_kernel(fn, seed=None, n_cases=20):\n"
    assert header in checks.read_text()
    checks.write_text(checks.read_text().replace(header, header + "    return None\n"))
    regraded, weakened = grade()
    assert regraded == 1 and weakened["key"] != first["key"]
    assert grade() == (0, weakened)

    regraded, forced = grade(force=True)
    assert regraded == 1 and forced["key"] == weakened["key"]


# ----------------------------------------------------------------------------- a fresh course directory

def test_one_command_registers_every_assignment_so_a_fresh_course_grades_05(repo, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(repo / "solutions", course / "solutions")
    shutil.copyfile(repo / "nbgrader_config.py", course / "nbgrader_config.py")
    env = dict(os.environ, PYTHONPATH=str(repo))
    registered = subprocess.run([sys.executable, "-m", "autograder.grader.release", "--register",
                                 "--course-dir", str(course)], capture_output=True, text=True,
                                cwd=repo, env=env)
    assert registered.returncode == 0, registered.stderr[-2000:]
    assert "05_pooling" in registered.stdout and not (course / "notebooks").exists()
    folder = course / "submitted" / "bo" / "05_pooling"
    folder.mkdir(parents=True)
    shutil.copyfile(repo / "notebooks" / "05_pooling" / "05_pooling.ipynb", folder / "05_pooling.ipynb")
    autograded = subprocess.run(["nbgrader", "autograde", "05_pooling"], capture_output=True,
                                text=True, cwd=course, env=env)
    assert autograded.returncode == 0, autograded.stderr[-2000:]
    assert (course / "autograded" / "bo" / "05_pooling" / "05_pooling.ipynb").exists()
    assert "checksum" not in autograded.stderr


def test_release_check_says_when_all_is_well(monkeypatch, capsys):
    from autograder.grader import release

    monkeypatch.setattr(release, "out_of_date", lambda: [])
    assert release.main(["--check"]) == 0
    assert "notebooks/ is up to date with solutions/" in capsys.readouterr().out
    monkeypatch.setattr(release, "out_of_date", lambda: ["05_pooling/05_pooling.ipynb"])
    assert release.main(["--check"]) == 1
    assert "out of date: notebooks/05_pooling/05_pooling.ipynb" in capsys.readouterr().out


# ----------------------------------------------------------------------------- collecting, without grading

def test_default_regexp_takes_the_student_id_up_to_the_notebook_name():
    pattern = classgrade.re.compile(classgrade.DEFAULT_ZIP_REGEXP)
    names = {
        "ada.lovelace_01_convolution.ipynb": ("ada.lovelace", "01_convolution.ipynb"),
        "jean_paul_01_convolution.ipynb": ("jean_paul", "01_convolution.ipynb"),
        "Müller_05_pooling.ipynb": ("Müller", "05_pooling.ipynb"),
        "Ana María_01_convolution (1).ipynb": ("Ana María", "01_convolution (1).ipynb"),
        "course/bo_01_convolution.ipynb": ("bo", "01_convolution.ipynb"),
    }
    for name, (student, file_id) in names.items():
        match = pattern.fullmatch(name)
        assert match and match.group("student_id", "file_id") == (student, file_id), name
    assert pattern.fullmatch("readme.txt") is None


def test_rosters_with_a_header_or_ids_alone(tmp_path):
    with_header = tmp_path / "lms.csv"
    with_header.write_text("Name,Username,Email\nAda,ada.lovelace,a@x\nJ,jean_paul,j@x\n",
                           encoding="utf-8-sig")
    assert classgrade.read_roster(with_header) == ["ada.lovelace", "jean_paul"]
    alone = tmp_path / "ids.csv"
    alone.write_text("Mu\u0308ller\nZoë\n\n", encoding="utf-8")
    assert classgrade.read_roster(alone) == ["Müller", "Zoë"]
    no_column = tmp_path / "bad.csv"
    no_column.write_text("name,email\nAda,a@x\n", encoding="utf-8")
    with pytest.raises(classgrade.InputError):
        classgrade.read_roster(no_column)


def test_files_outside_a_submission_in_nbgrader_layout_are_listed(tmp_path):
    submissions = tmp_path / "submitted"
    for path in ("bo/01_convolution/01_convolution.ipynb", "bo/01_convolutoin/01_convolution.ipynb",
                 "bo/notes.txt", "stray.ipynb", "bo/05_pooling/05_pooling.ipynb"):
        (submissions / path).parent.mkdir(parents=True, exist_ok=True)
        (submissions / path).write_text("{}")
    unmatched = classgrade.collect(submissions, tmp_path / "collected", wanted=[ASSIGNMENT])
    reasons = {item.path: item.reason for item in unmatched}
    assert set(reasons) == {"bo/01_convolutoin/01_convolution.ipynb", "bo/notes.txt", "stray.ipynb",
                            "bo/05_pooling/05_pooling.ipynb"}
    assert "not an assignment" in reasons["bo/01_convolutoin/01_convolution.ipynb"]
    assert "--assignment" in reasons["bo/05_pooling/05_pooling.ipynb"]
    assert (tmp_path / "collected" / "bo" / ASSIGNMENT / corpus.FILENAME).exists()


def test_an_unknown_assignment_is_refused_before_grading(repo, tmp_path):
    run = _classgrade(tmp_path, "--out", tmp_path / "out", "--assignment", "10_capstone", cwd=repo)
    assert run.returncode == 2 and "10_capstone" in run.stderr


def test_a_zip_entry_for_a_student_twice_is_listed(tmp_path):
    export = tmp_path / "export" / ASSIGNMENT
    export.mkdir(parents=True)
    for number in (1, 2):
        with zipfile.ZipFile(export / f"part{number}.zip", "w") as archive:
            archive.writestr(f"bo_{corpus.FILENAME}", "{}")
    unmatched = classgrade.collect(tmp_path / "export", tmp_path / "collected")
    assert [item.path for item in unmatched] == [f"{ASSIGNMENT}/part2.zip:bo_{corpus.FILENAME}"]
    assert "part1.zip" in unmatched[0].reason


# ----------------------------------------------------------------------------- feedback pages

def test_instructor_folders_become_labels():
    replace = feedback.path_replacer(feedback.instructor_folders("/srv/course"))
    package = str(feedback.Path(feedback.autograder.__file__).resolve().parent)
    text = (f'File {package}/checking.py:39, in check\n'
            f'  File "{sys.prefix}/lib/python3.11/json/decoder.py", line 3\n'
            f"open('/srv/course/autograded/ada/01/data.npy') /srv/coursework")
    replaced = replace(text)
    assert package not in replaced and sys.prefix not in replaced
    assert "autograder/checking.py:39" in replaced
    assert "<course>/autograded/ada/01/data.npy" in replaced
    assert "/srv/coursework" in replaced  # only whole path components


def test_formulas_become_mathml_outside_code():
    source = ("Slide $k$ along $x$: $$y_i = \\sum_m x_{i+m} k_m$$ and `a $b$ c`\n\n"
              "```python\nprice = '$5 or $6'\n```\n"
              "\\begin{pmatrix}1 & 2\\end{pmatrix} and $a*b*c$ with |x|.")
    converted = feedback.markdown_with_mathml(source)
    assert converted.count("<math") == 5
    assert 'display="block"' in converted
    assert "`a $b$ c`" in converted and "price = '$5 or $6'" in converted
    assert "a*b*c" not in converted and "&#42;" in converted  # nothing left for markdown


@pytest.mark.browser
def test_a_feedback_page_renders_its_formulas_offline_in_chromium(course, repo):
    """Debian's Chromium, offline: no request leaves the page and every formula is MathML."""
    from playwright.sync_api import sync_playwright

    release = repo / "notebooks" / ASSIGNMENT / corpus.FILENAME
    course.submit(ASSIGNMENT, "offline", {corpus.FILENAME: release})
    course.autograde(ASSIGNMENT, "offline")
    page_path = course.feedback(ASSIGNMENT, "offline") / HTML
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"])
        try:
            context = browser.new_context(offline=True)
            page = context.new_page()
            requests = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(page_path.as_uri())
            blocks = page.locator('math[display="block"]')
            assert blocks.count() >= 3
            displays = {blocks.nth(i).evaluate("e => getComputedStyle(e).display")
                        for i in range(blocks.count())}
            assert displays == {"block math"}
            box = blocks.first.bounding_box()
            assert box["width"] > 100 and box["height"] > 20
        finally:
            browser.close()
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []


# ----------------------------------------------------------------------------- Dask

def test_an_interrupted_run_shuts_down_the_local_cluster_it_started(tmp_path, monkeypatch):
    from distributed.core import Status

    started = []

    class Recorded(classgrade.LocalCluster):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    def interrupted(futures):
        raise KeyboardInterrupt

    monkeypatch.setattr(classgrade, "LocalCluster", Recorded)
    monkeypatch.setattr(classgrade, "as_completed", interrupted)
    (tmp_path / "submissions" / "bo" / ASSIGNMENT).mkdir(parents=True)
    with pytest.raises(KeyboardInterrupt):
        classgrade.grade_class(tmp_path / "submissions", tmp_path / "out", jobs=1, progress=False)
    [cluster] = started
    assert cluster.status == Status.closed
    assert all(nanny.process is None or not nanny.process.is_alive()
               for nanny in cluster.workers.values())


def test_a_worker_with_other_hidden_tests_refuses_to_grade():
    sources = {ASSIGNMENT: "0" * 64}
    with pytest.raises(classgrade.UnfitWorker, match=f"solutions/ {ASSIGNMENT} differ"):
        classgrade.grade_student("bo", {}, [ASSIGNMENT], {}, sources)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def dask_cluster(repo, tmp_path_factory, request):
    """``(address, deaths folder)``: a ``dask scheduler`` and two ``dask worker`` processes on
    127.0.0.1, each worker in its own folder, with the course's environment and the preload
    ``tests/dask_plugins.py``; stopped when the module's tests are done."""
    from distributed import Client

    folder = tmp_path_factory.mktemp("dask")
    deaths = folder / "deaths"
    deaths.mkdir()
    address = f"tcp://127.0.0.1:{_free_port()}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(repo), str(repo / "tests")]),
               CLASSGRADE_TEST_DEATHS=str(deaths),
               DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=str(classgrade.ALLOWED_FAILURES),
               DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION="1.0")
    dask = os.path.join(os.path.dirname(sys.executable), "dask")
    commands = [[dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                 "--no-dashboard"]]
    commands += [[dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--memory-limit",
                  "0", "--no-dashboard", "--preload", "dask_plugins", "--local-directory",
                  str(folder / f"worker{number}")] for number in (1, 2)]
    processes, logs = [], []

    def stop():
        for process in reversed(processes):  # the workers, then the scheduler
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()
        for log in logs:
            log.close()

    request.addfinalizer(stop)
    for number, command in enumerate(commands):
        logs.append(open(folder / f"{command[1]}{number}.log", "w"))
        processes.append(subprocess.Popen(command, cwd=folder, env=env, stdout=logs[-1],
                                          stderr=subprocess.STDOUT, start_new_session=True))
        if command[1] == "scheduler":
            time.sleep(1)
    with Client(address, timeout=60) as client:
        client.wait_for_workers(2, timeout=60)
    return address, deaths


SUBSET = ("reference", "wrong", "blank", "missing")


@pytest.fixture(scope="module")
def on_dask_cluster(graded, dask_cluster, repo, tmp_path_factory):
    """A few students of the corpus and two copies of ``reference``, ``killer_once`` and
    ``killer_always`` (whose tasks kill their workers), graded with ``--scheduler``."""
    submissions, *_ = graded
    address, deaths = dask_cluster
    folder = tmp_path_factory.mktemp("on-dask")
    for student in SUBSET:
        shutil.copytree(submissions / student, folder / "submissions" / student)
    for killer in ("killer_once", "killer_always"):
        shutil.copytree(submissions / "reference", folder / "submissions" / killer)
    run = _classgrade(folder / "submissions", "--out", folder / "out", "--scheduler", address,
                      "--cell-timeout", 30, cwd=repo)
    return folder / "out", deaths, run


def test_a_dask_cluster_started_apart_gives_the_rows_of_the_local_cluster(graded, on_dask_cluster):
    _, _, _, local_out, _ = graded
    out, _, run = on_dask_cluster
    assert run.returncode == 0, run.stderr[-3000:]
    local, remote = _rows(local_out), _rows(out)
    assert {student: remote[student] for student in SUBSET} == {
        student: local[student] for student in SUBSET}
    assert (out / "feedback" / "reference" / ASSIGNMENT / HTML).exists()


def test_a_worker_that_dies_is_replaced_and_a_student_who_kills_every_worker_needs_manual_grade(
        on_dask_cluster):
    out, deaths, run = on_dask_cluster
    rows = _rows(out)
    assert rows["killer_once"][ASSIGNMENT] == "100", rows["killer_once"]
    killed = rows["killer_always"]
    assert killed[ASSIGNMENT] == "needs manual grade" and killed["total"] == "0", killed
    times = classgrade.ALLOWED_FAILURES + 1
    assert f"the grading worker died {times} times on this submission, also when graded alone" in \
        killed["notes"]
    # Dask gave up after ALLOWED_FAILURES + 1 deaths, and as many again when it ran alone.
    died = (deaths / "deaths.txt").read_text().split()
    assert sorted(died) == ["killer_always"] * 2 * times + ["killer_once"]
    assert run.stdout.startswith(f"6 students, assignments {ASSIGNMENT}: 6 graded"), run.stdout
