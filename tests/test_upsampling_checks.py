"""Unit tests of the checks of notebook 06: the student side (autograder.upsampling) and the
grader's hidden checks (autograder.grader.checks.upsampling): oracles, verdicts, messages.

The references below are written independently of the oracles (plain NumPy loops); wrong
implementations must fail with the likely mistake named.
"""
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder import upsampling
from autograder.checking import CheckFailure
from autograder.grader import notebooks
from autograder.grader.checks import upsampling as hidden
from mutants import nb06

SOURCE = "solutions/06_upsampling/06_upsampling.ipynb"


# ----------------------------------------------------------------------------- references

def nearest(x, scale):
    sh, sw = scale if isinstance(scale, tuple) else (scale, scale)
    return np.kron(x, np.ones((sh, sw)))


def nails(x, scale):
    sh, sw = scale if isinstance(scale, tuple) else (scale, scale)
    out = np.zeros(x.shape[:2] + (x.shape[2] * sh, x.shape[3] * sw))
    out[:, :, ::sh, ::sw] = x
    return out


def unpool(x, indices, output_size):
    n, c = x.shape[:2]
    out = np.zeros((n, c, output_size[0] * output_size[1]))
    for i in range(n):
        for j in range(c):
            out[i, j, indices[i, j].ravel()] = x[i, j].ravel()
    return out.reshape(n, c, *output_size)


def transpose1d(x, k, stride=1):
    y = np.zeros((len(x) - 1) * stride + len(k))
    for i in range(len(x)):
        for m in range(len(k)):
            y[i * stride + m] += x[i] * k[m]
    return y


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


def transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0):
    (sh, sw), (ph, pw), (oh, ow) = _pair(stride), _pair(padding), _pair(output_padding)
    n, c_in, h, width = x.shape
    _, c_out, kh, kw = w.shape
    full = np.zeros((n, c_out, (h - 1) * sh + kh + oh, (width - 1) * sw + kw + ow))
    for i in range(h):
        for j in range(width):
            full[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += np.einsum(
                "nc,cokl->nokl", x[:, :, i, j], w)
    y = full[:, :, ph:full.shape[2] - ph, pw:full.shape[3] - pw]
    return y if b is None else y + b[None, :, None, None]


def validating_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0):
    x, w = np.asarray(x), np.asarray(w)
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[0]:
        raise ValueError("bad shapes")
    if b is not None and np.shape(b) != (w.shape[1],):
        raise ValueError("bad bias")
    if not all(isinstance(v, int) for v in (stride, padding, output_padding)):
        raise TypeError("integers")
    if stride < 1 or padding < 0 or not 0 <= output_padding < stride:
        raise ValueError("bad parameters")
    if min((n - 1) * stride - 2 * padding + k + output_padding
           for n, k in zip(x.shape[2:], w.shape[2:])) < 1:
        raise ValueError("empty")
    return transpose2d(x, w, b, stride, padding, output_padding)


def tent_kernel(scale):
    size = 2 * scale - scale % 2
    centre = (size - 1) / 2
    tent = np.array([max(0.0, 1 - abs(m - centre) / scale) for m in range(size)])
    return np.outer(tent, tent)


# ----------------------------------------------------------------------------- oracles

def _answer(function):
    return lambda *args, **kwargs: upsampling.torch_answer(function, *args, **kwargs)


def test_torch_answers_agree_with_the_references():
    rng = np.random.default_rng(0)
    for case in upsampling.cases_upsample(1, 10):
        np.testing.assert_allclose(_answer("nearest_upsample")(*case.args), nearest(*case.args))
        np.testing.assert_allclose(_answer("bed_of_nails_upsample")(*case.args), nails(*case.args))
    for case in upsampling.cases_max_unpool2d(2, 12):
        np.testing.assert_allclose(_answer("max_unpool2d")(*case.args), unpool(*case.args))
    for case in upsampling.cases_conv_transpose1d(3, 10):
        np.testing.assert_allclose(_answer("conv_transpose1d")(*case.args, **case.kwargs),
                                   transpose1d(*case.args, **case.kwargs), atol=1e-12)
    for strided in (False, True):
        for case in upsampling.cases_conv_transpose2d(4, 10, strided=strided):
            np.testing.assert_allclose(_answer("conv_transpose2d")(*case.args, **case.kwargs),
                                       transpose2d(*case.args, **case.kwargs), atol=1e-12)
    x = rng.normal(size=(2, 3, 4, 5))
    assert _answer("nearest_upsample")(x, (2, 3)).shape == (2, 3, 8, 15)
    np.testing.assert_allclose(upsampling.shifted_nails(x, 2, 1, 0)[:, :, 1::2, ::2], x)


