"""Checks of notebook 06 (upsampling and transposed convolution), the part students receive.

The expected answers are PyTorch's: ``F.interpolate`` (nearest and bilinear), ``F.max_unpool2d``,
``F.conv_transpose1d`` and ``F.conv_transpose2d``; bed of nails is a grouped transposed
convolution with a one-hot kernel; the convolution matrix ``M`` is read off ``F.conv2d`` applied
to unit impulses. :func:`torch_answer` computes them for the checks. The wrong answers named here
are PyTorch's on altered arguments (a flipped kernel, swapped scales, no bias, ...); the
hand-written ones, and the check against ``M.T @ y``, live with the grader
(``autograder.grader.checks.upsampling``), which passes them in. Randomised checks draw with
``checking.make_rng(seed)``: hidden tests pass no seed. Every ``check_*`` function raises
``CheckFailure`` with a readable message, or returns ``None``.
"""
import numpy as np
import scipy.ndimage
import scipy.signal
import torch
import torch.nn.functional as F

from autograder.checking import (
    Case, CheckFailure, call_student, check_accepts, check_against_oracle, check_raises, difference, make_rng,
)

LIBRARY_NEAREST = (F.interpolate, F.upsample, F.upsample_nearest, torch._C._nn.upsample_nearest2d,
                   scipy.ndimage.zoom)
LIBRARY_BED_OF_NAILS = (F.conv_transpose2d, F.max_unpool2d, F.interpolate)
LIBRARY_UNPOOL = (F.max_unpool2d, torch._C._nn.max_unpool2d)
LIBRARY_1D = (
    F.conv_transpose1d, F.conv1d, np.convolve, np.correlate, scipy.signal.convolve,
    scipy.signal.correlate, scipy.signal.fftconvolve, scipy.signal.oaconvolve,
    scipy.ndimage.convolve1d, scipy.ndimage.correlate1d, scipy.ndimage.convolve,
)
LIBRARY_2D = (
    F.conv_transpose2d, F.conv2d, F.conv_transpose1d, F.conv1d, torch.nn.grad.conv2d_input,
    scipy.signal.convolve2d, scipy.signal.correlate2d, scipy.signal.convolve,
    scipy.signal.correlate, scipy.signal.fftconvolve, scipy.signal.oaconvolve,
    scipy.ndimage.convolve, scipy.ndimage.correlate,
)
LIBRARY_BILINEAR = (F.interpolate, F.upsample, F.upsample_bilinear, scipy.ndimage.zoom)

KERNEL_FLIPPED = ("the kernel is flipped: a transposed convolution scatters the kernel as it is, "
                  "y[i*S + m] += x[i] * k[m] (PyTorch does not flip)")
OUTPUT_PADDING_TOP_LEFT = (
    "output_padding is put at the top/left: its extra rows go at the bottom and its extra columns "
    "on the right (the output is rows P .. P + H_out - 1 of the full output, zero past its end)")
OUTPUT_PADDING_AFTER_CROP = (
    "output_padding appends zeros after the padding is cropped: append them to the full output "
    "before the crop, so that the extra rows at the bottom (columns on the right) keep the full "
    "output's values there")
REPEATED_ALONG_ONE_AXIS = (
    "every value is repeated along one axis only, s_h * s_w times: repeat s_h times along the "
    "rows (axis 2) and s_w times along the columns (axis 3)")
TILED = ("each value is repeated as a block, not the whole image tiled: use np.repeat along H and "
         "W, not np.tile")
SCALES_SWAPPED = "the scales of height and width are swapped: scale = (s_h, s_w)"
NAILS_NOT_TOP_LEFT = ("each value is placed at position {where} of its block: bed of nails puts "
                      "it at the top-left corner, out[..., i*s, j*s] = x[..., i, j]")
NEAREST_ARE_NAILS = "this is bed of nails (zeros between the values): nearest repeats every value"
NAILS_ARE_NEAREST = ("this is nearest-neighbour upsampling: bed of nails keeps one copy per block "
                     "and zeros elsewhere")
UNPOOL_SUMMED = ("values are added where overlapping windows picked the same input pixel: "
                 "unpooling puts the value back (assignment), it does not sum")
UNPOOL_SWAPPED = "height and width of the output are swapped: output_size is (H_out, W_out)"
UNPOOL_FIRST_SAMPLE = ("every sample writes into the planes of the first sample: an index is "
                       "relative to its own (n, c) plane")
