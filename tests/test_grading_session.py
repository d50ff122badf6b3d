"""The grading engine for real: a sandboxed kernel for the student's cells, test cells in the grader.

Each test builds a small notebook (set-up cell, student cells, test cells), grades it with a
``GradingSession`` and reads the test cells' outputs, as nbgrader will.
"""
import os
import subprocess
import textwrap

import nbformat
import pytest

from autograder.grader import notebooks
from autograder.grader.session import GradingSession

SETUP = textwrap.dedent("""\
    import numpy as np
    from autograder.lab import start_notebook

    start_notebook()
""")


def _notebook(*cells):
    """Cells are strings (student code) or ``(grade_id, source)`` pairs (test cells)."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(SETUP, metadata={"nbgrader": {
        "grade": False, "grade_id": "setup", "locked": True, "solution": False}}))
    tests = {}
    for cell in cells:
        if isinstance(cell, tuple):
            grade_id, source = cell
            source = textwrap.dedent(source)
            tests[grade_id] = source
            nb.cells.append(nbformat.v4.new_code_cell("# the student's copy: never run", metadata={
                "nbgrader": {"grade": True, "grade_id": grade_id, "locked": True, "points": 1,
                             "solution": False}}))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(textwrap.dedent(cell)))
    return nb, tests


def grade(*cells, timeout=20, seed=None):
    """``({grade_id: (passed, message)}, notebook, report)`` after grading the cells."""
    nb, tests = _notebook(*cells)
    with GradingSession(nb, tests, SETUP, timeout=timeout, seed=seed) as session:
        report = session.run_notebook()
    results = {}
    for cell in nb.cells:
        grade_id = notebooks.grade_id(cell)
        if grade_id in tests:
            errors = notebooks.errors(cell)
            text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            results[grade_id] = (not errors, f"{errors[0].ename}: {errors[0].evalue}" if errors else text)
    return results, nb, report


def test_calls_results_and_in_place_updates_cross_faithfully():
    results, _, _ = grade(
        """
        def step(params, grads, lr):
            for key in params:
                params[key] -= lr * grads[key]

        def shape_of(x):
            return x.shape, x.dtype.name, type(x).__name__
        """,
        ("in_place", """
        params, grads = {"w": np.ones(3)}, {"w": np.arange(3.0)}
        assert step(params, grads, 0.5) is None
        assert np.array_equal(params["w"], [1.0, 0.5, 0.0]), params
        assert np.array_equal(grads["w"], [0.0, 1.0, 2.0])
        """),
        ("plain_data", """
        assert shape_of(np.zeros((2, 3), np.float32)) == ((2, 3), "float32", "ndarray")
        """),
    )
    assert results == {"in_place": (True, ""), "plain_data": (True, "")}


def test_student_classes_stay_in_the_kernel_as_handles():
    results, _, _ = grade(
        """
        class Counter:
            def __init__(self, start):
                self.count = start
                self.history = []

            def add(self, n):
                self.count += n
                self.history.append(n)
                return self

            def __len__(self):
                return len(self.history)

            def __iter__(self):
                return iter(self.history)
        """,
        ("handles", """
        import copy
        from autograder.checking import is_instance

        counter = Counter(10)
        assert counter.add(2) is not None and counter.add(3).count == 15
        assert len(counter) == 2 and list(counter) == [2, 3]
        counter.count = 100
        assert counter.count == 100
        twin = copy.deepcopy(counter)
        twin.add(1)
        assert (counter.count, twin.count) == (100, 101)
        assert not is_instance(counter, dict) and Counter.__name__ == "Counter"
        """),
    )
    assert results["handles"] == (True, "")


def test_errors_not_implemented_and_forbidden_calls_are_explained():
    results, nb, _ = grade(
        """
        def positive(x):
            if x <= 0:
                raise ValueError("x must be positive")
            return x

        def stub(x):
            raise NotImplementedError()

        def correlate(x, k):
            return np.correlate(x, k, "valid")

        def broken(x):
            return x[10]
        """,
        ("raises", """
        from autograder.checking import check_raises
        check_raises(positive, (-1,), reason="x is negative")
        """),
        ("stub", "stub(3)"),
        ("stub_checked", """
        from autograder.checking import call_student
        call_student(stub, (3,))
        """),
        ("forbidden", """
        from autograder.checking import call_student
        call_student(correlate, (np.arange(4.0), np.ones(2)), forbidden=(np.correlate,))
        """),
        ("broken", """
        from autograder.checking import call_student
        call_student(broken, (np.arange(3.0),))
        """),
    )
    assert results["raises"] == (True, "Passed: x is negative.\n") or results["raises"][0]
    assert "stub is not implemented yet" in results["stub"][1]
    assert "stub is not implemented yet" in results["stub_checked"][1]
    assert "numpy" in results["forbidden"][1] and "from scratch" in results["forbidden"][1]
    assert "IndexError" in results["broken"][1] and "in broken, line 13: return x[10]" in results["broken"][1]
    feedback = next(c for c in nb.cells if notebooks.grade_id(c) == "broken").metadata["cnn_course"]
    assert feedback["feedback_traceback"][0].startswith("In this test cell, line 3")


def test_hidden_lines_never_reach_the_feedback_traceback():
    results, nb, _ = grade(
        "def f(x):\n    return x + 1",
        ("hidden", """
        assert f(1) == 2
        ### BEGIN HIDDEN TESTS
        assert f(41) == 43, "secret expectation"
        ### END HIDDEN TESTS
        """),
    )
    assert not results["hidden"][0]
    shown = "\n".join(next(c for c in nb.cells if notebooks.grade_id(c) == "hidden")
                      .metadata["cnn_course"]["feedback_traceback"])
    assert "f(41)" not in shown and "hidden tests" in shown and "secret expectation" in shown


def test_a_hang_fails_its_own_test_and_the_next_test_still_runs():
    results, _, report = grade(
        """
        import time

        def forever():
            while True:
                pass

        def stubborn():
            while True:
                try:
                    time.sleep(0.05)
                except KeyboardInterrupt:
                    pass

        def fine():
            return 1
        """,
        ("hang", "forever()"),
        ("after_hang", "assert fine() == 1"),
        ("stubborn", "stubborn()"),
        ("after_stubborn", "assert fine() == 1"),
        timeout=5,
    )
    assert not results["hang"][0] and not results["stubborn"][0]
    assert results["after_hang"][0] and results["after_stubborn"][0], results
    assert report.restarts == 1


def test_a_dead_kernel_costs_only_what_depends_on_it():
    results, nb, report = grade(
        "def early():\n    return 'defined before the crash'",
        ("before", "assert early() == 'defined before the crash'"),
        "import os\ndef crash():\n    os._exit(1)",
        ("crash_in_call", "crash()"),
        ("after_call_crash", "assert early() == 'defined before the crash'"),
        "import ctypes\ndef lost():\n    return 1\nctypes.string_at(0)",
        ("after_cell_crash", "assert early() == 'defined before the crash'"),
        ("lost", "lost()"),
    )
    assert results["before"][0] and results["after_call_crash"][0] and results["after_cell_crash"][0]
    assert not results["crash_in_call"][0] and not results["lost"][0]
    assert report.restarts >= 2
    assert any(o.get("ename") == "KernelDied" for c in nb.cells for o in c.get("outputs", []))


def test_a_memory_hog_meets_a_memory_error_in_its_own_test():
    """Check that a call taking more than the kernel's address space fails its own test only.

    The hog reserves 1 GiB blocks without writing them: the limit is on address space, and
    writing 8 GiB took longer than the test's timeout on a loaded machine."""
    results, _, _ = grade(
        "def hog():\n    return [np.empty(2 ** 27) for _ in range(1000)]\n\ndef fine():\n    return 2",
        ("hog", "hog()"),
        ("after", "assert fine() == 2"),
    )
    assert not results["hog"][0] and "MemoryError" in results["hog"][1]
    assert results["after"][0]


