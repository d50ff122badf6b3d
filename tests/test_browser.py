"""The course in a real JupyterLab in a real browser (Debian's Chromium driven by Playwright).

One student's JupyterLab, started by ``scripts/open_course.sh`` as a student starts it, serves a
fresh release of every notebook (``nbgrader generate_assignment`` through
``autograder.grader.release``). For each notebook: it opens without the unsaved-changes mark;
Run All reaches the last cell; only test cells fail, each in place saying what to implement;
demos that need an exercise name it; every widget renders and its slider redraws it. A student's
notebook with every exercise done and one mistake shows a passing and a failing test cell and
the self-check summary. The student's lab offers no instructor tool; in the instructor's lab of
the course directory the formgrader lists the course's assignments and a graded submission's
scores, and opens it for manual grading. Screenshots go to test-artifacts/browser/.
"""
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import sync_playwright

import mutants
from autograder.grader import notebooks, release
from autograder.grader.grading import Course

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WIDGET_CALL = re.compile(r"from autograder\.widgets\.\w+ import (\w+)")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
ASSIGNMENTS = release.assignments()
# The student's notebook of the screenshots, and the submission the instructor grades: every
# exercise of this notebook done, one with a mistake that its visible tests catch and its demos
# survive (a mistake that breaks a demo stops Run All there, as any failing ordinary cell does).
STUDENT_ASSIGNMENT = "05_pooling"
STUDENT_MISTAKE = "padding as zeros instead of -inf"
STUDENT = "ada"
CELLS = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell"
INTERNALS = re.compile(r'File "|site-packages|autograder/|Traceback \(most recent')
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Run on their own, after the rest (scripts/run_tests.sh): a browser beside busy kernels is slow.
pytestmark = pytest.mark.browser


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Lab:
    base: str
    token: str
    root: Path

    def api(self, path, method="GET"):
        request = urllib.request.Request(f"{self.base}{path}?token={self.token}", method=method)
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = answer.read()
        return json.loads(body) if body else None

    def status(self, path):
        """The HTTP status of ``GET path`` (with the token)."""
        try:
            with urllib.request.urlopen(f"{self.base}{path}?token={self.token}", timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code

    def url(self, path):
        return f"{self.base}{path}{'&' if '?' in path else '?'}token={self.token}"


def _lab_settings(folder):
    """JupyterLab settings: every cell drawn (no windowing), no news toast over the outputs."""
    for plugin, values in (("notebook-extension/tracker", {"windowingMode": "none"}),
                           ("apputils-extension/notification", {"fetchNews": "false"})):
        path = folder / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return folder


def _start_lab(command, root, cwd, log):
    """Start a JupyterLab server (``command`` plus port, token, root) and wait until it answers."""
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(_lab_settings(log.parent / "lab-settings")))
    with log.open("w") as output:
        server = subprocess.Popen(
            [*command, "--no-browser", "--ip=127.0.0.1", f"--port={port}",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"],
            cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
    lab = Lab(f"http://127.0.0.1:{port}", token, Path(root))
    deadline = time.time() + 180
    while True:
        try:
            if lab.api("/api/status") is not None:
                return server, lab
        except OSError:
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError(f"JupyterLab did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)


def _stop(server):
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)


@pytest.fixture(scope="module")
def shots(repo):
    folder = repo / "test-artifacts" / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def lab(repo, tmp_path_factory):
    """The student's JupyterLab, started by scripts/open_course.sh, on a fresh release."""
    root = tmp_path_factory.mktemp("student-lab")
    release.generate(root / "notebooks")
    server, lab = _start_lab(["bash", str(repo / "scripts" / "open_course.sh")], root, repo,
                             tmp_path_factory.mktemp("student-lab-log") / "jupyterlab.log")
    yield lab
    _stop(server)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _shut_down_kernels(lab):
    """Stop every kernel, so that one test's kernel does not slow the next.

    A kernel already on its way out answers 404 or 500: that is fine here.
    """
    for kernel in lab.api("/api/kernels"):
        try:
            lab.api(f"/api/kernels/{kernel['id']}", method="DELETE")
        except urllib.error.HTTPError:
            pass


def _kernels_idle(lab):
    try:
        kernels = lab.api("/api/kernels")
    except urllib.error.HTTPError:
        return False
    return bool(kernels) and all(k["execution_state"] == "idle" for k in kernels)


def _kernel_ready(lab, page):
    """Wait until a kernel of this page is idle and connected, then the toolbar says idle."""
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            kernels = lab.api("/api/kernels")
        except urllib.error.HTTPError:
            kernels = []
        if any(k["execution_state"] == "idle" and k.get("connections", 0) >= 1 for k in kernels):
            break
        time.sleep(0.5)
    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=120_000)


def _open(page, lab, path):
    page.goto(lab.url(f"/lab/tree/{path}?reset"))
    page.wait_for_selector(f"{CELLS}", timeout=120_000)
    no = page.locator(".Toastify button", has_text="No")
    if no.count():
        no.first.click()


def _is_dirty(page):
    """Whether the notebook's tab shows the unsaved-changes mark."""
    return page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty").count() > 0


def _menu(page, menu, command=None, label=None):
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    if command:
        page.locator(f'.lm-Menu-item[data-command="{command}"]').click()
    elif label:
        page.locator(".lm-Menu-item:visible", has_text=label).first.click()


def _run_all(page):
    """Run > Run All Cells; retried once if no prompt shows it started (a known startup race)."""
    for _ in range(2):
        _menu(page, "Run", command="runmenu:run-all")
        try:
            page.wait_for_function(
                """(cells) => [...document.querySelectorAll(cells + ' .jp-InputPrompt')]
                              .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))""",
                arg=CELLS, timeout=10_000)
            return
        except Exception:
            page.keyboard.press("Escape")
    raise AssertionError("Run All did not start")


def _wait_for_run_all(page, lab, timeout=600):
    """Wait until every code cell shows an execution count; False if the kernel went idle first.

    JupyterLab blanks the prompts of the cells still queued when a cell tagged
    ``raises-exception`` fails, and fills them in as the kernel runs them: only the kernel being
    idle for a few seconds says that Run All stopped.
    """
    deadline, idle_since = time.time() + timeout, None
    while time.time() < deadline:
        prompts = page.evaluate(
            """(cells) => [...document.querySelectorAll(cells)].filter(c => c.classList.contains('jp-CodeCell'))
                 .map(c => c.querySelector('.jp-InputPrompt').textContent)""", CELLS)
        if all(re.search(r"\[\d+\]", p) for p in prompts):
            return True
        if _kernels_idle(lab):
            idle_since = idle_since or time.time()
            if time.time() - idle_since > 5:
                return False
        else:
            idle_since = None
        time.sleep(0.5)
    raise AssertionError(f"Run All did not finish in {timeout} s")


def _save(page, lab, path):
    """File > Save; the saved notebook, outputs included."""
    _menu(page, "File", command="docmanager:save")
    page.wait_for_selector(".lm-TabBar-tab.jp-mod-current:not(.jp-mod-dirty)", timeout=60_000)
    return notebooks.read(lab.root / path)


def _cell_views(page):
    """What each cell shows: its output text, rendered widgets and widget errors."""
    return page.evaluate(
        """(cells) => [...document.querySelectorAll(cells)].map(c => {
             const out = c.querySelector('.jp-OutputArea');
             const text = out ? out.innerText : '';
             return {text: text, widgets: c.querySelectorAll('.jp-OutputArea .jupyter-widgets').length,
                     widget_error: /Error displaying widget|Loading widget/.test(text)}; })""", CELLS)


def _first_line(text):
    return ANSI.sub("", text).strip().splitlines()[0] if text.strip() else ""


def _described(nb, index):
    cell = nb.cells[index]
    return f"cell {index} ({notebooks.grade_id(cell) or _first_line(cell.source)[:60]})"


@dataclass
class RunAll:
    """A fresh release after Run All in the student's lab."""

    assignment: str
    page: object
    opened_with_changes: bool
    finished: bool
    nb: object  # the saved notebook, with outputs
    views: list  # _cell_views, one per cell
    seconds: float


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def run_all(request, lab, browser):
    """Open a fresh release as a student, wait for the kernel, Run All, save."""
    assignment = request.param
    path = f"notebooks/{assignment}/{assignment}.ipynb"
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        started = time.monotonic()
        _open(page, lab, path)
        _kernel_ready(lab, page)
        page.wait_for_timeout(1500)  # JupyterLab writes the kernel's metadata about a second in
        opened_with_changes = _is_dirty(page)
        _run_all(page)
        finished = _wait_for_run_all(page, lab)
        nb = _save(page, lab, path)
        yield RunAll(assignment, page, opened_with_changes, finished, nb, _cell_views(page),
                     time.monotonic() - started)
    finally:
        page.close()
        _shut_down_kernels(lab)


def _code_cells(nb):
    return [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.source.strip()]


def test_a_fresh_release_opens_without_unsaved_changes(run_all):
    assert not run_all.opened_with_changes, (
        f"{run_all.assignment} shows the unsaved-changes mark right after opening, with no edit: "
        "closing it would ask the student to save changes they did not make")


def test_run_all_reaches_the_last_cell(run_all):
    nb = run_all.nb
    not_run = [i for i, c in _code_cells(nb) if c.get("execution_count") is None]
    if not_run:
        ran = [i for i, c in _code_cells(nb) if c.get("execution_count") is not None]
        stopper = max((i for i in ran if notebooks.errors(nb.cells[i])), default=None)
        cause = ("" if stopper is None else f"; it stopped after {_described(nb, stopper)}: "
                 f"{_first_line(notebooks.errors(nb.cells[stopper])[0].evalue)}")
        raise AssertionError(f"Run All of {run_all.assignment} left {len(not_run)} code cells "
                             f"unrun, from {_described(nb, not_run[0])}{cause}")
    assert run_all.finished


def test_only_test_cells_fail_and_demos_name_the_exercise_they_need(run_all):
    nb, problems = run_all.nb, []
    for i, cell in _code_cells(nb):
        if notebooks.is_test(cell) or cell.get("execution_count") is None:
            continue
        errors = notebooks.errors(cell)
        stdout = "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
        if errors:
            problems.append(f"{_described(nb, i)} fails: {errors[0].ename}: "
                            f"{_first_line(errors[0].evalue)}")
        elif notebooks.stderr_text(cell).strip():
            problems.append(f"{_described(nb, i)} writes to stderr: "
                            f"{_first_line(notebooks.stderr_text(cell))}")
        if "requires(" in cell.source and "This demo needs" not in stdout:
            problems.append(f"{_described(nb, i)} needs an exercise and does not say which")
    assert not problems, f"{run_all.assignment}, blank release:\n" + "\n".join(problems)


def test_test_cells_fail_in_place_saying_what_to_implement(run_all):
    nb, problems = run_all.nb, []
    for i, cell in _code_cells(nb):
        if not notebooks.is_test(cell) or cell.get("execution_count") is None:
            continue
        errors = notebooks.errors(cell)
        if not errors:
            problems.append(f"{_described(nb, i)} does not fail on the blank release")
            continue
        shown = ANSI.sub("", "\n".join(errors[0].traceback))
        if "not implemented yet" not in errors[0].evalue:
            problems.append(f"{_described(nb, i)} says {_first_line(errors[0].evalue)!r}, "
                            "not which function is not implemented yet")
        if INTERNALS.search(shown):
            problems.append(f"{_described(nb, i)} shows the checks' internals: {shown[:300]!r}")
    assert not problems, f"{run_all.assignment}, blank release:\n" + "\n".join(problems)


def test_every_widget_renders(run_all):
    nb, problems, widgets = run_all.nb, [], 0
    for i, cell in _code_cells(nb):
        if not any(WIDGET_VIEW in o.get("data", {}) for o in cell.get("outputs", [])):
            continue
        widgets += 1
        view = run_all.views[i]
        if view["widgets"] == 0 or view["widget_error"]:
            problems.append(f"{_described(nb, i)} shows no widget: {view['text'][:200]!r}")
    assert not problems, "\n".join(problems)
    assert widgets, f"no widget was displayed in {run_all.assignment}"


def test_the_widget_redraws_when_its_slider_moves(run_all, shots):
    page, nb = run_all.page, run_all.nb
    widget = next(i for i, c in enumerate(nb.cells)
                  if c.cell_type == "code" and WIDGET_CALL.search(c.source))
    cell = page.locator(CELLS).nth(widget)
    cell.scroll_into_view_if_needed()
    handle = cell.locator(
        ".jp-OutputArea .widget-slider .noUi-target:not([disabled]) .noUi-handle").first
    handle.wait_for(timeout=60_000)
    page.wait_for_timeout(500)
    before = [cell.locator(".jp-OutputArea img").evaluate_all("els => els.map(e => e.src)"),
              cell.locator(".jp-OutputArea").inner_text()]
    handle.focus()
    for _ in range(2):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(
        """([cells, i, before]) => { const c = document.querySelectorAll(cells)[i];
             const imgs = [...c.querySelectorAll('.jp-OutputArea img')].map(e => e.src);
             const text = c.querySelector('.jp-OutputArea').innerText;
             return JSON.stringify(imgs) !== JSON.stringify(before[0]) || text !== before[1]; }""",
        arg=[CELLS, widget, before], timeout=120_000)
    cell.screenshot(path=str(shots / f"{run_all.assignment}.png"))


# ----------------------------------------------------------------------------- a student's work

@pytest.fixture(scope="module")
def students_work(lab, repo):
    """The release of STUDENT_ASSIGNMENT with every exercise done, one of them wrong."""
    released = notebooks.read(lab.root / "notebooks" / STUDENT_ASSIGNMENT / f"{STUDENT_ASSIGNMENT}.ipynb")
    source = notebooks.read(repo / "solutions" / STUDENT_ASSIGNMENT / f"{STUDENT_ASSIGNMENT}.ipynb")
    mistake = next(m for m in mutants.for_assignment(STUDENT_ASSIGNMENT)
                   if m.description == STUDENT_MISTAKE)
    return mistake.submission(released, source)


def test_a_students_passing_and_failing_test_cells_and_self_check(lab, browser, students_work, shots):
    nb = nbformat.from_dict(json.loads(json.dumps(students_work)))
    nb.cells.append(nbformat.v4.new_code_cell("from autograder.selfcheck import selfcheck\n\nselfcheck()"))
    path = f"student/{STUDENT_ASSIGNMENT}/{STUDENT_ASSIGNMENT}.ipynb"
    (lab.root / path).parent.mkdir(parents=True)
    notebooks.write(nb, lab.root / path)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open(page, lab, path)
        _kernel_ready(lab, page)
        _run_all(page)
        assert _wait_for_run_all(page, lab), "Run All stopped before the self-check cell"
        saved = _save(page, lab, path)
        views = _cell_views(page)
        tests = [i for i, c in enumerate(saved.cells) if notebooks.is_test(c)]
        passing = [i for i in tests if not notebooks.errors(saved.cells[i])]
        failing = [i for i in tests if notebooks.errors(saved.cells[i])]
        assert passing and failing, f"expected passing and failing test cells: {passing}, {failing}"
        for name, index in (("test_cell_passed", passing[0]), ("test_cell_failed", failing[0]),
                            ("selfcheck", len(saved.cells) - 1)):
            cell = page.locator(CELLS).nth(index)
            cell.scroll_into_view_if_needed()
            cell.screenshot(path=str(shots / f"{name}.png"))
        for i in passing:
            lines = views[i]["text"].strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("Passed: "), (i, views[i]["text"])
        for i in failing:
            shown = views[i]["text"]
            assert "in this cell, line" in shown and not INTERNALS.search(shown), shown
        others = [f"{_described(saved, i)}: {_first_line(notebooks.errors(c)[0].evalue)}"
                  for i, c in _code_cells(saved) if not notebooks.is_test(c) and notebooks.errors(c)]
        assert not others, f"demo cells fail on a done notebook: {others}"
        summary = views[-1]["text"]
        assert re.search(r"\d+ of \d+ test cells pass their visible checks", summary), summary
        assert "passed" in summary and "failed" in summary, summary
    finally:
        page.close()
        _shut_down_kernels(lab)


# ----------------------------------------------------------------------------- who sees which tools

def _nbgrader_menu(page):
    """The labels of the Nbgrader menu's items (the menu is left open)."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").first.click()
    page.wait_for_selector(".lm-Menu:not(.lm-mod-hidden) .lm-Menu-itemLabel")
    labels = page.locator(".lm-Menu .lm-Menu-item:visible .lm-Menu-itemLabel").all_inner_texts()
    return [label for label in labels if label.strip()]


def _right_sidebar(page):
    return page.locator(".jp-SideBar.jp-mod-right .lm-TabBar-tab").evaluate_all(
        "els => els.map(e => e.getAttribute('title') || e.innerText)")


def test_the_students_lab_offers_no_instructor_tools(lab, browser, shots):
    assert lab.status("/formgrader") == 404 and lab.status("/formgraders") == 404
    page = browser.new_page(viewport={"width": 1400, "height": 800})
    try:
        _open(page, lab, f"notebooks/{STUDENT_ASSIGNMENT}/{STUDENT_ASSIGNMENT}.ipynb")
        page.locator(".jp-NotebookPanel-toolbar", has_text="Validate").wait_for(timeout=60_000)
        assert not [t for t in _right_sidebar(page) if "Create Assignment" in t], _right_sidebar(page)
        assert _nbgrader_menu(page) == ["Assignment List"]
        page.screenshot(path=str(shots / "student_lab.png"))
    finally:
        page.close()
        _shut_down_kernels(lab)


@pytest.fixture(scope="module")
def instructor_lab(repo, tmp_path_factory, students_work):
    """The instructor's JupyterLab on a course directory laid out as this repository (its
    nbgrader_config.py, autograder and solutions), where STUDENT's submission is autograded."""
    course = tmp_path_factory.mktemp("course")
    shutil.copy2(repo / "nbgrader_config.py", course)
    (course / "autograder").symlink_to(repo / "autograder")
    shutil.copytree(repo / "solutions", course / "solutions")
    grading = Course(course, repo / "solutions")
    grading.release(STUDENT_ASSIGNMENT)
    submitted = tmp_path_factory.mktemp("submission") / f"{STUDENT_ASSIGNMENT}.ipynb"
    notebooks.write(students_work, submitted)
    grading.submit(STUDENT_ASSIGNMENT, STUDENT, {submitted.name: submitted})
    result = grading.autograde(STUDENT_ASSIGNMENT, STUDENT)
    assert 0 < result.score < result.max_score, result
    command = [sys.executable, "-m", "jupyterlab"] + (["--allow-root"] if os.geteuid() == 0 else [])
    server, lab = _start_lab(command, course, course,
                             tmp_path_factory.mktemp("instructor-lab-log") / "jupyterlab.log")
    yield lab, result
    _stop(server)


