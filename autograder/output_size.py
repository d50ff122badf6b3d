"""Checks of notebook 02 (output-size formulas).

Oracles are what PyTorch actually does, never a formula:

- the output sizes of real layers (``nn.Conv1d``/``Conv2d``, ``nn.MaxPool1d``/``2d``,
  ``nn.AvgPool1d``/``2d``, ``nn.ConvTranspose1d``/``2d``), each run once on a tiny tensor of zeros
  for every combination of an exhaustive grid of small parameters, and cached per process; where
  PyTorch raises, or returns an empty output, the student's function must raise ``ValueError``;
- the empirical receptive field of a stack of ``nn.Conv1d`` layers with all weights 1: the
  gradient of one output unit with respect to the input is nonzero exactly on the input pixels
  that unit sees (ones everywhere, so no gradient cancels), and the gradients of two adjacent
  output units are shifted by the jump.

Every ``check_*`` function raises ``CheckFailure`` with a readable message, or returns ``None``.
Student functions run on the whole grid inside one guarded call (from scratch: PyTorch's layers,
their functional forms, autograd and this module's oracles are forbidden there).
"""
import contextlib
import functools
import itertools
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autograder.checking import (
    CheckFailure, call_student, check_raises, describe_call,
)

CONV_MODULES = ("Conv1d", "Conv2d")
POOL_MODULES = ("MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d")
TRANSPOSE_MODULES = ("ConvTranspose1d", "ConvTranspose2d")


class Grid:
    """The parameter combinations a function is called with: ``cases`` of ``(args, kwargs)``."""

    def __init__(self, cases):
        self.cases = list(cases)

    def __repr__(self):
        return f"<each of {len(self.cases)} parameter combinations>"


# ----------------------------------------------------------------------------- PyTorch oracles

@contextlib.contextmanager
def _tiny_layers():
    """Run PyTorch on one thread and without oneDNN: thousands of tiny layers run several times
    faster so (oneDNN builds a new kernel for every shape), with the same output shapes and the
    same errors (tests/test_output_size_checks.py compares both settings)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with torch.backends.mkldnn.flags(enabled=False):
                yield
    finally:
        torch.set_num_threads(threads)


def _memoized(function):
    """``function`` with its results kept per arguments, as a plain Python function: unlike
    ``functools.lru_cache``, every call (cached or not) is one the from-scratch guard sees."""
    results = {}

    @functools.wraps(function)
    def memoized(*args, **kwargs):
        key = (args, tuple(sorted(kwargs.items())))
        if key not in results:
            results[key] = function(*args, **kwargs)
        return results[key]
    return memoized


@functools.lru_cache(maxsize=None)
def _layer(name, **params):
    """The module ``nn.<name>`` (one channel in and out for convolutions), built once per
    parameter combination; ``(None, reason)`` if PyTorch refuses to build it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if name.startswith("Conv"):
                return nn.__dict__[name](1, 1, bias=False, **params), None
            return nn.__dict__[name](**params), None
    except (RuntimeError, ValueError) as error:
        return None, str(error).splitlines()[0]


def _run_layer(name, dims, n, **params):
    """``(size, None)``: the last output dimension of ``nn.<name>(**params)`` on zeros of side
    ``n`` in ``dims`` dimensions, or ``(None, reason)`` if PyTorch raises or returns nothing."""
    layer, reason = _layer(name, **params)
    if layer is None:
        return None, reason
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = layer(torch.zeros((1, 1) + (n,) * dims))
    except (RuntimeError, ValueError) as error:
        return None, str(error).splitlines()[0]
    if out.numel() == 0:
        return None, f"it returns an empty output of shape {tuple(out.shape)}"
    return int(out.shape[-1]), None


def _agree(results, modules):
    """One ``(size, reason)`` from the results of several modules, which must agree on the size
    (``reason``: what the first failing module says)."""
    sizes = {size for size, _ in results}
    if len(sizes) != 1:
        raise RuntimeError(f"PyTorch's {', '.join(modules)} disagree: {results}")
    reasons = [f"{module}: {reason}" for module, (_, reason) in zip(modules, results) if reason]
    return sizes.pop(), reasons[0] if reasons else None


def _modules_agree(names, n, **params):
    """The common ``(size, reason)`` of the modules ``names`` (``...1d``/``...2d``) on side ``n``."""
    return _agree([_run_layer(name, int(name[-2]), n, **params) for name in names], names)


