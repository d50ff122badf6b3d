"""Checks of notebook 02 (output-size formulas): the student-side part.

The oracles are what PyTorch actually does, never a formula:

- the output sizes of real layers (``nn.Conv1d``/``Conv2d``, ``nn.MaxPool1d``/``2d``,
  ``nn.AvgPool1d``/``2d``, ``nn.ConvTranspose1d``/``2d``), each run on a tiny tensor of zeros
  for every combination of an exhaustive grid of small parameters (results kept per process);
  where PyTorch raises, or returns an empty output, the student's function must raise
  ``ValueError``;
- the empirical receptive field of a stack of ``nn.Conv1d`` layers with all weights 1: the
  gradient of one output unit with respect to the input is nonzero exactly on the input pixels
  that unit sees (ones everywhere, so no gradient cancels), and the gradients of two adjacent
  output units are shifted by the jump.

No function here computes a graded function's answer from its arguments: the PyTorch runners
take other arguments and the checks compare inside. A failing check names a likely cause where
the wrong outcomes show it by themselves (a float returned, a size where PyTorch refuses the
padding, an error where output_padding is allowed, an input not validated); the likely mistakes
that take the formula to predict are grader-only (:mod:`autograder.grader.checks.output_size`),
whose hidden checks call these with the full grids and those mistakes.

A student's function runs on a whole grid in one ``checking.call_each``: under grading one round
trip to the student's kernel, where the from-scratch watch runs (PyTorch's layers, their
functional forms and autograd are forbidden there). Every ``check_*`` function raises
``CheckFailure`` with a readable message, or returns ``None``.
"""
import contextlib
import functools
import itertools
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autograder.checking import CheckFailure, call_each, describe_call, make_rng

CONV_MODULES = ("Conv1d", "Conv2d")
POOL_MODULES = ("MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d")
TRANSPOSE_MODULES = ("ConvTranspose1d", "ConvTranspose2d")
MODULES = {"conv": CONV_MODULES, "pool": POOL_MODULES, "transpose": TRANSPOSE_MODULES}

FORBIDDEN = (
    F.conv1d, F.conv2d, F.conv_transpose1d, F.conv_transpose2d, torch.conv1d, torch.conv2d,
    torch.conv_transpose1d, torch.conv_transpose2d, F.max_pool1d, F.max_pool2d,
    F.max_pool1d_with_indices, F.max_pool2d_with_indices, torch.max_pool1d, torch.max_pool2d,
    F.avg_pool1d, F.avg_pool2d, nn.Module.__call__, torch.autograd.grad, torch.autograd.backward,
    torch.Tensor.backward,
)


# ----------------------------------------------------------------------------- PyTorch oracles

@contextlib.contextmanager
def tiny_layers():
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


@functools.lru_cache(maxsize=8192)  # the grids need about 5,000; a module takes about 2.5 kB
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


def pytorch_output_size(name, n, **params):
    """What PyTorch's layer ``nn.<name>`` (e.g. "Conv1d", "MaxPool2d") with ``params`` does to
    zeros of side ``n`` (1-D or 2-D as its name says): ``(size, None)``, the size of its output's
    last dimension, or ``(None, reason)`` if PyTorch raises or returns nothing."""
    layer, reason = _layer(name, **params)
    if layer is None:
        return None, reason
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = layer(torch.zeros((1, 1) + (n,) * int(name[-2])))
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


def _pytorch_size(kind, point):
    """What PyTorch's layers of ``kind`` ("conv", "pool" or "transpose") give for the grid point
    ``point`` (a dict of parameters, the input side ``n`` included): ``(size, None)``, or
    ``(None, what PyTorch says)`` where they fail. Their 1-D and 2-D versions must agree; for
    pooling, max and average pooling too (average pooling has no dilation: only max pooling
    answers for a dilation above 1)."""
    params = dict(point)
    n = params.pop("n")
    names = MODULES[kind]
    if kind != "pool":
        return _agree([pytorch_output_size(name, n, **params) for name in names], names)
    dilation = params.pop("dilation")
    names = names if dilation == 1 else names[:2]
    return _agree([pytorch_output_size(name, n, **params,
                              **({"dilation": dilation} if name.startswith("Max") else {}))
                   for name in names], names)