def test_the_instructor_grades_in_the_formgrader(instructor_lab, browser, students_work, shots):
    lab, result = instructor_lab
    score = f"{result.score:g} / {result.max_score:g}"
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(lab.url("/lab?reset"))
        page.wait_for_selector(".jp-SideBar.jp-mod-right .lm-TabBar-tab", timeout=120_000)
        assert [t for t in _right_sidebar(page) if "Create Assignment" in t], _right_sidebar(page)
        menu = _nbgrader_menu(page)
        assert {"Assignment List", "Course List", "Formgrader", "Create assignment"} <= set(menu), menu
        page.locator(".lm-Menu-item:visible", has_text="Formgrader").first.click()
        frame = page.frame_locator(".jp-MainAreaWidget iframe").first
        for assignment in ASSIGNMENTS:
            frame.locator("td", has_text=assignment).first.wait_for(timeout=60_000)
        page.screenshot(path=str(shots / "formgrader_assignments.png"))

        frame.get_by_role("link", name="Manual Grading").first.click()
        frame.locator("tr", has_text=STUDENT_ASSIGNMENT).filter(has_text=score).wait_for(timeout=60_000)
        frame.get_by_role("link", name=STUDENT_ASSIGNMENT).first.click()
        frame.locator("th", has_text="Notebook ID").wait_for(timeout=60_000)
        frame.get_by_role("link", name=STUDENT_ASSIGNMENT).last.click()
        frame.locator("tr", has_text="Submission #1").filter(has_text=score).wait_for(timeout=60_000)
        page.screenshot(path=str(shots / "formgrader_scores.png"))

        frame.get_by_role("link", name="Submission #1").click()
        frame.locator("text=Submission 1 / 1").wait_for(timeout=60_000)
        grades = frame.locator("input.score")
        grades.first.wait_for(timeout=60_000)
        assert grades.count() == len([c for c in students_work.cells if notebooks.is_test(c)])
        grades.first.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "formgrader_manual_grading.png"))
    finally:
        page.close()