def test_torch_answer_is_no_stand_in_for_a_graded_function():
    """Bound in place of a graded function, it raises neither ValueError nor TypeError."""
    x = np.ones((1, 1, 2, 2))
    for args in [(x, 2), (x, np.zeros((1, 1, 2, 2), dtype=np.int64), (4, 4)), (np.ones(2), np.ones(3)),
                 (x, np.ones((1, 1, 3, 3))), (2,)]:
        with pytest.raises(LookupError):
            upsampling.torch_answer(*args)


def test_unpool_cases_include_overlapping_windows_and_random_positions():
    cases = upsampling.cases_max_unpool2d(603)
    duplicated = [c for c in cases
                  if any(len(set(p.ravel())) < p.size for p in c.args[1].reshape(-1, *c.args[1].shape[2:]))]
    assert duplicated, "some pooling windows must overlap so that indices repeat"
    assert any(c.args[0].shape[2:] == c.args[1].shape[2:] and c.args[0].shape[0] > 1 for c in cases)


def test_strided_cases_have_non_empty_outputs_and_valid_output_padding():
    for case in upsampling.cases_conv_transpose2d(615, 30, strided=True):
        kwargs = case.kwargs
        stride, output_padding = _pair(kwargs["stride"]), _pair(kwargs["output_padding"])
        assert all(0 <= op < s for op, s in zip(output_padding, stride))
        upsampling.torch_answer("conv_transpose2d", *case.args, **kwargs)  # PyTorch accepts it


def test_convolution_matrix_reproduces_conv2d():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(2, 3, 3, 2))
    x = rng.normal(size=(3, 6, 5))
    matrix = upsampling.convolution_matrix(w, x.shape, stride=(2, 1), padding=(1, 0))
    expected = F.conv2d(torch.from_numpy(x)[None], torch.from_numpy(w), stride=(2, 1), padding=(1, 0))
    np.testing.assert_allclose(matrix @ x.ravel(), expected.numpy().ravel(), atol=1e-12)


# ----------------------------------------------------------------------------- checks pass

@pytest.mark.parametrize("seed", [None, None, 1])
def test_checks_accept_correct_implementations(seed):
    upsampling.check_nearest_upsample(nearest, seed)
    hidden.check_nearest_upsample(nearest, seed)
    upsampling.check_bed_of_nails_upsample(nails, seed)
    upsampling.check_max_unpool2d(unpool, seed)
    upsampling.check_conv_transpose1d(transpose1d, seed)
    hidden.check_conv_transpose1d(transpose1d, seed)
    upsampling.check_conv_transpose2d(transpose2d, seed)
    hidden.check_conv_transpose2d(transpose2d, seed)
    hidden.check_conv_transpose2d(transpose2d, seed, strided=True)
    hidden.check_transpose_of_conv2d(transpose2d, seed)
    upsampling.check_bilinear_kernel(tent_kernel, seed)
    upsampling.check_conv_transpose2d_rejects_bad_input(validating_transpose2d)


# ----------------------------------------------------------------------------- likely mistakes

def _shifted(row, column):
    def wrong(x, scale):
        sh, sw = _pair(scale)
        out = np.zeros(x.shape[:2] + (x.shape[2] * sh, x.shape[3] * sw))
        out[:, :, min(row, sh - 1)::sh, min(column, sw - 1)::sw] = x
        return out
    return wrong


def _stride_ignored(x, k, stride=1):
    return np.pad(transpose1d(x, k), (0, (len(x) - 1) * (stride - 1)))


