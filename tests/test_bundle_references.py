"""No callable students receive computes a graded function's answer.

The student bundle is built; every public callable defined in its package is bound, in a graded
kernel holding the reference solution, in place of each graded function it could be called as,
and the test cells that use that function must then all fail (0 of their points).
"""
import ast
import importlib
import inspect

import pytest

import mutant_runner
from autograder.grader import bundle, notebooks, release

ASSIGNMENTS = release.assignments()


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


@pytest.mark.parametrize("assignment", [
    pytest.param(a, marks=pytest.mark.xdist_group(f"references-{a}")) for a in ASSIGNMENTS])
def test_no_bundled_callable_earns_a_graded_functions_points(repo, candidates, assignment):
    nb = notebooks.read(repo / "solutions" / assignment / f"{assignment}.ipynb")
    graded = _graded(nb)
    cells = {name: [c for c in nb.cells if notebooks.is_test(c) and name in _names(c.source)]
             for name in graded}
    earned = []
    with mutant_runner.session_for(nb) as session:
        session.run_notebook()
        solution_cells = {notebooks.grade_id(c): (i, c) for i, c in enumerate(session.nb.cells)
                          if notebooks.is_solution(c)}
        for name, required in graded.items():
            index, reference = next(v for v in solution_cells.values()
                                    if f"def {name}(" in v[1].source or f"class {name}" in v[1].source)
            for module, attribute, value in candidates:
                if not _accepts(value, required):
                    continue
                session.run_source(f"import {module} as _bound\n{name} = _bound.{attribute}", index)
                passing = [notebooks.grade_id(cell) for cell in cells[name]
                           if session.run_test(notebooks.grade_id(cell)).passed]
                if passing:
                    earned.append(f"{module}.{attribute} as {name}: {passing}")
            session.run_source(reference.source, index)
    assert not earned, "bundled callables that earn a graded function's points:\n" + "\n".join(earned)
