"""Hidden checks of notebook 06 (upsampling and transposed convolution): grader only.

The generators of likely wrong answers that are near-copies of the exercises' solutions (values
repeated along one axis, copies that overwrite each other, output_padding's rows and columns in
the wrong place), added to the student side's PyTorch-made ones and passed to the checks of
:mod:`autograder.upsampling`; and the check of ``conv_transpose2d`` against ``M.T @ y``. Hidden
tests pass no seed: the cases come from the grading run's seed.
"""
import numpy as np

from autograder import upsampling
from autograder.checking import CheckFailure, call_student, difference, make_rng
from autograder.upsampling import (
    LIBRARY_2D, OUTPUT_PADDING_AFTER_CROP, OUTPUT_PADDING_TOP_LEFT, OVERLAPS_OVERWRITTEN,
    REPEATED_ALONG_ONE_AXIS, _pair, convolution_matrix, torch_answer,
)

# ----------------------------------------------------------------------------- likely mistakes


def mistakes_nearest(x, scale):
    """Known wrong answers of ``nearest_upsample``: the student side's, and one axis repeated."""
    sh, sw = _pair(scale)
    found = upsampling.mistakes_nearest(x, scale)
    if sh * sw > 1:
        found += [(REPEATED_ALONG_ONE_AXIS, x.repeat(sh * sw, axis=2)),
                  (REPEATED_ALONG_ONE_AXIS, x.repeat(sh * sw, axis=3))]
    return found


def _overwritten_1d(x, k, stride):
    """Copies of the kernel written one after the other, each overwriting the overlap."""
    y = np.zeros((len(x) - 1) * stride + len(k))
    for i, value in enumerate(x):
        y[i * stride:i * stride + len(k)] = value * k
    return y


def mistakes_conv_transpose1d(x, k, stride=1):
    """Known wrong answers of ``conv_transpose1d``: the student side's, and overwritten copies."""
    found = upsampling.mistakes_conv_transpose1d(x, k, stride)
    if len(k) > stride and len(x) > 1:
        found.append((OVERLAPS_OVERWRITTEN, _overwritten_1d(x, k, stride)))
    return found


def _overwritten_2d(x, w, stride):
    """The full output (no padding, no bias) with overlapping contributions overwritten, in the
    two loop orders a student writes: over kernel offsets, and over input pixels."""
    (sh, sw), (n, _, h, width), (_, c_out, kh, kw) = stride, x.shape, w.shape
    shape = (n, c_out, (h - 1) * sh + kh, (width - 1) * sw + kw)
    by_offset, by_pixel = np.zeros(shape), np.zeros(shape)
    for m in range(kh):
        for q in range(kw):
            by_offset[:, :, m:m + (h - 1) * sh + 1:sh, q:q + (width - 1) * sw + 1:sw] = \
                np.einsum("nchw,co->nohw", x, w[:, :, m, q])
    for i in range(h):
        for j in range(width):
            by_pixel[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] = \
                np.einsum("nc,cokl->nokl", x[:, :, i, j], w)
    return by_offset, by_pixel


def mistakes_conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0):
    """Known wrong answers of ``conv_transpose2d``: the student side's, overwritten overlaps and
    output_padding's rows and columns at the top/left or appended after the crop."""
    found = upsampling.mistakes_conv_transpose2d(x, w, b, stride, padding, output_padding)
    (ph, pw), (oh, ow) = _pair(padding), _pair(output_padding)
    bias = 0.0 if b is None else b[None, :, None, None]
    before, after = ((0, 0), (0, 0), (oh, 0), (ow, 0)), ((0, 0), (0, 0), (0, oh), (0, ow))

    def crop(array):
        return array[:, :, ph:array.shape[2] - ph, pw:array.shape[3] - pw]

    for full in _overwritten_2d(x, w, _pair(stride)):
        found.append((OVERLAPS_OVERWRITTEN, crop(np.pad(full, after)) + bias))
    if oh or ow:
        full = torch_answer("conv_transpose2d", x, w, None, stride, 0, 0)
        placements = [(OUTPUT_PADDING_TOP_LEFT, crop(np.pad(full, before)) + bias),
                      (OUTPUT_PADDING_AFTER_CROP, np.pad(crop(full), after) + bias),
                      (OUTPUT_PADDING_TOP_LEFT, np.pad(crop(full), before) + bias)]
        for _, wrong in placements:  # rows of zeros in the full output can make two of them equal
            causes = dict.fromkeys(cause for cause, other in placements if np.array_equal(other, wrong))
            found.append(("; or ".join(causes), wrong))
    return found


