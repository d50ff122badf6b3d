"""Checks of notebook 05 (pooling).

Oracles are PyTorch's: ``torch.nn.functional.max_pool2d(..., return_indices=True)``,
``avg_pool2d`` (its defaults: zero padding counted in the average, floor output size),
``adaptive_avg_pool2d(x, 1)``, and autograd through them for the backward passes. Every
``check_*`` function raises ``CheckFailure`` with a readable message, or returns ``None``.
"""
import numpy as np
import scipy.ndimage
import torch
import torch.nn.functional as F

from autograder.checking import (
    Case, CheckFailure, call_student, check_against_oracle, check_raises,
    describe_call, difference,
)

LIBRARY_POOL = (
    F.max_pool2d, F.max_pool2d_with_indices, torch.max_pool2d, torch._C._nn.max_pool2d_with_indices,
    F.avg_pool2d, F.adaptive_avg_pool2d, torch._C._nn.adaptive_avg_pool2d, F.adaptive_max_pool2d,
    F.adaptive_max_pool2d_with_indices, F.lp_pool2d, F.fractional_max_pool2d,
    scipy.ndimage.maximum_filter, scipy.ndimage.uniform_filter, scipy.ndimage.generic_filter,
)
LIBRARY_BACKWARD = LIBRARY_POOL + (
    F.max_unpool2d, torch._C._nn.max_unpool2d, torch.autograd.grad, torch.autograd.backward,
    torch.Tensor.backward,
)

STRIDE_DEFAULTS_TO_ONE = (
    "the stride defaults to 1: with stride=None, PyTorch uses stride = kernel_size "
    "(windows side by side, no overlap)"
)
PADDING_AS_ZEROS = (
    "the padding counts as zeros: in max pooling the padding acts as -inf, so a window of "
    "negative values returns its largest value, never 0"
)
INDICES_IN_PADDED_PLANE = (
    "the indices point into the padded plane: PyTorch counts positions in the unpadded H x W "
    "plane, row * W + column (row and column without the padding offset)"
)
LAST_MAXIMUM = (
    "ties are broken by the last maximum: among equal values PyTorch returns the first one in "
    "scan order (row by row, left to right)"
)
PADDING_NOT_COUNTED = (
    "the padded zeros are left out of the average (count_include_pad=False): PyTorch's default "
    "divides every window by k_h * k_w, padding included"
)
NOT_DIVIDED = (
    "the gradient is not divided by the window size: each input of a window receives "
    "grad_out / (k_h * k_w)"
)
OVERWRITTEN = (
    "where windows overlap, one input receives the gradient of several windows: add them up "
    "(accumulate, e.g. with +=, np.add.at or np.bincount), do not overwrite"
)


def _tensor(array):
    return torch.from_numpy(np.ascontiguousarray(array))


# ----------------------------------------------------------------------------- oracles

def oracle_max_pool2d(x, kernel_size, stride=None, padding=0):
    """PyTorch's max pooling of NCHW ``x``: ``(out, indices)`` as numpy arrays (indices int64)."""
    out, indices = F.max_pool2d(_tensor(x), kernel_size, stride, padding, return_indices=True)
    return out.numpy(), indices.numpy()


def oracle_avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """PyTorch's average pooling of NCHW ``x`` (by default zero padding counted, floor mode)."""
    return F.avg_pool2d(_tensor(x), kernel_size, stride, padding,
                        count_include_pad=count_include_pad).numpy()


def oracle_global_avg_pool(x):
    """PyTorch's ``adaptive_avg_pool2d(x, 1)``: ``(N, C, 1, 1)``."""
    return F.adaptive_avg_pool2d(_tensor(x), 1).numpy()


def autograd_max_pool2d(x, grad_out, kernel_size, stride=None, padding=0):
    """dL/dx by autograd through PyTorch's max pooling, for ``dL/d(out) = grad_out``."""
    leaf = _tensor(x).clone().requires_grad_(True)
    F.max_pool2d(leaf, kernel_size, stride, padding).backward(_tensor(grad_out))
    return leaf.grad.numpy()


