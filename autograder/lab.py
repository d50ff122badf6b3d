"""What a notebook's first (read-only) cell sets up, and what a student sees while working.

``start_notebook`` runs in three places:

- in a student's own kernel (JupyterLab, or nbgrader's *Validate*): it seeds the random
  generators, and makes failing checks readable: a failing test cell shows its line and the
  check's message, never the internals of this package; a passing test cell says what passed;
- in the graded kernel (under ``nbgrader autograde``), where test cells never run: it seeds;
- in the grader's checker process, which runs the test cells (:mod:`autograder.grader.session`):
  it seeds and imports the notebook's check modules.

``requires`` wraps a demo cell that uses the student's functions, so that an unimplemented one is
named instead of raising a traceback in the middle of a "Run All".
"""
import builtins
import contextlib
import importlib
import os
import random
import re
import traceback
import warnings

import numpy as np

from autograder import checking

_ROLE = {"checker": False, "installed": False}
DOCSTRING = re.compile(r'^\s*(?:"""|\'\'\')\s*Check that (.+?)\.?\s*(?:"""|\'\'\')', re.S)


@contextlib.contextmanager
def grading_checker():
    """Mark the code run inside as the grader's checker (not a kernel)."""
    previous = _ROLE["checker"]
    _ROLE["checker"] = True
    try:
        yield
    finally:
        _ROLE["checker"] = previous


def pass_line(source, comparisons):
    """The line a passing test cell prints: what its docstring says it checks."""
    match = DOCSTRING.match(source)
    if match is None:
        return None
    what = " ".join(match.group(1).split())
    suffix = f" ({comparisons} checks)" if comparisons > 1 else ""
    return f"Passed: {what}{suffix}."


def _seed():
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def start_notebook(*check_modules):
    """Set the notebook up; call it once, from the notebook's first cell.

    ``check_modules`` are the names of this package's modules the test cells use (e.g.
    ``"convolution"``); they are imported now.
    """
    for name in ("checking", "guards") + tuple(check_modules):
        importlib.import_module(f"autograder.{name}")
    _seed()
    if _ROLE["checker"]:
        return
    if os.environ.get("NBGRADER_EXECUTION"):
        warnings.simplefilter("ignore")  # nbgrader fails a test cell that writes to stderr
    shell = builtins.get_ipython() if hasattr(builtins, "get_ipython") else None
    if shell is not None and not _ROLE["installed"]:
        _install_displays(shell)
        _ROLE["installed"] = True


# ----------------------------------------------------------------------------- the student's lab

def innermost_function(tb):
    """The name of the function a traceback ends in (a method as ``Class.method``, ``Class``
    for ``__init__``)."""
    frame = None
    while tb is not None:
        frame, tb = tb.tb_frame, tb.tb_next
    if frame is None:
        return None
    name, owner = frame.f_code.co_name, frame.f_locals.get("self")
    if owner is not None:
        cls = type(owner).__name__
        return cls if name == "__init__" else f"{cls}.{name}"
    return name


def _cell_line(tb):
    """``(line number, source line)`` of the cell's own frame in a traceback."""
    for frame in traceback.extract_tb(tb):
        if frame.name == "<module>":
            return frame.lineno, (frame.line or "").strip()
    return None, ""


def short_traceback(etype, value, tb):
    """A failing check as a student should see it: the cell's line and the message."""
    message = str(value)
    number, line = _cell_line(tb)
    where = f"in this cell, line {number}:  {line}" if number else "in this cell"
    frames = [f"  in your code, {f}" for f in checking.student_frames(value)
              if not issubclass(etype, checking.CheckFailure)]
    red, reset = "\x1b[0;31m", "\x1b[0m"
    return [f"{red}{etype.__name__}{reset} ({where})", *frames, f"{red}{etype.__name__}{reset}: {message}"]


def _install_displays(shell):
    def show_check_failure(self, etype, value, tb, tb_offset=None):
        short = issubclass(etype, NotImplementedError) or _raised_by_a_check(tb)
        if issubclass(etype, NotImplementedError) and not str(value):
            name = innermost_function(tb) or "this function"
            etype, value = checking.CheckFailure, checking.CheckFailure(
                checking.not_implemented_message(name))
        if short:
            stb = short_traceback(etype, value, tb)
        else:
            stb = self.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
        self._showtraceback(etype, value, stb)
        return stb

    def before(info):
        checking.reset_counts()

    def after(result):
        if result.success and result.info is not None:
            line = pass_line(result.info.raw_cell or "", checking.counts())
            if line:
                print(line)

    shell.set_custom_exc((AssertionError, NotImplementedError), show_check_failure)
    shell.events.register("pre_run_cell", before)
    shell.events.register("post_run_cell", after)


def _raised_by_a_check(tb):
    """Whether the exception came out of this package's checks (or a test cell's assert)."""
    frames = traceback.extract_tb(tb)
    return len(frames) == 1 or any("autograder" in f.filename.replace("\\", "/").split("/")
                                   for f in frames)


# ----------------------------------------------------------------------------- demos

@contextlib.contextmanager
def requires(*names):
    """Run a demo that uses the student's functions ``names``.

    If one of them is not implemented yet, or raises, the cell prints which one and why (and
    closes the figures the demo opened) instead of failing: a "Run All" goes on to the cells
    below. The exercise's own tests say more about a mistake.
    """
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    try:
        yield
    except Exception as error:  # the student's code may raise anything; a demo reports it
        for number in set(plt.get_fignums()) - before:
            plt.close(number)
        missing = innermost_function(error.__traceback__)
        listed = ", ".join(f"`{n}`" for n in names) or f"`{missing}`"
        if isinstance(error, NotImplementedError):
            print(f"This demo needs {listed}: `{missing}` is not implemented yet. Implement it "
                  "above (replace `raise NotImplementedError()`), run its cell, then run this "
                  "cell again.")
            return
        where = "".join(f"\n  in your code, {line}" for line in checking.student_frames(error))
        print(f"This demo stopped: {type(error).__name__}: {error}{where}\nIt uses {listed}; "
              "their tests above say what differs from the expected results.")
