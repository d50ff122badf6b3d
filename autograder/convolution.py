"""Checks of notebook 01 (convolution vs cross-correlation).

Oracles are independent libraries: numpy (1-D), scipy.signal (2-D), PyTorch's
``torch.nn.functional.conv2d`` (batched, multi-channel), scipy.signal.windows and scipy.ndimage
(Gaussian and Sobel kernels). Every ``check_*`` function raises ``CheckFailure`` with a readable
message, or returns ``None``.
"""
import numpy as np
import scipy.ndimage
import scipy.signal
import scipy.signal.windows
import torch
import torch.nn.functional as F

from autograder.checking import (
    Case, CheckFailure, call_student, check_against_oracle, check_raises, difference,
)
from autograder.guards import count_student_lines

CORRELATION_IS_CONVOLUTION = (
    "this is a convolution (the kernel is flipped); the exercise asks for a cross-correlation"
)
CONVOLUTION_IS_CORRELATION = (
    "this is a cross-correlation: convolution flips the kernel (k[::-1], or k[::-1, ::-1] in 2-D)"
)

LIBRARY_1D = (
    np.correlate, np.convolve, scipy.signal.correlate, scipy.signal.convolve,
    scipy.signal.fftconvolve, scipy.signal.oaconvolve, scipy.ndimage.correlate1d,
    scipy.ndimage.convolve1d, scipy.ndimage.correlate, scipy.ndimage.convolve, F.conv1d,
)
LIBRARY_2D = (
    scipy.signal.correlate2d, scipy.signal.convolve2d, scipy.signal.correlate, scipy.signal.convolve,
    scipy.signal.fftconvolve, scipy.signal.oaconvolve, scipy.ndimage.correlate,
    scipy.ndimage.convolve, F.conv2d, torch.conv2d, F.conv1d, np.convolve, np.correlate,
)
LIBRARY_GAUSSIAN = (scipy.signal.windows.gaussian, scipy.ndimage.gaussian_filter)
LIBRARY_SOBEL = (scipy.ndimage.sobel, scipy.ndimage.prewitt)


# ----------------------------------------------------------------------------- oracles

def oracle_correlate1d(x, k):
    """numpy's 'valid' cross-correlation of 1-D arrays."""
    return np.correlate(x, k, mode="valid")


def oracle_convolve1d(x, k):
    """numpy's 'valid' convolution of 1-D arrays."""
    return np.convolve(x, k, mode="valid")


def oracle_correlate2d(image, kernel):
    """scipy's 'valid' 2-D cross-correlation."""
    return scipy.signal.correlate2d(image, kernel, mode="valid")


def oracle_convolve2d(image, kernel):
    """scipy's 'valid' 2-D convolution."""
    return scipy.signal.convolve2d(image, kernel, mode="valid")


def oracle_conv2d(x, w, b=None, stride=1, padding=0):
    """PyTorch's conv2d (a cross-correlation) on NCHW float64 arrays."""
    bias = None if b is None else torch.from_numpy(np.asarray(b))
    out = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), bias, stride=stride, padding=padding)
    return out.numpy()


def oracle_gaussian_kernel(size, sigma):
    """scipy's separable Gaussian window in 2-D, normalised to sum 1."""
    window = scipy.signal.windows.gaussian(size, std=sigma)
    return window[:, None] * window[None, :] / window.sum() ** 2


def worked_example():
    """The slides' multi-channel example, rebuilt consistently.

    Returns ``(x, w, b)``: ``x (1, 3, 5, 5)`` input, ``w (2, 3, 3, 3)`` two filters, ``b (2,)``
    biases, to be used with ``stride=2, padding=1``; the output is ``(1, 2, 3, 3)`` and its
    centre value for filter 0 is -2.
    """
    x = np.array([
        [[1, 0, 2, 0, 0], [0, 1, 1, 0, 0], [1, 0, 0, 2, 1], [2, 2, 0, 0, 0], [0, 2, 0, 2, 0]],
        [[1, 0, 2, 1, 0], [2, 1, 1, 1, 2], [2, 1, 0, 2, 1], [0, 1, 1, 0, 0], [2, 2, 1, 1, 1]],
        [[0, 1, 2, 1, 0], [0, 0, 0, 1, 1], [2, 0, 0, 2, 0], [2, 1, 2, 2, 0], [0, 0, 2, 0, 1]],
    ], dtype=np.float64)[None]
    w = np.array([
        [[[0, 0, -1], [-1, 1, 0], [-1, -1, 0]],
         [[0, 1, 0], [0, -1, 0], [1, 1, 0]],
         [[-1, 1, -1], [1, 0, 1], [-1, -1, -1]]],
        [[[0, 1, -1], [0, 0, -1], [1, 1, 1]],
         [[1, -1, -1], [-1, 0, 0], [-1, 1, 1]],
         [[-1, -1, 1], [-1, 0, -1], [0, 0, 1]]],
    ], dtype=np.float64)
    b = np.array([1.0, 0.0])
    return x, w, b