def autograd_avg_pool2d(x, grad_out, kernel_size, stride=None, padding=0, count_include_pad=True):
    """dL/dx by autograd through PyTorch's average pooling, for ``dL/d(out) = grad_out``."""
    leaf = _tensor(x).clone().requires_grad_(True)
    F.avg_pool2d(leaf, kernel_size, stride, padding,
                 count_include_pad=count_include_pad).backward(_tensor(grad_out))
    return leaf.grad.numpy()


# ----------------------------------------------------------------------------- likely mistakes

def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _padded_with_minus_inf(x, padding):
    ph, pw = _pair(padding)
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)


def _mistakes_max_values(x, kernel_size, stride=None, padding=0):
    found = []
    if stride is None:
        found.append((STRIDE_DEFAULTS_TO_ONE, oracle_max_pool2d(x, kernel_size, 1, padding)[0]))
    ph, pw = _pair(padding)
    if ph or pw:
        zero_padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        found.append((PADDING_AS_ZEROS, oracle_max_pool2d(zero_padded, kernel_size, stride)[0]))
    return found


def _mistakes_max_indices(x, kernel_size, stride=None, padding=0):
    n, c, h, w = x.shape
    _, indices = oracle_max_pool2d(x, kernel_size, stride, padding)
    ph, pw = _pair(padding)
    found = []
    if ph or pw:
        padded = oracle_max_pool2d(_padded_with_minus_inf(x, padding), kernel_size, stride)[1]
        found.append((INDICES_IN_PADDED_PLANE, padded))
    if np.all(x == np.round(x)) and np.abs(x).max() < 1e3:
        # on integer values, a tiny increasing offset makes the last of equal values the largest
        later_wins = x + 1e-6 * np.arange(h * w).reshape(h, w)
        found.append((LAST_MAXIMUM, oracle_max_pool2d(later_wins, kernel_size, stride, padding)[1]))
    found.append(("the indices count over the whole array: they restart at 0 in every (n, c) "
                  "plane (row * W + column)",
                  indices + (h * w * np.arange(n * c)).reshape(n, c, 1, 1)))
    found.append(("the indices are column-major: use row * W + column",
                  indices % w * h + indices // w))
    if stride is None:
        found.append((STRIDE_DEFAULTS_TO_ONE, oracle_max_pool2d(x, kernel_size, 1, padding)[1]))
    return found


def _mistakes_avg(x, kernel_size, stride=None, padding=0):
    kh, kw = _pair(kernel_size)
    found = [("the windows are summed: divide by k_h * k_w",
              oracle_avg_pool2d(x, kernel_size, stride, padding) * kh * kw)]
    if stride is None:
        found.append((STRIDE_DEFAULTS_TO_ONE, oracle_avg_pool2d(x, kernel_size, 1, padding)))
    if any(_pair(padding)):
        found.append((PADDING_NOT_COUNTED, oracle_avg_pool2d(x, kernel_size, stride, padding,
                                                             count_include_pad=False)))
    return found


def _mistakes_global(x):
    n, c = x.shape[:2]
    means = x.mean(axis=(2, 3))
    return [
        ("the result has shape (N, C): keep the pooled axes, (N, C, 1, 1), as "
         "F.adaptive_avg_pool2d(x, 1) does", means),
        ("the values are summed over H and W: average them", x.sum(axis=(2, 3), keepdims=True)),
        ("the average runs over the wrong axes: average each (n, c) plane over H and W only",
         np.broadcast_to(x.mean(axis=(0, 2, 3), keepdims=True), (n, c, 1, 1))),
    ]


# ----------------------------------------------------------------------------- random cases

def _rng(seed):
    return np.random.default_rng(seed)


def _pool_parameters(rng, index):
    """Random kernel, stride, padding for case ``index``: ints and pairs, stride None, overlaps."""
    kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
    if index % 2:
        kh = kw = min(kh, kw)
    kernel = kh if index % 2 else (kh, kw)
    kwargs = {}
    if index % 4 == 1:
        kwargs["stride"] = int(rng.integers(1, 4))
    elif index % 4 == 2:
        kwargs["stride"] = tuple(int(v) for v in rng.integers(1, 4, size=2))
    if index % 3:
        ph, pw = int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1))
        kwargs["padding"] = min(ph, pw) if index % 3 == 1 else (ph, pw)
    return kernel, kwargs


