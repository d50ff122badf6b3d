"""No callable students receive computes a graded function's answer.

The student bundle is built; every public callable defined in its package is bound in place of
each graded function it could be called as (its signature accepts the function's required
arguments), next to the reference solution of every other function, and the test cells that use
that function (hidden tests included) must then all fail. The cells run in this process, with
the same checks as grading, each binding with a time limit.
"""
import ast
import contextlib
import importlib
import inspect
import signal

import pytest

from autograder import checking
from autograder.grader import bundle, notebooks, release

ASSIGNMENTS = release.assignments()
SECONDS_PER_CELL = 5


class _TooSlow(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds):
    def stop(*_):
        raise _TooSlow()

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def candidates(tmp_path_factory, repo):
    """``[(module, name, callable)]``: the public callables the bundle's package defines."""
    built = bundle.build(tmp_path_factory.mktemp("bundle") / "course", repo)
    found = []
    for path in sorted((built / "autograder").rglob("*.py")):
        module_name = ".".join(path.relative_to(built).with_suffix("").parts).removesuffix(".__init__")
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if not name.startswith("_") and callable(value) \
                    and getattr(value, "__module__", "") == module_name:
                found.append((module_name, name, value))
    assert len(found) > 50, "too few callables found in the bundle"
    return found


def _graded(nb):
    """``{name: required positional parameters}`` of the functions and classes solution cells define."""
    graded = {}
    for cell in filter(notebooks.is_solution, nb.cells):
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.FunctionDef):
                args = node.args
                graded[node.name] = len(args.posonlyargs + args.args) - len(args.defaults)
            elif isinstance(node, ast.ClassDef):
                init = next((n for n in node.body if isinstance(n, ast.FunctionDef)
                             and n.name == "__init__"), None)
                graded[node.name] = (len(init.args.args) - 1 - len(init.args.defaults)) if init else 0
    return graded


def _names(source):
    """The bare names a test cell's code uses (``conv2d``, not ``F.conv2d`` or ``conv2d_im2col``)."""
    return {node.id for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Name)}


def _accepts(function, count):
    try:
        inspect.signature(function).bind(*([None] * count))
    except (TypeError, ValueError):
        return False
    return True


def _passes(source, namespace):
    try:
        with _time_limit(SECONDS_PER_CELL):
            exec(compile(source, "<test cell>", "exec"), dict(namespace))
    except BaseException:  # anything a wrong function raises, or too slow: no points
        return False
    return True


@pytest.mark.parametrize("assignment", [
    pytest.param(a, marks=pytest.mark.xdist_group(f"references-{a}")) for a in ASSIGNMENTS])
def test_no_bundled_callable_earns_a_graded_functions_points(repo, candidates, assignment):
    nb = notebooks.read(repo / "solutions" / assignment / f"{assignment}.ipynb")
    setup = next(c.source for c in nb.cells if notebooks.grade_id(c) == "setup")
    namespace = {"__name__": "__main__"}
    exec(setup, namespace)
    notebooks.solution_namespace(nb, namespace)
    checking.set_grading_seed(12345)
    tests = [c.source for c in nb.cells if notebooks.is_test(c)]
    assert all(_passes(source, namespace) for source in tests), "the reference fails a test"
    earned = []
    for name, required in _graded(nb).items():
        cells = [source for source in tests if name in _names(source)]
        for module, attribute, value in candidates:
            if _accepts(value, required):
                bound = dict(namespace, **{name: value})
                passing = [s.splitlines()[0] for s in cells if _passes(s, bound)]
                if passing:
                    earned.append(f"{module}.{attribute} as {name}: {passing}")
    checking.set_grading_seed(None)
    assert not earned, "bundled callables that earn a graded function's points:\n" + "\n".join(earned)