# ----------------------------------------------------------------------------- likely mistakes

def _mistakes_correlate1d(x, k):
    return [(CORRELATION_IS_CONVOLUTION, np.convolve(x, k, mode="valid"))]


def _mistakes_convolve1d(x, k):
    return [(CONVOLUTION_IS_CORRELATION, np.correlate(x, k, mode="valid"))]


def _transposed(image, kernel, oracle):
    if kernel.shape[0] == kernel.shape[1] or kernel.shape[1] > image.shape[0] \
            or kernel.shape[0] > image.shape[1]:
        return []
    return [("the kernel is transposed: its first axis runs over rows (height)",
             oracle(image, kernel.T))]


def _mistakes_correlate2d(image, kernel):
    return ([(CORRELATION_IS_CONVOLUTION, oracle_convolve2d(image, kernel))]
            + _transposed(image, kernel, oracle_correlate2d))


def _mistakes_convolve2d(image, kernel):
    return [
        (CONVOLUTION_IS_CORRELATION, oracle_correlate2d(image, kernel)),
        ("only the rows of the kernel are flipped: flip both axes, k[::-1, ::-1]",
         oracle_correlate2d(image, kernel[::-1, :])),
        ("only the columns of the kernel are flipped: flip both axes, k[::-1, ::-1]",
         oracle_correlate2d(image, kernel[:, ::-1])),
    ] + _transposed(image, kernel, oracle_convolve2d)


def _mistakes_conv2d(x, w, b=None, stride=1, padding=0):
    found = [(CORRELATION_IS_CONVOLUTION + " (PyTorch's conv2d does not flip)",
              oracle_conv2d(x, w[:, :, ::-1, ::-1].copy(), b, stride, padding))]
    if b is not None:
        found.append(("the bias is missing: add b[c_out] to every output of filter c_out",
                      oracle_conv2d(x, w, None, stride, padding)))
        found.append(("the bias is added once per input channel: add it once per output",
                      oracle_conv2d(x, w, b * x.shape[1], stride, padding)))
    found.append(("the input channels are averaged: a filter sums over all its input channels",
                  oracle_conv2d(x, w, None if b is None else b * x.shape[1], stride, padding)
                  / x.shape[1]))
    return found


def _mistakes_gaussian(size, sigma):
    g = scipy.signal.windows.gaussian(size, std=sigma)
    half = np.arange(size) - size // 2
    shifted = np.exp(-half ** 2 / (2 * sigma ** 2))
    return [
        ("the kernel is not normalised: divide by its sum so that it sums to 1", np.outer(g, g)),
        ("sigma is used as the variance: the exponent is -(x^2 + y^2) / (2 sigma^2)",
         oracle_gaussian_kernel(size, np.sqrt(sigma))),
        ("the centre is at size // 2: for even sizes it is (size - 1) / 2",
         np.outer(shifted, shifted) / np.outer(shifted, shifted).sum()),
    ]


# ----------------------------------------------------------------------------- random cases

def _rng(seed):
    return np.random.default_rng(seed)


def cases_1d(seed, n_cases=25):
    """Random ``(x, k)`` pairs, ``1 <= len(k) <= len(x) <= 20``, k of length 1 included."""
    rng = _rng(seed)
    cases = [Case((rng.normal(size=7), rng.normal(size=1)))]
    for _ in range(n_cases - 1):
        n = int(rng.integers(1, 21))
        cases.append(Case((rng.normal(size=n), rng.normal(size=int(rng.integers(1, n + 1))))))
    return cases


def cases_2d(seed, n_cases=25):
    """Random ``(image, kernel)`` pairs, non-square images and kernels, 1x1 and full-size kernels."""
    rng = _rng(seed)
    cases = [Case((rng.normal(size=(5, 6)), rng.normal(size=(1, 1)))),
             Case((rng.normal(size=(4, 3)), rng.normal(size=(4, 3))))]
    for _ in range(n_cases - 2):
        h, w = (int(v) for v in rng.integers(1, 13, size=2))
        kh, kw = int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1))
        cases.append(Case((rng.normal(size=(h, w)), rng.normal(size=(kh, kw)))))
    return cases


