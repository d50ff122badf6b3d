"""Compare a student's function with an independent oracle, and say what differs.

A failing check raises ``CheckFailure`` (an ``AssertionError``) whose message names the call, what
differs (type, shape, dtype, first mismatching index and values) and, where one is recognisable,
the likely mistake. Student functions get copies of the inputs.

The same checks run in two places. In a student's own kernel (JupyterLab), the student's function
is an ordinary function and the watches of ``autograder.guards`` run around it. Under grading, the
checks run in the grader's process and the function is a proxy to the student's kernel
(``__course_invoke__``), where the same watches run; see ``autograder.wire``.

Randomised checks take ``seed=None`` from hidden tests: :func:`make_rng` then draws from the
grading run's seed (set by the grader and recorded with the grade), so hidden cases differ from
one grading run to the next and a grade can still be reproduced.
"""
import copy
from dataclasses import dataclass, field

import numpy as np

from autograder import guards, wire

_deepcopy = copy.deepcopy
_ndarray = np.ndarray
_abs = np.abs
_isnan = np.isnan
_argwhere = np.argwhere
_count = np.count_nonzero

_STATE = {"seed": None, "draws": 0, "comparisons": 0, "forbidden": {}}


class CheckFailure(AssertionError):
    """A check failed; the message says what differs and, if recognisable, why."""


def set_grading_seed(seed):
    """Start the hidden tests' random stream of a grading run (``None``: no grading run)."""
    _STATE["seed"], _STATE["draws"], _STATE["forbidden"] = seed, 0, {}


def forbidden_seen():
    """``{function name: [library functions]}`` the checks forbade since the seed was set."""
    return {name: list(functions) for name, functions in _STATE["forbidden"].items()}


def _note_forbidden(name, forbidden):
    if forbidden:
        known = _STATE["forbidden"].setdefault(name, [])
        known += [f for f in forbidden if not any(f is k for k in known)]


def make_rng(seed=None):
    """A NumPy generator: from ``seed`` if given, else the next one of the grading run's stream.

    Outside a grading run (a student's own kernel), ``seed=None`` gives fresh entropy.
    """
    if seed is not None:
        return np.random.default_rng(seed)
    if _STATE["seed"] is None:
        return np.random.default_rng()
    _STATE["draws"] += 1
    return np.random.default_rng([_STATE["seed"], _STATE["draws"]])


def reset_counts():
    """Start counting the comparisons a test cell makes (for its "passed" line)."""
    _STATE["comparisons"] = 0


def counts():
    """How many comparisons passed since :func:`reset_counts`."""
    return _STATE["comparisons"]


def _passed():
    _STATE["comparisons"] += 1


def not_implemented_message(name):
    """What a student sees for a function that still raises ``NotImplementedError``."""
    return (f"{name} is not implemented yet: replace `raise NotImplementedError()` in its cell "
            "with your code, then run that cell again.")


def describe_type(value):
    """``module.name`` of a value's type (for a proxy, of the object in the student's kernel)."""
    remote = getattr(type(value), "__course_type__", None)
    if remote is not None:
        return value.__course_type__
    return f"{type(value).__module__}.{type(value).__name__}"


def student_frames(error):
    """The lines of the student's own code an exception passed through, innermost last."""
    frames = getattr(error, "frames", None)
    if frames is not None:
        return list(frames)
    import traceback

    return [f"in {f.name}, line {f.lineno}: {(f.line or '').strip()}"
            for f in traceback.extract_tb(error.__traceback__) if guards.is_student_code(f.filename)][-4:]


def is_instance(value, cls):
    """``isinstance`` that also works for the student's objects seen from the grader."""
    bases = getattr(type(value), "__course_bases__", None)
    if bases is not None:
        return (not value.__course_is_class__
                and f"{cls.__module__}.{cls.__qualname__}" in value.__course_bases__)
    return isinstance(value, cls)