OVERLAPS_OVERWRITTEN = "overlapping copies overwrite each other: they must be summed"
STRIDE_IGNORED = ("the copies are shifted by one sample, not by the stride: the copy of x[i] "
                  "starts at i * stride")
ONE_SAMPLE_LONGER = ("the output is one sample too long: its length is (L - 1) * stride + K, "
                     "which is L * stride + K - 1 only for stride 1")
BIAS_MISSING = "the bias is missing: add b[c_out] to every output of channel c_out"
PADDING_NOT_CROPPED = ("the padding is not cropped: a transposed convolution with padding P "
                       "removes P rows/columns from each side of the full output")
PADDING_CROPPED_TOP_LEFT = ("the padding is cropped from the top and left only: padding P removes "
                            "P rows and columns from each side of the full output")
WEIGHTS_TRANSPOSED = ("the weights are read as (C_out, C_in, K_h, K_w): PyTorch's transposed "
                      "convolution stores them as (C_in, C_out, K_h, K_w)")
TENT_OFF_CENTRE = ("the tent is off-centre: its peak is at c = (K - 1) / 2, between two taps "
                   "when K is even")
TENT_TOO_WIDE = "the tent is too wide: t[m] = 1 - |m - c| / f with f = (K + 1) // 2 = scale"
KERNEL_SIZE_EVEN = ("the kernel size is 2 * scale for an odd scale: it is 2 * scale - scale % 2, "
                    "so odd scales have odd sizes (1 for scale 1)")
SUMS_TO_ONE = "the kernel is normalised to sum 1: it sums to scale**2"


def _tensor(array):
    return torch.from_numpy(np.ascontiguousarray(array))


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


# ----------------------------------------------------------------------------- PyTorch's answers

def one_hot_kernel(channels, scale, row=0, column=0):
    """(C, 1, s_h, s_w) float64 kernel with a single 1 at (row, column): a grouped transposed
    convolution with it, stride = scale, puts each value at that position of its block."""
    kernel = torch.zeros((channels, 1) + _pair(scale), dtype=torch.float64)
    kernel[:, :, row, column] = 1.0
    return kernel


