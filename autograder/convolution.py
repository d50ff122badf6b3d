"""Checks of notebook 01 (convolution vs cross-correlation): what students receive.

Oracles are public libraries only: NumPy (1-D), scipy.signal (2-D), PyTorch's
``torch.nn.functional.conv2d`` (batched, multi-channel), scipy.ndimage (Sobel). Wrong answers that
name a likely mistake are computed with the same libraries or typed in by hand. The hidden tests'
Gaussian oracle lives with the grader (``autograder.grader.checks.convolution``).

Every function the notebook asks for is written from scratch, so every check that gives it points
also watches that it does not call the library function it re-implements. Randomised checks take
``seed=None`` in hidden tests (the grading run's seed) and a fixed seed in visible ones. Every
``check_*`` function raises ``CheckFailure`` with a readable message, or returns ``None``.
"""
import numpy as np
import scipy.ndimage
import scipy.signal
import scipy.signal.windows
import torch
import torch.nn.functional as F

from autograder.checking import (
    Case, CheckFailure, assert_close, call_student, check_against_oracle, check_raises, difference,
    make_rng,
)
from autograder.guards import count_student_lines

LIKELY = "Likely cause: "

# ----------------------------------------------------------------------------- likely mistakes, named

CORRELATION_IS_CONVOLUTION = (
    "this is a convolution (the kernel is flipped); the exercise asks for a cross-correlation"
)
CONVOLUTION_IS_CORRELATION = (
    "this is a cross-correlation: convolution flips the kernel (k[::-1], or k[::-1, ::-1] in 2-D)"
)
ONE_SAMPLE_SHORT = "the output is one sample short: a 'valid' output has N - K + 1 samples"
OUTPUT_REVERSED = "the output is reversed: convolution flips the kernel, not the result"
ONE_ROW_AND_COLUMN_SHORT = (
    "the output is one row and one column short: a 'valid' output is (H - K_h + 1) x (W - K_w + 1)"
)
KERNEL_TRANSPOSED = "the kernel is transposed: its first axis runs over rows (height)"
ROWS_ONLY = "only the rows of the kernel are flipped: flip both axes, k[::-1, ::-1]"
COLUMNS_ONLY = "only the columns of the kernel are flipped: flip both axes, k[::-1, ::-1]"
TRANSPOSED_NOT_ROTATED = (
    "the kernel is transposed (k.T), not rotated by 180 degrees: flip both axes, k[::-1, ::-1]"
)

NOT_PYTORCH = CORRELATION_IS_CONVOLUTION + " (PyTorch's conv2d does not flip)"
BIAS_MISSING = "the bias is missing: add b[c_out] to every output of filter c_out"
BIAS_PER_INPUT_CHANNEL = "the bias is added once per input channel: add it once per output"
CHANNELS_AVERAGED = "the input channels are averaged: a filter sums over all its input channels"
PADDING_ONE_SIDE = (
    "all the padding is on one side (bottom and right): pad P zeros on each side of the image"
)
PADDING_MISSING = "the padding is missing: add P zeros on each side before sliding the kernel"
PADDING_COUNTED_ONCE = (
    "the padding is counted once: padding=P adds P zeros on each side, so the padded input has "
    "H + 2P rows and H_out = (H + 2P - K_h) // S + 1"
)
STRIDE_IGNORED = (
    "the stride is not applied: the kernel moves S pixels at a time, H_out = (H + 2P - K_h) // S + 1"
)
NO_PLUS_ONE = (
    "the output size misses its + 1 (the first position): H_out = (H + 2P - K_h) // S + 1"
)
SIZE_FORMULA = (
    "the values are right but there are too few of them: the output-size formula is off. "
    "H_out = (H + 2P - K_h) // S + 1 counts the padding on both sides (2P) and the first "
    "position (+ 1)"
)
HEIGHT_WIDTH_SWAPPED = "the output's height and width are swapped: it is (N, C_out, H_out, W_out)"
COLUMN_ORDER = (
    "the columns and the rows of the weight matrix are flattened in different orders: flatten "
    "both in the order (C_in, K_h, K_w), as w.reshape(C_out, -1) does"
)
LOOPS_OVER_PIXELS = (
    "a Python loop over output positions. Gather all patches at once (im2col: one column per "
    "output pixel, one row per kernel weight) and use one matrix product."
)