def output_and_gradients(fn, inputs, upstream, with_parameters=False):
    """Run ``fn(*inputs)`` and backpropagate ``upstream`` through it with autograd.

    Returns ``(output, input gradients, parameter gradients)``: detached tensors, one gradient
    per floating-point input tensor (``None`` for the others), and, if ``with_parameters``, a dict
    of the gradients of ``fn``'s named parameters. Runs where ``fn`` lives (see ``HELPERS``).
    """
    import torch

    inputs = [t.detach().clone().requires_grad_(True)
              if isinstance(t, torch.Tensor) and t.is_floating_point() else t for t in inputs]
    params = dict(fn.named_parameters()) if with_parameters else {}
    out = fn(*inputs)
    wanted = [t for t in inputs if isinstance(t, torch.Tensor) and t.requires_grad]
    found = torch.autograd.grad((out * upstream).sum(), wanted + list(params.values()),
                                allow_unused=True)
    grads = iter(found)
    input_grads = [next(grads) if isinstance(t, torch.Tensor) and t.requires_grad else None
                   for t in inputs]
    return out.detach(), input_grads, {name: next(grads) for name in params}


HELPERS = {"output_and_gradients": output_and_gradients}


def _invoke(fn, args, kwargs, forbidden, helper=None):
    """``(result, error, forbidden functions called)``; the call runs where ``fn`` lives.

    ``helper``: the name of a function of ``HELPERS`` to run on ``fn`` instead of calling it.
    """
    remote = getattr(type(fn), "__course_invoke__", None)
    try:
        if remote is not None:
            located = [path for function in forbidden for path in guards.locate(function)]
            result, called, _ = remote(fn, args, kwargs, forbidden=located, helper=helper)
            return result, None, called
        target = fn if helper is None else (lambda *a, **k: HELPERS[helper](fn, *a, **k))
        watch = guards.forbidden_calls(forbidden)
        with watch:
            result = target(*args, **kwargs)
        return result, None, watch.called
    except wire.WireError:
        raise  # the grader could not send an argument: a bug of the check, not the student's
    except Exception as error:
        return None, error, []


def call_each(fn, calls, *, name=None, forbidden=()):
    """``fn`` on each ``(args, kwargs)`` of ``calls``: a list of ``(result, None)`` or ``(None, error)``.

    One watch (and, under grading, one round trip) for all of them. A stub raising
    ``NotImplementedError`` or a forbidden call fails the check at once.
    """
    name = name or getattr(fn, "__name__", "the function")
    _note_forbidden(name, forbidden)
    calls = [(tuple(_deepcopy(args)), dict(_deepcopy(kwargs))) for args, kwargs in calls]
    remote = getattr(type(fn), "__course_map__", None)
    if remote is not None:
        located = [path for function in forbidden for path in guards.locate(function)]
        outcomes, called = remote(fn, calls, forbidden=located)
    else:
        outcomes, watch = [], guards.forbidden_calls(forbidden)
        with watch:
            for args, kwargs in calls:
                try:
                    outcomes.append((fn(*args, **kwargs), None))
                except Exception as error:
                    outcomes.append((None, error))
        called = watch.called
    if any(isinstance(error, NotImplementedError) for _, error in outcomes):
        raise CheckFailure(not_implemented_message(name))
    if called:
        raise CheckFailure(f"{name} called {', '.join(called)}: this exercise asks you to implement "
                           "it from scratch, without the library function it re-implements.")
    return outcomes


@dataclass
class Case:
    """One call of the function under test: ``fn(*args, **kwargs)``."""

    args: tuple
    kwargs: dict = field(default_factory=dict)