def pool_cases(seed, n_cases=24, *, integer_values=False):
    """Random ``Case((x, kernel_size), {stride?, padding?})`` for the pooling functions.

    Shapes up to (3, 3, 13, 13); kernel sizes and strides 1..4 as ints or (h, w) pairs, stride
    omitted (None) in a quarter of the cases, padding up to half the kernel. With
    ``integer_values`` the inputs are small integers (as float64), so windows hold ties.
    """
    rng = _rng(seed)
    cases = []
    for index in range(n_cases):
        kernel, kwargs = _pool_parameters(rng, index)
        kh, kw = _pair(kernel)
        ph, pw = _pair(kwargs.get("padding", 0))
        h = int(rng.integers(max(1, kh - 2 * ph), kh + 10))
        w = int(rng.integers(max(1, kw - 2 * pw), kw + 10))
        n, c = (int(v) for v in rng.integers(1, 4, size=2))
        if integer_values:
            x = rng.integers(-3, 3, size=(n, c, h, w)).astype(np.float64)
        else:
            x = rng.normal(size=(n, c, h, w))
        cases.append(Case((x, kernel), kwargs))
    return cases


def _call(name, case):
    return describe_call(name, case.args, case.kwargs)


# ----------------------------------------------------------------------------- checks

def _fail(call, got, message, likely=(), hint=""):
    """Raise ``CheckFailure``: ``call``, what differs, and the first matching likely cause."""
    for description, wrong in likely:
        if not hint and difference(got, np.asarray(wrong), check_dtype=False) is None:
            hint = f".\nLikely cause: {description}"
    raise CheckFailure(f"{call}: {message}{hint}")


def _check_max_pool2d_cases(fn, cases, name):
    for case in cases:
        want_out, want_indices = oracle_max_pool2d(*case.args, **case.kwargs)
        result = call_student(fn, case.args, case.kwargs, name=name, forbidden=LIBRARY_POOL)
        call = describe_call(name, case.args, case.kwargs)
        if not isinstance(result, tuple) or len(result) != 2:
            raise CheckFailure(f"{call} returned {type(result).__name__}; return a pair "
                               "(out, indices)")
        out, indices = result
        message = difference(out, want_out)
        if message is not None:
            _fail(f"{call}, out", out, message, _mistakes_max_values(*case.args, **case.kwargs))
        if type(indices) is np.ndarray and indices.dtype.kind not in "iu":
            raise CheckFailure(f"{call}: indices have dtype {indices.dtype}; return integers "
                               "(np.int64), the flat position row * W + column of each maximum")
        message = difference(indices, want_indices, rtol=0, atol=0, check_dtype=False)
        if message is not None:
            _fail(f"{call}, indices", indices, message,
                  _mistakes_max_indices(*case.args, **case.kwargs))


def check_max_pool2d(fn, seed=501, n_cases=24, *, ties=False, name="max_pool2d"):
    """``fn`` returns PyTorch's ``(out, indices)`` on random cases, from scratch.

    With ``ties``, inputs are small integers: many windows hold several equal maxima, and the
    index must be the first of them in scan order, as PyTorch's.
    """
    _check_max_pool2d_cases(fn, pool_cases(seed, n_cases, integer_values=ties), name)


def check_max_pool2d_padding_is_minus_inf(fn, seed=502, n_cases=12, name="max_pool2d"):
    """On all-negative inputs with padding, ``fn`` returns PyTorch's values and indices."""
    cases = [Case((-np.abs(case.args[0]) - 0.5, case.args[1]), case.kwargs)
             for case in pool_cases(seed, 4 * n_cases) if any(_pair(case.kwargs.get("padding", 0)))]
    _check_max_pool2d_cases(fn, cases[:n_cases], name)


def check_avg_pool2d(fn, seed=511, n_cases=24, name="avg_pool2d"):
    """``fn`` equals PyTorch's ``avg_pool2d`` (padding counted) on random cases, from scratch."""
    check_against_oracle(fn, oracle_avg_pool2d, pool_cases(seed, n_cases), name=name,
                         forbidden=LIBRARY_POOL, likely_mistakes=_mistakes_avg)