_ANSWERS = {}  # (kind, grid point) -> PyTorch's (size, reason), kept per process


def _pytorch_sizes(kind, grid):
    """``_pytorch_size(kind, point)`` for every point of ``grid``, each computed once a process."""
    keys = [(kind, tuple(sorted(point.items()))) for point in grid]
    missing = [key for key in keys if key not in _ANSWERS]
    if missing:
        with tiny_layers():
            for key in missing:
                _ANSWERS[key] = _pytorch_size(kind, dict(key[1]))
    return [_ANSWERS[key] for key in keys]


def _gradient_supports(layers):
    """Where the gradients of output units 0 and 1 of a stack of ``nn.Conv1d`` layers
    ``((kernel_size, stride, dilation), ...)``, all weights 1 and no padding, with respect to the
    input are nonzero: ``((first, last), (first, last))``, input positions. The input is long
    enough for two outputs."""
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
    supports = []
    for unit in (0, 1):
        nonzero = torch.autograd.grad(y[0, 0, unit], x, retain_graph=True)[0][0, 0].nonzero()[:, 0]
        supports.append((int(nonzero[0]), int(nonzero[-1])))
    return tuple(supports)


def _paddings_keeping(lengths, kernel_size, dilation):
    """The paddings P (searched exhaustively) for which ``nn.Conv1d(padding=P)`` at stride 1
    returns an output as long as its input, for every input length in ``lengths``."""
    paddings = range(dilation * kernel_size + 1)
    sizes = _pytorch_sizes("conv", [dict(n=n, kernel_size=kernel_size, stride=1, padding=p,
                                         dilation=dilation) for p in paddings for n in lengths])
    return tuple(p for p in paddings
                 if [size for size, _ in sizes[p * len(lengths):(p + 1) * len(lengths)]]
                 == list(lengths))


_FIELDS = {}  # stack -> the measured (size, jump), kept per process


def _measured_fields(stacks):
    """The receptive field ``(size, jump)`` of each stack, measured with autograd once per process:
    the span of unit 0's gradient, and how far unit 1's gradient is shifted from it."""
    missing = [stack for stack in stacks if stack not in _FIELDS]
    if missing:
        with tiny_layers():
            for stack in missing:
                (first, last), (next_first, _) = _gradient_supports(stack)
                _FIELDS[stack] = (last - first + 1, next_first - first)
    return [_FIELDS[stack] for stack in stacks]


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


def receptive_field_stacks(full=True, seed=None, n_random=80):
    """Stacks of ``(kernel_size, stride, dilation)`` layers: every single layer (K <= 5, S <= 3,
    D <= 3); with ``full``, also the empty stack, every pair (K <= 3, S <= 3, D <= 2) and
    ``n_random`` random stacks of 3 to 6 layers, drawn with ``checking.make_rng(seed)``."""
    singles = [((k, s, d),) for k, s, d in itertools.product(range(1, 6), range(1, 4), range(1, 4))]
    if not full:
        return singles
    small = list(itertools.product(range(1, 4), range(1, 4), range(1, 3)))
    pairs = [(a, b) for a in small for b in small]
    rng = make_rng(seed)
    deep = []
    for _ in range(n_random):
        depth = int(rng.integers(3, 7))
        deep.append(tuple((int(rng.integers(1, 6)), int(rng.choice([1, 1, 2, 3])),
                           int(rng.choice([1, 1, 2, 4]))) for _ in range(depth)))
    return [()] + singles + pairs + deep


# ----------------------------------------------------------------------------- likely causes

DILATION_IGNORED = "the dilation is ignored: a dilated kernel spans D(K-1) + 1 input pixels"
PADDING_ONCE = "the padding is counted once: P zeros are added on each side, 2P in all"
ROUNDS_UP = "the division rounds up: the output size rounds down (floor, //)"
PLUS_ONE_MISSING = "the +1 is missing: the first window counts too"
SPAN_D_TIMES_K = "the dilated kernel is taken to span D*K pixels: it spans D(K-1) + 1"
TRUE_DIVISION = "the division is `/`, which gives a float: use `//` (floor division) for an int"
STRIDE_NONE_IS_ONE = ("stride=None is taken as stride 1: PyTorch's pooling default is "
                      "stride = kernel_size")
