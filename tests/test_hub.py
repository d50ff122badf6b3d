"""A class on a real JupyterHub on 127.0.0.1, through nbgrader's exchange, end to end.

One instructor and three students, each a real Unix user whose server the hub starts as that
user. The instructor releases notebook 01; each student fetches it and submits through their own
server behind the hub's proxy, with their own token (a solution, the blank release, a mutant);
the instructor collects, autogrades and exports. Needs root and ``deploy/install.sh`` (which
``scripts/run_tests.sh`` runs); everything it starts and every user it adds is removed after.
"""
import csv
import json
import os
import pwd
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

import mutants
from autograder.grader import notebooks
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
    """The instructor's course directory: the nbgrader configuration, the package, the source."""
    course = home / "course"
    (course / "solutions").mkdir(parents=True)
    shutil.copy2(REPO / "nbgrader_config.py", course)
    shutil.copytree(REPO / "autograder", course / "autograder",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT)
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
    base = Path(tempfile.mkdtemp(prefix="cnn-hub-test-"))
    base.chmod(0o755)
    homes, exchange, state = base / "home", base / "exchange", base / "state"
    for folder, mode in ((homes, 0o755), (exchange, 0o777), (state, 0o700)):
        folder.mkdir()
        folder.chmod(mode)
    users, added = [INSTRUCTOR, *STUDENTS], []
    hub = Hub(base)
    hub.exchange = exchange
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
                   CNN_COURSE_PASSWORD=secrets.token_hex(8),
                   CNN_COURSE_ADMIN_PASSWORD=secrets.token_hex(20),
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


def test_a_class_releases_fetches_submits_and_is_graded_through_the_hub(hub):
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

    inbound = exchange / COURSE_ID / "inbound"
    for student in STUDENTS:
        _assert_denied(student, inbound)
    owners = {pwd.getpwuid(entry.stat().st_uid).pw_name: entry.name.split("+")[0]
              for entry in inbound.iterdir()}
    assert owners == {student: student for student in STUDENTS}, (
        f"each submission must be owned by the student who made it: {owners}")

    _run_as(INSTRUCTOR, ["nbgrader", "collect", ASSIGNMENT], course, exchange)
    _run_as(INSTRUCTOR, ["nbgrader", "autograde", ASSIGNMENT], course, exchange)
    _run_as(INSTRUCTOR, ["nbgrader", "export"], course, exchange)
    with open(course / "grades.csv", newline="") as grades:
        rows = {row["student_id"]: row for row in csv.DictReader(grades)}
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
