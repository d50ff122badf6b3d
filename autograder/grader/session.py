"""Grade one notebook: the student's cells in a sandboxed kernel, the test cells in this process.

A :class:`GradingSession` replaces nbgrader's execute step (:mod:`autograder.grader.execute`
wires it in). Going through the notebook in order:

- an ordinary cell (the set-up, the student's solutions, demos, anything the student added) runs
  in the student's kernel with nbclient, as nbgrader would run it, outputs and widgets included;
- a test cell runs here, from the instructor's source (hidden tests included), in a namespace
  that holds the set-up cell's imports; the names it does not define are the student's, looked up
  in the kernel (:mod:`autograder.grader.remote`). Its outputs, which nbgrader grades, are
  written by this process only: nothing the kernel prints lands in a test cell.

A call that hangs, kills the kernel or exhausts its memory fails its own test cell; the kernel is
then restarted and the ordinary cells before the next test cell run again (a cell that killed the
kernel is not run again). Hidden tests draw their random cases from the session's seed, drawn
anew for each grading run and recorded with the grade, so a grade can be reproduced.
"""
import contextlib
import functools
import io
import linecache
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_client import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from autograder import checking, lab
from autograder.grader import sandbox
from autograder.grader.remote import KernelLink, KernelUnavailable, RemoteNamespace

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
MEMORY_LIMIT_BYTES = 8 * 2 ** 30
STARTUP_TIMEOUT_SECONDS = 120
METADATA_KEY = "cnn_course"
# Restarts of one notebook's kernel before the grader gives up on it (each costs a replay).
MAX_RESTARTS = 4


@dataclass
class Report:
    """What happened while a notebook was graded, beyond its outputs."""

    seed: int
    sandboxed: bool
    restarts: int = 0
    events: list = field(default_factory=list)  # plain sentences, for the instructor
    seconds: dict = field(default_factory=lambda: {"kernel": 0.0, "student cells": 0.0,
                                                   "test cells": 0.0})
    requests: int = 0  # round trips from the test cells to the kernel


def _timed_out(cell):
    return any(o.get("ename") == "CellTimeoutError" for o in cell.outputs if o.output_type == "error")


@dataclass
class TestOutcome:
    """A test cell's result: the outputs nbgrader grades and what a student may be shown."""

    outputs: list
    error: BaseException = None
    feedback_traceback: list = None

    @property
    def passed(self):
        return self.error is None


class _OneSpec(KernelSpecManager):
    """A kernel-spec manager that knows one spec, made for this session."""

    def __init__(self, spec, **kwargs):
        super().__init__(**kwargs)
        self._spec = spec

    def get_kernel_spec(self, kernel_name):
        return self._spec


def hidden_lines(source):
    """The 1-based line numbers of ``source`` that lie inside its hidden-test regions."""
    inside, lines = False, set()
    for number, line in enumerate(source.splitlines(), start=1):
        if HIDDEN_BEGIN in line:
            inside = True
        if inside:
            lines.add(number)
        if HIDDEN_END in line:
            inside = False
    return lines


def _stream(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def _error_output(ename, evalue, traceback_lines):
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=traceback_lines)


def _student_frames(error):
    return [f"  in your code, {frame}" for frame in getattr(error, "frames", ())]