@_memoized
def torch_conv_size(n, kernel_size, stride, padding, dilation):
    """Output length of ``nn.Conv1d`` (and side of ``nn.Conv2d`` on an n x n input):
    ``(size, None)``, or ``(None, what PyTorch says)`` where it fails."""
    return _modules_agree(CONV_MODULES, n, kernel_size=kernel_size, stride=stride,
                          padding=padding, dilation=dilation)


@_memoized
def torch_pool_size(n, kernel_size, stride, padding, dilation, ceil_mode):
    """Output length of ``nn.MaxPool1d``/``2d`` and, for dilation 1, ``nn.AvgPool1d``/``2d``
    (which have no dilation): ``(size, None)`` or ``(None, what PyTorch says)``."""
    common = dict(kernel_size=kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode)
    names = POOL_MODULES if dilation == 1 else POOL_MODULES[:2]
    return _agree([_run_layer(name, int(name[-2]), n, **common,
                              **({"dilation": dilation} if name.startswith("Max") else {}))
                   for name in names], names)


@_memoized
def torch_conv_transpose_size(n, kernel_size, stride, padding, output_padding, dilation):
    """Output length of ``nn.ConvTranspose1d`` (and side of ``nn.ConvTranspose2d``):
    ``(size, None)`` or ``(None, what PyTorch says)``."""
    return _modules_agree(TRANSPOSE_MODULES, n, kernel_size=kernel_size, stride=stride,
                          padding=padding, output_padding=output_padding, dilation=dilation)


@_memoized
def torch_size_keeping_paddings(kernel_size, dilation, lengths=(1, 6)):
    """The paddings P (searched exhaustively) for which ``nn.Conv1d(padding=P)`` at stride 1
    returns an output as long as its input, for every input length in ``lengths``."""
    found = []
    for padding in range(dilation * kernel_size + 1):
        sizes = [torch_conv_size(n, kernel_size, 1, padding, dilation)[0] for n in lengths]
        if sizes == list(lengths):
            found.append(padding)
    return tuple(found)


@_memoized
def empirical_receptive_field(layers):
    """``(size, jump)`` of a stack of ``nn.Conv1d`` layers ``((kernel_size, stride, dilation), ...)``,
    measured with autograd.

    All weights are 1 and there is no padding. ``size`` is the span (first to last nonzero, in
    input pixels) of the gradient of output unit 0 with respect to the input; ``jump`` is how far
    the gradient of output unit 1 is shifted from it. The input is long enough for two outputs.
    """
    total_stride, reach = 1, 2
    stack = []
    for kernel_size, stride, dilation in layers:
        total_stride *= stride
        reach += dilation * kernel_size
        conv = nn.Conv1d(1, 1, kernel_size, stride=stride, dilation=dilation, bias=False,
                         dtype=torch.float64)
        with torch.no_grad():
            conv.weight.fill_(1.0)
        stack.append(conv)
    x = torch.ones(1, 1, reach * total_stride, dtype=torch.float64, requires_grad=True)
    y = nn.Sequential(*stack)(x)
    first = [torch.autograd.grad(y[0, 0, unit], x, retain_graph=True)[0][0, 0].nonzero()[:, 0]
             for unit in (0, 1)]
    return (int(first[0][-1] - first[0][0]) + 1, int(first[1][0] - first[0][0]))


FORBIDDEN = (
    F.conv1d, F.conv2d, F.conv_transpose1d, F.conv_transpose2d, torch.conv1d, torch.conv2d,
    torch.conv_transpose1d, torch.conv_transpose2d, F.max_pool1d, F.max_pool2d,
    F.max_pool1d_with_indices, F.max_pool2d_with_indices, torch.max_pool1d, torch.max_pool2d,
    F.avg_pool1d, F.avg_pool2d, nn.Module.__call__, torch.autograd.grad, torch.autograd.backward,
    torch.Tensor.backward, torch_conv_size, torch_pool_size, torch_conv_transpose_size,
    torch_size_keeping_paddings, empirical_receptive_field,
)


# ----------------------------------------------------------------------------- grids

def _combinations(**ranges):
    names = list(ranges)
    return [dict(zip(names, values)) for values in itertools.product(*ranges.values())]