def _overwritten(x, k, stride=1):
    y = np.zeros((len(x) - 1) * stride + len(k))
    for i in range(len(x)):
        y[i * stride:i * stride + len(k)] = x[i] * k
    return y


@pytest.mark.parametrize("check, wrong, cause", [
    (upsampling.check_nearest_upsample, lambda x, s: np.tile(x, (1, 1) + _pair(s)), "np.tile"),
    (upsampling.check_nearest_upsample, lambda x, s: nearest(x, _pair(s)[::-1]), "swapped"),
    (hidden.check_nearest_upsample, lambda x, s: x.repeat(_pair(s)[0] * _pair(s)[1], axis=2),
     "one axis only"),
    (upsampling.check_bed_of_nails_upsample, _shifted(1, 1), r"position the centre"),
    (upsampling.check_bed_of_nails_upsample, nearest, "nearest-neighbour"),
    (upsampling.check_conv_transpose1d, lambda x, k, stride=1: transpose1d(x, k[::-1], stride),
     "kernel is flipped"),
    (upsampling.check_conv_transpose1d, _stride_ignored, "not by the stride"),
    (upsampling.check_conv_transpose1d, lambda x, k, stride=1: np.pad(transpose1d(x, k, stride), (0, 1)),
     "one sample too long"),
    (hidden.check_conv_transpose1d, _overwritten, "overwrite each other"),
])
def test_likely_mistakes_are_named(check, wrong, cause):
    with pytest.raises(CheckFailure, match=cause):
        check(wrong)


def test_unpool_mistakes_are_named():
    def swapped(x, indices, output_size):
        return unpool(x, indices, output_size).reshape(x.shape[:2] + tuple(output_size)[::-1])

    def summed(x, indices, output_size):
        n, c = x.shape[:2]
        out = np.zeros((n * c, output_size[0] * output_size[1]))
        np.add.at(out, (np.arange(n * c)[:, None], indices.reshape(n * c, -1)), x.reshape(n * c, -1))
        return out.reshape(n, c, *output_size)

    def first_sample_only(x, indices, output_size):
        out = np.zeros((x.shape[0], x.shape[1]) + tuple(output_size))
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                out[0, j].ravel()[indices[i, j].ravel()] = x[i, j].ravel()
        return out

    with pytest.raises(CheckFailure, match="does not sum"):
        upsampling.check_max_unpool2d(summed)
    with pytest.raises(CheckFailure, match="planes of the first sample"):
        upsampling.check_max_unpool2d(first_sample_only)
    with pytest.raises(CheckFailure, match=r"output_size is \(H_out, W_out\)"):
        upsampling.check_max_unpool2d(swapped)


@pytest.mark.parametrize("wrong, cause", [
    (lambda x, w, b=None, stride=1, padding=0, output_padding=0:
     transpose2d(x, w[:, :, ::-1, ::-1], b, stride, padding, output_padding), "kernel is flipped"),
    (lambda x, w, b=None, stride=1, padding=0, output_padding=0:
     transpose2d(x, w, None, stride, padding, output_padding), "bias is missing"),
    (lambda x, w, b=None, stride=1, padding=0, output_padding=0:
     transpose2d(x, w, b, stride, 0, output_padding), "padding is not cropped"),
    (lambda x, w, b=None, stride=1, padding=0, output_padding=0:
     transpose2d(x, w, b, stride, 0, output_padding)[:, :, 2 * _pair(padding)[0]:, 2 * _pair(padding)[1]:],
     "top and left only"),
    (lambda x, w, b=None, stride=1, padding=0, output_padding=0:
     transpose2d(x, w.transpose(1, 0, 2, 3), b, stride, padding, output_padding), r"\(C_out, C_in"),
])
def test_conv_transpose2d_mistakes_are_named(wrong, cause):
    with pytest.raises(CheckFailure, match=cause):
        upsampling.check_conv_transpose2d(wrong, seed=615, n_cases=30, strided=True)