GAUSSIAN_NOT_NORMALISED = "the kernel is not normalised: divide it by the sum of its weights"
SOBEL_SIGN_FLIPPED = (
    "the sign is flipped (this is the convolution kernel): gx must respond positively where the "
    "intensity grows to the right"
)
SOBEL_SWAPPED = "gx and gy are swapped: gx responds to changes along x (the columns)"
SOBEL_NO_SMOOTHING = (
    "there is no [1, 2, 1] smoothing across the difference (this is Prewitt's kernel)"
)
SOBEL_SCALED = "the kernel is divided by 8: Sobel's kernel has integer weights, as scipy.ndimage.sobel"

# ----------------------------------------------------------------------------- what is forbidden

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


# ----------------------------------------------------------------------------- oracles (libraries)

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
    out = F.conv2d(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(w)),
                   bias, stride=stride, padding=padding)
    return out.numpy()


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


# ----------------------------------------------------------------------------- wrong answers

def mistakes_correlate1d(x, k):
    """Known wrong answers of ``correlate1d(x, k)``."""
    return [(CORRELATION_IS_CONVOLUTION, np.convolve(x, k, mode="valid"))]


def mistakes_convolve1d(x, k):
    """Known wrong answers of ``convolve1d(x, k)``."""
    return [(CONVOLUTION_IS_CORRELATION, np.correlate(x, k, mode="valid")),
            (OUTPUT_REVERSED, np.convolve(x, k, mode="valid")[::-1])]


def _transposed(image, kernel, oracle):
    if kernel.shape[0] == kernel.shape[1] or kernel.shape[1] > image.shape[0] \
            or kernel.shape[0] > image.shape[1]:
        return []
    return [(KERNEL_TRANSPOSED, oracle(image, kernel.T))]


def mistakes_correlate2d(image, kernel):
    """Known wrong answers of ``correlate2d(image, kernel)``."""
    return ([(CORRELATION_IS_CONVOLUTION, oracle_convolve2d(image, kernel))]
            + _transposed(image, kernel, oracle_correlate2d))


def mistakes_convolve2d(image, kernel):
    """Known wrong answers of ``convolve2d(image, kernel)``."""
    found = [
        (CONVOLUTION_IS_CORRELATION, oracle_correlate2d(image, kernel)),
        (ROWS_ONLY, oracle_correlate2d(image, kernel[::-1, :])),
        (COLUMNS_ONLY, oracle_correlate2d(image, kernel[:, ::-1])),
    ]
    if kernel.shape[1] <= image.shape[0] and kernel.shape[0] <= image.shape[1]:
        found.append((TRANSPOSED_NOT_ROTATED, oracle_correlate2d(image, kernel.T)))
    return found


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def mistakes_conv2d(x, w, b=None, stride=1, padding=0):
    """Known wrong answers of ``conv2d(x, w, b, stride, padding)`` (and of ``conv2d_im2col``)."""
    c_out, c_in, kh, kw = w.shape
    ph, pw = _pair(padding)
    found = [(NOT_PYTORCH, oracle_conv2d(x, w[:, :, ::-1, ::-1].copy(), b, stride, padding))]
    if b is not None:
        found.append((BIAS_MISSING, oracle_conv2d(x, w, None, stride, padding)))
        found.append((BIAS_PER_INPUT_CHANNEL, oracle_conv2d(x, w, b * c_in, stride, padding)))
    found.append((CHANNELS_AVERAGED,
                  oracle_conv2d(x, w, None if b is None else b * c_in, stride, padding) / c_in))
    if ph or pw:
        one_side = np.pad(x, ((0, 0), (0, 0), (0, 2 * ph), (0, 2 * pw)))
        found.append((PADDING_ONE_SIDE, oracle_conv2d(one_side, w, b, stride, 0)))
        if x.shape[2] >= kh and x.shape[3] >= kw:
            found.append((PADDING_MISSING, oracle_conv2d(x, w, b, stride, 0)))
    if c_in > 1 and kh * kw > 1:
        # columns flattened (K_h, K_w, C_in) against weight rows flattened (C_in, K_h, K_w), and back
        found.append((COLUMN_ORDER, oracle_conv2d(
            x, w.reshape(c_out, kh, kw, c_in).transpose(0, 3, 1, 2).copy(), b, stride, padding)))
        found.append((COLUMN_ORDER, oracle_conv2d(
            x, w.transpose(0, 2, 3, 1).reshape(c_out, c_in, kh, kw).copy(), b, stride, padding)))
    return found


