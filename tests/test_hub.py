"""A class on a real JupyterHub on 127.0.0.1, through nbgrader's exchange, end to end.

One instructor and three students, each a real Unix user whose server the hub starts as that
user. The instructor releases notebook 01; each student fetches it and submits through their own
server behind the hub's proxy, with their own token (a solution, the blank release, a mutant);
the instructor collects, autogrades and exports. Students' servers run nbgrader's student side
only; the instructor's own server runs the formgrader, which lists the course's assignments and
the graded submissions' scores, over its API and in a real browser logged in through the hub.
Needs root and ``deploy/install.sh`` (which ``scripts/run_tests.sh`` runs); everything it starts
and every user it adds is removed after.
"""
import csv
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

import mutants
from autograder.grader import notebooks, release
from autograder.grader.course_config import COURSE_ID

pytestmark = pytest.mark.hub

REPO = Path(__file__).resolve().parent.parent
PREFIX = Path(os.environ.get("CNN_COURSE_PREFIX", "/opt/cnn-course"))
VENV_BIN = PREFIX / "venv" / "bin"
ASSIGNMENT = "01_convolution"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
INSTRUCTOR = "cnnhub-teacher"
STUDENTS = {"cnnhub-ada": "solution", "cnnhub-bo": "blank", "cnnhub-cy": "mutant"}
START_SECONDS = 180
USER_MARK = "cnn-course hub test (temporary)"  # GECOS of the users this test adds
INSTRUCTOR_TOOLS = {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:course-list",
                    "@jupyter/nbgrader:create-assignment"}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hub:
    """A running JupyterHub and its users; ``api`` and ``user_request`` speak HTTP to it."""

    def __init__(self, base):
        self.base = base
        self.url = f"http://127.0.0.1:{_free_port()}"
        self.service_token = secrets.token_hex(32)
        self.tokens = {}
        self.process = None

    def request(self, method, path, token, body=None, query=None):
        """``(status, parsed JSON or text)`` of one request to the proxy."""
        url = self.url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode(errors="replace")
        except (urllib.error.URLError, ConnectionError) as error:
            return 0, f"no answer: {error}"
        try:
            return status, json.loads(text)
        except json.JSONDecodeError:
            return status, text

    def api(self, method, path, body=None):
        """A hub REST API call as the course-admin service; fails the test on an error status."""
        status, answer = self.request(method, "/hub/api" + path, self.service_token, body)
        assert status < 400, f"{method} /hub/api{path}: HTTP {status}: {answer}"
        return answer

    def user_request(self, user, method, path, body=None, query=None):
        """A request to ``user``'s own server, with ``user``'s token."""
        return self.request(method, f"/user/{user}{path}", self.tokens[user], body, query)


def _run_as(user, args, cwd, exchange):
    """Run a command as the Unix ``user`` with the course's environment; return its output."""
    home = pwd.getpwnam(user).pw_dir
    env = {"HOME": home, "USER": user, "PATH": f"{VENV_BIN}:/usr/bin:/bin", "LANG": "C.UTF-8",
           "CNN_COURSE_EXCHANGE": str(exchange)}
    result = subprocess.run(args, cwd=cwd, env=env, user=user, group=user, extra_groups=[],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(map(str, args))} as {user} failed:\n{result.stderr[-3000:]}"
    return result.stdout


def _add_user(name, homes):
    """Add the Unix user ``name`` (home mode 700); replace one a killed run of this test left."""
    try:
        existing = pwd.getpwnam(name)
    except KeyError:
        existing = None
    if existing is not None:
        assert existing.pw_gecos == USER_MARK, (
            f"a user named {name} exists and was not made by this test: not touching it")
        _remove_user(name)
    subprocess.run(["useradd", "--create-home", "--base-dir", str(homes), "--shell", "/bin/bash",
                    "--user-group", "--comment", USER_MARK, name], check=True)
    Path(homes / name).chmod(0o700)


def _remove_user(name):
    subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
    time.sleep(0.5)
    subprocess.run(["userdel", "-r", name], capture_output=True)


