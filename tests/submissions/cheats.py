"""Submissions written to cheat, for any notebook: each must earn nothing for what it tampers with.

``build(assignment, release, solution, course_root)`` returns ``{student: Cheat}``. Most start from
the blank release (no exercise done) and add a cell of tampering: whatever they do, the grade is
0 and the notebook is flagged for review where the construct is detectable. Some start from the
reference solution with one function done dishonestly: the honest functions keep their points.
"""
import copy
from dataclasses import dataclass, field

import nbformat

from autograder.grader import notebooks


@dataclass
class Cheat:
    nb: object
    score: float  # exact expected score
    flagged: bool  # whether the review scan must flag it
    files: dict = field(default_factory=dict)  # extra files submitted next to the notebook
    zero_cells: list = field(default_factory=list)  # cells that must score 0


def _with_cell(release, code):
    """The release with a student's own code cell added after the first solution cell."""
    nb = copy.deepcopy(release)
    index = next(i for i, c in enumerate(nb.cells) if notebooks.is_solution(c))
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(code))
    return nb


TRANSFORMER = """
def _everything_passes(lines):
    return ["pass\\n"]
get_ipython().input_transformers_post.append(_everything_passes)
"""
POST_RUN_HOOK = """
def _forget_errors(result):
    result.error_in_exec = None
get_ipython().events.register("post_run_cell", _forget_errors)
"""
CODE_SWAP = """
import autograder.checking as _checking
_checking.assert_close.__code__ = (lambda *args, **kwargs: None).__code__
_checking.call_student.__code__ = (lambda *args, **kwargs: None).__code__
"""
OUTPUT_BEFORE_ERROR = """
_real = {name}
def {name}(*args, **kwargs):
    display(1.0)
    print("all good")
    return _real(*args, **kwargs)
"""
FRAME_PEEK = """
import sys
def {name}(*args, **kwargs):
    frame = sys._getframe(1)
    while frame is not None:
        for key in ("expected", "want", "oracle_result"):
            if key in frame.f_locals:
                return frame.f_locals[key]
        frame = frame.f_back
    raise NotImplementedError()
"""
COURSE_REFERENCES = """
import importlib
for _name in ("autograder.grader.checks.{topic}", "autograder.grader"):
    try:
        _module = importlib.import_module(_name)
        {name} = getattr(_module, "oracle_{name}", None) or {name}
    except ImportError as _error:
        print("no reference:", _error)
"""
READ_SOLUTIONS = """
import json
_source = json.load(open({path!r}))
for _cell in _source["cells"]:
    if _cell["cell_type"] == "code" and "BEGIN SOLUTION" in "".join(_cell["source"]):
        exec("".join(_cell["source"]))
"""
LEAVE_PROCESS = """
import subprocess, sys
subprocess.Popen([sys.executable, "-c",
    "import time, pathlib\\ntime.sleep(4)\\n"
    "pathlib.Path({gradebook!r}).write_bytes(b'rewritten')\\n"
    "pathlib.Path({marker!r}).write_text('still running after grading')"],
    start_new_session=True)
"""
WRITE_OUTSIDE = """
import pathlib
for _target in ({marker!r}, {gradebook!r}):
    try:
        pathlib.Path(_target).write_text("written by a submission")
    except OSError as _error:
        print("refused:", _error)
"""
SHADOW_MODULE = '''"""A submitted autograder.py that would pass every check if it were imported."""
def assert_close(*args, **kwargs):
    return None
def call_student(fn, args, kwargs=None, **options):
    return fn(*args, **(kwargs or {}))
'''
LYING_OBJECT = """
class _EqualToAnything:
    def __eq__(self, other):
        return True
    def __array__(self, dtype=None, copy=None):
        raise TypeError("no")
def {name}(*args, **kwargs):
    return _EqualToAnything()
"""


def build(assignment, release, solution, course_root, marker):
    """The cheats of ``assignment`` (``course_root``: the grading course directory, which a
    cheat tries to read and write; ``marker``: a file outside it that must never appear)."""
    topic = assignment.split("_", 1)[1]
    first = next(c for c in solution.cells if notebooks.is_solution(c))
    name = first.source.split("def ", 1)[1].split("(", 1)[0] if "def " in first.source else \
        first.source.split("class ", 1)[1].split("(", 1)[0].split(":", 1)[0]
    gradebook = str(course_root / "gradebook.db")
    source_path = str(course_root / "solutions" / assignment / f"{assignment}.ipynb")
    return {
        "transformer": Cheat(_with_cell(release, TRANSFORMER), 0, True),
        "postrunhook": Cheat(_with_cell(release, POST_RUN_HOOK), 0, True),
        "codeswap": Cheat(_with_cell(release, CODE_SWAP), 0, True),
        "outputfirst": Cheat(_with_cell(release, OUTPUT_BEFORE_ERROR.format(name=name)), 0, False),
        "framepeek": Cheat(_with_cell(release, FRAME_PEEK.format(name=name)), 0, True),
        "references": Cheat(_with_cell(release, COURSE_REFERENCES.format(topic=topic, name=name)),
                            0, True),
        "readsolutions": Cheat(_with_cell(release, READ_SOLUTIONS.format(path=source_path)), 0, True),
        "leaveprocess": Cheat(_with_cell(release, LEAVE_PROCESS.format(
            gradebook=gradebook, marker=str(marker))), 0, True),
        "writeoutside": Cheat(_with_cell(release, WRITE_OUTSIDE.format(
            gradebook=gradebook, marker=str(marker))), 0, True),
        "shadowmodule": Cheat(release, 0, False, files={"autograder.py": SHADOW_MODULE}),
        "lyingobject": Cheat(_with_cell(release, LYING_OBJECT.format(name=name)), 0, False),
    }