def test_overwritten_overlaps_are_named_by_the_hidden_check():
    def overwritten(x, w, b=None, stride=1, padding=0, output_padding=0):
        (sh, sw), (ph, pw), (oh, ow) = _pair(stride), _pair(padding), _pair(output_padding)
        n, _, h, width = x.shape
        _, c_out, kh, kw = w.shape
        full = np.zeros((n, c_out, (h - 1) * sh + kh + oh, (width - 1) * sw + kw + ow))
        for i in range(h):
            for j in range(width):
                full[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] = np.einsum("nc,cokl->nokl", x[:, :, i, j], w)
        y = full[:, :, ph:full.shape[2] - ph, pw:full.shape[3] - pw]
        return y if b is None else y + b[None, :, None, None]

    with pytest.raises(CheckFailure, match="overwrite each other"):
        hidden.check_conv_transpose2d(overwritten, n_cases=30, strided=True)


def _output_padding_placed(before_crop, side):
    """A transposed convolution whose output_padding adds zeros on ``side`` ("top/left" or
    "bottom/right"), before or after the padding is cropped."""
    def wrong(x, w, b=None, stride=1, padding=0, output_padding=0):
        (oh, ow), (ph, pw) = _pair(output_padding), _pair(padding)
        extra = ((0, 0), (0, 0), (oh, 0), (ow, 0)) if side == "top/left" else ((0, 0), (0, 0), (0, oh), (0, ow))
        y = transpose2d(x, w, None, stride)
        if before_crop:
            y = np.pad(y, extra)
        y = y[:, :, ph:y.shape[2] - ph, pw:y.shape[3] - pw]
        if not before_crop:
            y = np.pad(y, extra)
        return y if b is None else y + b[None, :, None, None]
    return wrong


@pytest.mark.parametrize("before_crop, side, cause", [
    (True, "top/left", upsampling.OUTPUT_PADDING_TOP_LEFT),
    (False, "top/left", upsampling.OUTPUT_PADDING_TOP_LEFT),
    (False, "bottom/right", upsampling.OUTPUT_PADDING_AFTER_CROP),
])
def test_output_padding_in_the_wrong_place_is_named(before_crop, side, cause):
    with pytest.raises(CheckFailure, match=re.escape(cause)):
        hidden.check_conv_transpose2d(_output_padding_placed(before_crop, side), seed=615,
                                      n_cases=30, strided=True)


def test_output_padding_description_is_pytorchs():
    """The output is rows/columns P .. P + H_out - 1 of the full output, zero past its end, i.e.
    zeros appended at the bottom/right before the crop; the wrong placements differ from PyTorch."""
    right = _output_padding_placed(True, "bottom/right")
    wrong_placements, differ = [(False, "bottom/right"), (True, "top/left"), (False, "top/left")], set()
    for case in upsampling.cases_conv_transpose2d(615, 30, strided=True):
        expected = upsampling.torch_answer("conv_transpose2d", *case.args, **case.kwargs)
        np.testing.assert_allclose(right(*case.args, **case.kwargs), expected, atol=1e-12)
        ph, pw = _pair(case.kwargs["padding"])
        full = transpose2d(*case.args, stride=case.kwargs["stride"])
        rows, columns = expected.shape[2:]
        past_end = np.zeros(full.shape[:2] + (ph + rows, pw + columns))
        past_end[:, :, :full.shape[2], :full.shape[3]] = full[:, :, :ph + rows, :pw + columns]
        bias = 0.0 if case.kwargs["b"] is None else case.kwargs["b"][None, :, None, None]
        np.testing.assert_allclose(past_end[:, :, ph:, pw:] + bias, expected, atol=1e-12)
        for placement in wrong_placements:
            if not np.allclose(_output_padding_placed(*placement)(*case.args, **case.kwargs), expected):
                differ.add(placement)
    assert differ == set(wrong_placements)