def describe_value(value):
    """Short description of an argument: arrays by shape and dtype (a list of arrays by their
    shapes), a module by its class, the rest by repr."""
    if isinstance(value, _ndarray):
        return f"array of shape {tuple(value.shape)} ({value.dtype})"
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, _ndarray) for v in value):
        shapes = ", ".join(str(tuple(v.shape)) for v in value)
        return f"list of {len(value)} arrays of shapes {shapes}"
    if callable(getattr(type(value), "named_modules", None)):  # the type's: no round trip to a proxy
        return f"{type(value).__name__}()"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_call(name, args, kwargs):
    """``name(arg, ..., key=value)`` with arrays shown by shape."""
    parts = [describe_value(a) for a in args]
    parts += [f"{k}={describe_value(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _format_index(index):
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def difference(actual, expected, *, rtol=1e-6, atol=1e-9, check_dtype=True):
    """Describe how ``actual`` differs from the ndarray ``expected``; ``None`` if it does not.

    Values agree when ``|actual - expected| <= atol + rtol * |expected|`` everywhere (NaN only
    where NaN is expected).
    """
    if type(actual) is not _ndarray:
        return f"returned {describe_type(actual)}; return a numpy.ndarray"
    if actual.shape != expected.shape:
        message = f"returned shape {actual.shape}, expected {expected.shape}"
        if len(actual.shape) == len(expected.shape):
            off = [a - e for a, e in zip(actual.shape, expected.shape)]
            if any(off) and all(abs(d) <= 1 for d in off):
                message += " (off by one: check the output-size formula)"
        return message
    if check_dtype and actual.dtype != expected.dtype:
        return f"returned dtype {actual.dtype}, expected {expected.dtype}"
    if actual.dtype.kind not in "biuf":
        return f"returned dtype {actual.dtype}; expected numbers"
    got = actual.astype(np.float64)
    want = expected.astype(np.float64)
    error = _abs(got - want)
    bad = (error > atol + rtol * _abs(want)) | (_isnan(got) != _isnan(want))
    if not _count(bad):
        return None
    first = tuple(_argwhere(bad)[0])
    if not first:  # a single number
        return f"got {float(got)!r}, expected {float(want)!r}"
    return (f"{_count(bad)} of {bad.size} values differ; first at index {_format_index(first)}: "
            f"got {float(got[first])!r}, expected {float(want[first])!r}")


def assert_close(actual, expected, *, what="the result", rtol=1e-6, atol=1e-9, likely=()):
    """Fail unless ``actual`` equals ``expected`` (array-like) to tolerance.

    ``likely`` is a sequence of ``(description, array)`` pairs: known wrong answers; if
    ``actual`` matches one, the message names it as the likely cause.
    """
    expected = np.asarray(expected, dtype=np.float64) if not isinstance(expected, _ndarray) else expected
    if isinstance(actual, (np.floating, np.integer, float, int)) and not isinstance(actual, bool):
        actual = np.asarray(actual, dtype=np.float64)
    message = difference(actual, expected, rtol=rtol, atol=atol, check_dtype=False)
    if message is None:
        _passed()
        return
    raise CheckFailure(f"{what}: {message}{_likely_cause(actual, likely, rtol, atol)}")


def _likely_cause(actual, likely, rtol, atol):
    for description, wrong in likely:
        wrong = np.asarray(wrong)
        if difference(actual, wrong, rtol=rtol, atol=atol, check_dtype=False) is None:
            return f".\nLikely cause: {description}"
    return ""


def call_student(fn, args, kwargs=None, *, name=None, forbidden=(), helper=None):
    """Call ``fn`` on copies of the inputs and return what it returned.

    Fails with a readable message if the function is not implemented yet, raises, modifies its
    inputs, or calls one of the ``forbidden`` library functions. ``helper`` names a function of
    ``HELPERS`` to run on ``fn`` instead (e.g. ``"output_and_gradients"``).
    """
    kwargs = kwargs or {}
    name = name or getattr(fn, "__name__", "the function")
    _note_forbidden(name, forbidden)
    given_args, given_kwargs = _deepcopy(args), _deepcopy(kwargs)
    call = describe_call(name, args, kwargs)
    result, error, called = _invoke(fn, given_args, given_kwargs, forbidden, helper)
    if isinstance(error, NotImplementedError):
        raise CheckFailure(not_implemented_message(name)) from None
    if isinstance(error, CheckFailure):
        raise error
    if error is not None:
        where = "".join(f"\n  {line}" for line in student_frames(error))
        raise CheckFailure(f"{call} raised {type(error).__name__}: {error}{where}") from error
    if called:
        raise CheckFailure(
            f"{call} called {', '.join(called)}: this exercise asks you to implement it "
            "from scratch, without the library function it re-implements."
        )
    for position, (before, after) in enumerate(zip(args, given_args)):
        if isinstance(before, _ndarray) and difference(after, before, rtol=0, atol=0) is not None:
            raise CheckFailure(
                f"{call} changed its argument {position + 1} in place; work on a copy (e.g. "
                "`x = x.copy()` or build a new array) and leave the inputs as they are."
            )
    return result


def check_against_oracle(fn, oracle, cases, *, name=None, rtol=1e-6, atol=1e-9, forbidden=(),
                         likely_mistakes=None, check_dtype=True):
    """Fail unless ``fn`` agrees with ``oracle`` on every ``Case`` in ``cases``.

    ``likely_mistakes(*args, **kwargs)`` returns ``(description, wrong_answer)`` pairs used to
    name the mistake when the student's output equals one of them.
    """
    name = name or getattr(fn, "__name__", "the function")
    for case in cases:
        expected = oracle(*_deepcopy(case.args), **_deepcopy(case.kwargs))
        actual = call_student(fn, case.args, case.kwargs, name=name, forbidden=forbidden)
        message = difference(actual, expected, rtol=rtol, atol=atol, check_dtype=check_dtype)
        if message is not None:
            likely = likely_mistakes(*case.args, **case.kwargs) if likely_mistakes else ()
            raise CheckFailure(
                f"{describe_call(name, case.args, case.kwargs)} {message}"
                f"{_likely_cause(actual, likely, rtol, atol)}"
            )
        _passed()


def check_accepts(fn, args, kwargs=None, *, name=None):
    """Fail unless ``fn(*args, **kwargs)`` (a valid input) returns without error.

    The control before a bad-input check: a function that raises for everything earns nothing.
    """
    kwargs = kwargs or {}
    name = name or getattr(fn, "__name__", "the function")
    _, error, _ = _invoke(fn, _deepcopy(args), _deepcopy(kwargs), ())
    if isinstance(error, NotImplementedError):
        raise CheckFailure(not_implemented_message(name)) from None
    if error is not None:
        raise CheckFailure(f"{describe_call(name, args, kwargs)} raised {type(error).__name__} "
                           f"({error}); a valid input must be accepted before invalid ones are "
                           "tried") from error


def check_raises(fn, args, kwargs=None, *, exception=ValueError, reason, name=None, cause=None):
    """Fail unless ``fn(*args, **kwargs)`` raises ``exception`` (a class or tuple of classes).

    ``reason`` says why the input is invalid; it appears in the failure message. ``cause``, if
    given, is named as the likely mistake when the function accepts the input or raises another
    exception.
    """
    likely = f".\nLikely cause: {cause}" if cause else ""
    kwargs = kwargs or {}
    name = name or getattr(fn, "__name__", "the function")
    call = describe_call(name, args, kwargs)
    expected = exception if isinstance(exception, tuple) else (exception,)
    wanted = " or ".join(e.__name__ for e in expected)
    _, error, _ = _invoke(fn, _deepcopy(args), _deepcopy(kwargs), ())
    if isinstance(error, NotImplementedError):
        raise CheckFailure(not_implemented_message(name)) from None
    if isinstance(error, expected):
        _passed()
        return
    if error is not None:
        raise CheckFailure(
            f"{call} raised {type(error).__name__} ({error}); expected {wanted} because {reason}"
            f"{likely}") from error
    raise CheckFailure(f"{call} returned without error; expected {wanted} because {reason}{likely}")