class Checker:
    """Runs test cells in this process, in a namespace whose missing names live in the kernel."""

    def __init__(self, link, setup_source):
        self.namespace = RemoteNamespace(link)
        with lab.grading_checker():
            self._exec(setup_source, "<set-up cell>")

    def rebind(self, link):
        self.namespace.link = link

    def _exec(self, source, filename):
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(compile(source, filename, "exec"), self.namespace)

    def run(self, grade_id, source):
        """Run one test cell's source; return its :class:`TestOutcome`."""
        filename = f"<test cell {grade_id}>"
        printed = io.StringIO()
        error = None
        checking.reset_counts()
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed), \
                warnings.catch_warnings(), lab.grading_checker():
            warnings.simplefilter("ignore")
            try:
                self._exec(source, filename)
            except NotImplementedError as raised:  # a stub called by the test cell itself
                name = getattr(raised, "function", None) or "a function this test calls"
                error = checking.CheckFailure(checking.not_implemented_message(name))
                error.__traceback__ = raised.__traceback__
            except Exception as raised:  # a failing check, or anything the cell raised
                error = raised
        outputs = []
        if error is None:
            summary = lab.pass_line(source, checking.counts())
            if summary:
                printed.write(summary + "\n")
        if printed.getvalue():
            outputs.append(_stream(printed.getvalue()))
        if error is None:
            return TestOutcome(outputs)
        full = traceback.format_exception(error)
        frames = _student_frames(error)
        if frames:
            full.append("The student's code:\n" + "\n".join(frames) + "\n")
        outputs.append(_error_output(type(error).__name__, str(error), full))
        return TestOutcome(outputs, error, self._feedback_traceback(error, filename, source))

    @staticmethod
    def _feedback_traceback(error, filename, source):
        """What a student may see: the visible line that failed and the message, no more."""
        line_number = None
        for frame in traceback.extract_tb(error.__traceback__):
            if frame.filename == filename:
                line_number = frame.lineno
                break
        lines = source.splitlines()
        if line_number is None:
            where = "In this test cell:"
        elif line_number in hidden_lines(source):
            where = "In the hidden tests of this cell:"
        else:
            where = f"In this test cell, line {line_number}:\n    {lines[line_number - 1].strip()}"
        message = f"{type(error).__name__}: {error}"
        return [where, *_student_frames(error), message]