def test_what_the_kernel_prints_or_hooks_never_reach_a_test_cell():
    results, nb, _ = grade(
        """
        import IPython

        def rewrite(lines):
            return ["pass\\n"]

        get_ipython().input_transformers_post.append(rewrite)
        get_ipython().events.register("post_run_cell", lambda result: print("hooked"))

        def loud(x):
            print("noise from the student")
            return x
        """,
        ("quiet", "assert loud(3) == 3\nassert loud(4) == 5"),
    )
    assert not results["quiet"][0]
    cell = next(c for c in nb.cells if notebooks.grade_id(c) == "quiet")
    assert "noise" not in str(cell.outputs) and "hooked" not in str(cell.outputs)


def test_the_sandbox_hides_the_course_and_keeps_nothing_running(repo, tmp_path):
    marker = f"cnn-course-sandbox-test-{os.getpid()}"
    results, _, _ = grade(
        f"""
        import os, socket, subprocess
        def probe():
            seen = {{}}
            seen["uid"] = os.getuid()
            seen["solutions"] = os.path.exists({str(repo / 'solutions')!r})
            seen["grader"] = os.listdir({str(repo / 'autograder' / 'grader')!r})
            seen["cwd"] = os.listdir(".")
            try:
                open({str(repo / 'autograder' / 'planted.py')!r}, "w")
                seen["write"] = True
            except OSError:
                seen["write"] = False
            try:
                socket.create_connection(("127.0.0.1", 22), timeout=1)
                seen["network"] = True
            except OSError:
                seen["network"] = False
            return seen

        subprocess.Popen(["sleep", "600", {marker!r}])
        """,
        ("probe", """
        seen = probe()
        assert seen == {"uid": 65534, "solutions": False, "grader": [], "cwd": [],
                        "write": False, "network": False}, seen
        """),
    )
    assert results["probe"] == (True, ""), results
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    assert not left, f"a process the student started outlived grading: {left}"
    assert not (repo / "autograder" / "planted.py").exists()