def _set_up_instructor_course(home):
    """The instructor's course directory (the nbgrader configuration, the package, the sources)
    and, as nbgrader documents it for JupyterHub, ``~/.jupyter/nbgrader_config.py`` pointing the
    formgrader of the instructor's own server at it."""
    course = home / "course"
    course.mkdir()
    shutil.copy2(REPO / "nbgrader_config.py", course)
    shutil.copytree(REPO / "autograder", course / "autograder",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "solutions", course / "solutions")
    (home / ".jupyter").mkdir()
    (home / ".jupyter" / "nbgrader_config.py").write_text(
        f"c = get_config()  # noqa: F821\nload_subconfig({str(course / 'nbgrader_config.py')!r})  # noqa: F821\n")
    subprocess.run(["chown", "-R", f"{INSTRUCTOR}:{INSTRUCTOR}", str(home)], check=True)
    return course


def _assert_denied(user, folder):
    result = subprocess.run(["ls", str(folder)], user=user, group=user, extra_groups=[],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "Permission denied" in result.stderr, (
        f"{user} can list {folder}: {result.stdout}{result.stderr}")


def _wait_for(check, what, seconds=START_SECONDS):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(1)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


def _submission(kind, released):
    """The notebook a student submits: the reference solution, the release untouched, a mutant."""
    source = notebooks.read(REPO / "solutions" / ASSIGNMENT / NOTEBOOK)
    if kind == "blank":
        return released
    if kind == "mutant":
        return mutants.for_assignment(ASSIGNMENT)[0].submission(released, source)
    return notebooks.with_solutions(released, notebooks.solution_sources(source))


@pytest.fixture(scope="module")
def hub():
    """Users, exchange and a running hub with every user's server started; all removed after."""
    assert os.geteuid() == 0, "the JupyterHub test runs as root: it adds Unix users and spawns as them"
    assert (VENV_BIN / "jupyterhub").exists(), (
        f"no course installation at {PREFIX}: run `bash deploy/install.sh {PREFIX}` as root")
    # Not under /tmp: the grading sandbox mounts an empty /tmp over the instructor's course there.
    base = Path(tempfile.mkdtemp(prefix="cnn-hub-test-", dir="/var/tmp"))
    base.chmod(0o755)
    homes, exchange, state = base / "home", base / "exchange", base / "state"
    for folder, mode in ((homes, 0o755), (exchange, 0o777), (state, 0o700)):
        folder.mkdir()
        folder.chmod(mode)
    users, added = [INSTRUCTOR, *STUDENTS], []
    hub = Hub(base)
    hub.exchange = exchange
    hub.password, hub.admin_password = secrets.token_hex(8), secrets.token_hex(20)
    log = open(state / "jupyterhub.log", "w")
    try:
        for user in users:
            _add_user(user, homes)
            added.append(user)
        hub.course = _set_up_instructor_course(homes / INSTRUCTOR)
        env = dict(os.environ, CNN_COURSE_PREFIX=str(PREFIX), CNN_COURSE_EXCHANGE=str(exchange),
                   CNN_COURSE_STATE=str(state), CNN_COURSE_HUB_URL=hub.url,
                   CNN_COURSE_HUB_PORT=str(_free_port()),
                   CNN_COURSE_PROXY_API_URL=f"http://127.0.0.1:{_free_port()}",
                   CNN_COURSE_INSTRUCTORS=INSTRUCTOR, CNN_COURSE_STUDENTS=",".join(STUDENTS),
                   CNN_COURSE_PASSWORD=hub.password, CNN_COURSE_ADMIN_PASSWORD=hub.admin_password,
                   CNN_COURSE_SERVICE_TOKEN=hub.service_token)
        hub.process = subprocess.Popen(
            [str(VENV_BIN / "jupyterhub"), "-f", str(REPO / "deploy" / "jupyterhub_config.py")],
            cwd=state, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_for(lambda: hub.request("GET", "/hub/api/", hub.service_token)[0] == 200, "the hub")
        for user in users:
            hub.api("POST", f"/users/{user}/server")
        for user in users:
            _wait_for(lambda: hub.api("GET", f"/users/{user}")["servers"].get("", {}).get("ready"),
                      f"{user}'s server")
            hub.tokens[user] = hub.api("POST", f"/users/{user}/tokens",
                                       {"note": "course test", "expires_in": 3600})["token"]
        yield hub
    finally:
        if hub.process is not None:
            os.killpg(hub.process.pid, signal.SIGTERM)
            try:
                hub.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(hub.process.pid, signal.SIGKILL)
                hub.process.wait()
        log.close()
        for user in added:
            _remove_user(user)
        artifacts = REPO / "test-artifacts" / "hub"
        artifacts.mkdir(parents=True, exist_ok=True)
        shutil.copy2(state / "jupyterhub.log", artifacts / "jupyterhub.log")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def graded(hub):
    """Notebook 01 released, fetched and submitted through the hub, collected, autograded and
    exported by the instructor: the rows of grades.csv by student."""
    course, exchange = hub.course, hub.exchange
    _run_as(INSTRUCTOR, ["nbgrader", "generate_assignment", ASSIGNMENT, "--force"], course, exchange)
    _run_as(INSTRUCTOR, ["nbgrader", "release_assignment", ASSIGNMENT], course, exchange)
    released = notebooks.read(course / "notebooks" / ASSIGNMENT / NOTEBOOK)

    for student, kind in STUDENTS.items():
        status, listed = hub.user_request(student, "GET", "/assignments", query={"course_id": COURSE_ID})
        assert status == 200 and listed["success"], listed
        assert [a["assignment_id"] for a in listed["value"]] == [ASSIGNMENT], listed
        ids = {"course_id": COURSE_ID, "assignment_id": ASSIGNMENT}
        status, fetched = hub.user_request(student, "POST", "/assignments/fetch", query=ids)
        assert status == 200 and fetched["success"], fetched
        path = f"/api/contents/{ASSIGNMENT}/{NOTEBOOK}"
        status, model = hub.user_request(student, "GET", path)
        assert status == 200 and model["type"] == "notebook", model
        status, saved = hub.user_request(student, "PUT", path, {
            "type": "notebook", "format": "json", "content": _submission(kind, released)})
        assert status == 200, saved
        status, submitted = hub.user_request(student, "POST", "/assignments/submit", query=ids)
        assert status == 200 and submitted["success"], submitted

    _run_as(INSTRUCTOR, ["nbgrader", "collect", ASSIGNMENT], course, exchange)
    _run_as(INSTRUCTOR, ["nbgrader", "autograde", ASSIGNMENT], course, exchange)
    _run_as(INSTRUCTOR, ["nbgrader", "export"], course, exchange)
    with open(course / "grades.csv", newline="") as grades:
        return {row["student_id"]: row for row in csv.DictReader(grades)}


def test_a_class_releases_fetches_submits_and_is_graded_through_the_hub(hub, graded):
    inbound = hub.exchange / COURSE_ID / "inbound"
    for student in STUDENTS:
        _assert_denied(student, inbound)
    owners = {pwd.getpwuid(entry.stat().st_uid).pw_name: entry.name.split("+")[0]
              for entry in inbound.iterdir()}
    assert owners == {student: student for student in STUDENTS}, (
        f"each submission must be owned by the student who made it: {owners}")
    rows = graded
    scores = {student: float(rows[student]["score"]) for student in STUDENTS}
    maximum = float(rows["cnnhub-ada"]["max_score"])
    assert maximum == 100 and scores["cnnhub-ada"] == 100, scores
    assert scores["cnnhub-bo"] == 0, scores
    assert 0 < scores["cnnhub-cy"] < 100, scores


def test_a_students_token_is_refused_on_another_students_server(hub):
    status, _ = hub.request("GET", "/user/cnnhub-bo/api/contents", hub.tokens["cnnhub-ada"])
    assert status == 403
    status, _ = hub.request("GET", "/user/cnnhub-ada/api/contents", hub.tokens["cnnhub-ada"])
    assert status == 200


def test_students_cannot_read_the_instructors_sources_or_each_others_homes(hub):
    homes = hub.course.parent.parent
    for student in STUDENTS:
        _assert_denied(student, hub.course / "solutions" / ASSIGNMENT)
        for other in STUDENTS.keys() - {student}:
            _assert_denied(student, homes / other)


def _page_config(hub, user):
    """The JupyterLab page configuration ``user``'s server sends (its disabled extensions)."""
    status, page = hub.user_request(user, "GET", "/lab")
    assert status == 200, (user, status, str(page)[:500])
    match = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                      page, re.S)
    return json.loads(match.group(1))


def test_students_get_nbgraders_student_side_only(hub):
    for student in STUDENTS:
        disabled = set(_page_config(hub, student).get("disabledExtensions", []))
        assert INSTRUCTOR_TOOLS <= disabled, (student, disabled)
        for path in ("/formgrader/api/assignments", "/formgraders"):
            status, _ = hub.user_request(student, "GET", path)
            assert status == 404, f"{student}'s server answers {path}: HTTP {status}"
        status, listed = hub.user_request(student, "GET", "/assignments", query={"course_id": COURSE_ID})
        assert status == 200 and listed["success"], listed
    disabled = set(_page_config(hub, INSTRUCTOR).get("disabledExtensions", []))
    assert not INSTRUCTOR_TOOLS & disabled, disabled


def test_the_instructors_formgrader_lists_the_assignments_and_the_scores(hub, graded):
    status, assignments = hub.user_request(INSTRUCTOR, "GET", "/formgrader/api/assignments")
    assert status == 200, assignments
    by_name = {a["name"]: a for a in assignments}
    assert sorted(by_name) == release.assignments(), sorted(by_name)
    assert by_name[ASSIGNMENT]["num_submissions"] == len(STUDENTS), by_name[ASSIGNMENT]
    status, submissions = hub.user_request(INSTRUCTOR, "GET", f"/formgrader/api/submissions/{ASSIGNMENT}")
    assert status == 200, submissions
    assert {s["student"]: s["score"] for s in submissions} == {
        student: float(graded[student]["score"]) for student in STUDENTS}
    status, courses = hub.user_request(INSTRUCTOR, "GET", "/formgraders")
    assert status == 200 and courses["success"], courses
    assert [(c["course_id"], c["url"].endswith(f"/user/{INSTRUCTOR}/formgrader"))
            for c in courses["value"]] == [(COURSE_ID, True)], courses


def _log_in(browser, hub, user, password):
    """A browser page logged in to the hub as ``user`` through its login form."""
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_url(re.compile(rf".*/user/{user}/lab.*"), timeout=120_000)
    return page


def test_in_a_browser_through_the_hub_students_see_no_instructor_tools_and_the_instructor_grades(
        hub, graded):
    shots = REPO / "test-artifacts" / "hub"
    shots.mkdir(parents=True, exist_ok=True)
    scores = [f"{float(graded[student]['score']):g} / 100" for student in STUDENTS]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            page = _log_in(browser, hub, "cnnhub-ada", hub.password)
            page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").first.click(timeout=120_000)
            page.wait_for_selector(".lm-Menu:not(.lm-mod-hidden) .lm-Menu-itemLabel")
            labels = page.locator(".lm-Menu .lm-Menu-item:visible .lm-Menu-itemLabel").all_inner_texts()
            assert [label for label in labels if label.strip()] == ["Assignment List"], labels
            tabs = page.locator(".jp-SideBar.jp-mod-right .lm-TabBar-tab").evaluate_all(
                "els => els.map(e => e.getAttribute('title') || e.innerText)")
            assert not [t for t in tabs if "Create Assignment" in t], tabs
            page.screenshot(path=str(shots / "student_lab.png"))

            page = _log_in(browser, hub, INSTRUCTOR, hub.admin_password)
            # JupyterHub (4.1 and later) lets no page frame a server's pages, so the formgrader
            # opens in a tab of its own, as nbgrader's documentation says.
            page.goto(f"{hub.url}/user/{INSTRUCTOR}/formgrader")
            for assignment in release.assignments():
                page.locator("td", has_text=assignment).first.wait_for(timeout=60_000)
            page.screenshot(path=str(shots / "formgrader_assignments.png"))
            page.get_by_role("link", name="Manual Grading").first.click()
            page.get_by_role("link", name=ASSIGNMENT).first.click()
            page.locator("th", has_text="Notebook ID").wait_for(timeout=60_000)
            page.get_by_role("link", name=ASSIGNMENT).last.click()
            for score in scores:
                page.locator("tr", has_text="Submission #").filter(has_text=score).first.wait_for(
                    timeout=60_000)
            page.screenshot(path=str(shots / "formgrader_scores.png"))
            page.get_by_role("link", name="Submission #1").click()
            page.locator("input.score").first.wait_for(timeout=60_000)
            page.locator("input.score").first.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "formgrader_manual_grading.png"))
        finally:
            browser.close()