def unpool_geometry(input_size, output_size):
    """``(kernel, padding)`` of a stride-1 pooling whose default unpooled size is ``output_size``.

    ``F.max_unpool2d`` also wants the pooling's kernel, stride and padding, from which it computes
    its default output size; with stride 1 these make that default size any ``output_size``.
    """
    kernel, padding = [], []
    for size_in, size_out in zip(input_size, output_size):
        pad = max(0, -(-(size_in - size_out) // 2)) + 1
        kernel.append(size_out - size_in + 1 + 2 * pad)
        padding.append(pad)
    return tuple(kernel), tuple(padding)


def torch_answer(function, *args, **kwargs):
    """What PyTorch computes for the graded ``function`` (its name) called with ``args``.

    nearest_upsample and bed_of_nails_upsample (x, scale); max_unpool2d (x, indices,
    output_size); conv_transpose1d (x, k, stride=1); conv_transpose2d (x, w, b=None, stride=1,
    padding=0, output_padding=0). NumPy float64 arrays in and out.
    """
    if not isinstance(function, str):
        raise LookupError("torch_answer's first argument names a graded function")
    if function == "nearest_upsample":
        x, scale = args
        return F.interpolate(_tensor(x), scale_factor=_pair(scale), mode="nearest").numpy()
    if function == "bed_of_nails_upsample":
        x, scale = args
        return F.conv_transpose2d(_tensor(x), one_hot_kernel(x.shape[1], scale),
                                  stride=_pair(scale), groups=x.shape[1]).numpy()
    if function == "max_unpool2d":
        x, indices, output_size = args
        kernel, padding = unpool_geometry(x.shape[2:], output_size)
        return F.max_unpool2d(_tensor(x), _tensor(indices), kernel, stride=1,
                              padding=padding).numpy()
    if function == "conv_transpose1d":
        (x, k), stride = args, kwargs.get("stride", 1)
        return F.conv_transpose1d(_tensor(x)[None, None], _tensor(k)[None, None],
                                  stride=stride)[0, 0].numpy()
    if function == "conv_transpose2d":
        x, w, *rest = args
        options = dict(zip(("b", "stride", "padding", "output_padding"), rest), **kwargs)
        b = options.pop("b", None)
        return F.conv_transpose2d(_tensor(x), _tensor(w), None if b is None else _tensor(b),
                                  **options).numpy()
    raise LookupError(f"no PyTorch answer for {function!r}")


def _oracle(function):
    return lambda *args, **kwargs: torch_answer(function, *args, **kwargs)


def convolution_matrix(w, input_shape, stride=1, padding=0):
    """The matrix ``M`` of ``F.conv2d(x, w, stride=stride, padding=padding)`` (notebook 04).

    w: (C_out, C_in, K_h, K_w); input_shape: (C_in, H, W). Returns a dense float64 array of shape
    (C_out * H_out * W_out, C_in * H * W) whose column j is the convolution of the j-th unit
    impulse, so that ``conv2d(x).ravel() == M @ x.ravel()`` for one image ``x`` (C_in, H, W).
    """
    size = int(np.prod(input_shape))
    impulses = torch.eye(size, dtype=torch.float64).reshape((size,) + tuple(input_shape))
    responses = F.conv2d(impulses, _tensor(w), stride=stride, padding=padding)
    return responses.reshape(size, -1).numpy().T.copy()


# ----------------------------------------------------------------------------- likely mistakes

def mistakes_nearest(x, scale):
    """Known wrong answers of ``nearest_upsample(x, scale)``, from PyTorch and NumPy's tile."""
    sh, sw = _pair(scale)
    found = [(TILED, np.tile(x, (1, 1, sh, sw))),
             (NEAREST_ARE_NAILS, torch_answer("bed_of_nails_upsample", x, scale))]
    if sh != sw:
        found.append((SCALES_SWAPPED, torch_answer("nearest_upsample", x, (sw, sh))))
    return found


def shifted_nails(x, scale, row, column):
    """Bed of nails with each value at (row, column) of its block, by PyTorch."""
    return F.conv_transpose2d(_tensor(x), one_hot_kernel(x.shape[1], scale, row, column),
                              stride=_pair(scale), groups=x.shape[1]).numpy()


def mistakes_bed_of_nails(x, scale):
    """Known wrong answers of ``bed_of_nails_upsample(x, scale)``, from PyTorch."""
    sh, sw = _pair(scale)
    found = [(NAILS_ARE_NEAREST, torch_answer("nearest_upsample", x, scale))]
    if (sh, sw) != (1, 1):
        centre = (sh // 2, sw // 2)
        corner = (sh - 1, sw - 1)
        where = "the centre" if centre != corner else "the centre (the bottom-right corner)"
        found.append((NAILS_NOT_TOP_LEFT.format(where=f"{where}, {centre}"),
                      shifted_nails(x, scale, *centre)))
        if centre != corner:
            found.append((NAILS_NOT_TOP_LEFT.format(where=f"the bottom-right corner, {corner}"),
                          shifted_nails(x, scale, *corner)))
    if sh != sw:
        found.append((SCALES_SWAPPED, torch_answer("bed_of_nails_upsample", x, (sw, sh))))
    return found


def mistakes_unpool(x, indices, output_size):
    """Known wrong answers of ``max_unpool2d``: PyTorch's answer summed, swapped, merged."""
    n, c, h_out, w_out = x.shape[0], x.shape[1], output_size[0], output_size[1]
    counts = np.stack([np.bincount(plane.ravel(), minlength=h_out * w_out)
                       for plane in indices.reshape(n * c, -1)]).reshape(n, c, h_out, w_out)
    expected = torch_answer("max_unpool2d", x, indices, output_size)
    found = []
    if counts.max() > 1:
        found.append((UNPOOL_SUMMED, expected * np.maximum(counts, 1)))
    if h_out != w_out:
        found.append((UNPOOL_SWAPPED, expected.reshape(n, c, w_out, h_out)))
        found.append((UNPOOL_SWAPPED, torch_answer("max_unpool2d", x, indices, (w_out, h_out))))
    if n > 1:
        written = torch_answer("max_unpool2d", np.ones_like(x), indices, output_size) != 0
        merged = np.zeros_like(expected)
        for sample in range(n):  # later samples overwrite earlier ones
            merged[0][written[sample]] = expected[sample][written[sample]]
        found.append((UNPOOL_FIRST_SAMPLE, merged))
    return found


def mistakes_conv_transpose1d(x, k, stride=1):
    """Known wrong answers of ``conv_transpose1d``, from PyTorch on altered arguments."""
    expected = torch_answer("conv_transpose1d", x, k, stride=stride)
    found = [(KERNEL_FLIPPED, torch_answer("conv_transpose1d", x, k[::-1].copy(), stride=stride)),
             (ONE_SAMPLE_LONGER, np.pad(expected, (0, 1)))]
    if stride > 1:
        unit = torch_answer("conv_transpose1d", x, k)
        found.append((STRIDE_IGNORED, np.pad(unit, (0, len(expected) - len(unit)))))
    return found


def mistakes_conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0):
    """Known wrong answers of ``conv_transpose2d``, from PyTorch on altered arguments."""
    def answer(*args):
        return torch_answer("conv_transpose2d", *args)

    found = [(KERNEL_FLIPPED, answer(x, w[:, :, ::-1, ::-1].copy(), b, stride, padding,
                                     output_padding))]
    if b is not None:
        found.append((BIAS_MISSING, answer(x, w, None, stride, padding, output_padding)))
    (ph, pw) = _pair(padding)
    if ph or pw:
        found.append((PADDING_NOT_CROPPED, answer(x, w, b, stride, 0, output_padding)))
        found.append((PADDING_CROPPED_TOP_LEFT,
                      answer(x, w, b, stride, 0, output_padding)[:, :, 2 * ph:, 2 * pw:]))
    if w.shape[0] == w.shape[1]:
        found.append((WEIGHTS_TRANSPOSED, answer(x, w.transpose(1, 0, 2, 3).copy(), b, stride,
                                                 padding, output_padding)))
    return found


# ----------------------------------------------------------------------------- random cases

def _scale(rng, i):
    if i % 2:
        return tuple(int(v) for v in rng.integers(1, 5, size=2))
    return int(rng.integers(1, 5))


def cases_upsample(seed=None, n_cases=20):
    """Random ``(x, scale)``: NCHW float64 inputs, integer scales 1..4 and (s_h, s_w) pairs."""
    rng = make_rng(seed)
    cases = [Case((rng.normal(size=(1, 2, 2, 3)), (2, 3)))]
    for i in range(n_cases - 1):
        n, c, h, w = (int(v) for v in rng.integers(1, 5, size=4))
        cases.append(Case((rng.normal(size=(n, c, h, w)), _scale(rng, i))))
    return cases


def _pooled(rng, n, c, h, w):
    """``(pooled, indices)`` from ``F.max_pool2d`` with random, possibly overlapping windows."""
    kernel = tuple(int(v) for v in rng.integers(1, 4, size=2))
    stride = tuple(int(v) for v in rng.integers(1, 4, size=2))
    padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
    kernel = tuple(min(k, size + 2 * p) for k, size, p in zip(kernel, (h, w), padding))
    x = torch.from_numpy(rng.normal(size=(n, c, h, w)))
    pooled, indices = F.max_pool2d(x, kernel, stride, padding, return_indices=True)
    return pooled.numpy(), indices.numpy()


def _scattered(rng, n, c, h, w, h_out, w_out):
    """Random values with distinct random positions in each (h_out, w_out) plane."""
    indices = np.stack([rng.choice(h_out * w_out, size=h * w, replace=False)
                        for _ in range(n * c)]).reshape(n, c, h, w)
    return rng.normal(size=(n, c, h, w)), indices.astype(np.int64)


def cases_max_unpool2d(seed=None, n_cases=20):
    """Random ``(x, indices, output_size)``: indices from ``F.max_pool2d`` (overlapping windows,
    padding) or distinct random positions; non-square planes."""
    rng = make_rng(seed)
    cases = []
    for i in range(n_cases):
        n, c = (int(v) for v in rng.integers(1, 4, size=2))
        h, w = (int(v) for v in rng.integers(2, 9, size=2))
        if i % 3 == 2:
            h_out, w_out = h, w
            h, w = int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1))
            x, indices = _scattered(rng, n, c, h, w, h_out, w_out)
        else:
            x, indices = _pooled(rng, n, c, h, w)
            h_out, w_out = h, w
        cases.append(Case((x, indices, (h_out, w_out))))
    return cases