def cases_conv2d(seed, n_cases=20, *, strided):
    """Random NCHW cases for conv2d; with ``strided``, strides, paddings and (h, w) pairs."""
    rng = _rng(seed)
    cases = []
    for i in range(n_cases):
        n, c_in, c_out = (int(v) for v in rng.integers(1, 4, size=3))
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        kwargs = {}
        if strided:
            stride = tuple(int(v) for v in rng.integers(1, 4, size=2))
            padding = tuple(int(v) for v in rng.integers(0, 3, size=2))
            if i % 2:
                stride, padding = stride[0], padding[0]
                padding = min(padding, kh - 1, kw - 1) if i % 4 == 1 else padding
            kwargs = {"stride": stride, "padding": padding}
        h, w = int(rng.integers(kh, kh + 9)), int(rng.integers(kw, kw + 9))
        x = rng.normal(size=(n, c_in, h, w))
        weights = rng.normal(size=(c_out, c_in, kh, kw))
        bias = rng.normal(size=c_out) if i % 3 else None
        cases.append(Case((x, weights), {"b": bias, **kwargs}))
    return cases


# ----------------------------------------------------------------------------- checks

def check_correlate1d(fn, seed=101, n_cases=25):
    """``correlate1d`` equals numpy's 'valid' correlation on random cases, from scratch."""
    check_against_oracle(fn, oracle_correlate1d, cases_1d(seed, n_cases), name="correlate1d",
                         forbidden=LIBRARY_1D, likely_mistakes=_mistakes_correlate1d)


def check_convolve1d(fn, seed=102, n_cases=25):
    """``convolve1d`` equals numpy's 'valid' convolution on random cases, from scratch."""
    check_against_oracle(fn, oracle_convolve1d, cases_1d(seed, n_cases), name="convolve1d",
                         forbidden=LIBRARY_1D, likely_mistakes=_mistakes_convolve1d)


def check_correlate2d(fn, seed=201, n_cases=25):
    """``correlate2d`` equals scipy's 'valid' correlate2d on random cases, from scratch."""
    check_against_oracle(fn, oracle_correlate2d, cases_2d(seed, n_cases), name="correlate2d",
                         forbidden=LIBRARY_2D, likely_mistakes=_mistakes_correlate2d)


def check_convolve2d(fn, seed=202, n_cases=25):
    """``convolve2d`` equals scipy's 'valid' convolve2d on random cases, from scratch."""
    check_against_oracle(fn, oracle_convolve2d, cases_2d(seed, n_cases), name="convolve2d",
                         forbidden=LIBRARY_2D, likely_mistakes=_mistakes_convolve2d)


def check_conv2d(fn, seed=301, n_cases=20, *, strided=False, name="conv2d"):
    """``fn`` equals ``torch.nn.functional.conv2d`` on random NCHW cases, from scratch."""
    check_against_oracle(fn, oracle_conv2d, cases_conv2d(seed, n_cases, strided=strided),
                         name=name, forbidden=LIBRARY_2D, likely_mistakes=_mistakes_conv2d)