def _backward_cases(seed, n_cases, integer_values):
    """``(case, grad_out)`` pairs: half of the cases with overlapping windows (stride 1)."""
    rng = _rng(seed + 1)
    pairs = []
    for index, case in enumerate(pool_cases(seed, n_cases, integer_values=integer_values)):
        if index % 2 == 0 and max(_pair(case.args[1])) > 1:
            case = Case(case.args, dict(case.kwargs, stride=1))
        out = oracle_avg_pool2d(*case.args, **case.kwargs)
        pairs.append((case, rng.normal(size=out.shape)))
    return pairs


def _accumulation_hint(got, expected, counts):
    """``OVERWRITTEN`` as a likely cause if ``got`` differs from ``expected`` only where
    ``counts`` (how many windows send a gradient to each input) is above 1."""
    if type(got) is not np.ndarray or got.shape != expected.shape or got.dtype.kind != "f":
        return ""
    wrong = np.abs(got - expected) > 1e-9 + 1e-6 * np.abs(expected)
    if wrong.any() and np.all(counts[wrong] > 1):
        return f".\nLikely cause: {OVERWRITTEN}"
    return ""


def _describe_pooling(kernel, kwargs):
    settings = "".join(f", {key}={value!r}" for key, value in kwargs.items())
    return f"pooling with kernel_size={kernel!r}{settings}"


def check_max_pool2d_backward(fn, seed=521, n_cases=24, *, ties=True,
                              name="max_pool2d_backward"):
    """``fn(grad_out, indices, x.shape)`` equals autograd through PyTorch's max pooling.

    The indices are PyTorch's; half of the cases have overlapping windows (stride 1), where an
    input can be the maximum of several windows and must receive the sum of their gradients.
    With ``ties`` the inputs are small integers, so that windows hold equal maxima.
    """
    for case, grad_out in _backward_cases(seed, n_cases, ties):
        x, kernel = case.args
        _, indices = oracle_max_pool2d(x, kernel, **case.kwargs)
        expected = autograd_max_pool2d(x, grad_out, kernel, **case.kwargs)
        args = (grad_out, indices, tuple(int(v) for v in x.shape))
        got = call_student(fn, args, name=name, forbidden=LIBRARY_BACKWARD)
        message = difference(got, expected)
        if message is not None:
            counts = autograd_max_pool2d(x, np.ones_like(grad_out), kernel, **case.kwargs)
            _fail(f"{describe_call(name, args, {})} after {_describe_pooling(kernel, case.kwargs)}",
                  got, message, hint=_accumulation_hint(got, expected, counts))


def check_avg_pool2d_backward(fn, seed=531, n_cases=24, name="avg_pool2d_backward"):
    """``fn(grad_out, x.shape, kernel_size, stride, padding)`` equals autograd through PyTorch.

    Half of the cases have overlapping windows (stride 1).
    """
    for case, grad_out in _backward_cases(seed, n_cases, False):
        x, kernel = case.args
        expected = autograd_avg_pool2d(x, grad_out, kernel, **case.kwargs)
        args = (grad_out, tuple(int(v) for v in x.shape), kernel)
        got = call_student(fn, args, case.kwargs, name=name, forbidden=LIBRARY_BACKWARD)
        message = difference(got, expected)
        if message is None:
            continue
        kh, kw = _pair(kernel)
        likely = [(NOT_DIVIDED, expected * kh * kw)]
        if any(_pair(case.kwargs.get("padding", 0))):
            likely.append((PADDING_NOT_COUNTED, autograd_avg_pool2d(
                x, grad_out, kernel, count_include_pad=False, **case.kwargs)))
        counts = autograd_avg_pool2d(x, np.ones_like(grad_out), kernel, **case.kwargs) * kh * kw
        _fail(describe_call(name, args, case.kwargs), got, message, likely,
              hint=_accumulation_hint(got, expected, counts))


