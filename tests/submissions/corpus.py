"""A corpus of student submissions of notebook 01, good and bad, each with its expected outcome.

``build(folder, release_path, solution_path)`` writes one student folder per case in nbgrader's
layout (``<student>/01_convolution/...``) and returns ``{student: Expected}``.
``build_lms(...)`` writes an LMS export (zip archives of ``<student>_01_convolution.ipynb`` files,
student ids with dots, underscores and non-ASCII letters) and a roster.
"""
import json
import unicodedata
import zipfile
from dataclasses import dataclass, field

import nbformat

from autograder.grader import notebooks
from submissions import PATCH_LIBRARIES, WRONG_01, patched_in_cell, patched_inside_function

ASSIGNMENT = "01_convolution"
FILENAME = f"{ASSIGNMENT}.ipynb"

FORBIDDEN_01 = {
    "correlate1d_solution": "def correlate1d(x, k):\n    return np.correlate(x, k, 'valid')",
    "convolve1d_solution": "def convolve1d(x, k):\n    return np.convolve(x, k, 'valid')",
    "correlate2d_solution": ("from scipy.signal import correlate2d as _c2\n"
                             "def correlate2d(image, kernel):\n    return _c2(image, kernel, 'valid')"),
    "convolve2d_solution": ("import scipy.signal\n"
                            "def convolve2d(image, kernel):\n"
                            "    return scipy.signal.convolve2d(image, kernel, 'valid')"),
    "conv2d_solution": ("import torch\n"
                        "def conv2d(x, w, b=None, stride=1, padding=0):\n"
                        "    bias = None if b is None else torch.from_numpy(b)\n"
                        "    return torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),"
                        " bias, stride=stride, padding=padding).numpy()"),
    "conv2d_im2col_solution": ("def conv2d_im2col(x, w, b=None, stride=1, padding=0):\n"
                               "    return conv2d(x, w, b, stride, padding)"),
    "gaussian_kernel_solution": ("from scipy.signal.windows import gaussian\n"
                                 "def gaussian_kernel(size, sigma):\n"
                                 "    g = np.outer(gaussian(size, sigma), gaussian(size, sigma))\n"
                                 "    return g / g.sum()"),
}
GUARDED_CELLS_01 = [
    "correlate1d_matches_numpy", "convolve1d_matches_numpy", "correlate2d_matches_scipy",
    "convolve2d_matches_scipy", "conv2d_matches_torch", "conv2d_matches_torch_with_stride_and_padding",
    "conv2d_im2col_matches_torch", "gaussian_kernel_matches_scipy",
]
# The visible tests' answers, typed in.
HARDCODED_01 = dict(WRONG_01, **{
    "correlate1d_solution": ("def correlate1d(x, k):\n"
                             "    return np.array([-2.0, -2.0]) if len(x) == 4 else np.arange(3.0, 27.0, 3.0)"),
    "convolve1d_solution": "def convolve1d(x, k):\n    return np.array([2.0, 2.0])",
    "gaussian_kernel_solution": ("def gaussian_kernel(size, sigma):\n"
                                 "    g = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0\n"
                                 "    return g"),
    "conv2d_solution": ("def conv2d(x, w, b=None, stride=1, padding=0):\n"
                        "    out = np.zeros((1, 2, 3, 3))\n"
                        "    out[0] = [[[4, 2, 3], [-4, -2, 1], [-2, -2, -4]],"
                        " [[3, 2, -1], [2, 0, -7], [-4, -5, -3]]]\n"
                        "    return out"),
})


@dataclass
class Expected:
    status: str = "graded"
    score: float = None  # exact score when graded, None if only cells are checked
    zero_cells: list = field(default_factory=list)  # cells that must score 0
    note: str = ""  # a fragment the CSV note must contain


FLAGGED_AT_0 = Expected(status="needs manual grade", score=0, note="flagged for review")


def _append(sources, cell, code):
    return dict(sources, **{cell: sources[cell] + "\n\n" + code})


def _write(folder, student, nb=None, filename=FILENAME, raw=None):
    target = folder / student / ASSIGNMENT
    target.mkdir(parents=True)
    if raw is not None:
        (target / filename).write_bytes(raw)
    elif nb is not None:
        notebooks.write(nb, target / filename)
    return target


