"""Unit tests of the checks of notebook 05 (autograder.pooling): right passes, wrong is named.

The implementations under test are brute-force loops written here, with switches that turn them
into the plausible mistakes the checks must recognise.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder import pooling
from autograder.checking import CheckFailure


def _pair(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _geometry(x, kernel_size, stride, padding, default_stride=None):
    """Validated ((kh, kw), (sh, sw), (ph, pw), (h_out, w_out)) of a pooling of x, PyTorch's rules."""
    if np.ndim(x) != 4:
        raise ValueError("x must be 4-D")
    for value in (kernel_size, stride, padding):
        if value is not None and not all(isinstance(v, int) for v in _pair(value)):
            raise TypeError("sizes must be ints")
        if value is not None and len(_pair(value)) != 2:
            raise TypeError("sizes must be ints or pairs")
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(padding)
    sh, sw = _pair(stride if stride is not None else (default_stride or kernel_size))
    h, w = x.shape[2:]
    if min(kh, kw, sh, sw) < 1 or min(ph, pw) < 0 or ph > kh // 2 or pw > kw // 2:
        raise ValueError("bad kernel, stride or padding")
    if kh > h + 2 * ph or kw > w + 2 * pw:
        raise ValueError("the window does not fit")
    return (kh, kw), (sh, sw), (ph, pw), ((h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)


def brute_max_pool2d(x, kernel_size, stride=None, padding=0, *, default_stride=None,
                     pad_value=-np.inf, padded_indices=False, last=False, column_major=False,
                     unshifted_rows=False):
    x = np.asarray(x, dtype=np.float64)
    (kh, kw), (sh, sw), (ph, pw), (h_out, w_out) = _geometry(x, kernel_size, stride, padding,
                                                             default_stride)
    n, c, h, w = x.shape
    out = np.empty((n, c, h_out, w_out))
    indices = np.empty((n, c, h_out, w_out), dtype=np.int64)
    for b, ch, i, j in np.ndindex(n, c, h_out, w_out):
        best, at = None, None
        for m, q in np.ndindex(kh, kw):
            r, s = i * sh - ph + m, j * sw - pw + q
            value = x[b, ch, r, s] if 0 <= r < h and 0 <= s < w else pad_value
            if best is None or value > best or (last and value == best):
                best, at = value, (r, s)
        out[b, ch, i, j] = best
        r, s = at
        if padded_indices:
            indices[b, ch, i, j] = (r + ph) * (w + 2 * pw) + s + pw
        elif column_major:
            indices[b, ch, i, j] = s * h + r
        else:
            indices[b, ch, i, j] = (r + ph * unshifted_rows) * w + s
    return out, indices


def brute_avg_pool2d(x, kernel_size, stride=None, padding=0, *, default_stride=None,
                     include_pad=True, divisor=None, one_sided=False):
    x = np.asarray(x, dtype=np.float64)
    (kh, kw), (sh, sw), (ph, pw), (h_out, w_out) = _geometry(x, kernel_size, stride, padding,
                                                             default_stride)
    n, c, h, w = x.shape
    top, left = (0, 0) if one_sided else (ph, pw)
    out = np.empty((n, c, h_out, w_out))
    for b, ch, i, j in np.ndindex(n, c, h_out, w_out):
        rows = [r for r in range(i * sh - top, i * sh - top + kh) if 0 <= r < h]
        cols = [s for s in range(j * sw - left, j * sw - left + kw) if 0 <= s < w]
        total = x[b, ch][np.ix_(rows, cols)].sum()
        out[b, ch, i, j] = total / (divisor(kh, kw) if divisor else
                                    kh * kw if include_pad else len(rows) * len(cols))
    return out


def _backward_shapes(grad_out, input_shape):
    grad_out = np.asarray(grad_out, dtype=np.float64)
    if grad_out.ndim != 4 or len(input_shape) != 4 or tuple(input_shape[:2]) != grad_out.shape[:2]:
        raise ValueError("inconsistent shapes")
    return grad_out, tuple(input_shape)


def brute_max_pool2d_backward(grad_out, indices, input_shape, *, accumulate=True, one_plane=False,
                              ignore_grad=False, column_major=False):
    grad_out, (n, c, h, w) = _backward_shapes(grad_out, input_shape)
    indices = np.asarray(indices)
    if indices.shape != grad_out.shape:
        raise ValueError("grad_out and indices differ in shape")
    if indices.dtype.kind not in "iu":
        raise TypeError("indices must be integers")
    if indices.min() < 0 or indices.max() >= h * w:
        raise ValueError("index out of range")
    grad = np.zeros((n, c, h * w))
    for b, ch, i, j in np.ndindex(*grad_out.shape):
        position = indices[b, ch, i, j]
        if column_major:
            position = position % h * w + position // h
        plane = (0, 0) if one_plane else (b, ch)
        value = 1.0 if ignore_grad else grad_out[b, ch, i, j]
        if accumulate:
            grad[plane + (position,)] += value
        else:
            grad[plane + (position,)] = value
    return grad.reshape(n, c, h, w)


def brute_avg_pool2d_backward(grad_out, input_shape, kernel_size, stride=None, padding=0, *,
                              divide=True, divisor=None, default_stride=None, corner=False):
    grad_out, shape = _backward_shapes(grad_out, input_shape)
    x = np.zeros(shape)
    (kh, kw), (sh, sw), (ph, pw), out_shape = _geometry(x, kernel_size, stride, padding,
                                                        default_stride)
    if grad_out.shape[2:] != out_shape:
        raise ValueError("grad_out does not have the pooled shape")
    grad = np.zeros(shape)
    top, left = (0, 0) if corner else (ph, pw)  # corner: the padded gradient cropped at [:H, :W]
    for b, ch, i, j in np.ndindex(*grad_out.shape):
        for m, q in np.ndindex(kh, kw):
            r, s = i * sh - top + m, j * sw - left + q
            if 0 <= r < shape[2] and 0 <= s < shape[3]:
                share = divisor(kh, kw) if divisor else kh * kw if divide else 1
                grad[b, ch, r, s] += grad_out[b, ch, i, j] / share
    return grad


def brute_global_avg_pool(x, *, keepdims=True, over_batch=False, axes=(2, 3), total=False,
                          empty_ok=False):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4 or (0 in x.shape[2:] and not empty_ok):
        raise ValueError("x must be (N, C, H, W) with a non-empty plane")
    if over_batch:
        return np.broadcast_to(x.mean(axis=(0, 2, 3), keepdims=True), x.shape[:2] + (1, 1))
    if total:
        return x.sum(axis=axes, keepdims=keepdims)
    with np.errstate(invalid="ignore"):
        return x.mean(axis=axes, keepdims=keepdims) if x.size else np.full(x.shape[:2] + (1, 1), np.nan)


def _with(function, **switches):
    def wrong(*args, **kwargs):
        return function(*args, **kwargs, **switches)
    return wrong


# ----------------------------------------------------------------------------- oracles

def _rng(seed):
    return np.random.default_rng(seed)


def test_torch_breaks_ties_by_the_first_maximum_in_scan_order():
    """The contract's claim about PyTorch, verified on integer inputs full of ties."""
    for case in pooling.pool_cases(_rng(11), n_cases=30, integer_values=True):
        _, want = brute_max_pool2d(*case.args, **case.kwargs)
        _, got = pooling._torch_max_pool(case.args[0], pooling._settings(case))
        np.testing.assert_array_equal(got, want)


def test_oracles_agree_with_the_brute_force_definitions():
    for case in pooling.pool_cases(_rng(12), n_cases=24):
        out, indices = pooling._torch_max_pool(case.args[0], pooling._settings(case))
        want_out, want_indices = brute_max_pool2d(*case.args, **case.kwargs)
        np.testing.assert_allclose(out, want_out)
        np.testing.assert_array_equal(indices, want_indices)
        np.testing.assert_allclose(pooling._torch_avg_pool(case.args[0], pooling._settings(case)),
                                   brute_avg_pool2d(*case.args, **case.kwargs))


def test_pool_cases_cover_defaults_pairs_overlaps_padding_and_ties():
    cases = pooling.pool_cases(_rng(13), n_cases=24)
    kwargs = [case.kwargs for case in cases]
    assert any("stride" not in k for k in kwargs)
    assert any(isinstance(k.get("stride"), tuple) for k in kwargs)
    assert any(isinstance(k.get("stride"), int) for k in kwargs)
    assert any(isinstance(case.args[1], tuple) and case.args[1][0] != case.args[1][1] for case in cases)
    assert any(any(_pair(k.get("padding", 0))) for k in kwargs)
    overlapping = [pair for pair in pooling._backward_cases(_rng(13), 24, False)
                   if pair[0].kwargs.get("stride") == 1 and max(_pair(pair[0].args[1])) > 1]
    assert len(overlapping) >= 8
    tied = pooling.pool_cases(_rng(13), n_cases=24, integer_values=True)
    assert all(np.array_equal(case.args[0], np.round(case.args[0])) for case in tied)


# ----------------------------------------------------------------------------- right passes

@pytest.mark.parametrize("seed", [1, None])
def test_brute_force_implementations_pass_every_check(seed):
    pooling.check_max_pool2d(brute_max_pool2d, seed, n_cases=12)
    pooling.check_max_pool2d(brute_max_pool2d, seed, n_cases=12, ties=True)
    pooling.check_max_pool2d_padding_is_minus_inf(brute_max_pool2d, seed, n_cases=6)
    pooling.check_avg_pool2d(brute_avg_pool2d, seed, n_cases=12)
    pooling.check_max_pool2d_backward(brute_max_pool2d_backward, seed, n_cases=12)
    pooling.check_avg_pool2d_backward(brute_avg_pool2d_backward, seed, n_cases=12)
    pooling.check_global_avg_pool(brute_global_avg_pool, seed)
    pooling.check_pool2d_rejects_bad_input(brute_max_pool2d, "max_pool2d")
    pooling.check_pool2d_rejects_bad_input(brute_avg_pool2d, "avg_pool2d")
    pooling.check_backward_rejects_bad_input(brute_max_pool2d_backward, brute_avg_pool2d_backward)


# ----------------------------------------------------------------------------- wrong is named

@pytest.mark.parametrize("check, wrong, cause", [
    (pooling.check_max_pool2d, _with(brute_max_pool2d, default_stride=1), "stride defaults to 1"),
    (pooling.check_max_pool2d, _with(brute_max_pool2d, pad_value=0.0), "padding counts as zeros"),
    (pooling.check_max_pool2d, _with(brute_max_pool2d, padded_indices=True), "padded plane"),
    (pooling.check_avg_pool2d, _with(brute_avg_pool2d, include_pad=False),
     "left out of the average"),
    (pooling.check_avg_pool2d, _with(brute_avg_pool2d, default_stride=1), "stride defaults to 1"),
    (pooling.check_max_pool2d_backward, _with(brute_max_pool2d_backward, accumulate=False),
     "accumulate"),
    (pooling.check_avg_pool2d_backward, _with(brute_avg_pool2d_backward, divide=False),
     "not divided by the window size"),
    (pooling.check_global_avg_pool, _with(brute_global_avg_pool, keepdims=False), r"shape \(N, C\)"),
    (pooling.check_global_avg_pool, _with(brute_global_avg_pool, over_batch=True),
     "Likely cause: the average runs over the batch too"),
    (pooling.check_global_avg_pool, _with(brute_global_avg_pool, axes=(1, 2)),
     "Likely cause: the average runs over the wrong axes"),
    (pooling.check_global_avg_pool, _with(brute_global_avg_pool, total=True),
     "Likely cause: the values are summed"),
    (pooling.check_global_avg_pool, _with(brute_global_avg_pool, empty_ok=True),
     "Likely cause: an empty plane is not rejected"),
    (pooling.check_max_pool2d, _with(brute_max_pool2d, column_major=True),
     "Likely cause: the indices are column-major"),
    (pooling.check_max_pool2d, _with(brute_max_pool2d, unshifted_rows=True),
     "Likely cause: the indices (ignore the padding offset|point into the padded plane)"),
    (pooling.check_avg_pool2d, _with(brute_avg_pool2d, divisor=lambda kh, kw: kh * kh),
     r"Likely cause: the window is divided by k_h \*\* 2"),
    (pooling.check_avg_pool2d, _with(brute_avg_pool2d, divisor=lambda kh, kw: 1),
     "Likely cause: the windows are summed"),
    (pooling.check_avg_pool2d, _with(brute_avg_pool2d, one_sided=True),
     "Likely cause: the padding is on one side only"),
    (pooling.check_max_pool2d_backward, _with(brute_max_pool2d_backward, one_plane=True),
     "Likely cause: every plane's gradient goes to the first plane"),
    (pooling.check_max_pool2d_backward, _with(brute_max_pool2d_backward, ignore_grad=True),
     "Likely cause: grad_out is ignored"),
    (pooling.check_avg_pool2d_backward, _with(brute_avg_pool2d_backward, divisor=lambda kh, kw: kh * kh),
     r"Likely cause: the window is divided by k_h \*\* 2"),
    (pooling.check_avg_pool2d_backward, _with(brute_avg_pool2d_backward, corner=True),
     "Likely cause: the padded gradient is cropped at the wrong corner"),
    (pooling.check_avg_pool2d_backward, _with(brute_avg_pool2d_backward, default_stride=1),
     "Likely cause: the stride defaults to 1"),
])
def test_likely_mistakes_are_named(check, wrong, cause):
    with pytest.raises(CheckFailure, match=cause):
        check(wrong, seed=0)


def test_ties_broken_by_the_last_maximum_are_named():
    with pytest.raises(CheckFailure, match="ties are broken by the last maximum"):
        pooling.check_max_pool2d(_with(brute_max_pool2d, last=True), seed=0, ties=True)


def test_max_pool2d_must_return_a_pair_of_integer_indices():
    with pytest.raises(CheckFailure, match="return a pair"):
        pooling.check_max_pool2d(lambda *a, **k: brute_max_pool2d(*a, **k)[0], seed=0, n_cases=1)

    def float_indices(*args, **kwargs):
        out, indices = brute_max_pool2d(*args, **kwargs)
        return out, indices.astype(np.float64)

    with pytest.raises(CheckFailure, match="return integers"):
        pooling.check_max_pool2d(float_indices, seed=0, n_cases=1)


def test_library_shortcuts_are_refused():
    def via_torch(x, kernel_size, stride=None, padding=0):
        out, indices = F.max_pool2d(torch.from_numpy(x), kernel_size, stride, padding,
                                    return_indices=True)
        return out.numpy(), indices.numpy()

    def via_autograd(grad_out, input_shape, kernel_size, stride=None, padding=0):
        leaf = torch.zeros(input_shape, dtype=torch.float64, requires_grad=True)
        F.avg_pool2d(leaf, kernel_size, stride, padding).backward(torch.from_numpy(grad_out))
        return leaf.grad.numpy()

    with pytest.raises(CheckFailure, match="from scratch"):
        pooling.check_max_pool2d(via_torch, seed=0, n_cases=2)
    with pytest.raises(CheckFailure, match="from scratch"):
        pooling.check_avg_pool2d_backward(via_autograd, seed=0, n_cases=2)


def test_missing_validation_fails_the_rejection_checks():
    def lax_max_pool2d(x, kernel_size, stride=None, padding=0):
        kernel, pads = _pair(kernel_size), _pair(padding)
        if all(k // 2 < p <= k for k, p in zip(kernel, pads)):  # lets padding > kernel // 2 through
            return brute_max_pool2d(x, kernel_size, stride, 0)
        return brute_max_pool2d(x, kernel_size, stride, padding)

    with pytest.raises(CheckFailure, match="more than half the kernel"):
        pooling.check_pool2d_rejects_bad_input(lax_max_pool2d, "max_pool2d")

    def unchecked_backward(grad_out, indices, input_shape):
        if len(input_shape) == 4:  # clips out-of-range indices instead of rejecting them
            indices = np.clip(indices, 0, input_shape[2] * input_shape[3] - 1)
        return brute_max_pool2d_backward(grad_out, indices, input_shape)

    with pytest.raises(CheckFailure, match="positions 0..23"):
        pooling.check_backward_rejects_bad_input(unchecked_backward, brute_avg_pool2d_backward)


def test_accumulation_hint_only_when_errors_sit_on_overlaps():
    expected = np.array([0.0, 3.0, 1.0])
    counts = np.array([0.0, 2.0, 1.0])
    assert "accumulate" in pooling._accumulation_hint(np.array([0.0, 2.0, 1.0]), expected, counts)
    assert pooling._accumulation_hint(np.array([0.0, 3.0, 5.0]), expected, counts) == ""
    assert pooling._accumulation_hint(expected.tolist(), expected, counts) == ""


def test_column_major_reading_of_square_planes_is_named():
    def transposed(grad_out, indices, input_shape):
        return brute_max_pool2d_backward(grad_out, indices, input_shape, column_major=True)

    square = [case for case in pooling._backward_cases(_rng(0), 48, True)
              if case[0].args[0].shape[2] == case[0].args[0].shape[3]]
    assert square, "no square plane among the cases"
    for seed in range(20):  # a seed whose first failing case is square
        try:
            pooling.check_max_pool2d_backward(transposed, seed=seed, n_cases=24)
        except CheckFailure as failure:
            if "Likely cause: the indices are read column-major" in str(failure):
                return
        except IndexError:  # a non-square plane: column-major positions fall outside it
            continue
    pytest.fail("the column-major reading was never named")


def test_rejection_checks_name_the_off_by_one_bounds():
    def lax_max_pool2d(x, kernel_size, stride=None, padding=0):
        kernel, pads = _pair(kernel_size), _pair(padding)
        if all(k // 2 < p <= k for k, p in zip(kernel, pads)):  # compares with k, not k // 2
            return brute_max_pool2d(x, kernel_size, stride, 0)
        return brute_max_pool2d(x, kernel_size, stride, padding)

    with pytest.raises(CheckFailure, match="Likely cause: the padding is compared with the kernel"):
        pooling.check_pool2d_rejects_bad_input(lax_max_pool2d, "max_pool2d")

    def one_past_the_end(grad_out, indices, input_shape):
        if len(input_shape) == 4 and np.max(indices) == input_shape[2] * input_shape[3]:
            raise IndexError("index 24 is out of bounds")
        return brute_max_pool2d_backward(grad_out, indices, input_shape)

    with pytest.raises(CheckFailure, match="raised IndexError.*\nLikely cause: the bound check"):
        pooling.check_backward_rejects_bad_input(one_past_the_end, brute_avg_pool2d_backward)