CEIL_MODE_IGNORED = "ceil_mode is ignored: with ceil_mode=True the division rounds up"
LAST_WINDOW_KEPT = ("in ceil mode the last window may start in the right padding: drop it when "
                    "(out - 1) * stride >= n + padding (it must start inside the input or the "
                    "left padding)")
LAST_WINDOW_RULE_PADDED = ("the last-window rule compares with n + 2 * padding: a window must "
                           "start inside the input or the left padding, i.e. "
                           "(out - 1) * stride < n + padding")
POOL_PADDING_RULE = ("the padding rule is missing or compares with the wrong size: PyTorch pools "
                     "only with padding <= kernel_size // 2 (the kernel size, even when dilated)")
NO_OUTPUT_RETURNED = ("a size below 1 is returned: where no window fits, or the output would be "
                      "empty, there is no output; raise ValueError saying why")
OUTPUT_PADDING_NOT_CHECKED = ("output_padding is not checked: PyTorch requires output_padding < "
                              "stride or output_padding < dilation (it only picks among the sizes "
                              "a strided convolution maps to the same one)")
OUTPUT_PADDING_IGNORED = "output_padding is ignored: it adds output_padding pixels on one side"
OUTPUT_PADDING_STRIDE_ONLY = ("output_padding is only compared with the stride: PyTorch accepts "
                              "output_padding < stride *or* output_padding < dilation")
TRANSPOSE_PADDING_ADDED = ("the padding is added: in a transposed convolution it removes 2P "
                           "pixels")
TRANSPOSE_N_TIMES_STRIDE = ("n * stride is used: n inputs placed `stride` apart span "
                            "(n - 1) * stride + 1 pixels")
SAME_ROUNDED_DOWN = ("D(K-1)/2 is rounded down when D(K-1) is odd: no symmetric padding keeps "
                     "the size then; raise ValueError")
SAME_ODD_ROUNDED = ("D(K-1) is odd and the padding is rounded to a number anyway: no symmetric "
                    "padding keeps the size then (one side needs one zero more); raise ValueError")
SAME_D_TIMES_K = "the padding is D*K // 2: the kernel spans D(K-1) + 1 pixels, so P = D(K-1) / 2"
JUMP_TOO_EARLY = ("the jump is updated before the size: layer l grows the field by D(K-1) times "
                  "the jump of the layers *before* it")
GROWTH_NOT_SCALED = ("the growth of each layer is not scaled by the jump: one step of layer l "
                     "is the product of the strides before it, in input pixels")
JUMP_LAST_STRIDE = "the jump is the last stride only: strides multiply through the stack"
STRIDES_ADDED = "the strides are added: the jump is their product (each stride multiplies it)"
FLOAT_ACCEPTED = ("a float size is accepted: check that every size is an int (Python or NumPy "
                  "integer, not bool) and raise TypeError otherwise")
STRIDE_NOT_CHECKED = ("the stride is not checked before dividing by it: a stride below 1 must "
                      "raise ValueError")
LAYER_LENGTH_NOT_CHECKED = ("the length of a layer is not checked: a layer must be exactly a "
                            "triple (kernel_size, stride, dilation); raise ValueError otherwise")


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _returned_float(point, value, error, expected):
    return error is None and isinstance(value, float)