def build(folder, release_path, solution_path):
    release = notebooks.read(release_path)
    reference = notebooks.solution_sources(notebooks.read(solution_path))

    def filled(sources):
        return notebooks.with_solutions(release, sources)

    def without_tests(sources):
        nb = filled(sources)
        nb.cells = [c for c in nb.cells if not notebooks.is_test(c)]
        return nb

    def edited_tests(sources):
        nb = filled(sources)
        for cell in nb.cells:
            if notebooks.is_test(cell):
                cell.source = "pass"
        return nb

    def skip_tagged(sources):
        nb = filled(sources)
        for cell in nb.cells:
            if notebooks.is_test(cell):
                cell.metadata["tags"] = ["skip-execution", "raises-exception"]
        return nb

    mutated_input = dict(reference, correlate1d_solution=reference["correlate1d_solution"].replace(
        "    return np.array([np.dot(x[i:i + len(k)], k) for i in range(n_out)])",
        "    result = np.array([np.dot(x[i:i + len(k)], k) for i in range(n_out)])\n"
        "    x[0] = 0.0\n    return result"))
    cases = {
        "reference": (filled(reference), Expected(score=100)),
        "blank": (release, Expected(score=0, note="blank")),
        "wrong": (filled(WRONG_01), Expected(score=0)),
        "infiniteloop": (filled(dict(reference, sobel_kernels_solution=(
            "def sobel_kernels():\n    while True:\n        pass"))),
            Expected(score=94, zero_cells=["sobel_kernels_match_scipy"])),
        "swallowsinterrupt": (filled(dict(reference, sobel_kernels_solution=(
            "import time\ndef sobel_kernels():\n    while True:\n        try:\n"
            "            time.sleep(0.1)\n        except KeyboardInterrupt:\n            pass"))),
            Expected(score=94, zero_cells=["sobel_kernels_match_scipy"])),
        # The sandboxed kernel dies: the grader flags it and the cell that killed it loses its points.
        "osexit": (filled(_append(reference, "sobel_kernels_solution", "import os\nos._exit(1)")),
                   Expected(status="needs manual grade", zero_cells=["sobel_kernels_match_scipy"])),
        "segfault": (filled(_append(reference, "sobel_kernels_solution",
                                    "import ctypes\nctypes.string_at(0)")),
                     Expected(status="needs manual grade")),
        "sysexit": (filled(_append(reference, "sobel_kernels_solution", "import sys\nsys.exit(1)")),
                    Expected(score=100)),
        "memoryhog": (filled(_append(reference, "sobel_kernels_solution",
                                     "_hog = []\nwhile True:\n    _hog.append(np.empty(10**8))")),
                      Expected(score=100)),
        "hugeoutput": (filled(_append(reference, "correlate1d_solution",
                                      "for _i in range(200000):\n    print('spam', _i)")),
                       Expected(score=100)),
        "nonascii": (filled(_append(reference, "correlate1d_solution",
                                    "print('Grüße, 你好, ✓ 🚀 — naïve café')")), Expected(score=100)),
        "stderrnoise": (filled(_append(reference, "correlate1d_solution",
                                       "import sys, warnings\nprint('noise', file=sys.stderr)\n"
                                       "warnings.warn('a student warning')")), Expected(score=100)),
        "editedtests": (edited_tests(reference),
                        Expected(score=100, note="edited locked cells (the originals were graded)")),
        "editedtestswrong": (edited_tests(WRONG_01), Expected(score=0)),
        "deletedtests": (without_tests(WRONG_01),
                         Expected(score=0, note="deleted test cells (put back and graded)")),
        "deletedtestsright": (without_tests(reference), Expected(score=100)),
        # Tampering earns nothing, and the grader flags it for the instructor's review.
        "patchchecks": (filled(patched_in_cell(WRONG_01)), FLAGGED_AT_0),
        "patchinside": (filled(patched_inside_function(WRONG_01)), FLAGGED_AT_0),
        "patchlibraries": (filled(patched_in_cell(WRONG_01, PATCH_LIBRARIES)), FLAGGED_AT_0),
        "hardcoded": (filled(HARDCODED_01), Expected(score=0)),
        "skiptags": (skip_tagged(WRONG_01), Expected(score=0)),
        "forbidden": (filled(dict(reference, **FORBIDDEN_01)),
                      Expected(status="needs manual grade", zero_cells=GUARDED_CELLS_01,
                               note="flagged for review")),
        "mutatesinputs": (filled(mutated_input), Expected(zero_cells=["correlate1d_matches_numpy"])),
        "othercourse": (notebooks.read_string(json.dumps({
            "cells": [{"cell_type": "code", "metadata": {}, "source": "print('hello')",
                       "outputs": [], "execution_count": None}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 4})), Expected(status="not this notebook")),
    }
    expected = {}
    for student, (nb, outcome) in cases.items():
        _write(folder, student, nb)
        expected[student] = outcome
    _write(folder, "renamed", filled(reference), filename=f"{ASSIGNMENT} (1).ipynb")
    expected["renamed"] = Expected(score=100, note="graded 01_convolution (1).ipynb")
    _write(folder, "missing").joinpath("notes.txt").write_text("I forgot the notebook")
    expected["missing"] = Expected(status="missing")
    text = (folder / "reference" / ASSIGNMENT / FILENAME).read_bytes()
    _write(folder, "corrupted", raw=text[: len(text) // 2])
    expected["corrupted"] = Expected(status="unreadable")
    _write(folder, "emptyfile", raw=b"")
    expected["emptyfile"] = Expected(status="unreadable")
    return expected


# ----------------------------------------------------------------------------- an LMS export

ROSTER = ["ada.lovelace", "Müller", "jean_paul", "Zoë", "absent.student"]


def _zip_without_utf8_flag(archive_path, entries):
    """A zip whose member names are UTF-8 bytes without the UTF-8 flag (as macOS and older
    Windows archivers write them); ``entries`` is ``[(name, bytes)]``."""
    placeholders = {}
    with zipfile.ZipFile(archive_path, "w") as archive:
        for number, (name, data) in enumerate(entries):
            raw = unicodedata.normalize("NFD", name).encode("utf-8")
            placeholder = f"P{number:0{len(raw) - 1}d}".encode()
            placeholders[placeholder] = raw
            archive.writestr(placeholder.decode(), data)
    blob = archive_path.read_bytes()
    for placeholder, raw in placeholders.items():
        blob = blob.replace(placeholder, raw)
    archive_path.write_bytes(blob)


def build_lms(folder, release_path, solution_path):
    """An LMS export of notebook 01 in ``folder`` and a roster CSV beside it.

    Returns ``(expected, unmatched, roster_path)``: ``{student: Expected}`` for every roster
    student, and ``{file name fragment: reason fragment}`` for the files that must be listed as
    unmatched.
    """
    release = notebooks.read(release_path)
    reference = notebooks.solution_sources(notebooks.read(solution_path))

    def text(nb):
        return nbformat.writes(nb).encode()

    solved = text(notebooks.with_solutions(release, reference))
    export = folder / ASSIGNMENT
    export.mkdir(parents=True)
    with zipfile.ZipFile(export / "export.zip", "w") as archive:
        archive.writestr(f"ada.lovelace_{FILENAME}", solved)
        archive.writestr(f"Müller_{FILENAME}", text(release))
        archive.writestr(f"jean_paul_{FILENAME}", text(notebooks.with_solutions(release, WRONG_01)))
        archive.writestr(f"__MACOSX/._ada.lovelace_{FILENAME}", b"\0\5\26\7")
        archive.writestr(f"stranger_{FILENAME}", solved)
        archive.writestr("readme.txt", b"exported by the LMS")
    _zip_without_utf8_flag(export / "late.zip", [(f"Zoë_{FILENAME}", solved)])
    roster = folder.parent / f"{folder.name}-roster.csv"
    roster.write_text("id,last_name,first_name\n" + "".join(f"{student},,\n" for student in ROSTER),
                      encoding="utf-8")
    expected = {
        "ada.lovelace": Expected(score=100),
        "Müller": Expected(score=0, note="blank"),
        "jean_paul": Expected(score=0),
        "Zoë": Expected(score=100),
        "absent.student": Expected(status="missing"),
    }
    unmatched = {"__MACOSX": "archive metadata", f"stranger_{FILENAME}": "not on the roster",
                 "readme.txt": "does not match"}
    return expected, unmatched, roster
