"""Checks of notebook 05 (pooling).

Oracles are PyTorch's: ``torch.nn.functional.max_pool2d(..., return_indices=True)``,
``avg_pool2d`` (its defaults: zero padding counted in the average, floor output size),
``adaptive_avg_pool2d(x, 1)``, and autograd through them for the backward passes; the wrong
answers of likely mistakes come from the same calls with changed arguments, or from arithmetic on
their results. Every ``check_*`` function raises ``CheckFailure`` with a readable message, or
returns ``None``. Randomised checks take ``seed=None``: hidden tests then draw from the grading
run's stream (``checking.make_rng``).
"""
import numpy as np
import scipy.ndimage
import torch
import torch.nn.functional as F

from autograder.checking import (
    Case, CheckFailure, assert_close, call_student, check_accepts, check_against_oracle, check_raises, describe_call,
    describe_type, difference, make_rng,
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


SQUARE_KERNEL = ("the window is divided by k_h ** 2 (a square window assumed): divide by "
                 "k_h * k_w")
SUMMED = "the windows are summed: divide by k_h * k_w"
ONE_SIDED_PADDING = ("the padding is on one side only: pad p_h rows above and below and p_w "
                     "columns left and right")
OFFSET_IGNORES_PADDING = ("the indices ignore the padding offset: the window of output (i, j) "
                          "starts at row i * s_h - p_h, column j * s_w - p_w of the unpadded plane")
INDICES_COLUMN_MAJOR = "the indices are column-major: use row * W + column"
ONE_PLANE = ("every plane's gradient goes to the first plane: the indices count positions "
             "inside each (n, c) plane, so scatter plane by plane")
GRAD_IGNORED = ("grad_out is ignored: each switch receives the gradient grad_out[n, c, i, j] of its "
                "window, not 1")
READ_COLUMN_MAJOR = ("the indices are read column-major: index p is row p // W, column p % W "
                     "(row * W + column)")
INDEX_BOUND = ("the bound check of the indices is missing or off by one: positions run from 0 to "
               "H W - 1, so an index equal to H W is out of range")
WRONG_CORNER = ("the padded gradient is cropped at the wrong corner: drop p_h rows and p_w columns "
                "on each side, grad_pad[:, :, p_h:p_h + H, p_w:p_w + W]")


def _tensor(array):
    return torch.from_numpy(np.ascontiguousarray(array))


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _settings(case):
    """A pooling case's arguments after x, as keywords: kernel_size, and stride and padding if given."""
    return dict(case.kwargs, kernel_size=case.args[1])


# ----------------------------------------------------------------------------- PyTorch's results

def _torch_max_pool(x, settings):
    """PyTorch's max pooling of NCHW ``x``: ``(out, indices)`` as numpy arrays (indices int64)."""
    out, indices = F.max_pool2d(_tensor(x), return_indices=True, **settings)
    return out.numpy(), indices.numpy()


def _torch_avg_pool(x, settings, count_include_pad=True):
    """PyTorch's average pooling of NCHW ``x`` (by default zero padding counted, floor mode)."""
    return F.avg_pool2d(_tensor(x), count_include_pad=count_include_pad, **settings).numpy()


def _autograd_max_pool(x, grad_out, settings):
    """dL/dx by autograd through PyTorch's max pooling, for ``dL/d(out) = grad_out``."""
    leaf = _tensor(x).clone().requires_grad_(True)
    F.max_pool2d(leaf, **settings).backward(_tensor(grad_out))
    return leaf.grad.numpy()


def _autograd_avg_pool(x, grad_out, settings, count_include_pad=True):
    """dL/dx by autograd through PyTorch's average pooling, for ``dL/d(out) = grad_out``."""
    leaf = _tensor(x).clone().requires_grad_(True)
    F.avg_pool2d(leaf, count_include_pad=count_include_pad, **settings).backward(_tensor(grad_out))
    return leaf.grad.numpy()


# ----------------------------------------------------------------------------- likely mistakes

def _padded(x, padding, value=0.0):
    ph, pw = _pair(padding)
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def _without_padding(settings):
    return dict(settings, padding=0)


def _mistakes_max_values(x, settings):
    found = []
    if settings.get("stride") is None:
        found.append((STRIDE_DEFAULTS_TO_ONE, _torch_max_pool(x, dict(settings, stride=1))[0]))
    if any(_pair(settings.get("padding", 0))):
        found.append((PADDING_AS_ZEROS, _torch_max_pool(_padded(x, settings["padding"]),
                                                        _without_padding(settings))[0]))
    return found


def _mistakes_max_indices(x, settings):
    n, c, h, w = x.shape
    _, indices = _torch_max_pool(x, settings)
    ph, pw = _pair(settings.get("padding", 0))
    found = []
    if ph or pw:
        padded = _torch_max_pool(_padded(x, (ph, pw), -np.inf), _without_padding(settings))[1]
        found += [(INDICES_IN_PADDED_PLANE, padded),
                  (OFFSET_IGNORES_PADDING, indices + ph * w + pw),
                  (OFFSET_IGNORES_PADDING, indices + ph * w)]
    if np.all(x == np.round(x)) and np.abs(x).max() < 1e3:
        # on integer values, a tiny increasing offset makes the last of equal values the largest
        later_wins = x + 1e-6 * np.arange(h * w).reshape(h, w)
        found.append((LAST_MAXIMUM, _torch_max_pool(later_wins, settings)[1]))
    found.append(("the indices count over the whole array: they restart at 0 in every (n, c) "
                  "plane (row * W + column)",
                  indices + (h * w * np.arange(n * c)).reshape(n, c, 1, 1)))
    found.append((INDICES_COLUMN_MAJOR, indices % w * h + indices // w))
    if settings.get("stride") is None:
        found.append((STRIDE_DEFAULTS_TO_ONE, _torch_max_pool(x, dict(settings, stride=1))[1]))
    return found


def _mistakes_avg(x, settings):
    kh, kw = _pair(settings["kernel_size"])
    right = _torch_avg_pool(x, settings)
    found = [(SUMMED, right * kh * kw)]
    if kh != kw:
        found.append((SQUARE_KERNEL, right * kw / kh))
    if settings.get("stride") is None:
        found.append((STRIDE_DEFAULTS_TO_ONE, _torch_avg_pool(x, dict(settings, stride=1))))
    ph, pw = _pair(settings.get("padding", 0))
    if ph or pw:
        found.append((PADDING_NOT_COUNTED, _torch_avg_pool(x, settings, count_include_pad=False)))
        one_sided = np.pad(x, ((0, 0), (0, 0), (0, 2 * ph), (0, 2 * pw)))
        found.append((ONE_SIDED_PADDING, _torch_avg_pool(one_sided, _without_padding(settings))))
    return found


def _mistakes_global(x):
    n, c = x.shape[:2]
    means = x.mean(axis=(2, 3))
    return [
        ("the result has shape (N, C): keep the pooled axes, (N, C, 1, 1), as "
         "F.adaptive_avg_pool2d(x, 1) does", means),
        ("the values are summed over H and W: average them", x.sum(axis=(2, 3), keepdims=True)),
        ("the average runs over the batch too: average each (n, c) plane over H and W only",
         np.broadcast_to(x.mean(axis=(0, 2, 3), keepdims=True), (n, c, 1, 1))),
        ("the average runs over the wrong axes: average each (n, c) plane over H and W (axes 2 "
         "and 3)", x.mean(axis=(1, 2), keepdims=True)),
    ]


# ----------------------------------------------------------------------------- random cases

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


def pool_cases(rng, n_cases=24, *, integer_values=False):
    """Random ``Case((x, kernel_size), {stride?, padding?})`` for the pooling functions.

    Shapes up to (3, 3, 13, 13); kernel sizes and strides 1..4 as ints or (h, w) pairs, stride
    omitted (None) in a quarter of the cases, padding up to half the kernel. With
    ``integer_values`` the inputs are small integers (as float64), so windows hold ties.
    """
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


# ----------------------------------------------------------------------------- checks

# The invalid-input check of the test cells: the failure names ``cause`` as the likely mistake.
check_rejects = check_raises


def _fail(call, got, message, likely=(), hint=""):
    """Raise ``CheckFailure``: ``call``, what differs, and the first likely cause whose wrong
    answer ``got`` equals, else ``hint``."""
    for description, wrong in likely:
        if difference(got, np.asarray(wrong), check_dtype=False) is None:
            hint = f".\nLikely cause: {description}"
            break
    raise CheckFailure(f"{call}: {message}{hint}")


def _check_max_pool2d_cases(fn, cases, name):
    for case in cases:
        x, settings = case.args[0], _settings(case)
        want_out, want_indices = _torch_max_pool(x, settings)
        result = call_student(fn, case.args, case.kwargs, name=name, forbidden=LIBRARY_POOL)
        call = describe_call(name, case.args, case.kwargs)
        if not isinstance(result, tuple) or len(result) != 2:
            raise CheckFailure(f"{call} returned {describe_type(result)}; return a pair "
                               "(out, indices)")
        out, indices = result
        message = difference(out, want_out)
        if message is not None:
            _fail(f"{call}, out", out, message, _mistakes_max_values(x, settings))
        if type(indices) is np.ndarray and indices.dtype.kind not in "iu":
            raise CheckFailure(f"{call}: indices have dtype {indices.dtype}; return integers "
                               "(np.int64), the flat position row * W + column of each maximum")
        message = difference(indices, want_indices, rtol=0, atol=0, check_dtype=False)
        if message is not None:
            _fail(f"{call}, indices", indices, message, _mistakes_max_indices(x, settings))


def check_max_pool2d(fn, seed=None, n_cases=24, *, ties=False, name="max_pool2d"):
    """``fn`` returns PyTorch's ``(out, indices)`` on random cases, from scratch.

    With ``ties``, inputs are small integers: many windows hold several equal maxima, and the
    index must be the first of them in scan order, as PyTorch's.
    """
    _check_max_pool2d_cases(fn, pool_cases(make_rng(seed), n_cases, integer_values=ties), name)


def check_max_pool2d_padding_is_minus_inf(fn, seed=None, n_cases=12, name="max_pool2d"):
    """On all-negative inputs with padding, ``fn`` returns PyTorch's values and indices."""
    cases = [Case((-np.abs(case.args[0]) - 0.5, case.args[1]), case.kwargs)
             for case in pool_cases(make_rng(seed), 4 * n_cases)
             if any(_pair(case.kwargs.get("padding", 0)))]
    _check_max_pool2d_cases(fn, cases[:n_cases], name)


def check_avg_pool2d(fn, seed=None, n_cases=24, name="avg_pool2d"):
    """``fn`` equals PyTorch's ``avg_pool2d`` (padding counted) on random cases, from scratch."""
    def oracle(x, kernel_size, **kwargs):
        return _torch_avg_pool(x, dict(kwargs, kernel_size=kernel_size))

    def mistakes(x, kernel_size, **kwargs):
        return _mistakes_avg(x, dict(kwargs, kernel_size=kernel_size))

    check_against_oracle(fn, oracle, pool_cases(make_rng(seed), n_cases), name=name,
                         forbidden=LIBRARY_POOL, likely_mistakes=mistakes)


def _backward_cases(rng, n_cases, integer_values):
    """``(case, grad_out)`` pairs: half of the cases with overlapping windows (stride 1)."""
    pairs = []
    for index, case in enumerate(pool_cases(rng, n_cases, integer_values=integer_values)):
        if index % 2 == 0 and max(_pair(case.args[1])) > 1:
            case = Case(case.args, dict(case.kwargs, stride=1))
        out = _torch_avg_pool(case.args[0], _settings(case))
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


def _describe_pooling(settings):
    return "pooling with " + ", ".join(f"{key}={value!r}" for key, value in settings.items())


def check_max_pool2d_backward(fn, seed=None, n_cases=24, *, ties=True,
                              name="max_pool2d_backward"):
    """``fn(grad_out, indices, x.shape)`` equals autograd through PyTorch's max pooling.

    The indices are PyTorch's; half of the cases have overlapping windows (stride 1), where an
    input can be the maximum of several windows and must receive the sum of their gradients.
    With ``ties`` the inputs are small integers, so that windows hold equal maxima.
    """
    for case, grad_out in _backward_cases(make_rng(seed), n_cases, ties):
        x, settings = case.args[0], _settings(case)
        _, indices = _torch_max_pool(x, settings)
        expected = _autograd_max_pool(x, grad_out, settings)
        args = (grad_out, indices, tuple(int(v) for v in x.shape))
        got = call_student(fn, args, name=name, forbidden=LIBRARY_BACKWARD)
        message = difference(got, expected)
        if message is not None:
            counts = _autograd_max_pool(x, np.ones_like(grad_out), settings)
            n, c, h, w = x.shape
            one_plane = np.zeros((n * c, h * w))
            one_plane[0] = expected.reshape(n * c, h * w).sum(axis=0)
            likely = [(GRAD_IGNORED, counts), (ONE_PLANE, one_plane.reshape(x.shape))]
            if h == w:
                likely.append((READ_COLUMN_MAJOR, expected.transpose(0, 1, 3, 2)))
            _fail(f"{describe_call(name, args, {})} after {_describe_pooling(settings)}",
                  got, message, likely, hint=_accumulation_hint(got, expected, counts))


def check_avg_pool2d_backward(fn, seed=None, n_cases=24, name="avg_pool2d_backward"):
    """``fn(grad_out, x.shape, kernel_size, stride, padding)`` equals autograd through PyTorch.

    Half of the cases have overlapping windows (stride 1). A function that fails on a case
    without a stride but passes it with ``stride=kernel_size`` has the wrong default stride.
    """
    for case, grad_out in _backward_cases(make_rng(seed), n_cases, False):
        x, settings = case.args[0], _settings(case)
        expected = _autograd_avg_pool(x, grad_out, settings)
        args = (grad_out, tuple(int(v) for v in x.shape), settings["kernel_size"])
        try:
            got = call_student(fn, args, case.kwargs, name=name, forbidden=LIBRARY_BACKWARD)
        except CheckFailure as failure:  # raised by the student's function: is it the stride?
            if ("stride" not in case.kwargs and failure.__cause__ is not None and _passes_with(
                    fn, args, dict(case.kwargs, stride=settings["kernel_size"]), expected)):
                raise CheckFailure(f"{failure}.\nLikely cause: {STRIDE_DEFAULTS_TO_ONE}") from None
            raise
        message = difference(got, expected)
        if message is None:
            continue
        kh, kw = _pair(settings["kernel_size"])
        ph, pw = _pair(settings.get("padding", 0))
        likely = [(NOT_DIVIDED, expected * kh * kw), (SQUARE_KERNEL, expected * kw / kh)]
        if ph or pw:
            likely.append((PADDING_NOT_COUNTED, _autograd_avg_pool(
                x, grad_out, settings, count_include_pad=False)))
            whole = _autograd_avg_pool(_padded(x, (ph, pw)), grad_out, _without_padding(settings))
            likely.append((WRONG_CORNER, whole[:, :, :x.shape[2], :x.shape[3]]))
        counts = _autograd_avg_pool(x, np.ones_like(grad_out), settings) * kh * kw
        _fail(describe_call(name, args, case.kwargs), got, message, likely,
              hint=_accumulation_hint(got, expected, counts))


def _passes_with(fn, args, kwargs, expected):
    """Whether ``fn(*args, **kwargs)`` returns ``expected``: one more call, for a diagnosis."""
    try:
        got = call_student(fn, args, kwargs, forbidden=LIBRARY_BACKWARD)
    except CheckFailure:
        return False
    return difference(got, expected) is None


def check_global_avg_pool(fn, seed=None, n_cases=12, name="global_avg_pool"):
    """``fn`` equals ``F.adaptive_avg_pool2d(x, 1)``, shape ``(N, C, 1, 1)``, on random inputs."""
    rng = make_rng(seed)
    cases = [Case((rng.normal(size=(2, 3, 1, 1)),)), Case((rng.normal(size=(1, 4, 7, 3)),))]
    cases += [Case((rng.normal(size=tuple(int(v) for v in rng.integers(1, 9, size=4))),))
              for _ in range(n_cases - 2)]

    def oracle(x):
        return F.adaptive_avg_pool2d(_tensor(x), 1).numpy()

    check_against_oracle(fn, oracle, cases, name=name, forbidden=LIBRARY_POOL,
                         likely_mistakes=_mistakes_global)
    check_raises(fn, (rng.normal(size=(3, 4, 4)),), reason="x must be 4-D (N, C, H, W)", name=name)
    check_rejects(fn, (np.zeros((2, 3, 0, 4)),), reason="an empty H x W plane has no average",
                  name=name, cause="an empty plane is not rejected (its mean is NaN, with a "
                                   "warning): raise ValueError when H or W is 0")


def check_pool2d_rejects_bad_input(fn, name):
    """``fn(x, kernel_size, stride, padding)`` raises for impossible shapes and parameters."""
    x = np.random.default_rng(7).normal(size=(2, 3, 5, 6))
    check_accepts(fn, (x, 2), name=name)
    half = ("the padding is compared with the kernel, not with half of it: PyTorch requires "
            "padding <= kernel_size // 2 on each axis")
    bad = [
        ((x[0], 2), {}, ValueError, "x must be 4-D (N, C, H, W)", None),
        ((x, 0), {}, ValueError, "the kernel size must be at least 1", None),
        ((x, 2), {"stride": 0}, ValueError, "the stride must be at least 1", None),
        ((x, 2), {"padding": -1}, ValueError, "the padding cannot be negative", None),
        ((x, 3), {"padding": 2}, ValueError,
         "the padding (2) is more than half the kernel (3): PyTorch requires padding <= "
         "kernel_size // 2", half),
        ((x, (2, 2)), {"padding": (1, 2)}, ValueError,
         "the padding of the width (2) is more than half the kernel width (2)", half),
        ((x, 7), {}, ValueError, "a 7x7 window does not fit in a 5x6 input without padding", None),
        ((x, (2, 7)), {"padding": (1, 0)}, ValueError, "the window is wider than the input", None),
        ((x, 1.5), {}, (TypeError, ValueError), "the kernel size must be an integer", None),
        ((x, (2, 2, 2)), {}, (TypeError, ValueError), "kernel_size must be an int or a pair", None),
    ]
    for args, kwargs, exception, reason, cause in bad:
        if cause is None:
            check_raises(fn, args, kwargs, exception=exception, reason=reason, name=name)
        else:
            check_rejects(fn, args, kwargs, exception=exception, reason=reason, cause=cause,
                          name=name)


def check_backward_rejects_bad_input(max_backward, avg_backward):
    """Both backward functions raise ``ValueError`` for inconsistent shapes and bad indices."""
    rng = np.random.default_rng(8)
    grad_out = rng.normal(size=(2, 3, 2, 3))
    indices = np.zeros((2, 3, 2, 3), dtype=np.int64)
    shape = (2, 3, 4, 6)
    # A function that raises for every input must not earn this check: first a valid call.
    x = rng.normal(size=shape)
    settings = {"kernel_size": 2, "stride": 2, "padding": 0}
    _, valid_indices = _torch_max_pool(x, settings)
    for function, args, kwargs, expected in [
            (max_backward, (grad_out, valid_indices, shape), {},
             _autograd_max_pool(x, grad_out, settings)),
            (avg_backward, (grad_out, shape, 2), {}, _autograd_avg_pool(x, grad_out, settings))]:
        name = "max_pool2d_backward" if function is max_backward else "avg_pool2d_backward"
        assert_close(call_student(function, args, kwargs, name=name, forbidden=LIBRARY_BACKWARD),
                     expected, what=f"{name} on valid input (2x2 windows, stride 2)")
    bad_max = [
        ((grad_out, indices[:, :, :1], shape), "grad_out and indices must have the same shape"),
        ((grad_out[0], indices[0], shape), "grad_out must be 4-D (N, C, H_out, W_out)"),
        ((grad_out, indices, (2, 3, 4)), "input_shape must be (N, C, H, W)"),
        ((grad_out, indices, (2, 4, 4, 6)), "input_shape has 4 channels but grad_out has 3"),
    ]
    for args, reason in bad_max:
        check_raises(max_backward, args, reason=reason, name="max_pool2d_backward")
    check_rejects(max_backward, (grad_out, indices + 24, shape),
                  reason="an index is 24 but a 4x6 plane has positions 0..23",
                  cause=INDEX_BOUND, name="max_pool2d_backward")
    check_raises(max_backward, (grad_out, indices - 1, shape), reason="an index is negative",
                 name="max_pool2d_backward")
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