def _pool_padding_kept(point, value, error, expected):
    return (expected is None and error is None
            and point.get("padding", 0) > point["kernel_size"] // 2)


def _no_output_returned(point, value, error, expected):
    return expected is None and error is None and _is_int(value) and value < 1


def _output_padding_kept(point, value, error, expected):
    largest = max(point.get("stride", 1), point.get("dilation", 1))
    return expected is None and error is None and point.get("output_padding", 0) >= largest


def _output_padding_refused(point, value, error, expected):
    return (expected is not None and isinstance(error, ValueError)
            and point.get("stride", 1) <= point.get("output_padding", 0) < point.get("dilation", 1))


# The names of the positional arguments of the graded functions, as the checks pass them.
POSITIONAL = {"conv_output_size": ("n", "kernel_size"), "pool_output_size": ("n", "kernel_size"),
              "conv_transpose_output_size": ("n", "kernel_size"), "same_padding": ("kernel_size",)}

# Causes a wrong outcome shows by itself: (description, test on (point, value, error, expected)).
OUTCOME_CAUSES = {
    "conv_output_size": [(TRUE_DIVISION, _returned_float),
                         (NO_OUTPUT_RETURNED, _no_output_returned)],
    "pool_output_size": [(TRUE_DIVISION, _returned_float), (POOL_PADDING_RULE, _pool_padding_kept),
                         (NO_OUTPUT_RETURNED, _no_output_returned)],
    "conv_transpose_output_size": [(TRUE_DIVISION, _returned_float),
                                   (OUTPUT_PADDING_STRIDE_ONLY, _output_padding_refused),
                                   (OUTPUT_PADDING_NOT_CHECKED, _output_padding_kept),
                                   (NO_OUTPUT_RETURNED, _no_output_returned)],
    "same_padding": [(TRUE_DIVISION, _returned_float)],
}


# ----------------------------------------------------------------------------- comparing

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
        return f"returned {type(value).__name__} {value!r}; return an int"
    if value != expected:
        return f"returned {value!r}, {oracle} gives {expected}"
    return None


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


def _likely(wrong, likely_mistakes, causes):
    """The cause that explains every wrong outcome, as a message suffix (or "").

    ``wrong``: ``(args, kwargs, point, value, error, expected)`` of the wrong outcomes.
    ``likely_mistakes(*args, **kwargs)``: ``(description, predicted outcome)`` pairs of known
    mistakes on that call; ``causes``: ``(description, test)`` pairs, ``test(point, value,
    error, expected)`` telling whether an outcome shows that cause.
    """
    if likely_mistakes is not None:
        predictions = [dict(likely_mistakes(*args, **kwargs)) for args, kwargs, *_ in wrong]
        for description in predictions[0]:
            if all(_matches(outcome[3], outcome[4], predicted[description])
                   for outcome, predicted in zip(wrong, predictions)):
                return f"\nLikely cause: {description}"
    for description, shows in causes:
        if all(shows(*outcome[2:]) for outcome in wrong):
            return f"\nLikely cause: {description}"
    return ""


def _cases(grid, positional):
    """``(args, kwargs)`` of each grid point: the first ``positional`` values positional."""
    cases = []
    for point in grid:
        values = list(point.items())
        cases.append((tuple(v for _, v in values[:positional]), dict(values[positional:])))
    return cases


def _compare(fn, name, grid, expectations, oracle, likely_mistakes=None):
    """Fail unless ``fn`` agrees with ``expectations`` (``(value, reason)`` per grid point; value
    ``None``: ``fn`` must raise ``ValueError``), ``fn`` called once per point in one round trip."""
    cases = _cases(grid, len(POSITIONAL[name]))
    outcomes = call_each(fn, cases, name=name, forbidden=FORBIDDEN)
    wrong = []
    for (args, kwargs), point, (value, error), (expected, reason) in zip(cases, grid, outcomes,
                                                                         expectations):
        verdict = _verdict(value, error, expected, reason, oracle)
        if verdict is not None:
            wrong.append((args, kwargs, point, value, error, expected, verdict))
    if not wrong:
        return
    args, kwargs, *_, verdict = wrong[0]
    likely = _likely([w[:6] for w in wrong], likely_mistakes, OUTCOME_CAUSES.get(name, ()))
    raise CheckFailure(
        f"{name} disagrees with {oracle} on {len(wrong)} of {len(grid)} parameter combinations; "
        f"first: {describe_call(name, args, kwargs)} {verdict}{likely}")


# ----------------------------------------------------------------------------- checks

def check_conv_output_size(fn, full=True, likely_mistakes=None):
    """``conv_output_size`` gives the output length of ``nn.Conv1d``/``Conv2d`` over an exhaustive
    grid, and raises ``ValueError`` wherever they fail."""
    grid = conv_grid(full)
    _compare(fn, "conv_output_size", grid, _pytorch_sizes("conv", grid),
             "PyTorch's Conv1d/Conv2d", likely_mistakes=likely_mistakes)


def check_pool_output_size(fn, full=True, likely_mistakes=None):
    """``pool_output_size`` gives the output length of PyTorch's max and average pooling over an
    exhaustive grid (ceil_mode and stride=None included), and raises ``ValueError`` where they fail."""
    grid = pool_grid(full)
    _compare(fn, "pool_output_size", grid, _pytorch_sizes("pool", grid),
             "PyTorch's MaxPool1d/2d and AvgPool1d/2d", likely_mistakes=likely_mistakes)


def check_conv_transpose_output_size(fn, full=True, likely_mistakes=None):
    """``conv_transpose_output_size`` gives the output length of ``nn.ConvTranspose1d``/``2d``
    over an exhaustive grid, and raises ``ValueError`` wherever they fail or return nothing."""
    grid = conv_transpose_grid(full)
    _compare(fn, "conv_transpose_output_size", grid, _pytorch_sizes("transpose", grid),
             "PyTorch's ConvTranspose1d/2d", likely_mistakes=likely_mistakes)


def check_same_padding(fn, full=True, likely_mistakes=None):
    """``same_padding(K, D)`` is the one padding that keeps the size of ``nn.Conv1d`` at stride 1,
    found by exhaustive search; ``ValueError`` where no symmetric padding does. Every K <= 7 and
    D <= 4 (``full``), or K <= 5 without dilation."""
    kernels, dilations = (range(1, 8), range(1, 5)) if full else (range(1, 6), (1,))
    grid = [{"kernel_size": k, "dilation": d} for k in kernels for d in dilations]
    expectations = []
    for point in grid:
        k, d = point["kernel_size"], point["dilation"]
        found = _paddings_keeping((1, 6), k, d)
        expectations.append((found[0], None) if len(found) == 1 else (
            None, f"no padding P keeps the length of a stride-1 Conv1d with kernel_size={k}, "
                  f"dilation={d}"))
    _compare(fn, "same_padding", grid, expectations,
             "an exhaustive search with PyTorch's Conv1d", likely_mistakes=likely_mistakes)


def check_receptive_field(fn, full=True, seed=None, likely_mistakes=None):
    """``receptive_field(layers)`` equals the empirical receptive field (autograd through a stack
    of ``nn.Conv1d`` with weights 1) of many stacks (random ones drawn from ``seed``)."""
    stacks = receptive_field_stacks(full, seed)
    cases = [((list(stack),), {}) for stack in stacks]
    outcomes = call_each(fn, cases, name="receptive_field", forbidden=FORBIDDEN)
    wrong = []
    for (args, kwargs), stack, expected, (value, error) in zip(cases, stacks,
                                                               _measured_fields(stacks), outcomes):
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
        wrong.append((args, kwargs, stack, value, error, expected, verdict))
    if not wrong:
        return
    args, kwargs, *_, verdict = wrong[0]
    likely = _likely([w[:6] for w in wrong], likely_mistakes, ())
    raise CheckFailure(
        f"receptive_field disagrees with the empirical receptive field on {len(wrong)} of "
        f"{len(cases)} stacks; first: {describe_call('receptive_field', args, kwargs)} "
        f"{verdict}{likely}")


def check_sizes(fn, cases, *, name, likely_mistakes=None):
    """``fn`` gives the hand-worked size of each ``(args, kwargs, expected)`` of ``cases``, all
    called in one round trip; a wrong size, a float or an error fails, with its likely cause."""
    outcomes = call_each(fn, [(args, kwargs) for args, kwargs, _ in cases], name=name,
                         forbidden=FORBIDDEN)
    for (args, kwargs, expected), (value, error) in zip(cases, outcomes):
        verdict = _verdict(value, error, expected, None, "the hand-worked value")
        if verdict is None:
            continue
        point = dict(zip(POSITIONAL[name], args), **kwargs)
        likely = _likely([(args, kwargs, point, value, error, expected)], likely_mistakes,
                         OUTCOME_CAUSES.get(name, ()))
        raise CheckFailure(f"{describe_call(name, args, kwargs)} {verdict}{likely}")


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
        cause = f".\nLikely cause: {TRUE_DIVISION}" if isinstance(actual, float) else ""
        raise CheckFailure(f"{what} returned {type(actual).__name__} {actual!r}; expected "
                           f"{wanted}{cause}")
    if actual == expected:
        return
    cause = next((f".\nLikely cause: {description}" for description, wrong in likely
                  if actual == wrong), "")
    raise CheckFailure(f"{what} returned {actual!r}, expected {expected!r}{cause}")


# ----------------------------------------------------------------------------- invalid inputs

def _equal_integers(value, expected):
    """``value`` is the integer (or tuple of integers) ``expected``, in any integer type."""
    if isinstance(expected, tuple):
        return (isinstance(value, (tuple, list)) and len(value) == len(expected)
                and all(_equal_integers(v, e) for v, e in zip(value, expected)))
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value == expected


def check_rejects(fn, bad, *, name, valid=None):
    """``fn`` raises on each ``(args, kwargs, exception, reason)`` or ``(..., causes)`` of ``bad``,
    all called in one round trip. ``exception``: a class or tuple of classes; ``reason``: why the
    input is invalid; ``causes``: ``{"returned" or an exception's name: likely cause}``, named
    when the call returns, or raises that exception, instead.

    ``valid``: ``(args, kwargs, expected)``, a valid call that must first return ``expected``, so
    that a function raising for everything earns nothing.
    """
    calls = ([(valid[0], valid[1])] if valid else []) + [(entry[0], entry[1]) for entry in bad]
    outcomes = call_each(fn, calls, name=name)
    if valid:
        (value, error), outcomes = outcomes[0], outcomes[1:]
        call = describe_call(name, valid[0], valid[1])
        if error is not None:
            raise CheckFailure(f"{call} raised {type(error).__name__} ({error}); a valid input "
                               f"must give {valid[2]!r} before invalid ones are tried")
        if not _equal_integers(value, valid[2]):
            raise CheckFailure(f"{call} returned {value!r}; a valid input must give {valid[2]!r} "
                               "before invalid ones are tried")
    for (args, kwargs, exception, reason, *causes), (_, error) in zip(bad, outcomes, strict=True):
        expected = exception if isinstance(exception, tuple) else (exception,)
        if isinstance(error, expected):
            continue
        wanted = " or ".join(e.__name__ for e in expected)
        call = describe_call(name, args, kwargs)
        cause = (causes[0] if causes else {}).get(
            "returned" if error is None else type(error).__name__)
        likely = f"\nLikely cause: {cause}" if cause else ""
        if error is None:
            raise CheckFailure(f"{call} returned without error; expected {wanted} because "
                               f"{reason}{likely}")
        raise CheckFailure(f"{call} raised {type(error).__name__} ({error}); expected {wanted} "
                           f"because {reason}{likely}")


def check_conv_output_size_rejects_bad_input(fn):
    """Non-integers raise ``TypeError``; sizes out of range ``ValueError``."""
    floats = {"returned": FLOAT_ACCEPTED}
    check_rejects(fn, [
        ((0, 1), {}, ValueError, "the input must have at least one pixel"),
        ((5, 0), {}, ValueError, "the kernel size must be at least 1"),
        ((5, 3), {"stride": 0}, ValueError, "the stride must be at least 1",
         {"ZeroDivisionError": STRIDE_NOT_CHECKED}),
        ((5, 3), {"padding": -1}, ValueError, "the padding cannot be negative"),
        ((5, 3), {"dilation": 0}, ValueError, "the dilation must be at least 1"),
        ((5, 6), {"padding": 0}, ValueError, "a kernel of 6 does not fit in 5 pixels"),
        ((5, 3), {"dilation": 3}, ValueError, "a 3-tap kernel with dilation 3 spans 7 pixels > 5"),
        ((5.0, 3), {}, TypeError, "the input size must be an int", floats),
        ((5, 3.0), {}, TypeError, "the kernel size must be an int", floats),
        ((5, 3), {"stride": 1.5}, TypeError, "the stride must be an int", floats),
        ((5, "3"), {}, TypeError, "the kernel size must be an int"),
    ], name="conv_output_size", valid=((5, 3), {}, 3))


def check_pool_output_size_rejects_bad_input(fn):
    """PyTorch's pooling constraints and the range of every size raise ``ValueError``; non-integers
    ``TypeError``."""
    padding_rule = {"returned": POOL_PADDING_RULE}
    check_rejects(fn, [
        ((8, 2), {"padding": 2}, ValueError,
         "PyTorch pools with padding <= kernel_size // 2 (here 1)", padding_rule),
        ((8, 3), {"padding": 2}, ValueError,
         "PyTorch pools with padding <= kernel_size // 2 (here 1)", padding_rule),
        ((8, 2), {"padding": 2, "dilation": 3}, ValueError,
         "the rule padding <= kernel_size // 2 uses kernel_size, not the dilated span",
         padding_rule),
        ((2, 3), {}, ValueError, "a window of 3 does not fit in 2 pixels (floor mode)"),
        ((8, 2), {"stride": 0}, ValueError, "the stride must be at least 1",
         {"ZeroDivisionError": STRIDE_NOT_CHECKED}),
        ((0, 2), {}, ValueError, "the input must have at least one pixel"),
        ((8, 0), {}, ValueError, "the kernel size must be at least 1"),
        ((8, 2), {"padding": -1}, ValueError, "the padding cannot be negative"),
        ((8, 2), {"dilation": 0}, ValueError, "the dilation must be at least 1"),
        ((8, 2.0), {}, TypeError, "the kernel size must be an int", {"returned": FLOAT_ACCEPTED}),
        ((8, 2), {"stride": 2.0}, TypeError, "the stride must be an int or None",
         {"returned": FLOAT_ACCEPTED}),
    ], name="pool_output_size", valid=((8, 2), {}, 4))


def check_conv_transpose_output_size_rejects_bad_input(fn):
    """PyTorch's output_padding rule and the range of every size raise ``ValueError``."""
    output_padding = {"returned": OUTPUT_PADDING_NOT_CHECKED}
    check_rejects(fn, [
        ((3, 3), {"stride": 2, "output_padding": 2}, ValueError,
         "output_padding must be smaller than the stride or the dilation", output_padding),
        ((3, 3), {"output_padding": 1}, ValueError,
         "output_padding must be smaller than the stride (1) or the dilation (1)", output_padding),
        ((1, 1), {"padding": 1}, ValueError, "the output would have -1 pixels",
         {"returned": NO_OUTPUT_RETURNED}),
        ((0, 3), {}, ValueError, "the input must have at least one pixel"),
        ((3, 0), {}, ValueError, "the kernel size must be at least 1"),
        ((3, 3), {"stride": 0}, ValueError, "the stride must be at least 1"),
        ((3, 3), {"padding": -1}, ValueError, "the padding cannot be negative"),
        ((3, 3), {"output_padding": -1, "stride": 2}, ValueError,
         "output_padding cannot be negative"),
        ((3, 3.0), {}, TypeError, "the kernel size must be an int", {"returned": FLOAT_ACCEPTED}),
    ], name="conv_transpose_output_size", valid=((3, 3), {}, 5))


def check_receptive_field_rejects_bad_input(fn):
    """Malformed layers raise ``ValueError`` (wrong length, sizes out of range) or ``TypeError``."""
    length = {"returned": LAYER_LENGTH_NOT_CHECKED}
    check_rejects(fn, [
        (([(3, 1)],), {}, ValueError, "each layer is a triple (kernel_size, stride, dilation)",
         length),
        (([(3, 1, 1, 1)],), {}, ValueError,
         "each layer is a triple (kernel_size, stride, dilation)", length),
        (([(3, 1, 1), (0, 1, 1)],), {}, ValueError, "the kernel size must be at least 1"),
        (([(3, 0, 1)],), {}, ValueError, "the stride must be at least 1"),
        (([(3, 1, 0)],), {}, ValueError, "the dilation must be at least 1"),
        (([(3.0, 1, 1)],), {}, TypeError, "the kernel size must be an int",
         {"returned": FLOAT_ACCEPTED}),
        ((3,), {}, TypeError, "layers must be a list of triples, not an int"),
    ], name="receptive_field", valid=(([(3, 1, 1)],), {}, (3, 1)))