class GradingSession:
    """One notebook's grading: a sandboxed kernel for the student's cells, a checker here.

    ``tests`` maps each test cell's ``grade_id`` to the instructor's source; ``setup`` is the
    instructor's set-up cell. Use as a context manager; :meth:`run_notebook` fills ``nb``'s outputs.
    """

    def __init__(self, nb, tests, setup, *, timeout=60, seed=None, sandboxed=True,
                 memory_limit=MEMORY_LIMIT_BYTES):
        self.nb = nb
        self.tests = dict(tests)
        self.setup = setup
        self.timeout = timeout
        self.report = Report(seed=secrets.randbits(48) if seed is None else int(seed),
                             sandboxed=sandboxed)
        self.sandboxed = sandboxed
        self.memory_limit = memory_limit
        self.client = NotebookClient(
            nb, timeout=timeout, allow_errors=True, interrupt_on_timeout=True,
            error_on_timeout={"ename": "CellTimeoutError", "evalue": "",
                              "traceback": [f"CellTimeoutError: the cell ran longer than {timeout} s "
                                            "and was interrupted"]},
            startup_timeout=STARTUP_TIMEOUT_SECONDS, record_timing=False, shutdown_kernel="immediate")
        self.link = None
        self.checker = None
        self.history = []  # indices of the ordinary cells run so far, to replay after a restart
        self.killers = set()  # indices of cells that killed the kernel or hung: never run again
        self.exhausted = None  # why the kernel was given up, after MAX_RESTARTS
        self._scratch = None
        self._execution_count = 0

    # ------------------------------------------------------------------ kernel lifecycle
    def __enter__(self):
        checking.set_grading_seed(self.report.seed)
        self._start_kernel()
        self.checker = Checker(self.link, self.setup)
        return self

    def __exit__(self, *exc):
        self._stop_kernel()
        checking.set_grading_seed(None)
        return False

    def _start_kernel(self):
        started = time.perf_counter()
        self._scratch = Path(tempfile.mkdtemp(prefix="cnnk", dir="/tmp"))  # short: socket paths
        cwd = self._scratch
        if self.sandboxed:
            prefix = sandbox.bwrap_command(self._scratch)
        else:
            work, tmp = self._scratch / "work", self._scratch / "tmp"
            work.mkdir()
            tmp.mkdir()
            prefix, cwd = sandbox.unsandboxed_command(work, tmp), work
        spec = KernelSpec(argv=sandbox.kernel_argv(prefix), display_name="graded notebook",
                          language="python", interrupt_mode="message", env={})
        km = AsyncKernelManager(kernel_name="cnn-course-graded", kernel_spec_manager=_OneSpec(spec),
                                transport="ipc", ip=str(self._scratch / "k"),
                                connection_file=str(self._scratch / "kernel.json"))
        self.client.km = km
        self._kernel_log = open(self._scratch / "kernel.log", "wb")
        self.client.start_new_kernel(cwd=str(cwd), stdout=subprocess.DEVNULL,
                                     stderr=self._kernel_log)
        self.client.start_new_kernel_client()
        direct = BlockingKernelClient()
        direct.load_connection_info(km.get_connection_info())
        direct.start_channels()
        self._direct = direct
        self._install_agent()
        generation = (self.link.generation + 1) if self.link is not None else 0
        self.link = KernelLink(direct, alive=lambda: run_sync(km.is_alive)(),
                               interrupt=lambda: run_sync(km.interrupt_kernel)(),
                               generation=generation)
        self.link.open()
        if self.checker is not None:
            self.checker.rebind(self.link)
        self.report.seconds["kernel"] += time.perf_counter() - started

    def _install_agent(self):
        code = ("import autograder.agent as _cnn_course_agent\n"
                f"_cnn_course_agent.install(memory_limit={int(self.memory_limit)})\n"
                "del _cnn_course_agent\n")
        msg_id = self._direct.execute(code, silent=True, store_history=False)
        reply = self._direct.get_shell_msg(timeout=STARTUP_TIMEOUT_SECONDS)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self._direct.get_shell_msg(timeout=STARTUP_TIMEOUT_SECONDS)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"the grader's agent could not start: {reply['content'].get('evalue')}")

    def _stop_kernel(self):
        if getattr(self, "_direct", None) is not None:
            self._direct.stop_channels()
            self._direct = None
        km = self.client.km
        if km is not None:
            with contextlib.suppress(Exception):
                run_sync(km.shutdown_kernel)(now=True)
            with contextlib.suppress(Exception):
                run_sync(km.cleanup_resources)()
        if self.client.kc is not None:
            with contextlib.suppress(Exception):
                run_sync(self.client.kc._async_stop_channels)() if hasattr(
                    self.client.kc, "_async_stop_channels") else self.client.kc.stop_channels()
        self.client.km = self.client.kc = None
        if getattr(self, "_kernel_log", None) is not None:
            self._kernel_log.close()
            self._kernel_log = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def restart(self, reason):
        """Start a new kernel and run the ordinary cells seen so far again (silently).

        A cell that kills the kernel or runs out of time on replay is not run again. After
        ``MAX_RESTARTS`` restarts the kernel is given up: the remaining test cells fail at once.
        """
        if self.report.restarts >= MAX_RESTARTS:
            self.link.broken = self.exhausted = (
                f"the kernel was restarted {MAX_RESTARTS} times; the remaining tests are not run")
            self.report.events.append(self.exhausted)
            return
        self.report.restarts += 1
        self.report.events.append(f"kernel restarted: {reason}")
        self._stop_kernel()
        self._start_kernel()
        for index in self.history:
            if index in self.killers:
                continue
            replay = nbformat.from_dict(self.nb.cells[index])
            replay.outputs = []
            started = time.perf_counter()
            try:
                self.client.execute_cell(replay, index, store_history=False)
            except DeadKernelError:
                self.killers.add(index)
                self.report.events.append(f"cell {index} killed the kernel again on replay")
                self._stop_kernel()
                self._start_kernel()
                continue
            if _timed_out(replay) or time.perf_counter() - started >= self.timeout:
                self.killers.add(index)
                self.report.events.append(f"cell {index} timed out on replay")
                self._check_responsive()
                if self.link.broken:
                    return self.restart(self.link.broken)

    # ------------------------------------------------------------------ cells
    def run_notebook(self):
        """Run every cell of the notebook in order; fill outputs; return the :class:`Report`."""
        for index, cell in enumerate(self.nb.cells):
            if cell.cell_type != "code":
                continue
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in self.tests:
                self.run_test_cell(cell, grade_id)
            else:
                self.run_student_cell(cell, index)
        with contextlib.suppress(Exception):
            self.client.set_widgets_metadata()
        self.nb.metadata[METADATA_KEY] = {
            "grading_seed": self.report.seed, "sandboxed": self.report.sandboxed,
            "kernel_restarts": self.report.restarts, "events": list(self.report.events),
            "seconds": {part: round(value, 3) for part, value in self.report.seconds.items()},
            "kernel_requests": self.report.requests}
        return self.report

    def run_student_cell(self, cell, index):
        """Run an ordinary cell in the kernel; a cell that kills the kernel is recorded and skipped."""
        if self.link.broken and not self.exhausted:
            self.restart(self.link.broken)
        if self.exhausted:
            return
        cell.outputs = []
        started = time.perf_counter()
        try:
            self.client.execute_cell(cell, index)
        except DeadKernelError:
            self.killers.add(index)
            cell.outputs.append(_error_output(
                "KernelDied", "the kernel died while running this cell",
                ["KernelDied: the kernel died while running this cell (for example a crash or "
                 "the memory running out); it was restarted, and this cell is not run again"]))
            self.restart(f"cell {index} killed the kernel")
            return
        elapsed = time.perf_counter() - started
        self.report.seconds["student cells"] += elapsed
        self.history.append(index)
        self._execution_count = max(self._execution_count, cell.get("execution_count") or 0)
        if _timed_out(cell) or elapsed >= self.timeout:
            self.killers.add(index)  # its work was cut short: a replay would only wait again
            self.report.events.append(f"cell {index} timed out")
            self._check_responsive()

    def _check_responsive(self):
        self.link.deadline = time.monotonic() + 10
        try:
            self.link.request("ping")
        except Exception:
            self.link.broken = self.link.broken or "the kernel stopped answering"
        finally:
            self.link.deadline = None

    def run_test_cell(self, cell, grade_id):
        """Run a test cell here (the instructor's source); put its outputs into ``cell``."""
        outcome = self.run_test(grade_id)
        self._execution_count += 1
        cell.outputs = outcome.outputs
        cell.execution_count = self._execution_count
        meta = cell.metadata.setdefault(METADATA_KEY, {})
        if outcome.feedback_traceback is not None:
            meta["feedback_traceback"] = outcome.feedback_traceback
        else:
            meta.pop("feedback_traceback", None)
        if not meta:
            del cell.metadata[METADATA_KEY]

    def run_test(self, grade_id, source=None):
        """The :class:`TestOutcome` of the test cell ``grade_id`` (or of ``source``) now."""
        if self.link.broken and not self.exhausted:
            self.restart(self.link.broken)
        if self.exhausted:
            error = KernelUnavailable(self.exhausted)
            return TestOutcome([_error_output(type(error).__name__, str(error), [str(error)])], error)
        self.link.deadline = time.monotonic() + self.timeout
        started, requests = time.perf_counter(), self.link.requests
        try:
            outcome = self.checker.run(grade_id, self.tests[grade_id] if source is None else source)
        finally:
            self.link.deadline = None
            self.report.seconds["test cells"] += time.perf_counter() - started
            self.report.requests += self.link.requests - requests
        if isinstance(outcome.error, (KernelUnavailable, TimeoutError)):
            self.report.events.append(f"test cell {grade_id}: {outcome.error}")
        return outcome

    def run_source(self, source, index=None):
        """Run ``source`` in the kernel as an ordinary cell (not recorded); return that cell."""
        cell = nbformat.v4.new_code_cell(source)
        try:
            self.client.execute_cell(cell, -1 if index is None else index, store_history=False)
        except DeadKernelError:
            self.restart("a cell run by the grader killed the kernel")
        return cell


def sandbox_or_refuse(mode):
    """``True`` to sandbox kernels; raise unless bubblewrap works or the instructor said ``none``."""
    if mode == "none":
        return False
    _sandbox_works()
    return True


@functools.cache
def _sandbox_works():
    sandbox.check_available()


def main():
    """``python -m autograder.grader.session NOTEBOOK``: run a solution notebook's tests, for debugging."""
    from autograder.grader import notebooks

    nb = notebooks.read(sys.argv[1])
    tests = {notebooks.grade_id(c): c.source for c in nb.cells if notebooks.is_test(c)}
    setup = next(c.source for c in nb.cells if notebooks.grade_id(c) == "setup")
    with GradingSession(nb, tests, setup, sandboxed=sandbox_or_refuse("bwrap")) as session:
        report = session.run_notebook()
    for cell in nb.cells:
        if notebooks.is_test(cell):
            status = "FAIL" if notebooks.errors(cell) else "ok"
            print(f"{status:4} {notebooks.grade_id(cell)}")
            for error in notebooks.errors(cell):
                print("     ", error.evalue.splitlines()[0][:150] if error.evalue else error.ename)
    print(report)


if __name__ == "__main__":
    main()
