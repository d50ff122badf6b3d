"""What the notebook's first, read-only cell sets up before any student code runs.

- Exit guards: ``os._exit``, ``os.abort``, signalling the kernel's own process and IPython's
  ``exit``/``quit`` raise instead of killing the kernel (a dead kernel loses the whole notebook's
  grade in nbgrader; a raised error costs only its cell).
- While nbgrader executes the notebook, warnings are silenced (nbgrader fails a test cell that
  writes to stderr) and the kernel's address space is capped (``GRADING_MEMORY_LIMIT``), so a
  memory hog meets a ``MemoryError`` in its own cell instead of the kernel being killed; PyTorch
  uses one thread, since graders run notebooks side by side.
- Random generators are seeded, so demos and grades are reproducible.
- Monkey-patch protection: the attributes of the modules the checks rely on (builtins, numpy,
  numpy.testing, torch, this package and the SciPy modules the notebook's check modules import)
  are recorded once, and every change a student cell makes to them is undone before the next
  cell runs and right after a student function returns inside a check.
"""
import builtins
import os
import random
import resource
import signal
import sys
import warnings

import numpy as np

PROTECTED_MODULES = (
    "builtins", "copy", "math", "os", "inspect", "numpy", "numpy.testing", "numpy.linalg",
    "numpy.random", "numpy.lib.stride_tricks", "scipy", "scipy.signal", "scipy.signal.windows",
    "scipy.ndimage", "scipy.sparse", "torch", "torch.nn", "torch.nn.functional", "torch.autograd",
    "torchvision", "torchvision.models",
)
PROTECTED_SYS_NAMES = ("setprofile", "getprofile", "settrace", "gettrace", "modules")
# Names IPython itself rebinds in builtins while running cells.
UNPROTECTED_BUILTINS = frozenset(
    {"_", "__", "___", "exit", "quit", "get_ipython", "display", "__IPYTHON__"}
)


GRADING_MEMORY_LIMIT = 8 * 2 ** 30  # bytes of address space, at most half the machine's memory


class KernelExitBlocked(RuntimeError):
    """Raised instead of stopping the kernel while a notebook is graded."""


def _namespaces():
    """Yield (object, names or None) pairs whose attributes are protected."""
    for name in PROTECTED_MODULES:
        module = sys.modules.get(name)
        if module is not None:
            yield module, None
    yield sys, PROTECTED_SYS_NAMES
    for name, module in list(sys.modules.items()):
        if (name == "autograder" or name.startswith("autograder.")) and module is not None:
            yield module, None
            for value in list(vars(module).values()):
                if isinstance(value, type) and value.__module__ == name:
                    yield value, None
    torch = sys.modules.get("torch")
    if torch is not None:
        yield torch.Tensor, None


def _record():
    saved = []
    for obj, names in _namespaces():
        attributes = vars(obj)
        keys = names if names is not None else list(attributes)
        if obj is builtins:
            keys = [k for k in keys if k not in UNPROTECTED_BUILTINS]
        saved.append((obj, {k: attributes[k] for k in keys if k in attributes}))
    modules = {
        name: sys.modules[name]
        for name in list(sys.modules)
        if name in PROTECTED_MODULES or name == "autograder" or name.startswith("autograder.")
    }
    return saved, modules


def _make_restorer():
    """``(restore, take_snapshot, recorded, tampering_seen)``, sharing a snapshot in a closure.

    The state lives in the closure, not in module attributes a student cell could replace, and
    the builtins it uses are bound now.
    """
    state = {"snapshot": None, "changed": []}
    _setattr, _vars, _getattr, _modules, _missing = setattr, vars, getattr, sys.modules, object()

    def restore():
        """Undo every change made since ``start_notebook`` to the protected attributes.

        Returns the list of ``"module.name"`` strings that had been changed (empty if none).
        """
        if state["snapshot"] is None:
            return []
        saved, modules = state["snapshot"]
        changed = []
        for name, module in modules.items():
            if _modules.get(name) is not module:
                _modules[name] = module
                changed.append(f"sys.modules[{name!r}]")
        for obj, attributes in saved:
            current = _vars(obj)
            for key, value in attributes.items():
                if current.get(key, _missing) is not value:
                    _setattr(obj, key, value)
                    changed.append(f"{_getattr(obj, '__name__', obj)}.{key}")
        state["changed"].extend(changed)
        return changed

    def take_snapshot():
        """Record the protected attributes as they are now."""
        state["snapshot"] = _record()

    def recorded():
        return state["snapshot"] is not None

    def tampering_seen():
        """The protected attributes a student cell changed (and that were restored), in order."""
        return list(state["changed"])

    return restore, take_snapshot, recorded, tampering_seen


restore, _take_snapshot, _recorded, tampering_seen = _make_restorer()


def _blocked(what):
    def stub(*args, **kwargs):
        raise KernelExitBlocked(
            f"{what} is disabled in this notebook: it would stop the kernel and lose the grades "
            "of every cell. Raise an exception instead."
        )
    stub.__name__ = what.rsplit(".", 1)[-1]
    return stub


def _install_exit_guards():
    real_kill = os.kill
    real_killpg = os.killpg
    own_pid = os.getpid()
    deadly = {signal.SIGKILL, signal.SIGTERM, signal.SIGABRT, signal.SIGSEGV, signal.SIGINT,
              signal.SIGQUIT, signal.SIGHUP}

    def guarded_kill(pid, sig):
        if pid in (own_pid, 0) and sig in deadly:
            raise KernelExitBlocked(
                "os.kill of the kernel's own process is disabled in this notebook: it would lose "
                "the grades of every cell."
            )
        return real_kill(pid, sig)

    def guarded_killpg(pgid, sig):
        if pgid in (os.getpgid(own_pid), 0) and sig in deadly:
            raise KernelExitBlocked("os.killpg of the kernel's own process group is disabled.")
        return real_killpg(pgid, sig)

    os._exit = _blocked("os._exit")
    os.abort = _blocked("os.abort")
    os.kill = guarded_kill
    os.killpg = guarded_killpg
    signal.raise_signal = _blocked("signal.raise_signal")
    shell = _ipython()
    if shell is not None:
        shell.ask_exit = _blocked("exit()")


def _limit_memory():
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = min(GRADING_MEMORY_LIMIT, physical // 2)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft == resource.RLIM_INFINITY or soft > limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _ipython():
    get = getattr(builtins, "get_ipython", None)
    return get() if get is not None else None


def _restore_before_cell(*_info, _restore=restore):
    _restore()


def start_notebook(*check_modules):
    """Set the grading environment up; call it once, from the notebook's first cell.

    ``check_modules`` are the names of the modules of this package whose checks the notebook's
    test cells use (e.g. ``"convolution"``); they are imported now, before student code, so that
    what they hold is recorded untouched.
    """
    import importlib

    import torch

    for name in ("checking", "guards") + tuple(check_modules):
        importlib.import_module(f"autograder.{name}")
    if os.environ.get("NBGRADER_EXECUTION"):
        warnings.simplefilter("ignore")
        _limit_memory()
        torch.set_num_threads(1)  # graders run notebooks side by side, one per core
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    if not _recorded():
        _install_exit_guards()
        _take_snapshot()
        shell = _ipython()
        if shell is not None:
            shell.events.register("pre_run_cell", _restore_before_cell)
