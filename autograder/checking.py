"""Compare a student's function with an independent oracle, and say what differs.

A failing check raises ``CheckFailure`` (an ``AssertionError``) whose message names the call, what
differs (type, shape, dtype, first mismatching index and values) and, where one is recognisable,
the likely mistake. Student functions get copies of the inputs; comparisons use only numpy's
C-level array operations on exact ``numpy.ndarray`` objects, so a student cell that replaced
``numpy.allclose`` or ``numpy.testing`` cannot change a verdict.
"""
import copy
import functools
from dataclasses import dataclass, field

import numpy as np

from autograder import guards, sandbox

_deepcopy = copy.deepcopy
_ndarray = np.ndarray
_abs = np.abs
_isnan = np.isnan
_argwhere = np.argwhere
_count = np.count_nonzero


class CheckFailure(AssertionError):
    """A check failed; the message says what differs and, if recognisable, why."""


def restoring(function, restore=sandbox.restore):
    """Run ``function`` with the protected modules restored before and after it.

    ``restore`` is bound here, in a closure: a student function that replaces this module's
    attributes while it runs cannot switch it off.
    """
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        restore()
        try:
            return function(*args, **kwargs)
        finally:
            restore()
    return wrapper


def _make_invoke(restore=sandbox.restore):
    def invoke(fn, args, kwargs, watch):
        """``(result, None)`` or ``(None, exception)``; protected modules restored after."""
        try:
            with watch:
                return fn(*args, **kwargs), None
        except Exception as error:
            return None, error
        finally:
            restore()
    return invoke


_invoke = _make_invoke()


@dataclass
class Case:
    """One call of the function under test: ``fn(*args, **kwargs)``."""

    args: tuple
    kwargs: dict = field(default_factory=dict)


def describe_value(value):
    """Short description of an argument: arrays by shape and dtype, the rest by repr."""
    if isinstance(value, _ndarray):
        return f"array of shape {tuple(value.shape)} ({value.dtype})"
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
        return (f"returned {type(actual).__module__}.{type(actual).__name__}; "
                "return a numpy.ndarray")
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
    return (f"{_count(bad)} of {bad.size} values differ; first at index {_format_index(first)}: "
            f"got {float(got[first])!r}, expected {float(want[first])!r}")


@restoring
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
        return
    raise CheckFailure(f"{what}: {message}{_likely_cause(actual, likely, rtol, atol)}")


def _likely_cause(actual, likely, rtol, atol):
    for description, wrong in likely:
        wrong = np.asarray(wrong)
        if difference(actual, wrong, rtol=rtol, atol=atol, check_dtype=False) is None:
            return f".\nLikely cause: {description}"
    return ""


@restoring
def call_student(fn, args, kwargs=None, *, name=None, forbidden=()):
    """Call ``fn`` on copies of the inputs and return what it returned.

    Fails with a readable message if the function is not implemented yet, raises, modifies its
    inputs, or calls one of the ``forbidden`` library functions.
    """
    kwargs = kwargs or {}
    name = name or getattr(fn, "__name__", "the function")
    given_args, given_kwargs = _deepcopy(args), _deepcopy(kwargs)
    call = describe_call(name, args, kwargs)
    watch = guards.forbidden_calls(forbidden)
    result, error = _invoke(fn, given_args, given_kwargs, watch)
    if isinstance(error, NotImplementedError):
        raise CheckFailure(
            f"{name} is not implemented yet: replace `raise NotImplementedError()` in its cell "
            "with your code, then run that cell again."
        ) from None
    if isinstance(error, CheckFailure):
        raise error
    if error is not None:
        raise CheckFailure(f"{call} raised {type(error).__name__}: {error}") from error
    if watch.called:
        raise CheckFailure(
            f"{call} called {', '.join(watch.called)}: this exercise asks you to implement it "
            "from scratch, without the library function it re-implements."
        )
    for position, (before, after) in enumerate(zip(args, given_args)):
        if isinstance(before, _ndarray) and difference(after, before, rtol=0, atol=0) is not None:
            raise CheckFailure(
                f"{call} changed its argument {position + 1} in place; work on a copy (e.g. "
                "`x = x.copy()` or build a new array) and leave the inputs as they are."
            )
    return result


@restoring
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


@restoring
def check_raises(fn, args, kwargs=None, *, exception=ValueError, reason, name=None):
    """Fail unless ``fn(*args, **kwargs)`` raises ``exception`` (a class or tuple of classes).

    ``reason`` says why the input is invalid; it appears in the failure message.
    """
    kwargs = kwargs or {}
    name = name or getattr(fn, "__name__", "the function")
    call = describe_call(name, args, kwargs)
    expected = exception if isinstance(exception, tuple) else (exception,)
    wanted = " or ".join(e.__name__ for e in expected)
    _, error = _invoke(fn, _deepcopy(args), _deepcopy(kwargs), guards.forbidden_calls(()))
    if isinstance(error, NotImplementedError):
        raise CheckFailure(f"{name} is not implemented yet.") from None
    if isinstance(error, expected):
        return
    if error is not None:
        raise CheckFailure(
            f"{call} raised {type(error).__name__} ({error}); expected {wanted} because {reason}"
        ) from error
    raise CheckFailure(f"{call} returned without error; expected {wanted} because {reason}")