def conv2d_shape_cause(actual, expected, x_shape, w_shape, stride=1, padding=0):
    """``"\nLikely cause: ..."`` for an output ``actual`` of conv2d whose shape is wrong, or ``""``.

    If ``actual`` is the top-left corner of the right output ``expected``, only the output-size
    formula is wrong. Otherwise each spatial size is compared with the size a known mistake gives
    (padding counted once or missing, stride not applied, no + 1); all the mistakes that explain
    the shape are named.
    """
    n, _, h, width = x_shape
    c_out, _, kh, kw = w_shape
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    shape = tuple(actual.shape)
    if len(shape) != 4 or shape[:2] != expected.shape[:2] or shape == expected.shape:
        return ""
    if shape[2:] == expected.shape[:1:-1]:
        return f".\n{LIKELY}{HEIGHT_WIDTH_SWAPPED}"
    if shape[2] <= expected.shape[2] and shape[3] <= expected.shape[3] and difference(
            actual, expected[:, :, :shape[2], :shape[3]], check_dtype=False) is None:
        return f".\n{LIKELY}{SIZE_FORMULA}"

    def sizes(pad_h, pad_w, step_h, step_w, plus=1):
        return (h + pad_h - kh) // step_h + plus, (width + pad_w - kw) // step_w + plus

    right = sizes(2 * ph, 2 * pw, sh, sw)
    candidates = [(PADDING_COUNTED_ONCE, sizes(ph, pw, sh, sw)), (PADDING_MISSING, sizes(0, 0, sh, sw)),
                  (STRIDE_IGNORED, sizes(2 * ph, 2 * pw, 1, 1)),
                  (NO_PLUS_ONE, sizes(2 * ph, 2 * pw, sh, sw, plus=0))]
    named = [description for description, wrong in candidates
             if wrong != right and all(a in (r, m) for a, r, m in zip(shape[2:], right, wrong))]
    return f".\n{LIKELY}" + "; or ".join(named) if named else ""


# ----------------------------------------------------------------------------- random cases

def cases_1d(seed=None, n_cases=25):
    """Random ``(x, k)`` pairs, ``1 <= len(k) <= len(x) <= 20``, k of length 1 included."""
    rng = make_rng(seed)
    cases = [Case((rng.normal(size=7), rng.normal(size=1)))]
    for _ in range(n_cases - 1):
        n = int(rng.integers(1, 21))
        cases.append(Case((rng.normal(size=n), rng.normal(size=int(rng.integers(1, n + 1))))))
    return cases


def cases_2d(seed=None, n_cases=25):
    """Random ``(image, kernel)`` pairs, non-square images and kernels, 1x1 and full-size kernels."""
    rng = make_rng(seed)
    cases = [Case((rng.normal(size=(5, 6)), rng.normal(size=(1, 1)))),
             Case((rng.normal(size=(4, 3)), rng.normal(size=(4, 3))))]
    for _ in range(n_cases - 2):
        h, w = (int(v) for v in rng.integers(1, 13, size=2))
        kh, kw = int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1))
        cases.append(Case((rng.normal(size=(h, w)), rng.normal(size=(kh, kw)))))
    return cases


def cases_conv2d(seed=None, n_cases=20, *, strided):
    """Random NCHW cases for conv2d; with ``strided``, strides, paddings and (h, w) pairs."""
    rng = make_rng(seed)
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

def check_from_scratch(fn, args, library, *, name):
    """``fn(*args)`` runs without calling any of the ``library`` functions it re-implements."""
    call_student(fn, args, name=name, forbidden=library)


def check_correlate1d(fn, seed=None, n_cases=25):
    """``correlate1d`` equals numpy's 'valid' correlation on random cases, from scratch."""
    check_against_oracle(fn, oracle_correlate1d, cases_1d(seed, n_cases), name="correlate1d",
                         forbidden=LIBRARY_1D, likely_mistakes=mistakes_correlate1d)