def conv_grid(full=True):
    """Every ``(n, kernel_size, stride, padding, dilation)``: n <= 8, K <= 5, S <= 3, P <= 3,
    D <= 3 (``full``), or a small grid without dilation."""
    if full:
        return _combinations(n=range(1, 9), kernel_size=range(1, 6), stride=range(1, 4),
                             padding=range(4), dilation=range(1, 4))
    return _combinations(n=range(1, 7), kernel_size=range(1, 4), stride=range(1, 3),
                         padding=range(2), dilation=(1,))


def pool_grid(full=True):
    """Every ``(n, kernel_size, stride, padding, dilation, ceil_mode)``, stride None included:
    n <= 8, K <= 5, S <= 3, P <= 3, D <= 3 (``full``), or a small grid without dilation."""
    if full:
        return _combinations(n=range(1, 9), kernel_size=range(1, 6), stride=(None, 1, 2, 3),
                             padding=range(4), dilation=range(1, 4), ceil_mode=(False, True))
    return _combinations(n=range(1, 8), kernel_size=range(1, 4), stride=(None, 1, 2),
                         padding=range(2), dilation=(1,), ceil_mode=(False, True))


def conv_transpose_grid(full=True):
    """Every ``(n, kernel_size, stride, padding, output_padding, dilation)``: n <= 5, K <= 4,
    S <= 3, P <= 3, output padding <= 2, D <= 3 (``full``), or a small grid without dilation."""
    if full:
        return _combinations(n=range(1, 6), kernel_size=range(1, 5), stride=range(1, 4),
                             padding=range(4), output_padding=range(3), dilation=range(1, 4))
    return _combinations(n=range(1, 5), kernel_size=range(1, 4), stride=range(1, 3),
                         padding=range(2), output_padding=range(2), dilation=(1,))


def receptive_field_stacks(full=True, seed=601, n_random=80):
    """Stacks of ``(kernel_size, stride, dilation)`` layers: every single layer (K <= 5, S <= 3,
    D <= 3); with ``full``, also the empty stack, every pair (K <= 3, S <= 3, D <= 2) and
    ``n_random`` random stacks of 3 to 6 layers."""
    singles = [((k, s, d),) for k, s, d in itertools.product(range(1, 6), range(1, 4), range(1, 4))]
    if not full:
        return singles
    small = list(itertools.product(range(1, 4), range(1, 4), range(1, 3)))
    pairs = [(a, b) for a in small for b in small]
    rng = np.random.default_rng(seed)
    deep = []
    for _ in range(n_random):
        depth = int(rng.integers(3, 7))
        deep.append(tuple((int(rng.integers(1, 6)), int(rng.choice([1, 1, 2, 3])),
                           int(rng.choice([1, 1, 2, 4]))) for _ in range(depth)))
    return [()] + singles + pairs + deep


# ----------------------------------------------------------------------------- likely mistakes

DILATION_IGNORED = "the dilation is ignored: a dilated kernel spans D(K-1) + 1 input pixels"
PADDING_ONCE = "the padding is counted once: P zeros are added on each side, 2P in all"
ROUNDS_UP = "the division rounds up: the output size rounds down (floor, //)"
PLUS_ONE_MISSING = "the +1 is missing: the first window counts too"
SPAN_D_TIMES_K = "the dilated kernel is taken to span D*K pixels: it spans D(K-1) + 1"
STRIDE_NONE_IS_ONE = ("stride=None is taken as stride 1: PyTorch's pooling default is "
                      "stride = kernel_size")
CEIL_MODE_IGNORED = "ceil_mode is ignored: with ceil_mode=True the division rounds up"
LAST_WINDOW_KEPT = ("in ceil mode the last window may start in the right padding: drop it when "
                    "(out - 1) * stride >= n + padding (it must start inside the input or the "
                    "left padding)")
LAST_WINDOW_RULE_PADDED = ("the last-window rule compares with n + 2 * padding: a window must "
                           "start inside the input or the left padding, i.e. "
                           "(out - 1) * stride < n + padding")
OUTPUT_PADDING_IGNORED = "output_padding is ignored: it adds output_padding pixels on one side"
TRANSPOSE_PADDING_ADDED = ("the padding is added: in a transposed convolution it removes 2P "
                           "pixels")
TRANSPOSE_N_TIMES_STRIDE = ("n * stride is used: n inputs placed `stride` apart span "
                            "(n - 1) * stride + 1 pixels")
SAME_ROUNDED_DOWN = ("D(K-1)/2 is rounded down when D(K-1) is odd: no symmetric padding keeps "
                     "the size then; raise ValueError")
