"""What a student sees in their own kernel: readable failures, passing lines, named missing exercises."""
import nbformat

from autograder import selfcheck
from autograder.grader import notebooks

CELLS = [
    "import numpy as np\nfrom autograder.lab import requires, start_notebook\nstart_notebook()",
    "def double(x):\n    raise NotImplementedError()",
    '"""Check that double doubles."""\nfrom autograder.checking import assert_close\n'
    "assert_close(double(np.ones(2)), 2 * np.ones(2), what='double(ones(2))')",
    '"""Check that ones are ones."""\nfrom autograder.checking import assert_close\n'
    "assert_close(np.ones(2), [1.0, 1.0], what='ones(2)')\nassert_close(np.zeros(1), [0.0], what='zeros(1)')",
    '"""Check that a wrong answer is explained."""\nfrom autograder.checking import assert_close\n'
    "assert_close(np.zeros(2), [1.0, 1.0], what='a wrong answer', likely=[('it is all zeros', [0.0, 0.0])])",
    "import matplotlib.pyplot as plt\nwith requires('double'):\n    plt.plot(double(np.arange(3.0)))\n    plt.show()",
]


def _run(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    for index in (2, 3, 4):
        nb.cells[index].metadata["nbgrader"] = {"grade": True, "grade_id": f"test{index}",
                                                "points": 1, "solution": False}
    return notebooks.execute(nb, cwd=tmp_path)


def test_failures_are_short_and_passes_say_what_passed(tmp_path):
    nb = _run(tmp_path)
    stub, passing, wrong, demo = nb.cells[2], nb.cells[3], nb.cells[4], nb.cells[5]
    (error,) = notebooks.errors(stub)
    assert error.ename == "CheckFailure" and "double is not implemented yet" in error.evalue
    shown = "\n".join(error.traceback)
    assert "autograder" not in shown and "checking.py" not in shown and "line 3" in shown
    assert "Passed: ones are ones (2 checks)." in passing.outputs[0].text
    (error,) = notebooks.errors(wrong)
    assert "Likely cause: it is all zeros" in error.evalue and "checking.py" not in "\n".join(error.traceback)
    text = "".join(o.get("text", "") for o in demo.outputs)
    assert not notebooks.errors(demo) and "`double` is not implemented yet" in text
    assert not any("image/png" in o.get("data", {}) for o in demo.outputs), "an empty plot was shown"


def test_selfcheck_tabulates_the_test_cells(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    for index in (2, 3, 4):
        nb.cells[index].metadata["nbgrader"] = {"grade": True, "grade_id": f"test{index}",
                                                "points": 2, "solution": False}
    path = tmp_path / "work.ipynb"
    nbformat.write(nb, str(path))
    rows = selfcheck.check(path)
    assert [(r[0], r[2]) for r in rows] == [("test2", "not implemented"), ("test3", "passed"),
                                           ("test4", "failed")]
    text = selfcheck.table(rows)
    assert "1 of 3 test cells pass" in text and "2 of 6 points" in text


def test_a_demo_that_meets_a_wrong_answer_reports_it_and_lets_run_all_go_on(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in (
        CELLS[0], "def double(x):\n    return x[10]",
        "with requires('double'):\n    double(np.arange(3.0))")])
    notebooks.execute(nb, cwd=tmp_path, allow_errors=False)
    text = "".join(o.get("text", "") for o in nb.cells[2].outputs)
    assert "This demo stopped: IndexError" in text and "return x[10]" in text