def check_convolve1d(fn, seed=None, n_cases=25):
    """``convolve1d`` equals numpy's 'valid' convolution on random cases, from scratch."""
    check_against_oracle(fn, oracle_convolve1d, cases_1d(seed, n_cases), name="convolve1d",
                         forbidden=LIBRARY_1D, likely_mistakes=mistakes_convolve1d)


def check_correlate2d(fn, seed=None, n_cases=25):
    """``correlate2d`` equals scipy's 'valid' correlate2d on random cases, from scratch."""
    check_against_oracle(fn, oracle_correlate2d, cases_2d(seed, n_cases), name="correlate2d",
                         forbidden=LIBRARY_2D, likely_mistakes=mistakes_correlate2d)


def check_convolve2d(fn, seed=None, n_cases=25):
    """``convolve2d`` equals scipy's 'valid' convolve2d on random cases, from scratch."""
    check_against_oracle(fn, oracle_convolve2d, cases_2d(seed, n_cases), name="convolve2d",
                         forbidden=LIBRARY_2D, likely_mistakes=mistakes_convolve2d)


def check_conv2d(fn, seed=None, n_cases=20, *, strided=False, name="conv2d"):
    """``fn`` equals ``torch.nn.functional.conv2d`` on random NCHW cases, from scratch.

    A wrong answer equal to a known mistake is named; a wrong shape that a known mistake gives is
    named too (the function is then called once more, to read the shape it returned).
    """
    for case in cases_conv2d(seed, n_cases, strided=strided):
        try:
            check_against_oracle(fn, oracle_conv2d, [case], name=name, forbidden=LIBRARY_2D,
                                 likely_mistakes=mistakes_conv2d)
        except CheckFailure as failure:
            if LIKELY in str(failure) or "returned shape" not in str(failure):
                raise
            actual = call_student(fn, case.args, case.kwargs, name=name, forbidden=LIBRARY_2D)
            cause = ""
            if type(actual) is np.ndarray:
                cause = conv2d_shape_cause(actual, oracle_conv2d(*case.args, **case.kwargs),
                                           case.args[0].shape, case.args[1].shape,
                                           case.kwargs.get("stride", 1), case.kwargs.get("padding", 0))
            raise CheckFailure(f"{failure}{cause}") from None


def check_worked_example(y, name="conv2d"):
    """``y`` is ``name(x, w, b, stride=2, padding=1)`` of the worked example: shape and all values.

    The expected output is PyTorch's; the likely mistakes (missing bias, flipped kernel, padding on
    one side, counted once or missing, ...) are named.
    """
    x, w, b = worked_example()
    expected = oracle_conv2d(x, w, b, stride=2, padding=1)
    what = f"{name}(x, w, b, stride=2, padding=1) on the worked example"
    try:
        assert_close(y, expected, what=what, likely=mistakes_conv2d(x, w, b, stride=2, padding=1))
    except CheckFailure as failure:
        if LIKELY in str(failure) or type(y) is not np.ndarray or y.shape == expected.shape:
            raise
        raise CheckFailure(
            f"{what}: returned shape {y.shape}, expected {expected.shape}: (5 + 2*1 - 3) // 2 + 1 = 3"
            f"{conv2d_shape_cause(y, expected, x.shape, w.shape, stride=2, padding=1)}") from None