def test_hidden_draws_follow_the_recorded_seed():
    cells = ("def identity(x):\n    return x",
             ("draw", "from autograder.checking import make_rng\nprint(make_rng().integers(10 ** 9))"))
    first, nb, report = grade(*cells, seed=1234)
    again, _, _ = grade(*cells, seed=1234)
    other, _, _ = grade(*cells)
    assert nb.metadata["cnn_course"]["grading_seed"] == report.seed == 1234
    assert first["draw"] == again["draw"] != other["draw"]


def test_the_graded_notebook_records_where_the_time_went():
    """Check that the graded notebook keeps the engine's seconds by part and its kernel requests."""
    results, nb, report = grade("import time\ndef nap(x):\n    time.sleep(0.3)\n    return x",
                                ("calls", "assert nap(1) == 1 and nap(2) == 2"))
    assert results["calls"] == (True, ""), results
    recorded = nb.metadata["cnn_course"]
    assert recorded["kernel_requests"] == report.requests >= 2
    assert set(recorded["seconds"]) == {"kernel", "student cells", "test cells"}
    assert recorded["seconds"]["test cells"] >= 0.6 and recorded["seconds"]["kernel"] > 0


def test_a_kernel_that_answers_fewer_results_than_calls_fails_the_check():
    """Check that a notebook shortening the kernel's batched replies earns nothing and is reported."""
    results, _, report = grade(
        """
        import autograder.lab as lab

        wire = lab.checking.wire

        class ShortAnswer(wire.Encoder):
            def encode(self, value, depth=0):
                if depth == 0 and type(value) is list and value and all(type(v) is dict for v in value):
                    value = []
                return super().encode(value, depth)

        vars(wire)["Encoder"] = ShortAnswer

        def square(x):
            raise ValueError("implements nothing")
        """,
        ("batched", """
            from autograder.checking import call_each
            for (value, error), x in zip(call_each(square, [((x,), {}) for x in range(3)]), range(3)):
                assert error is None and value == x * x
        """),
    )
    assert not results["batched"][0]
    assert "answered 0 results for 3 calls" in results["batched"][1]
    assert any("changed the grading link" in event for event in report.events)


def test_files_and_shared_memory_written_by_the_notebook_are_capped():
    """Check that a grading kernel cannot write a file past 256 MiB, in its folder or in /dev/shm."""
    results, _, _ = grade(
        """
        def write(path):
            try:
                with open(path, "wb") as handle:
                    for _ in range(300):
                        handle.write(b"x" * 2 ** 20)
            except OSError as error:
                return type(error).__name__
            return "written"
        """,
        ("capped", """
            assert write("big.bin") == "OSError", write("big.bin")
            assert write("/dev/shm/big.bin") == "OSError"
        """),
    )
    assert results["capped"][0], results["capped"][1]


def test_a_cell_that_hangs_unstoppably_is_not_replayed():
    """Check that a student cell hanging through interrupts costs its time once, not per test."""
    results, _, report = grade(
        "def fine():\n    return 1\n\ndef crash():\n    import os\n    os._exit(1)",
        """
        import time

        while True:
            try:
                time.sleep(0.05)
            except KeyboardInterrupt:
                pass
        """,
        ("first", "assert fine() == 1"),
        ("crash", "crash()"),
        ("after_crash", "assert fine() == 1"),
        timeout=5,
    )
    assert results["first"][0] and results["after_crash"][0] and not results["crash"][0], results
    assert sum("timed out" in event for event in report.events) == 1, report.events


def test_after_repeated_restarts_the_remaining_tests_fail_at_once():
    """Check that a kernel killed by test after test is given up, and the notebook flagged."""
    from autograder.grader.session import MAX_RESTARTS

    tests = [(f"crash{n}", "crash()") for n in range(MAX_RESTARTS + 2)]
    results, _, report = grade("def crash():\n    import os\n    os._exit(1)", *tests, timeout=5)
    assert not any(passed for passed, _ in results.values())
    assert report.restarts == MAX_RESTARTS
    assert f"restarted {MAX_RESTARTS} times" in results[f"crash{MAX_RESTARTS + 1}"][1]
    assert any("the remaining tests are not run" in event for event in report.events)