# ----------------------------------------------------------------------------- checks

def check_nearest_upsample(fn, seed=None, n_cases=20):
    """``nearest_upsample`` equals ``F.interpolate(mode="nearest")``; known mistakes named."""
    upsampling.check_nearest_upsample(fn, seed, n_cases, likely_mistakes=mistakes_nearest)


def check_conv_transpose1d(fn, seed=None, n_cases=25):
    """``conv_transpose1d`` equals ``F.conv_transpose1d``; known mistakes named."""
    upsampling.check_conv_transpose1d(fn, seed, n_cases, likely_mistakes=mistakes_conv_transpose1d)


def check_conv_transpose2d(fn, seed=None, n_cases=20, *, strided=False):
    """``conv_transpose2d`` equals ``F.conv_transpose2d``; known mistakes named."""
    upsampling.check_conv_transpose2d(fn, seed, n_cases, strided=strided,
                                      likely_mistakes=mistakes_conv_transpose2d)


def transpose_cases(rng, n_cases=12):
    """Random ``(w, input_shape, stride, padding)`` of a ``conv2d`` whose matrix is transposed.

    ``(H + 2P - K) % S`` is often non-zero: the transposed convolution then needs that
    ``output_padding`` to give back the input size.
    """
    cases = []
    for _ in range(n_cases):
        c_in, c_out = (int(v) for v in rng.integers(1, 3, size=2))
        kh, kw = (int(v) for v in rng.integers(1, 4, size=2))
        stride = tuple(int(v) for v in rng.integers(1, 4, size=2))
        padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in (kh, kw))
        h, w = int(rng.integers(kh, kh + 5)), int(rng.integers(kw, kw + 5))
        cases.append((rng.normal(size=(c_out, c_in, kh, kw)), (c_in, h, w), stride, padding))
    return cases


def check_transpose_of_conv2d(fn, seed=None, n_cases=12):
    """``conv_transpose2d(y, w, ...)`` equals ``M.T @ y`` for the matrix ``M`` of ``conv2d``.

    The weights ``w`` (C_out, C_in, K_h, K_w) of the convolution are the weights of the
    transposed convolution from C_out back to C_in channels; output_padding restores sizes
    that the stride rounded down.
    """
    rng = make_rng(seed)
    for w, input_shape, stride, padding in transpose_cases(rng, n_cases):
        matrix = convolution_matrix(w, input_shape, stride, padding)
        size_out = [(size + 2 * p - k) // s + 1
                    for size, p, k, s in zip(input_shape[1:], padding, w.shape[2:], stride)]
        output_padding = tuple((size + 2 * p - k) % s
                               for size, p, k, s in zip(input_shape[1:], padding, w.shape[2:], stride))
        y = rng.normal(size=(1, w.shape[0], *size_out))
        expected = (matrix.T @ y.ravel()).reshape((1,) + input_shape)
        kwargs = {"stride": stride, "padding": padding, "output_padding": output_padding}
        got = call_student(fn, (y, w), kwargs, name="conv_transpose2d", forbidden=LIBRARY_2D)
        message = difference(got, expected)
        if message is not None:
            raise CheckFailure(
                f"conv_transpose2d(y, w) with w {w.shape} of a conv2d on inputs {input_shape}, "
                f"stride={stride}, padding={padding}, output_padding={output_padding}: against "
                f"M.T @ y, {message}")
