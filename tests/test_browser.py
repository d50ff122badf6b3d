"""The course in a real JupyterLab in a real browser (Debian's Chromium driven by Playwright).

For every release notebook: run its set-up cell and its widget cell as a student would, move a
slider, check that the widget's output changed, save a screenshot under test-artifacts/browser/.
For a solution notebook: Run All, and check that no cell shows an error.
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
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from autograder.grader import notebooks, release

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WIDGET_CALL = re.compile(r"from autograder\.widgets\.\w+ import (\w+)")
ASSIGNMENTS = release.assignments()
# Run on their own, after the rest (scripts/run_tests.sh): a browser beside busy kernels is slow.
pytestmark = pytest.mark.browser


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(repo, tmp_path_factory):
    """A JupyterLab server on a copy of notebooks/ and solutions/: ``(base_url, token, root)``."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(repo / "notebooks", root / "notebooks")
    shutil.copytree(repo / "solutions", root / "solutions")
    port, token = _free_port(), secrets.token_hex(16)
    # Render every cell: JupyterLab's default windowing leaves cells far down the page undrawn.
    settings = root / "lab-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(root / "lab-settings"))
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as answer:
                if answer.status == 200:
                    break
        except OSError:
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("JupyterLab did not start")
            time.sleep(0.5)
    yield base, token, root
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _api(base, token, path, method="GET"):
    request = urllib.request.Request(f"{base}{path}?token={token}", method=method)
    with urllib.request.urlopen(request, timeout=10) as answer:
        body = answer.read()
    return json.loads(body) if body else None


def _shut_down_kernels(base, token):
    """Stop every kernel, so that one test's kernel does not slow the next.

    A kernel already on its way out answers 404 or 500: that is fine here.
    """
    for kernel in _api(base, token, "/api/kernels"):
        try:
            _api(base, token, f"/api/kernels/{kernel['id']}", method="DELETE")
        except urllib.error.HTTPError:
            pass


def _kernel_ready(base, token, page):
    """Wait until a kernel of this page is idle and connected, then the toolbar says idle."""
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            kernels = _api(base, token, "/api/kernels")
        except urllib.error.HTTPError:
            kernels = []
        if any(k["execution_state"] == "idle" and k.get("connections", 0) >= 1 for k in kernels):
            break
        time.sleep(0.5)
    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=120_000)


def _open(page, base, token, path):
    page.goto(f"{base}/lab/tree/{path}?reset&token={token}")
    page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell", timeout=120_000)
    _dismiss_toasts(page)


def _dismiss_toasts(page):
    no = page.locator(".Toastify button", has_text="No")
    if no.count():
        no.first.click()


def _run_cell(page, index):
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell").nth(index)
    cell.scroll_into_view_if_needed()
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    page.wait_for_function(
        """(i) => { const c = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')[i];
                    const p = c.querySelector('.jp-InputPrompt');
                    return p && /\\[\\d+\\]/.test(p.textContent); }""",
        arg=index, timeout=180_000)
    return cell


def _run_all(page):
    """Run > Run All Cells; retried once if no prompt shows it started (a known startup race)."""
    for _ in range(2):
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
        try:
            page.wait_for_function(
                """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputPrompt')]
                         .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))""", timeout=10_000)
            return
        except Exception:
            page.keyboard.press("Escape")
    raise AssertionError("Run All did not start")


def _widget_state(cell):
    """What the widget shows: its images' sources and its text."""
    images = cell.locator(".jp-OutputArea img").evaluate_all("els => els.map(e => e.src)")
    return images, cell.locator(".jp-OutputArea").inner_text()


def _cells(root, assignment):
    nb = notebooks.read(root / "notebooks" / assignment / f"{assignment}.ipynb")
    setup = next(i for i, c in enumerate(nb.cells) if notebooks.grade_id(c) == "setup")
    widget = next(i for i, c in enumerate(nb.cells)
                  if c.cell_type == "code" and WIDGET_CALL.search(c.source))
    return setup, widget


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_widget_responds_to_a_slider_in_the_release(lab, browser, repo, assignment):
    base, token, root = lab
    setup, widget = _cells(root, assignment)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open(page, base, token, f"notebooks/{assignment}/{assignment}.ipynb")
        _kernel_ready(base, token, page)
        _run_cell(page, setup)
        cell = _run_cell(page, widget)
        handle = cell.locator(
            ".jp-OutputArea .widget-slider .noUi-target:not([disabled]) .noUi-handle").first
        handle.wait_for(timeout=60_000)
        page.wait_for_timeout(500)
        before = _widget_state(cell)
        handle.focus()
        for _ in range(2):
            page.keyboard.press("ArrowRight")
        page.wait_for_function(
            """([i, before]) => { const c = document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')[i];
                 const imgs = [...c.querySelectorAll('.jp-OutputArea img')].map(e => e.src);
                 const text = c.querySelector('.jp-OutputArea').innerText;
                 return JSON.stringify(imgs) !== JSON.stringify(before[0]) || text !== before[1]; }""",
            arg=[widget, list(before)], timeout=120_000)
        shots = repo / "test-artifacts" / "browser"
        shots.mkdir(parents=True, exist_ok=True)
        cell.screenshot(path=str(shots / f"{assignment}.png"))
    finally:
        page.close()
        _shut_down_kernels(base, token)


def test_solution_notebook_runs_all_without_errors_in_the_browser(lab, browser, repo):
    base, token, root = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open(page, base, token, "solutions/01_convolution/01_convolution.ipynb")
        _kernel_ready(base, token, page)
        _run_all(page)
        page.wait_for_function(
            """() => { const ps = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')];
                       return ps.length > 0 && ps.every(p => /\\[\\d+\\]/.test(p.textContent)); }""",
            timeout=300_000)
        errors = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        texts = [errors.nth(i).inner_text()[:300] for i in range(errors.count())]
        shots = repo / "test-artifacts" / "browser"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "solution_01_run_all.png"))
        assert not texts, f"error or stderr output in the solution notebook: {texts}"
    finally:
        page.close()
        _shut_down_kernels(base, token)