def check_conv2d_rejects_bad_input(fn, name="conv2d"):
    """``fn`` raises ``ValueError``/``TypeError`` for impossible shapes and parameters (from scratch)."""
    rng = make_rng(7)
    x, w, b = rng.normal(size=(2, 3, 6, 6)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    check_from_scratch(fn, (x, w, b), LIBRARY_2D, name=name)
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
    """The 1-D and 2-D functions raise ``ValueError`` for impossible shapes (from scratch)."""
    rng = make_rng(8)
    for fn, name in ((correlate1d, "correlate1d"), (convolve1d, "convolve1d")):
        check_from_scratch(fn, (rng.normal(size=5), rng.normal(size=2)), LIBRARY_1D, name=name)
        check_raises(fn, (rng.normal(size=3), rng.normal(size=4)), reason="the kernel is longer "
                     "than the signal: a 'valid' output would be empty", name=name)
        check_raises(fn, (rng.normal(size=(3, 3)), rng.normal(size=2)),
                     reason="x must be 1-D", name=name)
        check_raises(fn, (rng.normal(size=3), np.zeros(0)), reason="the kernel is empty", name=name)
    for fn, name in ((correlate2d, "correlate2d"), (convolve2d, "convolve2d")):
        check_from_scratch(fn, (rng.normal(size=(4, 4)), rng.normal(size=(2, 3))), LIBRARY_2D,
                           name=name)
        check_raises(fn, (rng.normal(size=(4, 4)), rng.normal(size=(5, 2))),
                     reason="the kernel is taller than the image", name=name)
        check_raises(fn, (rng.normal(size=(4, 4)), rng.normal(size=(2, 5))),
                     reason="the kernel is wider than the image", name=name)
        check_raises(fn, (rng.normal(size=4), rng.normal(size=(2, 2))),
                     reason="the image must be 2-D (H, W)", name=name)


def check_vectorized(fn, name="conv2d_im2col"):
    """``fn`` is correct and runs no Python loop over output pixels.

    The number of Python lines it executes must not grow with the number of output pixels.
    """
    rng = make_rng(9)
    w = rng.normal(size=(3, 2, 3, 3))
    sizes = {}
    for side in (6, 18):
        x = rng.normal(size=(2, 2, side, side))
        check_against_oracle(fn, oracle_conv2d, [Case((x, w))], name=name, forbidden=LIBRARY_2D)
        (_, lines) = count_student_lines(fn, x.copy(), w.copy())
        sizes[(side - 2) ** 2] = lines
    (small, few), (large, many) = sorted(sizes.items())
    if many > few + 40:
        raise CheckFailure(f"{name} executed {few} Python lines for {small} output pixels and "
                           f"{many} for {large}.\n{LIKELY}{LOOPS_OVER_PIXELS}")


def check_sums_to_one(kernel, what):
    """``kernel``, an array returned as ``what``, sums to 1; an unnormalised Gaussian is named."""
    total = float(np.sum(kernel))
    if abs(total - 1) <= 1e-9:
        assert_close(total, 1.0, what=f"the sum of {what}")
        return
    cause = f".\n{LIKELY}{GAUSSIAN_NOT_NORMALISED}" if np.isclose(np.max(kernel), 1.0) else ""
    raise CheckFailure(f"{what} sums to {total!r}, expected 1 (its largest weight is "
                       f"{float(np.max(kernel))!r}){cause}")


def sobel_ramp_mistakes(shape):
    """Known wrong responses of gx, correlated with a ramp growing by 1 per pixel to the right."""
    ones = np.ones(shape)
    return [(SOBEL_SIGN_FLIPPED, -8 * ones), (SOBEL_SWAPPED, 0 * ones),
            (SOBEL_NO_SMOOTHING, 6 * ones), (SOBEL_SCALED, ones)]


def check_sobel_kernels(fn, seed=None):
    """Correlating with ``gx``/``gy`` equals ``scipy.ndimage.sobel`` along x/y away from borders."""
    result = call_student(fn, (), name="sobel_kernels", forbidden=LIBRARY_SOBEL)
    if not isinstance(result, tuple) or len(result) != 2:
        raise CheckFailure("sobel_kernels() must return a pair (gx, gy)")
    image = make_rng(seed).normal(size=(12, 15))
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
            hint = (f".\n{LIKELY}the sign is flipped (this is the convolution kernel): "
                    f"{label} must respond positively where intensity grows along "
                    f"{'x (columns)' if axis == 1 else 'y (rows)'}")
        elif difference(scipy.signal.correlate2d(image, other, mode="valid"), expected,
                        check_dtype=False) is None:
            hint = f".\n{LIKELY}gx and gy are swapped"
        elif difference(got, scipy.ndimage.prewitt(image, axis=axis)[1:-1, 1:-1],
                        check_dtype=False) is None:
            hint = f".\n{LIKELY}{SOBEL_NO_SMOOTHING}"
        elif difference(8 * got, expected, check_dtype=False) is None:
            hint = f".\n{LIKELY}{SOBEL_SCALED}"
        raise CheckFailure(f"correlating an image with {label}: {message}{hint}")