def check_conv2d_rejects_bad_input(fn, name="conv2d"):
    """``fn`` raises ``ValueError``/``TypeError`` for impossible shapes and parameters."""
    rng = _rng(7)
    x, w, b = rng.normal(size=(2, 3, 6, 6)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    bad = [
        ((x[0], w), {}, ValueError, "x must be 4-D (N, C_in, H, W)"),
        ((x, w[0]), {}, ValueError, "w must be 4-D (C_out, C_in, K_h, K_w)"),
        ((x, rng.normal(size=(4, 2, 3, 3))), {}, ValueError,
         "x has 3 channels but w expects 2"),
        ((x, w), {"b": rng.normal(size=3)}, ValueError, "b must have shape (C_out,) = (4,)"),
        ((x, w), {"stride": 0}, ValueError, "the stride must be at least 1"),
        ((x, w), {"padding": -1}, ValueError, "the padding cannot be negative"),
        ((x, rng.normal(size=(4, 3, 9, 3))), {}, ValueError,
         "a 9x3 kernel does not fit in a 6x6 input with padding 0"),
        ((x, w), {"stride": 1.5}, TypeError, "the stride must be an integer"),
    ]
    for args, kwargs, exception, reason in bad:
        check_raises(fn, args, kwargs, exception=exception, reason=reason, name=name)


def check_rejects_bad_1d_2d_input(correlate1d, convolve1d, correlate2d, convolve2d):
    """The 1-D and 2-D functions raise ``ValueError`` for impossible shapes."""
    rng = _rng(8)
    for fn in (correlate1d, convolve1d):
        check_raises(fn, (rng.normal(size=3), rng.normal(size=4)), reason="the kernel is longer "
                     "than the signal: a 'valid' output would be empty")
        check_raises(fn, (rng.normal(size=(3, 3)), rng.normal(size=2)),
                     reason="x must be 1-D")
        check_raises(fn, (rng.normal(size=3), np.zeros(0)), reason="the kernel is empty")
    for fn in (correlate2d, convolve2d):
        check_raises(fn, (rng.normal(size=(4, 4)), rng.normal(size=(5, 2))),
                     reason="the kernel is taller than the image")
        check_raises(fn, (rng.normal(size=(4, 4)), rng.normal(size=(2, 5))),
                     reason="the kernel is wider than the image")
        check_raises(fn, (rng.normal(size=4), rng.normal(size=(2, 2))),
                     reason="the image must be 2-D (H, W)")


def check_vectorized(fn, name="conv2d_im2col"):
    """``fn`` is correct and runs no Python loop over output pixels.

    The number of Python lines it executes must not grow with the number of output pixels.
    """
    rng = _rng(9)
    w = rng.normal(size=(3, 2, 3, 3))
    sizes = {}
    for side in (6, 18):
        x = rng.normal(size=(2, 2, side, side))
        check_against_oracle(fn, oracle_conv2d, [Case((x, w))], name=name, forbidden=LIBRARY_2D)
        (_, lines) = count_student_lines(fn, x.copy(), w.copy())
        sizes[(side - 2) ** 2] = lines
    (small, few), (large, many) = sorted(sizes.items())
    if many > few + 40:
        raise CheckFailure(
            f"{name} executed {few} Python lines for {small} output pixels and {many} for {large}: "
            "it loops over output positions in Python. Gather all patches at once (im2col: one "
            "column per output pixel, one row per kernel weight) and use one matrix product."
        )


def check_gaussian_kernel(fn, seed=401, n_cases=20):
    """``gaussian_kernel`` equals the normalised outer product of scipy's Gaussian window."""
    rng = _rng(seed)
    cases = [Case((1, 1.0)), Case((4, 1.5))]
    cases += [Case((int(rng.integers(1, 16)), float(rng.uniform(0.3, 5.0))))
              for _ in range(n_cases - 2)]
    check_against_oracle(fn, oracle_gaussian_kernel, cases, name="gaussian_kernel",
                         forbidden=LIBRARY_GAUSSIAN, likely_mistakes=_mistakes_gaussian)
    check_raises(fn, (0, 1.0), reason="the size must be at least 1", name="gaussian_kernel")
    check_raises(fn, (3, 0.0), reason="sigma must be positive", name="gaussian_kernel")


def check_sobel_kernels(fn, seed=501):
    """Correlating with ``gx``/``gy`` equals ``scipy.ndimage.sobel`` along x/y away from borders."""
    result = call_student(fn, (), name="sobel_kernels", forbidden=LIBRARY_SOBEL)
    if not isinstance(result, tuple) or len(result) != 2:
        raise CheckFailure("sobel_kernels() must return a pair (gx, gy)")
    image = _rng(seed).normal(size=(12, 15))
    for label, kernel, axis, other in (("gx", result[0], 1, result[1]),
                                       ("gy", result[1], 0, result[0])):
        if type(kernel) is not np.ndarray or kernel.shape != (3, 3):
            raise CheckFailure(f"{label} must be a numpy.ndarray of shape (3, 3)")
        expected = scipy.ndimage.sobel(image, axis=axis)[1:-1, 1:-1]
        got = scipy.signal.correlate2d(image, kernel, mode="valid")
        message = difference(got, expected, check_dtype=False)
        if message is None:
            continue
        hint = ""
        if difference(got, -expected, check_dtype=False) is None:
            hint = (" Likely cause: the sign is flipped (this is the convolution kernel): "
                    f"{label} must respond positively where intensity grows along "
                    f"{'x (columns)' if axis == 1 else 'y (rows)'}.")
        elif difference(scipy.signal.correlate2d(image, other, mode="valid"), expected,
                        check_dtype=False) is None:
            hint = " Likely cause: gx and gy are swapped."
        raise CheckFailure(f"correlating an image with {label}: {message}.{hint}")