@pytest.mark.parametrize("description, cause", [
    ("output_padding on the wrong side (top/left)", upsampling.OUTPUT_PADDING_TOP_LEFT),
    ("output_padding as zeros appended after the crop", upsampling.OUTPUT_PADDING_AFTER_CROP),
])
def test_output_padding_mutants_fail_visible_and_hidden_checks_with_their_cause(repo, description, cause):
    """The notebook's visible small cases and the hidden random check both name the mistake."""
    nb = notebooks.read(repo / SOURCE)
    mutant = next(m for m in nb06.MUTANTS if m.description == description)
    sources = notebooks.solution_sources(nb)
    sources[mutant.cell] = mutant.apply(sources[mutant.cell])
    namespace = {"np": np}
    for source in sources.values():
        exec(source, namespace)
    test_cell = next(c for c in nb.cells if notebooks.grade_id(c) == "conv_transpose2d_small_cases")
    visible = test_cell.source.split("### BEGIN HIDDEN TESTS")[0]
    with pytest.raises(CheckFailure, match=re.escape(cause)):
        exec(visible, dict(namespace))
    with pytest.raises(CheckFailure, match=re.escape(cause)):
        hidden.check_conv_transpose2d(namespace["conv_transpose2d"], seed=615, n_cases=30, strided=True)


def test_transpose_check_reports_the_configuration():
    def flipped(x, w, b=None, stride=1, padding=0, output_padding=0):
        return transpose2d(x, w[:, :, ::-1, ::-1], b, stride, padding, output_padding)

    with pytest.raises(CheckFailure, match=r"against M\.T @ y"):
        hidden.check_transpose_of_conv2d(flipped)


@pytest.mark.parametrize("wrong, cause", [
    (lambda s: tent_kernel(s) / tent_kernel(s).sum(), "sums to 1"),
    (lambda s: np.roll(tent_kernel(s), 1, axis=0), "not symmetric"),
    (lambda s: np.ones((2 * s, 2 * s)), r"the size is 2 \* scale - scale % 2.\nLikely cause"),
    (lambda s: tent_kernel(s).astype(np.float32), "dtype float32"),
    (lambda s: tent_kernel(s).tolist(), "list"),
])
def test_bilinear_mistakes_are_named(wrong, cause):
    with pytest.raises(CheckFailure, match=cause):
        upsampling.check_bilinear_kernel(wrong)


def test_bilinear_check_compares_only_away_from_the_border():
    """The reference kernel differs from F.interpolate at the border, and the check allows it."""
    x = torch.from_numpy(np.random.default_rng(2).normal(size=(1, 1, 5, 5)))
    scale = 2
    kernel = torch.from_numpy(tent_kernel(scale))[None, None]
    ours = F.conv_transpose2d(x, kernel, stride=scale, padding=scale // 2)
    theirs = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    assert not torch.allclose(ours, theirs)
    assert torch.allclose(ours[..., 1:-1, 1:-1], theirs[..., 1:-1, 1:-1])


# ----------------------------------------------------------------------------- bad input

def test_rejection_checks_fail_on_functions_that_accept_anything():
    def anything(*args, **kwargs):
        return np.zeros(1)

    for check in (upsampling.check_max_unpool2d_rejects_bad_input,
                  upsampling.check_conv_transpose1d_rejects_bad_input,
                  upsampling.check_conv_transpose2d_rejects_bad_input,
                  upsampling.check_bilinear_kernel_rejects_bad_input):
        with pytest.raises(CheckFailure, match="returned without error"):
            check(anything)
    with pytest.raises(CheckFailure, match="returned without error"):
        upsampling.check_upsample_rejects_bad_input(anything, "nearest_upsample")


def test_from_scratch_guards_catch_the_library_functions():
    def cheats(x, w, b=None, stride=1, padding=0, output_padding=0):
        return upsampling.torch_answer("conv_transpose2d", x, w, b, stride, padding, output_padding)

    def cheats_1d(x, k, stride=1):
        return F.conv_transpose1d(torch.from_numpy(x)[None, None], torch.from_numpy(k)[None, None],
                                  stride=stride)[0, 0].numpy()

    def cheats_nearest(x, scale):
        return upsampling.torch_answer("nearest_upsample", x, scale)

    with pytest.raises(CheckFailure, match="from scratch"):
        upsampling.check_conv_transpose2d(cheats)
    with pytest.raises(CheckFailure, match="from scratch"):
        upsampling.check_conv_transpose1d(cheats_1d)
    with pytest.raises(CheckFailure, match="from scratch"):
        upsampling.check_nearest_upsample(cheats_nearest)