def check_global_avg_pool(fn, seed=541, n_cases=12, name="global_avg_pool"):
    """``fn`` equals ``F.adaptive_avg_pool2d(x, 1)``, shape ``(N, C, 1, 1)``, on random inputs."""
    rng = _rng(seed)
    cases = [Case((rng.normal(size=(2, 3, 1, 1)),)), Case((rng.normal(size=(1, 4, 7, 3)),))]
    cases += [Case((rng.normal(size=tuple(int(v) for v in rng.integers(1, 9, size=4))),))
              for _ in range(n_cases - 2)]
    check_against_oracle(fn, oracle_global_avg_pool, cases, name=name, forbidden=LIBRARY_POOL,
                         likely_mistakes=_mistakes_global)
    check_raises(fn, (rng.normal(size=(3, 4, 4)),), reason="x must be 4-D (N, C, H, W)", name=name)
    check_raises(fn, (np.zeros((2, 3, 0, 4)),), reason="an empty H x W plane has no average",
                 name=name)


def check_pool2d_rejects_bad_input(fn, name):
    """``fn(x, kernel_size, stride, padding)`` raises for impossible shapes and parameters."""
    x = _rng(7).normal(size=(2, 3, 5, 6))
    bad = [
        ((x[0], 2), {}, ValueError, "x must be 4-D (N, C, H, W)"),
        ((x, 0), {}, ValueError, "the kernel size must be at least 1"),
        ((x, 2), {"stride": 0}, ValueError, "the stride must be at least 1"),
        ((x, 2), {"padding": -1}, ValueError, "the padding cannot be negative"),
        ((x, 3), {"padding": 2}, ValueError,
         "the padding (2) is more than half the kernel (3): PyTorch requires padding <= "
         "kernel_size // 2"),
        ((x, (2, 2)), {"padding": (1, 2)}, ValueError,
         "the padding of the width (2) is more than half the kernel width (2)"),
        ((x, 7), {}, ValueError, "a 7x7 window does not fit in a 5x6 input without padding"),
        ((x, (2, 7)), {"padding": (1, 0)}, ValueError, "the window is wider than the input"),
        ((x, 1.5), {}, (TypeError, ValueError), "the kernel size must be an integer"),
        ((x, (2, 2, 2)), {}, (TypeError, ValueError), "kernel_size must be an int or a pair"),
    ]
    for args, kwargs, exception, reason in bad:
        check_raises(fn, args, kwargs, exception=exception, reason=reason, name=name)


def check_backward_rejects_bad_input(max_backward, avg_backward):
    """Both backward functions raise ``ValueError`` for inconsistent shapes and bad indices."""
    rng = _rng(8)
    grad_out = rng.normal(size=(2, 3, 2, 3))
    indices = np.zeros((2, 3, 2, 3), dtype=np.int64)
    shape = (2, 3, 4, 6)
    bad_max = [
        ((grad_out, indices[:, :, :1], shape), "grad_out and indices must have the same shape"),
        ((grad_out[0], indices[0], shape), "grad_out must be 4-D (N, C, H_out, W_out)"),
        ((grad_out, indices, (2, 3, 4)), "input_shape must be (N, C, H, W)"),
        ((grad_out, indices, (2, 4, 4, 6)), "input_shape has 4 channels but grad_out has 3"),
        ((grad_out, indices + 24, shape), "an index is 24 but a 4x6 plane has positions 0..23"),
        ((grad_out, indices - 1, shape), "an index is negative"),
    ]
    for args, reason in bad_max:
        check_raises(max_backward, args, reason=reason, name="max_pool2d_backward")
    check_raises(max_backward, (grad_out, indices.astype(np.float64), shape),
                 exception=(TypeError, ValueError), reason="indices must be integers",
                 name="max_pool2d_backward")
    bad_avg = [
        ((grad_out, (2, 3, 6, 6), 2), {}, "grad_out has 2 rows but 2x2 pooling of 6 rows gives 3"),
        ((grad_out, shape, 2), {"stride": 1}, "with stride 1 the pooled map is 3x5, not 2x3"),
        ((grad_out, shape, 2), {"padding": 2}, "the padding (2) is more than half the kernel (2)"),
        ((grad_out, (2, 3, 4), 2), {}, "input_shape must be (N, C, H, W)"),
        ((grad_out, (2, 3, 1, 6), 2), {}, "a 2x2 window does not fit in 1 row"),
        ((grad_out[0], shape, 2), {}, "grad_out must be 4-D (N, C, H_out, W_out)"),
    ]
    for args, kwargs, reason in bad_avg:
        check_raises(avg_backward, args, kwargs, reason=reason, name="avg_pool2d_backward")