SAME_D_TIMES_K = "the padding is D*K // 2: the kernel spans D(K-1) + 1 pixels, so P = D(K-1) / 2"
JUMP_TOO_EARLY = ("the jump is updated before the size: layer l grows the field by D(K-1) times "
                  "the jump of the layers *before* it")
GROWTH_NOT_SCALED = ("the growth of each layer is not scaled by the jump: one step of layer l "
                     "is the product of the strides before it, in input pixels")
JUMP_LAST_STRIDE = "the jump is the last stride only: strides multiply through the stack"


def _floor_size(room, stride):
    """Windows of one stride in a room of ``room`` pixels beyond the first window."""
    return room // stride + 1


def _mistakes_conv(n, kernel_size, stride=1, padding=0, dilation=1):
    k, s, p, d = kernel_size, stride, padding, dilation
    return [
        (DILATION_IGNORED, _floor_size(n + 2 * p - k, s)),
        (PADDING_ONCE, _floor_size(n + p - d * (k - 1) - 1, s)),
        (ROUNDS_UP, -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1),
        (PLUS_ONE_MISSING, (n + 2 * p - d * (k - 1) - 1) // s),
        (SPAN_D_TIMES_K, _floor_size(n + 2 * p - d * k, s)),
    ]


def _mistakes_pool(n, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    k, p, d = kernel_size, padding, dilation
    s = k if stride is None else stride
    room = n + 2 * p - d * (k - 1) - 1
    uncorrected = -(-room // s) + 1 if ceil_mode else _floor_size(room, s)
    corrected_padded = uncorrected
    if ceil_mode and (uncorrected - 1) * s >= n + 2 * p:
        corrected_padded -= 1
    one = 1 if stride is None else s
    return [
        (STRIDE_NONE_IS_ONE, -(-room // one) + 1 if ceil_mode else _floor_size(room, one)),
        (CEIL_MODE_IGNORED, _floor_size(room, s)),
        (LAST_WINDOW_KEPT, uncorrected),
        (LAST_WINDOW_RULE_PADDED, corrected_padded),
        (DILATION_IGNORED,
         -(-(n + 2 * p - k) // s) + 1 if ceil_mode else _floor_size(n + 2 * p - k, s)),
    ]


def _mistakes_conv_transpose(n, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    k, s, p, q, d = kernel_size, stride, padding, output_padding, dilation
    return [
        (OUTPUT_PADDING_IGNORED, (n - 1) * s - 2 * p + d * (k - 1) + 1),
        (DILATION_IGNORED, (n - 1) * s - 2 * p + (k - 1) + q + 1),
        (TRANSPOSE_PADDING_ADDED, (n - 1) * s + 2 * p + d * (k - 1) + q + 1),
        (TRANSPOSE_N_TIMES_STRIDE, n * s - 2 * p + d * (k - 1) + q + 1),
    ]


def _mistakes_same_padding(kernel_size, dilation=1):
    k, d = kernel_size, dilation
    return [(DILATION_IGNORED, (k - 1) // 2), (SAME_ROUNDED_DOWN, d * (k - 1) // 2),
            (SAME_D_TIMES_K, d * k // 2)]


def _mistakes_receptive_field(layers):
    size_late, size_nodil, size_flat, jump = 1, 1, 1, 1
    for k, s, d in layers:
        size_nodil += (k - 1) * jump
        size_flat += d * (k - 1)
        size_late += d * (k - 1) * jump * s
        jump *= s
    jump_last = layers[-1][1] if layers else 1
    return [
        (JUMP_TOO_EARLY, (size_late, jump)),
        (DILATION_IGNORED, (size_nodil, jump)),
        (GROWTH_NOT_SCALED, (size_flat, jump)),
        (JUMP_LAST_STRIDE, (None, jump_last)),
    ]


# ----------------------------------------------------------------------------- running and comparing

def _describe(name, case):
    args, kwargs = case
    return describe_call(name, args, kwargs)


def _evaluate(fn, name, cases):
    """What ``fn`` does on every case: a list of ``(value, None)`` or ``(None, exception)``."""
    def each(grid):
        results = []
        for args, kwargs in grid.cases:
            try:
                results.append((fn(*args, **kwargs), None))
            except (NotImplementedError, CheckFailure):
                raise
            except Exception as error:
                results.append((None, error))
        return results
    return call_student(each, (Grid(cases),), name=name, forbidden=FORBIDDEN)


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _verdict(value, error, expected, reason, oracle):
    """``None`` if the outcome is right, else what is wrong with it."""
    if expected is None:
        if error is None:
            return (f"returned {value!r}, but {oracle} fails ({reason}): raise ValueError "
                    "saying why")
        if not isinstance(error, ValueError):
            return (f"raised {type(error).__name__} ({error}); expected ValueError because "
                    f"{oracle} fails ({reason})")
        if not str(error).strip():
            return "raised ValueError without a message: say why (e.g. the kernel does not fit)"
        return None
    if error is not None:
        return f"raised {type(error).__name__} ({error}), but {oracle} gives {expected}"
    if not _is_int(value):
        hint = " (use // for floor division)" if isinstance(value, float) else ""
        return f"returned {type(value).__name__} {value!r}; return an int{hint}"
    if value != expected:
        return f"returned {value!r}, {oracle} gives {expected}"
    return None


def _likely(outcomes, mistakes):
    """The known mistake that explains every wrong outcome, as a message suffix (or "").

    ``outcomes``: ``(case, value, error)`` of the wrong outcomes; ``mistakes(case)``: the
    ``(description, predicted outcome)`` pairs of the known mistakes on that case.
    """
    predictions = [dict(mistakes(case)) for case, _, _ in outcomes]
    for description in predictions[0]:
        if all(_matches(value, error, predicted[description])
               for (_, value, error), predicted in zip(outcomes, predictions)):
            return f"\nLikely cause: {description}"
    return ""


def _matches(value, error, predicted):
    """Whether an outcome is what a known mistake predicts; a predicted size below 1 predicts
    a ValueError (a function that validates its output raises there)."""
    if isinstance(predicted, tuple):
        if not isinstance(value, tuple) or len(value) != 2:
            return False
        return all(p is None or p == v for p, v in zip(predicted, value))
    if error is not None:
        return predicted < 1 and isinstance(error, ValueError)
    return _is_int(value) and value == predicted


def _compare(fn, name, cases, expectations, oracle, mistakes):
    """Fail unless ``fn`` agrees with ``expectations`` (``(size, reason)`` per case)."""
    results = _evaluate(fn, name, cases)
    wrong = []
    for case, (value, error), (expected, reason) in zip(cases, results, expectations):
        verdict = _verdict(value, error, expected, reason, oracle)
        if verdict is not None:
            wrong.append((case, value, error, verdict))
    if not wrong:
        return
    case, _, _, verdict = wrong[0]
    likely = _likely([(c, v, e) for c, v, e, _ in wrong], lambda c: mistakes(*c[0], **c[1]))
    raise CheckFailure(
        f"{name} disagrees with {oracle} on {len(wrong)} of {len(cases)} parameter combinations; "
        f"first: {_describe(name, case)} {verdict}{likely}")


def _size_cases(grid, positional=1):
    """``(args, kwargs)`` cases: the first ``positional`` values positional, the rest by name."""
    cases = []
    for params in grid:
        values = list(params.items())
        cases.append((tuple(v for _, v in values[:positional]), dict(values[positional:])))
    return cases


# ----------------------------------------------------------------------------- checks

def check_conv_output_size(fn, full=True):
    """``conv_output_size`` gives the output length of ``nn.Conv1d``/``Conv2d`` over an exhaustive
    grid, and raises ``ValueError`` wherever they fail."""
    cases = _size_cases(conv_grid(full), positional=2)
    with _tiny_layers():
        expected = [torch_conv_size(*args, **kw) for args, kw in cases]
    _compare(fn, "conv_output_size", cases, expected, "PyTorch's Conv1d/Conv2d", _mistakes_conv)


def check_pool_output_size(fn, full=True):
    """``pool_output_size`` gives the output length of PyTorch's max and average pooling over an
    exhaustive grid (ceil_mode and stride=None included), and raises ``ValueError`` where they fail."""
    cases = _size_cases(pool_grid(full), positional=2)
    with _tiny_layers():
        expected = [torch_pool_size(*args, **kw) for args, kw in cases]
    _compare(fn, "pool_output_size", cases, expected,
             "PyTorch's MaxPool1d/2d and AvgPool1d/2d", _mistakes_pool)


def check_conv_transpose_output_size(fn, full=True):
    """``conv_transpose_output_size`` gives the output length of ``nn.ConvTranspose1d``/``2d``
    over an exhaustive grid, and raises ``ValueError`` wherever they fail or return nothing."""
    cases = _size_cases(conv_transpose_grid(full), positional=2)
    with _tiny_layers():
        expected = [torch_conv_transpose_size(*args, **kw) for args, kw in cases]
    _compare(fn, "conv_transpose_output_size", cases, expected,
             "PyTorch's ConvTranspose1d/2d", _mistakes_conv_transpose)


def check_same_padding(fn, full=True):
    """``same_padding(K, D)`` is the one padding that keeps the size of ``nn.Conv1d`` at stride 1,
    found by exhaustive search; ``ValueError`` where no symmetric padding does. Every K <= 7 and
    D <= 4 (``full``), or K <= 5 without dilation."""
    kernels, dilations = (range(1, 8), range(1, 5)) if full else (range(1, 6), (1,))
    cases = [((k,), {"dilation": d}) for k in kernels for d in dilations]
    expected = []
    for (k,), kw in cases:
        with _tiny_layers():
            found = torch_size_keeping_paddings(k, kw["dilation"])
        expected.append((found[0], None) if len(found) == 1 else (
            None, f"no padding P keeps the length of a stride-1 Conv1d with kernel_size={k}, "
                  f"dilation={kw['dilation']}"))
    _compare(fn, "same_padding", cases, expected,
             "an exhaustive search with PyTorch's Conv1d", _mistakes_same_padding)


def check_receptive_field(fn, full=True):
    """``receptive_field(layers)`` equals the empirical receptive field (autograd through a stack
    of ``nn.Conv1d`` with weights 1) of many stacks."""
    stacks = receptive_field_stacks(full)
    cases = [((list(stack),), {}) for stack in stacks]
    results = _evaluate(fn, "receptive_field", cases)
    with _tiny_layers():
        expectations = [empirical_receptive_field(stack) for stack in stacks]
    wrong = []
    for case, expected, (value, error) in zip(cases, expectations, results):
        if error is not None:
            verdict = f"raised {type(error).__name__} ({error}), expected {expected}"
        elif not (isinstance(value, tuple) and len(value) == 2 and all(map(_is_int, value))):
            verdict = f"returned {value!r}; return a tuple of two ints (size, jump)"
        elif tuple(value) != expected:
            verdict = (f"returned {value!r}; the gradient of one output unit of this stack of "
                       f"Conv1d layers is nonzero on {expected[0]} input pixels and two adjacent "
                       f"units are {expected[1]} pixels apart, so (size, jump) = {expected}")
        else:
            continue
        wrong.append((case, value, error, verdict))
    if not wrong:
        return
    case, _, _, verdict = wrong[0]
    likely = _likely([(c, v, e) for c, v, e, _ in wrong],
                     lambda c: _mistakes_receptive_field(c[0][0]))
    raise CheckFailure(
        f"receptive_field disagrees with the empirical receptive field on {len(wrong)} of "
        f"{len(cases)} stacks; first: {_describe('receptive_field', case)} {verdict}{likely}")


def assert_size(actual, expected, *, what, likely=()):
    """Fail unless ``actual`` is the int ``expected`` (or, for a tuple ``expected``, a tuple of
    ints equal to it). ``likely``: ``(description, wrong value)`` pairs naming known mistakes."""
    if isinstance(expected, tuple):
        good_type = (isinstance(actual, tuple) and len(actual) == len(expected)
                     and all(map(_is_int, actual)))
        wanted = f"a tuple of {len(expected)} ints"
    else:
        good_type, wanted = _is_int(actual), "an int"
    if not good_type:
        hint = " (use // for floor division)" if isinstance(actual, float) else ""
        raise CheckFailure(f"{what} returned {type(actual).__name__} {actual!r}; expected "
                           f"{wanted}{hint}")
    if actual == expected:
        return
    cause = next((f".\nLikely cause: {description}" for description, wrong in likely
                  if actual == wrong), "")
    raise CheckFailure(f"{what} returned {actual!r}, expected {expected!r}{cause}")


def _check_rejects(fn, name, bad):
    for args, kwargs, exception, reason in bad:
        check_raises(fn, args, kwargs, exception=exception, reason=reason, name=name)


def check_conv_output_size_rejects_bad_input(fn):
    """Non-integers raise ``TypeError``; sizes out of range ``ValueError``."""
    _check_rejects(fn, "conv_output_size", [
        ((0, 1), {}, ValueError, "the input must have at least one pixel"),
        ((5, 0), {}, ValueError, "the kernel size must be at least 1"),
        ((5, 3), {"stride": 0}, ValueError, "the stride must be at least 1"),
        ((5, 3), {"padding": -1}, ValueError, "the padding cannot be negative"),
        ((5, 3), {"dilation": 0}, ValueError, "the dilation must be at least 1"),
        ((5, 6), {"padding": 0}, ValueError, "a kernel of 6 does not fit in 5 pixels"),
        ((5, 3), {"dilation": 3}, ValueError, "a 3-tap kernel with dilation 3 spans 7 pixels > 5"),
        ((5.0, 3), {}, TypeError, "the input size must be an int"),
        ((5, 3.0), {}, TypeError, "the kernel size must be an int"),
        ((5, 3), {"stride": 1.5}, TypeError, "the stride must be an int"),
        ((5, "3"), {}, TypeError, "the kernel size must be an int"),
    ])


def check_pool_output_size_rejects_bad_input(fn):
    """PyTorch's pooling constraints and the range of every size raise ``ValueError``; non-integers
    ``TypeError``."""
    _check_rejects(fn, "pool_output_size", [
        ((8, 2), {"padding": 2}, ValueError,
         "PyTorch pools with padding <= kernel_size // 2 (here 1)"),
        ((8, 3), {"padding": 2}, ValueError,
         "PyTorch pools with padding <= kernel_size // 2 (here 1)"),
        ((8, 2), {"padding": 2, "dilation": 3}, ValueError,
         "the rule padding <= kernel_size // 2 uses kernel_size, not the dilated span"),
        ((2, 3), {}, ValueError, "a window of 3 does not fit in 2 pixels (floor mode)"),
        ((8, 2), {"stride": 0}, ValueError, "the stride must be at least 1"),
        ((0, 2), {}, ValueError, "the input must have at least one pixel"),
        ((8, 0), {}, ValueError, "the kernel size must be at least 1"),
        ((8, 2), {"padding": -1}, ValueError, "the padding cannot be negative"),
        ((8, 2), {"dilation": 0}, ValueError, "the dilation must be at least 1"),
        ((8, 2.0), {}, TypeError, "the kernel size must be an int"),
        ((8, 2), {"stride": 2.0}, TypeError, "the stride must be an int or None"),
    ])


def check_conv_transpose_output_size_rejects_bad_input(fn):
    """PyTorch's output_padding rule and the range of every size raise ``ValueError``."""
    _check_rejects(fn, "conv_transpose_output_size", [
        ((3, 3), {"stride": 2, "output_padding": 2}, ValueError,
         "output_padding must be smaller than the stride or the dilation"),
        ((3, 3), {"output_padding": 1}, ValueError,
         "output_padding must be smaller than the stride (1) or the dilation (1)"),
        ((1, 1), {"padding": 1}, ValueError, "the output would have -1 pixels"),
        ((0, 3), {}, ValueError, "the input must have at least one pixel"),
        ((3, 0), {}, ValueError, "the kernel size must be at least 1"),
        ((3, 3), {"stride": 0}, ValueError, "the stride must be at least 1"),
        ((3, 3), {"padding": -1}, ValueError, "the padding cannot be negative"),
        ((3, 3), {"output_padding": -1, "stride": 2}, ValueError,
         "output_padding cannot be negative"),
        ((3, 3.0), {}, TypeError, "the kernel size must be an int"),
    ])


def check_receptive_field_rejects_bad_input(fn):
    """Malformed layers raise ``ValueError`` (wrong length, sizes out of range) or ``TypeError``."""
    _check_rejects(fn, "receptive_field", [
        (([(3, 1)],), {}, ValueError, "each layer is a triple (kernel_size, stride, dilation)"),
        (([(3, 1, 1, 1)],), {}, ValueError, "each layer is a triple (kernel_size, stride, dilation)"),
        (([(3, 1, 1), (0, 1, 1)],), {}, ValueError, "the kernel size must be at least 1"),
        (([(3, 0, 1)],), {}, ValueError, "the stride must be at least 1"),
        (([(3, 1, 0)],), {}, ValueError, "the dilation must be at least 1"),
        (([(3.0, 1, 1)],), {}, TypeError, "the kernel size must be an int"),
        ((3,), {}, TypeError, "layers must be a list of triples, not an int"),
    ])
