"""Watch what a student's function calls while it runs.

- ``forbidden_calls``: from-scratch exercises must not call the library function they re-implement.
  Calls are recognised by identity of the function object (or its code), however the student
  imported or renamed it.
- ``count_student_lines``: the number of Python lines executed in the student's own code, to tell
  a vectorized implementation from a loop over output pixels.

Under grading, the student's function lives in another process (a proxy with
``__course_invoke__``): the same watches then run there, on the forbidden functions named by
:func:`locate`.
"""
import contextlib
import functools
import os
import sys
import sysconfig
import warnings

_LIBRARY_DIRS = tuple(
    os.path.realpath(p) for p in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"],
                                  sysconfig.get_paths()["platlib"], os.path.dirname(__file__)}
)
_setprofile = sys.setprofile
_settrace = sys.settrace
_getprofile = sys.getprofile
_gettrace = sys.gettrace


def _identities(function):
    """The objects a profiler sees when ``function`` runs: itself, its code, wrapped code."""
    found = {id(function)}
    inner = function
    while inner is not None:
        code = getattr(inner, "__code__", None)
        if code is not None:
            found.add(id(code))
        inner = getattr(inner, "__wrapped__", None)
    return found


def describe(function):
    """``module.name`` of a function, for messages."""
    module = getattr(function, "__module__", None) or ""
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", repr(function))
    return f"{module}.{name}" if module else name


class ForbiddenCalls:
    """The forbidden functions called while the ``with`` block ran (``self.called``, by name)."""

    def __init__(self, functions):
        self._by_id = {}
        for function in functions:
            for identity in _identities(function):
                self._by_id.setdefault(identity, describe(function))
        self.called = []
        self._setprofile = _setprofile  # bound before student code runs

    def _profile(self, frame, event, arg):
        if event == "c_call":
            name = self._by_id.get(id(arg))
        elif event == "call":
            name = self._by_id.get(id(frame.f_code))
        else:
            return
        if name is not None and name not in self.called:
            self.called.append(name)

    def __enter__(self):
        self._previous = _getprofile()
        _setprofile(self._profile)
        return self

    def __exit__(self, *exc):
        self._setprofile(self._previous)
        return False


def forbidden_calls(functions):
    """Context manager recording calls to any of ``functions`` (an iterable of callables)."""
    return ForbiddenCalls(functions)


LIBRARY_PACKAGES = ("numpy", "scipy", "torch", "torchvision", "skimage", "sklearn")


@functools.cache
def locate(function):
    """``"module:attribute.path"`` names under which ``function`` is found in the libraries.

    The student's kernel resolves them to its own objects (same library, same names), so a
    forbidden function can be watched there too.
    """
    found = []
    method_name = getattr(function, "__name__", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # some libraries warn when a deprecated name is touched
        for name, module in list(sys.modules.items()):
            if module is None or name.split(".")[0] not in LIBRARY_PACKAGES:
                continue
            for attribute, value in list(getattr(module, "__dict__", {}).items()):
                if value is function:
                    found.append(f"{name}:{attribute}")
                elif isinstance(value, type) and vars(value).get(method_name) is function:
                    found.append(f"{name}:{attribute}.{method_name}")
                if len(found) >= 3:
                    return tuple(found)
    return tuple(found)


def is_student_code(filename):
    """Whether code from ``filename`` is the student's: not the standard library, a package or this one."""
    if filename.startswith("<frozen"):
        return False
    real = os.path.realpath(filename)
    return not any(real.startswith(d) for d in _LIBRARY_DIRS)


@contextlib.contextmanager
def _line_counter(counts):
    def trace(frame, event, arg):
        if not is_student_code(frame.f_code.co_filename):
            return None
        if event == "line":
            counts[0] += 1
        return trace

    previous = _gettrace()
    _settrace(trace)
    try:
        yield
    finally:
        _settrace(previous)


def count_student_lines(function, *args, **kwargs):
    """Run ``function(*args, **kwargs)``; return ``(result, lines)``.

    ``lines`` counts Python lines executed outside the standard library and installed packages,
    i.e. in the student's own code.
    """
    invoke = getattr(type(function), "__course_invoke__", None)
    if invoke is not None:
        result, _, lines = invoke(function, args, kwargs, count_lines=True)
        return result, lines
    counts = [0]
    with _line_counter(counts):
        result = function(*args, **kwargs)
    return result, counts[0]