def cases_conv_transpose1d(seed=None, n_cases=25):
    """Random ``(x, k)`` with strides 1..4, kernels longer and shorter than the stride."""
    rng = make_rng(seed)
    cases = [Case((rng.normal(size=2), rng.normal(size=3)), {"stride": 2})]
    for i in range(n_cases - 1):
        x, k = rng.normal(size=int(rng.integers(1, 9))), rng.normal(size=int(rng.integers(1, 7)))
        cases.append(Case((x, k), {"stride": int(rng.integers(1, 5))} if i % 4 else {}))
    return cases


def _strided_arguments(rng, size, kernel, *, pair):
    """Random stride, padding and output_padding (ints, or (h, w) pairs) with a non-empty output."""
    stride = tuple(int(v) for v in rng.integers(1, 4, size=2)) if pair else (int(rng.integers(1, 4)),) * 2
    most = [min(3, ((n - 1) * s + k - 1) // 2) for n, s, k in zip(size, stride, kernel)]
    if pair:
        padding = tuple(int(rng.integers(0, m + 1)) for m in most)
        output_padding = tuple(int(rng.integers(0, s)) for s in stride)
        return {"stride": stride, "padding": padding, "output_padding": output_padding}
    return {"stride": stride[0], "padding": int(rng.integers(0, min(most) + 1)),
            "output_padding": int(rng.integers(0, stride[0]))}


def cases_conv_transpose2d(seed=None, n_cases=20, *, strided):
    """Random NCHW cases; with ``strided``: strides, paddings, output paddings, (h, w) pairs.

    The first case has as many output as input channels, so that weights read in the wrong
    layout give an answer (and the message can name that) rather than a shape error.
    """
    rng = make_rng(seed)
    cases = []
    for i in range(n_cases):
        n, c_in, c_out = (int(v) for v in rng.integers(1, 4, size=3))
        if i == 0:
            c_in = c_out = 2
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        h, w = (int(v) for v in rng.integers(1, 7, size=2))
        kwargs = {"b": rng.normal(size=c_out) if i % 3 else None}
        if strided:
            kwargs.update(_strided_arguments(rng, (h, w), (kh, kw), pair=bool(i % 2)))
        x = rng.normal(size=(n, c_in, h, w))
        weights = rng.normal(size=(c_in, c_out, kh, kw))
        cases.append(Case((x, weights), kwargs))
    return cases


# ----------------------------------------------------------------------------- checks

def check_nearest_upsample(fn, seed=None, n_cases=20, likely_mistakes=mistakes_nearest):
    """``nearest_upsample`` equals ``F.interpolate(mode="nearest")``, from scratch."""
    check_against_oracle(fn, _oracle("nearest_upsample"), cases_upsample(seed, n_cases),
                         name="nearest_upsample", forbidden=LIBRARY_NEAREST,
                         likely_mistakes=likely_mistakes)


def check_bed_of_nails_upsample(fn, seed=None, n_cases=20, likely_mistakes=mistakes_bed_of_nails):
    """``bed_of_nails_upsample`` equals a transposed convolution with a one-hot kernel."""
    check_against_oracle(fn, _oracle("bed_of_nails_upsample"), cases_upsample(seed, n_cases),
                         name="bed_of_nails_upsample", forbidden=LIBRARY_BED_OF_NAILS,
                         likely_mistakes=likely_mistakes)


def check_upsample_rejects_bad_input(fn, name):
    """``fn(x, scale)`` raises ``ValueError``/``TypeError`` for impossible inputs and scales."""
    x = np.random.default_rng(9).normal(size=(1, 2, 3, 3))
    check_accepts(fn, (x, 2), name=name)
    bad = [
        ((x[0], 2), ValueError, "x must be 4-D (N, C, H, W)"),
        ((x, 0), ValueError, "the scale must be at least 1"),
        ((x, (2, -1)), ValueError, "the scale must be at least 1"),
        ((x, 1.5), TypeError, "the scale must be an integer"),
        ((x, (2, 2, 2)), TypeError, "the scale is an int or an (s_h, s_w) pair"),
    ]
    for args, exception, reason in bad:
        check_raises(fn, args, exception=exception, reason=reason, name=name)


def check_max_unpool2d(fn, seed=None, n_cases=20, likely_mistakes=mistakes_unpool):
    """``max_unpool2d`` equals ``F.max_unpool2d``, from scratch."""
    check_against_oracle(fn, _oracle("max_unpool2d"), cases_max_unpool2d(seed, n_cases),
                         name="max_unpool2d", forbidden=LIBRARY_UNPOOL,
                         likely_mistakes=likely_mistakes)


def check_max_unpool2d_rejects_bad_input(fn):
    """``max_unpool2d`` raises ``ValueError``/``TypeError`` for inconsistent arguments."""
    x = np.random.default_rng(10).normal(size=(1, 2, 2, 2))
    indices = np.array([[[[0, 3], [8, 15]], [[5, 6], [9, 10]]]], dtype=np.int64)
    check_accepts(fn, (x, indices, (4, 4)), name="max_unpool2d")
    bad = [
        ((x[0], indices[0], (4, 4)), ValueError, "x must be 4-D (N, C, H, W)"),
        ((x, indices[:, :1], (4, 4)), ValueError, "indices must have the shape of x"),
        ((x, indices.astype(np.float64), (4, 4)), TypeError, "indices must be integers"),
        ((x, indices, (3, 4)), ValueError,
         "index 15 is outside a 3x4 output plane (valid indices are 0..11)"),
        ((x, -indices, (4, 4)), ValueError, "indices cannot be negative"),
        ((x, indices, (0, 4)), ValueError, "the output size must be positive"),
        ((x, indices, (4.0, 4)), TypeError, "the output size must be integers"),
    ]
    for args, exception, reason in bad:
        check_raises(fn, args, exception=exception, reason=reason, name="max_unpool2d")


def check_conv_transpose1d(fn, seed=None, n_cases=25, likely_mistakes=mistakes_conv_transpose1d):
    """``conv_transpose1d`` equals ``F.conv_transpose1d``, from scratch."""
    check_against_oracle(fn, _oracle("conv_transpose1d"), cases_conv_transpose1d(seed, n_cases),
                         name="conv_transpose1d", forbidden=LIBRARY_1D,
                         likely_mistakes=likely_mistakes)


def check_conv_transpose1d_rejects_bad_input(fn):
    """``conv_transpose1d`` raises ``ValueError``/``TypeError`` for impossible inputs."""
    x, k = np.ones(3), np.ones(2)
    check_accepts(fn, (x, k), name="conv_transpose1d")
    bad = [
        ((np.ones((2, 2)), k), {}, ValueError, "x must be 1-D"),
        ((x, np.ones((2, 1))), {}, ValueError, "k must be 1-D"),
        ((x, np.zeros(0)), {}, ValueError, "the kernel is empty"),
        ((np.zeros(0), k), {}, ValueError, "the signal is empty"),
        ((x, k), {"stride": 0}, ValueError, "the stride must be at least 1"),
        ((x, k), {"stride": 1.5}, TypeError, "the stride must be an integer"),
    ]
    for args, kwargs, exception, reason in bad:
        check_raises(fn, args, kwargs, exception=exception, reason=reason, name="conv_transpose1d")


def check_conv_transpose2d(fn, seed=None, n_cases=20, *, strided=False,
                           likely_mistakes=mistakes_conv_transpose2d):
    """``conv_transpose2d`` equals ``F.conv_transpose2d``, from scratch."""
    check_against_oracle(fn, _oracle("conv_transpose2d"),
                         cases_conv_transpose2d(seed, n_cases, strided=strided),
                         name="conv_transpose2d", forbidden=LIBRARY_2D,
                         likely_mistakes=likely_mistakes)


def check_conv_transpose2d_rejects_bad_input(fn):
    """``conv_transpose2d`` raises ``ValueError``/``TypeError`` for impossible arguments."""
    rng = np.random.default_rng(11)
    x, w, b = rng.normal(size=(2, 3, 4, 4)), rng.normal(size=(3, 2, 3, 3)), rng.normal(size=2)
    check_accepts(fn, (x, w, b), name="conv_transpose2d")
    bad = [
        ((x[0], w), {}, ValueError, "x must be 4-D (N, C_in, H, W)"),
        ((x, w[0]), {}, ValueError, "w must be 4-D (C_in, C_out, K_h, K_w)"),
        ((x, rng.normal(size=(2, 3, 3, 3))), {}, ValueError,
         "x has 3 channels but w has 2 input channels (its first axis)"),
        ((x, w), {"b": rng.normal(size=3)}, ValueError, "b must have shape (C_out,) = (2,)"),
        ((x, w, b), {"stride": 0}, ValueError, "the stride must be at least 1"),
        ((x, w, b), {"padding": -1}, ValueError, "the padding cannot be negative"),
        ((x, w, b), {"stride": 2, "output_padding": 2}, ValueError,
         "output_padding must be smaller than the stride"),
        ((x, w, b), {"output_padding": -1}, ValueError, "output_padding cannot be negative"),
        ((x, w, b), {"padding": 4}, ValueError,
         "the output would be empty: (4 - 1) * 1 - 2 * 4 + 3 = -2 rows"),
        ((x, w, b), {"stride": 1.5}, TypeError, "the stride must be an integer"),
    ]
    for args, kwargs, exception, reason in bad:
        check_raises(fn, args, kwargs, exception=exception, reason=reason, name="conv_transpose2d")


def _bilinear_hints(kernel, scale):
    hints = []
    if difference(kernel, kernel[::-1, ::-1].copy(), check_dtype=False) is not None:
        hints.append("the kernel is not symmetric about its centre (off-centre tent?)")
    if scale > 1 and abs(float(kernel.sum()) - 1.0) < 1e-9:
        hints.append(f"the kernel sums to 1: each output pixel receives weights summing to 1 "
                     f"from its input neighbours, so the kernel sums to scale**2 = {scale ** 2}")
    return "" if not hints else ".\nLikely cause: " + "; ".join(hints)


def check_bilinear_kernel(fn, seed=None, scales=range(1, 8)):
    """A stride-``scale`` transposed convolution with ``bilinear_kernel(scale)`` (padding
    scale // 2) equals ``F.interpolate(mode="bilinear", align_corners=False)`` away from a
    border of ``scale // 2`` pixels, where PyTorch replicates the edge and the transposed
    convolution sees zeros."""
    rng = make_rng(seed)
    for scale in scales:
        kernel = call_student(fn, (scale,), name="bilinear_kernel", forbidden=LIBRARY_BILINEAR)
        size = 2 * scale - scale % 2
        if type(kernel) is not np.ndarray:
            raise CheckFailure(f"bilinear_kernel({scale}) returned {type(kernel).__name__}; "
                               "return a numpy.ndarray")
        if kernel.shape != (size, size):
            cause = f".\nLikely cause: {KERNEL_SIZE_EVEN}" if kernel.shape == (2 * scale,) * 2 else ""
            raise CheckFailure(f"bilinear_kernel({scale}) has shape {kernel.shape}, expected "
                               f"({size}, {size}): the size is 2 * scale - scale % 2{cause}")
        if kernel.dtype != np.float64:
            raise CheckFailure(f"bilinear_kernel({scale}) has dtype {kernel.dtype}, expected float64")
        x = _tensor(rng.normal(size=(2, 1, 6, 7)))
        upsampled = F.conv_transpose2d(x, _tensor(kernel)[None, None], stride=scale,
                                       padding=scale // 2).numpy()
        expected = F.interpolate(x, scale_factor=scale, mode="bilinear",
                                 align_corners=False).numpy()
        border = scale // 2
        inside = (slice(None), slice(None), slice(border, expected.shape[2] - border),
                  slice(border, expected.shape[3] - border))
        message = difference(upsampled[inside] if upsampled.shape == expected.shape else upsampled,
                             expected[inside])
        if message is not None:
            raise CheckFailure(
                f"transposed convolution with bilinear_kernel({scale}), stride {scale}, padding "
                f"{border}, against F.interpolate(mode='bilinear', align_corners=False) inside "
                f"a border of {border} pixels: {message}{_bilinear_hints(kernel, scale)}")


def check_bilinear_kernel_rejects_bad_input(fn):
    """``bilinear_kernel`` raises ``ValueError`` for scale < 1, ``TypeError`` for non-integers."""
    check_accepts(fn, (2,), name="bilinear_kernel")
    check_raises(fn, (0,), reason="the scale must be at least 1", name="bilinear_kernel")
    check_raises(fn, (2.5,), exception=TypeError, reason="the scale must be an integer",
                 name="bilinear_kernel")
